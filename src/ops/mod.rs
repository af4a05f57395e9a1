//! Operations on the snapshot chains: putting snapshots back into the work
//! tree ([`restore`], [`recover`]), turning them into a real commit
//! ([`squash`]), thinning them ([`prune`]), the hand-off brief
//! ([`handoff`]), off-machine copies ([`remote`]) and finding the snapshot
//! where a command starts to fail ([`bisect`]).

pub mod bisect;
pub mod handoff;
pub mod prune;
pub mod recover;
pub mod remote;
pub mod restore;
pub mod squash;
