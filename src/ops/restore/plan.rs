//! What a restore does to each path: the plan from the work tree's
//! current snapshot tree to the target tree, limited to a scope, with the
//! paths that must not be written refused (see [`super::safety`]) and
//! submodules left alone. Nothing here writes.

use std::collections::BTreeSet;

use git2::{Repository, Tree};
use serde::Serialize;

use super::safety::{classify_path, unsafe_path, PathProblem};
use crate::error::{GitContext, Result};
use crate::git::mode::MODE_GITLINK;
use crate::git::path::is_at_or_under_any;
use crate::git::treediff::{self, Change, Leaf};
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
    pub(crate) fn new(
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
    pub(crate) fn limited(
        repo: &Repository,
        current: &Tree<'_>,
        target: &Tree<'_>,
        scope: &[Vec<u8>],
        only: Option<&BTreeSet<Vec<u8>>>,
    ) -> Result<Plan> {
        let changes = treediff::diff(repo, Some(current), Some(target), scope)?;
        Plan::from_changes(changes, only)
    }

    /// The plan for `changes` (a [`treediff::diff`] from the current tree
    /// to the target), limited to `only` as [`Plan::limited`] is — for a
    /// caller that has the diff already.
    pub(crate) fn from_changes(
        changes: Vec<treediff::Change>,
        only: Option<&BTreeSet<Vec<u8>>>,
    ) -> Result<Plan> {
        let mut plan = Plan::default();
        for change in changes {
            if only.is_some_and(|set| !is_at_or_under_any(&change.path, set)) {
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
    pub(crate) fn keep_unsaved(&mut self, ws: &Workspace) -> Result<Vec<String>> {
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
    pub(crate) fn paths(&self, action: Action) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.action == action)
            .map(|s| s.change.path_lossy())
            .collect()
    }
}
