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
//! git itself would refuse; see [`classify_path`]), and every write and
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

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use git2::{Oid, Repository, Tree};
use serde::{Deserialize, Serialize};

use crate::error::{Error, GitContext, Result};
use crate::fs::at::{self, Dir, Kind};
use crate::git::command::GitCmd;
use crate::git::treediff::{self, Change, Leaf, MODE_EXEC, MODE_FILE, MODE_GITLINK, MODE_LINK};
use crate::snapshot::engine::{blob, Engine, ScanOptions};
use crate::snapshot::record::{self, SnapOutcome, SnapRequest};
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// What happens to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Modify,
    Delete,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Modify => "modify",
            Action::Delete => "delete",
        }
    }
}

/// One step of a restore.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub change: Change,
}

/// What a restore will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Submodules whose recorded commit differs: savepoint does not move
    /// submodule checkouts (`git submodule update` does).
    pub submodules: Vec<String>,
    /// Paths this platform cannot name (a NUL byte), with the reason: left
    /// out, while the rest is restored.
    pub refused: Vec<String>,
}

impl Plan {
    /// The plan that turns the work tree `current` into `target`, limited to
    /// `scope`. Refuses (before anything is written) a target with paths
    /// that could escape the work tree.
    pub fn new(
        repo: &Repository,
        current: &Tree<'_>,
        target: &Tree<'_>,
        scope: &[Vec<u8>],
    ) -> Result<Plan> {
        Plan::limited(repo, current, target, scope, None)
    }

    /// [`Plan::new`], also limited to the paths in `only` and what lies
    /// below them (a set, looked up per path: it may hold every path of a
    /// large restore).
    pub fn limited(
        repo: &Repository,
        current: &Tree<'_>,
        target: &Tree<'_>,
        scope: &[Vec<u8>],
        only: Option<&BTreeSet<Vec<u8>>>,
    ) -> Result<Plan> {
        let mut plan = Plan::default();
        for change in treediff::diff(repo, Some(current), Some(target), scope)? {
            if only.is_some_and(|set| !at_or_under_any(&change.path, set)) {
                continue;
            }
            if let Some(new) = change.new {
                match classify_path(&change.path, new.mode) {
                    None => {}
                    Some(PathProblem::Escapes(reason)) => {
                        return Err(unsafe_path(&change.path, reason))
                    }
                    Some(PathProblem::NotHere(reason)) => {
                        plan.refused
                            .push(format!("{}: {reason}", change.path_lossy()));
                        continue;
                    }
                }
                if new.mode == MODE_GITLINK {
                    plan.submodules.push(change.path_lossy());
                    continue;
                }
            }
            if change.old.is_some_and(|l| l.mode == MODE_GITLINK) && change.new.is_none() {
                plan.submodules.push(change.path_lossy());
                continue;
            }
            let action = match (change.old, change.new) {
                (None, Some(_)) => Action::Create,
                (Some(_), Some(_)) => Action::Modify,
                (Some(_), None) => Action::Delete,
                (None, None) => continue,
            };
            plan.steps.push(Step { action, change });
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Drop deletions of files whose content differs from HEAD's: they hold
    /// work made after the snapshot. Returns their paths.
    pub fn keep_unsaved(&mut self, ws: &Workspace) -> Result<Vec<String>> {
        let repo = ws.repo();
        let head_tree = match ws.head()?.commit() {
            Some(c) => Some(
                repo.find_commit(c)
                    .and_then(|c| c.tree())
                    .git_context(|| format!("read the tree of {c}"))?,
            ),
            None => None,
        };
        let mut kept = Vec::new();
        self.steps.retain(|s| {
            if s.action != Action::Delete {
                return true;
            }
            if Leaf::at(head_tree.as_ref(), &s.change.path) == s.change.old {
                true
            } else {
                kept.push(s.change.path_lossy());
                false
            }
        });
        Ok(kept)
    }

    /// The paths of the plan by action, for messages and JSON.
    pub fn paths(&self, action: Action) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.action == action)
            .map(|s| s.change.path_lossy())
            .collect()
    }
}

/// Is `path`, or a directory above it, in `set`?
fn at_or_under_any(path: &[u8], set: &BTreeSet<Vec<u8>>) -> bool {
    set.contains(path)
        || path
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'/' && set.contains(&path[..i]))
}

/// Why a snapshot path cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathProblem {
    /// It could write outside the work tree or into `.git`: the whole
    /// restore is refused before anything is written (a crafted tree).
    Escapes(&'static str),
    /// This platform cannot create such a name: only that path is left out.
    NotHere(&'static str),
}

/// Classify a tree path whose leaf has `mode`. Whole-restore refusals
/// ([`PathProblem::Escapes`], a crafted tree): absolute or empty paths,
/// empty, `.` or `..` components; `.git` in any case and in every spelling
/// a file system folds to it — NTFS (`.git.`, `.git `, `git~1`,
/// `.git::$INDEX_ALLOCATION`) and HFS+ (ignorable code points such as
/// U+200C inside `.git`), as git's `core.protectNTFS`/`core.protectHFS`
/// refuse them (checked with `gix-validate`, on every platform); and a
/// symbolic link named `.gitmodules`, `.gitattributes`, `.gitignore` or
/// `.mailmap` (in the same spellings), which git's `verify_path` refuses
/// because git reads these files from the work tree. Left out alone
/// ([`PathProblem::NotHere`]): a NUL byte, which Unix cannot name. A
/// backslash is an ordinary character on Unix (git allows it there) and is
/// restored.
fn classify_path(path: &[u8], mode: i32) -> Option<PathProblem> {
    use gix_validate::path::component::{Error as Invalid, Mode, Options};
    use PathProblem::{Escapes, NotHere};
    if path.is_empty() || path.starts_with(b"/") {
        return Some(Escapes("absolute or empty path"));
    }
    let opts = Options {
        // Windows-only names (`con`, `a:b`, a trailing dot) are fine here.
        protect_windows: false,
        protect_hfs: true,
        protect_ntfs: true,
    };
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    for (i, comp) in comps.iter().enumerate() {
        let link = i + 1 == comps.len() && mode == MODE_LINK;
        match *comp {
            b"" => return Some(Escapes("empty path component")),
            b"." | b".." => return Some(Escapes("`.` or `..` component")),
            _ => {}
        }
        match gix_validate::path::component((*comp).into(), link.then_some(Mode::Symlink), opts) {
            Ok(_) => {}
            Err(Invalid::DotGitDir) => {
                return Some(Escapes(
                    "`.git` component (in some case or spelling a file system folds to `.git`)",
                ))
            }
            Err(Invalid::SymlinkedGitModules) => {
                return Some(Escapes(
                    "`.gitmodules` is a symbolic link (git refuses such trees)",
                ))
            }
            Err(Invalid::Relative) => return Some(Escapes("`.` or `..` component")),
            Err(_) => return Some(Escapes("invalid path component")),
        }
        if link && is_git_dotfile(comp) {
            return Some(Escapes(
                "`.gitattributes`, `.gitignore` or `.mailmap` is a symbolic link (git refuses such trees)",
            ));
        }
    }
    if path.contains(&0) {
        return Some(NotHere("a NUL byte cannot be part of a file name here"));
    }
    None
}

/// `.gitattributes`, `.gitignore` or `.mailmap` as a file system may spell
/// it (git's `is_hfs_dot*`/`is_ntfs_dot*`; `gix-validate` covers only
/// `.gitmodules`): any case; HFS+ ignorable code points anywhere; NTFS
/// trailing dots and spaces or an `:alternate-stream`; NTFS 8.3 short names
/// (`gitign~1`, or git's hashed `gi250a~1`).
fn is_git_dotfile(comp: &[u8]) -> bool {
    const NAMES: [(&str, &str); 3] = [
        ("gitattributes", "gi7d29"),
        ("gitignore", "gi250a"),
        ("mailmap", "maba30"),
    ];
    NAMES
        .iter()
        .any(|(name, short)| is_hfs_dot(comp, name) || is_ntfs_dot(comp, name, short))
}

/// HFS+ ignores these code points when it compares names.
const HFS_IGNORABLE: &[char] = &[
    '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
    '\u{202e}', '\u{206a}', '\u{206b}', '\u{206c}', '\u{206d}', '\u{206e}', '\u{206f}', '\u{feff}',
];

fn is_hfs_dot(comp: &[u8], name: &str) -> bool {
    let text = String::from_utf8_lossy(comp);
    let mut chars = text.chars().filter(|c| !HFS_IGNORABLE.contains(c));
    chars.next() == Some('.') && chars.map(|c| c.to_ascii_lowercase()).eq(name.chars())
}

fn is_ntfs_dot(comp: &[u8], name: &str, short: &str) -> bool {
    // What NTFS drops or treats as a stream after the name.
    let done = |rest: &[u8]| {
        rest.iter()
            .find(|&&b| b != b' ' && b != b'.')
            .is_none_or(|&b| b == b':')
    };
    let name = name.as_bytes();
    if comp.first() == Some(&b'.') {
        let end = 1 + name.len();
        return comp.len() >= end && comp[1..end].eq_ignore_ascii_case(name) && done(&comp[end..]);
    }
    // `gitign~1` … `gitign~4`.
    if comp.len() >= 8
        && comp[..6].eq_ignore_ascii_case(&name[..6])
        && comp[6] == b'~'
        && (b'1'..=b'4').contains(&comp[7])
    {
        return done(&comp[8..]);
    }
    // Later collisions: a prefix of the hashed short name, `~`, digits.
    let short = short.as_bytes();
    let mut saw_tilde = false;
    let mut pos = 0;
    while pos < 8 {
        let Some(&b) = comp.get(pos) else {
            return false;
        };
        if saw_tilde {
            if !b.is_ascii_digit() {
                return false;
            }
        } else if b == b'~' {
            saw_tilde = true;
            pos += 1;
            if !comp.get(pos).is_some_and(|b| (b'1'..=b'9').contains(b)) {
                return false;
            }
        } else if pos >= 6 || b & 0x80 != 0 || !b.eq_ignore_ascii_case(&short[pos]) {
            return false;
        }
        pos += 1;
    }
    done(&comp[pos..])
}

fn unsafe_path(path: &[u8], reason: &str) -> Error {
    Error::UnsafePath {
        path: String::from_utf8_lossy(path).into_owned(),
        reason: reason.to_owned(),
    }
}

/// Refuse a path that could write outside the work tree or into `.git`, or
/// that this platform cannot name (see [`classify_path`]).
pub fn check_path(path: &[u8]) -> Result<()> {
    match classify_path(path, MODE_FILE) {
        None => Ok(()),
        Some(PathProblem::Escapes(r) | PathProblem::NotHere(r)) => Err(unsafe_path(path, r)),
    }
}

/// Refuse a plan that touches a git dir lying inside the work tree under
/// another name than `.git` (`core.worktree`, `--separate-git-dir` into
/// the tree): [`check_path`] catches `.git` itself.
fn refuse_git_dirs(ws: &Workspace, plan: &Plan) -> Result<()> {
    match plan.steps.iter().find(|s| ws.is_in_git_dir(&s.change.path)) {
        Some(step) => Err(Error::UnsafePath {
            path: step.change.path_lossy(),
            reason: "it is inside the repository's git dir".into(),
        }),
        None => Ok(()),
    }
}

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
    pub fn safety_trigger(self) -> &'static str {
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

/// The work tree's state as a snapshot tree, without recording it.
pub fn current_tree(ws: &Workspace) -> Result<Oid> {
    let cfg = ws.config()?;
    let mut engine = Engine::new(ws, ScanOptions::from_config(cfg))?;
    Ok(engine.scan(ws)?.tree)
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
        check_path(p)?;
    }
    let (current, safety_outcome) = if req.dry_run {
        (current_tree(ws)?, None)
    } else {
        let out = record::take(ws, &SnapRequest::new(req.kind.safety_trigger()), None)?;
        (
            Oid::from_str(&out.tree).git_context(|| "parse the safety tree id".to_owned())?,
            Some(out),
        )
    };
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
    refuse_git_dirs(ws, &plan)?;
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
            || has_gitattributes(&target_tree)
            || has_gitattributes(&current_tree);
        let failed = apply(ws, &outcome.plan, filters)?;
        outcome.failed.extend(failed);
        LastRestore::record(ws, req, &outcome);
    }
    Ok(outcome)
}

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
    fn path(ws: &Workspace) -> PathBuf {
        ws.state().file(StateFile::LastRestore)
    }

    /// Remember a restore that changed the work tree. Best effort: a
    /// failure is logged, the restore itself has succeeded.
    fn record(ws: &Workspace, req: &RestoreRequest, outcome: &RestoreOutcome) {
        let Some(safety) = &outcome.safety_outcome else {
            return;
        };
        let after = match current_tree(ws) {
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
    pub fn load(ws: &Workspace) -> Option<LastRestore> {
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
    pub fn for_chain(ws: &Workspace, refname: &str) -> Option<LastRestore> {
        Self::load(ws).filter(|l| l.refname == refname)
    }

    /// The snapshot holding the state before.
    pub fn safety_oid(&self) -> Option<Oid> {
        self.safety.as_deref().and_then(|s| Oid::from_str(s).ok())
    }

    /// The tree of the state before, if it is still in the repository.
    pub fn before_tree<'r>(&self, repo: &'r Repository) -> Option<Tree<'r>> {
        tree_by_id(repo, &self.before)
    }

    /// The tree of the state right after, if it is still in the repository.
    pub fn after_tree<'r>(&self, repo: &'r Repository) -> Option<Tree<'r>> {
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

/// What `undo` puts back.
#[derive(Debug, Clone)]
pub struct Undo {
    /// The restore it undoes; `None` when nothing recorded it (the state
    /// dir was cleared) and the chain's latest safety snapshot stands in.
    pub last: Option<LastRestore>,
    /// What to restore from: the state before (a tree), or that safety
    /// snapshot.
    pub target: Oid,
    /// The snapshot holding that state (12 hex), when there is one.
    pub safety: Option<String>,
    /// The paths the last restore changed; `None`: the whole work tree.
    pub only: Option<BTreeSet<Vec<u8>>>,
}

/// The result of looking for something to undo.
#[derive(Debug, Clone)]
pub enum UndoFound {
    Nothing { reason: String },
    Undo(Box<Undo>),
}

/// How far back `undo` looks for a safety snapshot when nothing recorded
/// the last restore.
const UNDO_SEARCH_DEPTH: usize = 1000;

/// Find what `undo` would put back: the paths the last `restore`,
/// `recover` or `undo` of this work tree changed, as they were before it —
/// whatever was recorded since. Reads only.
pub fn find_undo(ws: &Workspace) -> Result<UndoFound> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    if let Some(last) = LastRestore::load(ws) {
        let safety = last
            .safety
            .as_deref()
            .map(|s| s[..s.len().min(12)].to_owned());
        if last.refname != refname {
            let how = match &safety {
                Some(id) => format!("`savepoint restore {id}` brings that state back here"),
                None => "`savepoint restore HEAD` brings HEAD's state back here".into(),
            };
            return Ok(UndoFound::Nothing {
                reason: format!(
                    "the last {} was on {}, and HEAD is on another branch now ({refname}); \
                     switch back to undo it there, or {how}",
                    last.kind.name(),
                    last.refname
                ),
            });
        }
        let before = last.before_tree(repo).map(|t| t.id()).or_else(|| {
            let commit = repo.find_commit(last.safety_oid()?).ok()?;
            commit.tree().ok().map(|t| t.id())
        });
        if let Some(before) = before {
            let before_tree = repo
                .find_tree(before)
                .git_context(|| format!("read tree {before}"))?;
            // Named by its safety snapshot when that holds the same state.
            let target = last
                .safety_oid()
                .filter(|&s| {
                    repo.find_commit(s)
                        .and_then(|c| c.tree())
                        .is_ok_and(|t| t.id() == before)
                })
                .unwrap_or(before);
            // The paths the restore changed; all of them when the state
            // it left is gone (`git gc` of an unreferenced tree).
            let only = match last.after_tree(repo) {
                Some(after) => Some(
                    treediff::diff(repo, Some(&before_tree), Some(&after), &[])?
                        .into_iter()
                        .map(|c| c.path)
                        .collect::<BTreeSet<_>>(),
                ),
                None => None,
            };
            return Ok(UndoFound::Undo(Box::new(Undo {
                last: Some(last),
                target,
                safety,
                only,
            })));
        }
        tracing::debug!("the state before the last restore is gone; looking for a safety snapshot");
    }
    // Nothing recorded it: the chain's latest safety snapshot.
    let Some(tip) = crate::snapshot::chain::tip(repo, &refname)? else {
        return Ok(UndoFound::Nothing {
            reason: format!("{refname} has no snapshots, so no restore or recover was made here"),
        });
    };
    for oid in crate::snapshot::chain::walk(repo, tip, Some(UNDO_SEARCH_DEPTH))? {
        if is_safety_snapshot(repo, oid)? {
            return Ok(UndoFound::Undo(Box::new(Undo {
                last: None,
                target: oid,
                safety: Some(crate::snapshot::chain::short_id(oid)),
                only: None,
            })));
        }
    }
    Ok(UndoFound::Nothing {
        reason: format!(
            "no restore or recover is recorded for this work tree (savepoint remembers \
             the last one in {}) and {refname} has no restore-safety or recover-safety \
             snapshot; `savepoint log` lists the snapshots and `savepoint restore <id>` \
             brings one back",
            LastRestore::path(ws).display()
        ),
    })
}

/// Was snapshot `oid` taken by `restore`/`recover` just before they
/// changed the work tree (trigger `restore-safety`, `recover-safety`)?
pub fn is_safety_snapshot(repo: &Repository, oid: Oid) -> Result<bool> {
    let commit = repo
        .find_commit(oid)
        .git_context(|| format!("read commit {oid}"))?;
    let message = String::from_utf8_lossy(commit.message_bytes());
    Ok(crate::snapshot::trailers::parse(&message).is_some_and(|t| t.trigger.ends_with("-safety")))
}

fn has_gitattributes(tree: &Tree<'_>) -> bool {
    let mut found = false;
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |_, e| {
        if e.name_bytes() == b".gitattributes" {
            found = true;
            git2::TreeWalkResult::Abort
        } else {
            git2::TreeWalkResult::Ok
        }
    });
    found
}

/// Carry out a plan: deletions (deepest first, then empty directories
/// they leave), then writes. Returns the paths that failed, with reasons;
/// the rest is restored. Every write and delete goes through [`fsat`]:
/// relative to directory descriptors walked from the work tree's root,
/// never through a symbolic link, even one swapped in meanwhile.
pub fn apply(ws: &Workspace, plan: &Plan, filters: bool) -> Result<Vec<String>> {
    refuse_git_dirs(ws, plan)?;
    let root = Dir::open(ws.workdir()).map_err(|e| Error::io("open", ws.workdir(), e))?;
    let mut failed = Vec::new();
    let mut deletes: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete || is_type_change(s))
        .collect();
    deletes.sort_by(|a, b| b.change.path.cmp(&a.change.path));
    for step in deletes {
        if let Err(e) = delete(&root, &step.change.path) {
            failed.push(format!("{}: {e}", step.change.path_lossy()));
        }
    }
    let content = Content::new(ws, filters);
    let tmp = TempDir::new(ws);
    for step in plan.steps.iter().filter(|s| s.action != Action::Delete) {
        let Some(new) = step.change.new else { continue };
        let result = match step.change.old {
            // Only the exec bit changed: no need to rewrite the content.
            Some(old) if old.oid == new.oid && is_file_mode(old.mode) && is_file_mode(new.mode) => {
                set_exec(&root, &step.change.path, new.mode == MODE_EXEC)
            }
            _ => write(&root, &tmp, &content, &step.change.path, new),
        };
        if let Err(e) = result {
            failed.push(format!("{}: {e}", step.change.path_lossy()));
        }
    }
    Ok(failed)
}

fn is_file_mode(mode: i32) -> bool {
    mode == MODE_EXEC || mode == MODE_FILE
}

/// A file that becomes a symlink or back: removed first, then written.
fn is_type_change(s: &Step) -> bool {
    match (s.change.old, s.change.new) {
        (Some(o), Some(n)) => (o.mode == MODE_LINK) != (n.mode == MODE_LINK),
        _ => false,
    }
}

/// `rel` split into its directories and its file name.
fn split(rel: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
    let name = comps.pop().expect("split yields at least one item");
    (comps, name)
}

fn delete(root: &Dir, rel: &[u8]) -> std::io::Result<()> {
    let (parents, name) = split(rel);
    let parent = match root.walk(&parents, false) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match parent.kind(name)? {
        // A file in the snapshot of the current state, a directory now: it
        // changed meanwhile; leave it alone.
        Some(Kind::Dir) => return Err(std::io::Error::other("is a directory now; left as it is")),
        Some(_) => match parent.remove_file(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        },
        None => {}
    }
    // Remove the directories this left empty, like git does (each from its
    // own parent, walked again: one descriptor at a time).
    for i in (0..parents.len()).rev() {
        let removed = root
            .walk(&parents[..i], false)
            .and_then(|holder| holder.remove_dir(parents[i]));
        if removed.is_err() {
            break;
        }
    }
    Ok(())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name; short, so that it fits beside any file name.
fn tmp_name() -> Vec<u8> {
    format!(
        ".savepoint-tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
    .into_bytes()
}

/// Where new files are written before being renamed into place: the state
/// dir (`<git-dir>/savepoint/tmp`), held open, when it is on the work
/// tree's file system — so a crash leaves no stray temporary file in the
/// work tree — else the destination's own directory. Names are
/// `.savepoint-tmp-<pid>-<n>`.
/// Either way the rename is `renameat` between two descriptors.
struct TempDir {
    dir: Option<(Dir, u64)>,
}

impl TempDir {
    fn new(ws: &Workspace) -> Self {
        let path = ws.state().file(StateFile::RestoreTmp);
        let dir = std::fs::create_dir_all(&path)
            .and_then(|()| Dir::open(&path))
            .and_then(|d| d.device().map(|dev| (d, dev)))
            .ok();
        if dir.is_some() {
            // Leftovers of a restore killed an hour or more ago.
            let hour = std::time::Duration::from_secs(3600);
            for e in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour));
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        TempDir { dir }
    }

    /// The directory for a temporary file that will be renamed into `parent`.
    fn place<'a>(&'a self, parent: &'a Dir) -> &'a Dir {
        match &self.dir {
            Some((d, dev)) if parent.device().is_ok_and(|p| p == *dev) => d,
            _ => parent,
        }
    }
}

/// Write a file or symlink atomically: a temporary file, then a rename over
/// the destination, relative to its parent directory's descriptor.
fn write(
    root: &Dir,
    tmp_dir: &TempDir,
    content: &Content<'_>,
    rel: &[u8],
    leaf: Leaf,
) -> std::io::Result<()> {
    let (parents, name) = split(rel);
    let parent = &root.walk(&parents, true)?;
    if parent.kind(name)? == Some(Kind::Dir) {
        // Only a directory holding files savepoint does not manage (ignored
        // ones) is still here after the deletions.
        return Err(std::io::Error::other(
            "a directory with ignored files is in the way",
        ));
    }
    let (tdir, tname) = (tmp_dir.place(parent), tmp_name());
    let result = (|| {
        if leaf.mode == MODE_LINK {
            tdir.symlink(&content.link_target(leaf)?, &tname)?;
        } else {
            let mut f =
                tdir.create_file(&tname, if leaf.mode == MODE_EXEC { 0o777 } else { 0o666 })?;
            content.write_to(rel, leaf, &mut f)?;
        }
        tdir.rename(&tname, parent, name)
    })();
    if result.is_err() {
        let _ = tdir.remove_file(&tname);
    }
    result
}

fn set_exec(root: &Dir, rel: &[u8], exec: bool) -> std::io::Result<()> {
    let (parents, name) = split(rel);
    at::set_exec(&root.walk(&parents, false)?, name, exec)
}

/// Blobs larger than this are streamed from `git cat-file` into the file
/// instead of being read whole into memory (libgit2 inflates a loose blob
/// whole; a fetched chain may hold blobs of many GiB).
pub const STREAM_THRESHOLD: usize = 8 << 20;

/// Blob contents as they belong in the work tree: raw, or through git's
/// smudge filters (`core.autocrlf`, `.gitattributes`, filter drivers) via
/// `git cat-file --filters` when filters may apply. (One process per file:
/// `--batch --filters` reports the unfiltered size in its header, so its
/// output cannot be framed.) Output of git is streamed into the file, never
/// held whole; so are raw blobs above [`STREAM_THRESHOLD`] (`git cat-file
/// blob`), smaller ones are read through libgit2.
struct Content<'a> {
    repo: &'a Repository,
    filters: bool,
    workdir: &'a Path,
    git_dir: &'a Path,
}

/// How a blob reaches its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// Read whole through libgit2 (small, unfiltered).
    Memory,
    /// `git cat-file blob`, streamed.
    Stream,
    /// `git cat-file --filters --path=…`, streamed.
    Filtered,
}

impl<'a> Content<'a> {
    fn new(ws: &'a Workspace, filters: bool) -> Self {
        Content {
            repo: ws.repo(),
            filters,
            workdir: ws.workdir(),
            git_dir: ws.git_dir(),
        }
    }

    /// A symlink's target (always small; never filtered).
    fn link_target(&self, leaf: Leaf) -> std::io::Result<Vec<u8>> {
        let blob = self
            .repo
            .find_blob(leaf.oid)
            .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
        Ok(blob.content().to_vec())
    }

    fn fetch(&self, rel: &[u8], oid: Oid) -> std::io::Result<Fetch> {
        let odb = self
            .repo
            .odb()
            .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
        // Not here (a partial clone): git fetches it from the promisor.
        let Ok((size, _)) = odb.read_header(oid) else {
            return Ok(if self.filters {
                Fetch::Filtered
            } else {
                Fetch::Stream
            });
        };
        Ok(match (size > STREAM_THRESHOLD, self.filters) {
            (false, false) => Fetch::Memory,
            (false, true) => Fetch::Filtered,
            (true, false) => Fetch::Stream,
            // `cat-file --filters` holds the whole blob in git's memory:
            // only when git would convert this path.
            (true, true) if self.converts(rel) => Fetch::Filtered,
            (true, true) => Fetch::Stream,
        })
    }

    /// Whether git could change `rel`'s content on checkout, from its
    /// attributes (one `git check-attr`) and `core.autocrlf`/`core.eol`.
    /// No filter driver, `ident` or `working-tree-encoding`, and either
    /// `-text` or no text attribute at all without `core.autocrlf=true` /
    /// `core.eol=crlf`: git writes the blob as it is. Anything else, or a
    /// failure to ask: it may convert.
    fn converts(&self, rel: &[u8]) -> bool {
        let out = GitCmd::new(self.git_dir, self.workdir)
            .args(["check-attr", "-z"])
            .args([
                "filter",
                "ident",
                "working-tree-encoding",
                "eol",
                "crlf",
                "text",
                "--",
            ])
            .arg(OsStr::from_bytes(rel))
            .run();
        let Ok(out) = out else { return true };
        let fields: Vec<&[u8]> = out.split(|&b| b == 0).collect();
        let mut text: &[u8] = b"unspecified";
        for f in fields.chunks_exact(3) {
            match (f[1], f[2]) {
                (_, b"unspecified") => {}
                (b"text", value) => text = value,
                // `-crlf` is the old spelling of `-text`.
                (b"crlf", b"unset") if text == b"unspecified" => text = b"unset",
                (b"filter" | b"ident" | b"working-tree-encoding", b"unset") => {}
                _ => return true,
            }
        }
        match text {
            b"unset" => false,
            b"unspecified" => {
                let cfg = self.repo.config().ok();
                let get = |key: &str| {
                    cfg.as_ref()
                        .and_then(|c| c.get_string(key).ok())
                        .map(|v| v.to_ascii_lowercase())
                };
                matches!(
                    get("core.autocrlf").as_deref(),
                    Some("true" | "yes" | "on" | "1")
                ) || get("core.eol").as_deref() == Some("crlf")
            }
            _ => true,
        }
    }

    /// Write the content of file `leaf` at `rel` into `out`.
    fn write_to(&self, rel: &[u8], leaf: Leaf, out: &mut std::fs::File) -> std::io::Result<()> {
        let how = self.fetch(rel, leaf.oid)?;
        tracing::debug!(path = %String::from_utf8_lossy(rel), ?how, "restoring blob {}", leaf.oid);
        let cmd = match how {
            Fetch::Memory => {
                let blob = self
                    .repo
                    .find_blob(leaf.oid)
                    .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
                return out.write_all(blob.content());
            }
            Fetch::Stream => GitCmd::new(self.git_dir, self.workdir)
                .args(["cat-file", "blob"])
                .arg(leaf.oid.to_string()),
            Fetch::Filtered => {
                let mut path_arg = std::ffi::OsString::from("--path=");
                path_arg.push(OsStr::from_bytes(rel));
                GitCmd::new(self.git_dir, self.workdir)
                    .args(["cat-file", "--filters"])
                    .arg(path_arg)
                    .arg(leaf.oid.to_string())
            }
        };
        stream(cmd, out)
    }
}

/// Run `cmd` with its stdout copied straight into `out`.
fn stream(cmd: GitCmd, out: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::Read;
    use std::process::Stdio;
    let shown = cmd.display();
    let mut child = cmd
        .into_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::other(format!("cannot run git {shown}: {e}")))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    // Drain stderr aside: a chatty filter driver must not block git.
    let errors = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let copied = std::io::copy(&mut stdout, out);
    drop(stdout); // git gets EPIPE if the copy failed
    let status = child.wait();
    let stderr = errors.join().unwrap_or_default();
    copied?;
    let status = status?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "`git {shown}` failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escapes(path: &[u8], mode: i32) -> bool {
        matches!(classify_path(path, mode), Some(PathProblem::Escapes(_)))
    }

    #[test]
    fn git_dir_spellings_escape_in_any_position() {
        for name in [
            &b".git"[..],
            b".GIT",
            b".Git.",
            b".git ",
            b".git . .",
            b"git~1",
            b"GIT~1",
            b".git::$INDEX_ALLOCATION",
            b".git:stream",
            ".g\u{200c}it".as_bytes(),
            "\u{200d}.git".as_bytes(),
            ".gi\u{feff}t".as_bytes(),
            ".GI\u{206f}T".as_bytes(),
        ] {
            for path in [name.to_vec(), [b"a/", name, b"/x"].concat()] {
                for mode in [MODE_FILE, MODE_LINK] {
                    assert!(
                        escapes(&path, mode),
                        "{:?} was accepted",
                        String::from_utf8_lossy(&path)
                    );
                }
            }
        }
        // Look-alikes that are ordinary names.
        for ok in [
            &b".gitx"[..],
            b"git",
            b"git~2",
            b".git~1",
            b"x.git",
            b"a\\b",
            b"con",
            b"a:b",
        ] {
            assert_eq!(classify_path(ok, MODE_FILE), None, "{ok:?}");
        }
    }

    #[test]
    fn symlinked_git_dotfiles_escape_but_regular_ones_do_not() {
        for name in [
            &b".gitmodules"[..],
            b".GITMODULES",
            b".gitmodules.",
            b"gitmod~1",
            b".gitattributes",
            b".GitAttributes ",
            b"gitatt~1",
            b"gi7d29~1",
            b".gitignore",
            b".gitignore:stream",
            b"gitign~2",
            b"gi250a~9",
            b".mailmap",
            "\u{200c}.gitignore".as_bytes(),
            ".gitattrib\u{200e}utes".as_bytes(),
        ] {
            for path in [name.to_vec(), [b"sub/dir/", name].concat()] {
                assert!(
                    escapes(&path, MODE_LINK),
                    "symlink {:?} was accepted",
                    String::from_utf8_lossy(&path)
                );
                assert_eq!(classify_path(&path, MODE_FILE), None, "{path:?}");
                assert_eq!(classify_path(&path, MODE_EXEC), None, "{path:?}");
            }
        }
        // As a directory on the way it is only a name.
        assert_eq!(classify_path(b".gitignore/x", MODE_LINK), None);
        assert_eq!(classify_path(b".gitignores", MODE_LINK), None);
        assert_eq!(classify_path(b"gitignore", MODE_LINK), None);
    }
}
