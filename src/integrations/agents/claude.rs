//! Claude Code: its hook payloads (JSON on stdin) as [`Event`]s, and the
//! entries savepoint merges into `.claude/settings.json`.
//!
//! Payload fields read: `hook_event_name`, `session_id`, `cwd`, `prompt`
//! (UserPromptSubmit), `tool_name` and `tool_input.file_path` /
//! `notebook_path` / `path` (PostToolUse), `source` (SessionStart),
//! `reason` (SessionEnd), `error_type` / `error` / `error_message`
//! (StopFailure). Everything else is ignored, unknown events included.

use std::path::PathBuf;

use super::settings::AgentSettings;
use super::{transcript, Agent, Event, Kind};

/// The adapter.
pub(crate) struct Claude;

impl Agent for Claude {
    fn name(&self) -> &'static str {
        "claude"
    }

    fn title(&self) -> &'static str {
        "Claude Code"
    }

    fn hook_doc(&self) -> &'static str {
        "Called by Claude Code with the hook payload (JSON) on stdin"
    }

    fn parse(&self, payload: &[u8], _args: &[String]) -> std::result::Result<Event, String> {
        parse(payload)
    }

    /// StopFailure.
    fn has_failure_event(&self) -> bool {
        true
    }

    fn transcript(&self) -> Option<transcript::Format> {
        Some(transcript::Format::Claude)
    }

    fn status_provider(&self) -> Option<&'static str> {
        Some("anthropic")
    }

    fn resume_command(&self, session: Option<&str>) -> Option<String> {
        session.map(|id| format!("claude --resume {id}"))
    }

    fn settings(&self) -> &'static AgentSettings {
        &SETTINGS
    }

    fn install_doc(&self) -> &'static str {
        "Also Claude Code's settings: `project` (.claude/settings.json, the default) or `user` \
         (~/.claude/settings.json)"
    }
}

/// The settings entries savepoint installs (`hooks/claude-settings.json`).
const SETTINGS_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/hooks/claude-settings.json"
));

/// Where savepoint's entries go and how they are recognised.
const SETTINGS: AgentSettings = AgentSettings {
    dir: ".claude",
    file: "settings.json",
    template: SETTINGS_TEMPLATE,
    mark: COMMAND_MARK,
};

/// How savepoint's entries are recognised: their command runs this.
const COMMAND_MARK: &str = "savepoint hook claude";

/// Parse a hook payload.
pub fn parse(input: &[u8]) -> std::result::Result<Event, String> {
    let p = super::Payload::parse(input, "hook_event_name")?;
    let s = |k: &str| p.str(k);
    let name = p.name.clone();
    let kind = match name.as_str() {
        "SessionStart" => Kind::SessionStart {
            source: s("source"),
        },
        "UserPromptSubmit" => Kind::Prompt {
            text: s("prompt").unwrap_or_default(),
        },
        "PostToolUse" => {
            let paths = p
                .nested_strs("tool_input", &["file_path", "notebook_path", "path"])
                .into_iter()
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
        prompt: None,
        transcript: s("transcript_path").map(PathBuf::from),
        last_message: s("last_assistant_message"),
    })
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
        let t: serde_json::Value = serde_json::from_str(SETTINGS_TEMPLATE).unwrap();
        let hooks = t["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), 7);
        assert!(super::super::settings::template_is_ours(
            SETTINGS_TEMPLATE,
            COMMAND_MARK
        ));
        assert_eq!(
            hooks["PostToolUse"][0]["matcher"],
            "Edit|Write|MultiEdit|NotebookEdit|Bash"
        );
    }
}
