//! Where events come from: the OS notifier (inotify on Linux) with one
//! non-recursive watch per directory of the [`WatchSet`], or — when the
//! notifier cannot be used (out of inotify watches, an unsupported file
//! system, `--poll`) — polling with stat-cached full scans.
//!
//! The backend adds and removes OS watches as the set grows and shrinks,
//! and hands back the notifier's "out of watches" error so the daemon can
//! say so and fall back to polling.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

use crate::workspace::Workspace;

use super::dirs::{Rules, WatchSet};

/// Polling starts at this interval; slow scans stretch it.
const MIN_POLL: Duration = Duration::from_secs(2);
const MAX_POLL: Duration = Duration::from_secs(60);

enum Source {
    Notify(notify::RecommendedWatcher),
    Poll { interval: Duration, next: Instant },
}

/// The notifier (or polling) and the directories it watches.
pub(crate) struct Backend {
    source: Source,
    set: WatchSet,
    workdir: PathBuf,
    git_dirs_inside: Vec<Vec<u8>>,
}

/// The notifier ran out of watches: the backend must fall back to polling.
pub(crate) type OutOfWatches = notify::Error;

impl Backend {
    /// Polling, until [`Backend::start_notifier`] succeeds.
    pub(crate) fn polling(ws: &Workspace) -> Backend {
        Backend {
            source: Source::Poll {
                interval: MIN_POLL,
                next: Instant::now(),
            },
            set: WatchSet::new(ws.workdir()).without_git_dirs(ws.git_dirs_inside()),
            workdir: ws.workdir().to_path_buf(),
            git_dirs_inside: ws.git_dirs_inside().to_vec(),
        }
    }

    /// Switch to the OS notifier, `handler` receiving its events, and
    /// watch the git files that matter (not the work tree yet: see
    /// [`Backend::add_watches`]).
    pub(crate) fn start_notifier(
        &mut self,
        ws: &Workspace,
        handler: impl notify::EventHandler,
    ) -> notify::Result<()> {
        self.source = Source::Notify(notify::recommended_watcher(handler)?);
        self.watch_git_dirs(ws);
        Ok(())
    }

    /// `inotify` (the notifier) or `poll`.
    pub(crate) fn mode(&self) -> &'static str {
        match self.source {
            Source::Notify(_) => "inotify",
            Source::Poll { .. } => "poll",
        }
    }

    pub(crate) fn is_polling(&self) -> bool {
        matches!(self.source, Source::Poll { .. })
    }

    /// When the next poll is due (`None`: notified, no polls).
    pub(crate) fn next_poll(&self) -> Option<Instant> {
        match self.source {
            Source::Poll { next, .. } => Some(next),
            Source::Notify(_) => None,
        }
    }

    /// The watched directories.
    pub(crate) fn set(&self) -> &WatchSet {
        &self.set
    }

    /// HEAD (branch switches) and `info/exclude` (ignore rules).
    fn watch_git_dirs(&mut self, ws: &Workspace) {
        let Source::Notify(w) = &mut self.source else {
            return;
        };
        let git_dir = ws.git_dir();
        if let Err(e) = w.watch(git_dir, RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, "cannot watch HEAD; branch switches are noticed at the next change");
        }
        // With reftable ref storage HEAD is a table entry, not a file:
        // this work tree's table list changes when it moves.
        let reftable = git_dir.join("reftable");
        if reftable.is_dir() {
            let _ = w.watch(&reftable, RecursiveMode::NonRecursive);
        }
        let info = ws.common_dir().join("info");
        if info.is_dir() {
            let _ = w.watch(&info, RecursiveMode::NonRecursive);
        }
    }

    /// Watch `dir` and every directory below it that should be watched.
    pub(crate) fn add_watches(&mut self, dir: &Path, rules: Rules<'_>) -> Result<(), OutOfWatches> {
        let t = Instant::now();
        let new = self.set.discover(dir, rules);
        let listed = t.elapsed();
        let Source::Notify(w) = &mut self.source else {
            return Ok(());
        };
        let mut failure = Ok(());
        for d in &new {
            if let Err(e) = w.watch(d, RecursiveMode::NonRecursive) {
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                    failure = Err(e);
                    break;
                }
                // Vanished since it was listed: its removal event follows.
                tracing::debug!(dir = %d.display(), error = %e, "cannot watch directory");
                self.set.remove_under(d);
            }
        }
        tracing::debug!(
            dirs = new.len(),
            list_ms = listed.as_millis() as u64,
            total_ms = t.elapsed().as_millis() as u64,
            "watches added"
        );
        failure
    }

    /// Stop watching `dir` and everything below it.
    pub(crate) fn remove_watches(&mut self, dir: &Path) {
        let gone = self.set.remove_under(dir);
        if let Source::Notify(w) = &mut self.source {
            for d in gone {
                let _ = w.unwatch(&d);
            }
        }
    }

    /// Watch `dir` if it is not yet watched: from its highest unwatched
    /// ancestor down (the watch set grows from watched parents).
    pub(crate) fn ensure_watched(
        &mut self,
        dir: &Path,
        rules: Rules<'_>,
    ) -> Result<(), OutOfWatches> {
        let root = &self.workdir;
        let mut top = None;
        for anc in dir.ancestors() {
            if anc == root || !anc.starts_with(root) || self.set.contains(anc) {
                break;
            }
            top = Some(anc.to_path_buf());
        }
        match top {
            Some(top) if top.is_dir() => self.add_watches(&top, rules),
            _ => Ok(()),
        }
    }

    /// Recompute the watch set from scratch with `rules` (ignore rules
    /// changed, or the notifier lost events). Polling has no watch set.
    pub(crate) fn rebuild(&mut self, rules: Rules<'_>) -> Result<(), OutOfWatches> {
        let Source::Notify(w) = &mut self.source else {
            return Ok(());
        };
        let root = self.workdir.clone();
        let mut fresh = WatchSet::new(&root).without_git_dirs(&self.git_dirs_inside);
        fresh.discover(&root, rules);
        for d in self.set.paths().filter(|d| !fresh.contains(d)) {
            let _ = w.unwatch(d);
        }
        let added: Vec<PathBuf> = fresh
            .paths()
            .filter(|d| !self.set.contains(d))
            .map(Path::to_path_buf)
            .collect();
        self.set = fresh;
        for d in &added {
            if let Err(e) = w.watch(d, RecursiveMode::NonRecursive) {
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Give up the notifier (and its watches) for polling.
    pub(crate) fn fall_back_to_polling(&mut self) {
        self.source = Source::Poll {
            interval: MIN_POLL,
            next: Instant::now(),
        };
        self.set = WatchSet::new(&self.workdir).without_git_dirs(&self.git_dirs_inside);
    }

    /// After a full scan that took `took`: in polling mode, space the next
    /// poll so scanning stays under ~10% of one core (and no more often
    /// than `debounce`).
    pub(crate) fn after_scan(&mut self, took: Duration, debounce: Duration) {
        if let Source::Poll { interval, next } = &mut self.source {
            *interval = (took * 10).clamp(MIN_POLL, MAX_POLL);
            *interval = (*interval).max(debounce);
            *next = Instant::now() + *interval;
        }
    }
}

/// What to tell the user when the notifier cannot be used.
pub(crate) fn polling_message(e: &notify::Error) -> String {
    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
        let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .map(|s| format!(" (currently {})", s.trim()))
            .unwrap_or_default();
        format!(
            "out of inotify watches: fs.inotify.max_user_watches is too low{limit}. \
             Raise it with `sudo sysctl fs.inotify.max_user_watches=524288` \
             (and put `fs.inotify.max_user_watches=524288` in /etc/sysctl.d/60-savepoint.conf \
             to keep it). Falling back to polling with stat-cached scans."
        )
    } else {
        format!(
            "cannot use file notifications here ({e}); falling back to polling with \
             stat-cached scans. If this is an inotify limit, check \
             fs.inotify.max_user_watches and fs.inotify.max_user_instances."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_watches_names_the_sysctl_and_the_fix() {
        let msg = polling_message(&notify::Error::new(notify::ErrorKind::MaxFilesWatch));
        assert!(msg.contains("fs.inotify.max_user_watches"), "{msg}");
        assert!(msg.contains("sudo sysctl"), "{msg}");
        assert!(msg.contains("polling"), "{msg}");
        let msg = polling_message(&notify::Error::generic("not supported"));
        assert!(
            msg.contains("not supported") && msg.contains("polling"),
            "{msg}"
        );
    }
}
