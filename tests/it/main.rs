//! The integration tests, as one test binary: one link instead of one per
//! file, and one test runner scheduling every test on every core (no
//! binary waits for a slow one before it).
//!
//! Tests that call the library take a `TestRepo` (`common`) and call
//! `savepoint::…` directly; a test spawns the `savepoint` binary only when a
//! process boundary is what it tests — output, exit codes, `--json`, hooks
//! run by git or a client, the watcher, signals and crashes.
//!
//! Everything here shares one process, so no test changes process-wide
//! state (environment, current directory, umask, signal dispositions):
//! whatever a child process needs is given to it through `Command`.
//!
//! One module per area; run one with `cargo test --test it restore::` (or
//! one test by its name).

mod common;

mod agents;
mod answers;
mod brief;
mod cli;
mod concurrency;
mod crash;
mod engine;
mod filters;
mod fuzz;
mod hooks;
mod hostile;
mod oracle;
mod packs;
mod real_clients;
mod record;
mod recover;
mod remote;
mod repo_location;
mod restore;
mod squash_prune;
mod ui_bisect;
mod watch;
