//! The library's error type: one enum whose messages read well after
//! "failed to …" and whose variants carry what a caller needs to give the
//! user a next step (the CLI adds the hints, the library only classifies).
//!
//! Areas with several ways to fail have their own enum, wrapped here with
//! its source kept: [`crate::ops::squash::SquashError`],
//! [`crate::ops::bisect::BisectError`], [`crate::ops::remote::RemoteError`],
//! [`crate::snapshot::revision::RevisionError`],
//! [`crate::integrations::agents::settings::SettingsProblem`] and
//! [`StoreError`]. A variant names its cause in its message *and* returns
//! it as its `source()`: a log line with `{e}` says everything, and the
//! CLI does not repeat a cause already in the line.

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

    /// `stop`: the watcher does not answer and the pid file names no
    /// process proven to be it; nothing was signalled.
    #[error(
        "the watcher of {} does not answer on its socket and the pid file names {} — not proven to be the watcher, so nothing was signalled; stop the watcher process by hand",
        workdir.display(),
        match pid { Some(p) => format!("process {p}, which does not hold the watch lock"), None => "no valid process".to_owned() }
    )]
    StopUnproven { workdir: PathBuf, pid: Option<u32> },

    /// A snapshot tree holds a path that could escape the work tree.
    #[error("refusing to restore `{path}`: {reason}")]
    UnsafePath { path: String, reason: &'static str },

    /// A path given to `restore` is in neither the snapshot nor the work tree.
    #[error("pathspec `{path}` did not match any file in the snapshot or the work tree")]
    PathspecNoMatch { path: String },

    /// A path argument names something outside the work tree.
    #[error("{} is outside the work tree {} (paths are relative to the current directory, as in git)", path.display(), workdir.display())]
    OutsideWorkTree { path: PathBuf, workdir: PathBuf },

    /// A path argument names something inside the git dir.
    #[error("{} is inside the git directory, not the work tree", path.display())]
    InGitDir { path: PathBuf },

    /// An agent settings file savepoint would merge into is not valid.
    #[error("{} is not valid JSON settings ({problem}); it was left untouched", path.display())]
    InvalidSettings {
        path: PathBuf,
        #[source]
        problem: crate::integrations::agents::settings::SettingsProblem,
    },

    /// A value an agent's install does not take (`--claude=VALUE`).
    #[error("unknown value `{value}` (expected {})", expected.join(", "))]
    UnknownChoice {
        value: String,
        expected: Vec<&'static str>,
    },

    /// `squash` refused (the variant says why); nothing was changed.
    #[error("cannot squash: {0}")]
    Squash(#[from] crate::ops::squash::SquashError),

    /// `bisect` could not give an answer (the variant says why).
    #[error("cannot bisect: {0}")]
    Bisect(#[from] crate::ops::bisect::BisectError),

    /// Objects could not be written (full disk, read-only object store).
    #[error("cannot write to the object store: {0}")]
    ObjectStore(#[source] StoreError),

    /// Talking to a git remote failed (unknown, rejected, unreachable).
    #[error("remote `{remote}`: {source}")]
    Remote {
        remote: String,
        #[source]
        source: crate::ops::remote::RemoteError,
    },

    /// A `<snap>` argument did not resolve to a commit.
    #[error("cannot resolve snapshot `{spec}`: {source}")]
    Revision {
        spec: String,
        #[source]
        source: crate::snapshot::revision::RevisionError,
    },

    /// A prune plan that keeps no snapshot (plans always keep the tip).
    #[error("pruning would leave no snapshot on the chain; nothing was changed")]
    PruneWouldEmpty,

    /// HEAD is neither a symbolic ref nor a commit id.
    #[error("HEAD is neither symbolic nor a commit id")]
    BrokenHead,

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

    /// An operating-system call that is about no path failed.
    #[error("cannot {action}: {source}")]
    Os {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// `HOME` is not set: user-level settings have no place.
    #[error("HOME is not set, so user-level settings cannot be found; set HOME or use the project scope")]
    NoHome,

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

/// The object store refused a write (full disk, read-only `.git/objects`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", .0.message())]
    Git(#[source] git2::Error),
    #[error("{0}")]
    Io(#[source] std::io::Error),
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
