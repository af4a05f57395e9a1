//! `savepoint handoff`: the markdown brief of the unsquashed work.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Ctx;

/// Print a hand-off brief of the unsquashed work for another assistant.
///
/// For another assistant or a person, when yours is down or you switch.
/// Markdown with stable headings: what went wrong (after a failed turn:
/// the failing session, its error, the provider's status and what to do),
/// the repository, branch and base commit, the session's prompts in order,
/// how each turn ended and the session's plan (from the client's
/// transcript), the files changed and the change itself as a unified diff
/// (bounded; binary and large files named), anything skipped, and the exact
/// commands to see, restore or squash the work. Plain enough to paste into
/// any chat, complete enough for an assistant that cannot run git.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint handoff | pbcopy\n  savepoint handoff --write HANDOFF.md"
)]
pub struct Args {
    /// Write the brief to FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let brief = savepoint::ops::handoff::brief(&ws)?;
    match &args.write {
        Some(file) => {
            let path = ctx.dir.join(file);
            savepoint::fs::atomic::write(&path, brief.as_bytes(), savepoint::fs::atomic::PUBLIC)
                .with_context(|| format!("write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => print!("{brief}"),
    }
    Ok(())
}
