//! `squash`: turn the work since HEAD into one real commit.
//!
//! A fresh snapshot is taken first (trigger `squash`); its tree — exactly
//! what `git add -A` would commit — becomes a commit whose parent is HEAD.
//! The current branch moves to it with a compare-and-swap and a reflog
//! entry (or a new branch is created and nothing else moves). Then the
//! user's index is brought in line for the committed paths only, through
//! `git reset -- <paths>` and `git update-index --refresh`: untouched
//! entries keep their stat data, so the next `git status` re-reads nothing
//! it did not have to. The message lists the prompts, tools and files of
//! the snapshots it squashes, and a `Savepoint-Snapshots:` trailer names
//! that range.

use std::io::Write;
use std::process::{Command, Stdio};

use git2::{Oid, Repository};

use crate::chain::{self, SnapshotInfo};
use crate::config::Config;
use crate::error::{Error, GitContext, Result};
use crate::repo::{Head, Workspace};
use crate::snap::{self, SnapRequest};
use crate::treediff;

/// The trailer of a squash commit naming the snapshots it replaces.
pub const SNAPSHOTS_TRAILER: &str = "Savepoint-Snapshots";

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
    /// The same paths, as bytes (for the index update).
    pub paths: Vec<Vec<u8>>,
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

/// Check the preconditions, take the fresh snapshot and work out the
/// commit; nothing of the user's is changed yet.
pub fn prepare(ws: &Workspace, cfg: &Config, req: &SquashRequest) -> Result<Prepared> {
    if let Some(op) = ws.operation_in_progress() {
        return Err(Error::Squash {
            reason: format!("a {op} is in progress; finish or abort it first"),
        });
    }
    let head = ws.head()?;
    let branch = match (&head, &req.branch) {
        (_, Some(name)) => {
            let full = format!("refs/heads/{name}");
            if !git2::Reference::is_valid_name(&full) {
                return Err(Error::Squash {
                    reason: format!("`{name}` is not a valid branch name"),
                });
            }
            if ws.repo().find_reference(&full).is_ok() {
                return Err(Error::Squash {
                    reason: format!("branch `{name}` already exists"),
                });
            }
            None
        }
        (Head::Branch { name, .. }, None) => Some(name.clone()),
        (Head::Detached { .. }, None) => {
            return Err(Error::Squash {
                reason: "HEAD is detached; name a branch for the commit with --branch NAME".into(),
            })
        }
    };
    let snapshots_before = crate::handoff::unsquashed(ws)?;
    let out = snap::take(ws, cfg, &SnapRequest::new("squash"), None)?;
    let tree = Oid::from_str(&out.tree).git_context(|| "parse the snapshot tree".to_owned())?;
    let repo = ws.repo();
    let head_oid = head.commit();
    let head_tree = head_oid
        .map(|h| repo.find_commit(h).and_then(|c| c.tree()))
        .transpose()
        .git_context(|| "read HEAD's tree".to_owned())?;
    if head_tree.as_ref().map(|t| t.id()) == Some(tree)
        || (head_tree.is_none() && tree == empty_tree()?)
    {
        return Err(Error::Squash {
            reason: "nothing to squash: the work tree matches HEAD".into(),
        });
    }
    let new_tree = repo
        .find_tree(tree)
        .git_context(|| format!("read tree {tree}"))?;
    let changes = treediff::diff(repo, head_tree.as_ref(), Some(&new_tree), &[])?;
    let paths: Vec<Vec<u8>> = changes.iter().map(|c| c.path.clone()).collect();
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
    let mut snapshots = snapshots_before;
    if out.created {
        if let Some(oid) = out.oid {
            snapshots.push(chain::info(repo, oid, &out.refname)?);
        }
    }
    let default_message = default_message(&snapshots, &files);
    Ok(Prepared {
        tree,
        head: head_oid,
        branch,
        new_branch: req.branch.clone(),
        default_message,
        snapshots,
        files,
        paths,
        skipped: out.skipped,
    })
}

fn empty_tree() -> Result<Oid> {
    Oid::hash_object(git2::ObjectType::Tree, b"").git_context(|| "hash the empty tree".to_owned())
}

/// The generated message: a subject from the first prompt (or the files),
/// then the prompts, tools and files.
pub fn default_message(snapshots: &[SnapshotInfo], files: &[(char, String)]) -> String {
    let mut prompts: Vec<&str> = Vec::new();
    for p in snapshots.iter().filter_map(|s| s.prompt.as_deref()) {
        if prompts.last() != Some(&p) {
            prompts.push(p);
        }
    }
    let mut tools: Vec<&str> = snapshots.iter().filter_map(|s| s.tool.as_deref()).collect();
    tools.sort_unstable();
    tools.dedup();
    let paths: Vec<String> = files.iter().map(|(_, p)| p.clone()).collect();
    let subject = match prompts.first() {
        Some(p) => crate::trailers::one_line(p, 72),
        None => format!("Update {}", crate::trailers::summarize(&paths, 2)),
    };
    let mut m = format!("{subject}\n\n");
    if !prompts.is_empty() {
        m.push_str("Prompts:\n");
        for p in &prompts {
            m.push_str(&format!("- {}\n", crate::trailers::one_line(p, 200)));
        }
        m.push('\n');
    }
    if !tools.is_empty() {
        m.push_str(&format!("Tools: {}\n\n", tools.join(", ")));
    }
    m.push_str("Files:\n");
    for (letter, path) in files {
        m.push_str(&format!("  {letter} {path}\n"));
    }
    m
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
    crate::durable::sync_objects(repo.commondir(), &[oid], false);
    let subject = message.lines().next().unwrap_or("").to_owned();
    let log = format!("savepoint squash: {subject}");
    let (refname, index_warning) = match (&prepared.branch, &prepared.new_branch) {
        (_, Some(name)) => {
            let full = format!("refs/heads/{name}");
            repo.reference(&full, oid, false, &log)
                .git_context(|| format!("create {full}"))?;
            crate::durable::sync_ref(repo.commondir(), &full);
            (full, None)
        }
        (Some(branch), None) => {
            let full = format!("refs/heads/{branch}");
            move_branch(repo, &full, prepared.head, oid, &log)?;
            (full, sync_index(ws, &prepared.paths).err())
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

fn move_branch(
    repo: &Repository,
    refname: &str,
    old: Option<Oid>,
    new: Oid,
    log: &str,
) -> Result<()> {
    let result = match old {
        Some(old) => repo
            .reference_matching(refname, new, true, old, log)
            .map(|_| ()),
        None => repo.reference(refname, new, false, log).map(|_| ()),
    };
    result.map_err(|e| match e.code() {
        git2::ErrorCode::Modified | git2::ErrorCode::Exists => Error::Squash {
            reason: format!("{refname} moved while squashing; nothing was changed, run it again"),
        },
        _ => Error::Git {
            action: format!("update {refname}"),
            source: e,
        },
    })?;
    crate::durable::sync_ref(repo.commondir(), refname);
    Ok(())
}

/// `git reset -q -- <paths>` (index entries from the new HEAD), then
/// `git update-index -q --refresh` (stat data for those entries; the rest
/// keep theirs, so nothing unchanged is re-read).
fn sync_index(ws: &Workspace, paths: &[Vec<u8>]) -> std::result::Result<(), String> {
    let git = |args: &[&str], input: Option<&[u8]>| -> std::result::Result<(), String> {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(ws.workdir())
            .env("GIT_DIR", ws.git_dir())
            .env("GIT_WORK_TREE", ws.workdir())
            .env_remove("GIT_INDEX_FILE")
            .env("SAVEPOINT_NO_HOOKS", "1")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("run git: {e}"))?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(bytes).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        // `update-index --refresh` exits 1 when files differ from the
        // index (changed after the snapshot): that is information.
        if out.status.success() || args.contains(&"--refresh") {
            Ok(())
        } else {
            Err(format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let mut list = Vec::new();
    for p in paths {
        list.extend_from_slice(p);
        list.push(0);
    }
    git(
        &[
            "--literal-pathspecs",
            "reset",
            "-q",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ],
        Some(&list),
    )?;
    git(&["update-index", "-q", "--refresh"], None)
}
