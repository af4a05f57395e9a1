//! Git plumbing: the one `git` command builder ([`command`]), the ref store
//! every ref read and write goes through ([`refs`]) with its repository-wide
//! lock for shadow refs ([`reflock`]), file-level tree diffs
//! ([`treediff`]) and libgit2's process-wide settings ([`libgit2_init`]).

pub mod command;
pub mod libgit2_init;
pub(crate) mod reflock;
pub mod refs;
pub mod treediff;
