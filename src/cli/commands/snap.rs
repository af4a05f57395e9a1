//! `savepoint snap`: take a snapshot now.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use savepoint::snapshot::engine::{Engine, ScanOptions};
use savepoint::snapshot::record::{self, SnapRequest};
use savepoint::watch;

use super::Ctx;
use crate::cli::output as ui;

/// Take a snapshot of the work tree now (trigger `manual`).
///
/// Records exactly what `git add -A && git write-tree` would (ignored files
/// left out, tracked files kept, exec bits, symlinks, submodules) as a commit
/// on `refs/savepoint/heads/<branch>`, without touching your index, HEAD or
/// branches. Nothing is written when the tree equals the latest snapshot —
/// except with `-m`: a label you type is always recorded, also when the
/// watcher has already saved every change, so you can find it in
/// `savepoint log` and name it later as `@{/<text>}`.
/// Untracked files above `savepoint.maxFileSize` are left out and named.
/// With a watcher running, the watcher takes the snapshot (it knows what
/// changed since its last one), so `snap` answers in milliseconds.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint snap\n  savepoint snap -m \"before letting the agent refactor\"\n  savepoint diff \"@{/before letting}\"        # that labelled snapshot → work tree\n  savepoint restore \"@{/before letting}\" -- src/\n  savepoint snap --json | jq -r .id"
)]
pub struct Args {
    /// Label the snapshot (replaces the file summary in its subject). A
    /// label is recorded even when nothing changed; find it with
    /// `savepoint log`, name it with `@{/<text>}`.
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,

    /// Print the result as JSON: {"id","ref","created","trigger","tree",...}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let cfg = ws.config()?;
    if let Some(op) = ws.operation_in_progress() {
        tracing::info!("a {op} is in progress; snapshotting the work tree as it is");
    }
    let mut req = SnapRequest::new("manual");
    req.agent = Some("human".into());
    req.message = args.message.clone();
    req.label = true;
    // A running watcher knows what changed: it snapshots at once.
    let outcome = match watch::ask_snapshot(&ws, &req) {
        Some(outcome) => outcome,
        None => {
            let mut engine = Engine::new(&ws, ScanOptions::from_config(cfg))?;
            let counter = Arc::new(savepoint::snapshot::engine::ScanProgress::default());
            engine.set_progress(Arc::clone(&counter));
            let _progress = ui::Progress::start(counter, "scanning");
            record::take(&ws, &req, Some(&mut engine))?
        }
    };
    tracing::debug!(stats = ?outcome.stats, "scan finished");
    if args.json {
        return super::print_json(&outcome);
    }
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    if outcome.created {
        let id = outcome.id.as_deref().unwrap_or("");
        let summary = outcome
            .subject
            .split_once(": manual: ")
            .map_or(outcome.subject.as_str(), |(_, s)| s);
        let unchanged = if outcome.files.is_empty() {
            u.paint(ui::DIM, " (a label only: no file changed)")
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} {} {}{unchanged}",
            u.paint(ui::ID, id),
            u.paint(ui::REF, &outcome.refname),
            ui::text(summary)
        )?;
    } else {
        match &outcome.id {
            Some(id) => writeln!(
                out,
                "nothing to snapshot: the work tree matches {} ({})",
                u.paint(ui::ID, id),
                outcome.refname
            )?,
            None => writeln!(
                out,
                "nothing to snapshot: the work tree has no changes against HEAD"
            )?,
        }
    }
    for s in &outcome.skipped {
        eprintln!("warning: left out: {}", ui::text(&s.to_string()));
    }
    Ok(())
}
