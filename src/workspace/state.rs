//! The state directory, `<git-dir>/savepoint/`: every file savepoint keeps
//! for one work tree is named (and, where it has a format, versioned) here
//! and nowhere else. Everything in it is private (0700) and disposable in
//! the sense that losing it never loses a snapshot: snapshots live in the
//! object store and on shadow refs; the state dir holds caches, logs, the
//! watcher's rendezvous and notes that make the next command smarter.
//!
//! A file of another format version is read as "nothing recorded" by its
//! owner, never misread.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One file (or directory) in the state dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFile {
    /// The snapshot lock ([`super::lock::SnapshotLock`]): `flock`, holder pid.
    Lock,
    /// The repository-wide shadow-ref lock (`git::reflock`): in
    /// the state dir of the *common* git dir, shared by all work trees.
    RefsLock,
    /// The stat cache (binary, `snapshot::engine::cache`).
    StatCache,
    /// Prompts waiting for a snapshot ([`crate::snapshot::pending`]).
    PendingPrompts,
    /// Where versions before the prompt queue kept their one prompt (read
    /// once and taken over).
    LegacyPendingPrompt,
    /// Open agent turns, one marker per session (a directory).
    Turns,
    /// The hooks' log (rotated to `hook.log.1`).
    HookLog,
    /// The last failed agent turn (for the brief).
    Failure,
    /// The hand-off brief.
    Handoff,
    /// What the last restore, recover or undo changed (for `undo`).
    LastRestore,
    /// When the last automatic prune ran.
    LastPrune,
    /// The tip last pushed per remote and chain.
    Pushed,
    /// The watcher's pid lock.
    WatchPid,
    /// The watcher's status.
    WatchStatus,
    /// The watcher's control socket.
    WatchSocket,
    /// The watcher's sync cookies (a directory it watches: a file created
    /// there reaches it after every change made before).
    WatchSync,
    /// The detached watcher's log (rotated to `watch.log.1`).
    WatchLog,
    /// Temporary files of a restore (a directory).
    RestoreTmp,
    /// The squash message handed to the editor.
    SquashMessage,
    /// `bisect`'s temporary trees, one directory per run (named after its
    /// pid), removed when the run ends.
    Bisect,
}

impl StateFile {
    /// The file's name in the state dir.
    pub const fn name(self) -> &'static str {
        match self {
            StateFile::Lock => "lock",
            StateFile::RefsLock => "refs.lock",
            StateFile::StatCache => "stat-cache",
            StateFile::PendingPrompts => "pending-prompts.json",
            StateFile::LegacyPendingPrompt => "pending-prompt.json",
            StateFile::Turns => "turns",
            StateFile::HookLog => "hook.log",
            StateFile::Failure => "failure.json",
            StateFile::Handoff => "handoff.md",
            StateFile::LastRestore => "last-restore.json",
            StateFile::LastPrune => "last-prune",
            StateFile::Pushed => "pushed.json",
            StateFile::WatchPid => "watch.pid",
            StateFile::WatchStatus => "watch.json",
            StateFile::WatchSocket => "watch.sock",
            StateFile::WatchSync => "watch.sync",
            StateFile::WatchLog => "watch.log",
            StateFile::RestoreTmp => "tmp",
            StateFile::SquashMessage => "SQUASH_EDITMSG",
            StateFile::Bisect => "bisect",
        }
    }

    /// The format version a file with a versioned format is written in
    /// (and the only one it is read in); `0` for files without one.
    pub const fn format(self) -> u32 {
        match self {
            StateFile::StatCache => 2,
            StateFile::LastRestore => 2,
            StateFile::Failure | StateFile::Pushed => 1,
            _ => 0,
        }
    }

    /// The file's path in the state dir `dir`.
    pub fn path_in(self, dir: &Path) -> PathBuf {
        dir.join(self.name())
    }
}

/// A work tree's state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// The state dir of the work tree whose git dir is `git_dir` (for the
    /// common dir's: the repository's common dir).
    pub(crate) fn new(git_dir: &Path) -> StateDir {
        StateDir {
            path: git_dir.join("savepoint"),
        }
    }

    /// The directory (which may not exist yet).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `file`'s path (the directory may not exist yet).
    pub fn file(&self, file: StateFile) -> PathBuf {
        file.path_in(&self.path)
    }

    /// Create the directory (0700: it holds prompts, logs and the
    /// watcher's socket) if needed, tighten it if others may read it, and
    /// return it.
    pub fn ensure(&self) -> Result<&Path> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dir = &self.path;
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {
                if m.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::io("restrict the state dir", dir, e))?;
                }
            }
            _ => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io("create state dir", dir, e))?,
        }
        Ok(dir)
    }

    /// [`StateDir::ensure`], then `file`'s path.
    pub fn ensure_file(&self, file: StateFile) -> Result<PathBuf> {
        Ok(file.path_in(self.ensure()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[StateFile] = &[
        StateFile::Lock,
        StateFile::RefsLock,
        StateFile::StatCache,
        StateFile::PendingPrompts,
        StateFile::LegacyPendingPrompt,
        StateFile::Turns,
        StateFile::HookLog,
        StateFile::Failure,
        StateFile::Handoff,
        StateFile::LastRestore,
        StateFile::LastPrune,
        StateFile::Pushed,
        StateFile::WatchPid,
        StateFile::WatchStatus,
        StateFile::WatchSocket,
        StateFile::WatchSync,
        StateFile::WatchLog,
        StateFile::RestoreTmp,
        StateFile::SquashMessage,
        StateFile::Bisect,
    ];

    #[test]
    fn every_state_file_has_its_own_plain_name() {
        let mut names: Vec<&str> = ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "two state files share a name");
        for n in names {
            assert!(
                !n.is_empty() && !n.contains('/') && !n.starts_with('.'),
                "{n}"
            );
        }
    }

    #[test]
    fn the_state_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path());
        let dir = state.ensure().unwrap().to_path_buf();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        state.ensure().unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "a readable state dir is tightened");
        assert_eq!(state.file(StateFile::Lock), dir.join("lock"));
    }
}
