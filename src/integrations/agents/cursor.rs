//! Cursor: its hook payloads (JSON on stdin) as [`Event`]s, and the entries
//! merged into `.cursor/hooks.json` (`{"version": 1, "hooks": {...}}`).
//! Cursor expects a JSON answer on stdout (see [`reply`]).
//!
//! Events: `sessionStart`, `beforeSubmitPrompt` (`prompt`), `afterFileEdit`
//! (`file_path`), `afterShellExecution` (`command`), `stop` (`status`:
//! `completed`, `aborted`, `error` — an error is the outage case),
//! `sessionEnd`; common fields `conversation_id`, `hook_event_name`,
//! `workspace_roots` (the first is the work tree).

use std::path::PathBuf;

use serde_json::Value;

use super::settings::AgentSettings;
use super::{Agent, Event, Kind, Response};

/// The adapter.
pub(crate) struct Cursor;

impl Agent for Cursor {
    fn name(&self) -> &'static str {
        "cursor"
    }

    fn title(&self) -> &'static str {
        "Cursor"
    }

    fn hook_doc(&self) -> &'static str {
        "Called by Cursor with the hook payload (JSON) on stdin; answers JSON on stdout"
    }

    fn parse(&self, payload: &[u8], _args: &[String]) -> std::result::Result<Event, String> {
        parse(payload)
    }

    fn reply(&self, event: Option<&str>, response: Response) -> Response {
        Response {
            stdout: reply(event, &response),
            stderr: String::new(),
        }
    }

    fn settings(&self) -> &'static AgentSettings {
        &SETTINGS
    }

    fn install_doc(&self) -> &'static str {
        "Also Cursor's hooks: `project` (.cursor/hooks.json, the default) or `user` \
         (~/.cursor/hooks.json)"
    }
}

const SETTINGS_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/hooks/cursor-hooks.json"
));

/// Where savepoint's entries go and how they are recognised.
const SETTINGS: AgentSettings = AgentSettings {
    dir: ".cursor",
    file: "hooks.json",
    template: SETTINGS_TEMPLATE,
    mark: COMMAND_MARK,
};

/// How savepoint's entries are recognised: their command runs this.
const COMMAND_MARK: &str = "savepoint hook cursor";

fn parse(input: &[u8]) -> std::result::Result<Event, String> {
    let p = super::Payload::parse(input, "hook_event_name")?;
    let s = |k: &str| p.str(k);
    let name = p.name.clone();
    let kind = match name.as_str() {
        "sessionStart" => Kind::SessionStart { source: None },
        "beforeSubmitPrompt" => Kind::Prompt {
            text: s("prompt").unwrap_or_default(),
        },
        "afterFileEdit" => Kind::ToolUse {
            tool: "Edit".into(),
            paths: s("file_path").map(PathBuf::from).into_iter().collect(),
        },
        "afterShellExecution" => Kind::ToolUse {
            tool: "Shell".into(),
            paths: Vec::new(),
        },
        "stop" => match s("status").as_deref() {
            Some("error") => Kind::TurnFailed {
                error: s("error").unwrap_or_else(|| "the agent stopped with an error".into()),
            },
            _ => Kind::TurnEnd,
        },
        "sessionEnd" => Kind::SessionEnd {
            reason: s("reason"),
        },
        _ => Kind::Other,
    };
    let cwd = p
        .get("workspace_roots")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .or_else(|| s("cwd").map(PathBuf::from));
    Ok(Event {
        agent: "cursor",
        name,
        session: s("conversation_id"),
        cwd,
        kind,
        prompt: None,
        transcript: s("transcript_path").map(PathBuf::from),
        last_message: None,
    })
}

/// The JSON answer Cursor expects: `beforeSubmitPrompt` must let the
/// prompt through (`{"continue": true}`); others get `{}` (plus a
/// `user_message` when there is something to tell).
fn reply(event_name: Option<&str>, r: &Response) -> String {
    let mut out = serde_json::Map::new();
    if event_name == Some("beforeSubmitPrompt") {
        out.insert("continue".into(), Value::Bool(true));
    }
    let msg = [r.stdout.as_str(), r.stderr.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if !msg.is_empty() {
        out.insert("user_message".into(), Value::String(msg));
    }
    Value::Object(out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_recognised_and_prompts_are_let_through() {
        assert!(super::super::settings::template_is_ours(
            SETTINGS_TEMPLATE,
            COMMAND_MARK
        ));
        let r = reply(Some("beforeSubmitPrompt"), &Response::default());
        assert_eq!(r, r#"{"continue":true}"#);
        assert_eq!(reply(Some("afterFileEdit"), &Response::default()), "{}");
    }
}
