//! `prune`: thin old snapshots so chains do not grow forever.
//!
//! Retention (`savepoint.keepAll`, `keepHourly`, `keepDaily`): every
//! snapshot younger than keepAll stays; up to keepHourly, the newest of each
//! hour; up to keepDaily, the newest of each day; older ones go. The latest
//! snapshot of a chain whose branch still exists always stays. Chains of
//! branches that no longer exist disappear once all their snapshots are
//! past the horizon. A thinned chain is rewritten from its oldest dropped
//! snapshot on — each kept snapshot keeps its tree, message, author and
//! dates and its base commit as a parent — and the ref moves with a
//! compare-and-swap, so the old tip stays in the reflog. A rewritten chain
//! no longer fast-forwards a copy pushed before; `push` knows that copy is
//! ours (see [`crate::ops::remote`]) and replaces it under a lease.

use std::collections::HashSet;
use std::time::Duration;

use git2::{Oid, Repository};
use serde::Serialize;

use crate::error::{Error, GitContext, Result};
use crate::snapshot::chain;
use crate::snapshot::trailers;
use crate::workspace::config::Config;
use crate::workspace::lock::SnapshotLock;
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// The retention windows.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub keep_all: Duration,
    pub keep_hourly: Duration,
    pub keep_daily: Duration,
}

impl Retention {
    pub fn from_config(cfg: &Config) -> Self {
        Retention {
            keep_all: cfg.keep_all,
            keep_hourly: cfg.keep_hourly,
            keep_daily: cfg.keep_daily,
        }
    }
}

/// A dropped snapshot, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    pub id: String,
    pub time: String,
    pub subject: String,
}

/// What prune does to one chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainPlan {
    #[serde(rename = "ref")]
    pub refname: String,
    pub kept: usize,
    pub dropped: Vec<Dropped>,
    /// The whole chain goes (its branch is gone, every snapshot expired).
    pub delete: bool,
    #[serde(skip)]
    tip: Oid,
    /// Oldest first: (snapshot, keep?).
    #[serde(skip)]
    decisions: Vec<(Oid, bool)>,
}

/// Decide, for every local chain, what to keep at time `now` (seconds).
pub fn plan(ws: &Workspace, retention: &Retention, now: i64) -> Result<Vec<ChainPlan>> {
    let repo = ws.repo();
    let mut plans = Vec::new();
    for (refname, tip) in chain::all_chains(repo)? {
        if refname.starts_with(chain::REMOTES_PREFIX) {
            continue;
        }
        let branch_alive = match chain::branch_of(&refname) {
            Some((worktree, branch)) => {
                crate::git::refs::exists(repo, &format!("refs/heads/{branch}"))?
                    && worktree.is_none_or(|w| ws.common_dir().join("worktrees").join(w).is_dir())
            }
            None => true, // detached chains belong to a work tree, not a branch
        };
        let mut hours = HashSet::new();
        let mut days = HashSet::new();
        let mut decisions = Vec::new();
        let mut dropped = Vec::new();
        for (i, oid) in chain::walk(repo, tip, None)?.into_iter().enumerate() {
            let commit = repo
                .find_commit(oid)
                .git_context(|| format!("read {oid}"))?;
            let t = commit.time().seconds();
            let age = Duration::from_secs(now.saturating_sub(t).max(0) as u64);
            let (hour, day) = (t.div_euclid(3600), t.div_euclid(86_400));
            let keep = (i == 0 && branch_alive)
                || age < retention.keep_all
                || (age < retention.keep_hourly && !hours.contains(&hour))
                || (age < retention.keep_daily && !days.contains(&day));
            if keep {
                hours.insert(hour);
                days.insert(day);
            } else {
                dropped.push(Dropped {
                    id: chain::short_id(oid),
                    time: chain::commit_time(&commit).to_rfc3339(),
                    subject: commit.summary().unwrap_or("").to_owned(),
                });
            }
            decisions.push((oid, keep));
        }
        if dropped.is_empty() {
            continue;
        }
        decisions.reverse();
        let kept = decisions.iter().filter(|(_, k)| *k).count();
        plans.push(ChainPlan {
            refname,
            kept,
            dropped,
            delete: kept == 0,
            tip,
            decisions,
        });
    }
    Ok(plans)
}

/// Carry out the plans (under the snapshot lock). A chain that moved since
/// it was planned is left alone and reported as an error in the result.
pub fn apply(ws: &Workspace, plans: &[ChainPlan]) -> Result<Vec<String>> {
    let _lock = SnapshotLock::acquire(ws.state().ensure()?, Duration::from_secs(30))?;
    let repo = ws.repo();
    let mut problems = Vec::new();
    for p in plans {
        if chain::tip(repo, &p.refname)? != Some(p.tip) {
            problems.push(format!("{} moved while pruning; left as it is", p.refname));
            continue;
        }
        if p.delete {
            match crate::git::refs::delete(repo, &p.refname, p.tip) {
                Ok(()) => {}
                Err(crate::git::refs::UpdateError::Failed(e)) => return Err(e),
                Err(_) => {
                    problems.push(format!("{} moved while pruning; left as it is", p.refname))
                }
            }
            continue;
        }
        let new_tip = rewrite(repo, &p.decisions)?;
        let log = format!(
            "savepoint prune: dropped {}",
            crate::plural(p.dropped.len() as u64, "snapshot")
        );
        match chain::move_ref(repo, &p.refname, Some(p.tip), new_tip, &log) {
            Ok(()) => {}
            Err(Error::RefMoved { .. }) => {
                problems.push(format!("{} moved while pruning; left as it is", p.refname));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(problems)
}

/// Rebuild the chain from the first dropped snapshot on; returns the new
/// tip.
fn rewrite(repo: &Repository, decisions: &[(Oid, bool)]) -> Result<Oid> {
    let mut prev: Option<Oid> = None;
    let mut rewriting = false;
    let mut written = Vec::new();
    for &(oid, keep) in decisions {
        if !keep {
            rewriting = true;
            continue;
        }
        if !rewriting {
            prev = Some(oid);
            continue;
        }
        let old = repo
            .find_commit(oid)
            .git_context(|| format!("read {oid}"))?;
        let message = String::from_utf8_lossy(old.message_bytes()).into_owned();
        let base = trailers::parse(&message)
            .and_then(|t| Oid::from_str(&t.base).ok())
            .filter(|b| repo.find_commit(*b).is_ok());
        let parents = chain::parents_for(repo, prev, base)?;
        let parent_commits = parents
            .iter()
            .map(|p| repo.find_commit(*p))
            .collect::<std::result::Result<Vec<_>, _>>()
            .git_context(|| "read parents".to_owned())?;
        let refs: Vec<&git2::Commit<'_>> = parent_commits.iter().collect();
        let tree = old
            .tree()
            .git_context(|| format!("read the tree of {oid}"))?;
        let new = repo
            .commit(
                None,
                &old.author(),
                &old.committer(),
                &message,
                &tree,
                &refs,
            )
            .git_context(|| "write a pruned snapshot".to_owned())?;
        written.push(new);
        prev = Some(new);
    }
    crate::fs::durable::sync_objects(repo.commondir(), &written, false);
    prev.ok_or(Error::PruneWouldEmpty)
}

/// `<state>/last-prune`: when the watcher last pruned.
pub(crate) fn due(ws: &Workspace, every: Duration) -> bool {
    let marker = ws.state().file(StateFile::LastPrune);
    !std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < every))
}

/// Record that a prune ran now.
pub(crate) fn mark_done(ws: &Workspace) {
    if let Ok(dir) = ws.state().ensure() {
        let _ = crate::fs::atomic::write_cache(
            &StateFile::LastPrune.path_in(dir),
            chrono::Local::now().to_rfc3339().as_bytes(),
            crate::fs::atomic::PRIVATE,
        );
    }
}
