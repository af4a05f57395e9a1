//! Agent integration: one event model for what coding agents report
//! (session start, prompt, tool use, turn end, turn failure, compaction,
//! session end) and what savepoint does for each. Each agent's adapter
//! (`claude`) turns its hook payload into an [`Event`]; [`handle`] takes it
//! from there. Hooks never fail the agent: the caller always exits 0 and
//! problems go to `<git-dir>/savepoint/hook.log`.

pub mod claude;
pub mod codex;
pub mod cursor;
pub mod gemini;
pub mod settings;
pub mod transcript;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::chain;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::repo::Workspace;
use crate::snap::{self, SnapRequest};
use crate::watch::control::{self, Request, SnapMeta};

/// `hook.log` is restarted above this size.
const LOG_MAX_BYTES: u64 = 1 << 20;
/// How long a hook waits for another snapshotter before giving up.
const HOOK_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened in the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    SessionStart {
        source: Option<String>,
    },
    /// The user submitted a prompt (before the agent acts on it).
    Prompt {
        text: String,
    },
    /// A tool ran; `paths` are the files it names (none for shell commands).
    ToolUse {
        tool: String,
        paths: Vec<PathBuf>,
    },
    /// The agent finished its turn.
    TurnEnd,
    /// The turn died on an API error (outage, rate limit, …).
    TurnFailed {
        error: String,
    },
    /// The conversation is about to be compacted.
    PreCompact,
    SessionEnd {
        reason: Option<String>,
    },
    /// An event savepoint has nothing to do for.
    Other,
}

/// One agent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `claude`, …: the trigger prefix.
    pub agent: &'static str,
    /// The agent's own name for the event (`PostToolUse`): the trigger.
    pub name: String,
    pub session: Option<String>,
    /// Where the agent works; the process's directory when absent.
    pub cwd: Option<PathBuf>,
    pub kind: Kind,
    /// A prompt that came with an event other than [`Kind::Prompt`]
    /// (Codex reports the turn's input with its end).
    pub prompt: Option<String>,
    /// The client's transcript of the session (`transcript_path`), for the
    /// hand-off brief.
    pub transcript: Option<PathBuf>,
    /// The assistant's last message of the turn (`last_assistant_message`,
    /// Codex's `last-assistant-message`): on a failed turn, the error the
    /// user saw.
    pub last_message: Option<String>,
}

impl Event {
    /// `claude:PostToolUse`.
    pub fn trigger(&self) -> String {
        format!("{}:{}", self.agent, self.name)
    }
}

/// An agent's JSON payload: an object with its event name under `key`.
pub(crate) struct Payload {
    obj: serde_json::Map<String, serde_json::Value>,
    pub name: String,
}

impl Payload {
    pub(crate) fn parse(input: &[u8], key: &str) -> std::result::Result<Payload, String> {
        let v: serde_json::Value =
            serde_json::from_slice(input).map_err(|e| format!("invalid JSON: {e}"))?;
        let serde_json::Value::Object(obj) = v else {
            return Err("the payload is not a JSON object".into());
        };
        let name = obj
            .get(key)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("no {key}"))?
            .to_owned();
        Ok(Payload { obj, name })
    }

    /// A string field.
    pub(crate) fn str(&self, k: &str) -> Option<String> {
        self.obj
            .get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    }

    pub(crate) fn get(&self, k: &str) -> Option<&serde_json::Value> {
        self.obj.get(k)
    }

    /// String fields of the object under `parent` (e.g. `tool_input`).
    pub(crate) fn nested_strs(&self, parent: &str, keys: &[&str]) -> Vec<String> {
        let inner = self.obj.get(parent).and_then(serde_json::Value::as_object);
        keys.iter()
            .filter_map(|k| {
                inner
                    .and_then(|i| i.get(*k))
                    .and_then(serde_json::Value::as_str)
            })
            .map(str::to_owned)
            .collect()
    }
}

/// What the hook prints: `stdout` goes to the agent (Claude adds it to the
/// session's context), `stderr` to the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub stdout: String,
    pub stderr: String,
}

/// How a snapshot request was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// Handed to the running watcher (pid); it snapshots right away.
    Watcher(u32),
    /// Taken here: the snapshot id, or `None` when nothing had changed.
    Direct(Option<String>),
}

/// Act on an event. `Ok` with an empty response when the directory is not
/// a git work tree (nothing to protect).
pub fn handle(event: &Event) -> Result<Response> {
    let dir = match &event.cwd {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|e| Error::io("read", ".", e))?,
    };
    let ws = match Workspace::discover(&dir) {
        Ok(ws) => ws,
        Err(Error::NotARepository { .. } | Error::BareRepository { .. }) => {
            return Ok(Response::default())
        }
        Err(e) => return Err(e),
    };
    let cfg = Config::load(ws.repo())?;
    let mut meta = SnapMeta {
        trigger: event.trigger(),
        session: event.session.clone(),
        agent: Some(event.agent.to_owned()),
        prompt: event.prompt.clone(),
        ..SnapMeta::default()
    };
    let mut response = Response::default();
    let served = match &event.kind {
        Kind::SessionStart { .. } => {
            response.stdout = session_notice(&ws, &cfg, event.session.as_deref())?;
            None
        }
        Kind::Other => None,
        Kind::Prompt { text } => {
            meta.prompt = Some(text.clone());
            Some(snapshot(&ws, &cfg, meta, false)?)
        }
        Kind::ToolUse { tool, paths } => {
            meta.tool = Some(tool.clone());
            meta.paths = paths.clone();
            Some(snapshot(&ws, &cfg, meta, false)?)
        }
        Kind::TurnEnd | Kind::PreCompact | Kind::SessionEnd { .. } => {
            Some(snapshot(&ws, &cfg, meta, false)?)
        }
        Kind::TurnFailed { error } => {
            // The outage case: record it here and now (not via the watcher)
            // so the brief names the snapshot that holds the work.
            let served = snapshot(&ws, &cfg, meta, true)?;
            let brief = crate::handoff::brief(&ws)?;
            let path = ws.ensure_state_dir()?.join("handoff.md");
            std::fs::write(&path, brief).map_err(|e| Error::io("write", &path, e))?;
            response.stderr = format!(
                "savepoint: the turn ended on an API error ({error}). Your work is safe in \
                 git on {}. A hand-off brief for another assistant is in {}; \
                 `savepoint handoff` prints it again, `savepoint recover` brings back \
                 anything missing from the work tree.",
                ws.chain_ref()?,
                path.display()
            );
            response.stdout = response.stderr.clone();
            Some(served)
        }
    };
    log(
        &ws,
        &format!(
            "{} {}",
            event.trigger(),
            match served {
                Some(Served::Watcher(pid)) => format!("handed to the watcher (pid {pid})"),
                Some(Served::Direct(Some(id))) => format!("snapshot {id}"),
                Some(Served::Direct(None)) => "nothing new".to_owned(),
                None => "no snapshot".to_owned(),
            }
        ),
    );
    Ok(response)
}

/// Snapshot through the running watcher (instant) or here.
pub fn snapshot(ws: &Workspace, cfg: &Config, meta: SnapMeta, direct: bool) -> Result<Served> {
    if !direct {
        match control::send(ws, &Request::Snap(meta.clone())) {
            Ok(Some(reply)) if reply.ok => return Ok(Served::Watcher(reply.pid)),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "watcher unreachable; snapshotting here"),
        }
    }
    let mut req = SnapRequest::new(meta.trigger);
    req.session = meta.session;
    req.agent = meta.agent;
    req.tool = meta.tool;
    req.prompt = meta.prompt;
    req.message = meta.message;
    req.lock_timeout = HOOK_LOCK_TIMEOUT;
    let out = snap::take(ws, cfg, &req, None)?;
    Ok(Served::Direct(out.created.then_some(out.id).flatten()))
}

/// What a new session should know: the work tree differs from the last
/// snapshot of another session (work may have been lost), or snapshots
/// are waiting to be squashed. Empty when there is nothing to say.
pub fn session_notice(ws: &Workspace, cfg: &Config, session: Option<&str>) -> Result<String> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let Some(tip) = chain::tip(repo, &refname)? else {
        return Ok(String::new());
    };
    let info = chain::info(repo, tip, &refname)?;
    let mut lines = Vec::new();
    let other_session = info.session.as_deref() != session || session.is_none();
    if other_session {
        let current = crate::restore::current_tree(ws, cfg)?;
        let tip_tree = repo
            .find_commit(tip)
            .and_then(|c| c.tree())
            .map(|t| t.id())
            .map_err(|source| Error::Git {
                action: format!("read the tree of {tip}"),
                source,
            })?;
        if current != tip_tree {
            lines.push(format!(
                "savepoint: the work tree differs from the last snapshot ({}, {}, trigger {}). \
                 If work was lost when the previous session ended, review it with \
                 `savepoint recover --dry-run` and bring it back with `savepoint recover --yes`; \
                 `savepoint diff` shows every difference.",
                info.id, info.time, info.trigger
            ));
        }
    }
    let unsquashed = crate::handoff::unsquashed(ws)?;
    if !unsquashed.is_empty() {
        lines.push(format!(
            "savepoint: {} since the last commit on {refname} (latest {}). \
             `savepoint log` lists them; `savepoint squash -m \"<message>\"` turns them into one commit; \
             `savepoint handoff` summarises the work.",
            crate::plural(unsquashed.len() as u64, "snapshot"),
            info.id
        ));
    }
    Ok(lines.join("\n"))
}

/// Append a line to `<git-dir>/savepoint/hook.log` (best effort).
pub fn log(ws: &Workspace, line: &str) {
    let Ok(state) = ws.ensure_state_dir() else {
        return;
    };
    log_in(&state, line);
}

/// [`log`] for callers without a work tree (malformed input).
pub fn log_in(state_dir: &Path, line: &str) {
    let path = state_dir.join("hook.log");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_MAX_BYTES) {
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
    }
    let stamp = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    // 0600: the log holds prompts and paths.
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
    {
        let _ = writeln!(f, "{stamp} {line}");
    }
}
