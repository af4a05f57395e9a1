//! `savepoint status`: is a watcher running, and where do snapshots go.

use std::io::Write;

use anyhow::Result;
use savepoint::watch;

use super::Ctx;
use crate::cli::output as ui;

/// Show the watcher of this work tree (if any) and its latest snapshot.
///
/// Reports whether a watcher runs (pid, watch mode, directories watched,
/// snapshots it took, recent errors), which chain snapshots of the current
/// HEAD go to, and that chain's latest snapshot.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  savepoint status\n  savepoint status --json | jq .watching")]
pub struct Args {
    /// Print JSON: {"watching","pid","ref","last_snapshot","snapshots",...}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let st = watch::status(&ws)?;
    if args.json {
        return super::print_json(&st);
    }
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    match st.pid {
        Some(pid) => {
            let mut details = vec![format!("pid {pid}")];
            if let Some(mode) = &st.mode {
                details.push(match st.watches {
                    Some(n) if mode != "poll" => format!("{mode}, {n} directories"),
                    _ => mode.clone(),
                });
            }
            if let Some(n) = st.snapshots_taken {
                details.push(format!("{} taken", ui::plural(n, "snapshot")));
            }
            if let Some(started) = st
                .started
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            {
                details.push(format!("started {}", ui::relative_age(&started)));
            }
            writeln!(
                out,
                "watcher:  {} ({})",
                u.paint(ui::ADD, "running"),
                details.join(", ")
            )?;
        }
        None => writeln!(
            out,
            "watcher:  {} (start one with `savepoint watch --detach`)",
            u.paint(ui::DEL, "not running")
        )?,
    }
    writeln!(out, "chain:    {}", u.paint(ui::REF, &st.refname))?;
    match (&st.last_snapshot, &st.last_snapshot_time) {
        (Some(id), Some(time)) => {
            let age = chrono::DateTime::parse_from_rfc3339(time)
                .map(|t| ui::relative_age(&t))
                .unwrap_or_default();
            writeln!(
                out,
                "latest:   {} ({age}; {} on this chain)",
                u.paint(ui::ID, id),
                ui::plural(st.snapshots as u64, "snapshot")
            )?;
        }
        _ => writeln!(
            out,
            "latest:   no snapshot yet (take one with `savepoint snap`)"
        )?,
    }
    if let Some(log) = &st.log {
        writeln!(out, "log:      {}", log.display())?;
    }
    for e in &st.errors {
        writeln!(out, "{}   {}", u.paint(ui::DEL, "error:"), ui::text(e))?;
    }
    Ok(())
}
