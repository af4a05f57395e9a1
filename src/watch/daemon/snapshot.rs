//! Turning a due batch into a snapshot: the request (a hook's metadata,
//! the changed paths and the chain they were collected against), the
//! outcome in the status file, and the housekeeping that follows.

use std::time::Instant;

use super::{Daemon, Report, CACHE_SAVE_EVERY};
use crate::error::Result;
use crate::snapshot::record::{self, ChainPos, SnapOutcome, SnapRequest};
use crate::watch::housekeeping;
use crate::watch::protocol::SnapMeta;

/// What [`Daemon::snapshot`] did.
pub(super) enum Taken {
    /// Nothing was pending.
    Nothing,
    /// A snapshot was taken (or found the tree unchanged).
    Done(Box<SnapOutcome>),
    /// It failed (reported as a warning; a full scan is retried later).
    Failed(String),
}

impl Daemon<'_> {
    /// Snapshot what is pending (with a hook's metadata, if any). Only a
    /// work tree that is gone is an error; a failed snapshot is reported
    /// and retried.
    pub(super) fn snapshot(&mut self, meta: Option<SnapMeta>) -> Result<Taken> {
        let now = Instant::now();
        self.check_head(now);
        if meta.is_some() && self.backend.is_polling() {
            // No events to go by: only a scan sees what the hook's turn did.
            self.schedule.full(now);
        }
        if self.rebuild {
            self.rebuild_watches();
        }
        let batch = self.schedule.take();
        if batch.is_empty() && meta.is_none() {
            return Ok(Taken::Nothing);
        }
        let mut req = meta
            .as_ref()
            .map_or_else(|| SnapRequest::new("watch"), SnapMeta::request);
        // The chain the batch's paths were collected against.
        req.since = self.since.clone();
        req.changed_paths = (!batch.full).then(|| {
            let mut paths = batch.paths;
            if let Some(m) = &meta {
                paths.extend(m.paths.iter().map(|p| self.ws.workdir().join(p)));
            }
            paths
        });
        let full = req.changed_paths.is_none();
        let started = Instant::now();
        match self.take(req) {
            Ok(out) => {
                if full {
                    self.backend
                        .after_scan(started.elapsed(), self.opts.debounce);
                }
                // (A prompt that found nothing new is kept by `record::take`
                // for the next snapshot.)
                if out.created {
                    self.state.last_snapshot_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                    (self.report)(Report::Snapshot(Box::new(out.clone())));
                }
                self.state.watches = self.backend.set().len();
                self.state.save(&self.state_dir);
                if let Some(e) =
                    housekeeping::after_snapshot(self.ws, self.cfg, &mut self.last_push)
                {
                    self.state.push_error(&e);
                }
                Ok(Taken::Done(Box::new(out)))
            }
            Err(e) => {
                self.check_alive()?;
                let msg = format!("snapshot failed: {e}");
                self.warn(msg.clone());
                // Retry with a full scan, but not in a tight loop.
                let now = Instant::now();
                self.schedule.retry_full(now, now + self.opts.max_wait);
                self.state.save(&self.state_dir);
                Ok(Taken::Failed(msg))
            }
        }
    }

    /// Take a snapshot and record it in the status.
    pub(super) fn take(&mut self, req: SnapRequest) -> Result<SnapOutcome> {
        self.since = None;
        self.base_tree = None;
        let out = record::take(self.ws, &req, Some(&mut self.engine))?;
        self.base_tree = git2::Oid::from_str(&out.tree).ok();
        self.since = Some(ChainPos {
            refname: out.refname.clone(),
            tip: out.oid,
            tree: self.base_tree,
        });
        if self.cache_saved.elapsed() >= CACHE_SAVE_EVERY {
            self.engine.save_cache();
            self.cache_saved = Instant::now();
        }
        // The HEAD the snapshot was taken for; a checkout after it is seen
        // by `check_head` (and handled with a full scan).
        self.last_head = out.head.clone();
        self.state.refname = out.refname.clone();
        if out.created {
            self.state.snapshots_taken += 1;
            self.state.last_snapshot = out.id.clone();
            self.state.last_snapshot_time = Some(chrono::Local::now().to_rfc3339());
        }
        Ok(out)
    }
}
