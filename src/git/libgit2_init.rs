//! The one place savepoint changes libgit2's process-wide settings, and one
//! of the crate's two pieces of `unsafe` code (the other: [`crate::integrations::detach`]).
//!
//! libgit2 refuses to open a repository whose config names a
//! `extensions.*` it does not know. Some of those are harmless for what
//! savepoint does with libgit2 (objects, config, the index file):
//! `refstorage` (reftable ref storage: savepoint reads and writes refs
//! through `git` there, see [`crate::git::refs`]) and `partialclone` (promisor
//! remotes: a blob that was never fetched only matters for a path that is
//! read). `worktreeconfig`, `preciousobjects` and `noop` are listed too, so
//! the set does not depend on which of them a libgit2 build already knows.
//! `objectformat=sha256` is not among them: this libgit2 has 20-byte ids
//! only ([`crate::workspace`] says so up front).

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
/// cheap after the first call; a program that also opens repositories
/// through git2 directly, on other threads, calls this first.
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
    // that repository opening reads without synchronisation, so it must not
    // run while another thread opens a repository. It runs exactly once
    // (`INIT`; other callers of `init` wait for it), and every repository
    // savepoint opens is opened in or after `init`: `Workspace::discover`
    // and `repo::reopen` call it first, and the remaining opens (per-thread
    // object handles, nested repositories) only happen on a workspace
    // found that way. A program embedding the library that opens
    // repositories with git2 on other threads calls `init` first. The
    // strings are copied by libgit2.
    unsafe { git2::opts::set_extensions(ALLOWED_EXTENSIONS) }
}
