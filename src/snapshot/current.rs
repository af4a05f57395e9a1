//! The work tree's current state as a snapshot would record it, without
//! recording it: what `restore --dry-run`, `recover`, `diff` and the
//! agents' session-start check compare with. The running watcher answers
//! when there is one (it knows what changed since its last snapshot);
//! otherwise one full scan (stat-cached) by a one-shot [`Engine`].

use git2::Oid;

use crate::error::Result;
use crate::snapshot::engine::{Engine, ScanOptions};
use crate::workspace::Workspace;

/// The tree a snapshot taken now would have; nothing is recorded (the
/// objects are written, as any scan writes them).
pub fn tree(ws: &Workspace) -> Result<Oid> {
    if let Some(tree) = crate::watch::ask_tree(ws) {
        return Ok(tree);
    }
    scan(ws)
}

/// [`tree`] by a full (stat-cached) scan of this process's own, never
/// asking a watcher.
pub fn scan(ws: &Workspace) -> Result<Oid> {
    let cfg = ws.config()?;
    let mut engine = Engine::new(ws, ScanOptions::from_config(cfg))?;
    Ok(engine.scan(ws)?.tree)
}
