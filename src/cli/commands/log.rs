//! `savepoint log`: list snapshots, newest first.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use savepoint::snapshot::chain::{self, SnapshotInfo};

use super::diff::Operands;
use super::Ctx;
use crate::cli::output as ui;

/// List snapshots of the current chain, newest first.
///
/// One line per snapshot: short id, age, trigger and what changed (a label
/// typed with `snap -m` instead, when there is one). Ids work anywhere a
/// <snap> is taken (`savepoint show`, `diff`, …), and so does a label:
/// `@{/<text>}` names the newest snapshot whose message contains the text.
///
/// Paths (relative to the current directory, like git's) list only the
/// snapshots that changed something at or below them.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint log -n 10\n  savepoint log --all\n  savepoint log -- src/parser/     # only snapshots that touched src/parser/\n  savepoint log --json | jq '.[0].files'"
)]
pub struct Args {
    /// Only snapshots that changed these files or directories (relative to
    /// the current directory; put them after `--` when they no longer
    /// exist).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Paths after `--`: also those that no longer exist.
    #[arg(last = true, value_name = "PATH")]
    pub paths_after_dashes: Vec<PathBuf>,

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
    let given: Vec<String> = args
        .paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let scope = Operands::read(ctx, &ws, &given, &args.paths_after_dashes, 0, "log")?.scope;
    let filtered = !scope.is_empty();
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
        // With paths, the walk goes on until N snapshots touched them.
        let limit = if filtered { None } else { args.max_count };
        let mut found = 0;
        for oid in chain::walk(repo, *tip, limit)? {
            if args.max_count.is_some_and(|n| found >= n) {
                break;
            }
            if filtered && !chain::touches(repo, oid, &scope)? {
                continue;
            }
            found += 1;
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
        if filtered && !chains.is_empty() {
            writeln!(out, "no snapshot {what} changed those paths")?;
            return Ok(());
        }
        let next = match savepoint::watch::running_pid(&ws) {
            Ok(Some(pid)) => {
                format!(
                "the watcher{} records the next change you make; `savepoint snap` takes one now",
                if pid == 0 { String::new() } else { format!(" (pid {pid})") }
            )
            }
            _ => "take one with `savepoint snap` (or start `savepoint watch --detach`)".to_owned(),
        };
        writeln!(out, "no snapshots {what} yet — {next}")?;
        return Ok(());
    }
    let u = &ctx.ui;
    for i in &infos {
        let summary = i.summary();
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
            ui::text(&summary)
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
