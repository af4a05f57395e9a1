//! Gemini CLI: its hook payloads (JSON on stdin) as [`Event`]s, and the
//! entries merged into `.gemini/settings.json`. Gemini reads the hook's
//! stdout as JSON, so every answer is a JSON object (see [`reply`]).
//!
//! Events: `SessionStart` (`source`), `BeforeAgent` (`prompt`), `AfterTool`
//! (`tool_name`, `tool_input.file_path`/`absolute_path`/`path`),
//! `AfterAgent` (turn end), `SessionEnd` (`reason`); common fields
//! `session_id`, `cwd`, `hook_event_name`. `PreCompress` is not a compaction
//! signal: Gemini fires it (`trigger: "auto"`) before every model request,
//! so it is neither installed nor treated as one ([`Kind::Other`]); an
//! entry older versions installed is still removed by uninstall (and by the
//! next install).

use std::path::PathBuf;

use super::settings::AgentSettings;
use super::{transcript, Agent, Event, Kind, Response};

/// The adapter.
pub(crate) struct Gemini;

impl Agent for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn title(&self) -> &'static str {
        "Gemini CLI"
    }

    fn hook_doc(&self) -> &'static str {
        "Called by Gemini CLI with the hook payload (JSON) on stdin; answers JSON on stdout"
    }

    fn parse(&self, payload: &[u8], _args: &[String]) -> std::result::Result<Event, String> {
        parse(payload)
    }

    fn reply(&self, _event: Option<&str>, response: Response) -> Response {
        Response {
            stdout: reply(&response),
            stderr: String::new(),
        }
    }

    fn transcript(&self) -> Option<transcript::Format> {
        Some(transcript::Format::Gemini)
    }

    fn status_provider(&self) -> Option<&'static str> {
        Some("google")
    }

    /// Gemini resumes by position, not by id.
    fn resume_command(&self, _session: Option<&str>) -> Option<String> {
        Some("gemini --resume latest".to_owned())
    }

    fn settings(&self) -> &'static AgentSettings {
        &SETTINGS
    }

    fn install_doc(&self) -> &'static str {
        "Also Gemini CLI's settings: `project` (.gemini/settings.json, the default) or `user` \
         (~/.gemini/settings.json)"
    }
}

const SETTINGS_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/hooks/gemini-settings.json"
));

/// Where savepoint's entries go and how they are recognised.
const SETTINGS: AgentSettings = AgentSettings {
    dir: ".gemini",
    file: "settings.json",
    template: SETTINGS_TEMPLATE,
    mark: COMMAND_MARK,
};

/// How savepoint's entries are recognised: their command runs this.
const COMMAND_MARK: &str = "savepoint hook gemini";

fn parse(input: &[u8]) -> std::result::Result<Event, String> {
    let p = super::Payload::parse(input, "hook_event_name")?;
    let s = |k: &str| p.str(k);
    let name = p.name.clone();
    let kind = match name.as_str() {
        "SessionStart" => Kind::SessionStart {
            source: s("source").or_else(|| s("trigger")),
        },
        "BeforeAgent" => Kind::Prompt {
            text: s("prompt").unwrap_or_default(),
        },
        "AfterTool" => {
            let paths = p
                .nested_strs("tool_input", &["file_path", "absolute_path", "path"])
                .into_iter()
                .map(PathBuf::from)
                .collect();
            Kind::ToolUse {
                tool: s("tool_name").unwrap_or_else(|| "unknown".into()),
                paths,
            }
        }
        "AfterAgent" => Kind::TurnEnd,
        "SessionEnd" => Kind::SessionEnd {
            reason: s("reason").or_else(|| s("trigger")),
        },
        _ => Kind::Other,
    };
    Ok(Event {
        agent: "gemini",
        name,
        session: s("session_id"),
        cwd: s("cwd").map(PathBuf::from),
        kind,
        prompt: None,
        transcript: s("transcript_path").map(PathBuf::from),
        last_message: s("prompt_response"),
    })
}

/// What to print: stdout must be one JSON object; a message for the user
/// (the session notice, the outage message) travels as `systemMessage`.
fn reply(r: &Response) -> String {
    let msg = [r.stdout.as_str(), r.stderr.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if msg.is_empty() {
        "{}".to_owned()
    } else {
        serde_json::json!({ "systemMessage": msg }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_entries_are_recognised_and_replies_are_json() {
        assert!(super::super::settings::template_is_ours(
            SETTINGS_TEMPLATE,
            COMMAND_MARK
        ));
        assert_eq!(reply(&Response::default()), "{}");
        let r = reply(&Response {
            stdout: "notice".into(),
            stderr: String::new(),
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&r).unwrap()["systemMessage"],
            "notice"
        );
    }

    /// `PreCompress` comes before every model request: not compaction, and
    /// not in the template.
    #[test]
    fn pre_compress_is_not_a_compaction() {
        let e = parse(include_bytes!("../../../fixtures/gemini/PreCompress.json")).unwrap();
        assert_eq!(e.kind, Kind::Other);
        assert_eq!(e.trigger(), "gemini:PreCompress");
        let t: serde_json::Value = serde_json::from_str(SETTINGS_TEMPLATE).unwrap();
        assert!(t["hooks"].get("PreCompress").is_none());
    }
}
