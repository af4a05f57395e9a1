//! `savepoint show`: one snapshot's metadata and what it changed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use savepoint::snapshot::{chain, revision};

use super::diff::Operands;
use super::Ctx;
use crate::cli::output as ui;

/// Show one snapshot: what it records and what it changed.
///
/// Prints the snapshot's id, time, trigger, base commit, session, tool,
/// prompt and skipped files, then its patch against the previous snapshot
/// (or the commit the chain started from). Paths (relative to the current
/// directory, after `--`) limit the patch to those files and directories.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint show @\n  savepoint show @~2 --stat\n  savepoint show @{1h}\n  savepoint show \"@{/before refactor}\" # the newest snapshot whose message says so\n  savepoint show @ -- src/             # only what it changed under src/"
)]
pub struct Args {
    /// The snapshot (default @): an id, @, @~N, @{<time>}, @{/<text>} or
    /// any git revision.
    #[arg(value_name = "SNAP")]
    pub snap: Vec<String>,

    /// Only these files or directories (relative to the current directory).
    #[arg(last = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Only list changed files with added/removed line counts.
    #[arg(long)]
    pub stat: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let repo = ws.repo();
    let ops = Operands::read(ctx, &ws, &args.snap, &args.paths, 1, "show")?;
    let oid = match ops.snaps.first() {
        Some(oid) => *oid,
        None => revision::resolve(&ws, "@")?,
    };
    let refname = ws.chain_ref()?;
    let info = chain::info(repo, oid, &refname)?;
    let commit = repo.find_commit(oid)?;
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {}",
        u.paint(ui::ID, "snapshot"),
        u.paint(ui::ID, &oid.to_string())
    )?;
    writeln!(
        out,
        "Date:    {} ({})",
        info.timestamp.format("%Y-%m-%d %H:%M:%S %z"),
        ui::relative_age(&info.timestamp)
    )?;
    if !info.trigger.is_empty() {
        writeln!(
            out,
            "Trigger: {}",
            u.paint(ui::TRIGGER, &ui::text(&info.trigger))
        )?;
        writeln!(out, "Base:    {}", info.base)?;
    }
    let sessions = info.sessions.iter().map(|s| ("Session", s));
    let tool = info.tool.iter().map(|t| ("Tool", t));
    let prompts = info.prompts.iter().map(|p| ("Prompt", p));
    for (label, v) in sessions.chain(tool).chain(prompts) {
        writeln!(
            out,
            "{label}: {}{}",
            " ".repeat(8 - label.len()),
            ui::text(v)
        )?;
    }
    for s in &info.skipped {
        writeln!(out, "Skipped: {}", ui::text(&s.to_string()))?;
    }
    writeln!(out, "\n    {}\n", ui::text(&info.subject))?;
    drop(out);
    let new_tree = commit.tree()?;
    let old_tree = commit.parent(0).ok().map(|p| p.tree()).transpose()?;
    super::diff::print_tree_diff(
        ctx,
        repo,
        old_tree.as_ref(),
        &new_tree,
        args.stat,
        &ops.scope,
    )
}
