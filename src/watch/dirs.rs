//! Which directories the watcher watches: every directory of the work tree
//! that is not ignored, plus the ignored ones that hold tracked files (git
//! keeps those in a snapshot). Nested repositories and `.git` are never
//! entered, so `target/`, `node_modules/` and friends cost no watch
//! descriptor. The set also answers "is this event about a path the
//! snapshot can contain?" with the same ignore rules the engine uses.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::snapshot::engine::fsys::{self, Kind};
use crate::snapshot::engine::ignore::{DirRules, Excludes};
use crate::snapshot::engine::index::Tracked;
use crate::snapshot::engine::Engine;

/// What the set knows about one watched directory.
#[derive(Clone)]
pub(crate) struct DirInfo {
    /// Ignore rules in effect inside the directory (its own `.gitignore`
    /// included).
    rules: Arc<DirRules>,
    /// The directory itself is ignored (watched only for tracked files).
    ignored: bool,
}

/// The watched directories.
pub(crate) struct WatchSet {
    workdir: PathBuf,
    /// By path relative to the work tree, as bytes (the root's is empty):
    /// compared with `memcmp`, where absolute `PathBuf`s are compared
    /// component by component (a tenth of the start-up's time at 25k
    /// directories). In byte order a directory's descendants form one
    /// range: see [`WatchSet::below`].
    dirs: BTreeMap<Vec<u8>, DirInfo>,
    /// Git dirs inside the work tree under another name than `.git`
    /// (relative): never watched, like `.git`.
    git_dirs: Vec<Vec<u8>>,
}

/// The OS side of the set: one directory's watch added or removed.
pub(crate) trait OsWatch {
    /// Watch `dir` (not what is below it).
    fn watch(&mut self, dir: &Path) -> notify::Result<()>;
    /// Stop watching `dir` (nothing if it is not watched).
    fn unwatch(&mut self, dir: &Path);
}

/// No OS watches: the set alone (polling, tests).
pub(crate) struct NoWatches;

impl OsWatch for NoWatches {
    fn watch(&mut self, _: &Path) -> notify::Result<()> {
        Ok(())
    }

    fn unwatch(&mut self, _: &Path) {}
}

/// Inputs of the ignore decision, borrowed from the snapshot engine.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) excludes: &'a Excludes,
    pub(crate) tracked: Option<&'a Tracked>,
}

impl<'a> Rules<'a> {
    /// The rules the engine snapshots with right now.
    pub(crate) fn of(engine: &'a Engine) -> Self {
        Rules {
            excludes: engine.excludes(),
            tracked: engine.tracked(),
        }
    }

    fn has_tracked_below(&self, rel: &[u8]) -> bool {
        self.tracked.is_some_and(|t| !t.below(rel).is_empty())
    }

    fn is_tracked(&self, rel: &[u8]) -> bool {
        self.tracked.is_some_and(|t| t.get(rel).is_some())
    }
}

impl WatchSet {
    pub(crate) fn new(workdir: &Path) -> Self {
        WatchSet {
            workdir: workdir.to_path_buf(),
            dirs: BTreeMap::new(),
            git_dirs: Vec::new(),
        }
    }

    /// Never watch these git dirs (relative to the work tree).
    pub(crate) fn without_git_dirs(mut self, git_dirs: &[Vec<u8>]) -> Self {
        self.git_dirs = git_dirs.to_vec();
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.dirs.len()
    }

    /// Is `dir` the work tree's root?
    pub(crate) fn is_root(&self, dir: &Path) -> bool {
        dir == self.workdir
    }

    pub(crate) fn contains(&self, dir: &Path) -> bool {
        self.rel(dir).is_some_and(|r| self.dirs.contains_key(r))
    }

    /// Every watched directory.
    pub(crate) fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.dirs.keys().map(|rel| self.abs(rel))
    }

    fn rel<'p>(&self, abs: &'p Path) -> Option<&'p [u8]> {
        abs.strip_prefix(&self.workdir)
            .ok()
            .map(|r| r.as_os_str().as_bytes())
    }

    fn abs(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.workdir.clone()
        } else {
            self.workdir.join(std::ffi::OsStr::from_bytes(rel))
        }
    }

    /// The watched directories strictly below `rel`: the keys from
    /// `rel/` up to (not including) `rel0` (`'0'` follows `'/'`).
    fn below<'s>(&'s self, rel: &[u8]) -> impl Iterator<Item = &'s Vec<u8>> + 's {
        use std::ops::Bound;
        let (lo, hi) = if rel.is_empty() {
            (Bound::Excluded(Vec::new()), Bound::Unbounded)
        } else {
            let mut lo = rel.to_vec();
            lo.push(b'/');
            let mut hi = rel.to_vec();
            hi.push(b'/' + 1);
            (Bound::Included(lo), Bound::Excluded(hi))
        };
        self.dirs.range((lo, hi)).map(|(k, _)| k)
    }

    /// Watch the directories at and below `start` that should be watched
    /// and are not yet in the set, and add them to it; returns them.
    /// `start` must be the work tree root or have its parent in the set.
    /// Each directory is watched before it is listed, so a subdirectory
    /// made at any moment is either in the listing or an event. Running
    /// out of watches (or failing to watch the root) is an error, with
    /// the set as far as it got; a directory that cannot be watched
    /// (vanished meanwhile) is left out.
    pub(crate) fn discover(
        &mut self,
        start: &Path,
        rules: Rules<'_>,
        os: &mut dyn OsWatch,
    ) -> notify::Result<Vec<PathBuf>> {
        let parent = if start == self.workdir {
            None
        } else {
            let parent = start.parent().and_then(|p| self.rel(p));
            match parent.and_then(|p| self.dirs.get(p)) {
                Some(info) => Some(info.clone()),
                None => return Ok(Vec::new()),
            }
        };
        self.discover_from(start, parent, rules, os)
    }

    /// [`WatchSet::discover`] from `start`, whose parent's rules are
    /// `parent_rules` (a directory of the set, or one the scan is
    /// listing).
    pub(crate) fn discover_below(
        &mut self,
        start: &Path,
        parent_rules: &Arc<DirRules>,
        rules: Rules<'_>,
        os: &mut dyn OsWatch,
    ) -> notify::Result<Vec<PathBuf>> {
        let parent = DirInfo {
            rules: Arc::clone(parent_rules),
            ignored: false,
        };
        self.discover_from(start, Some(parent), rules, os)
    }

    fn discover_from(
        &mut self,
        start: &Path,
        parent: Option<DirInfo>,
        rules: Rules<'_>,
        os: &mut dyn OsWatch,
    ) -> notify::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        let mut stack = vec![(start.to_path_buf(), parent)];
        while let Some((abs, parent)) = stack.pop() {
            let Some(rel) = self.rel(&abs).map(<[u8]>::to_vec) else {
                continue;
            };
            if self.git_dirs.contains(&rel) {
                continue;
            }
            let ignored = match &parent {
                None => false,
                Some(p) => p.ignored || p.rules.is_ignored(rules.excludes, &abs, true),
            };
            if ignored && !rules.has_tracked_below(&rel) {
                continue;
            }
            let new = !self.dirs.contains_key(&rel);
            if new {
                if let Err(e) = os.watch(&abs) {
                    refused(e, &abs, rel.is_empty())?;
                    continue;
                }
            }
            let listed = fsys::open_dir(&abs).and_then(|fd| fsys::list(&fd).map(|n| (fd, n)));
            let nested = |names: &[(std::ffi::CString, Kind)]| {
                !rel.is_empty()
                    && names.iter().any(|(n, _)| n.as_bytes() == b".git")
                    && fsys::is_nested_repo(&abs)
            };
            let (fd, names) = match listed {
                // A nested repository is recorded as a gitlink only.
                Ok((fd, names)) if !nested(&names) => (fd, names),
                // Vanished or unreadable: nothing to watch.
                _ => {
                    if new {
                        os.unwatch(&abs);
                    }
                    continue;
                }
            };
            let has = |name: &[u8]| names.iter().any(|(n, _)| n.as_bytes() == name);
            let parent_rules =
                parent.map_or_else(|| DirRules::root(rules.excludes.ignore_case()), |p| p.rules);
            let info = DirInfo {
                rules: DirRules::child(&parent_rules, &abs, has(b".gitignore")),
                ignored,
            };
            for (name, kind) in &names {
                if name.as_bytes() == b".git" {
                    continue;
                }
                let is_dir = match kind {
                    Kind::Dir => true,
                    Kind::Unknown => fsys::stat_at(&fd, name).is_ok_and(|s| s.is_dir()),
                    _ => false,
                };
                if is_dir {
                    let child = abs.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
                    stack.push((child, Some(info.clone())));
                }
            }
            if new {
                found.push(abs.clone());
            }
            self.dirs.insert(rel, info);
        }
        Ok(found)
    }

    /// Add `dir`, listed by a scan with `rules` in effect inside it (and
    /// watched before that): a directory the scan walks is not ignored.
    pub(crate) fn insert_listed(&mut self, dir: &Path, rules: &Arc<DirRules>) {
        let info = DirInfo {
            rules: Arc::clone(rules),
            ignored: false,
        };
        if let Some(rel) = self.rel(dir) {
            self.dirs.insert(rel.to_vec(), info);
        }
    }

    /// Forget `dir` and every watched directory below it; returns them.
    pub(crate) fn remove_under(&mut self, dir: &Path) -> Vec<PathBuf> {
        let Some(rel) = self.rel(dir) else {
            return Vec::new();
        };
        let mut gone: Vec<Vec<u8>> = self.below(rel).cloned().collect();
        if self.dirs.contains_key(rel) {
            gone.push(rel.to_vec());
        }
        for k in &gone {
            self.dirs.remove(k);
        }
        gone.iter().map(|k| self.abs(k)).collect()
    }

    /// Is `dir` or anything below it watched?
    pub(crate) fn has_under(&self, dir: &Path) -> bool {
        self.rel(dir)
            .is_some_and(|rel| self.dirs.contains_key(rel) || self.below(rel).next().is_some())
    }

    /// Can a change at `abs` alter the snapshot? False for ignored,
    /// untracked paths in a watched directory (editor swap files, logs).
    /// Unknown parents answer true: the engine decides.
    pub(crate) fn relevant(&self, abs: &Path, is_dir: bool, rules: Rules<'_>) -> bool {
        let (Some(parent), Some(rel)) = (abs.parent(), self.rel(abs)) else {
            return false;
        };
        let Some(info) = self.rel(parent).and_then(|p| self.dirs.get(p)) else {
            return true;
        };
        let ignored = info.ignored || info.rules.is_ignored(rules.excludes, abs, is_dir);
        !ignored || rules.is_tracked(rel) || (is_dir && rules.has_tracked_below(rel))
    }
}

/// `abs` could not be watched. `Err`: the notifier cannot go on (out of
/// watches, or `abs` is the work tree's `root` itself); else it vanished
/// since its parent was listed — its removal event follows — and is left
/// out.
pub(crate) fn refused(e: notify::Error, abs: &Path, root: bool) -> notify::Result<()> {
    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) || root {
        return Err(e);
    }
    tracing::debug!(dir = %abs.display(), error = %e, "cannot watch directory");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excludes(root: &Path) -> Excludes {
        let repo = git2::Repository::init(root).unwrap();
        Excludes::load(&repo, root, &[], false)
    }

    #[test]
    fn ignored_dirs_are_not_watched_unless_they_hold_tracked_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let ex = excludes(&root);
        for d in [
            "src/a",
            "target/debug/deps",
            "build/keep",
            "sub/.git/objects",
            "sub/.git/refs",
            "sub/x",
            // An empty `.git` does not make a repository: watched like git
            // would add its files.
            "plain/.git",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("sub/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(root.join(".gitignore"), "target/\nbuild/\n*.log\n").unwrap();
        let tracked = Tracked::from_entries([crate::snapshot::engine::index::TrackedEntry {
            path: b"build/keep/file",
            mode: 0o100644,
            oid: git2::Oid::zero(),
            stat: None,
            skip_worktree: false,
            assume_unchanged: false,
        }]);
        let rules = Rules {
            excludes: &ex,
            tracked: Some(&tracked),
        };
        let mut set = WatchSet::new(&root);
        let mut found = set.discover(&root, rules, &mut NoWatches).unwrap();
        found.sort();
        let rel: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, ["", "build", "build/keep", "plain", "src", "src/a"]);

        assert!(set.relevant(&root.join("src/a/x.rs"), false, rules));
        assert!(!set.relevant(&root.join("src/a/x.log"), false, rules));
        assert!(set.relevant(&root.join("build/keep/file"), false, rules));
        assert!(!set.relevant(&root.join("build/keep/other"), false, rules));

        std::fs::create_dir_all(root.join("src/a/new/deeper")).unwrap();
        let added = set
            .discover(&root.join("src/a/new"), rules, &mut NoWatches)
            .unwrap();
        assert_eq!(added.len(), 2);
        assert!(set.has_under(&root.join("src/a")));
        let gone = set.remove_under(&root.join("src/a"));
        assert_eq!(gone.len(), 3);
        assert!(set.contains(&root.join("src")));
        assert!(!set.has_under(&root.join("src/a")));
    }

    /// `a-b` and `ab` sort between `a` and `a/x` as bytes, `a0` right
    /// after them: none of them is below `a`.
    #[test]
    fn below_a_directory_means_below_it_not_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let ex = excludes(&root);
        for d in ["a/x/y", "a-b/x", "ab", "a0/x", "b"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let rules = Rules {
            excludes: &ex,
            tracked: None,
        };
        let mut set = WatchSet::new(&root);
        set.discover(&root, rules, &mut NoWatches).unwrap();
        assert_eq!(set.len(), 10);
        assert!(set.has_under(&root.join("a")));
        assert!(!set.has_under(&root.join("a/x/y/z")));
        let mut gone = set.remove_under(&root.join("a"));
        gone.sort();
        let want: Vec<PathBuf> = ["a", "a/x", "a/x/y"].iter().map(|d| root.join(d)).collect();
        assert_eq!(gone, want);
        let mut left: Vec<PathBuf> = set.paths().collect();
        left.sort();
        let want: Vec<PathBuf> = ["", "a-b", "a-b/x", "a0", "a0/x", "ab", "b"]
            .iter()
            .map(|d| {
                if d.is_empty() {
                    root.clone()
                } else {
                    root.join(d)
                }
            })
            .collect();
        assert_eq!(left, want);
        assert!(set.contains(&root) && !set.contains(&root.join("a")));
        assert_eq!(set.remove_under(&root).len(), 7);
        assert_eq!(set.len(), 0);
    }

    /// Makes a subdirectory in each directory at the moment it is watched:
    /// a directory created while `discover` runs.
    struct MakesSubdirs {
        root: PathBuf,
        watched: Vec<PathBuf>,
    }

    impl OsWatch for MakesSubdirs {
        fn watch(&mut self, dir: &Path) -> notify::Result<()> {
            let depth = dir.strip_prefix(&self.root).unwrap().components().count();
            if depth < 2 {
                std::fs::create_dir(dir.join("late")).unwrap();
            }
            self.watched.push(dir.to_path_buf());
            Ok(())
        }

        fn unwatch(&mut self, dir: &Path) {
            self.watched.retain(|d| d != dir);
        }
    }

    /// A directory is watched before it is listed: a subdirectory made
    /// at that moment is found (and watched), not lost between a listing
    /// and a watch added after it.
    #[test]
    fn discover_watches_each_directory_before_listing_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let ex = excludes(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        let rules = Rules {
            excludes: &ex,
            tracked: None,
        };
        let mut set = WatchSet::new(&root);
        let mut os = MakesSubdirs {
            root: root.clone(),
            watched: Vec::new(),
        };
        set.discover(&root, rules, &mut os).unwrap();
        let want: Vec<PathBuf> = ["", "late", "late/late", "src", "src/late"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        let mut got: Vec<PathBuf> = set.paths().collect();
        got.sort();
        assert_eq!(got, want);
        let mut watched = os.watched.clone();
        watched.sort();
        assert_eq!(watched, want, "every directory of the set is watched");
    }

    /// Out of watches: an error (the watcher polls), not a partial set
    /// taken for the whole.
    #[test]
    fn running_out_of_watches_is_an_error() {
        struct Full;
        impl OsWatch for Full {
            fn watch(&mut self, _: &Path) -> notify::Result<()> {
                Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch))
            }
            fn unwatch(&mut self, _: &Path) {}
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let ex = excludes(&root);
        let rules = Rules {
            excludes: &ex,
            tracked: None,
        };
        let e = WatchSet::new(&root)
            .discover(&root, rules, &mut Full)
            .unwrap_err();
        assert!(matches!(e.kind, notify::ErrorKind::MaxFilesWatch));
    }
}
