//! Answering from the watcher's state: `snap`, and the commands that
//! compare with the work tree (through [`crate::snapshot::current::tree`]),
//! ask the running watcher instead of scanning the tree themselves.
//!
//! An answer must be what a fresh full scan would give at the moment of
//! the request, so first [`Daemon::sync`] makes sure the watcher has seen
//! every change made before it (a cookie file, as watchman does, but in
//! the state dir: never a file in the user's work tree); then the answer
//! costs what the pending changes cost — the last snapshot's tree patched
//! for the paths changed since, nothing when nothing changed.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use git2::Oid;

use super::snapshot::Taken;
use super::{Daemon, Msg};
use crate::error::Result;
use crate::watch::protocol::{Answer, Reply, Request, Snapped};
use crate::workspace::state::StateFile;

/// How long to wait for a sync cookie's event before falling back to a
/// full scan (which is exact without it). The event normally arrives
/// within a millisecond; only a notifier that lost its watch never sends it.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

impl Daemon<'_> {
    /// A request from the socket other than `stop`/`ping`: snapshot (a
    /// hook's, or `snap` waiting for the outcome) or the current tree.
    pub(super) fn on_request(
        &mut self,
        req: Request,
        answer: Option<Answer>,
        rx: &Receiver<Msg>,
    ) -> Result<()> {
        // A hook's or a command's writes happened before its request.
        self.sync(rx)?;
        let reply = match req {
            Request::Snap(meta) => {
                let brief = meta.brief;
                match self.snapshot(Some(meta))? {
                    Taken::Done(out) => match brief.then(|| crate::ops::handoff::write(self.ws)) {
                        Some(Err(e)) => {
                            let e = format!("cannot write the hand-off brief: {e}");
                            self.warn(e.clone());
                            reply(Err(e), None)
                        }
                        _ => reply(Ok(None), Some(Snapped::new(*out))),
                    },
                    Taken::Failed(e) => reply(Err(e), None),
                    Taken::Nothing => reply(Err("nothing was snapshotted".into()), None),
                }
            }
            Request::Tree => {
                let tree = self.current_tree().map_err(|e| e.to_string());
                reply(tree.map(Some), None)
            }
            Request::Stop | Request::Ping => return Ok(()),
        };
        if let Some(answer) = answer {
            // The client may have given up; it then does the work itself.
            let _ = answer.try_send(reply);
        }
        Ok(())
    }

    /// Wait until every change made before this call has been seen: create
    /// a cookie in the (watched) sync directory and process events until
    /// the cookie's own arrives — the notifier reports events in order.
    /// Without the notifier (polling) or without the cookie's event in
    /// time, a full scan is scheduled instead, which needs no events.
    pub(super) fn sync(&mut self, rx: &Receiver<Msg>) -> Result<()> {
        if !self.backend.syncs() {
            self.schedule.full(Instant::now());
            return Ok(());
        }
        self.cookies += 1;
        let name = format!("{}-{}", std::process::id(), self.cookies);
        let cookie = StateFile::WatchSync.path_in(&self.state_dir).join(&name);
        if let Err(e) = std::fs::File::create(&cookie) {
            tracing::warn!(error = %e, path = %cookie.display(), "cannot create a sync cookie; scanning instead");
            self.schedule.full(Instant::now());
            return Ok(());
        }
        let deadline = Instant::now() + SYNC_TIMEOUT;
        let seen = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(msg) => {
                    if self.absorb(msg, Some(name.as_ref())) {
                        break true;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break false,
            }
        };
        let _ = std::fs::remove_file(&cookie);
        if !seen {
            tracing::warn!("the sync cookie's event did not arrive; scanning instead");
            self.schedule.full(Instant::now());
        }
        self.check_alive()
    }

    /// The tree a snapshot taken now would record, without recording it:
    /// the last snapshot's tree patched for the pending paths (nothing to
    /// do when none are pending), or a full scan when one is due anyway
    /// (branch switch, ignore rules changed, lost events). The pending
    /// changes stay pending for the next snapshot.
    fn current_tree(&mut self) -> Result<Oid> {
        let now = Instant::now();
        self.check_head(now);
        if self.rebuild {
            self.rebuild_watches();
        }
        let pending = self.schedule.pending();
        match self.base_tree {
            Some(base) if !pending.full && pending.paths.is_empty() => Ok(base),
            Some(base) if !pending.full => {
                Ok(self.engine.look(self.ws, base, &pending.paths)?.tree)
            }
            _ => Ok(self.engine.scan(self.ws)?.tree),
        }
    }
}

/// The answer to a request: the tree or the snapshot, or why not.
fn reply(tree: std::result::Result<Option<Oid>, String>, snap: Option<Snapped>) -> Reply {
    match tree {
        Ok(tree) => Reply {
            tree: tree.map(|t| t.to_string()),
            snapshot: snap,
            ..Reply::from_watcher(true, None)
        },
        Err(e) => Reply::from_watcher(false, Some(e)),
    }
}
