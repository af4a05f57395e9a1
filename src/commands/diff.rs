//! `savepoint diff`: differences between snapshots, or a snapshot and the
//! work tree.

use std::io::Write;

use anyhow::Result;
use git2::{Diff, DiffFormat, DiffOptions, Repository, Tree};
use savepoint::config::Config;
use savepoint::revision;
use savepoint::snapshot::{Engine, ScanOptions};

use super::Ctx;
use crate::ui;

/// Diff a snapshot against the work tree or another snapshot.
///
/// Prints a unified diff (or `--stat`).
///
/// With no argument, compares the latest snapshot (`@`) with the work tree
/// as it is now: what a `savepoint snap` would record. The work tree side is
/// computed like a snapshot (same ignore rules) without creating one.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint diff              # latest snapshot → work tree\n  savepoint diff @{1h}        # an hour ago → work tree\n  savepoint diff @~3 @ --stat # three snapshots ago → latest"
)]
pub struct Args {
    /// The old side (default @).
    #[arg(value_name = "SNAP")]
    pub from: Option<String>,

    /// The new side (default: the work tree).
    #[arg(value_name = "SNAP2")]
    pub to: Option<String>,

    /// Only list changed files with added/removed line counts.
    #[arg(long)]
    pub stat: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let repo = ws.repo();
    let from = revision::resolve(&ws, args.from.as_deref().unwrap_or("@"))?;
    let old_tree = repo.find_commit(from)?.tree()?;
    let new_tree = match &args.to {
        Some(spec) => repo.find_commit(revision::resolve(&ws, spec)?)?.tree()?,
        None => {
            let cfg = Config::load(repo)?;
            let mut engine = Engine::new(&ws, ScanOptions::from_config(&cfg))?;
            let outcome = engine.scan(&ws)?;
            repo.find_tree(outcome.tree)?
        }
    };
    print_tree_diff(ctx, repo, Some(&old_tree), &new_tree, args.stat)
}

/// Print a tree-to-tree diff as a patch (or a stat), coloured when enabled.
pub fn print_tree_diff(
    ctx: &Ctx,
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
    stat: bool,
) -> Result<()> {
    // Our own walk first: it refuses trees nested deeper than git allows,
    // which libgit2's diff would take quadratic time and memory on.
    savepoint::treediff::diff(repo, old, Some(new), &[])?;
    let mut opts = DiffOptions::new();
    opts.show_binary(false);
    let mut diff = repo.diff_tree_to_tree(old, Some(new), Some(&mut opts))?;
    diff.find_similar(None)?;
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    if stat {
        return print_stat(&diff, &mut out, u);
    }
    let mut io_err: Option<std::io::Error> = None;
    diff.print(DiffFormat::Patch, |_, _, line| {
        // Bytes as git prints them: content that is not UTF-8 must survive
        // (the patch has to apply with `git apply`).
        let mut text = Vec::with_capacity(line.content().len() + 1);
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        let style = match line.origin() {
            '+' | '>' => Some(ui::ADD),
            '-' | '<' => Some(ui::DEL),
            'H' => Some(ui::HUNK),
            'F' => Some(ui::BOLD),
            _ => None,
        };
        let rendered = match style {
            Some(s) if u.color => {
                let (body, nl): (&[u8], &[u8]) = text
                    .strip_suffix(b"\n")
                    .map_or((text.as_slice(), b""), |b| (b, b"\n"));
                [
                    s.render().to_string().as_bytes(),
                    body,
                    s.render_reset().to_string().as_bytes(),
                    nl,
                ]
                .concat()
            }
            _ => text,
        };
        match out.write_all(&rendered) {
            Ok(()) => true,
            Err(e) => {
                io_err = Some(e);
                false
            }
        }
    })
    .or_else(|e| if io_err.is_some() { Ok(()) } else { Err(e) })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    Ok(())
}

fn print_stat(diff: &Diff<'_>, out: &mut impl Write, u: &ui::Ui) -> Result<()> {
    let stats = diff.stats()?;
    let lines = savepoint::handoff::diff_line_stats(diff);
    let width = lines.iter().map(|l| l.0.len()).max().unwrap_or(0).min(60);
    for (path, add, del) in lines {
        writeln!(
            out,
            " {path:<width$} | {} {}",
            u.paint(ui::ADD, &format!("+{add}")),
            u.paint(ui::DEL, &format!("-{del}"))
        )?;
    }
    writeln!(
        out,
        " {} file(s) changed, {} insertion(s)(+), {} deletion(s)(-)",
        stats.files_changed(),
        stats.insertions(),
        stats.deletions()
    )?;
    Ok(())
}
