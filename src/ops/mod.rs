//! Operations on the snapshot chains: putting snapshots back into the work
//! tree ([`restore`], [`recover`]), turning them into a real commit
//! ([`squash`]), thinning them ([`prune`]), the hand-off brief
//! ([`handoff`]) and off-machine copies ([`remote`]).

pub mod handoff;
pub mod prune;
pub mod recover;
pub mod remote;
pub mod restore;
pub mod squash;
