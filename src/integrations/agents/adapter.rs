//! The adapter every coding agent implements ([`Agent`]), and what its
//! settings edits report ([`Change`], [`StatusLine`]). The registry is
//! [`super::all`]: the hook command, `hooks install|uninstall|status`, the
//! turn bookkeeping, the status check and the brief reach an agent only
//! through it, so another client is one file implementing [`Agent`] and
//! one line in that list.
//!
//! Most agents keep savepoint's hook entries in one JSON file, in the work
//! tree or the home directory ([`Agent::settings`], by [`Scope`]): the
//! settings methods' defaults handle that; an agent that plugs in
//! differently (Codex) overrides them.

use std::path::{Path, PathBuf};

use super::settings::{AgentSettings, Scope};
use super::transcript;
use super::{Event, Response};
use crate::error::{Error, Result};

/// One value of `hooks install --<agent>=VALUE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub name: &'static str,
    /// What it means, in a line.
    pub help: &'static str,
}

/// One coding client: how it calls `savepoint hook <name>`, what it
/// expects back, and where savepoint's hook entries go in its settings.
pub trait Agent: Sync {
    /// `claude`: the `savepoint hook` entry point, the `hooks install`
    /// flag, the trigger prefix (`claude:Stop`) and [`Event::agent`].
    fn name(&self) -> &'static str;

    /// `Claude Code`: the client, for messages.
    fn title(&self) -> &'static str;

    /// How the client calls `savepoint hook <name>`, in a line.
    fn hook_doc(&self) -> &'static str;

    // ------------------------------------------------------- the hook call

    /// Does `savepoint hook <name>` take arguments? (Codex's `notify`
    /// passes its payload as one.)
    fn takes_args(&self) -> bool {
        false
    }

    /// The payload when it comes in an argument; `None` (the default): it
    /// is on stdin.
    fn payload_arg<'a>(&self, _args: &'a [String]) -> Option<&'a str> {
        None
    }

    /// Work the call asks for besides the event, done before the payload
    /// is parsed (Codex: run the `notify` program savepoint chained). `Err`
    /// is logged; the hook goes on.
    fn forward(&self, _args: &[String]) -> std::result::Result<(), String> {
        Ok(())
    }

    /// The event a payload reports; `Err` says why it is malformed.
    fn parse(&self, payload: &[u8], args: &[String]) -> std::result::Result<Event, String>;

    /// What to print for the client: `response` as it is (the default:
    /// stdout for the agent, stderr for the user), or in the form the
    /// client reads. `event` is the name of the event answered; `None` when
    /// there was none to answer (a malformed payload, hooks turned off).
    fn reply(&self, _event: Option<&str>, response: Response) -> Response {
        response
    }

    // --------------------------------------------------------- the session

    /// Does the client report a turn that died on an API error? Without
    /// such an event, a session that ends inside a turn is taken for one.
    fn has_failure_event(&self) -> bool {
        false
    }

    /// The format of the client's session transcript, when savepoint reads it.
    fn transcript(&self) -> Option<transcript::Format> {
        None
    }

    /// The model provider behind the client, as a key of
    /// [`crate::integrations::provider_status::PROVIDERS`].
    fn status_provider(&self) -> Option<&'static str> {
        None
    }

    /// The shell command that resumes a session; `session` is its id when
    /// that is safe to paste into a shell.
    fn resume_command(&self, _session: Option<&str>) -> Option<String> {
        None
    }

    // -------------------------------------------------------- the settings

    /// The JSON file savepoint merges its hook entries into.
    fn settings(&self) -> &'static AgentSettings;

    /// What `hooks install --<name>` does, in a paragraph.
    fn install_doc(&self) -> &'static str;

    /// `SCOPE`: what the flag's value chooses.
    fn choice_name(&self) -> &'static str {
        "SCOPE"
    }

    /// The flag's values; the first is the default.
    fn choices(&self) -> &'static [Choice] {
        Scope::CHOICES
    }

    /// Fail, before anything is written anywhere, when the files an install
    /// with `choice` would edit cannot be read.
    fn check(&self, workdir: &Path, choice: &str) -> Result<()> {
        let s = self.settings();
        s.installed(&s.path(workdir, choice.parse()?)?)?;
        Ok(())
    }

    /// Install savepoint's entries (idempotent).
    fn install(&self, workdir: &Path, choice: &str) -> Result<Vec<Change>> {
        let s = self.settings();
        let file = s.path(workdir, choice.parse()?)?;
        Ok(vec![Change::Entries {
            agent: self.title(),
            events: s.install(&file)?,
            file,
        }])
    }

    /// Take out exactly what install added.
    fn uninstall(&self, workdir: &Path, choice: &str) -> Result<Vec<Change>> {
        let s = self.settings();
        let file = s.path(workdir, choice.parse()?)?;
        Ok(vec![Change::Entries {
            agent: self.title(),
            events: s.uninstall(&file)?,
            file,
        }])
    }

    /// What is installed where (a file that cannot be read is said so).
    fn status(&self, workdir: &Path) -> Result<Vec<StatusLine>> {
        let s = self.settings();
        Scope::ALL
            .iter()
            .map(|&scope| {
                let file = s.path(workdir, scope)?;
                let state = match s.installed(&file) {
                    Ok(events) if events.is_empty() => State::Absent,
                    Ok(events) => State::Installed {
                        events,
                        trust: None,
                    },
                    Err(e) => State::Unreadable(e),
                };
                Ok(StatusLine::File {
                    what: self.title(),
                    file,
                    state,
                })
            })
            .collect()
    }
}

impl std::fmt::Debug for dyn Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `value` is none of `choices`.
pub(crate) fn unknown_choice(value: &str, choices: &[Choice]) -> Error {
    Error::UnknownChoice {
        value: value.to_owned(),
        expected: choices.iter().map(|c| c.name).collect(),
    }
}

/// One thing an install or uninstall did, or found already done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// savepoint's hook entries in `file`: the events added (install) or
    /// removed (uninstall); none when they were all there already
    /// (install) or none was there (uninstall).
    Entries {
        agent: &'static str,
        file: PathBuf,
        events: Vec<String>,
    },
    /// A setting savepoint owns whole (Codex's `notify`): set (install) or
    /// taken out (uninstall); `false` when it was so already (install) or
    /// not savepoint's (uninstall).
    Setting {
        name: &'static str,
        file: PathBuf,
        changed: bool,
    },
    /// Anything else worth saying, in full.
    Note(String),
}

/// One line of `hooks status` for an agent.
#[derive(Debug)]
pub enum StatusLine {
    /// What savepoint has in one file.
    File {
        /// `Claude Code`, `Codex CLI notify`.
        what: &'static str,
        file: PathBuf,
        state: State,
    },
    /// Anything else worth saying, in full.
    Note(String),
}

/// What savepoint has in a file.
#[derive(Debug)]
pub enum State {
    /// Its entries, for these events (none: a single setting).
    Installed {
        events: Vec<String>,
        /// For a client that runs hooks only once trusted.
        trust: Option<Trust>,
    },
    Absent,
    /// The file cannot be read (install would refuse it too).
    Unreadable(Error),
}

/// Whether the client runs the installed hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The events the client would skip (none: all trusted).
    pub untrusted: Vec<String>,
    /// What to do about them.
    pub fix: &'static str,
}

#[cfg(test)]
mod tests {
    use super::super::{all, by_name, settings};

    /// Every agent is found by its name, once; its hook entries run
    /// `savepoint hook <name>` and are all recognised as savepoint's; its
    /// flag has a default.
    #[test]
    fn registry_is_consistent() {
        let mut names: Vec<&str> = all().iter().map(|a| a.name()).collect();
        for a in all() {
            assert_eq!(by_name(a.name()).unwrap().title(), a.title());
            let s = a.settings();
            assert_eq!(s.mark, format!("savepoint hook {}", a.name()));
            assert!(settings::template_is_ours(s.template, s.mark), "{a:?}");
            assert!(!a.choices().is_empty(), "{a:?}");
            assert!(a.parse(b"{}", &[]).is_err(), "{a:?}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all().len());
        assert!(by_name("git").is_none() && by_name("worker").is_none());
    }
}
