//! Shadow refs and snapshot chains: naming (`refs/savepoint/heads/<branch>`
//! for the main work tree, `refs/savepoint/worktrees/<worktree>/heads/<branch>`
//! for a linked one, `refs/savepoint/detached/<worktree>`), reading a chain back (first-parent
//! walk over snapshot commits), and appending a snapshot commit with a
//! compare-and-swap ref update and a reflog entry. Nothing here writes
//! outside `refs/savepoint/`.

use chrono::{DateTime, FixedOffset, TimeZone};
use git2::{Commit, Oid, Repository, Signature, Tree};
use serde::Serialize;

use crate::error::{Error, GitContext, Result};
use crate::git::treediff::{self, Trees};
use crate::snapshot::trailers::{self, Trailers};

/// Every shadow ref lives below this prefix.
pub const PREFIX: &str = "refs/savepoint/";
/// Chains fetched from other machines (`savepoint fetch`).
pub const REMOTES_PREFIX: &str = "refs/savepoint/remotes/";

/// The chain ref for a branch.
pub fn branch_ref(branch: &str) -> String {
    format!("{PREFIX}heads/{branch}")
}

/// Namespace of the branch chains of linked work trees.
pub const WORKTREES_PREFIX: &str = "refs/savepoint/worktrees/";

/// The chain ref for `branch` checked out in the linked work tree
/// `worktree`: one chain per work tree, also when two work trees have the
/// same branch checked out.
pub fn worktree_branch_ref(worktree: &str, branch: &str) -> String {
    format!("{WORKTREES_PREFIX}{worktree}/heads/{branch}")
}

/// The branch a chain belongs to and the linked work tree it was taken in
/// (`None`: the main work tree); `None` for detached and remote chains.
pub fn branch_of(refname: &str) -> Option<(Option<&str>, &str)> {
    if let Some(branch) = refname.strip_prefix(PREFIX)?.strip_prefix("heads/") {
        return Some((None, branch));
    }
    let rest = refname.strip_prefix(WORKTREES_PREFIX)?;
    let (worktree, branch) = rest.split_once("/heads/")?;
    Some((Some(worktree), branch))
}

/// The work tree a local chain belongs to: `main` for
/// `refs/savepoint/heads/*`, the linked work tree's name for
/// `refs/savepoint/worktrees/<worktree>/…`, the named one for
/// `refs/savepoint/detached/<worktree>`; `None` for fetched chains.
pub fn worktree_of(refname: &str) -> Option<&str> {
    let rest = refname.strip_prefix(PREFIX)?;
    if rest.starts_with("heads/") {
        return Some("main");
    }
    if let Some(name) = rest.strip_prefix("detached/") {
        return Some(name);
    }
    let rest = rest.strip_prefix("worktrees/")?;
    rest.split_once("/heads/").map(|(worktree, _)| worktree)
}

/// The chain ref for a detached HEAD in work tree `worktree`.
pub fn detached_ref(worktree: &str) -> String {
    format!("{PREFIX}detached/{worktree}")
}

/// Current tip of a chain, if the chain exists.
pub fn tip(repo: &Repository, refname: &str) -> Result<Option<Oid>> {
    crate::git::refs::resolve(repo, refname)
}

/// Every chain: `(refname, tip)`, sorted by name.
pub fn all_chains(repo: &Repository) -> Result<Vec<(String, Oid)>> {
    crate::git::refs::list(repo, PREFIX)
}

/// The snapshot ids of a chain from `tip` back along first parents, newest
/// first, stopping at the first commit that is not a snapshot (the base the
/// chain started from) or after `limit` snapshots.
pub fn walk(repo: &Repository, tip: Oid, limit: Option<usize>) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    let mut next = Some(tip);
    while let Some(oid) = next {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let commit = repo
            .find_commit(oid)
            .git_context(|| format!("read commit {oid}"))?;
        if trailers::parse(commit.message_raw().unwrap_or("")).is_none() {
            break;
        }
        out.push(oid);
        next = commit.parent_id(0).ok();
    }
    Ok(out)
}

/// Is this commit a savepoint snapshot?
pub fn is_snapshot(commit: &Commit<'_>) -> bool {
    trailers::parse(&String::from_utf8_lossy(commit.message_bytes())).is_some()
}

/// Everything `log` shows about one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub id: String,
    #[serde(rename = "ref")]
    pub refname: String,
    pub time: String,
    pub trigger: String,
    pub base: String,
    pub session: Option<String>,
    /// Who made the change (`Savepoint-Agent`), when known.
    pub agent: Option<String>,
    pub tool: Option<String>,
    /// The latest of `prompts`.
    pub prompt: Option<String>,
    /// Every prompt the snapshot carries, in order (prompts that found
    /// nothing new wait for the next snapshot).
    pub prompts: Vec<String>,
    /// The sessions of those prompts, the snapshot's own first.
    pub sessions: Vec<String>,
    pub message: String,
    pub files: Vec<String>,
    /// Those of `files` the snapshot deleted.
    #[serde(skip)]
    pub deleted: Vec<String>,
    #[serde(skip)]
    pub oid: Oid,
    #[serde(skip)]
    pub timestamp: DateTime<FixedOffset>,
    #[serde(skip)]
    pub subject: String,
    #[serde(skip)]
    pub skipped: Vec<String>,
}

/// A snapshot's subject without the `savepoint: <trigger>: ` savepoint
/// writes before it (the subject as it is when it does not start so).
pub fn subject_tail<'a>(subject: &'a str, trigger: &str) -> &'a str {
    subject
        .strip_prefix("savepoint: ")
        .and_then(|s| s.strip_prefix(trigger))
        .and_then(|s| s.strip_prefix(": "))
        .unwrap_or(subject)
}

/// Short (12 hex) id, as savepoint prints them.
pub fn short_id(oid: Oid) -> String {
    let mut s = oid.to_string();
    s.truncate(12);
    s
}

/// A commit's committer time with its offset.
pub fn commit_time(commit: &Commit<'_>) -> DateTime<FixedOffset> {
    let t = commit.committer().when();
    let offset = FixedOffset::east_opt(t.offset_minutes() * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    offset
        .timestamp_opt(t.seconds(), 0)
        .single()
        .unwrap_or_else(|| offset.timestamp_opt(0, 0).single().expect("epoch"))
}

/// Describe snapshot `oid` (found on `refname`).
pub fn info(repo: &Repository, oid: Oid, refname: &str) -> Result<SnapshotInfo> {
    info_by(repo, oid, refname, None)
}

/// [`info`] reading trees through `trees` (an operation that has read
/// them already, or will again).
pub(crate) fn info_in(trees: &mut Trees<'_>, oid: Oid, refname: &str) -> Result<SnapshotInfo> {
    info_by(trees.repo(), oid, refname, Some(trees))
}

fn info_by(
    repo: &Repository,
    oid: Oid,
    refname: &str,
    trees: Option<&mut Trees<'_>>,
) -> Result<SnapshotInfo> {
    let commit = repo
        .find_commit(oid)
        .git_context(|| format!("read commit {oid}"))?;
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let t = trailers::parse(&message).unwrap_or_default();
    // A crafted (fetched) snapshot too deep to read still gets listed.
    let (files, deleted) = match own_changes(repo, &commit, &[], trees) {
        Err(crate::Error::TreeTooDeep { limit }) => (
            vec![format!(
                "(tree nested deeper than {limit} directories: not read)"
            )],
            Vec::new(),
        ),
        other => {
            let changes = other?;
            let deleted = changes
                .iter()
                .filter(|c| c.new.is_none())
                .map(|c| c.path_lossy())
                .collect();
            let mut files: Vec<String> = changes.iter().map(|c| c.path_lossy()).collect();
            files.dedup();
            (files, deleted)
        }
    };
    let timestamp = commit_time(&commit);
    Ok(SnapshotInfo {
        id: short_id(oid),
        refname: refname.to_owned(),
        time: timestamp.to_rfc3339(),
        trigger: t.trigger,
        base: t.base,
        sessions: t.session.iter().chain(&t.more_sessions).cloned().collect(),
        session: t.session,
        agent: t.agent,
        tool: t.tool,
        prompt: t.prompts.last().cloned(),
        prompts: t.prompts,
        subject: commit.summary().unwrap_or("").to_owned(),
        message: message.trim_end().to_owned(),
        files,
        deleted,
        oid,
        timestamp,
        skipped: t.skipped,
    })
}

impl SnapshotInfo {
    /// The one-line summary `log` shows: the subject without its
    /// `savepoint: <trigger>: ` prefix. A summary savepoint generated (not
    /// a user's label) is written anew from the snapshot's changes, with
    /// deletions marked: `2 files: src/a.rs, old.rs (deleted)`.
    pub fn summary(&self) -> String {
        let tail = subject_tail(&self.subject, &self.trigger);
        let shown = crate::snapshot::record::SUBJECT_PATHS;
        if self.deleted.is_empty() || tail != trailers::summarize(&self.files, shown) {
            return tail.to_owned();
        }
        summarize_marked(&self.files, &self.deleted, shown)
    }
}

/// [`trailers::summarize`] with deleted paths marked.
fn summarize_marked(files: &[String], deleted: &[String], show: usize) -> String {
    let deleted: std::collections::HashSet<&str> = deleted.iter().map(String::as_str).collect();
    let is_deleted = |f: &String| deleted.contains(f.as_str());
    let n = files.len();
    let noun = if n == 1 { "file" } else { "files" };
    let all_deleted = files.iter().all(is_deleted);
    let hidden_deleted = files.iter().skip(show).filter(|f| is_deleted(f)).count();
    let more = match n.saturating_sub(show) {
        0 => String::new(),
        rest if all_deleted || hidden_deleted == 0 => format!(", +{rest}"),
        rest => format!(", +{rest} ({hidden_deleted} deleted)"),
    };
    if all_deleted {
        let shown: Vec<&str> = files.iter().take(show).map(String::as_str).collect();
        return format!("{n} {noun} deleted: {}{more}", shown.join(", "));
    }
    let shown: Vec<String> = files
        .iter()
        .take(show)
        .map(|f| {
            if is_deleted(f) {
                format!("{f} (deleted)")
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{n} {noun}: {}{more}", shown.join(", "))
}

/// Does snapshot `oid` change anything at or below `scope` (work-tree
/// relative paths; empty: anything) compared with its first parent? Costs
/// O(changed paths in scope): unchanged and out-of-scope subtrees are never
/// read.
pub fn touches(repo: &Repository, oid: Oid, scope: &[Vec<u8>]) -> Result<bool> {
    let commit = repo
        .find_commit(oid)
        .git_context(|| format!("read commit {oid}"))?;
    match own_changes(repo, &commit, scope, None) {
        Ok(changes) => Ok(!changes.is_empty()),
        // A crafted chain too deep to read: listed, as `info` lists it.
        Err(Error::TreeTooDeep { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// What snapshot `commit` changed against its first parent (everything,
/// for a chain's first snapshot on an unborn branch), within `scope`;
/// trees read through `trees` when given.
pub(crate) fn own_changes(
    repo: &Repository,
    commit: &Commit<'_>,
    scope: &[Vec<u8>],
    trees: Option<&mut Trees<'_>>,
) -> Result<Vec<treediff::Change>> {
    let parent_tree = commit.parent(0).ok().map(|p| p.tree_id());
    let tree = commit.tree_id();
    let Some(trees) = trees else {
        let read = |t: Oid| repo.find_tree(t).git_context(|| format!("read tree {t}"));
        let parent_tree = parent_tree.map(read).transpose()?;
        return treediff::diff(repo, parent_tree.as_ref(), Some(&read(tree)?), scope);
    };
    let parent_tree = parent_tree.map(|t| trees.get(t)).transpose()?;
    let tree = trees.get(tree)?;
    treediff::diff_in(trees, parent_tree.as_ref(), Some(&tree), scope)
}

/// Paths that differ between two trees (`None`: the empty tree), sorted.
/// Costs O(changed paths × depth), not O(repository): see [`crate::git::treediff`].
pub fn changed_paths(
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = treediff::diff(repo, old, Some(new), &[])?
        .iter()
        .map(|c| c.path_lossy())
        .collect();
    out.dedup();
    Ok(out)
}

/// What to record in a new snapshot commit.
pub struct NewSnapshot<'a> {
    pub refname: &'a str,
    /// The chain's tip as read under the lock (compare-and-swap expectation).
    pub old_tip: Option<Oid>,
    pub tree: Oid,
    /// HEAD's commit, `None` on an unborn branch.
    pub head: Option<Oid>,
    pub subject: String,
    pub body: Option<String>,
    pub trailers: Trailers,
}

/// Parents per DESIGN.md §1: the previous snapshot first; HEAD second when it
/// moved since that snapshot; HEAD alone for a chain's first snapshot.
pub fn parents_for(repo: &Repository, old_tip: Option<Oid>, head: Option<Oid>) -> Result<Vec<Oid>> {
    let Some(tip) = old_tip else {
        return Ok(head.into_iter().collect());
    };
    let tip_commit = repo
        .find_commit(tip)
        .git_context(|| format!("read commit {tip}"))?;
    let tip_base =
        trailers::parse(&String::from_utf8_lossy(tip_commit.message_bytes())).map(|t| t.base);
    let mut parents = vec![tip];
    if let Some(h) = head {
        if tip_base.as_deref() != Some(h.to_string().as_str()) && h != tip {
            parents.push(h);
        }
    }
    Ok(parents)
}

/// The signature snapshots are written with: git's `user.name` /
/// `user.email`, else `savepoint <savepoint@localhost>`.
pub fn signature(repo: &Repository) -> Signature<'static> {
    repo.signature()
        .or_else(|_| Signature::now("savepoint", "savepoint@localhost"))
        .expect("a constant signature is valid")
}

/// Write the commit and move the ref (compare-and-swap, reflog entry).
/// Objects are flushed before the ref moves; the ref after.
pub fn append(repo: &Repository, snap: &NewSnapshot<'_>) -> Result<Oid> {
    let parents = parents_for(repo, snap.old_tip, snap.head)?;
    let parent_commits = parents
        .iter()
        .map(|p| {
            repo.find_commit(*p)
                .git_context(|| format!("read commit {p}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let parent_refs: Vec<&Commit<'_>> = parent_commits.iter().collect();
    let tree = repo
        .find_tree(snap.tree)
        .git_context(|| format!("read tree {}", snap.tree))?;
    let sig = signature(repo);
    let message = trailers::format_message(&snap.subject, snap.body.as_deref(), &snap.trailers);
    let oid = repo
        .commit(None, &sig, &sig, &message, &tree, &parent_refs)
        .git_context(|| "write snapshot commit".to_owned())?;
    crate::fs::durable::sync_objects(repo.commondir(), &[oid], false);
    move_ref(
        repo,
        snap.refname,
        snap.old_tip,
        oid,
        &format!("savepoint: {}", trailers::one_line(&snap.subject, 200)),
    )?;
    Ok(oid)
}

/// Compare-and-swap `refname` from `old` to `new` with a reflog entry.
/// Callers hold the snapshot lock ([`crate::workspace::lock::SnapshotLock`]);
/// the ref store takes the repository-wide ref lock.
pub fn move_ref(
    repo: &Repository,
    refname: &str,
    old: Option<Oid>,
    new: Oid,
    log: &str,
) -> Result<()> {
    use crate::git::refs::UpdateError;
    match crate::git::refs::update(repo, refname, old, new, log) {
        Ok(()) => {}
        Err(UpdateError::Moved) => {
            let found = tip(repo, refname)?
                .map(|o| o.to_string())
                .unwrap_or_else(|| "nothing".into());
            return Err(Error::RefMoved {
                refname: refname.to_owned(),
                expected: old
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "no ref".into()),
                found,
            });
        }
        Err(UpdateError::Locked) => {
            let lock = repo.commondir().join(format!("{refname}.lock"));
            return Err(Error::GitCli {
                args: format!("update-ref {refname}"),
                stderr: format!(
                    "{refname} is locked by another process ({}); if no git command is \
                     running in this repository, remove that file and try again",
                    lock.display()
                ),
            });
        }
        Err(UpdateError::Failed(e)) => return Err(e),
    }
    crate::fs::durable::sync_ref(repo.commondir(), refname);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_tail_drops_only_savepoints_own_prefix() {
        let tail = |s| subject_tail(s, "claude:PostToolUse");
        assert_eq!(
            tail("savepoint: claude:PostToolUse: 1 file: a"),
            "1 file: a"
        );
        // Another trigger's prefix, or a subject of the user's, stays whole.
        assert_eq!(
            tail("savepoint: watch: 1 file: a"),
            "savepoint: watch: 1 file: a"
        );
        assert_eq!(tail("before the refactor"), "before the refactor");
        assert_eq!(
            subject_tail("savepoint: manual", "manual"),
            "savepoint: manual"
        );
    }

    #[test]
    fn chain_names_say_their_branch_and_work_tree() {
        assert_eq!(branch_ref("feat/x"), "refs/savepoint/heads/feat/x");
        let linked = worktree_branch_ref("wt", "feat/x");
        assert_eq!(linked, "refs/savepoint/worktrees/wt/heads/feat/x");
        assert_eq!(branch_of(&linked), Some((Some("wt"), "feat/x")));
        assert_eq!(branch_of(&branch_ref("main")), Some((None, "main")));
        assert_eq!(branch_of(&detached_ref("wt")), None);
        assert_eq!(branch_of("refs/savepoint/remotes/o/heads/main"), None);
        assert_eq!(worktree_of(&branch_ref("main")), Some("main"));
        assert_eq!(worktree_of(&linked), Some("wt"));
        assert_eq!(worktree_of(&detached_ref("wt")), Some("wt"));
        assert_eq!(worktree_of("refs/savepoint/remotes/o/heads/main"), None);
    }

    #[test]
    fn summaries_mark_deletions() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            summarize_marked(&v(&["a", "b"]), &v(&["b"]), 2),
            "2 files: a, b (deleted)"
        );
        assert_eq!(
            summarize_marked(&v(&["a", "b", "c", "d"]), &v(&["a", "d"]), 2),
            "4 files: a (deleted), b, +2 (1 deleted)"
        );
        assert_eq!(
            summarize_marked(&v(&["a", "b", "c"]), &v(&["a", "b", "c"]), 2),
            "3 files deleted: a, b, +1"
        );
        assert_eq!(
            summarize_marked(&v(&["a"]), &v(&["a"]), 2),
            "1 file deleted: a"
        );
    }
}
