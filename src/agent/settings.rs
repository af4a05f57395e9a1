//! Merging an agent's hook entries into its JSON settings file and taking
//! them out again — Claude Code (`.claude/settings.json`), Gemini CLI
//! (`.gemini/settings.json`) and Cursor (`.cursor/hooks.json`) share the
//! shape `{"hooks": {"<Event>": [entry, …]}}`. An entry is savepoint's when
//! its command (or every command of its nested `hooks`) is exactly one of
//! the template's commands or the bare mark (`savepoint hook <agent>`): a
//! user's own hook that merely mentions it is kept. Every other key and entry is
//! kept; installs are idempotent; a file left empty by an uninstall is
//! removed; an invalid file is an error and stays untouched.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Where an agent's settings live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// In the work tree (shared with the project).
    Project,
    /// In the home directory (every project of this user).
    User,
}

/// `<workdir>/<dir>/<file>` or `~/<dir>/<file>`.
pub fn path(workdir: &Path, scope: Scope, dir: &str, file: &str) -> Result<PathBuf> {
    Ok(match scope {
        Scope::Project => workdir.join(dir).join(file),
        Scope::User => home()?.join(dir).join(file),
    })
}

pub(crate) fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| Error::Io {
            action: "find the home directory (HOME is not set) for",
            path: PathBuf::from("~"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

/// One assistant's hook settings file: where it lives, what savepoint
/// merges into it, and how savepoint's entries are recognised.
#[derive(Debug, Clone, Copy)]
pub struct AgentSettings {
    /// For messages: `Claude Code`, `Gemini CLI`, `Cursor`.
    pub name: &'static str,
    /// `.claude`, `.gemini`, `.cursor` (in the work tree or the home dir).
    pub dir: &'static str,
    /// `settings.json`, `hooks.json`.
    pub file: &'static str,
    /// The entries to merge (the shipped template in `hooks/`).
    pub template: &'static str,
    /// Savepoint's entries run this command.
    pub mark: &'static str,
}

impl AgentSettings {
    pub fn path(&self, workdir: &Path, scope: Scope) -> Result<PathBuf> {
        path(workdir, scope, self.dir, self.file)
    }

    pub fn install(&self, path: &Path) -> Result<Vec<String>> {
        install(path, self.template, self.mark)
    }

    pub fn uninstall(&self, path: &Path) -> Result<Vec<String>> {
        uninstall(path, self.template, self.mark)
    }

    pub fn installed(&self, path: &Path) -> Result<Vec<String>> {
        installed(path, self.template, self.mark)
    }
}

/// The commands savepoint installs: every command of the template, and the
/// bare mark (`savepoint hook claude`). A user's own hook that merely
/// *contains* the mark (a wrapper script, extra arguments) is not ours.
fn our_commands(template: &str, mark: &str) -> Vec<String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(c) = m.get("command").and_then(Value::as_str) {
                    out.push(c.to_owned());
                }
                m.values().for_each(|v| collect(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    // The bare mark, and the command versions before 0.2 installed.
    let mut out = vec![
        mark.to_owned(),
        format!("command -v savepoint >/dev/null 2>&1 && {mark} || true"),
    ];
    let t: Value = serde_json::from_str(template).expect("valid template");
    collect(&t, &mut out);
    out.sort();
    out.dedup();
    out
}

fn is_ours(hook: &Value, ours: &[String]) -> bool {
    hook.get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| ours.iter().any(|o| o == c.trim()))
}

/// The entry is savepoint's alone (a Cursor-style command entry, or a
/// group whose every nested hook is ours).
fn entry_is_ours(entry: &Value, mark: &[String]) -> bool {
    match entry.get("hooks").and_then(Value::as_array) {
        Some(hs) => !hs.is_empty() && hs.iter().all(|h| is_ours(h, mark)),
        None => is_ours(entry, mark),
    }
}

fn entry_has_ours(entry: &Value, mark: &[String]) -> bool {
    match entry.get("hooks").and_then(Value::as_array) {
        Some(hs) => hs.iter().any(|h| is_ours(h, mark)),
        None => is_ours(entry, mark),
    }
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
        Ok(_) => Err(invalid(path, "the top level is not a JSON object".into())),
        Err(e) => Err(invalid(path, e.to_string())),
    }
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::InvalidSettings {
        path: path.to_path_buf(),
        reason,
    }
}

fn write(path: &Path, m: &Map<String, Value>, trailing_newline: bool) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(m).expect("a JSON object serialises");
    if trailing_newline {
        bytes.push(b'\n');
    }
    crate::atomic::write(path, &bytes, crate::atomic::PUBLIC)
        .map_err(|e| Error::io("write", path, e))
}

/// Merge the template's `hooks` (and any top-level key the file lacks, such
/// as Cursor's `version`) into the settings at `path`. Returns the events
/// added (empty: already installed).
pub fn install(path: &Path, template: &str, mark: &str) -> Result<Vec<String>> {
    let mark = &our_commands(template, mark);
    let (mut settings, newline) = read(path)?.unwrap_or((Map::new(), true));
    let template: Value = serde_json::from_str(template).expect("valid template");
    let template = template.as_object().expect("template object");
    for (k, v) in template {
        if k != "hooks" && !settings.contains_key(k) {
            settings.insert(k.clone(), v.clone());
        }
    }
    let ours = template["hooks"].as_object().expect("template hooks");
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(hooks) = hooks.as_object_mut() else {
        return Err(invalid(path, "`hooks` is not a JSON object".into()));
    };
    let mut added = Vec::new();
    for (event, entries) in ours {
        let list = hooks
            .entry(event.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(list) = list.as_array_mut() else {
            return Err(invalid(
                path,
                format!("`hooks.{event}` is not a JSON array"),
            ));
        };
        if list.iter().any(|e| entry_has_ours(e, mark)) {
            continue;
        }
        list.extend(
            entries
                .as_array()
                .expect("template entries")
                .iter()
                .cloned(),
        );
        added.push(event.clone());
    }
    if !added.is_empty() {
        write(path, &settings, newline)?;
    }
    Ok(added)
}

/// Remove savepoint's entries (and only those) from the settings at
/// `path`; top-level keys the template added (e.g. `version`) go too when
/// nothing else is left. Returns the events that changed.
pub fn uninstall(path: &Path, template: &str, mark: &str) -> Result<Vec<String>> {
    let mark = &our_commands(template, mark);
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
            list.retain(|e| !entry_is_ours(e, mark));
            for e in list.iter_mut() {
                if let Some(hs) = e.get_mut("hooks").and_then(Value::as_array_mut) {
                    let n = hs.len();
                    hs.retain(|h| !is_ours(h, mark));
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
    // Keys the template brought along, if they are all that is left.
    let template: Value = serde_json::from_str(template).expect("valid template");
    let extra: Vec<&String> = template
        .as_object()
        .expect("template object")
        .keys()
        .filter(|k| *k != "hooks")
        .collect();
    if settings
        .keys()
        .all(|k| extra.contains(&k) && settings[k] == template[k])
    {
        settings.clear();
    }
    if settings.is_empty() {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    } else {
        write(path, &settings, newline)?;
    }
    Ok(removed)
}

/// The events with savepoint's entry in the settings at `path`.
pub fn installed(path: &Path, template: &str, mark: &str) -> Result<Vec<String>> {
    let mark = &our_commands(template, mark);
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
                        .is_some_and(|l| l.iter().any(|e| entry_has_ours(e, mark)))
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    Ok(out)
}

/// Every entry of a template is recognised as savepoint's (for tests).
pub fn template_is_ours(template: &str, mark: &str) -> bool {
    let mark = &our_commands(template, mark);
    let t: Value = serde_json::from_str(template).expect("valid template");
    t["hooks"].as_object().is_some_and(|h| {
        h.values().all(|l| {
            l.as_array()
                .is_some_and(|l| l.iter().all(|e| entry_is_ours(e, mark)))
        })
    })
}
