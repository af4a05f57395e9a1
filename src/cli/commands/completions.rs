//! `savepoint completions <shell>`: a shell completion script.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint completions bash > ~/.local/share/bash-completion/completions/savepoint\n  savepoint completions zsh > \"${fpath[1]}/_savepoint\"\n  savepoint completions fish > ~/.config/fish/completions/savepoint.fish"
)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &Args) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "savepoint", &mut std::io::stdout());
    Ok(())
}
