//! Watching the work tree as the start-up scan walks it: the scan's walk
//! tells a [`ScanWatches`] about each directory right before it lists it,
//! and the directory is watched then — so no change is missed (made before
//! the watch, it is in the listing; after, it is an event) and the tree is
//! walked once, not once to find what to watch and again to snapshot it.
//!
//! The set comes out as [`WatchSet::discover`] would build it: the walk
//! enters exactly the directories that are not ignored (nested
//! repositories and git dirs left out); the ignored ones that hold tracked
//! files, which it does not enter, are discovered from it — also before
//! the scan looks at their files (after the walk).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::dirs::{refused, OsWatch, Rules, WatchSet};
use crate::snapshot::engine::ignore::{DirRules, Excludes};
use crate::snapshot::engine::index::Tracked;
use crate::snapshot::engine::walk::{DirObserver, Listed};

/// The watch set a scan built, handed back by [`ScanWatches::finish`].
pub(crate) struct Found {
    pub(crate) set: WatchSet,
    /// The scan walked the work tree (a scan through the git command line
    /// does not: the set is empty then).
    pub(crate) walked: bool,
}

/// Watches directories as a scan lists them (see the module doc); `W`
/// adds the OS watches.
pub(crate) struct ScanWatches<W> {
    state: Mutex<State<W>>,
}

struct State<W> {
    set: WatchSet,
    os: W,
    /// Out of watches: the rest of the scan adds none, and the watcher
    /// polls instead.
    failed: Option<notify::Error>,
    /// Watched before listing but refused (vanished meanwhile): not added
    /// when their listing comes in.
    refused: Vec<std::path::PathBuf>,
    walked: bool,
}

impl<W: OsWatch + Send> ScanWatches<W> {
    /// Start from `set` (empty, or the directories already watched).
    pub(crate) fn new(set: WatchSet, os: W) -> Self {
        ScanWatches {
            state: Mutex::new(State {
                set,
                os,
                failed: None,
                refused: Vec::new(),
                walked: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<W>> {
        // A walker thread's panic reaches the caller anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The set the scan built, or why the notifier cannot be used (out of
    /// watches: poll instead).
    pub(crate) fn finish(self) -> Result<Found, notify::Error> {
        let s = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        match s.failed {
            Some(e) => Err(e),
            None => Ok(Found {
                set: s.set,
                walked: s.walked,
            }),
        }
    }
}

impl<W: OsWatch + Send> DirObserver for ScanWatches<W> {
    fn before_listing(&self, abs: &Path) {
        let mut s = self.state();
        if s.failed.is_some() {
            return;
        }
        // (Watched again when the scan is taken again: the same watch.)
        if let Err(e) = s.os.watch(abs) {
            let root = s.set.is_root(abs);
            match refused(e, abs, root) {
                Err(e) => s.failed = Some(e),
                Ok(()) => s.refused.push(abs.to_path_buf()),
            }
        }
    }

    fn after_listing(&self, abs: &Path, listed: Listed<'_>) {
        let mut s = self.state();
        if s.failed.is_some() {
            return;
        }
        if let Some(i) = s.refused.iter().position(|r| r == abs) {
            s.refused.swap_remove(i);
            return;
        }
        match listed {
            Listed::Dir(rules) => {
                s.walked |= s.set.is_root(abs);
                s.set.insert_listed(abs, rules);
            }
            // A nested repository is recorded as a gitlink only; a
            // directory that could not be listed holds nothing to watch.
            Listed::NestedRepo | Listed::Failed => {
                let State { set, os, .. } = &mut *s;
                os.unwatch(abs);
                for d in set.remove_under(abs) {
                    os.unwatch(&d);
                }
            }
        }
    }

    fn ignored_with_tracked(
        &self,
        abs: &Path,
        parent_rules: &Arc<DirRules>,
        excludes: &Excludes,
        tracked: &Tracked,
    ) {
        let mut s = self.state();
        if s.failed.is_some() {
            return;
        }
        let rules = Rules {
            excludes,
            tracked: Some(tracked),
        };
        let State { set, os, .. } = &mut *s;
        if let Err(e) = set.discover_below(abs, parent_rules, rules, os) {
            s.failed = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::engine::{Engine, ScanOptions};
    use crate::watch::dirs::NoWatches;
    use crate::workspace::Workspace;
    use std::path::PathBuf;

    /// Records the watches, and makes a file `raced` in each directory at
    /// the moment its watch is added: a change racing the scan.
    #[derive(Clone, Default)]
    struct Recorder {
        watched: Arc<Mutex<Vec<PathBuf>>>,
        /// Out of watches after this many.
        limit: Option<usize>,
    }

    impl OsWatch for Recorder {
        fn watch(&mut self, dir: &Path) -> notify::Result<()> {
            let mut watched = self.watched.lock().unwrap();
            if self.limit.is_some_and(|l| watched.len() >= l) {
                return Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch));
            }
            std::fs::write(dir.join("raced"), "made as the watch was added\n").unwrap();
            watched.push(dir.to_path_buf());
            Ok(())
        }

        fn unwatch(&mut self, dir: &Path) {
            self.watched.lock().unwrap().retain(|d| d != dir);
        }
    }

    /// A work tree with what the watch set must get right: ignored
    /// directories (one holding a tracked file), a nested repository, an
    /// empty `.git` that does not make one.
    fn tree() -> (tempfile::TempDir, PathBuf, Workspace) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let repo = git2::Repository::init(&root).unwrap();
        for (path, text) in [
            (".gitignore", "target/\nbuild/\n*.log\n"),
            ("src/a/x.rs", "x\n"),
            ("src/b/y.rs", "y\n"),
            ("target/debug/deps/z", "z\n"),
            ("build/keep/deeper/file", "tracked although ignored\n"),
            ("build/other/w", "w\n"),
            ("plain/f", "f\n"),
        ] {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir_all(root.join("plain/.git")).unwrap();
        git2::Repository::init(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("sub/inner")).unwrap();
        let mut index = repo.index().unwrap();
        for path in [".gitignore", "src/a/x.rs", "build/keep/deeper/file"] {
            index.add_path(Path::new(path)).unwrap();
        }
        index.write().unwrap();
        let ws = Workspace::open(repo.path(), &root).unwrap();
        (tmp, root, ws)
    }

    fn engine(ws: &Workspace) -> Engine {
        let mut engine = Engine::new(ws, ScanOptions::from_config(ws.config().unwrap())).unwrap();
        engine.set_autosave(false);
        engine.refresh_tracked(ws);
        engine
    }

    /// Scan with a [`ScanWatches`] over `os`: the set it built (or its
    /// error) and the snapshot tree.
    fn scan_watching(
        ws: &Workspace,
        engine: &mut Engine,
        os: Recorder,
    ) -> (Result<Found, notify::Error>, git2::Oid) {
        let set = WatchSet::new(ws.workdir()).without_git_dirs(ws.git_dirs_inside());
        let watches = Arc::new(ScanWatches::new(set, os));
        engine.set_observer(Some(Arc::clone(&watches) as Arc<dyn DirObserver>));
        let out = engine.scan(ws).unwrap();
        engine.set_observer(None);
        let watches = Arc::try_unwrap(watches).ok().expect("the scan let go");
        (watches.finish(), out.tree)
    }

    fn sorted(set: &WatchSet) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = set.paths().collect();
        v.sort();
        v
    }

    /// The start-up scan watches exactly what a separate discovery walk
    /// would, each directory before the walk lists it.
    #[test]
    fn the_scan_watches_what_discover_would_each_directory_before_listing_it() {
        let (_tmp, root, ws) = tree();
        let mut engine = engine(&ws);
        let os = Recorder::default();
        let (found, tree) = scan_watching(&ws, &mut engine, os.clone());
        let found = found.unwrap();
        assert!(found.walked);

        let want: Vec<PathBuf> = [
            "",
            "build",
            "build/keep",
            "build/keep/deeper",
            "plain",
            "src",
            "src/a",
            "src/b",
        ]
        .iter()
        .map(|d| root.join(d))
        .collect();
        assert_eq!(sorted(&found.set), want);
        let mut watched = os.watched.lock().unwrap().clone();
        watched.sort();
        assert_eq!(watched, want, "watched: the set, and nothing else");

        // What a separate discovery walk finds (now that `raced` files
        // exist too) — and the same answers about events.
        let rules = crate::watch::dirs::Rules::of(&engine);
        let mut discovered = WatchSet::new(&root).without_git_dirs(ws.git_dirs_inside());
        discovered.discover(&root, rules, &mut NoWatches).unwrap();
        assert_eq!(sorted(&found.set), sorted(&discovered));
        for (path, is_dir) in [
            ("src/a/x.rs", false),
            ("src/a/x.log", false),
            ("build/keep/deeper/file", false),
            ("build/keep/deeper/other", false),
            ("build/keep/new", true),
            ("src/new", true),
            ("target/debug/x", false),
        ] {
            let abs = root.join(path);
            assert_eq!(
                found.set.relevant(&abs, is_dir, rules),
                discovered.relevant(&abs, is_dir, rules),
                "{path}"
            );
        }

        // Made at the moment of each watch, so before each listing: in
        // the snapshot wherever it is not ignored.
        let repo = ws.repo();
        let tree = repo.find_tree(tree).unwrap();
        for dir in ["", "src/", "src/a/", "src/b/", "plain/"] {
            let path = format!("{dir}raced");
            assert!(tree.get_path(Path::new(&path)).is_ok(), "{path} missing");
        }
        assert!(tree.get_path(Path::new("build/keep/raced")).is_err());
    }

    /// Passes everything on to a [`ScanWatches`], and writes a file into
    /// `src` right after the walk listed it: a change the scan cannot see.
    #[cfg(target_os = "linux")]
    struct WritesAfterListing<W>(ScanWatches<W>);

    #[cfg(target_os = "linux")]
    impl<W: OsWatch + Send> DirObserver for WritesAfterListing<W> {
        fn before_listing(&self, abs: &Path) {
            self.0.before_listing(abs);
        }

        fn after_listing(&self, abs: &Path, listed: Listed<'_>) {
            if abs.ends_with("src") {
                std::fs::write(abs.join("after.rs"), "made after the listing\n").unwrap();
            }
            self.0.after_listing(abs, listed);
        }

        fn ignored_with_tracked(
            &self,
            abs: &Path,
            parent_rules: &Arc<DirRules>,
            excludes: &Excludes,
            tracked: &Tracked,
        ) {
            self.0
                .ignored_with_tracked(abs, parent_rules, excludes, tracked);
        }
    }

    /// A change made after the scan listed a directory is not in the
    /// scan's snapshot, but the directory was already watched: the
    /// notifier reports it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_change_after_a_listing_is_an_event() {
        let (_tmp, root, ws) = tree();
        let mut engine = engine(&ws);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut ino = crate::watch::inotify::Inotify::new(move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
        let adder = ino.scan_adder().unwrap().unwrap();
        let set = WatchSet::new(&root).without_git_dirs(ws.git_dirs_inside());
        let watches = Arc::new(WritesAfterListing(ScanWatches::new(set, adder)));
        engine.set_observer(Some(Arc::clone(&watches) as Arc<dyn DirObserver>));
        let out = engine.scan(&ws).unwrap();
        engine.set_observer(None);
        let tree = ws.repo().find_tree(out.tree).unwrap();
        assert!(tree.get_path(Path::new("src/a/x.rs")).is_ok());
        assert!(tree.get_path(Path::new("src/after.rs")).is_err());
        let want = root.join("src/after.rs");
        loop {
            let ev = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the change after the listing is reported")
                .unwrap();
            if ev.paths.contains(&want) {
                break;
            }
        }
        let found = Arc::try_unwrap(watches).ok().unwrap().0.finish().unwrap();
        assert!(found.set.contains(&root.join("src")));
        drop(ino);
    }

    /// Out of watches during the scan: the scan is still a snapshot, and
    /// the watcher is told to poll.
    #[test]
    fn running_out_of_watches_during_the_scan_is_an_error_after_it() {
        let (_tmp, _root, ws) = tree();
        let mut engine = engine(&ws);
        let os = Recorder {
            limit: Some(2),
            ..Recorder::default()
        };
        let (found, _tree) = scan_watching(&ws, &mut engine, os);
        let e = found.err().expect("out of watches");
        assert!(matches!(e.kind, notify::ErrorKind::MaxFilesWatch), "{e:?}");
    }

    /// A second scan (git moved during the first) keeps the set.
    #[test]
    fn a_scan_taken_again_keeps_the_set() {
        let (_tmp, root, ws) = tree();
        let mut engine = engine(&ws);
        let os = Recorder::default();
        let set = WatchSet::new(&root).without_git_dirs(ws.git_dirs_inside());
        let watches = Arc::new(ScanWatches::new(set, os.clone()));
        engine.set_observer(Some(Arc::clone(&watches) as Arc<dyn DirObserver>));
        engine.scan(&ws).unwrap();
        let mut first = os.watched.lock().unwrap().clone();
        engine.scan(&ws).unwrap();
        engine.set_observer(None);
        let found = Arc::try_unwrap(watches).ok().unwrap().finish().unwrap();
        first.sort();
        assert_eq!(sorted(&found.set), first);
    }
}
