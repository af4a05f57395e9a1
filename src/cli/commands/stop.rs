//! `savepoint stop`: ask this work tree's watcher to finish.

use std::time::Duration;

use anyhow::Result;
use savepoint::watch::{self, Stopped};

use super::Ctx;
use crate::cli::output as ui;

/// Stop the watcher of this work tree; it takes a final snapshot first.
///
/// Asks over the watcher's socket (or with SIGTERM) and waits until the
/// process has exited. Succeeds, saying so, when no watcher is running.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  savepoint stop\n  savepoint stop --timeout 120")]
pub struct Args {
    /// Seconds to wait for the watcher to exit.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    match watch::stop(&ws, Duration::from_secs(args.timeout))? {
        Stopped::NotRunning => {
            println!("no watcher is running for {}", ws.workdir().display());
        }
        Stopped::Stopped(pid) => {
            let st = watch::status(&ws)?;
            let latest = st
                .last_snapshot
                .map(|id| format!("; latest snapshot {}", ctx.ui.paint(ui::ID, &id)))
                .unwrap_or_default();
            println!("stopped the watcher (pid {pid}){latest}");
        }
    }
    Ok(())
}
