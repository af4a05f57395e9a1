//! The library's error type: one enum whose messages read well after
//! "failed to …" and whose variants carry what a caller needs to give the
//! user a next step (the CLI adds the hints, the library only classifies).

use std::path::PathBuf;

/// Everything the savepoint library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No git repository at or above the given path.
    #[error("not a git repository: {}", path.display())]
    NotARepository { path: PathBuf },

    /// The repository has no working tree to snapshot.
    #[error("{} is a bare repository, which has no work tree to snapshot", path.display())]
    BareRepository { path: PathBuf },

    /// The repository's object format (SHA-256) is one libgit2 here cannot
    /// read: it is built for 20-byte SHA-1 ids only.
    #[error("{format} repositories are not supported yet (savepoint's libgit2 reads SHA-1 object ids only): {}", path.display())]
    UnsupportedObjectFormat { format: String, path: PathBuf },

    /// A git config value that savepoint reads is malformed.
    #[error("invalid value {value:?} for config key `{key}`: {reason}")]
    Config {
        key: String,
        value: String,
        reason: String,
    },

    /// Another savepoint process holds the snapshot lock for too long.
    #[error("another savepoint process ({holder}) holds the lock {}", path.display())]
    LockTimeout { path: PathBuf, holder: String },

    /// A watcher already runs for this work tree.
    #[error("a watcher (pid {pid}) is already running for {}", workdir.display())]
    AlreadyWatching { pid: u32, workdir: PathBuf },

    /// The watcher did not exit after being asked to stop.
    #[error("the watcher (pid {pid}) did not stop within {}s", waited.as_secs())]
    StopTimeout {
        pid: u32,
        waited: std::time::Duration,
    },

    /// The work tree the watcher watched was deleted.
    #[error("the work tree {} was deleted", path.display())]
    WorkTreeGone { path: PathBuf },

    /// The file watcher could not be started at all.
    #[error("cannot watch {}: {reason}", path.display())]
    Watch { path: PathBuf, reason: String },

    /// A snapshot tree holds a path that could escape the work tree.
    #[error("refusing to restore `{path}`: {reason}")]
    UnsafePath { path: String, reason: String },

    /// A path given to `restore` is in neither the snapshot nor the work tree.
    #[error("pathspec `{path}` did not match any file in the snapshot or the work tree")]
    PathspecNoMatch { path: String },

    /// An agent settings file savepoint would merge into is not valid.
    #[error("{} is not valid JSON settings ({reason}); it was left untouched", path.display())]
    InvalidSettings { path: PathBuf, reason: String },

    /// `squash` refused (the reason says why); nothing was changed.
    #[error("cannot squash: {reason}")]
    Squash { reason: String },

    /// `bisect` could not give an answer (the reason says why).
    #[error("cannot bisect: {reason}")]
    Bisect { reason: String },

    /// Objects could not be written (full disk, read-only object store).
    #[error("cannot write to the object store: {reason}")]
    ObjectStore { reason: String },

    /// Talking to a git remote failed (unknown, rejected, unreachable).
    #[error("remote `{remote}`: {reason}")]
    Remote { remote: String, reason: String },

    /// A `<snap>` argument did not resolve to a commit.
    #[error("cannot resolve snapshot `{spec}`: {reason}")]
    Revision { spec: String, reason: String },

    /// The shadow ref moved under us between read and compare-and-swap.
    #[error("shadow ref {refname} moved concurrently (expected {expected}, found {found})")]
    RefMoved {
        refname: String,
        expected: String,
        found: String,
    },

    /// A filesystem operation failed on a path.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A libgit2 operation failed.
    #[error("{action}: {}", source.message())]
    Git {
        action: String,
        #[source]
        source: git2::Error,
    },

    /// A tree nests deeper than git itself accepts (a crafted chain).
    #[error("a snapshot tree nests deeper than {limit} directories (git's core.maxTreeDepth); refusing to read it")]
    TreeTooDeep { limit: usize },

    /// The git command-line fallback failed.
    #[error("`git {args}` failed: {stderr}")]
    GitCli { args: String, stderr: String },
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Attach an action description to a `git2::Error`.
pub(crate) trait GitContext<T> {
    fn git_context(self, action: impl FnOnce() -> String) -> Result<T>;
}

impl<T> GitContext<T> for std::result::Result<T, git2::Error> {
    fn git_context(self, action: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Git {
            action: action(),
            source,
        })
    }
}
