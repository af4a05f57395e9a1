//! Git plumbing: the one `git` command builder ([`command`]), the ref store
//! every ref read and write goes through ([`refs`]) with its repository-wide
//! lock for shadow refs (`reflock`), file-level tree diffs
//! ([`treediff`]), entry modes ([`mode`]) and repository paths ([`path`])
//! defined once, copies of the index file ([`index_file`]) and libgit2's
//! process-wide settings ([`libgit2_init`]) and packs of new objects
//! (`pack`).

pub mod command;
pub mod index_file;
pub mod libgit2_init;
pub mod mode;
pub(crate) mod pack;
pub mod path;
pub(crate) mod reflock;
pub mod refs;
pub mod treediff;
