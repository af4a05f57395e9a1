//! `savepoint man`: the manual pages, rendered from the command-line
//! definitions.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

/// Print the manual page (roff), or write one page per command.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint man | man -l -\n  savepoint man --out-dir ~/.local/share/man/man1"
)]
pub struct Args {
    /// Write savepoint.1 and savepoint-<command>.1 into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    let cmd = Cli::command();
    match &args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("savepoint-{}", sub.get_name());
                let sub = sub.clone().display_name(name);
                clap_mangen::Man::new(sub).render(&mut out)?;
            }
            std::io::stdout().write_all(&out)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let write = |name: &str, c: clap::Command| -> Result<()> {
                let path = dir.join(format!("{name}.1"));
                let mut out = Vec::new();
                clap_mangen::Man::new(c).render(&mut out)?;
                std::fs::write(&path, out).with_context(|| format!("write {}", path.display()))?;
                println!("{}", path.display());
                Ok(())
            };
            write("savepoint", cmd.clone())?;
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("savepoint-{}", sub.get_name());
                write(&name, sub.clone().display_name(name.clone()))?;
            }
        }
    }
    Ok(())
}
