//! What a coding client's own transcript says about a session: the prompt
//! and the assistant's last message of each turn, the error a turn died
//! on, and the session's latest plan (todo list). The hand-off brief
//! quotes these so that the assistant that picks the work up knows what
//! the failed one knew.
//!
//! Formats (read from the real clients' files and code, see
//! `fixtures/transcripts/`):
//! - **Claude Code**: JSONL under `~/.claude/projects/<project>/<session>.jsonl`.
//!   `type: "user"` lines carry prompts (`message.content` a string or
//!   `text` blocks) and `tool_result`s; `type: "assistant"` lines carry
//!   `text` and `tool_use` blocks; a failed request is an assistant line
//!   with `isApiErrorMessage: true`. The plan is the latest `TodoWrite`
//!   input (`todos[].content/status`), or the task list built by
//!   `TaskCreate` / `TaskUpdate` (ids from "Task #N created successfully").
//! - **Gemini CLI**: JSONL under `~/.gemini/tmp/<project>/chats/session-*.jsonl`:
//!   a header (`sessionId`, `projectHash`), message records keyed by `id`
//!   (a record with a known id replaces it), `$set` (`messages` replaces
//!   them all) and `$rewindTo` (drops that message and what follows).
//!   Older versions wrote one JSON object with `messages`. Messages have
//!   `type` `user` / `gemini` / `error`; the plan is the latest
//!   `write_todos` call (`todos[].description/status`).
//! - **Codex CLI**: rollout JSONL under `~/.codex/sessions/…/rollout-*.jsonl`,
//!   lines `{type, payload}`: `event_msg` `task_started` opens a turn,
//!   `response_item` messages carry prompts and answers, `task_complete`
//!   the last answer or the error; the plan is the latest `update_plan`
//!   call (`plan[].step/status`, `explanation`).
//!
//! Reading never fails and never takes long: a missing, unreadable or
//! non-regular file gives `None`; only the last `TAIL_BYTES` are read;
//! lines over `MAX_LINE` and lines that are not the JSON expected are
//! skipped; invalid UTF-8 is replaced; every kept string is clipped.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

/// How much of the end of a transcript is read.
pub(crate) const TAIL_BYTES: u64 = 2 << 20;
/// Longer lines (a huge tool result) are skipped unparsed.
pub(crate) const MAX_LINE: usize = 1 << 20;
/// Turns kept, newest last.
pub(crate) const MAX_TURNS: usize = 8;
/// Characters kept of a prompt or message.
pub(crate) const MAX_TEXT_CHARS: usize = 4000;
/// Items kept of a plan.
pub(crate) const MAX_PLAN_ITEMS: usize = 50;
/// Characters kept of one plan item.
const MAX_ITEM_CHARS: usize = 300;
/// Messages kept while replaying a Gemini chat (the newest).
const MAX_GEMINI_MESSAGES: usize = 2000;

/// Whose transcript it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Claude,
    Gemini,
    Codex,
}

impl Format {
    /// The transcript format of an agent (`claude`, `gemini`, `codex`).
    pub(crate) fn for_agent(agent: &str) -> Option<Format> {
        super::by_name(agent)?.transcript()
    }
}

/// What a transcript says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The last `MAX_TURNS` turns, oldest first.
    pub turns: Vec<Turn>,
    /// The session's latest plan, when it kept one.
    pub plan: Option<Plan>,
    /// Only the end of the file was read (it is larger than `TAIL_BYTES`):
    /// earlier turns and an earlier plan may be missing.
    pub partial: bool,
}

/// One turn: a prompt and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Turn {
    pub prompt: Option<String>,
    /// The assistant's last text of the turn.
    pub last_message: Option<String>,
    /// The API error the turn ended on.
    pub error: Option<String>,
}

/// A todo list / plan as the session last wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The tool that wrote it (`TodoWrite`, `TaskCreate`, `write_todos`,
    /// `update_plan`).
    pub tool: String,
    pub explanation: Option<String>,
    pub items: Vec<PlanItem>,
    /// Items left out past `MAX_PLAN_ITEMS`.
    pub more: usize,
}

/// One step of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanItem {
    pub text: String,
    /// As the client wrote it: `pending`, `in_progress`, `completed`,
    /// `cancelled`, `blocked`, …
    pub status: String,
}

impl PlanItem {
    pub(crate) fn done(&self) -> bool {
        self.status == "completed"
    }
}

/// Read the transcript at `path` written by `format`'s client. `None` when
/// it cannot be read; an empty [`Transcript`] when nothing in it was
/// understood.
pub fn read(path: &Path, format: Format) -> Option<Transcript> {
    let (bytes, partial) = read_tail(path, TAIL_BYTES)?;
    let mut t = parse(&bytes, format, partial);
    t.partial = partial;
    Some(t)
}

/// The last `max` bytes of a regular file, from the first line that starts
/// in them; `true` when the file was longer.
fn read_tail(path: &Path, max: u64) -> Option<(Vec<u8>, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking: a FIFO put where the transcript should be must not
    // hang the hook (regular files ignore the flag).
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(max);
    // From one byte earlier, to see whether the tail starts a line.
    let from = start.saturating_sub(1);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::with_capacity(meta.len().min(max + 1) as usize);
    // The file may grow while it is read: never more than asked.
    file.take(max + (start - from))
        .read_to_end(&mut bytes)
        .ok()?;
    if start > 0 {
        // Drop the line cut in two (just the newline before a whole one).
        match bytes.iter().position(|&b| b == b'\n') {
            Some(i) => {
                bytes.drain(..=i);
            }
            None => bytes.clear(),
        }
    }
    Some((bytes, start > 0))
}

/// Parse transcript bytes (whole file or a tail that starts on a line).
pub(crate) fn parse(bytes: &[u8], format: Format, partial: bool) -> Transcript {
    match format {
        Format::Claude => Claude::default().run(lines(bytes, claude_wanted)),
        Format::Gemini => gemini(bytes, partial),
        Format::Codex => Codex::default().run(lines(bytes, codex_wanted)),
    }
}

/// A Claude line worth parsing: a `"type":"user"` or `"type":"assistant"`
/// (one pass; most bytes of a transcript are attachments and request
/// records, skipped unparsed).
fn claude_wanted(l: &str) -> bool {
    l.match_indices("\"type\":").any(|(i, m)| {
        let rest = l[i + m.len()..].trim_start();
        rest.starts_with("\"user\"") || rest.starts_with("\"assistant\"")
    })
}

/// A Codex rollout line worth parsing: its `type` (written first, after
/// the timestamp) is `event_msg` or `response_item`.
fn codex_wanted(l: &str) -> bool {
    let head = match l.char_indices().nth(160) {
        Some((i, _)) => &l[..i],
        None => l,
    };
    head.contains("\"event_msg\"") || head.contains("\"response_item\"")
}

/// The JSON objects of a JSONL text; unparsable and overlong lines are
/// skipped. `want` pre-filters lines cheaply before they are parsed.
fn lines(bytes: &[u8], want: fn(&str) -> bool) -> impl Iterator<Item = Value> + '_ {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l.len() <= MAX_LINE)
        .filter_map(move |l| {
            let text = String::from_utf8_lossy(l);
            if !want(&text) {
                return None;
            }
            match serde_json::from_str::<Value>(&text) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => None,
            }
        })
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

/// Non-empty text, trimmed and clipped.
fn text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| clip(s, MAX_TEXT_CHARS))
}

/// The turns seen so far, bounded.
#[derive(Default)]
struct Turns {
    list: std::collections::VecDeque<Turn>,
}

impl Turns {
    fn start(&mut self, prompt: Option<String>) {
        if self.list.len() == MAX_TURNS {
            self.list.pop_front();
        }
        self.list.push_back(Turn {
            prompt,
            ..Turn::default()
        });
    }

    /// The current turn (one without a prompt when the tail began mid-turn).
    fn current(&mut self) -> &mut Turn {
        if self.list.is_empty() {
            self.start(None);
        }
        self.list.back_mut().expect("a turn")
    }

    fn into_vec(self) -> Vec<Turn> {
        self.list
            .into_iter()
            .filter(|t| t.prompt.is_some() || t.last_message.is_some() || t.error.is_some())
            .collect()
    }
}

/// Plan items from a JSON array of objects, text under `text_key`.
fn plan_items(v: Option<&Value>, text_key: &str) -> (Vec<PlanItem>, usize) {
    let Some(arr) = v.and_then(Value::as_array) else {
        return (Vec::new(), 0);
    };
    let mut items = Vec::new();
    let mut more = 0;
    for item in arr {
        let Some(t) = item.get(text_key).and_then(Value::as_str) else {
            continue;
        };
        if items.len() == MAX_PLAN_ITEMS {
            more += 1;
            continue;
        }
        items.push(PlanItem {
            text: clip(t.trim(), MAX_ITEM_CHARS),
            status: clip(
                item.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("pending"),
                40,
            ),
        });
    }
    (items, more)
}

/// Is this user text something the client injected (context, command
/// output) rather than a prompt the user typed?
fn injected(s: &str) -> bool {
    let s = s.trim_start();
    const PREFIXES: &[&str] = &[
        "<environment_context",
        "<user_instructions",
        "<permissions",
        "<skills_instructions",
        "<session_context",
        "<system-reminder",
        "<command-",
        "<local-command",
        "<turn_aborted",
        "# AGENTS.md instructions",
        "Caveat: The messages below were generated by the user while running local commands",
    ];
    PREFIXES.iter().any(|p| s.starts_with(p))
}

// ---------------------------------------------------------------- Claude

#[derive(Default)]
struct Claude {
    turns: Turns,
    plan: Option<Plan>,
    /// `TaskCreate` calls waiting for their result (tool_use id → item).
    pending_creates: HashMap<String, PlanItem>,
    /// The task list (`TaskCreate` / `TaskUpdate`), in creation order.
    tasks: Vec<(String, PlanItem)>,
}

impl Claude {
    fn run(mut self, lines: impl Iterator<Item = Value>) -> Transcript {
        for v in lines {
            if v.get("isSidechain").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            match v.get("type").and_then(Value::as_str) {
                Some("user") => self.user(&v),
                Some("assistant") => self.assistant(&v),
                _ => {}
            }
        }
        Transcript {
            turns: self.turns.into_vec(),
            plan: self.plan,
            partial: false,
        }
    }

    fn user(&mut self, v: &Value) {
        if v.get("isMeta").and_then(Value::as_bool) == Some(true)
            || v.get("isCompactSummary").and_then(Value::as_bool) == Some(true)
        {
            return;
        }
        let content = v.get("message").and_then(|m| m.get("content"));
        match content {
            Some(Value::String(s)) => {
                if let Some(p) = text(s).filter(|_| !injected(s)) {
                    self.turns.start(Some(p));
                }
            }
            Some(Value::Array(blocks)) => {
                let mut prompt = String::new();
                for b in blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let t = b.get("text").and_then(Value::as_str).unwrap_or("");
                            if !injected(t) {
                                if !prompt.is_empty() {
                                    prompt.push('\n');
                                }
                                prompt.push_str(t);
                            }
                        }
                        Some("tool_result") => self.tool_result(b),
                        _ => {}
                    }
                }
                if let Some(p) = text(&prompt) {
                    self.turns.start(Some(p));
                }
            }
            _ => {}
        }
    }

    fn tool_result(&mut self, b: &Value) {
        let Some(id) = b.get("tool_use_id").and_then(Value::as_str) else {
            return;
        };
        let Some(item) = self.pending_creates.remove(id) else {
            return;
        };
        if b.get("is_error").and_then(Value::as_bool) == Some(true) {
            return;
        }
        let content = match b.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => return,
        };
        // "Task #3 created successfully: <subject>"
        let Some(rest) = content.trim_start().strip_prefix("Task #") else {
            return;
        };
        let task_id: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        if task_id.is_empty() || !rest[task_id.len()..].starts_with(" created successfully") {
            return;
        }
        if self.tasks.len() < MAX_PLAN_ITEMS * 4 {
            self.tasks.retain(|(t, _)| *t != task_id);
            self.tasks.push((task_id, item));
            self.plan = Some(self.task_plan());
        }
    }

    fn task_plan(&self) -> Plan {
        let items: Vec<PlanItem> = self.tasks.iter().map(|(_, i)| i.clone()).collect();
        let more = items.len().saturating_sub(MAX_PLAN_ITEMS);
        Plan {
            tool: "TaskCreate".into(),
            explanation: None,
            items: items.into_iter().take(MAX_PLAN_ITEMS).collect(),
            more,
        }
    }

    fn assistant(&mut self, v: &Value) {
        let Some(blocks) = v
            .get("message")
            .and_then(|m| m.get("content"))
            .and_then(Value::as_array)
        else {
            return;
        };
        let mut said = String::new();
        for b in blocks {
            match b.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if let Some(t) = b.get("text").and_then(Value::as_str) {
                        if !said.is_empty() {
                            said.push_str("\n\n");
                        }
                        said.push_str(t);
                    }
                }
                Some("tool_use") => self.tool_use(b),
                _ => {}
            }
        }
        let Some(said) = text(&said) else {
            return;
        };
        if v.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true) {
            self.turns.current().error = Some(said);
        } else {
            self.turns.current().last_message = Some(said);
        }
    }

    fn tool_use(&mut self, b: &Value) {
        let name = b.get("name").and_then(Value::as_str).unwrap_or("");
        let input = b.get("input");
        match name {
            "TodoWrite" => {
                let (items, more) = plan_items(input.and_then(|i| i.get("todos")), "content");
                self.plan = Some(Plan {
                    tool: name.into(),
                    explanation: None,
                    items,
                    more,
                });
            }
            "TaskCreate" => {
                let (Some(id), Some(subject)) = (
                    b.get("id").and_then(Value::as_str),
                    input.and_then(|i| i.get("subject")).and_then(Value::as_str),
                ) else {
                    return;
                };
                if self.pending_creates.len() < MAX_PLAN_ITEMS * 4 {
                    self.pending_creates.insert(
                        id.to_owned(),
                        PlanItem {
                            text: clip(subject.trim(), MAX_ITEM_CHARS),
                            status: "pending".into(),
                        },
                    );
                }
            }
            "TaskUpdate" => {
                let Some(input) = input else { return };
                let task_id = match input.get("taskId") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return,
                };
                let status = input.get("status").and_then(Value::as_str);
                if status == Some("deleted") {
                    self.tasks.retain(|(t, _)| *t != task_id);
                } else if let Some((_, item)) = self.tasks.iter_mut().find(|(t, _)| *t == task_id) {
                    if let Some(s) = status {
                        item.status = clip(s, 40);
                    }
                    if let Some(s) = input.get("subject").and_then(Value::as_str) {
                        item.text = clip(s.trim(), MAX_ITEM_CHARS);
                    }
                } else {
                    return;
                }
                self.plan = Some(self.task_plan());
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- Gemini

/// Replay a Gemini chat file into its messages, then read those.
fn gemini(bytes: &[u8], partial: bool) -> Transcript {
    let mut chat = GeminiChat::default();
    // Older versions: one (pretty-printed) JSON object for the whole chat.
    let whole = (!partial)
        .then(|| serde_json::from_slice::<Value>(bytes).ok())
        .flatten();
    match whole {
        Some(v @ Value::Object(_)) => chat.record(v),
        _ => {
            for v in lines(bytes, |_| true) {
                chat.record(v);
            }
        }
    }
    let mut turns = Turns::default();
    let mut plan = None;
    for m in chat.messages {
        match m.get("type").and_then(Value::as_str) {
            Some("user") => {
                let t = gemini_text(m.get("content"));
                if !injected(&t) {
                    if let Some(p) = text(&t) {
                        turns.start(Some(p));
                    }
                }
            }
            Some("gemini") => {
                if let Some(said) = text(&gemini_text(m.get("content"))) {
                    turns.current().last_message = Some(said);
                }
                for call in m
                    .get("toolCalls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if call.get("name").and_then(Value::as_str) == Some("write_todos") {
                        let (items, more) = plan_items(
                            call.get("args").and_then(|a| a.get("todos")),
                            "description",
                        );
                        plan = Some(Plan {
                            tool: "write_todos".into(),
                            explanation: None,
                            items,
                            more,
                        });
                    }
                }
            }
            Some("error") => {
                if let Some(e) = text(&gemini_text(m.get("content"))) {
                    turns.current().error = Some(e);
                }
            }
            _ => {}
        }
    }
    Transcript {
        turns: turns.into_vec(),
        plan,
        partial: false,
    }
}

/// A Gemini message's text: a string, or the `text` of its parts.
fn gemini_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Object(o)) => o
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    }
}

/// The messages of a Gemini chat as its own loader rebuilds them.
#[derive(Default)]
struct GeminiChat {
    messages: Vec<Value>,
}

impl GeminiChat {
    fn record(&mut self, v: Value) {
        if let Some(id) = v.get("$rewindTo").and_then(Value::as_str) {
            match self.position(id) {
                Some(i) => self.messages.truncate(i),
                None => self.messages.clear(),
            }
        } else if v.get("id").and_then(Value::as_str).is_some() {
            self.upsert(v);
        } else if let Some(set) = v.get("$set").filter(|s| s.is_object()) {
            if let Some(msgs) = set.get("messages").and_then(Value::as_array) {
                self.messages.clear();
                for m in msgs {
                    if m.get("id").and_then(Value::as_str).is_some() {
                        self.upsert(m.clone());
                    }
                }
            }
        } else if v.get("sessionId").is_some() {
            // The header; old single-object chats carry their messages here.
            if let Some(msgs) = v.get("messages").and_then(Value::as_array) {
                for m in msgs {
                    if m.get("id").and_then(Value::as_str).is_some() {
                        self.upsert(m.clone());
                    }
                }
            }
        }
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.get("id").and_then(Value::as_str) == Some(id))
    }

    /// A message with a known id replaces it in place (its position kept).
    fn upsert(&mut self, m: Value) {
        let id = m.get("id").and_then(Value::as_str).unwrap_or("");
        // Updates are to recent messages: look from the end.
        let at = self
            .messages
            .iter()
            .rev()
            .take(64)
            .position(|x| x.get("id").and_then(Value::as_str) == Some(id))
            .map(|back| self.messages.len() - 1 - back);
        match at {
            Some(i) => self.messages[i] = m,
            None => {
                if self.messages.len() == MAX_GEMINI_MESSAGES {
                    self.messages.remove(0);
                }
                self.messages.push(m);
            }
        }
    }
}

// ----------------------------------------------------------------- Codex

#[derive(Default)]
struct Codex {
    turns: Turns,
    plan: Option<Plan>,
    /// `task_started` seen: turns open there, not at user messages.
    task_events: bool,
}

impl Codex {
    fn run(mut self, lines: impl Iterator<Item = Value>) -> Transcript {
        for v in lines {
            let Some(payload) = v.get("payload") else {
                continue;
            };
            let ptype = payload.get("type").and_then(Value::as_str).unwrap_or("");
            match v.get("type").and_then(Value::as_str) {
                Some("event_msg") => self.event(ptype, payload),
                Some("response_item") => self.item(ptype, payload),
                _ => {}
            }
        }
        Transcript {
            turns: self.turns.into_vec(),
            plan: self.plan,
            partial: false,
        }
    }

    fn prompt(&mut self, p: &str) {
        if injected(p) {
            return;
        }
        let Some(p) = text(p) else { return };
        if self.task_events {
            let turn = self.turns.current();
            if turn.prompt.is_none() {
                turn.prompt = Some(p);
            }
        } else {
            // Without turn events a prompt opens the turn; the same prompt
            // reported again (`response_item` and `user_message`) does not.
            let same = self.turns.list.back().is_some_and(|t| {
                t.prompt.as_deref() == Some(p.as_str())
                    && t.last_message.is_none()
                    && t.error.is_none()
            });
            if !same {
                self.turns.start(Some(p));
            }
        }
    }

    fn said(&mut self, s: &str) {
        if let Some(s) = text(s) {
            self.turns.current().last_message = Some(s);
        }
    }

    fn event(&mut self, ptype: &str, p: &Value) {
        match ptype {
            "task_started" | "turn_started" => {
                self.task_events = true;
                self.turns.start(None);
            }
            "user_message" => {
                if let Some(m) = p.get("message").and_then(Value::as_str) {
                    self.prompt(m);
                }
            }
            "agent_message" => {
                if let Some(m) = p.get("message").and_then(Value::as_str) {
                    self.said(m);
                }
            }
            "task_complete" | "turn_complete" => {
                if let Some(m) = p.get("last_agent_message").and_then(Value::as_str) {
                    self.said(m);
                }
                let error = p
                    .get("error")
                    .and_then(|e| e.get("message").and_then(Value::as_str).or(e.as_str()));
                if let Some(e) = error.and_then(text) {
                    self.turns.current().error = Some(e);
                }
            }
            "error" => {
                if let Some(e) = p.get("message").and_then(Value::as_str).and_then(text) {
                    self.turns.current().error = Some(e);
                }
            }
            "plan_update" => self.plan_from(p),
            "item_completed" => {
                let Some(item) = p.get("item") else { return };
                let texts = || {
                    item.get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                match item.get("type").and_then(Value::as_str) {
                    Some("UserMessage") => self.prompt(&texts()),
                    Some("AgentMessage") => self.said(&texts()),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn item(&mut self, ptype: &str, p: &Value) {
        match ptype {
            "message" => {
                let texts = p
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n");
                match p.get("role").and_then(Value::as_str) {
                    Some("user") => self.prompt(&texts),
                    Some("assistant") => self.said(&texts),
                    _ => {}
                }
            }
            "function_call" if str_at(p, &["name"]) == Some("update_plan") => {
                match p.get("arguments") {
                    Some(Value::String(s)) => {
                        if let Ok(args) = serde_json::from_str::<Value>(s) {
                            self.plan_from(&args);
                        }
                    }
                    Some(args @ Value::Object(_)) => self.plan_from(args),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn plan_from(&mut self, args: &Value) {
        let (items, more) = plan_items(args.get("plan"), "step");
        if items.is_empty() && more == 0 {
            return;
        }
        self.plan = Some(Plan {
            tool: "update_plan".into(),
            explanation: args
                .get("explanation")
                .and_then(Value::as_str)
                .and_then(|e| {
                    let e = e.trim();
                    (!e.is_empty()).then(|| clip(e, MAX_ITEM_CHARS * 2))
                }),
            items,
            more,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/transcripts")
            .join(name)
    }

    #[test]
    fn claude_turns_plan_and_api_error() {
        let t = read(&fixture("claude-todowrite-529.jsonl"), Format::Claude).unwrap();
        assert!(!t.partial);
        assert_eq!(t.turns.len(), 2, "{t:#?}");
        assert_eq!(
            t.turns[0].prompt.as_deref(),
            Some("Add a --json flag to the log command")
        );
        assert_eq!(
            t.turns[0].last_message.as_deref(),
            Some("Done: `log --json` prints an array of objects. Tests pass.")
        );
        let last = &t.turns[1];
        assert_eq!(
            last.prompt.as_deref(),
            Some("Now make the output stable and document it")
        );
        assert_eq!(
            last.last_message.as_deref(),
            Some("I'll sort the keys first, then update the README.")
        );
        assert!(
            last.error.as_deref().unwrap().starts_with("API Error: 529"),
            "{last:?}"
        );
        let plan = t.plan.unwrap();
        assert_eq!(plan.tool, "TodoWrite");
        let items: Vec<(&str, bool)> = plan
            .items
            .iter()
            .map(|i| (i.text.as_str(), i.done()))
            .collect();
        assert_eq!(
            items,
            [
                ("Sort the JSON keys", true),
                ("Document the output in README", false),
                ("Add a golden test", false)
            ]
        );
        assert_eq!(plan.items[1].status, "in_progress");
    }

    #[test]
    fn claude_task_tools_build_the_plan() {
        let t = read(&fixture("claude-tasks.jsonl"), Format::Claude).unwrap();
        let plan = t.plan.unwrap();
        assert_eq!(plan.tool, "TaskCreate");
        let items: Vec<(&str, &str)> = plan
            .items
            .iter()
            .map(|i| (i.text.as_str(), i.status.as_str()))
            .collect();
        // Task 2 was deleted; task 1 completed; task 3 renamed.
        assert_eq!(
            items,
            [
                ("Write the parser", "completed"),
                ("Wire the parser into main", "in_progress")
            ]
        );
    }

    #[test]
    fn claude_real_transcript_of_a_529() {
        // Captured from Claude Code 2.1.332 against the mock (a Write, then 529).
        let t = read(&fixture("claude-real-mid529.jsonl"), Format::Claude).unwrap();
        assert_eq!(t.turns.len(), 1, "{t:#?}");
        assert_eq!(
            t.turns[0].prompt.as_deref(),
            Some("Create a file mock_hello.txt")
        );
        assert_eq!(t.turns[0].last_message, None);
        assert!(t.turns[0].error.as_deref().unwrap().contains("529"));
        assert_eq!(t.plan, None);
    }

    #[test]
    fn gemini_jsonl_replays_updates_rewinds_and_todos() {
        let t = read(&fixture("gemini-session.jsonl"), Format::Gemini).unwrap();
        let prompts: Vec<_> = t.turns.iter().map(|t| t.prompt.as_deref()).collect();
        // The rewound prompt is gone; the session context is not a prompt.
        assert_eq!(
            prompts,
            [
                Some("Fix the flaky watcher test"),
                Some("Also add a changelog entry")
            ]
        );
        assert_eq!(
            t.turns[0].last_message.as_deref(),
            Some("The test waited on a fixed sleep; it now polls the status file.")
        );
        assert_eq!(t.turns[1].last_message, None);
        assert_eq!(
            t.turns[1].error.as_deref(),
            Some("[API Error: 503 The model is overloaded. Please try again later.]")
        );
        let plan = t.plan.unwrap();
        assert_eq!(plan.tool, "write_todos");
        let st: Vec<_> = plan.items.iter().map(|i| i.status.as_str()).collect();
        assert_eq!(st, ["completed", "in_progress", "cancelled"]);
    }

    #[test]
    fn gemini_legacy_single_json_chat() {
        let t = read(&fixture("gemini-legacy.json"), Format::Gemini).unwrap();
        assert_eq!(t.turns.len(), 1);
        assert_eq!(t.turns[0].prompt.as_deref(), Some("Rename Foo to Bar"));
        assert_eq!(
            t.turns[0].last_message.as_deref(),
            Some("Renamed in 3 files.")
        );
    }

    #[test]
    fn gemini_real_failed_turn_is_rolled_back() {
        // Gemini CLI 0.61.0 on a 500: `$set.messages` drops the prompt.
        let t = read(&fixture("gemini-real-f500.jsonl"), Format::Gemini).unwrap();
        assert_eq!(t, Transcript::default());
    }

    #[test]
    fn codex_rollout_turns_plan_and_error() {
        let t = read(&fixture("codex-rollout-plan-529.jsonl"), Format::Codex).unwrap();
        assert_eq!(t.turns.len(), 2, "{t:#?}");
        assert_eq!(t.turns[0].prompt.as_deref(), Some("Port the CLI to clap 4"));
        assert_eq!(
            t.turns[0].last_message.as_deref(),
            Some("Ported; `cargo test` passes.")
        );
        assert_eq!(t.turns[1].prompt.as_deref(), Some("Now update the docs"));
        assert_eq!(
            t.turns[1].last_message.as_deref(),
            Some("Updating README first.")
        );
        assert!(t.turns[1].error.as_deref().unwrap().contains("529"));
        let plan = t.plan.unwrap();
        assert_eq!(plan.tool, "update_plan");
        assert_eq!(plan.explanation.as_deref(), Some("Docs before examples"));
        assert_eq!(plan.items.len(), 3);
        assert!(plan.items[0].done() && !plan.items[1].done());
    }

    #[test]
    fn codex_rollout_without_turn_events() {
        // Older rollouts: no `task_started`; each prompt is reported twice.
        let lines = [
            r#"{"type":"session_meta","payload":{"id":"x"}}"#,
            r#"{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"one"}]}}"#,
            r#"{"type":"event_msg","payload":{"type":"user_message","message":"one"}}"#,
            r#"{"type":"event_msg","payload":{"type":"agent_message","message":"did one"}}"#,
            r#"{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"two"}]}}"#,
            r#"{"type":"event_msg","payload":{"type":"user_message","message":"two"}}"#,
            r#"{"type":"event_msg","payload":{"type":"error","message":"stream disconnected"}}"#,
        ]
        .join("\n");
        let t = parse(lines.as_bytes(), Format::Codex, false);
        assert_eq!(
            t.turns,
            [
                Turn {
                    prompt: Some("one".into()),
                    last_message: Some("did one".into()),
                    error: None
                },
                Turn {
                    prompt: Some("two".into()),
                    last_message: None,
                    error: Some("stream disconnected".into())
                }
            ]
        );
    }

    #[test]
    fn codex_real_rollout_of_a_529() {
        // Codex 0.171.0 against the mock: the turn died before any answer.
        let t = read(&fixture("codex-real-f529.jsonl"), Format::Codex).unwrap();
        assert_eq!(t.turns.len(), 1, "{t:#?}");
        assert_eq!(
            t.turns[0].prompt.as_deref(),
            Some("Create a file mock_hello.txt")
        );
        assert!(t.turns[0].error.as_deref().unwrap().contains("529"));
    }

    #[test]
    fn missing_odd_and_hostile_files_never_fail() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join("absent.jsonl"), Format::Claude), None);
        // A directory, a FIFO (must not block): not read.
        assert_eq!(read(dir.path(), Format::Claude), None);
        let fifo = dir.path().join("fifo");
        // mkfifo(1), not rustix's mknodat: that one does not exist on macOS.
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert_eq!(read(&fifo, Format::Gemini), None);
        // Garbage, invalid UTF-8, truncated JSON, wrong shapes.
        let junk = dir.path().join("junk.jsonl");
        let mut bytes = b"not json\n\xff\xfe{\"type\":\"user\"\n[1,2]\n{\"type\":\"assistant\",\"message\":{\"content\":\"x\"}}\n".to_vec();
        bytes.extend_from_slice(
            b"{\"type\":\"user\",\"message\":{\"content\":\"ok \xff prompt\"}}\n",
        );
        bytes.extend_from_slice(b"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"name\":\"TodoWrite\",\"input\":{\"todos\":\"nope\"}}]}}\n");
        std::fs::write(&junk, &bytes).unwrap();
        for f in [Format::Claude, Format::Gemini, Format::Codex] {
            let _ = read(&junk, f).unwrap();
        }
        let t = read(&junk, Format::Claude).unwrap();
        assert_eq!(t.turns.len(), 1);
        assert_eq!(t.turns[0].prompt.as_deref(), Some("ok \u{fffd} prompt"));
        assert_eq!(t.plan.unwrap().items, []);
    }

    #[test]
    fn huge_transcripts_are_read_from_the_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut bytes = Vec::new();
        bytes.extend_from_slice(
            b"{\"type\":\"user\",\"message\":{\"content\":\"the first prompt\"}}\n",
        );
        // A line over MAX_LINE, then filler up past the tail size.
        bytes.extend_from_slice(b"{\"type\":\"user\",\"message\":{\"content\":\"");
        bytes.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
        bytes.extend_from_slice(b"\"}}\n");
        let filler =
            b"{\"type\":\"attachment\",\"x\":\"0123456789012345678901234567890123456789\"}\n";
        while (bytes.len() as u64) < TAIL_BYTES + 1000 {
            bytes.extend_from_slice(filler);
        }
        let long = "é".repeat(MAX_TEXT_CHARS * 2);
        bytes.extend_from_slice(
            format!("{{\"type\":\"user\",\"message\":{{\"content\":\"{long}\"}}}}\n").as_bytes(),
        );
        std::fs::write(&path, &bytes).unwrap();
        let started = std::time::Instant::now();
        let t = read(&path, Format::Claude).unwrap();
        assert!(t.partial);
        assert_eq!(t.turns.len(), 1, "only the tail was read");
        let p = t.turns[0].prompt.as_deref().unwrap();
        assert_eq!(p.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(p.ends_with('…'));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // More turns than kept: the newest are.
        let mut many = Vec::new();
        for i in 0..(MAX_TURNS + 5) {
            many.extend_from_slice(
                format!("{{\"type\":\"user\",\"message\":{{\"content\":\"prompt {i}\"}}}}\n")
                    .as_bytes(),
            );
        }
        let t = parse(&many, Format::Claude, false);
        assert_eq!(t.turns.len(), MAX_TURNS);
        assert_eq!(
            t.turns.last().unwrap().prompt.as_deref(),
            Some(format!("prompt {}", MAX_TURNS + 4).as_str())
        );
    }

    #[test]
    fn tail_that_starts_on_a_line_keeps_that_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let first = b"{\"type\":\"user\",\"message\":{\"content\":\"one\"}}\n";
        let second = b"{\"type\":\"user\",\"message\":{\"content\":\"two\"}}\n";
        std::fs::write(&path, [&first[..], &second[..]].concat()).unwrap();
        let (bytes, partial) = read_tail(&path, second.len() as u64).unwrap();
        assert!(partial);
        assert_eq!(bytes, second);
        let (bytes, _) = read_tail(&path, second.len() as u64 - 1).unwrap();
        assert!(bytes.is_empty());
    }
}
