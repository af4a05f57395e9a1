//! Talking to a running watcher: the one-per-work-tree pid lock
//! (`<git-dir>/savepoint/watch.pid`), the status file it keeps current
//! (`watch.json`) and the local socket (`watch.sock`) through which hooks
//! hand over a snapshot request and `stop` asks it to finish.
//!
//! The pid file is held with an OS lock for the watcher's whole life, so a
//! watcher killed with SIGKILL leaves nothing that blocks the next one, and
//! "is a watcher running?" is answered by the lock, never by a stale file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// Longest request line accepted on the socket.
const MAX_REQUEST: u64 = 1 << 20;
/// How long a client waits for the watcher to answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

pub fn pid_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchPid.path_in(state_dir)
}
pub fn status_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchStatus.path_in(state_dir)
}
pub fn socket_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchSocket.path_in(state_dir)
}
pub fn log_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchLog.path_in(state_dir)
}

/// Proof that this process is the work tree's watcher; released on drop or
/// process death.
#[derive(Debug)]
pub struct WatchLock {
    file: File,
}

fn open_pid_file(state_dir: &Path) -> Result<File> {
    let path = pid_path(state_dir);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut s).ok()?;
    parse_pid(&s)
}

/// A pid as the pid file holds it: only 1..=i32::MAX is a process id (0,
/// negative values and `4294967295` would make `kill` signal a process
/// group or every process the user may signal).
fn parse_pid(s: &str) -> Option<u32> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|&p| (1..=i32::MAX as u32).contains(&p))
}

impl WatchLock {
    /// Become the watcher of this work tree, or say who already is.
    pub fn acquire(ws: &Workspace) -> Result<WatchLock> {
        let state = ws.state().ensure()?;
        let mut file = open_pid_file(state)?;
        // `status` takes the lock for an instant to probe it: retry briefly.
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < Duration::from_millis(300) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::AlreadyWatching {
                        pid: read_pid(&mut file).unwrap_or(0),
                        workdir: ws.workdir().to_path_buf(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", pid_path(state), e)),
            }
        }
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        let _ = file.sync_all();
        Ok(WatchLock { file })
    }
}

impl Drop for WatchLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The pid of the running watcher of this work tree, if any.
pub fn running_pid(ws: &Workspace) -> Result<Option<u32>> {
    let state = ws.state().path();
    if !pid_path(state).exists() {
        return Ok(None);
    }
    let mut file = open_pid_file(state)?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(read_pid(&mut file).unwrap_or(0))),
        Err(TryLockError::Error(e)) => Err(Error::io("lock", pid_path(state), e)),
    }
}

/// What the watcher publishes about itself in `watch.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WatchState {
    pub pid: u32,
    /// RFC 3339.
    pub started: String,
    /// `inotify` (or the platform's notifier) or `poll`.
    pub mode: String,
    /// Directories watched.
    pub watches: usize,
    /// The shadow ref the last snapshot went to.
    #[serde(rename = "ref")]
    pub refname: String,
    /// Snapshots this watcher created.
    pub snapshots_taken: u64,
    pub last_snapshot: Option<String>,
    /// RFC 3339.
    pub last_snapshot_time: Option<String>,
    /// Work from "batch due" to "ref moved" for the last snapshot, in ms.
    pub last_snapshot_ms: Option<f64>,
    /// How long the start-up scan took, in ms.
    pub startup_scan_ms: Option<f64>,
    /// The most recent errors (newest last).
    pub errors: Vec<String>,
}

impl WatchState {
    /// Write atomically (temp file + rename).
    pub fn save(&self, state_dir: &Path) {
        let path = status_path(state_dir);
        let ok = serde_json::to_vec_pretty(self).ok().and_then(|bytes| {
            crate::fs::atomic::write_with_mode(&path, &bytes, crate::fs::atomic::PRIVATE).ok()
        });
        if ok.is_none() {
            tracing::debug!(path = %path.display(), "could not write watcher status");
        }
    }

    pub fn load(state_dir: &Path) -> Option<WatchState> {
        let bytes = std::fs::read(status_path(state_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What a client asks the watcher.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Snapshot now, with this metadata.
    Snap(SnapMeta),
    /// Take a final snapshot and exit.
    Stop,
    /// Are you there?
    Ping,
}

/// Metadata a hook attaches to a snapshot it asks for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SnapMeta {
    pub trigger: String,
    pub session: Option<String>,
    /// `claude`, `gemini`, … (the `Savepoint-Agent` trailer).
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub prompt: Option<String>,
    pub message: Option<String>,
    /// Paths the hook knows were changed (absolute or relative to the work
    /// tree); added to whatever the watcher saw itself.
    pub paths: Vec<PathBuf>,
}

/// The watcher's answer: the request was accepted (and will be carried out
/// right away, asynchronously).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    pub ok: bool,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Bind the watcher's socket, replacing a stale one. `None` (with a
/// warning) when the platform cannot bind there, e.g. a path longer than a
/// socket address allows: hooks then snapshot by themselves.
pub fn bind(state_dir: &Path) -> Option<UnixListener> {
    let path = socket_path(state_dir);
    // We hold the watch lock, so any socket file is a leftover.
    let _ = std::fs::remove_file(&path);
    match UnixListener::bind(&path) {
        Ok(l) => {
            // Only this user may talk to the watcher (the state dir is
            // 0700 as well; the socket's own mode follows the umask).
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(error = %e, "cannot restrict the watcher socket to this user");
                return None;
            }
            Some(l)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot create the watcher socket; hooks will snapshot by themselves");
            None
        }
    }
}

/// How long one connection may take to send its request: a slow or
/// stalled client is cut off, never holding up the others.
const REQUEST_DEADLINE: Duration = Duration::from_secs(1);
/// Connections served at once; more are closed at once (a flood cannot
/// make the watcher spawn without bound).
const MAX_CONNECTIONS: usize = 32;

/// A trigger a hook may ask for: `[A-Za-z0-9:_-]`, at most 64 characters
/// (it ends up in a trailer and in the notice an assistant reads).
pub fn valid_trigger(t: &str) -> bool {
    t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Serve requests until the listener fails; `deliver` hands each request
/// to the watcher loop and returns false once the loop is gone. Each
/// connection is served on its own thread with an overall deadline.
pub fn serve(listener: UnixListener, deliver: impl Fn(Request) -> bool + Send + Sync + 'static) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let deliver = Arc::new(deliver);
    let active = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    for conn in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("too many connections on the watcher socket; closing one");
            continue;
        }
        let (deliver, active, closed) = (
            Arc::clone(&deliver),
            Arc::clone(&active),
            Arc::clone(&closed),
        );
        std::thread::spawn(move || {
            if !serve_one(conn, |r| deliver(r)) {
                closed.store(true, Ordering::SeqCst);
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Answer one connection; false when the watcher loop is gone.
fn serve_one(mut conn: UnixStream, deliver: impl Fn(Request) -> bool) -> bool {
    let _ = conn.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut alive = true;
    let request = read_line_until(&conn, Instant::now() + REQUEST_DEADLINE)
        .map_err(|e| e.to_string())
        .and_then(|line| serde_json::from_slice::<Request>(&line).map_err(|e| e.to_string()))
        .and_then(|req| match &req {
            Request::Snap(m) if !m.trigger.is_empty() && !valid_trigger(&m.trigger) => {
                Err("invalid trigger (allowed: letters, digits, `:`, `_`, `-`)".to_owned())
            }
            _ => Ok(req),
        });
    let reply = match request {
        Ok(req) => {
            alive = deliver(req);
            Reply {
                ok: alive,
                pid: std::process::id(),
                error: (!alive).then(|| "the watcher is shutting down".to_owned()),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad request on the watcher socket");
            Reply {
                ok: false,
                pid: std::process::id(),
                error: Some(format!("malformed request: {e}")),
            }
        }
    };
    if let Ok(mut bytes) = serde_json::to_vec(&reply) {
        bytes.push(b'\n');
        let _ = conn.write_all(&bytes);
    }
    alive
}

/// Read one line (without its newline), at most [`MAX_REQUEST`] bytes,
/// giving up at `deadline` however the bytes trickle in.
fn read_line_until(conn: &UnixStream, deadline: Instant) -> std::io::Result<Vec<u8>> {
    use std::io::{Error as IoError, ErrorKind};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() as u64 > MAX_REQUEST {
            return Err(IoError::new(ErrorKind::InvalidData, "request too long"));
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| IoError::new(ErrorKind::TimedOut, "request not received in time"))?;
        conn.set_read_timeout(Some(left))?;
        match (&*conn).read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Connect to the socket at `path`, giving up after `timeout` (a full
/// listen backlog makes `connect` block). `Ok(None)`: nobody listens.
fn connect(path: &Path, timeout: Duration) -> std::io::Result<Option<UnixStream>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_path_buf();
    // std has no connect timeout for Unix sockets: connect on a helper
    // thread, abandoned (and finished by process exit) on timeout.
    std::thread::spawn(move || {
        let _ = tx.send(UnixStream::connect(&p));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(c)) => Ok(Some(c)),
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the watcher did not accept the connection in time",
        )),
    }
}

/// Send a request to this work tree's watcher. `Ok(None)` when no watcher
/// listens (the caller then does the work itself).
pub fn send(ws: &Workspace, req: &Request) -> Result<Option<Reply>> {
    let path = socket_path(ws.state().path());
    let Some(mut conn) = connect(&path, CLIENT_TIMEOUT)
        .map_err(|e| Error::io("connect to the watcher at", &path, e))?
    else {
        return Ok(None);
    };
    let io = |e| Error::io("talk to the watcher at", &path, e);
    conn.set_read_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    conn.set_write_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    let mut bytes = serde_json::to_vec(req).map_err(|e| io(e.into()))?;
    bytes.push(b'\n');
    conn.write_all(&bytes).map_err(io)?;
    let mut line = String::new();
    BufReader::new((&conn).take(MAX_REQUEST))
        .read_line(&mut line)
        .map_err(io)?;
    let reply = serde_json::from_str(&line).map_err(|e| io(e.into()))?;
    Ok(Some(reply))
}

/// Start a detached watcher for `ws`: `exe` (the savepoint binary) runs
/// `watch --daemon-child` in its own process group, stdin closed, output
/// appended to `watch.log` (restarted above 10 MiB, the old one kept as
/// `watch.log.1`). Returns without waiting for its start-up scan.
pub fn spawn_detached(
    ws: &Workspace,
    exe: &Path,
    opts: &super::WatchOptions,
) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let state = ws.state().ensure()?;
    let log = log_path(state);
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 10 * 1024 * 1024) {
        let _ = std::fs::rename(&log, log.with_extension("log.1"));
    }
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .map_err(|e| Error::io("open", &log, e))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| Error::io("open", &log, e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-C")
        .arg(ws.workdir())
        .args(["--color", "never", "watch", "--daemon-child"])
        .arg(format!("--debounce={}", opts.debounce.as_millis()))
        .arg(format!("--max-wait={}", opts.max_wait.as_millis()))
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        // Hooks run with git's variables set (maybe relative to their
        // directory); the watcher gets this workspace's, absolute, so it
        // opens the very repository and work tree found here (also one only
        // `GIT_DIR` or `core.worktree` leads to).
        .env("GIT_DIR", ws.git_dir())
        .env("GIT_WORK_TREE", ws.workdir())
        .env_remove("GIT_INDEX_FILE")
        // Its own process group: a terminal's Ctrl-C does not reach it.
        .process_group(0);
    if opts.poll {
        cmd.arg("--poll");
    }
    cmd.spawn()
        .map_err(|e| Error::io("start the watcher", exe.to_path_buf(), e))
}

/// How `stop` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// No watcher was running.
    NotRunning,
    /// The watcher with this pid finished (final snapshot taken).
    Stopped(u32),
}

/// Ask the watcher to stop (socket, else SIGTERM) and wait until it exits.
pub fn stop(ws: &Workspace, timeout: Duration) -> Result<Stopped> {
    let Some(pid) = running_pid(ws)? else {
        return Ok(Stopped::NotRunning);
    };
    let asked = matches!(send(ws, &Request::Stop), Ok(Some(r)) if r.ok);
    if !asked {
        // Signal only a process proven to hold the watch lock: the pid file
        // is just text anyone who can write the state dir may change.
        let proven = pid != 0 && super::lockholder::holds_lock(pid, &pid_path(ws.state().path()));
        if !proven {
            return Err(Error::Watch {
                path: ws.workdir().to_path_buf(),
                reason: format!(
                    "the watcher does not answer on its socket and the pid file names {} — not proven to be the watcher, so nothing was signalled; stop the watcher process by hand",
                    if pid == 0 { "no valid process".to_owned() } else { format!("process {pid}, which does not hold the watch lock") }
                ),
            });
        }
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
        }
    }
    let start = Instant::now();
    loop {
        match running_pid(ws)? {
            None => return Ok(Stopped::Stopped(pid)),
            Some(_) if start.elapsed() >= timeout => {
                return Err(Error::StopTimeout {
                    pid,
                    waited: timeout,
                })
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `savepoint status`: the watcher (if any) and the current chain.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub watching: bool,
    pub pid: Option<u32>,
    /// The chain snapshots of the current HEAD go to.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The chain's latest snapshot (12-hex id).
    pub last_snapshot: Option<String>,
    /// RFC 3339.
    pub last_snapshot_time: Option<String>,
    /// Snapshots on the chain.
    pub snapshots: usize,
    /// `inotify` or `poll` (watching only).
    pub mode: Option<String>,
    /// Directories watched.
    pub watches: Option<usize>,
    /// Snapshots this watcher created.
    pub snapshots_taken: Option<u64>,
    pub started: Option<String>,
    pub errors: Vec<String>,
    pub log: Option<PathBuf>,
    /// Work for the watcher's last snapshot, in ms.
    pub last_snapshot_ms: Option<f64>,
    pub startup_scan_ms: Option<f64>,
}

/// Gather the status of this work tree's watcher and chain.
pub fn status(ws: &Workspace) -> Result<Status> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let tip = crate::snapshot::chain::tip(repo, &refname)?;
    let (last_snapshot, last_snapshot_time, snapshots) = match tip {
        Some(t) => {
            let commit = repo.find_commit(t).map_err(|source| Error::Git {
                action: format!("read commit {t}"),
                source,
            })?;
            (
                Some(crate::snapshot::chain::short_id(t)),
                Some(crate::snapshot::chain::commit_time(&commit).to_rfc3339()),
                crate::snapshot::chain::walk(repo, t, None)?.len(),
            )
        }
        None => (None, None, 0),
    };
    let pid = running_pid(ws)?;
    let state_dir = ws.state().path();
    let live = pid
        .and_then(|_| WatchState::load(state_dir))
        .filter(|s| Some(s.pid) == pid);
    let log = log_path(state_dir);
    Ok(Status {
        watching: pid.is_some(),
        pid,
        refname,
        last_snapshot,
        last_snapshot_time,
        snapshots,
        mode: live.as_ref().map(|s| s.mode.clone()),
        watches: live.as_ref().map(|s| s.watches),
        snapshots_taken: live.as_ref().map(|s| s.snapshots_taken),
        started: live.as_ref().map(|s| s.started.clone()),
        errors: live.as_ref().map(|s| s.errors.clone()).unwrap_or_default(),
        log: log.exists().then_some(log),
        last_snapshot_ms: live.as_ref().and_then(|s| s.last_snapshot_ms),
        startup_scan_ms: live.as_ref().and_then(|s| s.startup_scan_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_process_ids_are_read_from_the_pid_file() {
        assert_eq!(parse_pid("1234\n"), Some(1234));
        for bad in [
            "0",
            "4294967295",
            "-1",
            "2147483648",
            "",
            "12x",
            "99999999999",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
        assert_eq!(parse_pid("2147483647"), Some(i32::MAX as u32));
    }

    #[test]
    fn request_wire_format_is_tagged_json() {
        let r = Request::Snap(SnapMeta {
            trigger: "claude:Stop".into(),
            session: Some("s1".into()),
            ..SnapMeta::default()
        });
        let s = serde_json::to_string(&r).unwrap();
        assert!(
            s.starts_with(r#"{"op":"snap","trigger":"claude:Stop","session":"s1""#),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"stop"}"#).unwrap(),
            Request::Stop
        );
        // Missing fields default; unknown ops are errors.
        assert!(matches!(
            serde_json::from_str::<Request>(r#"{"op":"snap"}"#).unwrap(),
            Request::Snap(m) if m.trigger.is_empty()
        ));
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }
}
