//! savepoint: a git-integrated auto-commit safety net.
//!
//! The library records a work tree as snapshot commits on shadow refs
//! (`refs/savepoint/...`) without touching the user's index, HEAD or
//! branches. It never prints and knows nothing of the command line: the
//! binary (`src/main.rs`) renders what these modules return.
#![deny(unsafe_code)]

pub mod agent;
pub mod atomic;
pub mod chain;
pub mod config;
pub mod detach;
pub mod durable;
pub mod error;
pub mod fsat;
pub mod git;
pub mod githooks;
pub mod handoff;
pub mod libgit2_init;
pub mod lock;
pub mod pending;
pub mod provider_status;
pub mod prune;
pub mod recover;
pub mod refs;
pub mod remote;
pub mod repo;
pub mod restore;
pub mod revision;
pub mod snap;
pub mod snapshot;
pub mod squash;
pub mod text;
pub mod trailers;
pub mod treediff;
pub mod watch;

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
