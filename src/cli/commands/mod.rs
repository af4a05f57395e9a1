//! Subcommand dispatch. Each command is a thin layer in its own file: an
//! `Args` struct whose doc comments are its `--help`, and a `run` function
//! that calls the library and renders the result.

pub mod bisect;
pub mod completions;
pub mod config;
pub mod diff;
pub mod guide;
pub mod handoff;
pub mod hook;
pub mod hooks;
pub mod log;
pub mod man;
pub mod prune;
pub mod push;
pub mod recover;
pub mod restore;
pub mod show;
pub mod snap;
pub mod squash;
pub mod status;
pub mod stop;
pub mod ui;
pub mod undo;
pub mod watch;

use std::path::PathBuf;

use anyhow::Result;
use savepoint::workspace::Workspace;

use crate::cli::output::Ui;
use crate::cli::{Cli, Command};

/// What every command gets: output settings and where to run.
pub struct Ctx {
    pub ui: Ui,
    pub dir: PathBuf,
}

impl Ctx {
    /// Open the work tree (`-C` or the current directory).
    pub fn workspace(&self) -> Result<Workspace> {
        Ok(Workspace::discover(&self.dir)?)
    }
}

pub fn run(cli: Cli) -> Result<()> {
    let dir = match cli.dir {
        // Like `git -C`: the directory must exist (a file or a typo is
        // said as such, not as "not a git repository").
        Some(d) => match std::fs::metadata(&d) {
            Ok(m) if m.is_dir() => d,
            Ok(_) => anyhow::bail!("cannot change to '{}': Not a directory", d.display()),
            Err(e) => anyhow::bail!("cannot change to '{}': {e}", d.display()),
        },
        None => std::env::current_dir()?,
    };
    let ctx = Ctx {
        ui: Ui::new(cli.color),
        dir,
    };
    let Some(command) = &cli.command else {
        return guide::run(&ctx);
    };
    match command {
        Command::Snap(args) => snap::run(&ctx, args),
        Command::Log(args) => log::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Diff(args) => diff::run(&ctx, args),
        Command::Restore(args) => restore::run(&ctx, args),
        Command::Recover(args) => recover::run(&ctx, args),
        Command::Undo(args) => undo::run(&ctx, args),
        Command::Watch(args) => watch::run(&ctx, args),
        Command::Hooks(args) => hooks::run(&ctx, args),
        Command::Hook(args) => hook::run(&ctx, args),
        Command::Handoff(args) => handoff::run(&ctx, args),
        Command::Ui(args) => ui::run(&ctx, args),
        Command::Bisect(args) => bisect::run(&ctx, args),
        Command::Squash(args) => squash::run(&ctx, args),
        Command::Prune(args) => prune::run(&ctx, args),
        Command::Push(args) => push::push(&ctx, args),
        Command::Fetch(args) => push::fetch(&ctx, args),
        Command::Config(args) => config::run(&ctx, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Stop(args) => stop::run(&ctx, args),
    }
}

/// Print JSON to stdout followed by a newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    // Serialise first so a closed pipe surfaces as an io::Error (which the
    // binary treats as success), not as a serde error.
    let mut buf = serde_json::to_vec_pretty(value)?;
    buf.push(b'\n');
    std::io::stdout().lock().write_all(&buf)?;
    Ok(())
}
