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
//!
//! A `restore`/`recover`/`undo` is deliberate: the search never reaches
//! past it. The state it left is the oldest state searched (the last
//! restore's record, [`restore::LastRestore`], keeps it: without a watcher
//! no snapshot holds it), so a loss after a recover is a new loss that
//! `recover` finds, and right after one there is nothing to recover.

use std::collections::BTreeSet;

use git2::{Oid, Repository, Tree};

use crate::error::{GitContext, Result};
use crate::git::mode::MODE_GITLINK;
use crate::git::treediff::{self, Lookup, Moving, Trees};
use crate::ops::restore::{self, LastRestore, Plan};
use crate::snapshot::chain::{self, SnapshotInfo};
use crate::workspace::Workspace;

/// How far back the search for lost files goes.
const SEARCH_DEPTH: usize = 1000;

/// Where recovered work comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A snapshot of the chain.
    Snapshot(Box<SnapshotInfo>),
    /// The state the last restore/recover/undo left in the work tree: no
    /// snapshot holds it when nothing was recorded since.
    AfterRestore(LastRestore),
}

/// A recovery to propose.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Where the work comes back from.
    pub source: Source,
    /// What to restore from (a snapshot commit, or the tree of the state a
    /// restore left).
    pub target: Oid,
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

/// [`tree_of`], the tree read through `trees`.
fn tree_in<'r>(trees: &mut Trees<'r>, commit: Oid) -> Result<Tree<'r>> {
    let id = trees
        .repo()
        .find_commit(commit)
        .git_context(|| format!("read the tree of {commit}"))?
        .tree_id();
    trees.get(id)
}

/// A state the search looks at, newest first.
enum Candidate<'r> {
    Snapshot(Oid),
    AfterRestore(Tree<'r>),
}

/// Look for work to recover. Reads only; writes no snapshot.
pub fn find(ws: &Workspace) -> Result<Found> {
    let repo = ws.repo();
    // Every tree read once: the search diffs the current tree against one
    // state after another, through the same large directories.
    let mut trees = Trees::new(repo);
    let current_id = crate::snapshot::current::tree(ws)?;
    let current = trees.get(current_id)?;
    let head = ws.head()?.commit();
    let head_tree = head.map(|h| tree_of(repo, h)).transpose()?;

    let here = ws.chain_ref()?;
    let mut reasons = Vec::new();
    let (refname, tip) = match chain::tip(repo, &here)? {
        Some(t) => (here, Some(t)),
        None => match latest_other_chain(ws)? {
            Some((name, tip)) => {
                reasons.push(format!(
                    "{here} has no snapshots (HEAD is on another branch than before?); \
                     using the most recent snapshot, on {name}"
                ));
                (name, Some(tip))
            }
            // A restore before the first snapshot of any chain still left
            // a state to compare with.
            None if LastRestore::for_chain(ws, &here).is_some() => (here, None),
            None => {
                return Ok(Found::Nothing {
                    reason: "there are no snapshots of this work tree yet".into(),
                })
            }
        },
    };

    // The states to look at, newest first: the snapshots taken since the
    // last restore of this chain, then the state that restore left. With
    // no record of it, its safety snapshot marks where the search stops.
    let mut walked = match tip {
        Some(tip) => chain::walk(repo, tip, Some(SEARCH_DEPTH))?,
        None => Vec::new(),
    };
    if let Some(tip) = tip.filter(|t| walked.first() != Some(t)) {
        // A tip that is no snapshot (a fetched or crafted chain) is still
        // the latest state recorded.
        walked.insert(0, tip);
    }
    let last = LastRestore::for_chain(ws, &refname)
        .filter(|l| l.safety_oid().is_none_or(|s| walked.contains(&s)));
    let mut candidates = Vec::new();
    for &oid in &walked {
        let stop = match &last {
            Some(l) => l.safety_oid() == Some(oid),
            None => restore::is_safety_snapshot(repo, oid)?,
        };
        if stop {
            break;
        }
        candidates.push(Candidate::Snapshot(oid));
    }
    let last_name = last.as_ref().map(|l| l.kind.name()).unwrap_or("restore");
    if let Some(after) = last.as_ref().and_then(|l| l.after_tree(repo)) {
        candidates.push(Candidate::AfterRestore(after));
    }
    let Some(latest) = candidates.first() else {
        // Nothing since a restore that left no record.
        let safety = walked
            .first()
            .map(|&t| chain::short_id(t))
            .unwrap_or_default();
        return Ok(Found::Nothing {
            reason: format!(
                "nothing was recorded on {refname} since the last restore or recover; \
                 the state before it is snapshot {safety} (`savepoint undo` brings it back)"
            ),
        });
    };

    let describe = |trees: &mut Trees<'_>, c: &Candidate<'_>| -> Result<(Source, Oid)> {
        Ok(match c {
            Candidate::Snapshot(oid) => (
                Source::Snapshot(Box::new(chain::info_in(trees, *oid, &refname)?)),
                *oid,
            ),
            Candidate::AfterRestore(tree) => (
                Source::AfterRestore(last.clone().expect("a candidate from the record")),
                tree.id(),
            ),
        })
    };
    // The work tree differs from the latest state: bring that back whole
    // (keeping files with unsaved work).
    let latest_tree = candidate_tree(&mut trees, latest)?;
    if latest_tree.id() != current_id {
        let mut plan = Plan::new(repo, &current, &latest_tree, &[])?;
        let kept = plan.keep_unsaved(ws)?;
        if !plan.is_empty() {
            let (source, target) = describe(&mut trees, latest)?;
            reasons.insert(
                0,
                match &source {
                    Source::Snapshot(_) => {
                        format!("the work tree differs from the latest snapshot on {refname}")
                    }
                    Source::AfterRestore(_) => format!(
                        "the work tree differs from the state the last {last_name} left \
                         (nothing was recorded on {refname} since)"
                    ),
                },
            );
            reasons.extend(head_moved(&source, head));
            return Ok(Found::Recovery(Box::new(Recovery {
                source,
                target,
                reasons,
                scope: Vec::new(),
                plan,
                kept,
            })));
        }
    }
    // The latest state matches the work tree (or differs only by new
    // files): look further back for files lost since.
    let mut search = Search {
        moving: Moving::new(Vec::new()),
        at: None,
        lost: BTreeSet::new(),
        at_head: Lookup::new(head_tree.as_ref()),
    };
    search.to(&mut trees, &current, latest)?;
    for candidate in candidates.iter().skip(1) {
        search.to(&mut trees, &current, candidate)?;
        if search.lost.is_empty() {
            continue;
        }
        let lost: Vec<Vec<u8>> = search.lost.iter().cloned().collect();
        let changes = search.moving.changes();
        // The diff the search has, limited to the lost paths and what lies
        // below them (as a plan scoped to them would diff again).
        let plan = Plan::from_changes(changes, Some(&search.lost))?;
        let (source, target) = describe(&mut trees, candidate)?;
        let since = match &source {
            Source::Snapshot(info) => format!("snapshot {}", info.id),
            Source::AfterRestore(_) => format!("the last {last_name}"),
        };
        reasons.insert(
            0,
            format!(
                "the latest snapshot on {refname} already matches the work tree (it was \
                 taken after the loss); {} lost since {since} come back",
                crate::plural(lost.len() as u64, "file"),
            ),
        );
        reasons.extend(head_moved(&source, head));
        return Ok(Found::Recovery(Box::new(Recovery {
            source,
            target,
            reasons,
            scope: lost,
            plan,
            kept: Vec::new(),
        })));
    }
    Ok(Found::Nothing {
        reason: match (&latest, &last) {
            (Candidate::AfterRestore(_), Some(l)) => format!(
                "the work tree is as the last {} left it (to undo that: `savepoint undo`)",
                l.kind.name()
            ),
            _ => format!(
                "the work tree matches the latest snapshot ({}) and has every file {}",
                walked
                    .first()
                    .map(|&t| chain::short_id(t))
                    .unwrap_or_default(),
                if last.is_some() {
                    format!("recorded since the last {last_name}")
                } else {
                    "of the snapshots before it".to_owned()
                }
            ),
        },
    })
}

fn candidate_tree<'r>(trees: &mut Trees<'r>, c: &Candidate<'r>) -> Result<Tree<'r>> {
    match c {
        Candidate::Snapshot(oid) => tree_in(trees, *oid),
        Candidate::AfterRestore(tree) => Ok(tree.clone()),
    }
}

/// This work tree's most recent snapshot on another of its chains
/// (another branch, detached): never another work tree's, whose files are
/// not lost here.
fn latest_other_chain(ws: &Workspace) -> Result<Option<(String, Oid)>> {
    let repo = ws.repo();
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
    Ok(local
        .into_iter()
        .max_by_key(|(_, _, t)| *t)
        .map(|(name, tip, _)| (name, tip)))
}

/// "HEAD moved since …" when the state recovered from was taken on
/// another commit than HEAD's.
fn head_moved(source: &Source, head: Option<Oid>) -> Option<String> {
    let head = head?;
    let (base, what) = match source {
        Source::Snapshot(info) => (Some(info.base.as_str()), "that snapshot".to_owned()),
        Source::AfterRestore(l) => (l.head.as_deref(), format!("the last {}", l.kind.name())),
    };
    let base = base.filter(|b| *b != "unborn" && !b.is_empty())?;
    (base != head.to_string()).then(|| {
        format!(
            "HEAD moved since {what} (HEAD was {} then, it is {} now)",
            short(base),
            chain::short_id(head)
        )
    })
}

/// The search back through the candidates: the difference from the work
/// tree to the state looked at, and which of those paths the work tree
/// lost — a file gone, a file back to HEAD's version while the state had
/// other content, or a file the state had deleted that is back as HEAD has
/// it (`git checkout .` undoes deletions too). From one snapshot to its
/// parent only the snapshot's own changes are applied (O(what it changed),
/// not O(everything changed since), which made a search through a long
/// chain diff the work tree against every snapshot in turn).
struct Search<'r> {
    moving: Moving,
    /// The snapshot the search is at (to step from), if it is at one.
    at: Option<Oid>,
    lost: BTreeSet<Vec<u8>>,
    /// HEAD's entries.
    at_head: Lookup<'r>,
}

impl<'r> Search<'r> {
    /// Move to `candidate`: by the previous snapshot's own changes when it
    /// is that snapshot's first parent, else by diffing the work tree
    /// against it.
    fn to(
        &mut self,
        trees: &mut Trees<'r>,
        current: &Tree<'r>,
        candidate: &Candidate<'r>,
    ) -> Result<()> {
        if let (Some(from), Candidate::Snapshot(to)) = (self.at, candidate) {
            if let Some(own) = own_changes_to_parent(trees, from, *to) {
                for path in self.moving.step_back(own) {
                    self.label(trees, path);
                }
                self.at = Some(*to);
                return Ok(());
            }
        }
        let tree = candidate_tree(trees, candidate)?;
        let changes = if tree.id() == current.id() {
            Vec::new()
        } else {
            treediff::diff_in(trees, Some(current), Some(&tree), &[])?
        };
        self.moving = Moving::new(changes);
        self.lost.clear();
        let paths: Vec<Vec<u8>> = self.moving.iter().map(|(p, _, _)| p.to_vec()).collect();
        for path in paths {
            self.label(trees, path);
        }
        self.at = match candidate {
            Candidate::Snapshot(oid) => Some(*oid),
            Candidate::AfterRestore(_) => None,
        };
        Ok(())
    }

    /// Is `path` lost against the state the search is at?
    fn label(&mut self, trees: &mut Trees<'r>, path: Vec<u8>) {
        let lost = self.moving.get(&path).is_some_and(|(now, then)| {
            let submodule = [now, then].iter().flatten().any(|l| l.mode == MODE_GITLINK);
            let gone = now.is_none() && then.is_some();
            let reverted = now.is_some() && now == self.at_head.at(trees, &path);
            !submodule && (gone || reverted)
        });
        if lost {
            self.lost.insert(path);
        } else {
            self.lost.remove(&path);
        }
    }
}

/// What snapshot `from` changed against `to` when `to` is its first
/// parent; `None` when it is not, or when that diff cannot be made (a
/// diff against `to` itself then decides).
fn own_changes_to_parent(
    trees: &mut Trees<'_>,
    from: Oid,
    to: Oid,
) -> Option<Vec<treediff::Change>> {
    let repo = trees.repo();
    let commit = repo.find_commit(from).ok()?;
    if commit.parent_id(0).ok()? != to {
        return None;
    }
    chain::own_changes(repo, &commit, &[], Some(trees)).ok()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
