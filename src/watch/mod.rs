//! The file watcher behind `savepoint watch`: one per work tree, a daemon
//! that turns file-system events into snapshots.
//!
//! Events come from the OS notifier (inotify on Linux) with one
//! non-recursive watch per directory that can hold snapshot content, so
//! ignored trees such as `target/` cost nothing (on macOS, FSEvents: one
//! recursive watch, filtered by the same directory set; see `backend`);
//! when the notifier cannot
//! be used (out of inotify watches, unsupported file system, `--poll`) the
//! watcher polls with full stat-cached scans instead. Changed paths collect
//! until the batch is due; the snapshot is then an incremental update of
//! the chain's tip tree (O(changed paths)). A full, stat-cached scan
//! happens at start, after an event overflow, when ignore rules change and
//! after a branch switch.
//!
//! Threads: the daemon's loop owns all state; the notifier, the control
//! socket's server and a signal thread only send it messages over one
//! channel. `push` runs on a thread of its own.
//!
//! Where each part lives:
//! - `daemon`: the event loop ([`run`]), snapshots, and `daemon/events`
//!   — what each event does;
//! - `classify`: which events and paths matter (pure, no file system);
//! - `schedule`: debounce, max-wait and hold-backs (pure);
//! - `backend` and `dirs`: the notifier or polling, and which
//!   directories are watched; `scanwatch`: watching them as the start-up
//!   scan walks the tree; `inotify` (Linux) and `notify_os` (others):
//!   the notifier itself;
//! - `housekeeping`: the daily prune and the periodic push;
//! - `status`: the status file the watcher keeps, and `savepoint status`;
//! - `process` and `lockholder`: the pid lock, starting and stopping a
//!   watcher;
//! - `protocol`: the control socket hooks and `stop` talk to.

mod backend;
mod classify;
mod daemon;
mod dirs;
mod housekeeping;
#[cfg(target_os = "linux")]
mod inotify;
mod lockholder;
#[cfg(not(target_os = "linux"))]
mod notify_os;
mod process;
mod protocol;
mod scanwatch;
mod schedule;
mod status;

pub use daemon::{run, Report, WatchOptions};
pub use process::{log_path, running_pid, spawn_detached, stop, Stopped};
pub use protocol::{
    ask_snapshot, ask_snapshot_with, ask_tree, send, socket_path, Reply, Request, SnapMeta,
};
pub use status::{status, Status, WatchState};
