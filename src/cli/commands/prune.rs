//! `savepoint prune`: apply the retention settings to every chain.

use std::io::Write;

use anyhow::Result;
use savepoint::ops::prune::{self, Retention};

use super::Ctx;
use crate::cli::output as ui;

/// Thin old snapshots according to the retention settings.
///
/// Keeps every snapshot of the last `savepoint.keepAll` (1d), one per hour
/// up to `savepoint.keepHourly` (7d), one per day up to
/// `savepoint.keepDaily` (90d), and drops older ones.
/// The latest snapshot of an existing branch always stays; chains of
/// deleted branches go once every snapshot is past the horizon. Kept
/// snapshots keep their trees, messages and dates; the old tip stays in the
/// ref's reflog (`git reflog refs/savepoint/heads/<branch>`). The watcher
/// runs this once a day. A pruned chain you pushed before replaces the
/// pushed copy at the next `savepoint push` (a chain another machine
/// pushed is still refused).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint prune --dry-run\n  git config savepoint.keepAll 2d && savepoint prune"
)]
pub struct Args {
    /// Print what would be dropped; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON: an array of {"ref","kept","dropped":[{"id","time","subject"}],"delete"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let cfg = ws.config()?;
    let plans = prune::plan(
        &ws,
        &Retention::from_config(cfg),
        chrono::Utc::now().timestamp(),
    )?;
    let problems = if args.dry_run {
        Vec::new()
    } else {
        prune::apply(&ws, &plans)?
    };
    if args.json {
        super::print_json(&plans)?;
    } else {
        let u = &ctx.ui;
        let mut out = std::io::stdout().lock();
        if plans.is_empty() {
            writeln!(out, "nothing to prune")?;
        }
        let verb = if args.dry_run {
            "would drop"
        } else {
            "dropped"
        };
        for p in &plans {
            let what = if p.delete {
                format!("{verb} the whole chain (its branch is gone)")
            } else {
                format!(
                    "{verb} {}, kept {}",
                    savepoint::plural(p.dropped.len() as u64, "snapshot"),
                    p.kept
                )
            };
            writeln!(out, "{}: {what}", u.paint(ui::REF, &p.refname))?;
            for d in &p.dropped {
                writeln!(
                    out,
                    "  {} {} {}",
                    u.paint(ui::ID, &d.id),
                    u.paint(ui::DIM, &d.time),
                    d.subject
                )?;
            }
        }
        if args.dry_run && !plans.is_empty() {
            writeln!(out, "{}", u.paint(ui::DIM, "dry run: nothing was changed"))?;
        }
    }
    for p in &problems {
        eprintln!("warning: {p}");
    }
    Ok(())
}
