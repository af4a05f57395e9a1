//! Other systems than Linux: the `notify` crate's recommended watcher
//! (FSEvents on macOS, kqueue on the BSDs), behind the interface
//! [`backend`](super::backend) uses for raw inotify on Linux.
//!
//! macOS: FSEvents watches a whole tree at no cost per directory, and
//! `notify` restarts its FSEvents stream at every `watch`/`unwatch` —
//! losing the events of that moment. So the work tree gets one recursive
//! watch (its root); the other directories of the watch set are covered by
//! it, and the set alone decides which events count.

use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher as _};

use super::dirs::OsWatch;

/// One recursive watch for the whole work tree (macOS), or one per
/// directory.
pub(crate) const ONE_RECURSIVE_WATCH: bool = cfg!(target_os = "macos");

pub(crate) struct NotifyOs {
    watcher: notify::RecommendedWatcher,
    root: PathBuf,
}

impl NotifyOs {
    pub(crate) fn new(handler: impl notify::EventHandler, root: &Path) -> notify::Result<Self> {
        Ok(NotifyOs {
            watcher: notify::recommended_watcher(handler)?,
            root: root.to_path_buf(),
        })
    }

    /// Watch directory `d` of the watch set (with [`ONE_RECURSIVE_WATCH`],
    /// only the root is watched, recursively; the others are covered).
    pub(crate) fn watch(&mut self, d: &Path) -> notify::Result<()> {
        if !ONE_RECURSIVE_WATCH {
            self.watcher.watch(d, RecursiveMode::NonRecursive)
        } else if d == self.root {
            self.watcher.watch(d, RecursiveMode::Recursive)
        } else {
            Ok(())
        }
    }

    /// Watch `dir` (a git dir: HEAD, `info/exclude`) without what is below.
    pub(crate) fn watch_git_dir(&mut self, dir: &Path) -> notify::Result<()> {
        self.watcher.watch(dir, RecursiveMode::NonRecursive)
    }

    /// Watch each of `dirs`; stops at the first error with the directories
    /// not yet watched (the failed one first).
    pub(crate) fn watch_all<'d>(
        &mut self,
        dirs: &'d [PathBuf],
    ) -> Result<(), (notify::Error, &'d [PathBuf])> {
        for (i, d) in dirs.iter().enumerate() {
            if let Err(e) = self.watch(d) {
                return Err((e, &dirs[i..]));
            }
        }
        Ok(())
    }

    /// Stop watching directory `d` (see [`NotifyOs::watch`]).
    pub(crate) fn unwatch(&mut self, d: &Path) {
        if !ONE_RECURSIVE_WATCH || d == self.root {
            let _ = self.watcher.unwatch(d);
        }
    }

    /// With [`ONE_RECURSIVE_WATCH`]: watch the work tree (recursively)
    /// before the start-up scan, which then only builds the watch set.
    /// Otherwise `None`: `notify`'s watches cannot be added from the
    /// scan's threads, so the set is discovered before the scan.
    pub(crate) fn scan_adder(&mut self) -> notify::Result<Option<Adder>> {
        if !ONE_RECURSIVE_WATCH {
            return Ok(None);
        }
        let root = self.root.clone();
        self.watch(&root)?;
        Ok(Some(Adder))
    }
}

impl OsWatch for NotifyOs {
    fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        NotifyOs::watch(self, dir)
    }

    fn unwatch(&mut self, dir: &Path) {
        NotifyOs::unwatch(self, dir);
    }
}

/// The start-up scan's side of one recursive watch: every directory is
/// covered by the root's watch, added before the scan.
pub(crate) struct Adder;

impl OsWatch for Adder {
    fn watch(&mut self, _: &Path) -> notify::Result<()> {
        Ok(())
    }

    fn unwatch(&mut self, _: &Path) {}
}
