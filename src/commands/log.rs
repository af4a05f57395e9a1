//! `savepoint log`: list snapshots, newest first.

use std::io::Write;

use anyhow::Result;
use savepoint::chain::{self, SnapshotInfo};

use super::Ctx;
use crate::ui;

/// List snapshots of the current chain, newest first.
///
/// One line per snapshot: short id, age, trigger and what changed. Ids work
/// anywhere a <snap> is taken (`savepoint show`, `diff`, …).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint log -n 10\n  savepoint log --all\n  savepoint log --json | jq '.[0].files'"
)]
pub struct Args {
    /// Show at most N snapshots.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub max_count: Option<usize>,

    /// Every chain (all branches, detached HEADs, fetched remotes), merged by time.
    #[arg(long)]
    pub all: bool,

    /// Print a JSON array of {"id","ref","time","trigger","base","session",
    /// "agent","tool","prompt","prompts","sessions","message","files"}
    /// ("prompt" is the latest of "prompts"; "sessions" lists the session
    /// of every prompt, the snapshot's own first).
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let repo = ws.repo();
    let chains: Vec<(String, git2::Oid)> = if args.all {
        chain::all_chains(repo)?
    } else {
        let refname = ws.chain_ref()?;
        chain::tip(repo, &refname)?
            .map(|t| (refname, t))
            .into_iter()
            .collect()
    };
    let mut infos: Vec<SnapshotInfo> = Vec::new();
    for (refname, tip) in &chains {
        for oid in chain::walk(repo, *tip, args.max_count)? {
            infos.push(chain::info(repo, oid, refname)?);
        }
    }
    infos.sort_by_key(|i| std::cmp::Reverse(i.timestamp));
    if let Some(n) = args.max_count {
        infos.truncate(n);
    }
    if args.json {
        return super::print_json(&infos);
    }
    let mut out = std::io::stdout().lock();
    if infos.is_empty() {
        let what = if args.all {
            "in this repository".to_owned()
        } else {
            format!("on {}", ws.chain_ref()?)
        };
        writeln!(
            out,
            "no snapshots {what} yet — take one with `savepoint snap` (or start `savepoint watch`)"
        )?;
        return Ok(());
    }
    let u = &ctx.ui;
    for i in &infos {
        let summary = i
            .subject
            .strip_prefix("savepoint: ")
            .and_then(|s| s.strip_prefix(&format!("{}: ", i.trigger)))
            .unwrap_or(&i.subject);
        let chain_col = if args.all {
            format!(
                "{} ",
                u.paint(
                    ui::REF,
                    &ui::text(i.refname.strip_prefix(chain::PREFIX).unwrap_or(&i.refname))
                )
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} {}{:>16}  {}  {}",
            u.paint(ui::ID, &i.id),
            chain_col,
            u.paint(ui::DIM, &ui::relative_age(&i.timestamp)),
            u.paint(ui::TRIGGER, &ui::text(&i.trigger)),
            ui::text(summary)
        )?;
        for p in &i.prompts {
            writeln!(
                out,
                "             {} {}",
                u.paint(ui::DIM, "prompt:"),
                ui::text(p)
            )?;
        }
    }
    Ok(())
}
