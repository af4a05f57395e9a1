//! `savepoint bisect`: the first snapshot where a command starts to fail —
//! "which prompt broke the tests?". The search is the library's
//! ([`savepoint::ops::bisect`]); this file wires Ctrl-C/SIGTERM/SIGHUP to
//! its cancel flag, shows progress on stderr and renders the answer.

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use git2::Oid;
use savepoint::ops::bisect::{self, BisectRequest, Bisected, Probe, Progress, Verdict};
use savepoint::snapshot::chain::{self, SnapshotInfo};
use savepoint::snapshot::revision;
use serde::Serialize;

use super::Ctx;
use crate::cli::output as ui;

/// Find the first snapshot where a command starts to fail.
///
/// "Which prompt broke the tests?" Binary-searches the current chain (or
/// the snapshots between GOOD and BAD) for the first snapshot on which
/// COMMAND fails, and names it with its prompt, agent, session and what it
/// changed, and the last snapshot where the command still passed.
///
/// Each probe writes the snapshot's files into a private temporary
/// directory under `<git-dir>/savepoint/bisect/` and runs the command
/// there — never in your work tree, which, like your index, HEAD and
/// branches, is not touched. `$SAVEPOINT_BISECT_SNAPSHOT` holds the
/// snapshot's id; `git` inside a probe finds no repository. The
/// directories are removed after each probe, on errors and on Ctrl-C.
///
/// The command's exit code says how a snapshot is, as with `git bisect
/// run`: 0 good; 1–127 bad, except 125: skip (cannot be tested — say, it
/// does not build for an unrelated reason); 128 or more, or a signal,
/// aborts. A probe that runs past --timeout is killed with its whole
/// process group and counts as bad. The command's output goes to stderr.
///
/// Progress is shown on stderr: `probing 3/7: <id> <prompt>`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint bisect -- cargo test                      # the whole chain\n  savepoint bisect -- ./test.sh                       # a script in the snapshot\n  savepoint bisect -- 'make -j4 && ./run-tests'       # one argument: a shell command line\n  savepoint bisect @{2h} @ --timeout 60 -- npm test   # between two snapshots, 60 s per probe\n  savepoint bisect --json -- pytest -x | jq .first_bad.prompt"
)]
pub struct Args {
    /// A snapshot on which COMMAND passes (default: none — the search
    /// covers the chain from its first snapshot; the state the chain began
    /// from, e.g. an `@{<time>}` older than the chain, works too).
    #[arg(value_name = "GOOD")]
    pub good: Option<String>,

    /// A snapshot on which COMMAND fails (default: @, the latest).
    #[arg(value_name = "BAD")]
    pub bad: Option<String>,

    /// Kill a probe that runs longer than SECS seconds (with everything it
    /// started); it counts as bad. Default: no limit.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,

    /// Print JSON:
    /// {"ref","prompt","first_bad","last_good","probes","skipped","undecided"};
    /// `first_bad`/`last_good` have `log --json`'s
    /// fields (`last_good` null when none passed), `prompt` is the prompt
    /// the first bad snapshot was taken under (its own or the latest before
    /// it in its session), `probes` are {"id","result","exit","seconds"} in
    /// the order run (`result`: good, bad, skip, timeout), `skipped` the
    /// ids that exited 125, `undecided` the skipped ones the first bad
    /// snapshot may also be.
    #[arg(long)]
    pub json: bool,

    /// The test, after `--`: one argument is a shell command line
    /// (`sh -c`), several are a program and its arguments. It runs in the
    /// snapshot's files, so `./test.sh` is the snapshot's own script.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(rename = "ref")]
    refname: &'a str,
    /// The prompt the first bad snapshot was taken under (its own, or the
    /// latest before it in its session).
    prompt: Option<String>,
    first_bad: SnapshotInfo,
    last_good: Option<SnapshotInfo>,
    probes: &'a [Probe],
    skipped: Vec<String>,
    undecided: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let timeout = match args.timeout {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--timeout takes a number of seconds above 0 (got {s})"),
    };
    let good = args
        .good
        .as_deref()
        .map(|s| revision::resolve(&ws, s))
        .transpose()?;
    let bad = args
        .bad
        .as_deref()
        .map(|s| revision::resolve(&ws, s))
        .transpose()?;
    let req = BisectRequest {
        good,
        bad,
        command: args.command.clone(),
        timeout,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _signals = CancelOnSignals::register(&cancel);
    let repo = ws.repo();
    let color = crate::cli::output::stderr_color();
    let mut progress = |p: Progress<'_>| match p {
        Progress::Probing { n, of, oid } => {
            let what = label(repo, oid);
            let id = chain::short_id(oid);
            if color {
                eprintln!("\x1b[1mprobing {n}/{of}\x1b[0m: \x1b[33m{id}\x1b[0m {what}");
            } else {
                eprintln!("probing {n}/{of}: {id} {what}");
            }
        }
        Progress::Probed(probe) => {
            let timeout_note = match probe.verdict {
                Verdict::Timeout => " — killed after the timeout, counted as bad",
                _ => "",
            };
            eprintln!(
                "  {} {} ({}, {:.1} s){timeout_note}",
                probe.id,
                probe.verdict.label(),
                bisect::describe_exit(probe),
                probe.seconds
            );
        }
    };
    let found = bisect::bisect(&ws, &req, &cancel, &mut progress)?;
    if args.json {
        let info = |oid: Oid| chain::info(repo, oid, &found.refname);
        return super::print_json(&Report {
            refname: &found.refname,
            prompt: bisect::prompt_under(repo, found.first_bad)?.map(|(_, p)| p),
            first_bad: info(found.first_bad)?,
            last_good: found.last_good.map(info).transpose()?,
            probes: &found.probes,
            skipped: found.skipped.iter().map(|o| chain::short_id(*o)).collect(),
            undecided: found
                .undecided
                .iter()
                .map(|o| chain::short_id(*o))
                .collect(),
        });
    }
    report(ctx, &ws, &found, &args.command)
}

/// A snapshot's prompt, else its summary, for one progress line.
fn label(repo: &git2::Repository, oid: Oid) -> String {
    let Ok(commit) = repo.find_commit(oid) else {
        return String::new();
    };
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let t = savepoint::snapshot::trailers::parse(&message).unwrap_or_default();
    let text = match t.prompts.last() {
        Some(p) => format!("\"{p}\""),
        None => chain::subject_tail(commit.summary().unwrap_or(""), &t.trigger).to_owned(),
    };
    ui::text(&savepoint::snapshot::trailers::one_line(&text, 80)).into_owned()
}

fn report(
    ctx: &Ctx,
    ws: &savepoint::workspace::Workspace,
    found: &Bisected,
    command: &[OsString],
) -> Result<()> {
    let u = &ctx.ui;
    let repo = ws.repo();
    let bad = chain::info(repo, found.first_bad, &found.refname)?;
    let shown = savepoint::text::args_line(command);
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} {} — `{}` fails from here on",
            u.paint(ui::BOLD, "first bad snapshot:"),
            u.paint(ui::ID, &bad.id),
            ui::text(&shown)
        )?;
        describe(ctx, repo, &bad, &mut out)?;
    }
    let commit = repo.find_commit(found.first_bad)?;
    let parent_tree = commit.parent(0).ok().map(|p| p.tree()).transpose()?;
    super::diff::print_tree_diff(ctx, repo, parent_tree.as_ref(), &commit.tree()?, true, &[])?;
    let mut out = std::io::stdout().lock();
    match found.last_good {
        Some(good) => {
            let good = chain::info(repo, good, &found.refname)?;
            writeln!(
                out,
                "{} {}",
                u.paint(ui::BOLD, "last good snapshot:"),
                u.paint(ui::ID, &good.id)
            )?;
            describe(ctx, repo, &good, &mut out)?;
        }
        None => writeln!(
            out,
            "{} none — it fails from the chain's first snapshot on",
            u.paint(ui::BOLD, "last good snapshot:")
        )?,
    }
    if !found.undecided.is_empty() {
        let ids: Vec<String> = found
            .undecided
            .iter()
            .map(|o| u.paint(ui::ID, &chain::short_id(*o)))
            .collect();
        writeln!(
            out,
            "note: skipped (exit 125), so the first bad one may also be: {}",
            ids.join(", ")
        )?;
    }
    let total: f64 = found.probes.iter().map(|p| p.seconds).sum();
    writeln!(
        out,
        "{} in {total:.1} s over {}{}",
        savepoint::plural(found.probes.len() as u64, "probe"),
        savepoint::plural(found.range as u64, "snapshot"),
        match found.skipped.len() {
            0 => String::new(),
            n => format!(", {n} skipped"),
        }
    )?;
    let timeouts = found
        .probes
        .iter()
        .filter(|p| p.verdict == Verdict::Timeout)
        .count();
    if timeouts > 0 {
        writeln!(
            out,
            "note: {} ran past the timeout and counted as bad",
            savepoint::plural(timeouts as u64, "probe")
        )?;
    }
    if found.probes.iter().all(|p| p.verdict.is_bad())
        && found
            .probes
            .iter()
            .any(|p| matches!(p.exit, Some(126 | 127)))
    {
        writeln!(
            out,
            "note: exit 126/127 usually means the command was not found: it runs in a copy of each snapshot's files, not in your work tree"
        )?;
    }
    let restore = match found.last_good {
        Some(good) => format!(
            " · put back the last good state: savepoint restore {}",
            chain::short_id(good)
        ),
        None => String::new(),
    };
    writeln!(
        out,
        "{}",
        u.paint(
            ui::DIM,
            &format!("see the change: savepoint show {}{restore}", bad.id)
        )
    )?;
    Ok(())
}

/// Age, trigger, agent, session and prompts of one snapshot (or the
/// prompt it was taken under), indented.
fn describe(
    ctx: &Ctx,
    repo: &git2::Repository,
    i: &SnapshotInfo,
    out: &mut impl Write,
) -> Result<()> {
    let u = &ctx.ui;
    let mut facts = vec![
        ui::relative_age(&i.timestamp),
        u.paint(ui::TRIGGER, &ui::text(&i.trigger)),
    ];
    if let Some(agent) = &i.agent {
        facts.push(format!("agent {}", ui::text(agent)));
    }
    if let Some(session) = &i.session {
        facts.push(format!("session {}", ui::text(session)));
    }
    writeln!(out, "  {}", facts.join(", "))?;
    writeln!(out, "  {}", ui::text(&i.summary()))?;
    for p in &i.prompts {
        writeln!(out, "  {} {}", u.paint(ui::DIM, "prompt:"), ui::text(p))?;
    }
    if i.prompts.is_empty() {
        if let Some((at, p)) = bisect::prompt_under(repo, i.oid)? {
            writeln!(
                out,
                "  {} {} {}",
                u.paint(ui::DIM, "taken under the prompt:"),
                ui::text(&p),
                u.paint(ui::DIM, &format!("({})", chain::short_id(at)))
            )?;
        }
    }
    Ok(())
}

/// SIGINT, SIGTERM and SIGHUP set the bisect's cancel flag while it runs
/// (it then kills the probe's process group and removes its trees); the
/// default handling comes back when this is dropped.
struct CancelOnSignals(Vec<signal_hook::SigId>);

impl CancelOnSignals {
    fn register(flag: &Arc<AtomicBool>) -> CancelOnSignals {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        CancelOnSignals(
            [SIGINT, SIGTERM, SIGHUP]
                .into_iter()
                .filter_map(|s| signal_hook::flag::register(s, Arc::clone(flag)).ok())
                .collect(),
        )
    }
}

impl Drop for CancelOnSignals {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
