//! `savepoint` with no command: a short guide to where this repository
//! stands and what to do next.

use std::io::Write;

use anyhow::Result;
use savepoint::watch;
use savepoint::workspace::Workspace;

use super::Ctx;
use crate::cli::output as ui;

/// `savepoint` with no command: where this repository stands and what to
/// do next.
pub fn run(ctx: &Ctx) -> Result<()> {
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} — snapshots your work tree so an interrupted session never loses work.",
        u.paint(ui::BOLD, "savepoint")
    )?;
    let Ok(ws) = Workspace::discover(&ctx.dir) else {
        writeln!(out, "\nNot in a git work tree. In your project, run:")?;
        writeln!(
            out,
            "  savepoint watch --detach           # snapshot every change"
        )?;
        writeln!(
            out,
            "  savepoint hooks install --claude   # + restore points at commits and agent steps"
        )?;
        writeln!(out, "\nAll commands: savepoint --help")?;
        return Ok(());
    };
    let st = watch::status(&ws)?;
    let hooks = savepoint::integrations::githooks::status(&ws)
        .map(|h| {
            h.iter()
                .filter(|h| {
                    matches!(
                        h.state,
                        savepoint::integrations::githooks::HookState::Installed
                            | savepoint::integrations::githooks::HookState::InstalledChained
                    )
                })
                .count()
        })
        .unwrap_or(0);
    writeln!(out, "\n{}", ws.workdir().display())?;
    let mut next = Vec::new();
    match st.pid {
        Some(pid) => writeln!(
            out,
            "  watcher:   {} (pid {pid})",
            u.paint(ui::ADD, "running")
        )?,
        None => {
            writeln!(out, "  watcher:   {}", u.paint(ui::DIM, "not running"))?;
            next.push(
                "savepoint watch --detach            # snapshot every change in the background",
            );
        }
    }
    if hooks == savepoint::integrations::githooks::HOOKS.len() {
        writeln!(out, "  git hooks: {}", u.paint(ui::ADD, "installed"))?;
    } else {
        writeln!(out, "  git hooks: {}", u.paint(ui::DIM, "not installed"))?;
        next.push(
            "savepoint hooks install --claude    # restore points at commits and Claude Code steps",
        );
    }
    match (&st.last_snapshot, &st.last_snapshot_time) {
        (Some(id), Some(t)) => {
            let age = chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| ui::relative_age(&t))
                .unwrap_or_default();
            writeln!(
                out,
                "  snapshots: {} on {}, latest {} ({age})",
                st.snapshots,
                u.paint(ui::REF, &st.refname),
                u.paint(ui::ID, id)
            )?;
            next.push("savepoint log                       # what was recorded");
            next.push(
                "savepoint recover --dry-run         # anything lost? see what would come back",
            );
        }
        _ => {
            writeln!(
                out,
                "  snapshots: none yet on {}",
                u.paint(ui::REF, &st.refname)
            )?;
            next.push("savepoint snap                      # take the first one now");
        }
    }
    writeln!(out, "\nNext:")?;
    for n in next {
        writeln!(out, "  {n}")?;
    }
    writeln!(out, "\nAll commands: savepoint --help")?;
    Ok(())
}
