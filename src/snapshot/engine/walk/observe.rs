//! Who else wants to know which directories a full scan lists: the
//! watcher watches the work tree as its start-up scan walks it — each
//! directory right before the walk lists it, so a change made after the
//! listing is an event and one made before is in the listing — instead of
//! walking the whole tree a second time to find what to watch.
//!
//! The walk calls a [`DirObserver`] from its threads; it decides nothing
//! by it (what is snapshotted never depends on the observer).

use std::path::Path;
use std::sync::Arc;

use crate::snapshot::engine::ignore::{DirRules, Excludes};
use crate::snapshot::engine::index::Tracked;

/// What became of a directory the walk was about to list.
pub(crate) enum Listed<'r> {
    /// Listed; these are the ignore rules in effect inside it (its own
    /// `.gitignore` included).
    Dir(&'r Arc<DirRules>),
    /// A nested repository: recorded as a gitlink, not entered.
    NestedRepo,
    /// Could not be listed (vanished, unreadable).
    Failed,
}

/// Told about each directory a full scan's walk lists, from the walk's
/// threads, in the order of the walk (a directory after its parent).
pub(crate) trait DirObserver: Send + Sync {
    /// `abs` is open and about to be listed.
    fn before_listing(&self, abs: &Path);

    /// What listing `abs` found (see [`Listed`]).
    fn after_listing(&self, abs: &Path, listed: Listed<'_>);

    /// `abs` is ignored, so the walk does not enter it, but tracked files
    /// lie below it (the scan stats them after the walk). `parent_rules`
    /// are the rules of the directory holding it.
    fn ignored_with_tracked(
        &self,
        abs: &Path,
        parent_rules: &Arc<DirRules>,
        excludes: &Excludes,
        tracked: &Tracked,
    );
}
