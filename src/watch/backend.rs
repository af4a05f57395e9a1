//! Where events come from: the OS notifier (raw inotify on Linux, see
//! [`inotify`](super::inotify)) with one non-recursive watch per directory
//! of the [`WatchSet`], added by the start-up scan's walk as it lists
//! them ([`scanwatch`](super::scanwatch)), or — when the
//! notifier cannot be used (out of inotify watches, an unsupported file
//! system, `--poll`) — polling with stat-cached full scans.
//!
//! The backend adds and removes OS watches as the set grows and shrinks,
//! and hands back the notifier's "out of watches" error so the daemon can
//! say so and fall back to polling.
//!
//! On macOS (FSEvents, through `notify`: [`notify_os`](super::notify_os))
//! one recursive watch covers the work tree instead
//! ([`ONE_RECURSIVE_WATCH`]) and the same set of directories decides which
//! events count ([`Backend::delivers`]).
//!
//! After each full scan (the start-up scan first) the memory the scan
//! needed only while it ran is handed back to the system
//! ([`release_free_memory`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

use super::dirs::{NoWatches, Rules, WatchSet};
#[cfg(target_os = "linux")]
use super::inotify::{Adder as OsAdder, Inotify as Os};
#[cfg(not(target_os = "linux"))]
use super::notify_os::{Adder as OsAdder, NotifyOs as Os};
use super::scanwatch::ScanWatches;

/// One recursive watch for the whole work tree (macOS) instead of one per
/// directory: see [`notify_os`](super::notify_os).
#[cfg(target_os = "linux")]
const ONE_RECURSIVE_WATCH: bool = false;
#[cfg(not(target_os = "linux"))]
use super::notify_os::ONE_RECURSIVE_WATCH;

/// The notifier on this platform, as `status` names it.
const NOTIFIER: &str = if cfg!(target_os = "macos") {
    "fsevents"
} else {
    "inotify"
};
/// Polling starts at this interval; slow scans stretch it.
const MIN_POLL: Duration = Duration::from_secs(2);
const MAX_POLL: Duration = Duration::from_secs(60);

enum Source {
    Notify(Os),
    Poll { interval: Duration, next: Instant },
}

/// The notifier (or polling) and the directories it watches.
pub(crate) struct Backend {
    source: Source,
    set: WatchSet,
    workdir: PathBuf,
    git_dirs_inside: Vec<Vec<u8>>,
    /// macOS: [`real_paths`] of the watched roots.
    aliases: Vec<(PathBuf, PathBuf)>,
    /// The state dir's sync directory is watched (see [`Backend::syncs`]).
    sync_watched: bool,
}

/// The notifier ran out of watches: the backend must fall back to polling.
pub(crate) type OutOfWatches = notify::Error;

/// Watches the work tree as the start-up scan lists it: from
/// [`Backend::scan_watches`], through the engine's scan, back to
/// [`Backend::adopt`].
pub(crate) type ScanWatcher = ScanWatches<OsAdder>;

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
            aliases: if cfg!(target_os = "macos") {
                real_paths(ws)
            } else {
                Vec::new()
            },
            sync_watched: false,
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
        #[cfg(target_os = "linux")]
        let os = Os::new(handler)?;
        #[cfg(not(target_os = "linux"))]
        let os = Os::new(handler, ws.workdir())?;
        self.source = Source::Notify(os);
        self.watch_git_dirs(ws);
        Ok(())
    }

    /// `inotify` / `fsevents` (the notifier) or `poll`.
    pub(crate) fn mode(&self) -> &'static str {
        match self.source {
            Source::Notify(_) => NOTIFIER,
            Source::Poll { .. } => "poll",
        }
    }

    pub(crate) fn is_polling(&self) -> bool {
        matches!(self.source, Source::Poll { .. })
    }

    /// Does a file created in the sync directory reach the watcher after
    /// the events of every change made before it? Yes when the notifier
    /// watches that directory: inotify queues events in order on one
    /// descriptor (FSEvents: one stream, in event-id order).
    pub(crate) fn syncs(&self) -> bool {
        self.sync_watched && !self.is_polling()
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

    /// `path` as this watcher knows it: FSEvents reports real paths (see
    /// [`real_paths`]), inotify the watched ones.
    pub(crate) fn known_path(&self, path: PathBuf) -> PathBuf {
        for (real, known) in &self.aliases {
            match path.strip_prefix(real) {
                Ok(rest) if rest.as_os_str().is_empty() => return known.clone(),
                Ok(rest) => return known.join(rest),
                Err(_) => {}
            }
        }
        path
    }

    /// Would a watch per directory have reported this work-tree path? One
    /// recursive watch (macOS) reports every directory: keep only those.
    pub(crate) fn delivers(&self, path: &Path) -> bool {
        !ONE_RECURSIVE_WATCH || path.parent().is_some_and(|p| self.set.contains(p))
    }

    /// HEAD (branch switches), `info/exclude` (ignore rules) and the
    /// sync directory.
    fn watch_git_dirs(&mut self, ws: &Workspace) {
        let Source::Notify(w) = &mut self.source else {
            return;
        };
        let sync = StateFile::WatchSync.path_in(ws.state().path());
        self.sync_watched = std::fs::create_dir_all(&sync)
            .and_then(|()| {
                w.watch_git_dir(&sync).map_err(std::io::Error::other)
            })
            .inspect_err(|e| {
                tracing::warn!(error = %e, "cannot watch the sync directory; commands asking the watcher get a full scan")
            })
            .is_ok();
        let git_dir = ws.git_dir();
        if let Err(e) = w.watch_git_dir(git_dir) {
            tracing::warn!(error = %e, "cannot watch HEAD; branch switches are noticed at the next change");
        }
        // With reftable ref storage HEAD is a table entry, not a file:
        // this work tree's table list changes when it moves.
        let reftable = git_dir.join("reftable");
        if reftable.is_dir() {
            let _ = w.watch_git_dir(&reftable);
        }
        let info = ws.common_dir().join("info");
        if info.is_dir() {
            let _ = w.watch_git_dir(&info);
        }
    }

    /// Watch `dir` and every directory below it that should be watched
    /// (each before it is listed: see [`WatchSet::discover`]).
    pub(crate) fn add_watches(&mut self, dir: &Path, rules: Rules<'_>) -> Result<(), OutOfWatches> {
        let t = Instant::now();
        let new = match &mut self.source {
            Source::Notify(w) => self.set.discover(dir, rules, w)?,
            Source::Poll { .. } => self.set.discover(dir, rules, &mut NoWatches)?,
        };
        tracing::debug!(
            dirs = new.len(),
            total_ms = t.elapsed().as_millis() as u64,
            "watches added"
        );
        Ok(())
    }

    /// The start-up scan is to watch the work tree as it walks it (hand
    /// this to the engine). `None`: polling, or a notifier whose watches
    /// the scan cannot add (not Linux or macOS) — use
    /// [`Backend::add_watches`] before the scan instead.
    pub(crate) fn scan_watches(&mut self) -> Result<Option<ScanWatcher>, OutOfWatches> {
        let Source::Notify(w) = &mut self.source else {
            return Ok(None);
        };
        let Some(adder) = w.scan_adder()? else {
            return Ok(None);
        };
        let fresh = WatchSet::new(&self.workdir).without_git_dirs(&self.git_dirs_inside);
        let set = std::mem::replace(&mut self.set, fresh);
        Ok(Some(ScanWatches::new(set, adder)))
    }

    /// The watch set the start-up scan built (see
    /// [`Backend::scan_watches`]). `Ok(false)`: the scan did not walk the
    /// work tree (an index only git can read), so nothing is watched yet.
    pub(crate) fn adopt(&mut self, watches: ScanWatcher) -> Result<bool, OutOfWatches> {
        let found = watches.finish()?;
        self.set = found.set;
        tracing::debug!(dirs = self.set.len(), "watches added by the start-up scan");
        Ok(found.walked)
    }

    /// Stop watching `dir` and everything below it.
    pub(crate) fn remove_watches(&mut self, dir: &Path) {
        let gone = self.set.remove_under(dir);
        if let Source::Notify(w) = &mut self.source {
            for d in gone {
                w.unwatch(&d);
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
        // Listed first, watched after: the full scan that follows every
        // rebuild lists them again.
        fresh.discover(&root, rules, &mut NoWatches)?;
        for d in self.set.paths().filter(|d| !fresh.contains(d)) {
            w.unwatch(&d);
        }
        let added: Vec<PathBuf> = fresh.paths().filter(|d| !self.set.contains(d)).collect();
        self.set = fresh;
        let mut rest = &added[..];
        while let Err((e, failed)) = w.watch_all(rest) {
            if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                return Err(e);
            }
            rest = &failed[1..];
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
        release_free_memory();
    }
}

/// Hand the heap memory freed since (a full scan's listings, hashing
/// buffers, its transient maps) back to the system: glibc keeps freed
/// memory in its arenas, so the watcher's RSS would stay at the scan's
/// peak for its whole life. A few milliseconds, once per full scan.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: `malloc_trim` only walks glibc's own arenas under their
    // locks; it takes no pointers from us and is safe to call from any
    // thread at any time.
    #[expect(unsafe_code, reason = "a libc call with no arguments to uphold")]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// FSEvents reports paths with symbolic links resolved (`/private/tmp/…`
/// for `/tmp/…`) and names' case as on disk: the work tree, git dir and
/// common dir in that form, each with the path it is known by here; longest
/// first, so a git dir inside the work tree is matched as the git dir.
fn real_paths(ws: &Workspace) -> Vec<(PathBuf, PathBuf)> {
    let mut roots: Vec<(PathBuf, PathBuf)> = [ws.workdir(), ws.git_dir(), ws.common_dir()]
        .into_iter()
        .filter_map(|p| Some((std::fs::canonicalize(p).ok()?, p.to_path_buf())))
        .collect();
    roots.sort_by_key(|(real, _)| std::cmp::Reverse(real.as_os_str().len()));
    roots
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
        let hint = if cfg!(target_os = "linux") {
            " If this is an inotify limit, check \
             fs.inotify.max_user_watches and fs.inotify.max_user_instances."
        } else {
            ""
        };
        format!(
            "cannot use file notifications here ({e}); falling back to polling with \
             stat-cached scans.{hint}"
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
