//! Command-line definitions (clap derive). Each subcommand's arguments live
//! with its implementation in `commands/<name>.rs`; the doc comments there
//! are the `--help` text.

pub mod commands;
pub mod output;
pub mod tui;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::cli::commands::{
    bisect, completions, config, diff, handoff, hook, hooks, log, man, prune, push, recover,
    restore, show, snap, squash, status, stop, ui, undo, watch,
};

/// Snapshots your work tree on a shadow ref so an interrupted session never
/// loses work.
///
/// savepoint records the working tree as WIP snapshot commits on
/// `refs/savepoint/heads/<branch>`. Your branch, index and HEAD are never
/// touched. Snapshot names: any git revision, or `@` (latest), `@~N`
/// (N snapshots back), `@{10m}` / `@{yesterday}` / `@{2026-11-24 14:00}`
/// (latest snapshot at or before a time; the state the chain began from
/// when it is younger), `@{/text}` (the newest snapshot whose label or
/// message contains the text, e.g. a `snap -m` label).
#[derive(Debug, Parser)]
#[command(
    name = "savepoint",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Examples:\n  savepoint snap -m \"before the big refactor\"\n  savepoint log -n 5\n  savepoint diff @~1\n  savepoint show @{1h}\n  savepoint restore \"@{/before the big}\" -- src/\n  savepoint undo\n  savepoint watch --detach && savepoint status"
)]
pub struct Cli {
    /// Run as if savepoint was started in <PATH> (like `git -C`).
    #[arg(short = 'C', global = true, value_name = "PATH")]
    pub dir: Option<PathBuf>,

    /// More logging on stderr (-v: debug, -vv: trace). `SAVEPOINT_LOG` takes
    /// a tracing filter, e.g. `SAVEPOINT_LOG=savepoint=debug`.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// When to use colour: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No command: a short guide to this repository's state.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Snap(snap::Args),
    Log(log::Args),
    Show(show::Args),
    Diff(diff::Args),
    Restore(restore::Args),
    Recover(recover::Args),
    Undo(undo::Args),
    Watch(watch::Args),
    Status(status::Args),
    Stop(stop::Args),
    Hooks(hooks::Args),
    Hook(hook::Args),
    Handoff(handoff::Args),
    Ui(ui::Args),
    Bisect(bisect::Args),
    Squash(squash::Args),
    Prune(prune::Args),
    Push(push::PushArgs),
    Fetch(push::FetchArgs),
    Config(config::Args),
    Completions(completions::Args),
    Man(man::Args),
}

impl Cli {
    /// Is this process a detached watcher (whose stderr is a log file)?
    pub fn is_daemon(&self) -> bool {
        matches!(&self.command, Some(Command::Watch(a)) if a.daemon_child)
    }
}
