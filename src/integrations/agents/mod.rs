//! Agent integration: one event model for what coding agents report
//! (session start, prompt, tool use, turn end, turn failure, compaction,
//! session end) and what savepoint does for each. Each agent's adapter
//! ([`Agent`], one file per client, listed in [`all`]) turns its hook
//! payload into an [`Event`]; [`prepare`] takes it from there. Hooks never
//! fail the agent: the caller always exits 0 and problems go to
//! `<git-dir>/savepoint/hook.log`.

mod adapter;
pub mod claude;
pub mod codex;
pub(crate) mod cursor;
pub(crate) mod gemini;
pub mod settings;
pub mod transcript;
mod turns;

pub use adapter::{Agent, Change, Choice, State, StatusLine, Trust};

/// Every agent savepoint knows, in the order `--help` lists them.
pub fn all() -> &'static [&'static dyn Agent] {
    &[
        &claude::Claude,
        &gemini::Gemini,
        &codex::Codex,
        &cursor::Cursor,
    ]
}

/// The agent called `name` (`claude`).
pub fn by_name(name: &str) -> Option<&'static dyn Agent> {
    all().iter().copied().find(|a| a.name() == name)
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::snapshot::chain;
use crate::snapshot::record;
use crate::watch::{self, Request, SnapMeta};
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

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

/// The slow part of a hook's work — a snapshot and, after a failed turn,
/// the brief written again with it. It is what the client may kill: the
/// hook hands it to the watcher when one runs, else to a worker process of
/// its own (see `savepoint hook`), so it is serialisable.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// The work tree (discovered again by the worker).
    pub dir: PathBuf,
    pub meta: SnapMeta,
    /// A failed turn: snapshot before going on (the brief names the
    /// snapshot that holds the work) — a running watcher takes it and
    /// answers when done — then write the brief again.
    pub failed: bool,
}

/// What a hook does for an event: the answer for the client, ready at
/// once, and the slow part still to do.
pub struct Plan {
    pub ws: Workspace,
    pub response: Response,
    pub job: Option<Job>,
}

/// Work out what to do for an event: everything fast happens here (the
/// session notice, the brief of a failed turn *first*, from what is
/// already recorded); the snapshot is left in [`Plan::job`]. `None` when
/// the directory is not a git work tree (nothing to protect).
pub fn prepare(event: &Event) -> Result<Option<Plan>> {
    let dir = match &event.cwd {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|source| Error::Os {
            action: "read the current directory",
            source,
        })?,
    };
    let ws = match Workspace::discover(&dir) {
        Ok(ws) => ws,
        Err(Error::NotARepository { .. } | Error::BareRepository { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // A broken `savepoint.*` key is reported now, not by the worker.
    ws.config()?;
    let mut meta = SnapMeta {
        trigger: event.trigger(),
        session: event.session.clone(),
        agent: Some(event.agent.to_owned()),
        prompt: event.prompt.clone(),
        ..SnapMeta::default()
    };
    let state = ws.state().ensure()?;
    let mut failed = None;
    match &event.kind {
        Kind::SessionStart { .. } => {
            let response = Response {
                stdout: session_notice(&ws, event.session.as_deref())?,
                stderr: String::new(),
            };
            return Ok(Some(Plan {
                ws,
                response,
                job: None,
            }));
        }
        Kind::Other => {
            return Ok(Some(Plan {
                ws,
                response: Response::default(),
                job: None,
            }))
        }
        Kind::Prompt { text } => {
            turns::opened(state, event);
            meta.prompt = Some(text.clone());
        }
        Kind::ToolUse { tool, paths } => {
            meta.tool = Some(tool.clone());
            meta.paths = paths.clone();
        }
        Kind::TurnEnd => {
            turns::closed(state, event);
        }
        Kind::PreCompact => {}
        Kind::SessionEnd { .. } => {
            // Clients without a failure event (Codex, Gemini) end a session
            // whose turn died on an API error without ending the turn.
            let reports_failures = by_name(event.agent).is_some_and(|a| a.has_failure_event());
            if turns::closed(state, event) && !reports_failures {
                failed = Some(format!(
                    "the session ended before its turn did; {} reported no turn end",
                    event.agent
                ));
            }
        }
        Kind::TurnFailed { error } => {
            turns::closed(state, event);
            failed = Some(error.clone());
        }
    }
    let mut response = Response::default();
    if let Some(error) = &failed {
        // The outage case. The client may kill this process any moment
        // now: the failure is saved first; the brief follows at once (see
        // `brief_first`), from the watcher or from here.
        let failure = crate::ops::handoff::Failure {
            agent: event.agent.to_owned(),
            session: event.session.clone(),
            error: error.clone(),
            last_message: event.last_message.clone(),
            transcript: event.transcript.clone(),
            time: chrono::Local::now().to_rfc3339(),
            status: None,
        };
        crate::ops::handoff::save_failure(&ws, &failure)?;
        let path = StateFile::Handoff.path_in(state);
        response.stderr = format!(
            "savepoint: the turn ended on an API error ({}). Your work is safe in git on {}. \
             A hand-off brief for another assistant is in {}; `savepoint handoff` prints it \
             again, `savepoint recover` brings back anything missing from the work tree.",
            crate::text::escape_controls(error),
            ws.chain_ref()?,
            path.display()
        );
    } else if matches!(event.kind, Kind::TurnEnd) {
        // A later turn of the failed session went through: the failure is
        // history, not what the next assistant must know.
        if crate::ops::handoff::load_failure(&ws).is_some_and(|f| f.session == event.session) {
            crate::ops::handoff::clear_failure(&ws)?;
        }
    }
    Ok(Some(Plan {
        response,
        job: Some(Job {
            dir: ws.workdir().to_path_buf(),
            meta,
            failed: failed.is_some(),
        }),
        ws,
    }))
}

/// Give `job` to the running watcher: its pid when it took it. A failed
/// turn's job is never handed over (see [`Job::failed`]).
pub fn hand_to_watcher(ws: &Workspace, job: &Job) -> Option<u32> {
    if job.failed {
        return None;
    }
    send_to_watcher(ws, &job.meta)
}

/// Ask the running watcher to snapshot with `meta`: its pid when it
/// accepted, `None` when no watcher answered.
fn send_to_watcher(ws: &Workspace, meta: &SnapMeta) -> Option<u32> {
    match watch::send(ws, &Request::Snap(meta.clone())) {
        Ok(Some(reply)) if reply.ok => Some(reply.pid),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(error = %e, "watcher unreachable; snapshotting here");
            None
        }
    }
}

/// Carry out `job` in this process (the hook's worker): snapshot; after a
/// failed turn the brief names that snapshot, then the provider's status
/// page is asked.
pub fn run_job(job: &Job) -> Result<Served> {
    let ws = Workspace::discover(&job.dir)?;
    let served = if job.failed {
        failed_turn_snapshot(&ws, &job.meta)?
    } else {
        snapshot(&ws, job.meta.clone())?
    };
    log(&ws, &format!("{} {}", job.meta.trigger, served.describe()));
    if job.failed {
        // The work and the brief safe: what the provider's status page says.
        let agent = job.meta.agent.as_deref().unwrap_or("");
        let verdict = crate::integrations::provider_status::check(
            ws.config()?,
            agent,
            crate::integrations::provider_status::DEFAULT_BUDGET,
        );
        if let (Some(v), Some(mut f)) = (verdict, crate::ops::handoff::load_failure(&ws)) {
            log(
                &ws,
                &format!("{} provider status: {}", job.meta.trigger, v.line()),
            );
            f.status = Some(v);
            crate::ops::handoff::save_failure(&ws, &f)?;
            crate::ops::handoff::write(&ws)?;
        }
    }
    Ok(served)
}

/// A failed turn's job when the running watcher can do all of it: the
/// snapshot and the brief, and no status page to ask (`None`: the brief
/// is for [`brief_first`], the rest for a worker). The watcher writes the
/// brief before it answers, so a client that kills the hook meanwhile
/// cuts nothing short — and the hook never diffs the chain itself, which
/// costs as much as the change since HEAD.
pub fn failed_turn_by_watcher(ws: &Workspace, job: &Job) -> Option<Served> {
    let agent = job.meta.agent.as_deref().unwrap_or("");
    if !job.failed || crate::integrations::provider_status::applies(ws.config().ok()?, agent) {
        return None;
    }
    let out = watch::ask_snapshot_with(ws, failed_turn_meta(&job.meta))?;
    Some(Served::taken(out))
}

/// A failed turn no watcher took: the brief, from what is already
/// recorded, before anything slow starts (the client may kill the hook
/// any moment now); failures are logged.
pub fn brief_first(ws: &Workspace, job: &Job) {
    if let Err(e) = crate::ops::handoff::write(ws) {
        log(
            ws,
            &format!("{}: cannot write the hand-off brief: {e}", job.meta.trigger),
        );
    }
}

fn failed_turn_meta(meta: &SnapMeta) -> SnapMeta {
    SnapMeta {
        brief: true,
        ..meta.clone()
    }
}

/// A failed turn's snapshot, taken before going on; the brief is written
/// again so that it names it — by the running watcher before it answers,
/// else here when the snapshot recorded something new (the brief written
/// first already names the chain's tip otherwise).
fn failed_turn_snapshot(ws: &Workspace, meta: &SnapMeta) -> Result<Served> {
    let out = match watch::ask_snapshot_with(ws, failed_turn_meta(meta)) {
        Some(out) => out,
        None => {
            let mut req = meta.request();
            req.lock_timeout = HOOK_LOCK_TIMEOUT;
            let out = record::take(ws, &req, None)?;
            if out.created {
                crate::ops::handoff::write(ws)?;
            }
            out
        }
    };
    Ok(Served::taken(out))
}

/// After a failed turn's job: what the provider's status page said, for
/// the message (empty when it was not asked or did not answer).
pub fn status_note(ws: &Workspace) -> String {
    crate::ops::handoff::load_failure(ws)
        .and_then(|f| f.status)
        .map(|v| format!("{} {}", v.line(), v.advice()))
        .unwrap_or_default()
}

impl Served {
    /// A snapshot taken (here, or by the watcher on request): its id, or
    /// none when nothing was new.
    fn taken(out: crate::snapshot::record::SnapOutcome) -> Served {
        Served::Direct(out.created.then_some(out.id).flatten())
    }

    /// For `hook.log`.
    pub fn describe(&self) -> String {
        match self {
            Served::Watcher(pid) => format!("handed to the watcher (pid {pid})"),
            Served::Direct(Some(id)) => format!("snapshot {id}"),
            Served::Direct(None) => "nothing new".to_owned(),
        }
    }
}

/// Snapshot through the running watcher (handed over: instant) or here.
pub fn snapshot(ws: &Workspace, meta: SnapMeta) -> Result<Served> {
    if let Some(pid) = send_to_watcher(ws, &meta) {
        return Ok(Served::Watcher(pid));
    }
    let mut req = meta.request();
    req.lock_timeout = HOOK_LOCK_TIMEOUT;
    let out = record::take(ws, &req, None)?;
    Ok(Served::taken(out))
}

/// Snapshots [`session_notice`] looks back through.
const NOTICE_LOOKBACK: usize = 500;

/// What a new session should know: the work tree differs from the last
/// snapshot of another session (work may have been lost), or snapshots
/// are waiting to be squashed. Empty when there is nothing to say.
///
/// It runs inside the client's session start, so it is cheap: one pass
/// over the chain's commit messages (no diffs), and the work tree's tree
/// from the running watcher (which knows what changed since its last
/// snapshot) — no scan. Without a watcher the work tree is scanned
/// (stat-cached).
pub(crate) fn session_notice(ws: &Workspace, session: Option<&str>) -> Result<String> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let Some(tip) = chain::tip(repo, &refname)? else {
        return Ok(String::new());
    };
    let head = ws
        .head()?
        .commit()
        .map_or_else(|| "unborn".to_owned(), |c| c.to_string());
    // Snapshots since the last commit, and the latest one a session took.
    let mut unsquashed = 0usize;
    let mut counting = true;
    let mut last_session: Option<(git2::Oid, crate::snapshot::trailers::Trailers, String)> = None;
    for oid in chain::walk(repo, tip, Some(NOTICE_LOOKBACK))? {
        let commit = repo.find_commit(oid).map_err(|source| Error::Git {
            action: format!("read commit {oid}"),
            source,
        })?;
        let t = crate::snapshot::trailers::parse(&String::from_utf8_lossy(commit.message_bytes()))
            .unwrap_or_default();
        counting &= t.base == head;
        unsquashed += usize::from(counting);
        if last_session.is_none() && t.session.is_some() {
            let time = chain::commit_time(&commit).to_rfc3339();
            last_session = Some((oid, t, time));
        }
        if !counting && last_session.is_some() {
            break;
        }
    }
    let tree_of = |oid: git2::Oid| -> Result<git2::Oid> {
        repo.find_commit(oid)
            .and_then(|c| c.tree())
            .map(|t| t.id())
            .map_err(|source| Error::Git {
                action: format!("read the tree of {oid}"),
                source,
            })
    };
    let mut lines = Vec::new();
    let other =
        last_session.filter(|(_, t, _)| session.is_none() || t.session.as_deref() != session);
    if let Some((oid, t, time)) = other {
        // (A running watcher answers this from what it has seen.)
        let current = crate::snapshot::current::tree(ws)?;
        if current != tree_of(oid)? {
            let id = chain::short_id(oid);
            let how = if oid == tip {
                "review it with `savepoint recover --dry-run` and bring it back with \
                 `savepoint recover --yes`; `savepoint diff` shows every difference"
                    .to_owned()
            } else {
                format!(
                    "`savepoint diff {id}` shows what changed since and \
                     `savepoint restore {id}` brings that state back"
                )
            };
            lines.push(format!(
                "savepoint: the work tree differs from the last snapshot of session {} ({id}, \
                 {time}, trigger {}). If work was lost when that session ended, {how}.",
                crate::text::escape_controls(t.session.as_deref().unwrap_or("")),
                crate::text::escape_controls(&t.trigger)
            ));
        }
    }
    if unsquashed > 0 {
        let more = if unsquashed >= NOTICE_LOOKBACK {
            "+"
        } else {
            ""
        };
        lines.push(format!(
            "savepoint: {}{more} since the last commit on {refname} (latest {}). \
             `savepoint log` lists them; `savepoint squash -m \"<message>\"` turns them into one commit; \
             `savepoint handoff` summarises the work.",
            crate::plural(unsquashed as u64, "snapshot"),
            chain::short_id(tip)
        ));
    }
    Ok(lines.join("\n"))
}

/// Append a line to `<git-dir>/savepoint/hook.log` (best effort).
pub fn log(ws: &Workspace, line: &str) {
    let Ok(state) = ws.state().ensure() else {
        return;
    };
    log_in(state, line);
}

/// [`log`] for callers without a work tree (malformed input).
pub(crate) fn log_in(state_dir: &Path, line: &str) {
    let path = StateFile::HookLog.path_in(state_dir);
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
