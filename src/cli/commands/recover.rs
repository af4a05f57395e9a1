//! `savepoint recover`: find the work an interruption or a destructive
//! command took away, show it, and bring it back.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use savepoint::ops::recover::{self, Found, Source};
use savepoint::ops::restore::{self, Operation, RestoreRequest};

use super::Ctx;
use crate::cli::output as ui;

/// Bring back work lost to a crash, an outage or a destructive command.
///
/// Finds the latest snapshot holding work the work tree no longer has — the
/// current branch's chain first; when HEAD is on another branch, the most
/// recent snapshot of any chain — shows what would come back, asks (or
/// needs --yes when there is no terminal), saves the current state as a
/// `recover-safety` snapshot and restores. Files holding unsaved work that
/// the snapshot lacks are kept, never deleted. When the latest snapshot
/// already matches the work tree (the watcher recorded the loss), only the
/// files lost since an earlier snapshot come back.
///
/// A restore or recover is deliberate: the search never goes past the last
/// one, and the state it left counts as recorded — the same loss after a
/// recover is found again. `savepoint undo` undoes a recover.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint recover             # preview, then confirm\n  savepoint recover --dry-run   # preview only\n  savepoint recover --yes       # no questions (scripts, agents)\n  savepoint undo                # put back what the recover replaced"
)]
pub struct Args {
    /// Restore without asking (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,

    /// Only show what would come back.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let found = recover::find(&ws)?;
    let rec = match found {
        Found::Nothing { reason } => {
            println!("nothing to recover: {reason}");
            return Ok(());
        }
        Found::Recovery(r) => r,
    };
    let u = &ctx.ui;
    let from = {
        let mut out = std::io::stdout().lock();
        let from = match &rec.source {
            Source::Snapshot(s) => {
                writeln!(
                    out,
                    "{} {} on {} ({}, {}: {})",
                    u.paint(ui::BOLD, "recover from snapshot"),
                    u.paint(ui::ID, &s.id),
                    u.paint(ui::REF, &s.refname),
                    ui::relative_age(&s.timestamp),
                    s.trigger,
                    ui::text(
                        s.subject
                            .split_once(&format!("{}: ", s.trigger))
                            .map_or(s.subject.as_str(), |(_, rest)| rest)
                    )
                )?;
                if let Some(p) = &s.prompt {
                    writeln!(out, "  prompt: {}", ui::text(p))?;
                }
                format!("from {}", u.paint(ui::ID, &s.id))
            }
            Source::AfterRestore(last) => {
                let what = format!("the state the last {} left", last.kind.name());
                writeln!(
                    out,
                    "{} {what} on {} ({}, from {})",
                    u.paint(ui::BOLD, "recover"),
                    u.paint(ui::REF, &last.refname),
                    ui::relative_age(&last.timestamp()),
                    u.paint(ui::ID, last.target_short()),
                )?;
                format!("from {what}")
            }
        };
        for r in &rec.reasons {
            writeln!(out, "  - {}", ui::text(r))?;
        }
        super::restore::print_plan(ctx, ws.repo(), &rec.plan, &mut out)?;
        for k in &rec.kept {
            writeln!(
                out,
                "  kept   {} (not in the snapshot, holds unsaved work)",
                ui::path(k)
            )?;
        }
        from
    };
    if args.dry_run {
        println!("{}", u.paint(ui::DIM, "dry run: nothing was changed"));
        return Ok(());
    }
    if !args.yes
        && !confirm(
            &format!(
                "Restore {}?",
                savepoint::plural(rec.plan.steps.len() as u64, "path")
            ),
            "savepoint recover --yes",
        )?
    {
        println!("nothing changed");
        return Ok(());
    }
    let outcome = restore::restore(
        &ws,
        &RestoreRequest {
            scope: rec.scope.clone(),
            ..RestoreRequest::new(Operation::Recover, rec.target)
        },
    )?;
    let source = super::restore::Source {
        from,
        undo: "undo with: savepoint undo",
    };
    super::restore::report(ctx, ws.repo(), &outcome, &source)?;
    if !outcome.failed.is_empty() {
        bail!(
            "{} could not be restored (the rest was)",
            savepoint::plural(outcome.failed.len() as u64, "path")
        );
    }
    Ok(())
}

/// Ask `question [y/N]` on the terminal; without one, refuse and name
/// `with_yes`, the command that needs no question.
pub fn confirm(question: &str, with_yes: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not restoring without confirmation: run `{with_yes}` (stdin is not a terminal)");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
