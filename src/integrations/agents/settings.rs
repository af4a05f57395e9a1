//! Merging an agent's hook entries into its JSON settings file and taking
//! them out again — Claude Code (`.claude/settings.json`), Gemini CLI
//! (`.gemini/settings.json`), Cursor (`.cursor/hooks.json`) and Codex CLI
//! (`$CODEX_HOME/hooks.json`) share the shape `{"hooks": {"<Event>":
//! [entry, …]}}`. An entry is savepoint's when its command (or every
//! command of its nested `hooks`) is exactly one of the template's commands
//! or the bare mark (`savepoint hook <agent>`): a user's own hook that
//! merely mentions it is kept.
//!
//! One editor for all of them: the file is read as JSON with comments
//! (Gemini CLI allows `//` and `/* */`; plain JSON is a special case) into
//! a concrete syntax tree, and only savepoint's entries are added or taken
//! out, so every comment, key order, indent, line ending (CRLF stays CRLF)
//! and a byte-order mark stay as the user wrote them. An uninstall after an
//! install gives the file back byte for byte, except where the install had
//! to change the user's own layout: a one-line object it added to is spread
//! over lines, and an empty `hooks` object or event list the user had is
//! removed with savepoint's last entry. A file savepoint created is removed
//! when nothing but savepoint's entries was in it. Installs are idempotent;
//! an invalid file (including trailing commas, which the assistants refuse
//! too) is an error naming the file, and it stays untouched.

use std::path::{Path, PathBuf};

use jsonc_parser::cst::{
    CstArray, CstContainerNode, CstInputValue, CstLeafNode, CstNode, CstObject, CstObjectProp,
    CstRootNode,
};
use jsonc_parser::errors::ParseErrorKind;
use jsonc_parser::ParseOptions;
use serde_json::Value;

use super::adapter::{unknown_choice, Choice};
use crate::error::{Error, Result};

/// Where an agent's settings live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// In the work tree (shared with the project).
    Project,
    /// In the home directory (every project of this user).
    User,
}

impl Scope {
    pub(crate) const ALL: [Scope; 2] = [Scope::Project, Scope::User];

    /// The scopes as `hooks install --<agent>=SCOPE` offers them.
    pub(crate) const CHOICES: &'static [Choice] = &[
        Choice {
            name: "project",
            help: "In the work tree (shared with the project)",
        },
        Choice {
            name: "user",
            help: "In the home directory (every project of this user)",
        },
    ];
}

impl std::str::FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Scope> {
        match s {
            "project" => Ok(Scope::Project),
            "user" => Ok(Scope::User),
            _ => Err(unknown_choice(s, Scope::CHOICES)),
        }
    }
}

/// `<workdir>/<dir>/<file>` or `~/<dir>/<file>`.
fn path(workdir: &Path, scope: Scope, dir: &str, file: &str) -> Result<PathBuf> {
    Ok(match scope {
        Scope::Project => workdir.join(dir).join(file),
        Scope::User => home()?.join(dir).join(file),
    })
}

pub(crate) fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or(Error::NoHome)
}

/// One assistant's hook settings file: where it lives, what savepoint
/// merges into it, and how savepoint's entries are recognised.
#[derive(Debug, Clone, Copy)]
pub struct AgentSettings {
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
    pub(crate) fn path(&self, workdir: &Path, scope: Scope) -> Result<PathBuf> {
        path(workdir, scope, self.dir, self.file)
    }

    pub(crate) fn install(&self, path: &Path) -> Result<Vec<String>> {
        install(path, self.template, self.mark)
    }

    pub(crate) fn uninstall(&self, path: &Path) -> Result<Vec<String>> {
        uninstall(path, self.template, self.mark)
    }

    pub(crate) fn installed(&self, path: &Path) -> Result<Vec<String>> {
        installed(path, self.template, self.mark)
    }
}

/// How every installed hook command starts: the client's SIGTERM/SIGHUP/
/// SIGINT to the hook's process group (Claude Code sends one right after
/// StopFailure) are ignored from before savepoint starts (an ignored signal
/// stays ignored across `exec`), so it can finish its quick part and hand
/// the rest to a worker.
pub const SIGNAL_GUARD: &str = "trap '' TERM HUP INT; ";

/// The commands savepoint installs: every command of the template, and the
/// bare mark (`savepoint hook claude`). A user's own hook that merely
/// *contains* the mark (a wrapper script, extra arguments) is not ours.
pub(crate) fn our_commands(template: &str, mark: &str) -> Vec<String> {
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
    let mut out = vec![mark.to_owned()];
    let t: Value = serde_json::from_str(template).expect("valid template");
    collect(&t, &mut out);
    // What versions before 0.2 installed: the same commands without the
    // signal guard.
    let legacy: Vec<String> = out
        .iter()
        .filter_map(|c| c.strip_prefix(SIGNAL_GUARD))
        .map(|c| c.replacen("&& exec ", "&& ", 1))
        .collect();
    out.extend(legacy);
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

/// A settings file as read: its concrete syntax tree (every comment, blank
/// and indent kept) and whether it began with a byte-order mark.
struct Doc {
    root: CstRootNode,
    bom: bool,
}

/// JSON with comments, as Gemini CLI reads it (`strip-json-comments`, then
/// `JSON.parse`): `//` and `/* */` comments, nothing else beyond JSON — no
/// trailing commas, single quotes or bare keys, which the assistants
/// themselves would refuse.
fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

const BOM: &str = "\u{feff}";

/// Read a settings file: `None` when missing; an error naming the file (and
/// what to do) when it is not a JSON object — then nothing is written.
fn read(path: &Path) -> Result<Option<Doc>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let text = String::from_utf8(bytes).map_err(|_| invalid(path, SettingsProblem::NotUtf8))?;
    let (bom, text) = match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let root = CstRootNode::parse(text, &parse_options()).map_err(|e| {
        let trailing_comma = matches!(e.kind(), ParseErrorKind::TrailingCommasNotAllowed);
        invalid(
            path,
            SettingsProblem::Syntax {
                trailing_comma,
                source: e,
            },
        )
    })?;
    match root.value() {
        None => Err(invalid(path, SettingsProblem::Empty)),
        Some(v) if v.as_object().is_none() => Err(invalid(path, SettingsProblem::NotAnObject)),
        Some(_) => Ok(Some(Doc { root, bom })),
    }
}

/// Why a settings file cannot be merged into.
#[derive(Debug, thiserror::Error)]
pub enum SettingsProblem {
    #[error("it is not UTF-8 text: save it as UTF-8")]
    NotUtf8,
    #[error("{source}{}", if *trailing_comma { "; the assistants refuse trailing commas too: remove it" } else { "" })]
    Syntax {
        trailing_comma: bool,
        #[source]
        source: jsonc_parser::errors::ParseError,
    },
    #[error("it holds no JSON value: put `{{}}` in it, or delete it")]
    Empty,
    #[error("the top level is not a JSON object")]
    NotAnObject,
    #[error("`hooks` is not a JSON object")]
    HooksNotAnObject,
    #[error("`hooks.{0}` is not a JSON array")]
    EventNotAnArray(String),
    /// Codex reads its hooks file as plain JSON.
    #[error("{0}; Codex reads hooks.json as plain JSON (no comments, no trailing commas)")]
    PlainJson(#[source] serde_json::Error),
    /// Codex's `config.toml`.
    #[error("{}", .0.to_string().lines().next().unwrap_or("invalid TOML"))]
    Toml(#[source] toml_edit::TomlError),
    #[error("`{0}` is not a TOML table")]
    NotATable(String),
}

fn invalid(path: &Path, problem: SettingsProblem) -> Error {
    Error::InvalidSettings {
        path: path.to_path_buf(),
        problem,
    }
}

fn write(path: &Path, doc: &Doc) -> Result<()> {
    let mut text = if doc.bom {
        BOM.to_owned()
    } else {
        String::new()
    };
    text.push_str(&doc.root.to_string());
    crate::fs::atomic::write(path, text.as_bytes(), crate::fs::atomic::PUBLIC)
        .map_err(|e| Error::io("write", path, e))
}

/// A JSON value as the CST editor takes it (object keys in order).
fn input(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(input).collect()),
        Value::Object(m) => {
            CstInputValue::Object(m.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

fn value_of(node: &CstNode) -> Value {
    node.to_serde_value().unwrap_or(Value::Null)
}

/// The root object of a document [`read`] accepted.
fn root_object(doc: &Doc) -> CstObject {
    doc.root.object_value().expect("read checked the top level")
}

/// Does the document hold a comment anywhere?
fn has_comments(node: &CstContainerNode) -> bool {
    node.children().iter().any(|c| match c {
        CstNode::Leaf(CstLeafNode::Comment(_)) => true,
        CstNode::Container(c) => has_comments(c),
        CstNode::Leaf(_) => false,
    })
}

/// `hooks` of the settings, made when missing.
fn hooks_object(path: &Path, root: &CstObject) -> Result<CstObject> {
    match root.get("hooks") {
        Some(prop) => prop
            .object_value()
            .ok_or_else(|| invalid(path, SettingsProblem::HooksNotAnObject)),
        None => Ok(root
            .append("hooks", CstInputValue::Object(Vec::new()))
            .object_value()
            .expect("an object was just added")),
    }
}

/// Take savepoint's entries out of one event's list; `true` when something
/// was removed.
fn remove_ours(list: &CstArray, ours: &[String]) -> bool {
    let mut changed = false;
    for element in list.elements() {
        let v = value_of(&element);
        if entry_is_ours(&v, ours) {
            element.remove();
            changed = true;
        } else if let Some(nested) = element.as_object().and_then(|o| o.array_value("hooks")) {
            for hook in nested.elements() {
                if is_ours(&value_of(&hook), ours) {
                    hook.remove();
                    changed = true;
                }
            }
        }
    }
    changed
}

/// Remove savepoint's entries from every event of `hooks` that `keep` says
/// no; events left empty go, and `hooks` too when nothing is left in it.
/// Returns the events that changed.
fn remove_events(root: &CstObject, ours: &[String], keep: impl Fn(&str) -> bool) -> Vec<String> {
    let Some(hooks_prop) = root.get("hooks") else {
        return Vec::new();
    };
    let Some(hooks) = hooks_prop.object_value() else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for prop in hooks.properties() {
        let Some(name) = prop.decoded_name() else {
            continue;
        };
        if keep(&name) {
            continue;
        }
        let Some(list) = prop.array_value() else {
            continue;
        };
        if remove_ours(&list, ours) {
            if list.elements().is_empty() {
                prop.remove();
            }
            removed.push(name);
        }
    }
    if !removed.is_empty() && hooks.properties().is_empty() {
        hooks_prop.remove();
    }
    removed.sort();
    removed.dedup();
    removed
}

/// Merge the template's `hooks` (and any top-level key the file lacks, such
/// as Cursor's `version`) into the settings at `path`, keeping every
/// comment and the file's own layout; savepoint's entries under events the
/// template no longer has (Gemini's `PreCompress` of older versions) are
/// taken out. Returns the events added (empty: already installed).
pub(crate) fn install(path: &Path, template: &str, mark: &str) -> Result<Vec<String>> {
    let ours = &our_commands(template, mark);
    let doc = match read(path)? {
        Some(doc) => doc,
        None => Doc {
            root: CstRootNode::parse("", &parse_options()).expect("empty text parses"),
            bom: false,
        },
    };
    let root = doc.root.object_value_or_set();
    let template: Value = serde_json::from_str(template).expect("valid template");
    let template = template.as_object().expect("template object");
    let wanted = template["hooks"].as_object().expect("template hooks");
    let hooks = hooks_object(path, &root)?;
    let mut added = Vec::new();
    for (event, entries) in wanted {
        let list = match hooks.get(event) {
            Some(prop) => prop.array_value().ok_or_else(|| {
                invalid(path, SettingsProblem::EventNotAnArray(event.to_string()))
            })?,
            None => hooks
                .append(event, CstInputValue::Array(Vec::new()))
                .array_value()
                .expect("an array was just added"),
        };
        let template_entries = entries.as_array().expect("template entries");
        let present: Vec<Value> = list
            .elements()
            .iter()
            .map(value_of)
            .filter(|v| entry_has_ours(v, ours))
            .collect();
        if !present.is_empty() {
            // An entry an older version installed (e.g. before the hook
            // command ignored the client's SIGTERM) is replaced by the
            // template's; one shared with the user's own hooks is left.
            let outdated =
                present != *template_entries && present.iter().all(|v| entry_is_ours(v, ours));
            if !outdated {
                continue;
            }
            remove_ours(&list, ours);
        }
        for entry in template_entries {
            list.append(input(entry));
        }
        added.push(event.clone());
    }
    let stale = remove_events(&root, ours, |event| wanted.contains_key(event));
    if !added.is_empty() {
        for (k, v) in template {
            if k != "hooks" && root.get(k).is_none() {
                root.append(k, input(v));
            }
        }
    }
    if !added.is_empty() || !stale.is_empty() {
        write(path, &doc)?;
    }
    Ok(added)
}

/// Remove savepoint's entries (and only those) from the settings at
/// `path`; top-level keys the template added (e.g. `version`) go too when
/// nothing else is left, and so does the file when nothing at all is left
/// (no key, no comment). Returns the events that changed.
pub(crate) fn uninstall(path: &Path, template: &str, mark: &str) -> Result<Vec<String>> {
    let ours = &our_commands(template, mark);
    let Some(doc) = read(path)? else {
        return Ok(Vec::new());
    };
    let root = root_object(&doc);
    let removed = remove_events(&root, ours, |_| false);
    if removed.is_empty() {
        return Ok(removed);
    }
    // Keys the template brought along, if they are all that is left.
    let template: Value = serde_json::from_str(template).expect("valid template");
    let template = template.as_object().expect("template object");
    let props = root.properties();
    let only_template_keys = props.iter().all(|p| {
        p.decoded_name().is_some_and(|k| {
            k != "hooks"
                && template
                    .get(&k)
                    .is_some_and(|t| p.to_serde_value().as_ref() == Some(t))
        })
    });
    if only_template_keys {
        props.into_iter().for_each(CstObjectProp::remove);
    }
    if root.properties().is_empty() && !has_comments(&doc.root.clone().into()) {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    } else {
        write(path, &doc)?;
    }
    Ok(removed)
}

/// The events with savepoint's entry in the settings at `path`.
pub(crate) fn installed(path: &Path, template: &str, mark: &str) -> Result<Vec<String>> {
    let ours = &our_commands(template, mark);
    let Some(doc) = read(path)? else {
        return Ok(Vec::new());
    };
    let Some(hooks) = root_object(&doc).object_value("hooks") else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = hooks
        .properties()
        .into_iter()
        .filter(|p| {
            p.array_value().is_some_and(|l| {
                l.elements()
                    .iter()
                    .any(|e| entry_has_ours(&value_of(e), ours))
            })
        })
        .filter_map(|p| p.decoded_name())
        .collect();
    out.sort();
    Ok(out)
}

/// Every entry of a template is recognised as savepoint's (for tests).
#[cfg(test)]
pub(crate) fn template_is_ours(template: &str, mark: &str) -> bool {
    let mark = &our_commands(template, mark);
    let t: Value = serde_json::from_str(template).expect("valid template");
    t["hooks"].as_object().is_some_and(|h| {
        h.values().all(|l| {
            l.as_array()
                .is_some_and(|l| l.iter().all(|e| entry_is_ours(e, mark)))
        })
    })
}
