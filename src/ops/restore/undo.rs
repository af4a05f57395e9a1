//! What `undo` puts back: the paths the last `restore`, `recover` or
//! `undo` changed, as they were before it, found from the last-restore
//! record (or, without one, the chain's latest safety snapshot). Reads
//! only; the restore itself is [`super::restore`]'s.

use std::collections::BTreeSet;

use git2::Oid;

use super::last::{is_safety_snapshot, LastRestore};
use crate::error::{GitContext, Result};
use crate::git::treediff;
use crate::workspace::Workspace;

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
