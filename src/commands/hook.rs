//! `savepoint hook git|claude`: the entry points the installed hooks call.
//! They never fail the caller: whatever happens, the exit status is 0 and
//! problems are logged to `<git-dir>/savepoint/hook.log`.

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use savepoint::agent::{self, claude};
use savepoint::config::Config;
use savepoint::repo::Workspace;
use savepoint::watch::{control, WatchOptions};

use super::Ctx;

/// Largest hook payload read from stdin.
const MAX_PAYLOAD: u64 = 16 << 20;

/// Entry points for git hooks and agent hooks (called by the installed
/// hooks, not by hand).
///
/// `hook git <name> [args]` snapshots with trigger `hook:<name>`;
/// `hook claude` reads a Claude Code hook payload on stdin and snapshots
/// with trigger `claude:<Event>` and the session, tool and prompt. Both hand
/// the request to a running watcher when there is one, and always exit 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub source: Source,
}

#[derive(Debug, clap::Subcommand)]
pub enum Source {
    /// Called by savepoint's git hooks.
    Git {
        /// The hook's name (post-commit, post-checkout, …).
        name: String,
        /// The arguments git passed to the hook.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Called by Claude Code with the hook payload (JSON) on stdin.
    Claude,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if std::env::var_os("SAVEPOINT_NO_HOOKS").is_some_and(|v| !v.is_empty()) {
        return Ok(());
    }
    match &args.source {
        Source::Git { name, .. } => git(ctx, name),
        Source::Claude => claude_hook(ctx),
    }
    Ok(())
}

fn git(ctx: &Ctx, name: &str) {
    let Ok(ws) = Workspace::discover(&ctx.dir) else {
        return;
    };
    let result = (|| -> savepoint::Result<()> {
        let cfg = Config::load(ws.repo())?;
        autostart(&ws, &cfg);
        let meta = control::SnapMeta {
            trigger: format!("hook:{name}"),
            ..Default::default()
        };
        let served = agent::snapshot(&ws, &cfg, meta, false)?;
        agent::log(&ws, &format!("hook:{name} {served:?}"));
        Ok(())
    })();
    if let Err(e) = result {
        agent::log(&ws, &format!("hook:{name} failed: {e}"));
    }
}

fn claude_hook(ctx: &Ctx) {
    let mut input = Vec::new();
    let read = std::io::stdin().take(MAX_PAYLOAD).read_to_end(&mut input);
    let event = match read
        .map_err(|e| e.to_string())
        .and_then(|_| claude::parse(&input))
    {
        Ok(e) => e,
        Err(why) => {
            if let Ok(ws) = Workspace::discover(&ctx.dir) {
                let sample: String = String::from_utf8_lossy(&input).chars().take(200).collect();
                agent::log(
                    &ws,
                    &format!("claude: ignored malformed input ({why}): {sample:?}"),
                );
            }
            return;
        }
    };
    if matches!(event.kind, agent::Kind::SessionStart { .. }) {
        let dir = event.cwd.clone().unwrap_or_else(|| ctx.dir.clone());
        if let Ok(ws) = Workspace::discover(&dir) {
            if let Ok(cfg) = Config::load(ws.repo()) {
                autostart(&ws, &cfg);
            }
        }
    }
    match agent::handle(&event) {
        Ok(r) => {
            if !r.stdout.is_empty() {
                println!("{}", r.stdout);
            }
            if !r.stderr.is_empty() {
                eprintln!("{}", r.stderr);
            }
        }
        Err(e) => {
            let dir = event.cwd.clone().unwrap_or_else(|| ctx.dir.clone());
            if let Ok(ws) = Workspace::discover(Path::new(&dir)) {
                agent::log(&ws, &format!("{} failed: {e}", event.trigger()));
            }
        }
    }
}

/// `savepoint.autostart`: start the watcher when none runs (without
/// waiting for its start-up scan).
fn autostart(ws: &Workspace, cfg: &Config) {
    if !cfg.autostart || !matches!(control::running_pid(ws), Ok(None)) {
        return;
    }
    let started = std::env::current_exe()
        .map_err(|e| e.to_string())
        .and_then(|exe| {
            control::spawn_detached(ws, &exe, &WatchOptions::from_config(cfg))
                .map_err(|e| e.to_string())
        });
    match started {
        Ok(child) => agent::log(
            ws,
            &format!("autostart: watcher started (pid {})", child.id()),
        ),
        Err(e) => agent::log(ws, &format!("autostart failed: {e}")),
    }
}
