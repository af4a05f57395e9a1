//! The file watcher daemon behind `savepoint watch`: one per work tree, it
//! turns file-system events into snapshots.
//!
//! Events come from `notify` (inotify on Linux) with one non-recursive watch
//! per directory that can hold snapshot content ([`dirs`]): ignored trees
//! such as `target/` cost nothing. On macOS (FSEvents) one recursive watch
//! covers the work tree instead ([`ONE_RECURSIVE_WATCH`]) and the same set
//! of directories decides which events count. Changed paths collect in a
//! [`debounce::Debouncer`]; when the batch is due the snapshot is an
//! incremental update of the chain's tip tree (O(changed paths)). A full,
//! stat-cached scan happens at start, after an event overflow, when ignore
//! rules change and after a branch switch. When the notifier cannot be used
//! (out of inotify watches, unsupported file system, `--poll`) the watcher
//! polls with full stat-cached scans instead.
//!
//! Everything else talks to it through [`control`]: the pid lock, the
//! status file and the socket hooks use to ask for a snapshot.

pub mod control;
pub mod debounce;
pub mod dirs;
mod lockholder;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};

use crate::error::{Error, Result};
use crate::snapshot::engine::{Engine, ScanOptions};
use crate::snapshot::record::{self, SnapOutcome, SnapRequest};
use crate::workspace::config::Config;
use crate::workspace::{Head, Workspace};
use control::{Request, SnapMeta, WatchLock, WatchState};
use debounce::Debouncer;
use dirs::{Rules, WatchSet};

/// Errors kept in the status file.
const KEEP_ERRORS: usize = 10;
/// How long a batch is held back while git holds `index.lock` (a checkout
/// or commit in progress), up to `max_wait`.
const GIT_BUSY_RETRY: Duration = Duration::from_millis(100);
/// After a hook's request, wait this long for the events of its writes.
const SETTLE: Duration = Duration::from_millis(10);
/// The notifier `notify` uses on this platform, as `status` names it.
const NOTIFIER: &str = if cfg!(target_os = "macos") {
    "fsevents"
} else {
    "inotify"
};
/// macOS: FSEvents watches a whole tree at no cost per directory, and
/// `notify` restarts its FSEvents stream at every `watch`/`unwatch` —
/// losing the events of that moment. So the work tree gets one recursive
/// watch, set at start; directories are still added to and removed from the
/// [`WatchSet`], which alone decides which events count (those a watch per
/// directory would have delivered). inotify (Linux) has no such restart,
/// and a watch per directory keeps ignored trees out of the kernel's work.
const ONE_RECURSIVE_WATCH: bool = cfg!(target_os = "macos");
/// The watcher prunes old snapshots at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// The stat cache is written to disk at most this often (and at exit).
const CACHE_SAVE_EVERY: Duration = Duration::from_secs(60);

/// How to run the watcher.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Quiet time before a snapshot.
    pub debounce: Duration,
    /// Longest time between snapshots during continuous changes.
    pub max_wait: Duration,
    /// Poll with stat-cached scans instead of using the OS notifier.
    pub poll: bool,
    /// Running detached (SIGHUP is ignored, not a stop).
    pub detached: bool,
}

impl WatchOptions {
    pub fn from_config(cfg: &Config) -> Self {
        WatchOptions {
            debounce: cfg.debounce,
            max_wait: cfg.max_wait,
            poll: false,
            detached: false,
        }
    }
}

/// What the watcher tells its caller (who prints or logs it).
#[derive(Debug, Clone)]
pub enum Report {
    /// Watching; the start-up scan is done.
    Started {
        mode: String,
        watches: usize,
        scan: Box<SnapOutcome>,
    },
    /// A snapshot was written.
    Snapshot(Box<SnapOutcome>),
    /// HEAD moved to another branch; snapshots now go to `refname`.
    BranchSwitch { refname: String },
    /// Something went wrong but the watcher carries on.
    Warning(String),
    /// Stopping: the final snapshot follows.
    Stopping,
}

enum Msg {
    Fs(notify::Result<notify::Event>),
    Request(Request),
    Signal(i32),
}

enum Backend {
    Notify(notify::RecommendedWatcher),
    Poll { interval: Duration, next: Instant },
}

/// Run the watcher until it is stopped (signal, `savepoint stop`) or the
/// work tree disappears. Takes a final snapshot before returning.
pub fn run(
    ws: &Workspace,
    cfg: &Config,
    opts: &WatchOptions,
    report: &mut dyn FnMut(Report),
) -> Result<()> {
    let _lock = WatchLock::acquire(ws)?;
    let state_dir = ws.ensure_state_dir()?;
    let (tx, rx) = mpsc::channel();
    spawn_signal_thread(tx.clone())?;
    let socket = control::bind(&state_dir).map(|listener| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            control::serve(listener, move |req| tx.send(Msg::Request(req)).is_ok())
        });
        control::socket_path(&state_dir)
    });
    let mut daemon = Daemon::new(ws, cfg, opts, report)?;
    let result = daemon
        .start(tx)
        .and_then(|()| daemon.event_loop(&rx))
        .and_then(|()| {
            (daemon.report)(Report::Stopping);
            daemon.drain(&rx)?;
            // A final full (stat-cached) scan: exact even if the last events
            // had not arrived yet.
            daemon.deb.full(Instant::now());
            let last = daemon.snapshot(None);
            daemon.engine.save_cache();
            last
        });
    if let Some(sock) = socket {
        let _ = std::fs::remove_file(sock);
    }
    let _ = std::fs::remove_file(control::status_path(&state_dir));
    result
}

/// SIGINT/SIGTERM/SIGHUP become messages; a second SIGINT or SIGTERM while
/// the final snapshot runs exits at once (the snapshot is atomic anyway).
fn spawn_signal_thread(tx: Sender<Msg>) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("install signal handlers for", PathBuf::from("watch"), e))?;
    std::thread::spawn(move || {
        let mut stops = 0;
        for sig in signals.forever() {
            if sig != SIGHUP {
                stops += 1;
                if stops > 1 {
                    std::process::exit(130);
                }
            }
            if tx.send(Msg::Signal(sig)).is_err() {
                break;
            }
        }
    });
    Ok(())
}

struct Daemon<'a> {
    ws: &'a Workspace,
    cfg: &'a Config,
    opts: &'a WatchOptions,
    report: &'a mut dyn FnMut(Report),
    engine: Engine,
    set: WatchSet,
    backend: Backend,
    deb: Debouncer,
    state: WatchState,
    state_dir: PathBuf,
    last_head: Option<Head>,
    /// macOS: [`real_paths`] of the watched roots.
    aliases: Vec<(PathBuf, PathBuf)>,
    /// Do not snapshot before this (git busy, or backing off after an error).
    not_before: Option<Instant>,
    /// The watch set must be recomputed (ignore rules changed, overflow).
    rebuild: bool,
    /// Requests and signals that arrived while events were being drained.
    deferred: std::collections::VecDeque<Msg>,
    cache_saved: Instant,
    last_push: Option<Instant>,
}

impl<'a> Daemon<'a> {
    fn new(
        ws: &'a Workspace,
        cfg: &'a Config,
        opts: &'a WatchOptions,
        report: &'a mut dyn FnMut(Report),
    ) -> Result<Self> {
        let mut engine = Engine::new(ws, ScanOptions::from_config(cfg))?;
        engine.set_autosave(false);
        engine.refresh_tracked(ws);
        Ok(Daemon {
            ws,
            cfg,
            opts,
            report,
            engine,
            set: WatchSet::new(ws.workdir()).without_git_dirs(ws.git_dirs_inside()),
            backend: Backend::Poll {
                interval: Duration::from_secs(2),
                next: Instant::now(),
            },
            deb: Debouncer::new(opts.debounce, opts.max_wait),
            state: WatchState {
                pid: std::process::id(),
                started: chrono::Local::now().to_rfc3339(),
                ..WatchState::default()
            },
            state_dir: ws.state_dir(),
            last_head: ws.head().ok(),
            aliases: if cfg!(target_os = "macos") {
                real_paths(ws)
            } else {
                Vec::new()
            },
            not_before: None,
            rebuild: false,
            deferred: Default::default(),
            // Save right after the start-up scan.
            cache_saved: Instant::now()
                .checked_sub(CACHE_SAVE_EVERY)
                .unwrap_or_else(Instant::now),
            last_push: None,
        })
    }

    /// Set up the notifier (or polling), then the start-up scan.
    fn start(&mut self, tx: Sender<Msg>) -> Result<()> {
        if !self.opts.poll {
            let handler = move |res| {
                let _ = tx.send(Msg::Fs(res));
            };
            match notify::recommended_watcher(handler) {
                Ok(w) => {
                    self.backend = Backend::Notify(w);
                    self.watch_git_dirs();
                    let root = self.ws.workdir().to_path_buf();
                    self.add_watches(&root);
                }
                Err(e) => self.fall_back_to_polling(&e),
            }
        }
        let started = Instant::now();
        let outcome = self.take(SnapRequest::new("watch"))?;
        let elapsed = started.elapsed();
        self.state.startup_scan_ms = Some(elapsed.as_secs_f64() * 1000.0);
        self.after_scan(elapsed);
        self.state.mode = self.mode().to_owned();
        self.state.watches = self.set.len();
        self.state.save(&self.state_dir);
        let started = Report::Started {
            mode: self.mode().to_owned(),
            watches: self.set.len(),
            scan: Box::new(outcome),
        };
        (self.report)(started);
        Ok(())
    }

    fn mode(&self) -> &'static str {
        match self.backend {
            Backend::Notify(_) => NOTIFIER,
            Backend::Poll { .. } => "poll",
        }
    }

    /// HEAD (branch switches) and `info/exclude` (ignore rules).
    fn watch_git_dirs(&mut self) {
        let Backend::Notify(w) = &mut self.backend else {
            return;
        };
        let git_dir = self.ws.git_dir().to_path_buf();
        if let Err(e) = w.watch(&git_dir, RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, "cannot watch HEAD; branch switches are noticed at the next change");
        }
        // With reftable ref storage HEAD is a table entry, not a file:
        // this work tree's table list changes when it moves.
        let reftable = git_dir.join("reftable");
        if reftable.is_dir() {
            let _ = w.watch(&reftable, RecursiveMode::NonRecursive);
        }
        let info = self.ws.common_dir().join("info");
        if info.is_dir() {
            let _ = w.watch(&info, RecursiveMode::NonRecursive);
        }
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            excludes: self.engine.excludes(),
            tracked: self.engine.tracked(),
        }
    }

    /// Watch `dir` and every directory below it that should be watched.
    fn add_watches(&mut self, dir: &Path) {
        let rules = Rules {
            excludes: self.engine.excludes(),
            tracked: self.engine.tracked(),
        };
        let t = Instant::now();
        let new = self.set.discover(dir, rules);
        let listed = t.elapsed();
        let root = self.ws.workdir();
        let Backend::Notify(w) = &mut self.backend else {
            return;
        };
        let mut failure = None;
        for d in &new {
            if let Err(e) = os_watch(w, d, root) {
                // Without its one watch (macOS) the tree is not watched.
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
                    || (ONE_RECURSIVE_WATCH && d == root)
                {
                    failure = Some(e);
                    break;
                }
                // Vanished since it was listed: its removal event follows.
                tracing::debug!(dir = %d.display(), error = %e, "cannot watch directory");
                self.set.remove_under(d);
            }
        }
        if let Some(e) = failure {
            self.fall_back_to_polling(&e);
        }
        tracing::debug!(
            dirs = new.len(),
            list_ms = listed.as_millis() as u64,
            total_ms = t.elapsed().as_millis() as u64,
            "watches added"
        );
    }

    fn remove_watches(&mut self, dir: &Path) {
        let gone = self.set.remove_under(dir);
        if let Backend::Notify(w) = &mut self.backend {
            for d in gone {
                os_unwatch(w, &d, self.ws.workdir());
            }
        }
    }

    /// Recompute the watch set from scratch (ignore rules changed, or the
    /// notifier lost events).
    fn rebuild_watches(&mut self) {
        self.rebuild = false;
        if !matches!(self.backend, Backend::Notify(_)) {
            return;
        }
        self.engine.reload_rules(self.ws);
        let root = self.ws.workdir().to_path_buf();
        let old: Vec<PathBuf> = self.set.paths().map(Path::to_path_buf).collect();
        let mut fresh = WatchSet::new(&root).without_git_dirs(self.ws.git_dirs_inside());
        fresh.discover(&root, self.rules());
        if let Backend::Notify(w) = &mut self.backend {
            for d in old.iter().filter(|d| !fresh.contains(d)) {
                os_unwatch(w, d, &root);
            }
        }
        let added: Vec<PathBuf> = fresh
            .paths()
            .filter(|d| !self.set.contains(d))
            .map(Path::to_path_buf)
            .collect();
        self.set = fresh;
        let mut failure = None;
        if let Backend::Notify(w) = &mut self.backend {
            for d in &added {
                if let Err(e) = os_watch(w, d, &root) {
                    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            self.fall_back_to_polling(&e);
        }
        self.state.watches = self.set.len();
    }

    fn fall_back_to_polling(&mut self, e: &notify::Error) {
        let msg = polling_message(e);
        tracing::warn!("{msg}");
        self.record_error(msg.clone());
        (self.report)(Report::Warning(msg));
        self.backend = Backend::Poll {
            interval: Duration::from_secs(2),
            next: Instant::now(),
        };
        self.set = WatchSet::new(self.ws.workdir()).without_git_dirs(self.ws.git_dirs_inside());
        self.state.mode = "poll".into();
        self.state.watches = 0;
    }

    /// After a full scan that took `took`: in polling mode, space the next
    /// poll so scanning stays under ~10% of one core.
    fn after_scan(&mut self, took: Duration) {
        if let Backend::Poll { interval, next } = &mut self.backend {
            *interval = (took * 10).clamp(Duration::from_secs(2), Duration::from_secs(60));
            *interval = (*interval).max(self.opts.debounce);
            *next = Instant::now() + *interval;
        }
    }

    fn event_loop(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        loop {
            let msg = match (self.deferred.pop_front(), self.next_wakeup()) {
                (Some(msg), _) => Ok(msg),
                (None, None) => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                (None, Some(t)) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Fs(Ok(event))) => self.on_event(event),
                Ok(Msg::Fs(Err(e))) => self.on_notify_error(e),
                Ok(Msg::Request(Request::Snap(meta))) => {
                    self.drain(rx)?;
                    self.snapshot(Some(meta))?;
                }
                Ok(Msg::Request(Request::Stop)) => return Ok(()),
                Ok(Msg::Request(Request::Ping)) => {}
                Ok(Msg::Signal(signal_hook::consts::SIGHUP)) if self.opts.detached => {
                    tracing::info!("SIGHUP ignored (running detached; use `savepoint stop`)");
                }
                Ok(Msg::Signal(_)) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => self.on_timer()?,
            }
            self.check_alive()?;
        }
    }

    /// When the loop must wake up without a message.
    fn next_wakeup(&self) -> Option<Instant> {
        let due = self
            .deb
            .deadline()
            .map(|d| self.not_before.map_or(d, |nb| d.max(nb)));
        let poll = match self.backend {
            Backend::Poll { next, .. } => Some(next),
            Backend::Notify(_) => None,
        };
        match (due, poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self) -> Result<()> {
        let now = Instant::now();
        if let Backend::Poll { next, .. } = self.backend {
            if now >= next {
                self.deb.full(now);
            }
        }
        let Some(deadline) = self.deb.deadline() else {
            return Ok(());
        };
        let polling = matches!(self.backend, Backend::Poll { next, .. } if now >= next);
        if !polling && now < self.not_before.map_or(deadline, |nb| deadline.max(nb)) {
            return Ok(());
        }
        // git is writing (checkout, commit, stash): let it finish.
        if self.ws.git_dir().join("index.lock").exists() && !self.deb.overdue(now) {
            self.not_before = Some(now + GIT_BUSY_RETRY);
            return Ok(());
        }
        self.snapshot(None)
    }

    /// Process everything already queued (and whatever arrives within
    /// [`SETTLE`]): a hook's writes happened before its request.
    fn drain(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        let until = Instant::now() + SETTLE * 10;
        while let Ok(msg) = rx.recv_timeout(SETTLE) {
            match msg {
                Msg::Fs(Ok(event)) => self.on_event(event),
                Msg::Fs(Err(e)) => self.on_notify_error(e),
                // Requests and signals wait for the next loop turn.
                other => self.deferred.push_back(other),
            }
            if Instant::now() >= until {
                break;
            }
        }
        self.check_alive()
    }

    fn check_alive(&self) -> Result<()> {
        let workdir = self.ws.workdir();
        if !workdir.is_dir() || !self.ws.git_dir().is_dir() {
            return Err(Error::WorkTreeGone {
                path: workdir.to_path_buf(),
            });
        }
        Ok(())
    }

    fn on_notify_error(&mut self, e: notify::Error) {
        if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
            self.fall_back_to_polling(&e);
            self.deb.full(Instant::now());
        } else {
            tracing::warn!(error = %e, "file watcher error");
            self.record_error(format!("file watcher: {e}"));
            self.deb.full(Instant::now());
        }
    }

    fn on_event(&mut self, event: notify::Event) {
        let now = Instant::now();
        if event.need_rescan() {
            tracing::info!("the notifier lost events; rescanning");
            self.deb.full(now);
            self.rebuild = true;
            return;
        }
        if let EventKind::Access(kind) = event.kind {
            // Opens and reads (our own scans included) change nothing.
            if kind != AccessKind::Close(AccessMode::Write) {
                return;
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
        for path in event.paths {
            let path = self.known_path(path);
            self.on_path(path, structural, now);
        }
    }

    /// `path` as this watcher knows it: FSEvents reports real paths (see
    /// [`real_paths`]), inotify the watched ones.
    fn known_path(&self, path: PathBuf) -> PathBuf {
        for (real, known) in &self.aliases {
            match path.strip_prefix(real) {
                Ok(rest) if rest.as_os_str().is_empty() => return known.clone(),
                Ok(rest) => return known.join(rest),
                Err(_) => {}
            }
        }
        path
    }

    fn on_path(&mut self, path: PathBuf, structural: bool, now: Instant) {
        let name = path.file_name().map(|n| n.as_encoded_bytes());
        if path.parent() == Some(self.ws.git_dir()) {
            match name {
                Some(b"HEAD") => self.check_head(now),
                Some(b"index") => self.on_index_change(now),
                _ => {}
            }
            return;
        }
        if path.parent() == Some(&self.ws.git_dir().join("reftable")) {
            if name == Some(b"tables.list") {
                self.check_head(now);
            }
            return;
        }
        if path.parent() == Some(&self.ws.common_dir().join("info")) {
            if name == Some(b"exclude") {
                self.deb.full(now);
                self.rebuild = true;
            }
            return;
        }
        let Ok(rel) = path.strip_prefix(self.ws.workdir()) else {
            return;
        };
        if rel.as_os_str().is_empty()
            || rel.components().any(|c| c.as_os_str() == ".git")
            || self.ws.is_in_git_dir(rel.as_os_str().as_encoded_bytes())
        {
            return;
        }
        // One recursive watch (macOS) reports every directory: keep what a
        // watch on each directory of the set would have reported.
        if ONE_RECURSIVE_WATCH && !path.parent().is_some_and(|p| self.set.contains(p)) {
            return;
        }
        match name {
            Some(b".gitignore") => {
                self.deb.full(now);
                self.rebuild = true;
                return;
            }
            Some(b".gitattributes") => {
                self.deb.full(now);
                return;
            }
            _ => {}
        }
        let is_dir = structural && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if structural {
            if is_dir && !self.set.contains(&path) {
                // A new (or moved-in) directory: watch it and below, and
                // re-walk it, since files may predate the watch.
                self.add_watches(&path);
            } else if !is_dir && self.set.has_under(&path) {
                self.remove_watches(&path);
            }
        }
        if self.set.relevant(&path, is_dir, self.rules()) {
            self.deb.path(path, now);
        }
    }

    /// git replaced the index: paths that became tracked or untracked
    /// (`git add -f` of an ignored file, `git rm --cached`) change the
    /// snapshot although no work-tree file changed. Schedule them, and
    /// watch an ignored directory that now holds a tracked file.
    fn on_index_change(&mut self, now: Instant) {
        let changed = self.engine.refresh_index_changes(self.ws);
        for rel in changed {
            let abs = self
                .ws
                .workdir()
                .join(crate::snapshot::engine::bytes_path(&rel));
            if let Some(dir) = abs.parent() {
                self.ensure_watched(dir);
            }
            self.deb.path(abs, now);
        }
    }

    /// Watch `dir` if it is not yet watched: from its highest unwatched
    /// ancestor down (the watch set grows from watched parents).
    fn ensure_watched(&mut self, dir: &Path) {
        let root = self.ws.workdir();
        let mut top = None;
        for anc in dir.ancestors() {
            if anc == root || !anc.starts_with(root) || self.set.contains(anc) {
                break;
            }
            top = Some(anc.to_path_buf());
        }
        if let Some(top) = top {
            if top.is_dir() {
                self.add_watches(&top);
                self.state.watches = self.set.len();
            }
        }
    }

    /// A branch switch or a detached HEAD that moved: what was collected
    /// so far belongs to the checkout, and the new chain's tip may be far
    /// from the work tree — a full scan decides.
    fn check_head(&mut self, now: Instant) {
        let head = self.ws.head().ok();
        let moved = match (&self.last_head, &head) {
            (Some(Head::Branch { name: a, .. }), Some(Head::Branch { name: b, .. })) => a != b,
            (a, b) => a != b,
        };
        if !moved {
            return;
        }
        self.last_head = head;
        self.deb.full(now);
        if let Ok(refname) = self.ws.chain_ref() {
            tracing::info!(%refname, "HEAD moved");
            (self.report)(Report::BranchSwitch { refname });
        }
    }

    /// Snapshot what is pending (with a hook's metadata, if any).
    fn snapshot(&mut self, meta: Option<SnapMeta>) -> Result<()> {
        let now = Instant::now();
        self.check_head(now);
        if meta.is_some() && matches!(self.backend, Backend::Poll { .. }) {
            // No events to go by: only a scan sees what the hook's turn did.
            self.deb.full(now);
        }
        if self.rebuild {
            self.rebuild_watches();
        }
        let batch = self.deb.take();
        self.not_before = None;
        if batch.is_empty() && meta.is_none() {
            return Ok(());
        }
        let mut req = SnapRequest::new(
            meta.as_ref()
                .map(|m| m.trigger.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "watch".to_owned()),
        );
        if let Some(m) = &meta {
            req.session = m.session.clone();
            req.agent = m.agent.clone();
            req.tool = m.tool.clone();
            req.prompt = m.prompt.clone();
            req.message = m.message.clone();
        }
        req.expected_ref = self.last_head.as_ref().map(|h| self.ws.chain_ref_for(h));
        req.changed_paths = (!batch.full).then(|| {
            let mut paths = batch.paths;
            if let Some(m) = &meta {
                paths.extend(m.paths.iter().map(|p| self.ws.workdir().join(p)));
            }
            paths
        });
        let full = req.changed_paths.is_none();
        let started = Instant::now();
        match self.take(req) {
            Ok(out) => {
                if full {
                    self.after_scan(started.elapsed());
                }
                // (A prompt that found nothing new is kept by `record::take`
                // for the next snapshot.)
                if out.created {
                    self.state.last_snapshot_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                    (self.report)(Report::Snapshot(Box::new(out)));
                }
                self.state.watches = self.set.len();
                self.state.save(&self.state_dir);
                self.housekeeping();
                Ok(())
            }
            Err(e) => {
                self.check_alive()?;
                let msg = format!("snapshot failed: {e}");
                tracing::warn!("{msg}");
                self.record_error(msg.clone());
                (self.report)(Report::Warning(msg));
                // Retry with a full scan, but not in a tight loop.
                self.deb.full(Instant::now());
                self.not_before = Some(Instant::now() + self.opts.max_wait);
                self.state.save(&self.state_dir);
                Ok(())
            }
        }
    }

    /// Take a snapshot and record it in the status.
    fn take(&mut self, req: SnapRequest) -> Result<SnapOutcome> {
        let out = record::take(self.ws, self.cfg, &req, Some(&mut self.engine))?;
        if self.cache_saved.elapsed() >= CACHE_SAVE_EVERY {
            self.engine.save_cache();
            self.cache_saved = Instant::now();
        }
        // The HEAD the snapshot was taken for; a checkout after it is seen
        // by `check_head` (and handled with a full scan).
        self.last_head = out.head.clone();
        self.state.refname = out.refname.clone();
        if out.created {
            self.state.snapshots_taken += 1;
            self.state.last_snapshot = out.id.clone();
            self.state.last_snapshot_time = Some(chrono::Local::now().to_rfc3339());
        }
        Ok(out)
    }

    /// After a snapshot: the daily prune, and a push every
    /// `savepoint.pushInterval` (in the background: the network may be slow).
    fn housekeeping(&mut self) {
        if crate::ops::prune::due(self.ws, PRUNE_EVERY) {
            self.prune();
        }
        if let Some(every) = self.cfg.push_interval {
            if self.last_push.is_none_or(|t| t.elapsed() >= every) {
                self.last_push = Some(Instant::now());
                let remote = crate::ops::remote::choose(None, self.cfg.remote.as_deref());
                let workdir = self.ws.workdir().to_path_buf();
                let git_dir = self.ws.git_dir().to_path_buf();
                std::thread::spawn(move || {
                    let result = Workspace::open(&git_dir, &workdir)
                        .and_then(|ws| crate::ops::remote::push(&ws, &remote, false));
                    match result {
                        Ok(refs) => {
                            tracing::info!(remote = %remote, refs = refs.len(), "pushed snapshot chains")
                        }
                        Err(e) => tracing::warn!("push to {remote} failed: {e}"),
                    }
                });
            }
        }
    }

    /// The daily prune (retention from the config).
    fn prune(&mut self) {
        crate::ops::prune::mark_done(self.ws);
        let retention = crate::ops::prune::Retention::from_config(self.cfg);
        let result = crate::ops::prune::plan(self.ws, &retention, chrono::Utc::now().timestamp())
            .and_then(|plans| {
                let dropped: usize = plans.iter().map(|p| p.dropped.len()).sum();
                crate::ops::prune::apply(self.ws, &plans).map(|problems| (dropped, problems))
            });
        match result {
            Ok((dropped, problems)) => {
                if dropped > 0 {
                    tracing::info!(dropped, "pruned old snapshots");
                }
                for p in problems {
                    tracing::warn!("prune: {p}");
                }
            }
            Err(e) => {
                let msg = format!("prune failed: {e}");
                tracing::warn!("{msg}");
                self.record_error(msg);
            }
        }
    }

    fn record_error(&mut self, msg: String) {
        let stamped = format!("{} {msg}", chrono::Local::now().to_rfc3339());
        self.state.errors.push(stamped);
        if self.state.errors.len() > KEEP_ERRORS {
            self.state.errors.remove(0);
        }
    }
}

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

/// Watch directory `d` of the set; with [`ONE_RECURSIVE_WATCH`] only the
/// work tree's `root` is watched (recursively), the others are covered.
fn os_watch(w: &mut notify::RecommendedWatcher, d: &Path, root: &Path) -> notify::Result<()> {
    if !ONE_RECURSIVE_WATCH {
        w.watch(d, RecursiveMode::NonRecursive)
    } else if d == root {
        w.watch(d, RecursiveMode::Recursive)
    } else {
        Ok(())
    }
}

/// Stop watching directory `d` (see [`os_watch`]).
fn os_unwatch(w: &mut notify::RecommendedWatcher, d: &Path, root: &Path) {
    if !ONE_RECURSIVE_WATCH || d == root {
        let _ = w.unwatch(d);
    }
}

/// What to tell the user when the notifier cannot be used.
fn polling_message(e: &notify::Error) -> String {
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
