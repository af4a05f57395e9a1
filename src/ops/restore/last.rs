//! How restores are remembered. The last `restore`, `recover` or `undo`
//! that changed the work tree is kept in the state dir ([`LastRestore`]:
//! the state before, the state it left, where the chain stood) — the chain
//! alone cannot say this, as a watcher records the restored state within a
//! second. On the chain, the safety snapshots a restore takes first mark
//! it ([`is_safety_snapshot`]). `undo` and `recover` read both.

use std::path::PathBuf;

use git2::{Oid, Repository, Tree};
use serde::{Deserialize, Serialize};

use super::{Operation, RestoreOutcome, RestoreRequest};
use crate::error::{GitContext, Result};
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// The last `restore`, `recover` or `undo` that changed the work tree,
/// kept in `<git-dir>/savepoint/last-restore.json` (a cache: without it
/// `undo` falls back to the chain's latest safety snapshot, and `recover`
/// stops its search at safety snapshots).
///
/// Trees, not only the safety snapshot: the state the restore left is
/// recorded nowhere else when no watcher runs, and it is what `recover`
/// compares a later loss with; the paths between `before` and `after` are
/// the ones `undo` puts back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LastRestore {
    #[serde(default)]
    pub format: u32,
    /// The chain the safety snapshot went to.
    #[serde(rename = "ref")]
    pub refname: String,
    pub kind: Operation,
    /// When it finished (Unix seconds).
    pub time: i64,
    /// What it restored from (a commit or a tree, full id).
    pub target: String,
    /// The snapshot holding the state before — its safety snapshot, or the
    /// chain's tip when that already held it — and so where the chain
    /// stood: later snapshots were taken after the restore. `None`: the
    /// chain had no snapshot and the state before was HEAD's.
    pub safety: Option<String>,
    /// The work tree's state before (a tree id).
    pub before: String,
    /// The work tree's state right after (a tree id; written when it was
    /// scanned, referenced by a snapshot once one records that state).
    pub after: String,
    /// HEAD's commit at the time (`None`: unborn).
    pub head: Option<String>,
}

impl LastRestore {
    pub(super) fn path(ws: &Workspace) -> PathBuf {
        ws.state().file(StateFile::LastRestore)
    }

    /// Remember a restore that changed the work tree, which left the
    /// work tree's state `after` (its tree). Best effort: a failure is
    /// logged, the restore itself has succeeded.
    pub(super) fn record(
        ws: &Workspace,
        req: &RestoreRequest,
        outcome: &RestoreOutcome,
        after: Result<Oid>,
    ) {
        let Some(safety) = &outcome.safety_outcome else {
            return;
        };
        let after = match after {
            Ok(tree) => tree,
            Err(e) => {
                tracing::warn!(
                    "could not record the state after the {}: {e}",
                    req.kind.name()
                );
                return;
            }
        };
        let last = LastRestore {
            format: StateFile::LastRestore.format(),
            refname: safety.refname.clone(),
            kind: req.kind,
            time: chrono::Utc::now().timestamp(),
            target: req.target.to_string(),
            safety: safety.oid.map(|o| o.to_string()),
            before: outcome.current_tree.to_string(),
            after: after.to_string(),
            head: safety
                .head
                .as_ref()
                .and_then(|h| h.commit())
                .map(|h| h.to_string()),
        };
        let path = Self::path(ws);
        let bytes = serde_json::to_vec(&last).expect("serialisable");
        if let Err(e) = crate::fs::atomic::write(&path, &bytes, crate::fs::atomic::PRIVATE) {
            tracing::warn!(path = %path.display(), error = %e, "could not record the restore");
        }
    }

    /// The last restore of this work tree, on any chain.
    pub(crate) fn load(ws: &Workspace) -> Option<LastRestore> {
        let bytes = std::fs::read(Self::path(ws)).ok()?;
        let last: LastRestore = serde_json::from_slice(&bytes).ok()?;
        // Ids only, so that every use (and every slice of one) is sound,
        // whatever a damaged or hand-edited file holds.
        let ids = [&last.target, &last.before, &last.after]
            .into_iter()
            .chain(&last.safety)
            .chain(&last.head);
        let valid = ids
            .into_iter()
            .all(|id| id.bytes().all(|b| b.is_ascii_hexdigit()) && Oid::from_str(id).is_ok());
        (last.format == StateFile::LastRestore.format() && valid).then_some(last)
    }

    /// The last restore, if it was on chain `refname`.
    pub(crate) fn for_chain(ws: &Workspace, refname: &str) -> Option<LastRestore> {
        Self::load(ws).filter(|l| l.refname == refname)
    }

    /// The snapshot holding the state before.
    pub(crate) fn safety_oid(&self) -> Option<Oid> {
        self.safety.as_deref().and_then(|s| Oid::from_str(s).ok())
    }

    /// The tree of the state before, if it is still in the repository.
    pub(crate) fn before_tree<'r>(&self, repo: &'r Repository) -> Option<Tree<'r>> {
        tree_by_id(repo, &self.before)
    }

    /// The tree of the state right after, if it is still in the repository.
    pub(crate) fn after_tree<'r>(&self, repo: &'r Repository) -> Option<Tree<'r>> {
        tree_by_id(repo, &self.after)
    }

    /// When it finished, in the local time zone.
    pub fn timestamp(&self) -> chrono::DateTime<chrono::FixedOffset> {
        use chrono::TimeZone;
        chrono::Local
            .timestamp_opt(self.time, 0)
            .single()
            .map(|t| t.fixed_offset())
            .unwrap_or_default()
    }

    /// Its target as savepoint prints ids.
    pub fn target_short(&self) -> &str {
        &self.target[..self.target.len().min(12)]
    }

    /// Whether it restored from a commit (a snapshot `show` can display),
    /// not from the tree of a state a restore left.
    pub fn target_is_commit(&self, repo: &Repository) -> bool {
        Oid::from_str(&self.target).is_ok_and(|t| repo.find_commit(t).is_ok())
    }
}

fn tree_by_id<'r>(repo: &'r Repository, id: &str) -> Option<Tree<'r>> {
    repo.find_tree(Oid::from_str(id).ok()?).ok()
}

/// Was snapshot `oid` taken by `restore`/`recover` just before they
/// changed the work tree (trigger `restore-safety`, `recover-safety`)?
pub(crate) fn is_safety_snapshot(repo: &Repository, oid: Oid) -> Result<bool> {
    let commit = repo
        .find_commit(oid)
        .git_context(|| format!("read commit {oid}"))?;
    let message = String::from_utf8_lossy(commit.message_bytes());
    Ok(crate::snapshot::trailers::parse(&message).is_some_and(|t| t.trigger.ends_with("-safety")))
}
