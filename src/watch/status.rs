//! What a watcher says about itself and what `savepoint status` shows.
//!
//! The running watcher keeps [`WatchState`] current in `watch.json` (its
//! mode, watch count, last snapshot, recent errors); [`status`] joins that
//! with the chain of the current HEAD and the pid lock. The status file is
//! believed only when the lock says its pid is the running watcher.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snapshot::chain;
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

use super::process::{log_path, running_pid};

/// Errors kept in the status file.
const KEEP_ERRORS: usize = 10;

pub(crate) fn status_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchStatus.path_in(state_dir)
}

/// What the watcher publishes about itself in `watch.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WatchState {
    pub pid: u32,
    /// RFC 3339.
    pub started: String,
    /// `inotify` (or the platform's notifier) or `poll`.
    pub mode: String,
    /// Directories watched.
    pub watches: usize,
    /// The shadow ref the last snapshot went to.
    #[serde(rename = "ref")]
    pub refname: String,
    /// Snapshots this watcher created.
    pub snapshots_taken: u64,
    pub last_snapshot: Option<String>,
    /// RFC 3339.
    pub last_snapshot_time: Option<String>,
    /// Work from "batch due" to "ref moved" for the last snapshot, in ms.
    pub last_snapshot_ms: Option<f64>,
    /// How long the start-up scan took, in ms.
    pub startup_scan_ms: Option<f64>,
    /// The most recent errors (newest last).
    pub errors: Vec<String>,
}

impl WatchState {
    /// Write atomically (temp file + rename).
    pub(crate) fn save(&self, state_dir: &Path) {
        let path = status_path(state_dir);
        let ok = serde_json::to_vec_pretty(self).ok().and_then(|bytes| {
            // Rewritten after every snapshot and only informative: atomic,
            // but not worth an fsync each time.
            crate::fs::atomic::write_cache(&path, &bytes, crate::fs::atomic::PRIVATE).ok()
        });
        if ok.is_none() {
            tracing::debug!(path = %path.display(), "could not write watcher status");
        }
    }

    /// Keep `msg` (time-stamped) among the most recent errors.
    pub(crate) fn push_error(&mut self, msg: &str) {
        let stamped = format!("{} {msg}", chrono::Local::now().to_rfc3339());
        self.errors.push(stamped);
        if self.errors.len() > KEEP_ERRORS {
            self.errors.remove(0);
        }
    }

    /// The status file in `state_dir`, if there is a readable one.
    pub fn load(state_dir: &Path) -> Option<WatchState> {
        let bytes = std::fs::read(status_path(state_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// `savepoint status`: the watcher (if any) and the current chain.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub watching: bool,
    pub pid: Option<u32>,
    /// The chain snapshots of the current HEAD go to.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The chain's latest snapshot (12-hex id).
    pub last_snapshot: Option<String>,
    /// RFC 3339.
    pub last_snapshot_time: Option<String>,
    /// Snapshots on the chain.
    pub snapshots: usize,
    /// `inotify` or `poll` (watching only).
    pub mode: Option<String>,
    /// Directories watched.
    pub watches: Option<usize>,
    /// Snapshots this watcher created.
    pub snapshots_taken: Option<u64>,
    pub started: Option<String>,
    pub errors: Vec<String>,
    pub log: Option<PathBuf>,
    /// Work for the watcher's last snapshot, in ms.
    pub last_snapshot_ms: Option<f64>,
    pub startup_scan_ms: Option<f64>,
}

/// Gather the status of this work tree's watcher and chain.
pub fn status(ws: &Workspace) -> Result<Status> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let tip = chain::tip(repo, &refname)?;
    let (last_snapshot, last_snapshot_time, snapshots) = match tip {
        Some(t) => {
            let commit = repo.find_commit(t).map_err(|source| Error::Git {
                action: format!("read commit {t}"),
                source,
            })?;
            (
                Some(chain::short_id(t)),
                Some(chain::commit_time(&commit).to_rfc3339()),
                chain::walk(repo, t, None)?.len(),
            )
        }
        None => (None, None, 0),
    };
    let pid = running_pid(ws)?;
    let state_dir = ws.state().path();
    let live = pid
        .and_then(|_| WatchState::load(state_dir))
        .filter(|s| Some(s.pid) == pid);
    let log = log_path(state_dir);
    Ok(Status {
        watching: pid.is_some(),
        pid,
        refname,
        last_snapshot,
        last_snapshot_time,
        snapshots,
        mode: live.as_ref().map(|s| s.mode.clone()),
        watches: live.as_ref().map(|s| s.watches),
        snapshots_taken: live.as_ref().map(|s| s.snapshots_taken),
        started: live.as_ref().map(|s| s.started.clone()),
        errors: live.as_ref().map(|s| s.errors.clone()).unwrap_or_default(),
        log: log.exists().then_some(log),
        last_snapshot_ms: live.as_ref().and_then(|s| s.last_snapshot_ms),
        startup_scan_ms: live.as_ref().and_then(|s| s.startup_scan_ms),
    })
}
