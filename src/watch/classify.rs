//! Which file-system events matter, decided over plain data.
//!
//! The notifier reports events (a kind and some paths) for the work tree's
//! directories and for a few git files. Whether one asks for nothing, a
//! rescan, a look at HEAD or the index, new ignore rules or a changed
//! work-tree path depends only on the event and on where the work tree and
//! its git dirs are ([`Layout`]). Keeping that here, apart from inotify and
//! the file system, lets every case be tested with made-up paths.

use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};

use crate::workspace::{Head, Workspace};

/// What one event asks for, before its paths are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventAction {
    /// Nothing can have changed: an open, a read, a close without writing
    /// (our own scans included).
    Nothing,
    /// The notifier lost events (queue overflow): a full scan, and the
    /// watch set recomputed.
    Rescan,
    /// Look at each path. `structural`: entries may have appeared or gone
    /// (create, remove, rename, unknown), so watches may have to follow.
    Paths { structural: bool },
}

/// What a change at one path means to the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathAction {
    /// Not snapshot content: outside the work tree, the work tree root
    /// itself, inside `.git` or another git dir (the state dir included),
    /// or a git file other than those below.
    Nothing,
    /// HEAD may have moved (`HEAD`, or reftable's `tables.list`).
    Head,
    /// git replaced the index: tracked-ness may have changed.
    Index,
    /// Ignore rules changed (`.gitignore`, `info/exclude`): a full scan,
    /// and the watch set recomputed.
    IgnoreRules,
    /// `.gitattributes` changed (filters, line endings): a full scan.
    Attributes,
    /// A path in the work tree that the snapshot may contain.
    WorkTree,
}

/// How a structural change at a work-tree path changes the watch set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchChange {
    /// Watch it and below (a new or moved-in directory).
    Add,
    /// Forget the watches at and below it (it is no directory any more).
    Remove,
    /// Nothing to do.
    Keep,
}

/// Where the work tree and its git files are: all classification needs.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) workdir: PathBuf,
    /// This work tree's git dir (`HEAD`, `index`).
    pub(crate) git_dir: PathBuf,
    /// `<git-dir>/reftable` (HEAD lives there with reftable storage).
    pub(crate) reftable: PathBuf,
    /// `<common-dir>/info` (`exclude`).
    pub(crate) info: PathBuf,
    /// Git dirs inside the work tree under another name than `.git`.
    pub(crate) git_dirs_inside: Vec<Vec<u8>>,
}

impl Layout {
    pub(crate) fn of(ws: &Workspace) -> Layout {
        Layout {
            workdir: ws.workdir().to_path_buf(),
            git_dir: ws.git_dir().to_path_buf(),
            reftable: ws.git_dir().join("reftable"),
            info: ws.common_dir().join("info"),
            git_dirs_inside: ws.git_dirs_inside().to_vec(),
        }
    }
}

/// What `event` asks for as a whole.
pub(crate) fn event(event: &notify::Event) -> EventAction {
    if event.need_rescan() {
        return EventAction::Rescan;
    }
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return EventAction::Nothing;
        }
    }
    let structural = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Any)
            | EventKind::Any
            | EventKind::Other
    );
    EventAction::Paths { structural }
}

/// What a change at `path` (absolute) means.
pub(crate) fn path(layout: &Layout, path: &Path) -> PathAction {
    let name = path.file_name().map(|n| n.as_encoded_bytes());
    let parent = path.parent();
    if parent == Some(&layout.git_dir) {
        return match name {
            Some(b"HEAD") => PathAction::Head,
            Some(b"index") => PathAction::Index,
            _ => PathAction::Nothing,
        };
    }
    if parent == Some(&layout.reftable) {
        return match name {
            Some(b"tables.list") => PathAction::Head,
            _ => PathAction::Nothing,
        };
    }
    if parent == Some(&layout.info) {
        return match name {
            Some(b"exclude") => PathAction::IgnoreRules,
            _ => PathAction::Nothing,
        };
    }
    let Ok(rel) = path.strip_prefix(&layout.workdir) else {
        return PathAction::Nothing;
    };
    if rel.as_os_str().is_empty()
        || rel.components().any(|c| c.as_os_str() == ".git")
        || crate::workspace::in_git_dirs(
            &layout.git_dirs_inside,
            rel.as_os_str().as_encoded_bytes(),
        )
    {
        return PathAction::Nothing;
    }
    match name {
        Some(b".gitignore") => PathAction::IgnoreRules,
        Some(b".gitattributes") => PathAction::Attributes,
        _ => PathAction::WorkTree,
    }
}

/// How the watch set follows a change at a work-tree path: `is_dir` is
/// what the path is now, `watched` whether it is a watched directory,
/// `watched_below` whether it or anything below it is.
pub(crate) fn watch_change(
    structural: bool,
    is_dir: bool,
    watched: bool,
    watched_below: bool,
) -> WatchChange {
    if !structural {
        WatchChange::Keep
    } else if is_dir && !watched {
        // Files may predate the watch: the new directory is walked too.
        WatchChange::Add
    } else if !is_dir && watched_below {
        WatchChange::Remove
    } else {
        WatchChange::Keep
    }
}

/// Has HEAD moved to another chain (or, detached, to another commit)
/// between `old` and `new`? A branch whose tip moved (a commit) has not:
/// its chain goes on. A detached HEAD that moved did: the checkout changed
/// the work tree under the collected paths.
pub(crate) fn head_moved(old: Option<&Head>, new: Option<&Head>) -> bool {
    match (old, new) {
        (Some(Head::Branch { name: a, .. }), Some(Head::Branch { name: b, .. })) => a != b,
        (a, b) => a != b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, Flag, RemoveKind, RenameMode};
    use notify::Event;

    fn layout() -> Layout {
        Layout {
            workdir: "/w".into(),
            git_dir: "/w/.git".into(),
            reftable: "/w/.git/reftable".into(),
            info: "/w/.git/info".into(),
            git_dirs_inside: Vec::new(),
        }
    }

    /// A linked work tree whose git dir lives in the main repository, and a
    /// git dir kept inside the work tree under another name.
    fn linked() -> Layout {
        Layout {
            workdir: "/wt".into(),
            git_dir: "/r/.git/worktrees/wt".into(),
            reftable: "/r/.git/worktrees/wt/reftable".into(),
            info: "/r/.git/info".into(),
            git_dirs_inside: vec![b"meta/gitdir".to_vec()],
        }
    }

    fn ev(kind: EventKind) -> Event {
        Event::new(kind).add_path("/w/a".into())
    }

    #[test]
    fn reads_and_closes_without_writing_change_nothing() {
        for kind in [
            AccessKind::Open(AccessMode::Any),
            AccessKind::Read,
            AccessKind::Close(AccessMode::Read),
            AccessKind::Any,
        ] {
            assert_eq!(event(&ev(EventKind::Access(kind))), EventAction::Nothing);
        }
        assert_eq!(
            event(&ev(EventKind::Access(AccessKind::Close(AccessMode::Write)))),
            EventAction::Paths { structural: false }
        );
    }

    #[test]
    fn creates_removes_and_renames_are_structural_writes_are_not() {
        for kind in [
            EventKind::Create(CreateKind::Folder),
            EventKind::Remove(RemoveKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Any,
            EventKind::Other,
        ] {
            assert_eq!(
                event(&ev(kind)),
                EventAction::Paths { structural: true },
                "{kind:?}"
            );
        }
        for kind in [
            EventKind::Modify(ModifyKind::Data(DataChange::Content)),
            EventKind::Modify(ModifyKind::Metadata(notify::event::MetadataKind::Any)),
        ] {
            assert_eq!(
                event(&ev(kind)),
                EventAction::Paths { structural: false },
                "{kind:?}"
            );
        }
    }

    #[test]
    fn an_overflow_is_a_rescan_whatever_its_kind() {
        let lost = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(event(&lost), EventAction::Rescan);
        let lost = ev(EventKind::Access(AccessKind::Read)).set_flag(Flag::Rescan);
        assert_eq!(event(&lost), EventAction::Rescan);
    }

    #[test]
    fn git_files_that_matter_are_head_index_tables_list_and_exclude() {
        let l = layout();
        let p = |s: &str| path(&l, Path::new(s));
        assert_eq!(p("/w/.git/HEAD"), PathAction::Head);
        assert_eq!(p("/w/.git/index"), PathAction::Index);
        assert_eq!(p("/w/.git/reftable/tables.list"), PathAction::Head);
        assert_eq!(p("/w/.git/info/exclude"), PathAction::IgnoreRules);
        for other in [
            "/w/.git/index.lock",
            "/w/.git/HEAD.lock",
            "/w/.git/ORIG_HEAD",
            "/w/.git/savepoint",
            "/w/.git/reftable/0x01.ref",
            "/w/.git/info/attributes",
            "/w/.git/refs/heads/main",
            "/w/.git/savepoint/watch.json",
            "/w/.git",
        ] {
            assert_eq!(p(other), PathAction::Nothing, "{other}");
        }
    }

    #[test]
    fn a_linked_work_tree_watches_its_own_head_and_the_shared_exclude() {
        let l = linked();
        let p = |s: &str| path(&l, Path::new(s));
        assert_eq!(p("/r/.git/worktrees/wt/HEAD"), PathAction::Head);
        assert_eq!(p("/r/.git/worktrees/wt/index"), PathAction::Index);
        assert_eq!(p("/r/.git/info/exclude"), PathAction::IgnoreRules);
        // The main work tree's HEAD is another chain's business.
        assert_eq!(p("/r/.git/HEAD"), PathAction::Nothing);
        assert_eq!(p("/wt/src/main.rs"), PathAction::WorkTree);
        assert_eq!(p("/wt/meta/gitdir"), PathAction::Nothing);
        assert_eq!(
            p("/wt/meta/gitdir/savepoint/watch.json"),
            PathAction::Nothing
        );
        assert_eq!(p("/wt/meta/gitdirt"), PathAction::WorkTree);
    }

    #[test]
    fn work_tree_paths_except_the_root_and_any_dot_git() {
        let l = layout();
        let p = |s: &str| path(&l, Path::new(s));
        assert_eq!(p("/w/src/lib.rs"), PathAction::WorkTree);
        assert_eq!(p("/w/target"), PathAction::WorkTree);
        assert_eq!(p("/w/.gitignore"), PathAction::IgnoreRules);
        assert_eq!(p("/w/sub/dir/.gitignore"), PathAction::IgnoreRules);
        assert_eq!(p("/w/sub/.gitattributes"), PathAction::Attributes);
        assert_eq!(p("/w"), PathAction::Nothing);
        assert_eq!(p("/w/nested/.git/HEAD"), PathAction::Nothing);
        assert_eq!(p("/w/nested/.git"), PathAction::Nothing);
        assert_eq!(p("/elsewhere/file"), PathAction::Nothing);
        assert_eq!(p("/wx/file"), PathAction::Nothing);
    }

    #[test]
    fn watches_follow_directories_that_appear_and_go() {
        use WatchChange::*;
        // (structural, is_dir, watched, watched_below)
        assert_eq!(watch_change(true, true, false, false), Add);
        assert_eq!(watch_change(true, true, true, true), Keep);
        assert_eq!(watch_change(true, false, false, true), Remove);
        assert_eq!(watch_change(true, false, false, false), Keep);
        // A content write never changes the watch set.
        assert_eq!(watch_change(false, true, false, false), Keep);
        assert_eq!(watch_change(false, false, true, true), Keep);
    }

    #[test]
    fn head_moves_between_chains_not_along_one() {
        let oid = |n: u8| git2::Oid::from_bytes(&[n; 20]).unwrap();
        let branch = |name: &str, c: Option<u8>| Head::Branch {
            name: name.into(),
            commit: c.map(oid),
        };
        let detached = |n| Head::Detached { commit: oid(n) };
        let moved = |a: Option<Head>, b: Option<Head>| head_moved(a.as_ref(), b.as_ref());
        // A commit, or the first commit on an unborn branch: same chain.
        assert!(!moved(
            Some(branch("main", Some(1))),
            Some(branch("main", Some(2)))
        ));
        assert!(!moved(
            Some(branch("main", None)),
            Some(branch("main", Some(1)))
        ));
        assert!(moved(
            Some(branch("main", Some(1))),
            Some(branch("dev", Some(1)))
        ));
        assert!(moved(Some(branch("main", Some(1))), Some(detached(1))));
        assert!(moved(Some(detached(1)), Some(detached(2))));
        assert!(!moved(Some(detached(1)), Some(detached(1))));
        // HEAD unreadable, or readable again: a full scan decides.
        assert!(moved(Some(branch("main", Some(1))), None));
        assert!(moved(None, Some(branch("main", Some(1)))));
        assert!(!moved(None, None));
    }
}
