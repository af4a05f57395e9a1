//! Codex CLI: its `notify` program payload (`agent-turn-complete` JSON as
//! the last argument) and its hooks (Claude-compatible JSON on stdin) as
//! [`Event`]s, and the `notify` entry in `~/.codex/config.toml`
//! (`$CODEX_HOME/config.toml`). `notify` takes one program: an existing one
//! is kept and chained (`savepoint hook codex --chain <program…>`), and
//! uninstall puts it back.

use std::path::{Path, PathBuf};

use serde_json::Value;
use toml_edit::{Array, DocumentMut, Item};

use super::{Event, Kind};
use crate::error::{Error, Result};

/// The command savepoint puts first in `notify`.
pub const NOTIFY: [&str; 3] = ["savepoint", "hook", "codex"];
/// Separates savepoint's arguments from a chained program's.
pub const CHAIN: &str = "--chain";

/// Parse a `notify` payload (`{"type": "agent-turn-complete", …}`).
pub fn parse_notify(input: &[u8]) -> std::result::Result<Event, String> {
    let p = super::Payload::parse(input, "type")?;
    let s = |k: &str| p.str(k);
    let name = p.name.clone();
    let kind = match name.as_str() {
        "agent-turn-complete" => Kind::TurnEnd,
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

/// The prompts of a `notify` payload (`input-messages`), newest last.
pub fn prompts(input: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(input)
        .ok()
        .and_then(|v| v.get("input-messages").cloned())
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect()
}

/// Parse a Codex hook payload (stdin; the same shape as Claude Code's).
pub fn parse_hook(input: &[u8]) -> std::result::Result<Event, String> {
    let mut e = super::claude::parse(input)?;
    e.agent = "codex";
    Ok(e)
}

/// `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`.
pub fn config_path() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join("config.toml"),
            None => super::settings::home()?.join(".codex").join("config.toml"),
        },
    )
}

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
            reason: e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_owned(),
        })
}

fn write(path: &Path, doc: &DocumentMut) -> Result<()> {
    crate::atomic::write(path, doc.to_string().as_bytes(), crate::atomic::PUBLIC)
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

/// Set `notify` to savepoint (chaining an existing program). `false`:
/// already installed.
pub fn install(path: &Path) -> Result<bool> {
    let mut doc = read(path)?.unwrap_or_default();
    let existing = notify_of(&doc);
    if existing.as_deref().is_some_and(is_ours) {
        return Ok(false);
    }
    let mut arr: Array = NOTIFY.iter().copied().collect();
    if let Some(program) = existing.filter(|p| !p.is_empty()) {
        arr.push(CHAIN);
        for a in program {
            arr.push(a);
        }
    }
    doc.insert("notify", toml_edit::value(arr));
    write(path, &doc)?;
    Ok(true)
}

/// Take savepoint out of `notify` (restoring a chained program). `false`:
/// it was not installed.
pub fn uninstall(path: &Path) -> Result<bool> {
    let Some(mut doc) = read(path)? else {
        return Ok(false);
    };
    let Some(notify) = notify_of(&doc).filter(|n| is_ours(n)) else {
        return Ok(false);
    };
    let chained: Vec<&String> = notify.iter().skip_while(|a| *a != CHAIN).skip(1).collect();
    if chained.is_empty() {
        doc.remove("notify");
    } else {
        let arr: Array = chained.iter().map(|s| s.as_str()).collect();
        doc.insert("notify", Item::Value(toml_edit::Value::Array(arr)));
    }
    if doc.is_empty() && doc.to_string().trim().is_empty() {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    } else {
        write(path, &doc)?;
    }
    Ok(true)
}

/// Is savepoint in `notify`?
pub fn installed(path: &Path) -> Result<bool> {
    Ok(read(path)?
        .and_then(|d| notify_of(&d))
        .is_some_and(|n| is_ours(&n)))
}
