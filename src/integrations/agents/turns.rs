//! Open turns: a prompt opens a turn of its session, the turn's end (or
//! failure) closes it. Codex and Gemini send no event when a turn dies on
//! an API error — the session just ends — so a session that ends with its
//! turn still open is the failed turn. One marker file per session under
//! `<git-dir>/savepoint/turns/` (created and removed atomically, so hooks
//! running side by side never lose each other's update).

use crate::workspace::state::StateFile;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Event;

/// Markers older than this are from sessions that never ended (killed
/// clients); they are cleared when a new turn opens.
const STALE: Duration = Duration::from_secs(7 * 24 * 3600);

fn dir(state: &Path) -> PathBuf {
    StateFile::Turns.path_in(state)
}

/// The marker of the event's session: agent and a hash of the session id
/// (ids are client-chosen strings; a hash keeps the name a safe file name).
fn marker(state: &Path, event: &Event) -> PathBuf {
    let session = event.session.as_deref().unwrap_or("");
    let h = crate::fnv1a(session.as_bytes());
    dir(state).join(format!("{}-{h:016x}", event.agent))
}

/// A prompt was submitted: the session's turn is open.
pub(crate) fn opened(state: &Path, event: &Event) {
    let d = dir(state);
    if std::fs::create_dir_all(&d).is_err() {
        return;
    }
    clear_stale(&d);
    // Only its existence counts (no fsync: a marker lost in a crash loses
    // a brief, never work). 0600: it holds the session id.
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(marker(state, event))
    {
        let _ = f.write_all(event.session.as_deref().unwrap_or("").as_bytes());
    }
}

/// The session's turn ended (or the session did): `true` when it was open.
pub(crate) fn closed(state: &Path, event: &Event) -> bool {
    std::fs::remove_file(marker(state, event)).is_ok()
}

fn clear_stale(d: &Path) {
    let Ok(entries) = std::fs::read_dir(d) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::agents::Kind;

    fn event(agent: &'static str, session: &str) -> Event {
        Event {
            agent,
            name: "x".into(),
            session: Some(session.into()),
            cwd: None,
            kind: Kind::Other,
            prompt: None,
            transcript: None,
            last_message: None,
        }
    }

    #[test]
    fn a_turn_is_open_from_its_prompt_to_its_end() {
        let state = tempfile::tempdir().unwrap();
        let a = event("codex", "../../etc/passwd");
        let b = event("codex", "other");
        assert!(!closed(state.path(), &a), "never opened");
        opened(state.path(), &a);
        opened(state.path(), &b);
        assert!(closed(state.path(), &a));
        assert!(!closed(state.path(), &a), "closed once");
        assert!(closed(state.path(), &b));
        // The marker stays inside the state dir whatever the session id.
        opened(state.path(), &a);
        let names: Vec<_> = std::fs::read_dir(dir(state.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].to_string_lossy().starts_with("codex-"));
    }
}
