//! What a long-running watcher does besides snapshots: the daily prune of
//! old snapshots (retention from the config) and, with
//! `savepoint.pushInterval`, a push of the chains in the background.
//! Neither may stop the watcher: failures are logged and reported back.

use std::time::{Duration, Instant};

use crate::ops::{prune, remote};
use crate::workspace::config::Config;
use crate::workspace::Workspace;

/// The watcher prunes old snapshots at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// After a snapshot: the daily prune, and a push every
/// `savepoint.pushInterval` since `last_push`. An error worth keeping in
/// the status file comes back.
pub(crate) fn after_snapshot(
    ws: &Workspace,
    cfg: &Config,
    last_push: &mut Option<Instant>,
) -> Option<String> {
    let failed = prune::due(ws, PRUNE_EVERY)
        .then(|| prune_now(ws, cfg))
        .flatten();
    if let Some(every) = cfg.push_interval {
        if last_push.is_none_or(|t| t.elapsed() >= every) {
            *last_push = Some(Instant::now());
            push_in_background(ws, cfg);
        }
    }
    failed
}

/// The daily prune (retention from the config); the error, if it failed.
fn prune_now(ws: &Workspace, cfg: &Config) -> Option<String> {
    prune::mark_done(ws);
    let retention = prune::Retention::from_config(cfg);
    let result = prune::plan(ws, &retention, chrono::Utc::now().timestamp()).and_then(|plans| {
        let dropped: usize = plans.iter().map(|p| p.dropped.len()).sum();
        prune::apply(ws, &plans).map(|problems| (dropped, problems))
    });
    match result {
        Ok((dropped, problems)) => {
            if dropped > 0 {
                tracing::info!(dropped, "pruned old snapshots");
            }
            for p in problems {
                tracing::warn!("prune: {p}");
            }
            None
        }
        Err(e) => {
            let msg = format!("prune failed: {e}");
            tracing::warn!("{msg}");
            Some(msg)
        }
    }
}

/// Push the chains to the configured remote on a thread of its own (the
/// network may be slow); the outcome is logged.
fn push_in_background(ws: &Workspace, cfg: &Config) {
    let remote = remote::choose(None, cfg.remote.as_deref());
    let workdir = ws.workdir().to_path_buf();
    let git_dir = ws.git_dir().to_path_buf();
    std::thread::spawn(move || {
        let result =
            Workspace::open(&git_dir, &workdir).and_then(|ws| remote::push(&ws, &remote, false));
        match result {
            Ok(refs) => {
                tracing::info!(remote = %remote, refs = refs.len(), "pushed snapshot chains")
            }
            Err(e) => tracing::warn!("push to {remote} failed: {e}"),
        }
    });
}
