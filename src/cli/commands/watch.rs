//! `savepoint watch`: run the file watcher in the foreground, or start it
//! in the background (`--detach`) and return once it is watching.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use savepoint::snapshot::record::SnapOutcome;
use savepoint::watch::{self, Report, WatchOptions};

use super::Ctx;
use crate::cli::output::{self as ui, Ui};

/// How long `--detach` waits for the watcher's start-up scan.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Watch the work tree and snapshot every change as you (or an agent) work.
///
/// Starts with a stat-cached scan, then snapshots after `--debounce` ms
/// without changes (and at least every `savepoint.maxWait` ms while changes
/// keep coming). Only directories that are not ignored are watched;
/// snapshots follow branch switches to the new branch's chain. One watcher
/// per work tree: a second one is refused. Ctrl-C (or `savepoint stop`)
/// takes a final snapshot and exits.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint watch                  # foreground, Ctrl-C to stop\n  savepoint watch --detach         # background; see `savepoint status`\n  savepoint watch --debounce 300   # snapshot sooner after the last change\n  savepoint stop"
)]
pub struct Args {
    /// Run in the background; output goes to <git-dir>/savepoint/watch.log.
    #[arg(long)]
    pub detach: bool,

    /// Quiet time before a snapshot, in milliseconds [default:
    /// savepoint.debounce or 1000].
    #[arg(long, value_name = "MS")]
    pub debounce: Option<u64>,

    /// Longest time between snapshots while changes keep coming, in
    /// milliseconds [default: savepoint.maxWait or 10000].
    #[arg(long, value_name = "MS")]
    pub max_wait: Option<u64>,

    /// Poll with stat-cached scans instead of file notifications (for
    /// network file systems, or when inotify watches run out).
    #[arg(long)]
    pub poll: bool,

    /// Internal: this process is the detached watcher.
    #[arg(long, hide = true)]
    pub daemon_child: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let cfg = ws.config()?;
    let mut opts = WatchOptions::from_config(cfg);
    if let Some(ms) = args.debounce {
        opts.debounce = Duration::from_millis(ms);
    }
    if let Some(ms) = args.max_wait {
        opts.max_wait = Duration::from_millis(ms);
    }
    opts.poll = args.poll;
    opts.detached = args.daemon_child;
    if args.detach && !args.daemon_child {
        return detach(ctx, &ws, &opts);
    }
    let u = &ctx.ui;
    let workdir = ws.workdir().display().to_string();
    let mut report = |r: Report| {
        // Output is best effort: a closed terminal must not stop the watcher.
        let _ = print_report(u, &workdir, r, args.daemon_child);
    };
    watch::run(&ws, &opts, &mut report)?;
    Ok(())
}

fn print_report(u: &Ui, workdir: &str, r: Report, daemon: bool) -> std::io::Result<()> {
    let now = chrono::Local::now();
    let stamp = if daemon {
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    } else {
        now.format("%H:%M:%S").to_string()
    };
    let stamp = u.paint(ui::DIM, &stamp);
    let mut out = std::io::stdout().lock();
    match r {
        Report::Started {
            mode,
            watches,
            scan,
        } => {
            let how = if mode == "poll" {
                "polling".to_owned()
            } else {
                format!("{mode}, {watches} directories")
            };
            writeln!(
                out,
                "{stamp} watching {workdir} ({how}); snapshots go to {}",
                u.paint(ui::REF, &scan.refname)
            )?;
            if scan.created {
                snapshot_line(&mut out, u, &stamp, &scan)?;
            }
            if !daemon {
                writeln!(
                    out,
                    "{stamp} press Ctrl-C to stop (a final snapshot is taken)"
                )?;
            }
        }
        Report::Snapshot(s) => snapshot_line(&mut out, u, &stamp, &s)?,
        Report::BranchSwitch { refname } => writeln!(
            out,
            "{stamp} HEAD moved: snapshots now go to {}",
            u.paint(ui::REF, &refname)
        )?,
        Report::Warning(msg) => {
            drop(out);
            eprintln!("{stamp} warning: {msg}");
            return Ok(());
        }
        Report::Stopping => writeln!(out, "{stamp} stopping: taking a final snapshot")?,
    }
    out.flush()
}

fn snapshot_line(
    out: &mut impl Write,
    u: &Ui,
    stamp: &str,
    s: &SnapOutcome,
) -> std::io::Result<()> {
    let id = s.id.as_deref().unwrap_or("");
    let prefix = format!("savepoint: {}: ", s.trigger);
    let summary = s.subject.strip_prefix(&prefix).unwrap_or(&s.subject);
    writeln!(
        out,
        "{stamp} {} {} {summary}",
        u.paint(ui::ID, id),
        u.paint(ui::TRIGGER, &s.trigger)
    )?;
    for skipped in &s.skipped {
        writeln!(
            out,
            "{stamp}   left out: {}",
            ui::text(&skipped.to_string())
        )?;
    }
    Ok(())
}

/// Start `savepoint watch` as a background process and wait until its
/// start-up scan is done.
fn detach(ctx: &Ctx, ws: &savepoint::workspace::Workspace, opts: &WatchOptions) -> Result<()> {
    if let Some(pid) = watch::running_pid(ws)? {
        return Err(savepoint::Error::AlreadyWatching {
            pid,
            workdir: ws.workdir().to_path_buf(),
        }
        .into());
    }
    let state = ws.state().ensure()?;
    let log = watch::log_path(state);
    let exe = std::env::current_exe().context("find the savepoint executable")?;
    let mut child = watch::spawn_detached(ws, &exe, opts)?;
    let pid = child.id();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the watcher exited during start-up ({status}); its log {} ends with:\n{}",
                log.display(),
                tail(&log, 5)
            );
        }
        if watch::WatchState::load(state).is_some_and(|s| s.pid == pid) {
            break;
        }
        if start.elapsed() > START_TIMEOUT {
            bail!(
                "the watcher (pid {pid}) is still scanning after {}s; it keeps running — check `savepoint status` and {}",
                START_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let u = &ctx.ui;
    println!(
        "watching {} in the background (pid {pid}); log: {}",
        ws.workdir().display(),
        log.display()
    );
    println!("{}", u.paint(ui::DIM, "stop it with `savepoint stop`"));
    Ok(())
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
