//! The control socket (`<git-dir>/savepoint/watch.sock`): hooks hand a
//! running watcher their snapshot request (with the agent's metadata)
//! instead of scanning themselves, `snap` and the commands that compare
//! with the work tree (`diff`, `recover`, `restore --dry-run`, the agents'
//! session-start check) ask it for an answer it already knows, and `stop`
//! asks it to finish.
//!
//! The wire format is one JSON line each way: a [`Request`] tagged by
//! `op`, answered by a [`Reply`]. Requests that want an answer
//! ([`Request::wants_answer`]) are answered once the watcher has seen
//! every change made before the request (see `daemon`'s `sync`); the
//! others are acknowledged at once. The server is defensive — a bounded
//! request size, a per-connection deadline, a cap on connections, triggers
//! validated — because anything running as this user can connect.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snapshot::record::{SnapOutcome, SnapRequest};
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// Longest request line accepted on the socket.
const MAX_REQUEST: u64 = 1 << 20;
/// How long a client waits for the watcher to acknowledge a request.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client waits for an answer ([`Request::wants_answer`]): the
/// watcher may be in the middle of a full scan of a very large tree. A
/// client that gives up does the work itself, which is always correct.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The watcher's socket in `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchSocket.path_in(state_dir)
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
    /// The tree a snapshot taken now would record (nothing is recorded),
    /// once every change made before the request has been seen.
    Tree,
}

impl Request {
    /// Does the client wait for the watcher's answer (a tree, a snapshot)
    /// rather than an acknowledgement?
    pub fn wants_answer(&self) -> bool {
        match self {
            Request::Tree => true,
            Request::Snap(m) => m.wait,
            Request::Stop | Request::Ping => false,
        }
    }
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
    /// `message` is a label the user typed (`snap -m`): recorded even when
    /// nothing changed.
    pub label: bool,
    /// Answer with the snapshot (`savepoint snap`) instead of only
    /// accepting the request (hooks).
    pub wait: bool,
    /// A failed turn: after the snapshot, write the hand-off brief (it then
    /// names the chain's tip) before answering — in the watcher, so a
    /// client that kills the hook right after asking cannot cut it short.
    /// A brief that cannot be written makes the answer an error: the hook
    /// then writes it itself.
    pub brief: bool,
}

impl SnapMeta {
    /// The snapshot these metadata ask for (an empty trigger is the
    /// watcher's own, `watch`).
    pub fn request(&self) -> SnapRequest {
        let trigger = if self.trigger.is_empty() {
            "watch"
        } else {
            &self.trigger
        };
        let mut req = SnapRequest::new(trigger);
        req.session = self.session.clone();
        req.agent = self.agent.clone();
        req.tool = self.tool.clone();
        req.prompt = self.prompt.clone();
        req.message = self.message.clone();
        req.label = self.label;
        req
    }

    /// What to send the watcher for `req` (its changed paths and chain
    /// position are the watcher's own business).
    pub fn of(req: &SnapRequest) -> SnapMeta {
        SnapMeta {
            trigger: req.trigger.clone(),
            session: req.session.clone(),
            agent: req.agent.clone(),
            tool: req.tool.clone(),
            prompt: req.prompt.clone(),
            message: req.message.clone(),
            label: req.label,
            ..SnapMeta::default()
        }
    }
}

/// The watcher's answer: the request was accepted (and will be carried out
/// right away, asynchronously) — or, for a request that
/// [wants an answer](Request::wants_answer), carried out: the tree or the
/// snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// [`Request::Tree`]: the work tree's tree, as a snapshot would record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// [`Request::Snap`] with `wait`: what the snapshot did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapped>,
}

/// A snapshot outcome on the wire: the outcome's JSON (what `snap --json`
/// prints) plus its subject line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapped {
    #[serde(flatten)]
    pub outcome: SnapOutcome,
    pub subject: String,
    /// The snapshot's (or the unchanged tip's) full id.
    pub commit: Option<String>,
}

impl Snapped {
    pub fn new(outcome: SnapOutcome) -> Snapped {
        Snapped {
            subject: outcome.subject.clone(),
            commit: outcome.oid.map(|o| o.to_string()),
            outcome,
        }
    }

    /// The outcome with its subject and full id back in place.
    pub fn into_outcome(self) -> SnapOutcome {
        let mut outcome = self.outcome;
        outcome.subject = self.subject;
        outcome.oid = self.commit.and_then(|c| git2::Oid::from_str(&c).ok());
        outcome
    }
}

impl Reply {
    pub(crate) fn from_watcher(ok: bool, error: Option<String>) -> Reply {
        Reply {
            ok,
            pid: std::process::id(),
            error,
            ..Reply::default()
        }
    }
}

/// Bind the watcher's socket, replacing a stale one. `None` (with a
/// warning) when the platform cannot bind there, e.g. a path longer than a
/// socket address allows: hooks then snapshot by themselves.
pub(crate) fn bind(state_dir: &Path) -> Option<UnixListener> {
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
pub(crate) fn valid_trigger(t: &str) -> bool {
    t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Where the watcher loop sends its answer to a request that
/// [wants one](Request::wants_answer).
pub(crate) type Answer = std::sync::mpsc::SyncSender<Reply>;

/// Serve requests until the listener fails; `deliver` hands each request
/// (with where to send the answer, if it wants one) to the watcher loop
/// and returns false once the loop is gone. Each connection is served on
/// its own thread with an overall deadline.
pub(crate) fn serve(
    listener: UnixListener,
    deliver: impl Fn(Request, Option<Answer>) -> bool + Send + Sync + 'static,
) {
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
            if !serve_one(conn, |r, a| deliver(r, a)) {
                closed.store(true, Ordering::SeqCst);
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Answer one connection; false when the watcher loop is gone.
fn serve_one(mut conn: UnixStream, deliver: impl Fn(Request, Option<Answer>) -> bool) -> bool {
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
    let gone = || Reply::from_watcher(false, Some("the watcher is shutting down".to_owned()));
    let reply = match request {
        Ok(req) if req.wants_answer() => {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            alive = deliver(req, Some(tx));
            match rx.recv_timeout(ANSWER_TIMEOUT) {
                Ok(reply) => reply,
                Err(_) if !alive => gone(),
                Err(_) => Reply::from_watcher(
                    false,
                    Some("the watcher did not answer in time".to_owned()),
                ),
            }
        }
        Ok(req) => {
            alive = deliver(req, None);
            if alive {
                Reply::from_watcher(true, None)
            } else {
                gone()
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad request on the watcher socket");
            Reply::from_watcher(false, Some(format!("malformed request: {e}")))
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
/// listens (the caller then does the work itself). A request that
/// [wants an answer](Request::wants_answer) waits up to
/// [`ANSWER_TIMEOUT`] for it.
pub fn send(ws: &Workspace, req: &Request) -> Result<Option<Reply>> {
    let path = socket_path(ws.state().path());
    let Some(mut conn) = connect(&path, CLIENT_TIMEOUT)
        .map_err(|e| Error::io("connect to the watcher at", &path, e))?
    else {
        return Ok(None);
    };
    let io = |e| Error::io("talk to the watcher at", &path, e);
    let wait = if req.wants_answer() {
        ANSWER_TIMEOUT + CLIENT_TIMEOUT
    } else {
        CLIENT_TIMEOUT
    };
    conn.set_read_timeout(Some(wait)).map_err(io)?;
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

/// The work tree's tree as a snapshot taken now would record it, from this
/// work tree's running watcher. `None` when no watcher runs or it could not
/// answer: the caller then scans by itself (always correct, only slower).
pub fn ask_tree(ws: &Workspace) -> Option<git2::Oid> {
    let reply = answered(ws, &Request::Tree)?;
    reply
        .tree
        .as_deref()
        .and_then(|t| git2::Oid::from_str(t).ok())
}

/// `req` taken by this work tree's running watcher. `None` when no watcher
/// runs or it failed: the caller then takes `req` by itself (and reports
/// the real error, if there is one).
pub fn ask_snapshot(ws: &Workspace, req: &SnapRequest) -> Option<SnapOutcome> {
    ask_snapshot_with(ws, SnapMeta::of(req))
}

/// [`ask_snapshot`] with the hook's metadata as they are (e.g.
/// [`SnapMeta::brief`]).
pub fn ask_snapshot_with(ws: &Workspace, meta: SnapMeta) -> Option<SnapOutcome> {
    let meta = SnapMeta { wait: true, ..meta };
    let reply = answered(ws, &Request::Snap(meta))?;
    reply.snapshot.map(Snapped::into_outcome)
}

/// This process is a watcher serving requests: it must never wait for its
/// own answer.
static SERVING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Mark this process as the watcher (see [`answered`]).
pub(crate) fn serving() {
    SERVING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Send `req` to the running watcher and return its answer if it has one.
fn answered(ws: &Workspace, req: &Request) -> Option<Reply> {
    if SERVING.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    match send(ws, req) {
        Ok(Some(reply)) if reply.ok => Some(reply),
        Ok(Some(reply)) => {
            tracing::debug!(error = ?reply.error, "the watcher did not answer; working without it");
            None
        }
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(error = %e, "cannot ask the watcher; working without it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
