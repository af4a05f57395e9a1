//! Restoring a snapshot into the work tree: `restore`, `recover` and
//! `undo`.
//!
//! The current state is taken as a snapshot tree first (the safety
//! snapshot, or a plain scan for `--dry-run`). Its tree is exactly the set
//! of files a snapshot covers — tracked files and untracked files that are
//! not ignored — so diffing it against the target tree gives the plan:
//! create, modify, delete. Ignored files are never in that tree and so are
//! never deleted. Every path of the plan is checked before anything is
//! written (no `..`, no absolute paths, no `.git` in any spelling, no tree
//! git itself would refuse; see `safety`), and every write and
//! delete goes through [`crate::fs::at`]: relative to directory descriptors
//! walked from the work tree's root without following a symbolic link, so
//! nothing is ever written outside the work tree, even while another
//! process swaps directories for links. Files are written to a temporary
//! name and renamed into place: a crash leaves old or new content, never a
//! truncated file. Large blobs are streamed from `git cat-file`, never held
//! whole in memory. HEAD, the index and branches are not touched.
//!
//! Every restore that changed the work tree is remembered in the state dir
//! ([`LastRestore`]: the state before, the state it left, where the chain
//! stood). The chain alone cannot say this: a watcher records the restored
//! state within a second, so "the latest snapshot" soon is the result, not
//! what the restore replaced. `undo` puts back what the last restore
//! changed ([`find_undo`]); `recover` treats the state a restore left as
//! the newest known good state, so a loss after a recover is a new loss.
//!
//! The parts: `plan` (what happens to each path), `safety` (paths that
//! must never be written), `apply` (the writes and deletes), `content`
//! (blob content as git would check it out: streamed, filtered), `last`
//! (the record of the last restore, and safety snapshots) and `undo`
//! (what `undo` puts back). This file holds the entry point, [`restore`].

mod apply;
mod content;
mod last;
mod plan;
mod safety;
mod smudge;
mod undo;

use std::collections::BTreeSet;

use git2::Oid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, GitContext, Result};
use crate::snapshot::engine::{blob, Engine, ScanOptions};
use crate::snapshot::record::{self, SnapOutcome, SnapRequest};
use crate::workspace::Workspace;

pub use content::STREAM_THRESHOLD;
pub(crate) use last::is_safety_snapshot;
pub use last::LastRestore;
pub use plan::{Action, Plan, Step};
pub use undo::{find_undo, Undo, UndoFound};

/// Which command changes the work tree: it names the safety snapshot's
/// trigger and how the change is described later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Restore,
    Recover,
    Undo,
}

impl Operation {
    /// The command's name: `restore`, `recover`, `undo`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Restore => "restore",
            Operation::Recover => "recover",
            Operation::Undo => "undo",
        }
    }

    /// The trigger of the safety snapshot taken first. An undo restores
    /// the state before the last restore: `restore-safety` too.
    pub(crate) fn safety_trigger(self) -> &'static str {
        match self {
            Operation::Restore | Operation::Undo => "restore-safety",
            Operation::Recover => "recover-safety",
        }
    }
}

/// What a restore did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// The snapshot (or tree) restored from (12 hex).
    pub target: String,
    /// The snapshot holding the state before the restore — the new safety
    /// snapshot, or the chain's latest one when it already matched; restoring
    /// it undoes the restore. `None`: the state before was HEAD's.
    pub safety: Option<String>,
    pub dry_run: bool,
    pub created: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
    /// Submodules left as they are.
    pub submodules: Vec<String>,
    /// Paths that could not be restored, with the reason.
    pub failed: Vec<String>,
    /// Files absent from the snapshot that hold unsaved work, left in place
    /// (`recover` only).
    pub kept: Vec<String>,
    #[serde(skip)]
    pub safety_outcome: Option<SnapOutcome>,
    #[serde(skip)]
    pub plan: Plan,
    /// The work tree's state before (the safety snapshot's tree).
    #[serde(skip)]
    pub current_tree: Oid,
}

/// What to restore.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// What to restore from: a commit — resolve a `<snap>` before calling,
    /// so `@` means the latest snapshot *before* the safety snapshot — or
    /// a tree.
    pub target: Oid,
    /// Work-tree-relative paths (files or directories); empty: everything.
    /// A path in neither the target nor the work tree is an error.
    pub scope: Vec<Vec<u8>>,
    /// Only these paths and what lies below them, without that check
    /// (`undo`: the paths the last restore changed). `None`: no limit.
    pub only: Option<BTreeSet<Vec<u8>>>,
    pub dry_run: bool,
    /// Which command restores: the safety snapshot's trigger, and what
    /// [`LastRestore`] remembers.
    pub kind: Operation,
    /// Do not delete files whose content is not HEAD's (unsaved work made
    /// after the snapshot): `recover` brings work back, it never removes
    /// any. They are listed in [`RestoreOutcome::kept`].
    pub keep_unsaved: bool,
}

impl RestoreRequest {
    /// Restore all of `target` for `kind`; `recover` keeps unsaved work.
    pub fn new(kind: Operation, target: Oid) -> RestoreRequest {
        RestoreRequest {
            target,
            scope: Vec::new(),
            only: None,
            dry_run: false,
            kind,
            keep_unsaved: kind == Operation::Recover,
        }
    }
}

/// Restore `req.target` (or the paths in `req.scope`) into the work tree.
pub fn restore(ws: &Workspace, req: &RestoreRequest) -> Result<RestoreOutcome> {
    let repo = ws.repo();
    let target_tree = repo
        .find_object(req.target, None)
        .and_then(|o| o.peel_to_tree())
        .git_context(|| format!("read the tree of {}", req.target))?;
    // Check the scope before recording anything.
    for p in &req.scope {
        safety::check_path(p)?;
    }
    // One engine for the scan before and the look at the changed paths
    // after: its index view and stat cache are loaded once — and only when
    // this process scans (a running watcher answers the safety snapshot).
    let new_engine = || Engine::new(ws, ScanOptions::from_config(ws.config()?));
    let started = std::time::Instant::now();
    let mut engine: Option<Engine> = None;
    let (current, safety_outcome) = if req.dry_run {
        // (A running watcher answers this from what it has seen.)
        (crate::snapshot::current::tree(ws)?, None)
    } else {
        let safety = SnapRequest::new(req.kind.safety_trigger());
        let out = match crate::watch::ask_snapshot(ws, &safety) {
            Some(out) => out,
            None => record::take(ws, &safety, Some(engine.insert(new_engine()?)))?,
        };
        (
            Oid::from_str(&out.tree).git_context(|| "parse the safety tree id".to_owned())?,
            Some(out),
        )
    };
    let before_ms = started.elapsed().as_millis() as u64;
    let current_tree = repo
        .find_tree(current)
        .git_context(|| format!("read tree {current}"))?;
    for p in &req.scope {
        let in_either = [&current_tree, &target_tree]
            .iter()
            .any(|t| t.get_path(crate::snapshot::engine::bytes_path(p)).is_ok());
        if !in_either {
            return Err(Error::PathspecNoMatch {
                path: String::from_utf8_lossy(p).into_owned(),
            });
        }
    }
    let mut plan = Plan::limited(
        repo,
        &current_tree,
        &target_tree,
        &req.scope,
        req.only.as_ref(),
    )?;
    safety::refuse_git_dirs(ws, &plan)?;
    let kept = if req.keep_unsaved {
        plan.keep_unsaved(ws)?
    } else {
        Vec::new()
    };
    let mut outcome = RestoreOutcome {
        target: crate::snapshot::chain::short_id(req.target),
        safety: safety_outcome.as_ref().and_then(|o| o.id.clone()),
        dry_run: req.dry_run,
        created: plan.paths(Action::Create),
        modified: plan.paths(Action::Modify),
        deleted: plan.paths(Action::Delete),
        submodules: plan.submodules.clone(),
        failed: plan.refused.clone(),
        kept,
        safety_outcome,
        plan,
        current_tree: current,
    };
    if !req.dry_run && !outcome.plan.is_empty() {
        let filters = blob::filters_possible(repo, ws.workdir())
            || content::has_gitattributes(
                &[&target_tree, &current_tree],
                outcome.plan.steps.iter().map(|s| s.change.path.as_slice()),
            );
        let planned_ms = started.elapsed().as_millis() as u64;
        let applied = apply::apply(ws, &outcome.plan, filters)?;
        outcome.failed.extend(applied.failed);
        let written_ms = started.elapsed().as_millis() as u64;
        // The state it left, looked at by this process even when a watcher
        // answered the state before: what it wrote is known without reading
        // it back, while the watcher would hash every restored file again
        // (450 ms more for 2,504 files on netbeans; 70 ms less at 1M).
        let after = engine
            .map_or_else(new_engine, Ok)
            .and_then(|engine| after_by_engine(ws, engine, current, &outcome.plan, applied.raw));
        tracing::debug!(
            before_ms,
            planned_ms,
            written_ms,
            after_ms = started.elapsed().as_millis() as u64,
            "restore: done (times since its start)"
        );
        LastRestore::record(ws, req, &outcome, after);
    }
    Ok(outcome)
}

/// The state a restore left, looked at by `engine` — the one that scanned
/// the state before, if this process did (index view and stat cache loaded
/// once), else a new one: the state before (`current`) patched for the paths the restore
/// wrote or deleted, O(restored paths) however large the tree (a full scan
/// here cost seconds at a million files for a 2,500-file restore). What it
/// wrote as the blobs' own bytes (`raw`) is not read back.
fn after_by_engine(
    ws: &Workspace,
    mut engine: Engine,
    current: Oid,
    plan: &Plan,
    raw: Vec<(Vec<u8>, crate::snapshot::engine::cache::CacheEntry)>,
) -> Result<Oid> {
    engine.trust_written(raw);
    let changed: Vec<std::path::PathBuf> = plan
        .steps
        .iter()
        .map(|s| crate::snapshot::engine::bytes_path(&s.change.path).to_path_buf())
        .collect();
    let after = engine.update(ws, current, &changed)?;
    tracing::debug!(read_back = after.stats.hashed, "restore: the state after");
    Ok(after.tree)
}
