//! `recover`: after an interruption or a destructive command, find the
//! snapshot that holds the work the work tree no longer has.
//!
//! The chain of the current HEAD comes first; when it has no snapshot (the
//! branch changed), the most recent snapshot of any local chain. If the
//! work tree differs from that chain's latest snapshot, that snapshot is
//! restored (files with unsaved work made after it are never deleted). If
//! it matches — typically because the watcher recorded the state right
//! after the loss — the chain is searched backwards for the latest snapshot
//! with files the work tree lost (deleted, or reverted to HEAD's version by
//! `git checkout .` / `git reset --hard`), and only those files come back.
//! A `restore`/`recover` is deliberate: the search never reaches past its
//! safety snapshot, and right after one there is nothing to recover (its
//! safety snapshot is how to undo it).

use git2::{Oid, Repository, Tree};

use crate::chain::{self, SnapshotInfo};
use crate::config::Config;
use crate::error::{GitContext, Result};
use crate::repo::Workspace;
use crate::restore::{self, Plan};
use crate::treediff::{self, Leaf, MODE_GITLINK};

/// How far back the search for lost files goes.
const SEARCH_DEPTH: usize = 1000;

/// A recovery to propose.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The snapshot to bring work back from.
    pub snapshot: SnapshotInfo,
    /// Why this snapshot, in sentences for the user.
    pub reasons: Vec<String>,
    /// Only these paths (files lost since the snapshot); empty: the whole
    /// snapshot.
    pub scope: Vec<Vec<u8>>,
    /// The preview: what restoring would do now.
    pub plan: Plan,
    /// Deletions the restore will skip (files with unsaved work).
    pub kept: Vec<String>,
}

/// The result of looking for something to recover.
#[derive(Debug, Clone)]
pub enum Found {
    Nothing { reason: String },
    Recovery(Box<Recovery>),
}

fn tree_of(repo: &Repository, commit: Oid) -> Result<Tree<'_>> {
    repo.find_commit(commit)
        .and_then(|c| c.tree())
        .git_context(|| format!("read the tree of {commit}"))
}

/// Look for work to recover. Reads only; writes no snapshot.
pub fn find(ws: &Workspace, cfg: &Config) -> Result<Found> {
    let repo = ws.repo();
    let current_id = restore::current_tree(ws, cfg)?;
    let current = repo
        .find_tree(current_id)
        .git_context(|| format!("read tree {current_id}"))?;
    let head = ws.head()?.commit();
    let head_tree = head.map(|h| tree_of(repo, h)).transpose()?;

    let here = ws.chain_ref()?;
    let mut reasons = Vec::new();
    let (refname, tip) = match chain::tip(repo, &here)? {
        Some(t) => (here, t),
        None => {
            // This work tree's other chains (another branch, detached):
            // never another work tree's, whose files are not lost here.
            let worktree = ws.worktree_name();
            let mut local: Vec<(String, Oid, i64)> = Vec::new();
            for (name, tip) in chain::all_chains(repo)? {
                if chain::worktree_of(&name) != Some(worktree.as_str()) {
                    continue;
                }
                let time = repo
                    .find_commit(tip)
                    .git_context(|| format!("read {tip}"))?
                    .time()
                    .seconds();
                local.push((name, tip, time));
            }
            let Some((name, tip, _)) = local.into_iter().max_by_key(|(_, _, t)| *t) else {
                return Ok(Found::Nothing {
                    reason: "there are no snapshots of this work tree yet".into(),
                });
            };
            reasons.push(format!(
                "{here} has no snapshots (HEAD is on another branch than before?); \
                 using the most recent snapshot, on {name}"
            ));
            (name, tip)
        }
    };
    let tip_info = chain::info(repo, tip, &refname)?;
    let restored_at = restore::Marker::load(ws, &refname);
    if is_safety(&tip_info) || restored_at == Some(tip) {
        // A restore (or recover) was the last thing recorded: the work tree
        // is what the user chose; what it replaced is in that snapshot.
        return Ok(Found::Nothing {
            reason: format!(
                "nothing was recorded on {refname} since the last restore or recover; \
                 the state before it is snapshot {} (undo it with: savepoint restore {})",
                tip_info.id, tip_info.id
            ),
        });
    }
    if let Some(h) = head {
        if tip_info.base != h.to_string() && tip_info.base != "unborn" {
            reasons.push(format!(
                "HEAD moved since that snapshot (it was taken on {}, HEAD is now {})",
                short(&tip_info.base),
                chain::short_id(h)
            ));
        }
    }
    let tip_tree = tree_of(repo, tip)?;
    if tip_tree.id() != current_id {
        let mut plan = Plan::new(repo, &current, &tip_tree, &[])?;
        let kept = plan.keep_unsaved(ws)?;
        if !plan.is_empty() {
            reasons.insert(
                0,
                format!("the work tree differs from the latest snapshot on {refname}"),
            );
            return Ok(Found::Recovery(Box::new(Recovery {
                snapshot: tip_info,
                reasons,
                scope: Vec::new(),
                plan,
                kept,
            })));
        }
    }
    // The latest snapshot matches the work tree (or differs only by new
    // files): look further back for files lost since.
    for oid in chain::walk(repo, tip, Some(SEARCH_DEPTH))?
        .into_iter()
        .skip(1)
    {
        if restored_at == Some(oid) || is_safety(&chain::info(repo, oid, &refname)?) {
            break; // before a deliberate restore: not a loss
        }
        let tree = tree_of(repo, oid)?;
        let lost = lost_paths(repo, &current, &tree, head_tree.as_ref())?;
        if lost.is_empty() {
            continue;
        }
        let plan = Plan::new(repo, &current, &tree, &lost)?;
        reasons.insert(
            0,
            format!(
                "the latest snapshot on {refname} already matches the work tree (it was \
                 taken after the loss); {} lost since snapshot {} come back",
                crate::plural(lost.len() as u64, "file"),
                chain::short_id(oid)
            ),
        );
        return Ok(Found::Recovery(Box::new(Recovery {
            snapshot: chain::info(repo, oid, &refname)?,
            reasons,
            scope: lost,
            plan,
            kept: Vec::new(),
        })));
    }
    Ok(Found::Nothing {
        reason: format!(
            "the work tree matches the latest snapshot ({}) and has every file of the \
             snapshots before it",
            tip_info.id
        ),
    })
}

/// Paths where the work tree lost the snapshot's work: a file gone, a file
/// back to HEAD's version while the snapshot had other content, or a file
/// the snapshot had deleted that is back as HEAD has it (`git checkout .`
/// undoes deletions too).
fn lost_paths(
    repo: &Repository,
    current: &Tree<'_>,
    snapshot: &Tree<'_>,
    head: Option<&Tree<'_>>,
) -> Result<Vec<Vec<u8>>> {
    let mut lost = Vec::new();
    for c in treediff::diff(repo, Some(current), Some(snapshot), &[])? {
        if [c.old, c.new]
            .iter()
            .flatten()
            .any(|l| l.mode == MODE_GITLINK)
        {
            continue;
        }
        let at_head = Leaf::at(head, &c.path);
        let reverted = c.old.is_some() && c.old == at_head;
        let gone = c.old.is_none() && c.new.is_some();
        if gone || reverted {
            lost.push(c.path);
        }
    }
    Ok(lost)
}

/// Taken by `restore`/`recover` just before they changed the work tree.
fn is_safety(info: &SnapshotInfo) -> bool {
    info.trigger.ends_with("-safety")
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
