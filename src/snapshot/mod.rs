//! Snapshots: computing the tree `git add -A && git write-tree` would
//! produce ([`engine`]; the work tree's [`current`] tree without recording
//! it), recording it as a commit on the work tree's chain
//! ([`record`]: lock, tree, skip-if-unchanged, commit, ref), the chains
//! themselves ([`chain`]), the commit message format ([`trailers`]), naming
//! snapshots on the command line ([`revision`]) and prompts waiting for
//! their snapshot ([`pending`]).

pub mod chain;
pub mod current;
pub mod engine;
pub mod pending;
pub mod record;
pub mod revision;
pub mod trailers;
