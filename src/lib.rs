//! savepoint: a git-integrated auto-commit safety net.
//!
//! The library records a work tree as snapshot commits on shadow refs
//! (`refs/savepoint/...`) without touching the user's index, HEAD or
//! branches. It never prints and knows nothing of the command line: the
//! binary (`src/main.rs`) renders what these modules return.
#![deny(unsafe_code)]

// The layers, bottom up: `fs` (fd-relative, atomic and durable writes)
// and `git` (the command builder, the ref store, tree diffs) are plumbing;
// `workspace` is one work tree with its config, state directory and lock;
// `snapshot` computes trees (`engine`) and records them on chains
// (`record`, `chain`); `ops` are the operations on chains (restore,
// recover, squash, prune, hand-off, remote copies); `integrations` turn git
// hooks and coding agents' events into snapshots; `watch` is the daemon.
pub mod error;
pub mod fs;
pub mod git;
pub mod integrations;
pub mod ops;
pub mod snapshot;
pub mod text;
pub mod watch;
pub mod workspace;

pub use error::{Error, Result};

/// `1 snapshot`, `3 snapshots`: counts in messages.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// FNV-1a (64-bit): a hash that is the same on every version and platform
/// (unlike std's), for names derived from user strings.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
