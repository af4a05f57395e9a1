//! `savepoint undo`: put back what the last `restore`, `recover` or `undo`
//! changed, as it was before — whatever a watcher recorded since. The
//! chain's latest snapshot cannot say what a restore replaced (a watcher
//! records the restored state within a second); the record of the last
//! restore can ([`savepoint::ops::restore::find_undo`]).

use std::io::Write;

use anyhow::{bail, Result};
use savepoint::ops::restore::{self, Operation, RestoreOutcome, RestoreRequest, Undo, UndoFound};
use serde::Serialize;

use super::Ctx;
use crate::cli::output as ui;

/// Undo the last restore or recover; a second undo redoes it.
///
/// Puts the files the last `restore`, `recover` or `undo` changed back as
/// they were before it (the state its safety snapshot holds), whatever the
/// watcher recorded since. Other files — and edits you made since to files
/// it did not touch — stay as they are. Shows the plan and asks (or needs
/// --yes when stdin is not a terminal); the current state is saved first
/// as a `restore-safety` snapshot, so `undo` again redoes what was undone.
///
/// Without a record of the last restore (the state dir
/// `<git-dir>/savepoint/` was cleared), the chain's latest safety snapshot
/// stands in, for the whole work tree; it says so.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint restore @~3         # oops: not that one\n  savepoint undo --dry-run      # what would go back, changing nothing\n  savepoint undo                # show the plan, confirm, put it back\n  savepoint undo --yes          # no question (scripts, agents); again: redo"
)]
pub struct Args {
    /// Undo without asking (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,

    /// Only show what would change.
    #[arg(long)]
    pub dry_run: bool,

    /// Print JSON: {"undoes","reason","target","safety","dry_run","created",
    /// "modified","deleted","submodules","failed","kept"}; `undoes` is
    /// {"command","time","target"}, null when there is nothing to undo
    /// (`reason` says why).
    #[arg(long)]
    pub json: bool,
}

/// What the JSON says was undone.
#[derive(Debug, Serialize)]
struct Undoes {
    /// `restore`, `recover`, `undo`; null without a record of it.
    command: Option<&'static str>,
    /// When it ran (RFC 3339); null without a record of it.
    time: Option<String>,
    /// What it had restored from (12 hex); null without a record of it.
    target: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    undoes: Option<Undoes>,
    /// Why there is nothing to undo, or which snapshot stands in for a
    /// missing record.
    reason: Option<String>,
    #[serde(flatten)]
    outcome: Option<&'a RestoreOutcome>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let undo = match restore::find_undo(&ws)? {
        UndoFound::Nothing { reason } => {
            if args.json {
                super::print_json(&Report {
                    undoes: None,
                    reason: Some(reason),
                    outcome: None,
                })?;
            } else {
                println!("nothing to undo: {reason}");
            }
            return Ok(());
        }
        UndoFound::Undo(u) => u,
    };
    let note = undo.last.is_none().then(|| {
        format!(
            "no record of the last restore or recover (was <git-dir>/savepoint/ cleared?): \
             the whole work tree goes back to the latest safety snapshot, {}",
            undo.safety.as_deref().unwrap_or("?")
        )
    });
    let json = |outcome: &RestoreOutcome| {
        super::print_json(&Report {
            undoes: Some(undoes(&undo)),
            reason: note.clone(),
            outcome: Some(outcome),
        })
    };
    let request = RestoreRequest {
        only: undo.only.clone(),
        ..RestoreRequest::new(Operation::Undo, undo.target)
    };
    if args.dry_run || !args.yes {
        // The plan first: the restore below would change nothing, or the
        // user is to see it (and answer) before anything changes.
        let preview = restore::restore(
            &ws,
            &RestoreRequest {
                dry_run: true,
                ..request.clone()
            },
        )?;
        if preview.plan.is_empty() || args.dry_run {
            if args.json {
                return json(&preview);
            }
            describe(ctx, &ws, &undo, note.as_deref(), &preview)?;
            if !preview.plan.is_empty() {
                println!("{}", ctx.ui.paint(ui::DIM, "dry run: nothing was changed"));
            }
            return Ok(());
        }
        if !args.json {
            describe(ctx, &ws, &undo, note.as_deref(), &preview)?;
        }
        let question = format!(
            "Undo: put back {}?",
            savepoint::plural(preview.plan.steps.len() as u64, "path")
        );
        if !super::recover::confirm(&question, "savepoint undo --yes")? {
            println!("nothing changed");
            return Ok(());
        }
    }
    let outcome = restore::restore(&ws, &request)?;
    if args.json {
        json(&outcome)?;
    } else {
        let what = what_is_undone(ws.repo(), &undo);
        let from = match &undo.safety {
            Some(id) => format!(
                "from snapshot {}, as before {what}",
                ctx.ui.paint(ui::ID, id)
            ),
            None => format!("as before {what}"),
        };
        let source = super::restore::Source {
            from,
            undo: "`savepoint undo` again redoes it",
        };
        if outcome.plan.is_empty() {
            println!("nothing to undo: the work tree is as it was before {what}");
        } else {
            super::restore::report(ctx, ws.repo(), &outcome, &source)?;
        }
    }
    if !outcome.failed.is_empty() {
        bail!(
            "{} could not be put back (the rest was)",
            savepoint::plural(outcome.failed.len() as u64, "path")
        );
    }
    Ok(())
}

/// `the restore of 3 minutes ago (from 3f9c2a1b7d4e)`.
fn what_is_undone(repo: &git2::Repository, undo: &Undo) -> String {
    match &undo.last {
        Some(last) => {
            let from = if last.target_is_commit(repo) {
                format!(" (from {})", last.target_short())
            } else {
                String::new()
            };
            format!(
                "the {} of {}{from}",
                last.kind.name(),
                ui::relative_age(&last.timestamp()),
            )
        }
        None => "the last restore or recover".into(),
    }
}

fn undoes(undo: &Undo) -> Undoes {
    match &undo.last {
        Some(last) => Undoes {
            command: Some(last.kind.name()),
            time: Some(last.timestamp().to_rfc3339()),
            target: Some(last.target_short().to_owned()),
        },
        None => Undoes {
            command: None,
            time: None,
            target: None,
        },
    }
}

/// What is undone and the plan (preview or dry run).
fn describe(
    ctx: &Ctx,
    ws: &savepoint::workspace::Workspace,
    undo: &Undo,
    note: Option<&str>,
    preview: &RestoreOutcome,
) -> Result<()> {
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    let what = what_is_undone(ws.repo(), undo);
    if let Some(note) = note {
        writeln!(out, "note: {note}")?;
    }
    if preview.plan.is_empty() {
        writeln!(
            out,
            "nothing to undo: the work tree is as it was before {what}"
        )?;
        return Ok(());
    }
    let back_to = match &undo.safety {
        Some(id) => format!("snapshot {}", u.paint(ui::ID, id)),
        None => "HEAD's state, recorded in no snapshot".into(),
    };
    writeln!(
        out,
        "{} {what}: {} back as before it ({back_to})",
        u.paint(ui::BOLD, "undo"),
        savepoint::plural(preview.plan.steps.len() as u64, "path"),
    )?;
    super::restore::print_plan(ctx, ws.repo(), &preview.plan, &mut out)?;
    for s in &preview.submodules {
        writeln!(
            out,
            "note: submodule {s} differs; savepoint does not move submodules (`git submodule update`)"
        )?;
    }
    Ok(())
}
