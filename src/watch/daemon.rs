//! The watcher's event loop: one [`Daemon`] per work tree, fed by three
//! threads over one channel — the notifier's events, the control socket's
//! requests and the signals — and taking a snapshot whenever its
//! [`Schedule`] says a batch is due.
//!
//! What each event does is in [`events`], taking a snapshot in
//! [`snapshot`]; which events matter is decided in
//! [`classify`](super::classify), where they come from in
//! [`backend`](super::backend).

mod answer;
mod events;
mod snapshot;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::snapshot::engine::walk::DirObserver;
use crate::snapshot::engine::{Engine, ScanOptions};
use crate::snapshot::record::{ChainPos, SnapOutcome, SnapRequest};
use crate::workspace::config::Config;
use crate::workspace::{Head, Workspace};

use super::backend::{Backend, ScanWatcher};
use super::classify::Layout;
use super::process::WatchLock;
use super::protocol::{self, Request};
use super::schedule::Schedule;
use super::status::{status_path, WatchState};

/// Before the final snapshot, wait this long for the last events.
const SETTLE: Duration = Duration::from_millis(10);
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
    /// A request from the socket, with where to send the answer if it
    /// [wants one](Request::wants_answer).
    Request(Request, Option<protocol::Answer>),
    Signal(i32),
}

/// Run the watcher until it is stopped (signal, `savepoint stop`) or the
/// work tree disappears. Takes a final snapshot before returning.
pub fn run(ws: &Workspace, opts: &WatchOptions, report: &mut dyn FnMut(Report)) -> Result<()> {
    let _lock = WatchLock::acquire(ws)?;
    protocol::serving();
    let state_dir = ws.state().ensure()?;
    let (tx, rx) = mpsc::channel();
    spawn_signal_thread(tx.clone())?;
    let socket = protocol::bind(state_dir).map(|listener| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            protocol::serve(listener, move |req, answer| {
                tx.send(Msg::Request(req, answer)).is_ok()
            })
        });
        protocol::socket_path(state_dir)
    });
    let mut daemon = Daemon::new(ws, ws.config()?, opts, report)?;
    let result = daemon
        .start(tx)
        .and_then(|()| daemon.event_loop(&rx))
        .and_then(|()| {
            (daemon.report)(Report::Stopping);
            daemon.drain(&rx)?;
            // A final full (stat-cached) scan: exact even if the last events
            // had not arrived yet.
            daemon.schedule.full(Instant::now());
            let last = daemon.snapshot(None);
            daemon.engine.save_cache();
            last.map(drop)
        });
    if let Some(sock) = socket {
        let _ = std::fs::remove_file(sock);
    }
    let _ = std::fs::remove_file(status_path(state_dir));
    result
}

/// SIGINT/SIGTERM/SIGHUP become messages; a second SIGINT or SIGTERM while
/// the final snapshot runs exits at once (the snapshot is atomic anyway).
fn spawn_signal_thread(tx: Sender<Msg>) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|source| {
            Error::Os {
                action: "install the watcher's signal handlers",
                source,
            }
        })?;
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

/// The running watcher's state.
struct Daemon<'a> {
    ws: &'a Workspace,
    cfg: &'a Config,
    opts: &'a WatchOptions,
    report: &'a mut dyn FnMut(Report),
    layout: Layout,
    engine: Engine,
    backend: Backend,
    schedule: Schedule,
    state: WatchState,
    state_dir: PathBuf,
    /// HEAD as the last snapshot saw it (under the snapshot lock), or as
    /// [`Daemon::check_head`] last found it moved: the chain the pending
    /// paths were collected for.
    last_head: Option<Head>,
    /// The chain and tip the last snapshot left: what the pending paths
    /// are changes against (`record::take` patches them onto the chain only
    /// when it is still exactly there).
    since: Option<ChainPos>,
    /// The tree the last snapshot computed of the work tree (recorded or
    /// not): the pending paths are changes against it.
    base_tree: Option<git2::Oid>,
    /// The watch set must be recomputed (ignore rules changed, overflow).
    rebuild: bool,
    /// Sync cookies created so far (their names are unique per watcher).
    cookies: u64,
    /// Requests and signals that arrived while events were being drained.
    deferred: VecDeque<Msg>,
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
            layout: Layout::of(ws),
            engine,
            backend: Backend::polling(ws),
            schedule: Schedule::new(opts.debounce, opts.max_wait),
            state: WatchState {
                pid: std::process::id(),
                started: chrono::Local::now().to_rfc3339(),
                ..WatchState::default()
            },
            state_dir: ws.state().path().to_path_buf(),
            // Set by the start-up snapshot, before any event is looked at.
            last_head: None,
            since: None,
            base_tree: None,
            rebuild: false,
            cookies: 0,
            deferred: VecDeque::new(),
            // Save right after the start-up scan.
            cache_saved: Instant::now()
                .checked_sub(CACHE_SAVE_EVERY)
                .unwrap_or_else(Instant::now),
            last_push: None,
        })
    }

    /// Set up the notifier (or polling), then the start-up scan, which
    /// watches the work tree as it walks it.
    fn start(&mut self, tx: Sender<Msg>) -> Result<()> {
        let mut scan_watches = None;
        if !self.opts.poll {
            let handler = move |res| {
                let _ = tx.send(Msg::Fs(res));
            };
            match self
                .backend
                .start_notifier(self.ws, handler)
                .and_then(|()| self.backend.scan_watches())
            {
                Ok(Some(watches)) => scan_watches = Some(Arc::new(watches)),
                Ok(None) => {
                    if !self.backend.is_polling() {
                        let root = self.ws.workdir().to_path_buf();
                        self.add_watches(&root);
                    }
                }
                Err(e) => self.fall_back_to_polling(&e),
            }
        }
        let started = Instant::now();
        if let Some(w) = &scan_watches {
            self.engine
                .set_observer(Some(Arc::clone(w) as Arc<dyn DirObserver>));
        }
        let outcome = self.take(SnapRequest::new("watch"));
        self.engine.set_observer(None);
        let outcome = outcome?;
        if let Some(w) = scan_watches {
            self.adopt_scan_watches(w);
        }
        let elapsed = started.elapsed();
        self.state.startup_scan_ms = Some(elapsed.as_secs_f64() * 1000.0);
        self.backend.after_scan(elapsed, self.opts.debounce);
        self.state.mode = self.backend.mode().to_owned();
        self.state.watches = self.backend.set().len();
        self.state.save(&self.state_dir);
        let started = Report::Started {
            mode: self.backend.mode().to_owned(),
            watches: self.backend.set().len(),
            scan: Box::new(outcome),
        };
        (self.report)(started);
        Ok(())
    }

    /// The watches the start-up scan added. Out of watches: poll. A scan
    /// that did not walk the tree watched nothing: watch it now, and scan
    /// again once the watches are in place.
    fn adopt_scan_watches(&mut self, watches: Arc<ScanWatcher>) {
        let adopted = match Arc::try_unwrap(watches) {
            Ok(w) => self.backend.adopt(w),
            Err(_) => Ok(false), // still shared: cannot be (the scan is over)
        };
        match adopted {
            Ok(true) => {}
            Ok(false) => {
                let root = self.ws.workdir().to_path_buf();
                self.add_watches(&root);
                self.schedule.full(Instant::now());
            }
            Err(e) => self.fall_back_to_polling(&e),
        }
    }

    fn event_loop(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        loop {
            let wake = self.schedule.wake_at(self.backend.next_poll());
            let msg = match (self.deferred.pop_front(), wake) {
                (Some(msg), _) => Ok(msg),
                (None, None) => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                (None, Some(t)) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Fs(Ok(event))) => {
                    // Only a removal or a move can mean the work tree is
                    // gone; the rest (reads by other programs included)
                    // need no look at it.
                    let gone_maybe = matches!(
                        event.kind,
                        notify::EventKind::Remove(_)
                            | notify::EventKind::Modify(notify::event::ModifyKind::Name(_))
                    );
                    self.on_event(event);
                    if !gone_maybe {
                        continue;
                    }
                }
                Ok(Msg::Fs(Err(e))) => self.on_notify_error(e),
                Ok(Msg::Request(Request::Stop, _)) => return Ok(()),
                Ok(Msg::Request(Request::Ping, _)) => {}
                Ok(Msg::Request(req, answer)) => self.on_request(req, answer, rx)?,
                Ok(Msg::Signal(signal_hook::consts::SIGHUP)) if self.opts.detached => {
                    tracing::info!("SIGHUP ignored (running detached; use `savepoint stop`)");
                }
                Ok(Msg::Signal(_)) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => self.on_timer()?,
            }
            self.check_alive()?;
        }
    }

    /// Woken without a message: snapshot if the batch (or a poll) is due.
    fn on_timer(&mut self) -> Result<()> {
        // git holds `index.lock` while it writes (checkout, commit, stash).
        let git_busy = || self.ws.git_dir().join("index.lock").exists();
        if self
            .schedule
            .due(Instant::now(), self.backend.next_poll(), git_busy)
        {
            self.snapshot(None)?;
        }
        Ok(())
    }

    /// Process everything already queued (and whatever arrives within
    /// [`SETTLE`]) before the final snapshot.
    fn drain(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        let until = Instant::now() + SETTLE * 10;
        while let Ok(msg) = rx.recv_timeout(SETTLE) {
            self.absorb(msg, None);
            if Instant::now() >= until {
                break;
            }
        }
        self.check_alive()
    }

    /// Apply a notifier's message now; a request or a signal waits for the
    /// loop's next turn. True when it was an event about a file named
    /// `cookie` (see `sync`).
    fn absorb(&mut self, msg: Msg, cookie: Option<&std::ffi::OsStr>) -> bool {
        match msg {
            Msg::Fs(Ok(event)) => {
                let named =
                    cookie.is_some_and(|c| event.paths.iter().any(|p| p.file_name() == Some(c)));
                self.on_event(event);
                named
            }
            Msg::Fs(Err(e)) => {
                self.on_notify_error(e);
                false
            }
            other => {
                self.deferred.push_back(other);
                false
            }
        }
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
}
