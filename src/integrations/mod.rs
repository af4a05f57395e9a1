//! Where events from outside become snapshots: git hooks ([`githooks`]),
//! coding agents' hooks ([`agents`]), the worker a hook hands its slow part
//! to ([`detach`]) and the model providers' status pages
//! ([`provider_status`]).

pub mod agents;
pub mod detach;
pub mod githooks;
pub mod provider_status;
