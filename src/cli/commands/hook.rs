//! `savepoint hook git|<agent>`: the entry points the
//! installed hooks call. They never fail the caller: whatever happens, the
//! exit status is 0, agents that read stdout as JSON get JSON, and problems
//! are logged to `<git-dir>/savepoint/hook.log`.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;
use savepoint::integrations::agents::{self, Agent, Event};
use savepoint::watch::{self, WatchOptions};
use savepoint::workspace::Workspace;

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
    #[command(flatten)]
    Agent(AgentCall),
    /// The slow part of an agent hook (a snapshot, the brief after a failed
    /// turn), run by the hook in a process group of its own so it completes
    /// when the client kills the hook's group. Reads the job (JSON) on
    /// stdin. Not for direct use.
    #[command(hide = true)]
    Worker,
}

/// `savepoint hook <agent> [args]`: one subcommand per agent of
/// [`agents::all`], described by the agent.
#[derive(Debug)]
pub struct AgentCall {
    pub agent: &'static dyn Agent,
    pub args: Vec<String>,
}

impl clap::FromArgMatches for AgentCall {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let (name, sub) = m
            .subcommand()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand))?;
        let agent = agents::by_name(name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        let args = match agent.takes_args() {
            true => sub
                .get_many::<String>("args")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            false => Vec::new(),
        };
        Ok(AgentCall { agent, args })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Subcommand for AgentCall {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        agents::all().iter().fold(cmd, |cmd, a| {
            let sub = clap::Command::new(a.name()).about(a.hook_doc());
            cmd.subcommand(match a.takes_args() {
                true => sub.arg(
                    clap::Arg::new("args")
                        .value_name("ARGS")
                        .num_args(1..)
                        .action(clap::ArgAction::Append)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true),
                ),
                false => sub,
            })
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        agents::by_name(name).is_some()
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    // (A worker's job was decided before: it runs whatever the variable
    // says now.)
    let no_hooks = std::env::var_os("SAVEPOINT_NO_HOOKS").is_some_and(|v| !v.is_empty());
    // What an agent that reads stdout as JSON still gets when there is
    // nothing to answer.
    let empty_reply = || {
        if let Source::Agent(call) = &args.source {
            print(&call.agent.reply(None, agents::Response::default()));
        }
    };
    if no_hooks && !matches!(args.source, Source::Worker) {
        empty_reply();
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
            agents::log(
                &ws,
                &format!("hook panicked (a bug; please report it): {what}"),
            );
        }
        empty_reply();
    }
    Ok(())
}

fn dispatch(ctx: &Ctx, args: &Args) {
    match &args.source {
        Source::Git { name, .. } => git(ctx, name),
        Source::Worker => worker(),
        Source::Agent(call) => {
            // From here on the client may kill this process's group at any
            // moment (Claude Code does, right after StopFailure and at turn
            // end): TERM, HUP and INT only end the wait for the worker.
            let guard = Guard::new();
            let response = agent_hook(ctx, call, &guard);
            print(&response);
        }
    }
}

/// Signals that would end the hook before its work is done. Registered
/// first thing, so a SIGTERM that comes while the brief is being written
/// only cuts short the wait for the worker; `None` when the platform
/// refuses (the hook then works as a plain process).
struct Guard {
    signals: std::cell::Cell<Option<signal_hook::iterator::Signals>>,
}

impl Guard {
    fn new() -> Guard {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        Guard {
            signals: std::cell::Cell::new(
                signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT]).ok(),
            ),
        }
    }

    /// Wait for `child` to finish (`true`), or for a signal (`false`; the
    /// child is left running: it is in a process group of its own).
    fn wait(&self, mut child: std::process::Child) -> bool {
        let Some(mut signals) = self.signals.take() else {
            let _ = child.wait();
            return true;
        };
        let handle = signals.handle();
        std::thread::spawn(move || {
            let _ = child.wait();
            handle.close();
        });
        // A signal that came earlier is delivered here at once.
        signals.forever().next().is_none()
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

/// Print what the agent gets: stdout for it, stderr for the user.
fn print(r: &agents::Response) {
    if !r.stdout.is_empty() {
        say(&r.stdout);
    }
    if !r.stderr.is_empty() {
        say_err(&r.stderr);
    }
}

fn git(ctx: &Ctx, name: &str) {
    let Ok(ws) = Workspace::discover(&ctx.dir) else {
        return;
    };
    let result = (|| -> savepoint::Result<()> {
        autostart(&ws);
        let meta = watch::SnapMeta {
            trigger: format!("hook:{name}"),
            ..Default::default()
        };
        let served = agents::snapshot(&ws, meta)?;
        agents::log(&ws, &format!("hook:{name} {}", served.describe()));
        Ok(())
    })();
    if let Err(e) = result {
        agents::log(&ws, &format!("hook:{name} failed: {e}"));
    }
}

/// Read the agent's payload (stdin, or an argument), act on it, and
/// answer in the agent's form. A malformed payload is logged.
fn agent_hook(ctx: &Ctx, call: &AgentCall, guard: &Guard) -> agents::Response {
    let AgentCall { agent, args } = call;
    let log_here = |line: &str| {
        if let Ok(ws) = Workspace::discover(&ctx.dir) {
            agents::log(&ws, line);
        }
    };
    if let Err(e) = agent.forward(args) {
        log_here(&format!("{}: {e}", agent.name()));
    }
    let input = match agent.payload_arg(args) {
        Some(payload) => payload.as_bytes().to_vec(),
        None => read_stdin(),
    };
    match agent.parse(&input, args) {
        Ok(event) => {
            let response = act(ctx, &event, guard);
            agent.reply(Some(&event.name), response)
        }
        Err(why) => {
            let sample: String = String::from_utf8_lossy(&input).chars().take(200).collect();
            log_here(&format!("ignored malformed input ({why}): {sample:?}"));
            agent.reply(None, agents::Response::default())
        }
    }
}

/// The fast part here and now; the slow part (the snapshot) to the
/// watcher, or to a worker that outlives this process.
fn act(ctx: &Ctx, event: &Event, guard: &Guard) -> agents::Response {
    let dir = event.cwd.clone().unwrap_or_else(|| ctx.dir.clone());
    let mut event = event.clone();
    event.cwd = Some(dir.clone());
    let session_start = matches!(event.kind, agents::Kind::SessionStart { .. });
    match agents::prepare(&event) {
        Ok(Some(mut plan)) => {
            // After the notice: it must not take a watcher that has not
            // scanned yet for one that has recorded the work tree.
            if session_start {
                autostart(&plan.ws);
            }
            if plan.job.is_none() {
                agents::log(&plan.ws, &format!("{} no snapshot", event.trigger()));
            }
            if let Some(job) = &plan.job {
                execute(&plan.ws, job, guard);
                if job.failed {
                    let note = agents::status_note(&plan.ws);
                    if !note.is_empty() {
                        let r = &mut plan.response;
                        r.stderr = format!("{}\nsavepoint: {note}", r.stderr);
                    }
                }
            }
            plan.response
        }
        Ok(None) => agents::Response::default(),
        Err(e) => {
            if let Ok(ws) = Workspace::discover(Path::new(&dir)) {
                agents::log(&ws, &format!("{} failed: {e}", event.trigger()));
                if session_start {
                    autostart(&ws);
                }
            }
            agents::Response::default()
        }
    }
}

/// Carry out a hook's job so that it completes whatever the client does
/// to this process: the watcher takes it when one runs; otherwise a
/// worker (`savepoint hook worker`) in a process group of its own, with
/// TERM/HUP/INT ignored and no tie to the client's pipes, does, and this
/// process waits for it unless the client signals it first. Where no
/// worker can be started, the job runs here.
fn execute(ws: &Workspace, job: &agents::Job, guard: &Guard) {
    if let Some(pid) = agents::hand_to_watcher(ws, job) {
        agents::log(
            ws,
            &format!("{} handed to the watcher (pid {pid})", job.meta.trigger),
        );
        return;
    }
    if let Some(served) = agents::failed_turn_by_watcher(ws, job) {
        agents::log(
            ws,
            &format!("{} by the watcher: {}", job.meta.trigger, served.describe()),
        );
        return;
    }
    if job.failed {
        agents::brief_first(ws, job);
    }
    match spawn_worker(job) {
        Ok(child) => {
            if !guard.wait(child) {
                agents::log(
                    ws,
                    &format!(
                        "{}: the client ended the hook; its worker carries on",
                        job.meta.trigger
                    ),
                );
            }
        }
        Err(e) => {
            agents::log(
                ws,
                &format!("{}: no worker ({e}); working here", job.meta.trigger),
            );
            if let Err(e) = agents::run_job(job) {
                agents::log(ws, &format!("{} failed: {e}", job.meta.trigger));
            }
        }
    }
}

/// Start the worker (see [`savepoint::integrations::detach`]: a process group of its
/// own, the client's stop signals ignored from its first instruction),
/// stdin the job, stdout and stderr detached from the client's pipes.
fn spawn_worker(job: &agents::Job) -> std::io::Result<std::process::Child> {
    use std::process::Stdio;
    let exe = std::env::current_exe()?;
    let mut child = savepoint::integrations::detach::spawn_immune(
        std::process::Command::new(exe)
            .args(["hook", "worker"])
            .current_dir(&job.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let bytes = serde_json::to_vec(job).map_err(std::io::Error::other)?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(&bytes)?;
    drop(stdin);
    Ok(child)
}

/// `savepoint hook worker`: read the job, do it, log the outcome (started
/// by [`spawn_worker`] with the client's stop signals already ignored).
fn worker() {
    let input = read_stdin();
    match serde_json::from_slice::<agents::Job>(&input) {
        Ok(job) => {
            if let Err(e) = agents::run_job(&job) {
                if let Ok(ws) = Workspace::discover(&job.dir) {
                    agents::log(&ws, &format!("{} failed: {e}", job.meta.trigger));
                }
            }
        }
        Err(e) => {
            if let Ok(ws) = std::env::current_dir()
                .and_then(|d| Workspace::discover(&d).map_err(std::io::Error::other))
            {
                agents::log(&ws, &format!("hook worker: unreadable job ({e})"));
            }
        }
    }
}

/// `savepoint.autostart`: start the watcher when none runs (without
/// waiting for its start-up scan).
fn autostart(ws: &Workspace) {
    let Ok(cfg) = ws.config() else {
        return;
    };
    if !cfg.autostart || !matches!(watch::running_pid(ws), Ok(None)) {
        return;
    }
    let started = std::env::current_exe()
        .map_err(|e| e.to_string())
        .and_then(|exe| {
            watch::spawn_detached(ws, &exe, &WatchOptions::from_config(cfg))
                .map_err(|e| e.to_string())
        });
    match started {
        Ok(child) => agents::log(
            ws,
            &format!("autostart: watcher started (pid {})", child.id()),
        ),
        Err(e) => agents::log(ws, &format!("autostart failed: {e}")),
    }
}
