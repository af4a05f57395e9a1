//! The one place savepoint changes libgit2's process-wide settings, and the
//! crate's only `unsafe` code.
//!
//! libgit2 refuses to open a repository whose config names a
//! `extensions.*` it does not know. Some of those are harmless for what
//! savepoint does with libgit2 (objects, config, the index file):
//! `refstorage` (reftable ref storage: savepoint reads and writes refs
//! through `git` there, see [`crate::refs`]) and `partialclone` (promisor
//! remotes: a blob that was never fetched only matters for a path that is
//! read). `worktreeconfig`, `preciousobjects` and `noop` are listed too, so
//! the set does not depend on which of them a libgit2 build already knows.
//! `objectformat=sha256` is not among them: this libgit2 has 20-byte ids
//! only ([`crate::repo`] says so up front).

use std::sync::Once;

/// Extensions savepoint may open repositories with.
const ALLOWED_EXTENSIONS: &[&str] = &[
    "refstorage",
    "partialclone",
    "worktreeconfig",
    "preciousobjects",
    "noop",
];

static INIT: Once = Once::new();

/// Configure libgit2 once, before any repository is opened. Idempotent and
/// cheap after the first call.
pub fn init() {
    INIT.call_once(|| {
        if let Err(e) = allow_extensions() {
            tracing::warn!("cannot configure libgit2's extension list: {}", e.message());
        }
    });
}

#[expect(unsafe_code, reason = "libgit2 keeps the extension list in a global")]
fn allow_extensions() -> Result<(), git2::Error> {
    // SAFETY: `set_extensions` writes a process-global list inside libgit2
    // that repository opening reads without synchronisation. It is called
    // exactly once (`INIT`), from `init`, which every path that opens a
    // repository (`Workspace::discover`, `repo::reopen`) runs before its
    // first `Repository::open*`; so no other thread can be reading the list
    // while it is written. The strings are copied by libgit2.
    unsafe { git2::opts::set_extensions(ALLOWED_EXTENSIONS) }
}
