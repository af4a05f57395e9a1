//! `savepoint ui`: the interactive terminal timeline ([`crate::cli::tui`]).

use std::io::IsTerminal;

use anyhow::{bail, Result};

use super::Ctx;

/// Browse snapshots in a full-screen terminal timeline, and act on them.
///
/// One row per snapshot — id, age, trigger, agent, session and what
/// changed — grouped by session and by the prompt that led to it, newest
/// first. On the right: the selected snapshot's files with line counts,
/// and the selected file's diff (or its content at that moment). `d`
/// compares the snapshot with its previous one, with the work tree, or
/// with HEAD.
///
/// From there: restore the selected file, its directory or the whole
/// snapshot (`r`, `R`: the plan first, a `restore-safety` snapshot before
/// anything is written), undo that (`u`), squash everything up to the
/// selected snapshot into a commit (`s`), write the hand-off brief (`w`),
/// filter (`/`: prompt text, `path:`, `agent:`, `session:`), jump to a time
/// or snapshot (`@`: `15m`, `@{yesterday}`, `@~3`, an id). `?` lists every
/// key; `q` quits and leaves the terminal as it was.
///
/// New snapshots appear on top as they are recorded (a watcher, hooks).
/// The chain is read page by page as you scroll, and only the selected
/// snapshot is diffed, so long chains and large trees open at once.
/// Colour follows `--color` and `NO_COLOR`; the mouse wheel and clicks work
/// where the terminal reports them (also over SSH and in tmux). Needs a
/// terminal: for scripts, use `savepoint log`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint ui          # this branch's chain\n  savepoint ui --all    # every chain, fetched ones too, merged by time\n  NO_COLOR=1 savepoint ui\n\nKeys: ↑↓/jk move · Tab pane · d diff base · c content · r/R restore · u undo · s squash · w brief · / filter · @ jump · ? help · q quit"
)]
pub struct Args {
    /// Every chain (all branches, detached HEADs, fetched remotes), merged
    /// by time.
    #[arg(long)]
    pub all: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "`savepoint ui` needs a terminal (its input or output is not one); \
             to list snapshots in a script or a pipe, use `savepoint log` (or `savepoint log --json`)"
        );
    }
    let ws = ctx.workspace()?;
    crate::cli::tui::run(ws, args.all, ctx.ui.color)
}
