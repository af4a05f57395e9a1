//! Codex CLI: its hook payloads (Claude-shaped JSON on stdin) and its
//! `notify` program payload (`agent-turn-complete` JSON as the last
//! argument) as [`Event`]s, and the two ways savepoint plugs into Codex.
//!
//! - **Hooks** (Codex ≥ `HOOKS_SINCE`): savepoint's entries in
//!   `$CODEX_HOME/hooks.json` (`~/.codex/hooks.json`, user level, so no
//!   project has to be trusted) — SessionStart, UserPromptSubmit,
//!   PostToolUse (`apply_patch`, `Bash`), PreCompact, Stop, SessionEnd. Codex
//!   skips a hook silently until it is trusted, and asking for
//!   `hooks install --codex` is the user's consent: savepoint writes the
//!   entry Codex's own `/hooks` review writes, `[hooks.state."<key>"]
//!   trusted_hash = "sha256:…"` in `$CODEX_HOME/config.toml`, with the key
//!   and hash computed as Codex computes them ([`trust_hash`]). Hooks see
//!   a turn that dies on an API error (SessionEnd without Stop); `notify`
//!   does not.
//! - **notify** (older Codex, or Codex not found): `notify` in
//!   `config.toml` takes one program; an existing one is kept and chained
//!   (`savepoint hook codex --chain <program…>`), and uninstall puts it back.
//!
//! Only one of them is installed at a time (installing one takes
//! savepoint's other one out), so a turn is never recorded twice.
//! Uninstall removes whatever savepoint has in either file, byte for byte.
//!
//! Codex's TUI names each task with an internal turn on a thread of its own
//! ("Generate a concise, single-line task title…"); such turns are not the
//! user's and map to [`Kind::Other`] (no snapshot, prompt not recorded).

use super::settings::SettingsProblem;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use toml_edit::{Array, DocumentMut, Item, Table};

use super::adapter::unknown_choice;
use super::settings::AgentSettings;
use super::{transcript, Agent, Change, Choice, Event, Kind, State, StatusLine, Trust};
use crate::error::{Error, Result};

/// The adapter.
pub(crate) struct Codex;

/// For messages.
const TITLE: &str = "Codex CLI";

impl Agent for Codex {
    fn name(&self) -> &'static str {
        "codex"
    }

    fn title(&self) -> &'static str {
        TITLE
    }

    fn hook_doc(&self) -> &'static str {
        "Called by Codex CLI: as its `notify` program (the JSON payload is the last argument; \
         `--chain PROGRAM…` runs a previous notify program too), or as a hook with the payload \
         on stdin"
    }

    fn takes_args(&self) -> bool {
        true
    }

    /// `notify`: the last argument; a hook's is on stdin.
    fn payload_arg<'a>(&self, args: &'a [String]) -> Option<&'a str> {
        args.last().map(String::as_str)
    }

    /// A previous notify program keeps getting its notifications.
    fn forward(&self, args: &[String]) -> std::result::Result<(), String> {
        let Some((payload, rest)) = args.split_last() else {
            return Ok(());
        };
        let Some(pos) = rest.iter().position(|a| a == CHAIN) else {
            return Ok(());
        };
        let Some((program, program_args)) = rest[pos + 1..].split_first() else {
            return Ok(());
        };
        std::process::Command::new(program)
            .args(program_args)
            .arg(payload)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| format!("chained notify program {program} failed: {e}"))
    }

    /// A hook's payload (no arguments), or `notify`'s with the turn's
    /// prompt.
    fn parse(&self, payload: &[u8], args: &[String]) -> std::result::Result<Event, String> {
        if args.is_empty() {
            return parse_hook(payload);
        }
        let mut e = parse_notify(payload)?;
        e.prompt = prompts(payload).pop();
        Ok(e)
    }

    fn transcript(&self) -> Option<transcript::Format> {
        Some(transcript::Format::Codex)
    }

    fn status_provider(&self) -> Option<&'static str> {
        Some("openai")
    }

    fn resume_command(&self, session: Option<&str>) -> Option<String> {
        session.map(|id| format!("codex resume {id}"))
    }

    fn settings(&self) -> &'static AgentSettings {
        &HOOKS
    }

    fn install_doc(&self) -> &'static str {
        "Also Codex CLI ($CODEX_HOME, else ~/.codex): `auto` (the default) installs Codex's own \
         hooks (hooks.json, trusted in config.toml) when the `codex` on PATH is 0.171.0 or newer, \
         and its `notify` program (config.toml; an existing one is chained) otherwise — also when \
         no `codex` is on PATH; `hooks` or `notify` choose. Only one is installed at a time. \
         Uninstall removes both"
    }

    fn choice_name(&self) -> &'static str {
        "MODE"
    }

    fn choices(&self) -> &'static [Choice] {
        MODES
    }

    /// Both files, whatever the mode.
    fn check(&self, _workdir: &Path, _choice: &str) -> Result<()> {
        status(&Files::locate()?).map(drop)
    }

    fn install(&self, _workdir: &Path, choice: &str) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        let mechanism = match choice {
            "hooks" => Mechanism::Hooks,
            "notify" => Mechanism::Notify,
            "auto" => {
                let version = installed_version();
                let m = mechanism_for(version);
                let why = match (m, version) {
                    (Mechanism::Hooks, _) => "its own hooks".to_owned(),
                    (Mechanism::Notify, Some(_)) => format!(
                        "its notify program (savepoint uses Codex's own hooks from {HOOKS_SINCE})"
                    ),
                    (Mechanism::Notify, None) => format!(
                        "its notify program, which every version sends (for Codex {HOOKS_SINCE} \
                         or newer installed elsewhere, `savepoint hooks install --codex=hooks` \
                         installs its own hooks instead)"
                    ),
                };
                out.push(Change::Note(format!(
                    "{TITLE}: {}: using {why}",
                    found(version)
                )));
                m
            }
            other => return Err(unknown_choice(other, MODES)),
        };
        let files = Files::locate_creating()?;
        match mechanism {
            Mechanism::Hooks => {
                let c = install_hooks(&files)?;
                out.push(Change::Entries {
                    agent: TITLE,
                    file: files.hooks.clone(),
                    events: c.hooks,
                });
                if c.trust > 0 {
                    out.push(Change::Note(format!(
                        "{TITLE} hooks trusted in {} (as Codex's /hooks review does; Codex skips \
                         hooks it does not trust)",
                        files.config.display()
                    )));
                }
                if c.switched {
                    out.push(Change::Note(format!(
                        "{TITLE} notify: savepoint's entry taken out of {} (the hooks replace it)",
                        files.config.display()
                    )));
                }
            }
            Mechanism::Notify => {
                let c = install_notify(&files)?;
                out.push(Change::Setting {
                    name: NOTIFY_SETTING,
                    file: files.config.clone(),
                    changed: c.notify,
                });
                if c.switched {
                    out.push(Change::Note(format!(
                        "{TITLE} hooks: savepoint's taken out of {} (notify replaces them)",
                        files.hooks.display()
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Both mechanisms, whatever the mode.
    fn uninstall(&self, _workdir: &Path, _choice: &str) -> Result<Vec<Change>> {
        let files = Files::locate()?;
        let c = uninstall(&files)?;
        let mut out = vec![Change::Entries {
            agent: TITLE,
            file: files.hooks.clone(),
            events: c.hooks,
        }];
        if c.trust > 0 {
            out.push(Change::Note(format!(
                "{TITLE}: savepoint's hook trust entries removed from {} ({})",
                files.config.display(),
                c.trust
            )));
        }
        out.push(Change::Setting {
            name: NOTIFY_SETTING,
            file: files.config,
            changed: c.notify,
        });
        Ok(out)
    }

    fn status(&self, _workdir: &Path) -> Result<Vec<StatusLine>> {
        let version = installed_version();
        let which = match mechanism_for(version) {
            Mechanism::Hooks => "`hooks install --codex` uses its own hooks",
            Mechanism::Notify => "`hooks install --codex` uses notify",
        };
        let mut out = vec![StatusLine::Note(format!(
            "{TITLE}: {}; {which}",
            found(version)
        ))];
        let files = Files::locate()?;
        match status(&files) {
            Err(e) => out.push(StatusLine::File {
                what: TITLE,
                file: files.config,
                state: State::Unreadable(e),
            }),
            Ok(s) => {
                let hooks = if s.hooks.is_empty() {
                    State::Absent
                } else {
                    State::Installed {
                        events: s.hooks,
                        trust: Some(Trust {
                            untrusted: s.untrusted,
                            fix: "Codex skips them: run `savepoint hooks install --codex` again",
                        }),
                    }
                };
                out.push(StatusLine::File {
                    what: "Codex CLI hooks",
                    file: files.hooks,
                    state: hooks,
                });
                out.push(StatusLine::File {
                    what: NOTIFY_SETTING,
                    file: files.config,
                    state: if s.notify {
                        State::Installed {
                            events: Vec::new(),
                            trust: None,
                        }
                    } else {
                        State::Absent
                    },
                });
            }
        }
        Ok(out)
    }
}

/// `hooks install --codex=MODE`.
const MODES: &[Choice] = &[
    Choice {
        name: "auto",
        help: "Codex's own hooks when the `codex` on PATH has them, else `notify`",
    },
    Choice {
        name: "hooks",
        help: "Codex's own hooks (Codex 0.171.0 or newer)",
    },
    Choice {
        name: "notify",
        help: "Codex's `notify` program (every version; no word of a failed turn)",
    },
];

/// `notify` in `config.toml`, for messages.
const NOTIFY_SETTING: &str = "Codex CLI notify";

/// What `codex --version` said, for messages.
fn found(version: Option<Version>) -> String {
    match version {
        Some(v) => format!("the `codex` on PATH is {v}"),
        None => "no `codex` answered on PATH".to_owned(),
    }
}

/// The command savepoint puts first in `notify`.
const NOTIFY: [&str; 3] = ["savepoint", "hook", "codex"];
/// Separates savepoint's arguments from a chained program's.
const CHAIN: &str = "--chain";

/// The entries savepoint merges into `hooks.json` (`hooks/codex-hooks.json`).
const HOOKS_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/hooks/codex-hooks.json"
));

/// How savepoint's hook entries are recognised: their command runs this.
const COMMAND_MARK: &str = "savepoint hook codex";

/// `hooks.json` in `$CODEX_HOME`, edited like the other assistants' files.
const HOOKS: AgentSettings = AgentSettings {
    dir: ".codex",
    file: "hooks.json",
    template: HOOKS_TEMPLATE,
    mark: COMMAND_MARK,
};

/// The oldest Codex whose hooks savepoint installs by default: the version
/// verified end to end (hooks on without a feature flag, SessionEnd fired,
/// the trust hash computed here accepted — see `docs/real-clients.md`).
/// Older versions get `notify`, which every version sends.
pub(crate) const HOOKS_SINCE: Version = Version {
    major: 0,
    minor: 171,
    patch: 0,
    pre: false,
};

/// How long `codex --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The start of the prompt of Codex's internal title-generation turns.
const TITLE_PROMPT: &str = "Generate a concise, single-line task title";

// ---------------------------------------------------------------- payloads

/// Is this prompt one of Codex's own title requests, not the user's?
fn is_title_prompt(prompt: &str) -> bool {
    prompt.trim_start().starts_with(TITLE_PROMPT)
}

/// A title turn's answer: exactly `{"title": "…"}` (Codex asks for that
/// schema).
fn is_title_answer(message: &str) -> bool {
    serde_json::from_str::<Value>(message.trim())
        .ok()
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|o| o.len() == 1 && o.get("title").is_some_and(Value::is_string))
}

/// Parse a `notify` payload (`{"type": "agent-turn-complete", …}`). A turn
/// whose every input message is Codex's title request is [`Kind::Other`].
pub(crate) fn parse_notify(input: &[u8]) -> std::result::Result<Event, String> {
    let p = super::Payload::parse(input, "type")?;
    let s = |k: &str| p.str(k);
    let name = p.name.clone();
    let messages = input_messages(&p);
    let internal = !messages.is_empty() && messages.iter().all(|m| is_title_prompt(m));
    let kind = match name.as_str() {
        "agent-turn-complete" if !internal => Kind::TurnEnd,
        _ => Kind::Other,
    };
    Ok(Event {
        agent: "codex",
        name,
        session: s("thread-id").or_else(|| s("turn-id")),
        cwd: s("cwd").map(PathBuf::from),
        kind,
        prompt: None,
        transcript: s("transcript_path").map(PathBuf::from),
        last_message: s("last-assistant-message"),
    })
}

fn input_messages(p: &super::Payload) -> Vec<String> {
    p.get("input-messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The user's prompts of a `notify` payload (`input-messages`), newest
/// last; Codex's own title requests are left out.
pub(crate) fn prompts(input: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(input)
        .ok()
        .and_then(|v| v.get("input-messages").cloned())
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .filter(|m| !is_title_prompt(m))
        .collect()
}

/// Parse a Codex hook payload (stdin; Claude Code's shape). Codex's own
/// mapping on top of Claude's: PostToolUse `apply_patch` names the files of
/// the patch in `tool_input.command` (relative ones resolved against
/// `cwd`), a shell command (`Bash`) names none; Stop is the turn's end,
/// SessionEnd the session's; a title-generation turn's prompt and Stop are
/// [`Kind::Other`].
pub(crate) fn parse_hook(input: &[u8]) -> std::result::Result<Event, String> {
    let mut e = super::claude::parse(input)?;
    e.agent = "codex";
    let p = super::Payload::parse(input, "hook_event_name")?;
    match &mut e.kind {
        Kind::ToolUse { tool, paths } => {
            *paths = if tool == "apply_patch" {
                let patch = p
                    .nested_strs("tool_input", &["command", "input", "patch"])
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                patch_paths(&patch)
                    .into_iter()
                    .map(|f| match &e.cwd {
                        Some(cwd) if f.is_relative() => cwd.join(f),
                        _ => f,
                    })
                    .collect()
            } else {
                Vec::new()
            };
        }
        Kind::Prompt { text } if is_title_prompt(text) => e.kind = Kind::Other,
        Kind::TurnEnd if e.last_message.as_deref().is_some_and(is_title_answer) => {
            e.kind = Kind::Other;
        }
        _ => {}
    }
    Ok(e)
}

/// The files an `apply_patch` patch touches, in order, each once:
/// `*** Add File: p`, `*** Update File: p`, `*** Delete File: p` and the
/// new name of a move, `*** Move to: p`.
pub(crate) fn patch_paths(patch: &str) -> Vec<PathBuf> {
    const HEADERS: [&str; 4] = [
        "*** Add File: ",
        "*** Update File: ",
        "*** Delete File: ",
        "*** Move to: ",
    ];
    let mut out: Vec<PathBuf> = Vec::new();
    for line in patch.lines() {
        let line = line.trim_end_matches('\r');
        let Some(path) = HEADERS.iter().find_map(|h| line.strip_prefix(h)) else {
            continue;
        };
        let path = PathBuf::from(path.trim());
        if !path.as_os_str().is_empty() && !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

// ----------------------------------------------------------------- files

/// Where Codex keeps what savepoint edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Files {
    /// `$CODEX_HOME/config.toml`: `notify` and the hook trust entries.
    pub config: PathBuf,
    /// `$CODEX_HOME/hooks.json`: the hooks.
    pub hooks: PathBuf,
    /// `hooks.json` as Codex names it in trust keys: `$CODEX_HOME`
    /// canonicalised (as Codex does), `~/.codex` as it is.
    pub key_source: String,
}

impl Files {
    /// `$CODEX_HOME` (else `~/.codex`).
    pub(crate) fn locate() -> Result<Files> {
        match std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
            Some(home) => {
                let home = PathBuf::from(home);
                let canonical = std::fs::canonicalize(&home).unwrap_or_else(|_| home.clone());
                Ok(Files::in_dir(&home, &canonical))
            }
            None => {
                let home = super::settings::home()?.join(".codex");
                Ok(Files::in_dir(&home, &home))
            }
        }
    }

    /// The files in `dir`, named `key_dir` in Codex's trust keys.
    pub(crate) fn in_dir(dir: &Path, key_dir: &Path) -> Files {
        Files {
            config: dir.join("config.toml"),
            hooks: dir.join("hooks.json"),
            key_source: key_dir.join("hooks.json").display().to_string(),
        }
    }

    /// [`Files::locate`] after making `$CODEX_HOME` exist (Codex
    /// canonicalises it, which needs it to exist).
    pub(crate) fn locate_creating() -> Result<Files> {
        if let Some(home) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
            std::fs::create_dir_all(&home).map_err(|e| Error::io("create", Path::new(&home), e))?;
        }
        Files::locate()
    }
}

// --------------------------------------------------------------- version

/// A Codex version (`codex-cli 0.171.0`); a pre-release sorts before its
/// release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `-alpha.2` and the like.
    pub pre: bool,
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch, !self.pre).cmp(&(
            other.major,
            other.minor,
            other.patch,
            !other.pre,
        ))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if self.pre {
            f.write_str(" (pre-release)")?;
        }
        Ok(())
    }
}

/// The first `X.Y.Z[-pre]` word of `codex --version`'s output.
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    text.split_whitespace().find_map(|word| {
        let word = word.trim_start_matches('v');
        let (core, pre) = match word.find(['-', '+']) {
            Some(i) => (&word[..i], word[i..].starts_with('-')),
            None => (word, false),
        };
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) => Some(Version {
                major,
                minor,
                patch,
                pre,
            }),
            _ => None,
        }
    })
}

/// The version of the `codex` on `PATH`: `None` when there is none (or it
/// does not answer `--version` within a few seconds).
pub(crate) fn installed_version() -> Option<Version> {
    let mut child = std::process::Command::new("codex")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < VERSION_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    use std::io::Read;
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    parse_version(&out)
}

/// How savepoint plugs into Codex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// Codex's own hooks (`hooks.json`, trusted in `config.toml`).
    Hooks,
    /// The `notify` program (`agent-turn-complete` only).
    Notify,
}

/// Hooks for a Codex that has them (≥ [`HOOKS_SINCE`]); `notify` for an
/// older one, and when no `codex` was found (it works with every version).
pub(crate) fn mechanism_for(version: Option<Version>) -> Mechanism {
    match version {
        Some(v) if v >= HOOKS_SINCE => Mechanism::Hooks,
        _ => Mechanism::Notify,
    }
}

// ----------------------------------------------------------------- trust

/// Codex's name for a hook event in trust keys (`PostToolUse` →
/// `post_tool_use`).
fn event_label(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The trust hash Codex gives a command hook (its `hooks/list`
/// `currentHash`): SHA-256 of the compact, key-sorted JSON of the hook's
/// normalised identity — the event's label, the group's matcher (for events
/// that take one), and the one handler with its timeout defaulted and
/// clamped as Codex runs it. Verified against hashes Codex 0.171.0 wrote.
pub fn trust_hash(event: &str, matcher: Option<&str>, handler: &Value) -> String {
    let label = event_label(event);
    let matcher = match label.as_str() {
        "user_prompt_submit" | "stop" | "interrupt" => None,
        _ => matcher.map(str::trim).filter(|m| !m.is_empty()),
    };
    let timeout = handler.get("timeout").and_then(Value::as_u64);
    let timeout = match label.as_str() {
        "session_end" | "interrupt" => timeout.unwrap_or(1).clamp(1, 3),
        _ => timeout.unwrap_or(600).max(1),
    };
    let mut hook = serde_json::Map::new();
    hook.insert("type".into(), "command".into());
    hook.insert(
        "command".into(),
        handler.get("command").cloned().unwrap_or(Value::Null),
    );
    hook.insert("timeout".into(), timeout.into());
    hook.insert(
        "async".into(),
        handler
            .get("async")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .into(),
    );
    if let Some(m) = handler.get("statusMessage").filter(|m| m.is_string()) {
        hook.insert("statusMessage".into(), m.clone());
    }
    let mut identity = serde_json::Map::new();
    identity.insert("event_name".into(), label.into());
    identity.insert("hooks".into(), Value::Array(vec![Value::Object(hook)]));
    if let Some(m) = matcher {
        identity.insert("matcher".into(), m.into());
    }
    let canonical = canonical_json(&Value::Object(identity));
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Compact JSON with every object's keys sorted.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        canonical_json(&m[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// One of savepoint's hooks as Codex identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustEntry {
    pub event: String,
    /// `<hooks.json>:<event_label>:<group>:<handler>`.
    pub key: String,
    pub hash: String,
}

/// savepoint's hooks in `hooks.json` (read as Codex reads it: plain JSON),
/// with their trust keys and hashes.
fn our_hooks(files: &Files) -> Result<Vec<TrustEntry>> {
    let text = match std::fs::read_to_string(&files.hooks) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &files.hooks, e)),
    };
    let v: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        Error::InvalidSettings {
            path: files.hooks.clone(),
            problem: SettingsProblem::PlainJson(e),
        }
    })?;
    let ours = super::settings::our_commands(HOOKS_TEMPLATE, COMMAND_MARK);
    let mut out = Vec::new();
    let Some(events) = v.get("hooks").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (event, groups) in events {
        let label = event_label(event);
        for (g, group) in groups.as_array().into_iter().flatten().enumerate() {
            let matcher = group.get("matcher").and_then(Value::as_str);
            for (h, handler) in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let is_ours = handler
                    .get("command")
                    .and_then(Value::as_str)
                    .is_some_and(|c| ours.iter().any(|o| o == c.trim()));
                if is_ours {
                    out.push(TrustEntry {
                        event: event.clone(),
                        key: format!("{}:{label}:{g}:{h}", files.key_source),
                        hash: trust_hash(event, matcher, handler),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The hashes of every hook of the template: how savepoint's trust entries
/// are recognised, wherever its hooks sit in `hooks.json`.
fn template_hashes() -> BTreeSet<String> {
    let t: Value = serde_json::from_str(HOOKS_TEMPLATE).expect("valid template");
    let mut out = BTreeSet::new();
    for (event, groups) in t["hooks"].as_object().expect("template hooks") {
        for group in groups.as_array().expect("template groups") {
            let matcher = group.get("matcher").and_then(Value::as_str);
            for handler in group["hooks"].as_array().expect("template handlers") {
                out.insert(trust_hash(event, matcher, handler));
            }
        }
    }
    out
}

fn state_table(doc: &DocumentMut) -> Option<&Table> {
    doc.get("hooks")?.as_table()?.get("state")?.as_table()
}

/// The trusted hash `config.toml` holds for `key`.
fn trusted(doc: &DocumentMut, key: &str) -> Option<String> {
    state_table(doc)?
        .get(key)?
        .as_table_like()?
        .get("trusted_hash")?
        .as_str()
        .map(str::to_owned)
}

fn implicit_table() -> Item {
    let mut t = Table::new();
    t.set_implicit(true);
    Item::Table(t)
}

/// Make `config.toml` trust exactly `entries` of savepoint's hooks: their
/// `[hooks.state."<key>"] trusted_hash`, and no stale one of savepoint's
/// (a hook that moved). `true` when the document changed.
fn set_trust(
    path: &Path,
    doc: &mut DocumentMut,
    files: &Files,
    entries: &[TrustEntry],
) -> Result<bool> {
    let mut changed = remove_trust(doc, files, |key| entries.iter().any(|e| e.key == key));
    let not_a_table = |what: &str| Error::InvalidSettings {
        path: path.to_path_buf(),
        problem: SettingsProblem::NotATable(what.to_owned()),
    };
    for e in entries {
        if trusted(doc, &e.key).as_deref() == Some(e.hash.as_str()) {
            continue;
        }
        let hooks = doc
            .entry("hooks")
            .or_insert_with(implicit_table)
            .as_table_mut()
            .ok_or_else(|| not_a_table("hooks"))?;
        let state = hooks
            .entry("state")
            .or_insert_with(implicit_table)
            .as_table_mut()
            .ok_or_else(|| not_a_table("hooks.state"))?;
        let entry = state
            .entry(&e.key)
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(&format!("hooks.state.\"{}\"", e.key)))?;
        entry.insert("trusted_hash", toml_edit::value(e.hash.clone()));
        changed = true;
    }
    Ok(changed)
}

/// Take savepoint's trust entries (a key of its `hooks.json` whose trusted
/// hash is one of savepoint's hooks') out of `config.toml`, except those
/// `keep` names; tables left empty go. `true` when the document changed.
fn remove_trust(doc: &mut DocumentMut, files: &Files, keep: impl Fn(&str) -> bool) -> bool {
    let ours = template_hashes();
    let prefix = format!("{}:", files.key_source);
    let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_mut) else {
        return false;
    };
    let Some(state) = hooks.get_mut("state").and_then(Item::as_table_mut) else {
        return false;
    };
    let mut changed = false;
    let keys: Vec<String> = state.iter().map(|(k, _)| k.to_owned()).collect();
    for key in keys {
        if !key.starts_with(&prefix) || keep(&key) {
            continue;
        }
        let Some(entry) = state.get_mut(&key).and_then(Item::as_table_like_mut) else {
            continue;
        };
        if !entry
            .get("trusted_hash")
            .and_then(Item::as_str)
            .is_some_and(|h| ours.contains(h))
        {
            continue;
        }
        entry.remove("trusted_hash");
        if entry.is_empty() {
            state.remove(&key);
        }
        changed = true;
    }
    if changed && state.is_empty() {
        hooks.remove("state");
    }
    if changed && hooks.is_empty() {
        doc.remove("hooks");
    }
    changed
}

// ---------------------------------------------------------- config.toml

fn read(path: &Path) -> Result<Option<DocumentMut>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    text.parse::<DocumentMut>()
        .map(Some)
        .map_err(|e| Error::InvalidSettings {
            path: path.to_path_buf(),
            problem: SettingsProblem::Toml(e),
        })
}

/// Write the document, or remove the file when savepoint's edits left it
/// empty.
fn write(path: &Path, doc: &DocumentMut) -> Result<()> {
    if doc.is_empty() && doc.to_string().trim().is_empty() {
        return match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        };
    }
    crate::fs::atomic::write(path, doc.to_string().as_bytes(), crate::fs::atomic::PUBLIC)
        .map_err(|e| Error::io("write", path, e))
}

fn notify_of(doc: &DocumentMut) -> Option<Vec<String>> {
    doc.get("notify")?.as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

fn is_ours(notify: &[String]) -> bool {
    notify.len() >= NOTIFY.len() && notify[..NOTIFY.len()] == NOTIFY
}

/// Set `notify` to savepoint, chaining an existing program. `false`:
/// already there.
fn set_notify(doc: &mut DocumentMut) -> bool {
    let existing = notify_of(doc);
    if existing.as_deref().is_some_and(is_ours) {
        return false;
    }
    let mut arr: Array = NOTIFY.iter().copied().collect();
    if let Some(program) = existing.filter(|p| !p.is_empty()) {
        arr.push(CHAIN);
        for a in program {
            arr.push(a);
        }
    }
    doc.insert("notify", toml_edit::value(arr));
    true
}

/// Take savepoint out of `notify`, restoring a chained program. `false`:
/// it was not there.
fn remove_notify(doc: &mut DocumentMut) -> bool {
    let Some(notify) = notify_of(doc).filter(|n| is_ours(n)) else {
        return false;
    };
    let chained: Vec<&String> = notify.iter().skip_while(|a| *a != CHAIN).skip(1).collect();
    if chained.is_empty() {
        doc.remove("notify");
    } else {
        let arr: Array = chained.iter().map(|s| s.as_str()).collect();
        doc.insert("notify", Item::Value(toml_edit::Value::Array(arr)));
    }
    true
}

// --------------------------------------------------------------- install

/// What an install or uninstall changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Hook events added to (or removed from) `hooks.json`.
    pub hooks: Vec<String>,
    /// Trust entries written to (or removed from) `config.toml`.
    pub trust: usize,
    /// `notify` set (or taken out).
    pub notify: bool,
    /// savepoint's other mechanism taken out (an install switching from
    /// `notify` to hooks or back).
    pub switched: bool,
}

/// Install savepoint's hooks in `hooks.json`, trust them in `config.toml`
/// and take savepoint's `notify` out. Both files are checked before either
/// is written.
pub(crate) fn install_hooks(files: &Files) -> Result<Changes> {
    let mut doc = read(&files.config)?.unwrap_or_default();
    our_hooks(files)?; // hooks.json is plain JSON (what Codex reads)
    let hooks = HOOKS.install(&files.hooks)?;
    let entries = our_hooks(files)?;
    let trusted = set_trust(&files.config, &mut doc, files, &entries)?;
    let switched = remove_notify(&mut doc);
    if trusted || switched {
        write(&files.config, &doc)?;
    }
    let trust = if trusted { entries.len() } else { 0 };
    Ok(Changes {
        hooks,
        trust,
        notify: false,
        switched,
    })
}

/// Set `notify` in `config.toml` (chaining an existing program) and take
/// savepoint's hooks and their trust entries out.
pub(crate) fn install_notify(files: &Files) -> Result<Changes> {
    let mut doc = read(&files.config)?.unwrap_or_default();
    HOOKS.installed(&files.hooks)?; // readable before anything is written
    let notify = set_notify(&mut doc);
    let trust_removed = remove_trust(&mut doc, files, |_| false);
    let hooks_removed = HOOKS.uninstall(&files.hooks)?;
    if notify || trust_removed {
        write(&files.config, &doc)?;
    }
    Ok(Changes {
        hooks: Vec::new(),
        trust: 0,
        notify,
        switched: trust_removed || !hooks_removed.is_empty(),
    })
}

/// Remove everything savepoint has in either file: its hooks, their trust
/// entries, its `notify` (a chained program is put back). A file left
/// empty by that is removed.
pub(crate) fn uninstall(files: &Files) -> Result<Changes> {
    let mut doc = read(&files.config)?;
    HOOKS.installed(&files.hooks)?;
    let hooks = HOOKS.uninstall(&files.hooks)?;
    let mut changes = Changes {
        hooks,
        ..Changes::default()
    };
    if let Some(doc) = doc.as_mut() {
        let before = doc.to_string();
        let trust_before = state_table(doc).map_or(0, Table::len);
        remove_trust(doc, files, |_| false);
        changes.trust = trust_before - state_table(doc).map_or(0, Table::len);
        changes.notify = remove_notify(doc);
        if doc.to_string() != before {
            write(&files.config, doc)?;
        }
    }
    Ok(changes)
}

/// What savepoint has installed for Codex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Status {
    /// Events with savepoint's hook in `hooks.json`.
    pub hooks: Vec<String>,
    /// Of those, the events Codex would skip: not trusted, or trusted for
    /// another position or version of the hook (re-running the install
    /// fixes it).
    pub untrusted: Vec<String>,
    /// savepoint is the `notify` program.
    pub notify: bool,
}

pub(crate) fn status(files: &Files) -> Result<Status> {
    let doc = read(&files.config)?.unwrap_or_default();
    let entries = our_hooks(files)?;
    let mut hooks: Vec<String> = entries.iter().map(|e| e.event.clone()).collect();
    hooks.sort();
    hooks.dedup();
    let mut untrusted: Vec<String> = entries
        .iter()
        .filter(|e| trusted(&doc, &e.key).as_deref() != Some(e.hash.as_str()))
        .map(|e| e.event.clone())
        .collect();
    untrusted.sort();
    untrusted.dedup();
    Ok(Status {
        hooks,
        untrusted,
        notify: notify_of(&doc).is_some_and(|n| is_ours(&n)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let v = parse_version("codex-cli 0.171.0\n").unwrap();
        assert_eq!((v.major, v.minor, v.patch, v.pre), (0, 171, 0, false));
        let alpha = parse_version("codex-cli 0.171.0-alpha.4").unwrap();
        assert!(alpha.pre && alpha < v);
        assert!(parse_version("codex-cli 0.170.9").unwrap() < v);
        assert!(parse_version("codex-cli 1.2.0").unwrap() > v);
        assert_eq!(parse_version("codex-cli"), None);
        assert_eq!(parse_version("error: 1.2"), None);
        assert_eq!(mechanism_for(Some(v)), Mechanism::Hooks);
        assert_eq!(mechanism_for(Some(alpha)), Mechanism::Notify);
        assert_eq!(mechanism_for(None), Mechanism::Notify);
    }

    /// The hashes Codex 0.171.0 itself wrote (its app-server `hooks/list`
    /// `currentHash`, captured in `docs/real-clients/`) for the capture's
    /// hooks.json.
    #[test]
    fn trust_hashes_match_what_codex_computes() {
        let cmd = |e: &str| format!("/tmp/e2e-probe/logger.sh codex-trusted {e}");
        let cases = [
            (
                "Stop",
                None,
                None,
                "4132347f9c068f4c6fbac0bb69c8633a0d9be091e1aca3fbd5ad781d69a2fca4",
            ),
            (
                "PreToolUse",
                Some("*"),
                None,
                "28cbefbdd6a4b55fd149dc9f02223eafe91fb2efbc1f572a93d302c5738023c4",
            ),
            (
                "PostToolUse",
                Some("*"),
                None,
                "e682818f890aa70ad016fa76b6f38f856e3a1620ef78a882a2c53c4575d9f0f7",
            ),
            (
                "SessionStart",
                None,
                None,
                "46eaebaee726b1d1b2cdb5b3bf9bd6bdbe848e3473c1ab5f8d5ee83954fc5c78",
            ),
            (
                "UserPromptSubmit",
                None,
                None,
                "3a371020b261988e6a170119c0f98356d34a8720af608a82b51ae66537f28453",
            ),
            (
                "PreCompact",
                None,
                None,
                "0388d562376fbc4ceda93eece9f7d96dd20607f6cf0608e81615be931d8770f5",
            ),
            // SessionEnd's timeout defaults to 1 s (clamped to 1–3).
            (
                "SessionEnd",
                None,
                None,
                "9ddbd40f03db5dd4d302087e1b60d86c17e9b264bed70e93d0ed3311768fb58d",
            ),
            (
                "SessionEnd",
                None,
                Some(1),
                "9ddbd40f03db5dd4d302087e1b60d86c17e9b264bed70e93d0ed3311768fb58d",
            ),
            (
                "PreModelRequest",
                None,
                None,
                "0fafa8cb105c53406689eb66ef959070643790eae52531af5093af5d9f258f2a",
            ),
            (
                "PermissionRequest",
                Some("*"),
                None,
                "ad8291f2746cb42e5fdeb19843365530ae2c1e895aa4971eca746b268532e072",
            ),
        ];
        for (event, matcher, timeout, want) in cases {
            let mut handler = serde_json::json!({"type": "command", "command": cmd(event)});
            if let Some(t) = timeout {
                handler["timeout"] = t.into();
            }
            assert_eq!(
                trust_hash(event, matcher, &handler),
                format!("sha256:{want}"),
                "{event}"
            );
        }
        // A matcher on an event that takes none is not part of the hash.
        let h = serde_json::json!({"type": "command", "command": cmd("Stop")});
        assert_eq!(
            trust_hash("Stop", Some("x"), &h),
            trust_hash("Stop", None, &h)
        );
        assert_eq!(event_label("UserPromptSubmit"), "user_prompt_submit");
    }

    #[test]
    fn patch_paths_name_every_file_once() {
        let patch = "*** Begin Patch\n*** Add File: new.txt\n+hi\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Move to: src/b.rs\n*** Delete File: old.txt\r\n*** Update File: src/a.rs\n*** End Patch\n";
        assert_eq!(
            patch_paths(patch),
            ["new.txt", "src/a.rs", "src/b.rs", "old.txt"].map(PathBuf::from)
        );
        assert!(patch_paths("printf hi > x").is_empty());
    }

    #[test]
    fn title_turns_are_not_the_users() {
        let title = r#"{"type":"agent-turn-complete","thread-id":"t2","turn-id":"1","cwd":"/r","client":"codex-tui","input-messages":["Generate a concise, single-line task title of at most 36 characters and under five words where possible. Do not answer the request.\n\nUser prompt:\nFix the parser"],"last-assistant-message":"{\"title\":\"Fix the parser\"}"}"#;
        assert_eq!(parse_notify(title.as_bytes()).unwrap().kind, Kind::Other);
        assert!(prompts(title.as_bytes()).is_empty());
        let user = title.replace("Generate a concise", "Please generate a concise");
        assert_eq!(parse_notify(user.as_bytes()).unwrap().kind, Kind::TurnEnd);
        assert_eq!(prompts(user.as_bytes()).len(), 1);
        assert!(is_title_answer(r#"{"title":"Fix the parser"}"#));
        assert!(!is_title_answer(r#"{"title":"x","body":"y"}"#));
        assert!(!is_title_answer("Done: title fixed."));
    }

    /// Every captured Codex 0.171.0 hook payload (and the constructed ones
    /// for a multi-file patch and a title turn) maps as documented.
    #[test]
    fn hook_fixtures_map_to_events() {
        macro_rules! fixture {
            ($f:literal) => {
                parse_hook(include_bytes!(concat!("../../../fixtures/codex/", $f))).unwrap()
            };
        }
        let project = PathBuf::from("/home/dev/project");
        let e = fixture!("hook-SessionStart.json");
        assert_eq!(
            e.kind,
            Kind::SessionStart {
                source: Some("startup".into())
            }
        );
        assert_eq!(e.trigger(), "codex:SessionStart");
        assert_eq!(
            e.session.as_deref(),
            Some("01a21c28-4042-7602-b224-fb12b693c02e")
        );
        assert!(e
            .transcript
            .unwrap()
            .ends_with("rollout-2026-11-27T08-38-49-01a21c28-4042-7602-b224-fb12b693c02e.jsonl"));
        assert_eq!(
            fixture!("hook-UserPromptSubmit.json").kind,
            Kind::Prompt {
                text: "Create a file mock_hello.txt".into()
            }
        );
        assert_eq!(
            fixture!("hook-PreToolUse-apply_patch.json").kind,
            Kind::Other
        );
        assert_eq!(
            fixture!("hook-PostToolUse-apply_patch.json").kind,
            Kind::ToolUse {
                tool: "apply_patch".into(),
                paths: vec![project.join("mock_hello.txt")]
            }
        );
        assert_eq!(
            fixture!("hook-PostToolUse-apply_patch-multi.json").kind,
            Kind::ToolUse {
                tool: "apply_patch".into(),
                paths: [
                    "src/parser.rs",
                    "src/error.rs",
                    "src/syntax_error.rs",
                    "src/old.rs",
                    "tests/syntax.rs"
                ]
                .iter()
                .map(|p| project.join(p))
                .collect()
            }
        );
        assert_eq!(
            fixture!("hook-PostToolUse-Bash.json").kind,
            Kind::ToolUse {
                tool: "Bash".into(),
                paths: Vec::new()
            }
        );
        let stop = fixture!("hook-Stop.json");
        assert_eq!(stop.kind, Kind::TurnEnd);
        assert_eq!(stop.last_message.as_deref(), Some("MOCK DONE"));
        assert_eq!(
            fixture!("hook-SessionEnd.json").kind,
            Kind::SessionEnd {
                reason: Some("other".into())
            }
        );
        assert_eq!(
            fixture!("hook-SessionEnd-after-529.json").kind,
            Kind::SessionEnd {
                reason: Some("other".into())
            }
        );
        assert_eq!(fixture!("hook-PostModelRequest-529.json").kind, Kind::Other);
        assert_eq!(
            fixture!("hook-UserPromptSubmit-title.json").kind,
            Kind::Other
        );
        assert_eq!(fixture!("hook-Stop-title.json").kind, Kind::Other);
        let n = parse_notify(include_bytes!(
            "../../../fixtures/codex/notify-agent-turn-complete.json"
        ))
        .unwrap();
        assert_eq!(n.kind, Kind::TurnEnd);
        assert_eq!(
            n.session.as_deref(),
            Some("01a21c28-4042-7602-b224-fb12b693c02e")
        );
        let t = include_bytes!("../../../fixtures/codex/notify-title-generation.json");
        assert_eq!(parse_notify(t).unwrap().kind, Kind::Other);
        assert!(prompts(t).is_empty());
    }

    #[test]
    fn template_hooks_are_recognised_and_hash_apart() {
        assert!(super::super::settings::template_is_ours(
            HOOKS_TEMPLATE,
            COMMAND_MARK
        ));
        // One hash per hook: trust entries are told apart by them.
        assert_eq!(template_hashes().len(), 6);
    }
}
