//! `squash`: turn the work since HEAD into one real commit.
//!
//! A fresh snapshot is taken first (trigger `squash`); its tree — exactly
//! what `git add -A` would commit — becomes a commit whose parent is HEAD.
//! The current branch moves to it with a compare-and-swap and a reflog
//! entry (or a new branch is created and nothing else moves). The user's
//! index is brought in line — prepared aside with `git read-tree
//! --reset <commit>` (which keeps the stat data of unchanged entries) and
//! `git update-index --refresh`, renamed into place right after the branch
//! moves: untouched
//! entries keep their stat data, so the next `git status` re-reads nothing
//! it did not have to. The message lists the prompts, tools and files of
//! the snapshots it squashes, and a `Savepoint-Snapshots:` trailer names
//! that range.

use crate::text::{escape_controls as esc, quote_path};
use std::path::{Path, PathBuf};

use git2::Oid;

use crate::error::{Error, GitContext, Result};
use crate::git::command::GitCmd;
use crate::git::treediff;
use crate::snapshot::chain::{self, SnapshotInfo};
use crate::snapshot::record::{self, SnapRequest};
use crate::workspace::{Head, Workspace};

/// The trailer of a squash commit naming the snapshots it replaces.
pub(crate) const SNAPSHOTS_TRAILER: &str = "Savepoint-Snapshots";

/// Where to squash to (the message is chosen after [`prepare`], from
/// [`Prepared::default_message`] or the user's).
#[derive(Debug, Clone, Default)]
pub struct SquashRequest {
    /// Create this branch at the new commit instead of moving the current
    /// one.
    pub branch: Option<String>,
}

/// A squash ready to be committed: the tree and the generated message.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub tree: Oid,
    pub head: Option<Oid>,
    /// The branch that will move (`None` with `--branch`).
    pub branch: Option<String>,
    /// The branch that will be created (`--branch`).
    pub new_branch: Option<String>,
    pub default_message: String,
    pub snapshots: Vec<SnapshotInfo>,
    /// Paths changed from HEAD, with a status letter (A, M, D, T).
    pub files: Vec<(char, String)>,
    pub skipped: Vec<String>,
}

/// The result of a squash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Squashed {
    pub commit: String,
    #[serde(rename = "ref")]
    pub refname: String,
    pub files: usize,
    pub snapshots: usize,
    /// A problem bringing the index in line (the commit itself is done).
    pub index_warning: Option<String>,
}

/// Why `squash` refused or stopped; nothing of the user's was changed
/// (except where a variant says the commit is done).
#[derive(Debug, thiserror::Error)]
pub enum SquashError {
    #[error("a {0} is in progress; finish or abort it first")]
    OperationInProgress(&'static str),
    #[error("`{0}` is not a valid branch name")]
    InvalidBranchName(String),
    #[error("branch `{0}` already exists")]
    BranchExists(String),
    #[error("HEAD is detached; name a branch for the commit with --branch NAME")]
    Detached,
    /// What matches HEAD: "the work tree" or "snapshot <id>".
    #[error("nothing to squash: {0} matches HEAD")]
    NothingToSquash(String),
    /// "Squash up to here" on a snapshot (short id) that is not among the
    /// current branch's snapshots since HEAD's commit.
    #[error("snapshot {0} was not taken on the current branch since HEAD's commit: only that work can be squashed")]
    NotSinceHead(String),
    #[error("branch `{0}` appeared while squashing; nothing else was changed")]
    BranchAppeared(String),
    #[error("{0} moved while squashing; nothing was changed, run it again")]
    BranchMoved(String),
    #[error("{} exists: a git command is updating the branch (if none runs, remove that file)", .0.display())]
    BranchLocked(PathBuf),
    /// The commit is done; the index was left as it was.
    #[error("{} exists: a git command is writing the index", .0.display())]
    IndexLocked(PathBuf),
}

/// Check the preconditions, take the fresh snapshot and work out the
/// commit; nothing of the user's is changed yet.
pub fn prepare(ws: &Workspace, req: &SquashRequest) -> Result<Prepared> {
    let (head, branch) = target_branch(ws, req)?;
    let snapshots_before = crate::ops::handoff::unsquashed(ws)?;
    let out = record::take(ws, &SnapRequest::new("squash"), None)?;
    let tree = Oid::from_str(&out.tree).git_context(|| "parse the snapshot tree".to_owned())?;
    let mut snapshots = snapshots_before;
    if out.created {
        if let Some(oid) = out.oid {
            snapshots.push(chain::info(ws.repo(), oid, &out.refname)?);
        }
    }
    let what = "the work tree";
    prepared(ws, req, (&head, branch), tree, snapshots, out.skipped, what)
}

/// [`prepare`] for "squash up to here": the commit gets the tree of
/// `snapshot` — one of the current chain's snapshots taken since HEAD's
/// commit — instead of a fresh snapshot's, and squashes the snapshots up
/// to it. Later snapshots and later changes in the work tree stay as they
/// are (unstaged, after the commit).
pub fn prepare_at(ws: &Workspace, req: &SquashRequest, snapshot: Oid) -> Result<Prepared> {
    let (head, branch) = target_branch(ws, req)?;
    let mut snapshots = crate::ops::handoff::unsquashed(ws)?;
    let Some(at) = snapshots.iter().position(|s| s.oid == snapshot) else {
        return Err(SquashError::NotSinceHead(chain::short_id(snapshot)).into());
    };
    snapshots.truncate(at + 1);
    let skipped = snapshots[at].skipped.clone();
    let tree = ws
        .repo()
        .find_commit(snapshot)
        .git_context(|| format!("read commit {snapshot}"))?
        .tree_id();
    let what = format!("snapshot {}", chain::short_id(snapshot));
    prepared(ws, req, (&head, branch), tree, snapshots, skipped, &what)
}

/// The preconditions: no rebase or merge in progress, a branch to move or
/// a valid new one to create. HEAD and the branch that moves (`None` with
/// `--branch`).
fn target_branch(ws: &Workspace, req: &SquashRequest) -> Result<(Head, Option<String>)> {
    if let Some(op) = ws.operation_in_progress() {
        return Err(SquashError::OperationInProgress(op).into());
    }
    let head = ws.head()?;
    let branch = match (&head, &req.branch) {
        (_, Some(name)) => {
            let full = format!("refs/heads/{name}");
            if !git2::Reference::is_valid_name(&full) {
                return Err(SquashError::InvalidBranchName(name.clone()).into());
            }
            if crate::git::refs::exists(ws.repo(), &full)? {
                return Err(SquashError::BranchExists(name.clone()).into());
            }
            None
        }
        (Head::Branch { name, .. }, None) => Some(name.clone()),
        (Head::Detached { .. }, None) => return Err(SquashError::Detached.into()),
    };
    Ok((head, branch))
}

/// The commit of `tree` on HEAD, worked out: files changed, message.
fn prepared(
    ws: &Workspace,
    req: &SquashRequest,
    (head, branch): (&Head, Option<String>),
    tree: Oid,
    snapshots: Vec<SnapshotInfo>,
    skipped: Vec<String>,
    what: &str,
) -> Result<Prepared> {
    let repo = ws.repo();
    let head_oid = head.commit();
    let head_tree = head_oid
        .map(|h| repo.find_commit(h).and_then(|c| c.tree()))
        .transpose()
        .git_context(|| "read HEAD's tree".to_owned())?;
    if head_tree.as_ref().map(|t| t.id()) == Some(tree)
        || (head_tree.is_none() && tree == empty_tree()?)
    {
        return Err(SquashError::NothingToSquash(what.to_owned()).into());
    }
    let new_tree = repo
        .find_tree(tree)
        .git_context(|| format!("read tree {tree}"))?;
    let changes = treediff::diff(repo, head_tree.as_ref(), Some(&new_tree), &[])?;
    let files: Vec<(char, String)> = changes
        .iter()
        .map(|c| {
            let letter = match (c.old, c.new) {
                (None, _) => 'A',
                (_, None) => 'D',
                (Some(o), Some(n)) if o.mode != n.mode && o.oid == n.oid => 'T',
                _ => 'M',
            };
            (letter, c.path_lossy())
        })
        .collect();
    let default_message = default_message(&snapshots, &files);
    Ok(Prepared {
        tree,
        head: head_oid,
        branch,
        new_branch: req.branch.clone(),
        default_message,
        snapshots,
        files,
        skipped,
    })
}

fn empty_tree() -> Result<Oid> {
    Oid::hash_object(git2::ObjectType::Tree, b"").git_context(|| "hash the empty tree".to_owned())
}

/// The generated message: a subject from the first prompt (or the files),
/// then the prompts, tools and files.
pub(crate) fn default_message(snapshots: &[SnapshotInfo], files: &[(char, String)]) -> String {
    let mut prompts: Vec<&str> = Vec::new();
    for p in snapshots
        .iter()
        .flat_map(|s| &s.prompts)
        .map(String::as_str)
    {
        if prompts.last() != Some(&p) {
            prompts.push(p);
        }
    }
    let mut tools: Vec<&str> = snapshots.iter().filter_map(|s| s.tool.as_deref()).collect();
    tools.sort_unstable();
    tools.dedup();
    let agents = agents_in_order(snapshots);
    // File names and prompts are untrusted: one line each, controls escaped,
    // so none can add a paragraph or a `Signed-off-by:` trailer.
    let paths: Vec<String> = files
        .iter()
        .map(|(_, p)| quote_path(p).into_owned())
        .collect();
    let one_line = |p: &str, max| esc(&crate::snapshot::trailers::one_line(p, max)).into_owned();
    let subject = match prompts.first() {
        Some(p) => one_line(p, 72),
        None => format!("Update {}", crate::snapshot::trailers::summarize(&paths, 2)),
    };
    let mut m = format!("{subject}\n\n");
    if !prompts.is_empty() {
        m.push_str("Prompts:\n");
        for p in &prompts {
            m.push_str(&format!("- {}\n", one_line(p, 200)));
        }
        m.push('\n');
    }
    if !tools.is_empty() {
        m.push_str(&format!("Tools: {}\n\n", one_line(&tools.join(", "), 1000)));
    }
    if !agents.is_empty() {
        m.push_str(&format!(
            "Agents: {}\n\n",
            one_line(&agents.join(", "), 1000)
        ));
    }
    m.push_str("Files:\n");
    for ((letter, _), path) in files.iter().zip(&paths) {
        m.push_str(&format!("  {letter} {path}\n"));
    }
    m
}

/// The agents that made the snapshots, in order of first appearance.
pub(crate) fn agents_in_order(snapshots: &[SnapshotInfo]) -> Vec<&str> {
    let mut agents: Vec<&str> = Vec::new();
    for a in snapshots.iter().filter_map(|s| s.agent.as_deref()) {
        if !agents.contains(&a) {
            agents.push(a);
        }
    }
    agents
}

/// Add the `Savepoint-Snapshots:` trailer naming the squashed range.
fn with_trailer(message: &str, snapshots: &[SnapshotInfo]) -> String {
    let mut m = message.trim_end().to_owned();
    if let (Some(first), Some(last)) = (snapshots.first(), snapshots.last()) {
        let range = if first.id == last.id {
            first.id.clone()
        } else {
            format!("{}..{}", first.id, last.id)
        };
        m.push_str(&format!(
            "\n\n{SNAPSHOTS_TRAILER}: {range} ({})\n",
            crate::plural(snapshots.len() as u64, "snapshot")
        ));
    } else {
        m.push('\n');
    }
    m
}

/// Write the commit, move the branch (or create the new one), then bring
/// the index in line for the committed paths.
pub fn commit(ws: &Workspace, prepared: &Prepared, message: &str) -> Result<Squashed> {
    let repo = ws.repo();
    let message = with_trailer(message, &prepared.snapshots);
    let tree = repo
        .find_tree(prepared.tree)
        .git_context(|| format!("read tree {}", prepared.tree))?;
    let parent = prepared
        .head
        .map(|h| repo.find_commit(h))
        .transpose()
        .git_context(|| "read HEAD".to_owned())?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let sig = chain::signature(repo);
    let oid = repo
        .commit(None, &sig, &sig, &message, &tree, &parents)
        .git_context(|| "write the squash commit".to_owned())?;
    crate::fs::durable::sync_objects(repo.commondir(), &[oid], false);
    let subject = message.lines().next().unwrap_or("").to_owned();
    let log = format!("savepoint squash: {subject}");
    let (refname, index_warning) = match (&prepared.branch, &prepared.new_branch) {
        (_, Some(name)) => {
            let full = format!("refs/heads/{name}");
            crate::git::refs::update(repo, &full, None, oid, &log).map_err(|e| match e {
                crate::git::refs::UpdateError::Failed(e) => e,
                _ => SquashError::BranchAppeared(name.clone()).into(),
            })?;
            crate::fs::durable::sync_ref(repo.commondir(), &full);
            (full, None)
        }
        (Some(branch), None) => {
            let full = format!("refs/heads/{branch}");
            // The new index is built aside before the branch moves and put
            // in place by one rename right after: a crash leaves the old
            // branch with the old index, or the new branch with the new
            // index — or, in the microseconds between, the new branch with
            // the old index (as after `git reset --soft`; `git reset -q`
            // fixes it). Never a stale `index.lock`.
            let staged = stage_index(ws, oid);
            move_branch(ws, &full, prepared.head, oid, &log).inspect_err(|_| {
                if let Ok(p) = &staged {
                    let _ = std::fs::remove_file(p);
                }
            })?;
            let warning = staged
                .and_then(|p| swap_index(ws, &p))
                .err()
                .map(|e| e.to_string());
            (full, warning)
        }
        (None, None) => unreachable!("prepare names a branch"),
    };
    Ok(Squashed {
        commit: chain::short_id(oid),
        refname,
        files: prepared.files.len(),
        snapshots: prepared.snapshots.len(),
        index_warning,
    })
}

/// Move the branch (compare-and-swap; the ref store's lock waits out a
/// `<ref>.lock` git holds and clears one a killed savepoint left).
fn move_branch(ws: &Workspace, refname: &str, old: Option<Oid>, new: Oid, log: &str) -> Result<()> {
    let repo = ws.repo();
    let lock = repo.commondir().join(format!("{refname}.lock"));
    crate::git::refs::update(repo, refname, old, new, log).map_err(|e| match e {
        crate::git::refs::UpdateError::Moved => SquashError::BranchMoved(refname.to_owned()).into(),
        crate::git::refs::UpdateError::Locked => SquashError::BranchLocked(lock).into(),
        crate::git::refs::UpdateError::Failed(e) => e,
    })?;
    crate::fs::durable::sync_ref(repo.commondir(), refname);
    Ok(())
}

/// A copy of the user's index moved to `commit` (`git read-tree --reset
/// <commit>`: entries whose content does not change keep their stat data
/// and their skip-worktree / assume-unchanged bits — the snapshot recorded
/// those entries as indexed, so they do not change — and HEAD is not
/// touched), then `git update-index -q --refresh` for stat data of the
/// committed paths. Built in the state dir.
fn stage_index(ws: &Workspace, commit: Oid) -> Result<PathBuf> {
    let state = ws.state().ensure()?;
    let staged = state.join(format!("squash-index.{}", std::process::id()));
    let user_index = ws.index_path();
    if user_index.exists() {
        crate::git::index_file::copy_index(&user_index, &staged)?;
    }
    let git = |args: &[&str]| -> Result<()> {
        let cmd = GitCmd::new(ws.git_dir(), ws.workdir())
            .index_file(&staged)
            .args(args);
        let shown = cmd.display();
        let out = cmd.output()?;
        // `update-index --refresh` exits 1 when files differ from the
        // index (changed after the snapshot): that is information.
        if out.status.success() || args.contains(&"--refresh") {
            Ok(())
        } else {
            Err(Error::GitCli {
                args: shown,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    };
    let result = git(&["read-tree", "--reset", &commit.to_string()])
        .and_then(|()| git(&["update-index", "-q", "--refresh"]));
    match result {
        Ok(()) => Ok(staged),
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e)
        }
    }
}

/// Put the staged index in place with one rename, unless a git command
/// holds `index.lock` right now (then its write wins and the index stays as
/// it was: `git reset -q` brings it in line). savepoint never creates
/// `index.lock` itself, so a crash can never leave one behind.
fn swap_index(ws: &Workspace, staged: &Path) -> Result<()> {
    let index = ws.index_path();
    let lock = ws.git_dir().join("index.lock");
    let result = if lock.exists() {
        Err(SquashError::IndexLocked(lock).into())
    } else {
        std::fs::rename(staged, &index).map_err(|e| Error::io("replace the index with", &index, e))
    };
    if result.is_err() {
        let _ = std::fs::remove_file(staged);
    }
    result
}
