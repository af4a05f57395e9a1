//! `savepoint restore`: make the work tree (or some paths) equal to a
//! snapshot, after saving the current state as a `restore-safety` snapshot.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use git2::Repository;
use savepoint::ops::restore::{self, Action, Operation, Plan, RestoreOutcome, RestoreRequest};
use savepoint::snapshot::revision;
use savepoint::workspace::pathspec;

use super::Ctx;
use crate::cli::output as ui;

/// Make the work tree (or the given paths) equal to a snapshot.
///
/// Writes changed files, recreates missing ones and removes files the
/// snapshot does not have — only files a snapshot covers (tracked, or
/// untracked and not ignored): ignored files are never deleted. Exec bits
/// and symlinks are restored; every file is written to a temporary name and
/// renamed into place. HEAD, the index and branches are not touched:
/// afterwards `git status` shows the restored changes as unstaged work.
///
/// The current state is saved first as a `restore-safety` snapshot, so a
/// restore can always be undone: `savepoint undo` puts back what it
/// changed, also after a watcher has recorded the restored state. A time
/// older than the chain (`@{1h}` on a chain begun 10 minutes ago) means
/// the state the chain began from; it says so.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint restore @~1                 # the whole tree, one snapshot back\n  savepoint restore @{10m} -- src/      # just src/, as it was 10 minutes ago\n  savepoint restore 3f9c2a1b7d4e --dry-run\n  savepoint undo                        # changed your mind: put it back"
)]
pub struct Args {
    /// The snapshot to restore (`@`, `@~N`, `@{10m}`, an id, any revision).
    #[arg(value_name = "SNAP")]
    pub snap: String,

    /// Only these files or directories (relative to the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print what would be created, modified and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON: {"target","safety","dry_run","created","modified",
    /// "deleted","submodules","failed","kept"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    // Resolve before the safety snapshot: `@` is the latest snapshot now.
    let target = revision::resolve(&ws, &args.snap)?;
    let scope = pathspec::scope(&ws, &ctx.dir, &args.paths)?;
    let outcome = restore::restore(
        &ws,
        &RestoreRequest {
            scope,
            dry_run: args.dry_run,
            ..RestoreRequest::new(Operation::Restore, target)
        },
    )?;
    if args.json {
        super::print_json(&outcome)?;
    } else {
        report(
            ctx,
            ws.repo(),
            &outcome,
            &Source::snapshot(&ctx.ui, &outcome),
        )?;
    }
    if !outcome.failed.is_empty() {
        bail!(
            "{} could not be restored (the rest was)",
            savepoint::plural(outcome.failed.len() as u64, "path")
        );
    }
    Ok(())
}

/// What a restore restored from, for its report: `from 3f9c2a1b7d4e`.
pub struct Source {
    /// After "restored 3 paths ": `from 3f9c2a1b7d4e` (rendered).
    pub from: String,
    /// After "the state before is snapshot X; ": how to undo.
    pub undo: &'static str,
}

impl Source {
    /// The outcome's own target snapshot; `savepoint undo` undoes it.
    pub fn snapshot(u: &ui::Ui, o: &RestoreOutcome) -> Source {
        Source {
            from: format!("from {}", u.paint(ui::ID, &o.target)),
            undo: "undo with: savepoint undo",
        }
    }
}

/// Print what a restore did (or would do) and how to undo it.
pub fn report(ctx: &Ctx, repo: &Repository, o: &RestoreOutcome, source: &Source) -> Result<()> {
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    let from = &source.from;
    if o.plan.is_empty() {
        writeln!(
            out,
            "nothing to restore: the work tree already matches {}",
            u.paint(ui::ID, &o.target)
        )?;
    } else {
        let verb = if o.dry_run {
            "would restore"
        } else {
            "restored"
        };
        writeln!(
            out,
            "{verb} {} {from}:",
            savepoint::plural(o.plan.steps.len() as u64, "path")
        )?;
        print_plan(ctx, repo, &o.plan, &mut out)?;
    }
    for s in &o.submodules {
        writeln!(
            out,
            "note: submodule {s} differs; savepoint does not move submodules (`git submodule update`)"
        )?;
    }
    for k in &o.kept {
        writeln!(
            out,
            "kept: {} (not in the snapshot, holds unsaved work)",
            ui::path(k)
        )?;
    }
    for f in &o.failed {
        eprintln!("error: {}", ui::text(f));
    }
    if o.dry_run {
        writeln!(out, "{}", u.paint(ui::DIM, "dry run: nothing was changed"))?;
    } else if !o.plan.is_empty() {
        match &o.safety {
            Some(safety) => writeln!(
                out,
                "the state before is snapshot {}; {}",
                u.paint(ui::ID, safety),
                source.undo
            )?,
            None => writeln!(out, "the state before was HEAD's; {}", source.undo)?,
        }
    }
    Ok(())
}

/// Line counts are worked out for this many paths of a plan; the rest are
/// listed with their action only. Counting means reading and diffing both
/// versions of each file — for a restore of thousands of files that was
/// more time than writing them (and all of `recover --dry-run`'s).
pub const COUNTED_PATHS: usize = 200;

/// One line per path: action, path, and added/removed lines (for the
/// first [`COUNTED_PATHS`]).
pub fn print_plan(ctx: &Ctx, repo: &Repository, plan: &Plan, out: &mut impl Write) -> Result<()> {
    let u = &ctx.ui;
    let width = plan
        .steps
        .iter()
        .map(|s| s.change.path.len())
        .max()
        .unwrap_or(0)
        .min(60);
    for (i, step) in plan.steps.iter().enumerate() {
        let path = ui::path(&step.change.path_lossy()).into_owned();
        let style = match step.action {
            Action::Create => ui::ADD,
            Action::Delete => ui::DEL,
            Action::Modify => ui::TRIGGER,
        };
        let stat = if i < COUNTED_PATHS {
            line_stat(repo, step).unwrap_or_default()
        } else {
            String::new()
        };
        let line = format!(
            "  {} {path:<width$} {stat}",
            u.paint(style, &format!("{:<6}", step.action.label()))
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    if plan.steps.len() > COUNTED_PATHS {
        let note = format!(
            "  (line counts for the first {COUNTED_PATHS} of {} paths)",
            plan.steps.len()
        );
        writeln!(out, "{}", u.paint(ui::DIM, &note))?;
    }
    Ok(())
}

/// `+3 -1`, `binary`, `mode`, or `symlink` for one step.
fn line_stat(repo: &Repository, step: &restore::Step) -> Option<String> {
    if [step.change.old, step.change.new]
        .iter()
        .flatten()
        .any(|l| l.mode == savepoint::git::mode::MODE_LINK)
    {
        return Some("(symlink)".into());
    }
    if let (Some(o), Some(n)) = (step.change.old, step.change.new) {
        if o.oid == n.oid {
            return Some("(mode)".into());
        }
    }
    // Never read a large blob whole just to count its lines.
    let odb = repo.odb().ok()?;
    let large = [step.change.old, step.change.new]
        .iter()
        .flatten()
        .any(|l| {
            odb.read_header(l.oid)
                .is_ok_and(|(size, _)| size > restore::STREAM_THRESHOLD)
        });
    if large {
        return Some("(large)".into());
    }
    let blob =
        |l: Option<savepoint::git::treediff::Leaf>| l.and_then(|l| repo.find_blob(l.oid).ok());
    let (old, new) = (blob(step.change.old), blob(step.change.new));
    if old.as_ref().is_some_and(|b| b.is_binary()) || new.as_ref().is_some_and(|b| b.is_binary()) {
        return Some("(binary)".into());
    }
    let bytes = |b: &Option<git2::Blob<'_>>| b.as_ref().map_or(&[][..], |b| b.content()).to_vec();
    let (old, new) = (bytes(&old), bytes(&new));
    let patch = git2::Patch::from_buffers(&old, None, &new, None, None).ok()?;
    let (_, add, del) = patch.line_stats().ok()?;
    Some(format!("+{add} -{del}"))
}
