//! Prompts waiting for a snapshot. A prompt whose snapshot found nothing new
//! (`UserPromptSubmit` before any edit, a second prompt that only asked a
//! question) is never lost: it waits in `<git-dir>/savepoint/pending-prompts.json`
//! (0600) with its session, in order, and the next snapshot that records
//! something carries every waiting prompt — a `Savepoint-Prompt` trailer each,
//! and a `Savepoint-Session` for every session among them. Read and written
//! under the snapshot lock only.

use crate::workspace::state::StateFile;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prompts kept at most; the oldest go first beyond that (a session of
/// hundreds of questions that never change a file).
const MAX_PROMPTS: usize = 200;
/// Longest prompt kept, in bytes (the trailer keeps 200 characters).
const MAX_PROMPT_BYTES: usize = 4096;

/// One waiting prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub session: Option<String>,
    pub prompt: String,
}

/// The waiting prompts, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub prompts: Vec<Prompt>,
}

fn path(state: &Path) -> PathBuf {
    StateFile::PendingPrompts.path_in(state)
}

/// Where versions before the queue kept their one prompt.
fn legacy_path(state: &Path) -> PathBuf {
    StateFile::LegacyPendingPrompt.path_in(state)
}

impl Queue {
    /// The waiting prompts (an unreadable file counts as none, with a
    /// warning: the state dir is a cache).
    pub fn load(state: &Path) -> Queue {
        let mut q = match std::fs::read(path(state)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable pending-prompts.json; starting afresh");
                Queue::default()
            }),
            Err(_) => Queue::default(),
        };
        if let Ok(bytes) = std::fs::read(legacy_path(state)) {
            if let Ok(p) = serde_json::from_slice::<Prompt>(&bytes) {
                q.prompts.insert(0, p);
            }
        }
        q
    }

    /// Add a prompt at the end, unless it repeats the last one of the same
    /// session (two hooks reporting one prompt: Codex's `UserPromptSubmit`
    /// and its turn-end notify).
    pub fn push(&mut self, session: Option<String>, prompt: &str) {
        let mut prompt = prompt.to_owned();
        if prompt.len() > MAX_PROMPT_BYTES {
            let mut end = MAX_PROMPT_BYTES;
            while !prompt.is_char_boundary(end) {
                end -= 1;
            }
            prompt.truncate(end);
        }
        let p = Prompt { session, prompt };
        if self.prompts.last() == Some(&p) {
            return;
        }
        self.prompts.push(p);
        if self.prompts.len() > MAX_PROMPTS {
            let extra = self.prompts.len() - MAX_PROMPTS;
            self.prompts.drain(..extra);
        }
    }

    /// Keep the queue for the next snapshot (atomically, 0600).
    pub fn save(&self, state: &Path) {
        let target = path(state);
        let written = serde_json::to_vec(self).ok().and_then(|b| {
            crate::fs::atomic::write_with_mode(&target, &b, crate::fs::atomic::PRIVATE).ok()
        });
        if written.is_none() {
            tracing::warn!(path = %target.display(), "could not keep the prompts for the next snapshot");
            return;
        }
        let _ = std::fs::remove_file(legacy_path(state));
    }

    /// A snapshot carries them: forget them.
    pub fn clear(state: &Path) {
        let _ = std::fs::remove_file(path(state));
        let _ = std::fs::remove_file(legacy_path(state));
    }

    /// The prompts' texts, in order.
    pub fn texts(&self) -> Vec<String> {
        self.prompts.iter().map(|p| p.prompt.clone()).collect()
    }

    /// The distinct sessions of the prompts, in order of first appearance.
    pub fn sessions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.prompts.iter().filter_map(|p| p.session.as_ref()) {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_kept_in_order_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = Queue::load(dir.path());
        q.push(Some("a".into()), "first");
        q.push(Some("a".into()), "first");
        q.push(Some("b".into()), "first");
        q.push(None, "second");
        q.save(dir.path());
        let back = Queue::load(dir.path());
        assert_eq!(back.texts(), ["first", "first", "second"]);
        assert_eq!(back.sessions(), ["a", "b"]);
        Queue::clear(dir.path());
        assert!(Queue::load(dir.path()).prompts.is_empty());
    }

    #[test]
    fn the_legacy_single_prompt_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            legacy_path(dir.path()),
            br#"{"session":"old","prompt":"kept from before"}"#,
        )
        .unwrap();
        let mut q = Queue::load(dir.path());
        q.push(Some("new".into()), "next");
        q.save(dir.path());
        assert!(!legacy_path(dir.path()).exists());
        assert_eq!(
            Queue::load(dir.path()).texts(),
            ["kept from before", "next"]
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut q = Queue::default();
        for i in 0..MAX_PROMPTS + 5 {
            q.push(None, &format!("p{i}"));
        }
        q.push(None, &"é".repeat(MAX_PROMPT_BYTES));
        assert_eq!(q.prompts.len(), MAX_PROMPTS);
        assert_eq!(q.prompts[0].prompt, "p6");
        assert!(q.prompts.last().unwrap().prompt.len() <= MAX_PROMPT_BYTES);
    }
}
