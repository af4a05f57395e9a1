//! Claude Code: its hook payloads (JSON on stdin) as [`Event`]s, and the
//! entries savepoint merges into `.claude/settings.json`.
//!
//! Payload fields read: `hook_event_name`, `session_id`, `cwd`, `prompt`
//! (UserPromptSubmit), `tool_name` and `tool_input.file_path` /
//! `notebook_path` / `path` (PostToolUse), `source` (SessionStart),
//! `reason` (SessionEnd), `error_type` / `error` / `error_message`
//! (StopFailure). Everything else is ignored, unknown events included.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Event, Kind};
use crate::error::{Error, Result};

/// The settings entries savepoint installs (`hooks/claude-settings.json`).
pub const SETTINGS_TEMPLATE: &str = include_str!("../../hooks/claude-settings.json");

/// How savepoint's entries are recognised: their command runs this.
pub const COMMAND_MARK: &str = "savepoint hook claude";

/// Parse a hook payload.
pub fn parse(input: &[u8]) -> std::result::Result<Event, String> {
    let v: Value = serde_json::from_slice(input).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("the payload is not a JSON object")?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let name = s("hook_event_name").ok_or("no hook_event_name")?;
    let kind = match name.as_str() {
        "SessionStart" => Kind::SessionStart {
            source: s("source"),
        },
        "UserPromptSubmit" => Kind::Prompt {
            text: s("prompt").unwrap_or_default(),
        },
        "PostToolUse" => {
            let input = obj.get("tool_input").and_then(Value::as_object);
            let paths = ["file_path", "notebook_path", "path"]
                .iter()
                .filter_map(|k| input.and_then(|i| i.get(*k)).and_then(Value::as_str))
                .map(PathBuf::from)
                .collect();
            Kind::ToolUse {
                tool: s("tool_name").unwrap_or_else(|| "unknown".into()),
                paths,
            }
        }
        "Stop" | "SubagentStop" => Kind::TurnEnd,
        "StopFailure" => Kind::TurnFailed {
            error: [s("error_type"), s("error"), s("error_message")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
        },
        "PreCompact" => Kind::PreCompact,
        "SessionEnd" => Kind::SessionEnd {
            reason: s("reason"),
        },
        _ => Kind::Other,
    };
    Ok(Event {
        agent: "claude",
        name,
        session: s("session_id"),
        cwd: s("cwd").map(PathBuf::from),
        kind,
    })
}

/// Where the settings live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// `.claude/settings.json` in the work tree (shared with the project).
    Project,
    /// `~/.claude/settings.json` (every project of this user).
    User,
}

pub fn settings_path(workdir: &Path, scope: Scope) -> Result<PathBuf> {
    Ok(match scope {
        Scope::Project => workdir.join(".claude").join("settings.json"),
        Scope::User => {
            let home = std::env::var_os("HOME").ok_or_else(|| Error::Io {
                action: "find the home directory for",
                path: PathBuf::from("~/.claude/settings.json"),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })?;
            PathBuf::from(home).join(".claude").join("settings.json")
        }
    })
}

fn is_ours(hook: &Value) -> bool {
    hook.get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains(COMMAND_MARK))
}

fn group_is_ours(group: &Value) -> bool {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|hs| !hs.is_empty() && hs.iter().all(is_ours))
}

fn group_has_ours(group: &Value) -> bool {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|hs| hs.iter().any(is_ours))
}

/// Read a settings file: `None` when missing; an error naming the file when
/// it is not a JSON object (and then nothing is written).
fn read(path: &Path) -> Result<Option<(Map<String, Value>, bool)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let trailing_newline = bytes.ends_with(b"\n");
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some((m, trailing_newline))),
        Ok(_) => Err(Error::InvalidSettings {
            path: path.to_path_buf(),
            reason: "the top level is not a JSON object".into(),
        }),
        Err(e) => Err(Error::InvalidSettings {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn write(path: &Path, m: &Map<String, Value>, trailing_newline: bool) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(m).expect("a JSON object serialises");
    if trailing_newline {
        bytes.push(b'\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    let tmp = path.with_extension("json.savepoint-tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write", path, e))
}

/// Merge savepoint's entries into the settings at `path`, keeping every
/// other key and hook. Returns the events that were added (empty: already
/// installed).
pub fn install(path: &Path) -> Result<Vec<String>> {
    let (mut settings, newline) = read(path)?.unwrap_or((Map::new(), true));
    let template: Value = serde_json::from_str(SETTINGS_TEMPLATE).expect("valid template");
    let ours = template["hooks"].as_object().expect("template hooks");
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(hooks) = hooks.as_object_mut() else {
        return Err(Error::InvalidSettings {
            path: path.to_path_buf(),
            reason: "`hooks` is not a JSON object".into(),
        });
    };
    let mut added = Vec::new();
    for (event, groups) in ours {
        let list = hooks
            .entry(event.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(list) = list.as_array_mut() else {
            return Err(Error::InvalidSettings {
                path: path.to_path_buf(),
                reason: format!("`hooks.{event}` is not a JSON array"),
            });
        };
        if list.iter().any(group_has_ours) {
            continue;
        }
        list.extend(groups.as_array().expect("template groups").iter().cloned());
        added.push(event.clone());
    }
    if !added.is_empty() {
        write(path, &settings, newline)?;
    }
    Ok(added)
}

/// Remove savepoint's entries (and only those). Returns the events that
/// changed. A file left empty (`{}`) is deleted.
pub fn uninstall(path: &Path) -> Result<Vec<String>> {
    let Some((mut settings, newline)) = read(path)? else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    if let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) {
        for (event, list) in hooks.iter_mut() {
            let Some(list) = list.as_array_mut() else {
                continue;
            };
            let before = list.len();
            // Whole groups of ours go; ours inside a shared group go alone.
            list.retain(|g| !group_is_ours(g));
            for g in list.iter_mut() {
                if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                    let n = hs.len();
                    hs.retain(|h| !is_ours(h));
                    if hs.len() != n {
                        removed.push(event.clone());
                    }
                }
            }
            if list.len() != before {
                removed.push(event.clone());
            }
        }
        for event in &removed {
            if hooks
                .get(event)
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                hooks.remove(event);
            }
        }
        if hooks.is_empty() && !removed.is_empty() {
            settings.remove("hooks");
        }
    }
    removed.sort();
    removed.dedup();
    if removed.is_empty() {
        return Ok(removed);
    }
    if settings.is_empty() {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    } else {
        write(path, &settings, newline)?;
    }
    Ok(removed)
}

/// The events with savepoint's entry in the settings at `path`.
pub fn installed(path: &Path) -> Result<Vec<String>> {
    let Some((settings, _)) = read(path)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = settings
        .get("hooks")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter(|(_, list)| {
                    list.as_array()
                        .is_some_and(|l| l.iter().any(group_has_ours))
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_map_to_events() {
        let e = parse(br#"{"session_id":"s","cwd":"/r","hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"file_path":"/r/a.rs","content":"x"}}"#).unwrap();
        assert_eq!(e.trigger(), "claude:PostToolUse");
        assert_eq!(
            e.kind,
            Kind::ToolUse {
                tool: "Write".into(),
                paths: vec!["/r/a.rs".into()]
            }
        );
        let e = parse(br#"{"hook_event_name":"StopFailure","error_type":"server_error","error_message":"overloaded"}"#).unwrap();
        assert_eq!(
            e.kind,
            Kind::TurnFailed {
                error: "server_error: overloaded".into()
            }
        );
        assert_eq!(
            parse(br#"{"hook_event_name":"Notification"}"#)
                .unwrap()
                .kind,
            Kind::Other
        );
        assert!(parse(b"{").is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"session_id":"s"}"#).is_err());
    }

    #[test]
    fn template_is_valid_and_every_entry_is_recognised() {
        let t: Value = serde_json::from_str(SETTINGS_TEMPLATE).unwrap();
        let hooks = t["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), 7);
        assert!(hooks
            .values()
            .all(|l| l.as_array().unwrap().iter().all(group_is_ours)));
        assert_eq!(
            hooks["PostToolUse"][0]["matcher"],
            "Edit|Write|MultiEdit|NotebookEdit|Bash"
        );
    }
}
