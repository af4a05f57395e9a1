//! `savepoint hook git|claude|gemini|codex|cursor`: the entry points the
//! installed hooks call. They never fail the caller: whatever happens, the
//! exit status is 0, agents that read stdout as JSON get JSON, and problems
//! are logged to `<git-dir>/savepoint/hook.log`.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;
use savepoint::agent::{self, claude, codex, cursor, gemini, Event};
use savepoint::config::Config;
use savepoint::repo::Workspace;
use savepoint::watch::{control, WatchOptions};

use super::Ctx;

/// Largest hook payload parsed. Payloads carry whole file contents
/// (`tool_input`), so this is generous; fields that large are cut to size
/// by the trailers anyway. Anything beyond is drained and logged.
const MAX_PAYLOAD: u64 = 256 << 20;

/// Print a line for the agent; a closed or broken stdout is not an error
/// (the hook's exit status must stay 0).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// [`say`] on stderr.
fn say_err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Entry points the installed git and agent hooks call.
///
/// `hook git <name> [args]` snapshots with trigger `hook:<name>`; the agent
/// entry points read the agent's payload and snapshot with trigger
/// `<agent>:<Event>` and the session, tool, prompt and agent recorded. All
/// hand the request to a running watcher when there is one, and always exit
/// 0.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples (what the installed hooks run):\n  savepoint hook git post-commit\n  echo '{\"hook_event_name\":\"Stop\",\"session_id\":\"s\"}' | savepoint hook claude"
)]
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
    /// Called by Gemini CLI with the hook payload (JSON) on stdin; answers
    /// JSON on stdout.
    Gemini,
    /// Called by Codex CLI: as its `notify` program (the JSON payload is the
    /// last argument; `--chain PROGRAM…` runs a previous notify program
    /// too), or as a hook with the payload on stdin.
    Codex {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Called by Cursor with the hook payload (JSON) on stdin; answers JSON
    /// on stdout.
    Cursor,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if std::env::var_os("SAVEPOINT_NO_HOOKS").is_some_and(|v| !v.is_empty()) {
        match &args.source {
            Source::Gemini | Source::Cursor => say("{}"),
            _ => {}
        }
        return Ok(());
    }
    // Whatever goes wrong — even a bug that panics — the hook exits 0 and
    // agents that read JSON still get JSON.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(ctx, args)));
    if let Err(panic) = outcome {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        if let Ok(ws) = Workspace::discover(&ctx.dir) {
            agent::log(
                &ws,
                &format!("hook panicked (a bug; please report it): {what}"),
            );
        }
        if matches!(args.source, Source::Gemini | Source::Cursor) {
            say("{}");
        }
    }
    Ok(())
}

fn dispatch(ctx: &Ctx, args: &Args) {
    match &args.source {
        Source::Git { name, .. } => git(ctx, name),
        Source::Claude => {
            let r = agent_hook(ctx, &read_stdin(), claude::parse);
            print_plain(&r);
        }
        Source::Gemini => {
            let r = agent_hook(ctx, &read_stdin(), gemini::parse);
            say(&gemini::reply(&r.unwrap_or_default().1));
        }
        Source::Cursor => {
            let r = agent_hook(ctx, &read_stdin(), cursor::parse);
            let (name, resp) = r.unwrap_or_default();
            say(&cursor::reply(name.as_deref(), &resp));
        }
        Source::Codex { args } => codex_hook(ctx, args),
    }
}

fn read_stdin() -> Vec<u8> {
    let mut input = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let _ = (&mut stdin).take(MAX_PAYLOAD).read_to_end(&mut input);
    // Drain the rest so the agent never blocks writing to us.
    let extra = std::io::copy(&mut stdin, &mut std::io::sink()).unwrap_or(0);
    if extra > 0 {
        tracing::warn!(
            bytes = extra,
            "hook payload over {MAX_PAYLOAD} bytes; the rest was ignored"
        );
    }
    input
}

fn print_plain(r: &Option<(Option<String>, agent::Response)>) {
    if let Some((_, r)) = r {
        if !r.stdout.is_empty() {
            say(&r.stdout);
        }
        if !r.stderr.is_empty() {
            say_err(&r.stderr);
        }
    }
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

/// Parse a payload with `parse` and act on it; `None` when the payload was
/// malformed (logged). Returns the event's name and the response.
fn agent_hook(
    ctx: &Ctx,
    input: &[u8],
    parse: fn(&[u8]) -> std::result::Result<Event, String>,
) -> Option<(Option<String>, agent::Response)> {
    match parse(input) {
        Ok(event) => Some((Some(event.name.clone()), act(ctx, &event))),
        Err(why) => {
            if let Ok(ws) = Workspace::discover(&ctx.dir) {
                let sample: String = String::from_utf8_lossy(input).chars().take(200).collect();
                agent::log(&ws, &format!("ignored malformed input ({why}): {sample:?}"));
            }
            None
        }
    }
}

fn act(ctx: &Ctx, event: &Event) -> agent::Response {
    let dir = event.cwd.clone().unwrap_or_else(|| ctx.dir.clone());
    if matches!(event.kind, agent::Kind::SessionStart { .. }) {
        if let Ok(ws) = Workspace::discover(&dir) {
            if let Ok(cfg) = Config::load(ws.repo()) {
                autostart(&ws, &cfg);
            }
        }
    }
    match agent::handle(event) {
        Ok(r) => r,
        Err(e) => {
            if let Ok(ws) = Workspace::discover(Path::new(&dir)) {
                agent::log(&ws, &format!("{} failed: {e}", event.trigger()));
            }
            agent::Response::default()
        }
    }
}

/// Codex: `notify` (payload = last argument, maybe after `--chain PROG…`)
/// or a hook (payload on stdin).
fn codex_hook(ctx: &Ctx, args: &[String]) {
    let Some((payload, rest)) = args.split_last() else {
        let r = agent_hook(ctx, &read_stdin(), codex::parse_hook);
        print_plain(&r);
        return;
    };
    // A previous notify program keeps getting its notifications.
    if let Some(pos) = rest.iter().position(|a| a == codex::CHAIN) {
        if let Some((program, program_args)) = rest[pos + 1..].split_first() {
            let spawned = std::process::Command::new(program)
                .args(program_args)
                .arg(payload)
                .stdin(std::process::Stdio::null())
                .spawn();
            if let Err(e) = spawned {
                if let Ok(ws) = Workspace::discover(&ctx.dir) {
                    agent::log(
                        &ws,
                        &format!("codex: chained notify program {program} failed: {e}"),
                    );
                }
            }
        }
    }
    let bytes = payload.as_bytes();
    let parse = |input: &[u8]| -> std::result::Result<Event, String> {
        let mut e = codex::parse_notify(input)?;
        e.prompt = codex::prompts(input).pop();
        Ok(e)
    };
    match parse(bytes) {
        Ok(event) => {
            act(ctx, &event);
        }
        Err(why) => {
            if let Ok(ws) = Workspace::discover(&ctx.dir) {
                agent::log(
                    &ws,
                    &format!("codex: ignored malformed notify payload ({why})"),
                );
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
