//! `bisect`: the first snapshot of a chain where a command starts to fail
//! ("which prompt broke the tests?").
//!
//! Each probe writes one snapshot's tree into a private directory of its
//! own under `<git-dir>/savepoint/bisect/<pid>/` — a plain export through
//! a throwaway index (`git read-tree` + `git checkout-index -a`, so smudge
//! filters, exec bits and symbolic links come out as a checkout makes
//! them), never the user's work tree, index or `.git/worktrees` — runs the
//! command there in a process group of its own, and removes the directory
//! again. The chain is binary-searched between a good and a bad end, with
//! `git bisect run`'s exit codes: 0 good, 125 skip, 1–127 bad, anything
//! else (≥ 128, a signal) aborts. A command that outlives the timeout is
//! killed with its whole process group and counts as bad.
//!
//! The library never prints: progress goes to a callback, the command's
//! own output to the caller's stderr (stdout stays free for `--json`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use git2::Oid;
use serde::Serialize;

use crate::error::{Error, GitContext, Result};
use crate::git::command::GitCmd;
use crate::snapshot::chain;
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// `git bisect run`'s "cannot test this one" exit code.
pub const SKIP_CODE: i32 = 125;

/// The environment variable naming the snapshot a probe runs on (full id).
pub const SNAPSHOT_ENV: &str = "SAVEPOINT_BISECT_SNAPSHOT";

/// What to bisect.
#[derive(Debug, Clone)]
pub struct BisectRequest {
    /// A snapshot (or the chain's base commit) known to pass; `None`: the
    /// search starts before the chain's first snapshot.
    pub good: Option<Oid>,
    /// A snapshot known to fail; `None`: the chain's latest.
    pub bad: Option<Oid>,
    /// One element: a shell command line (`sh -c`); several: a program
    /// and its arguments, run as they are.
    pub command: Vec<OsString>,
    /// Longest a probe may run; `None`: no limit.
    pub timeout: Option<Duration>,
}

/// How one probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Good,
    Bad,
    Skip,
    /// Ran longer than the timeout: killed, counted as bad.
    Timeout,
}

impl Verdict {
    pub fn is_bad(self) -> bool {
        matches!(self, Verdict::Bad | Verdict::Timeout)
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
            Verdict::Timeout => "timeout",
        }
    }
}

/// One run of the command on one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// 12 hex.
    pub id: String,
    #[serde(rename = "result")]
    pub verdict: Verdict,
    /// The exit code (`None` after a timeout).
    pub exit: Option<i32>,
    pub seconds: f64,
    #[serde(skip)]
    pub oid: Oid,
}

/// What a bisect found.
#[derive(Debug, Clone)]
pub struct Bisected {
    pub refname: String,
    /// The first snapshot the command fails on.
    pub first_bad: Oid,
    /// The snapshot just before it that passed (`None`: it fails from the
    /// chain's first snapshot on and no good end was given).
    pub last_good: Option<Oid>,
    pub probes: Vec<Probe>,
    /// Every snapshot the command skipped (exit 125), newest first.
    pub skipped: Vec<Oid>,
    /// Skipped snapshots between `last_good` and `first_bad`: the first
    /// bad one may be any of these as well (oldest first). Empty when the
    /// answer is exact.
    pub undecided: Vec<Oid>,
    /// Snapshots after the good end up to the bad end (the search space).
    pub range: usize,
}

/// Progress, for the caller to show.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// About to probe `oid`: probe number `n` of about `of`.
    Probing { n: usize, of: usize, oid: Oid },
    /// A probe finished.
    Probed(&'a Probe),
}

/// Why a bisect could not give an answer (the messages read after
/// "cannot bisect: "); every temporary tree is removed by then.
#[derive(Debug, thiserror::Error)]
pub enum BisectError {
    #[error("no command given (put it after `--`)")]
    NoCommand,
    /// The chain (named) has no snapshot.
    #[error("no snapshots on {0} yet")]
    NoSnapshots(String),
    /// A `<good>` or `<bad>` end that is not on the chain.
    #[error("the {end} end {id} is not a snapshot on {refname} (see `savepoint log`)")]
    NotOnChain {
        end: &'static str,
        id: String,
        refname: String,
    },
    #[error("the good end {good} is not older than the bad end {bad}")]
    EndsOutOfOrder { good: String, bad: String },
    /// `latest`: the bad end was not named (the chain's latest snapshot).
    #[error(
        "the command passes on the bad end {id}{}: nothing to look for",
        if *latest { " (the latest snapshot)" } else { "" }
    )]
    BadEndPasses { id: String, latest: bool },
    #[error("the command skipped (exit {SKIP_CODE}) the bad end {0}; name another with `savepoint bisect <good> <bad> -- …`")]
    BadEndSkipped(String),
    #[error("the command skipped (exit {SKIP_CODE}) the good end {0}; name another")]
    GoodEndSkipped(String),
    /// `exit`: how it failed (`exit 3`, `timed out`).
    #[error("the command fails on the good end {id} too ({exit}); name an older good snapshot, or check the command")]
    GoodEndFails { id: String, exit: String },
    #[error("cannot start `{command}`: {source}")]
    Start {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// Exit 128 or more, which `git bisect run` reads as "abort".
    #[error("`{command}` exited with {code} (128 or more — a crash or a signal, as `git bisect run` reads it — aborts the bisect; exit 1–127 for bad, 125 to skip)")]
    Aborted { command: String, code: i32 },
    #[error("`{command}` was killed by signal {signal}")]
    Killed { command: String, signal: i32 },
    /// The caller's cancel flag (Ctrl-C, SIGTERM, SIGHUP).
    #[error("interrupted; the temporary trees were removed")]
    Interrupted,
}

/// Run the bisect. `cancel` (set by the caller's Ctrl-C / SIGTERM handler)
/// stops it between two polls of the running command: the command's
/// process group is killed, every temporary tree removed, and an error
/// returned.
pub fn bisect(
    ws: &Workspace,
    req: &BisectRequest,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Bisected> {
    if req.command.is_empty() {
        return Err(BisectError::NoCommand.into());
    }
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let Some(tip) = chain::tip(repo, &refname)? else {
        return Err(BisectError::NoSnapshots(refname).into());
    };
    // Oldest first; the chain's base commit (HEAD when it began), if any,
    // may be named as the good end.
    let mut points = chain::walk(repo, tip, None)?;
    points.reverse();
    let base = match points.first() {
        Some(first) => repo
            .find_commit(*first)
            .git_context(|| format!("read commit {first}"))?
            .parent_id(0)
            .ok(),
        None => None,
    };
    let index_of = |oid: Oid, end: &'static str| -> Result<usize> {
        points.iter().position(|p| *p == oid).ok_or_else(|| {
            BisectError::NotOnChain {
                end,
                id: chain::short_id(oid),
                refname: refname.clone(),
            }
            .into()
        })
    };
    let hi = match req.bad {
        Some(oid) => index_of(oid, "bad")?,
        None => points.len() - 1,
    };
    // `lo` is the known-good position; -1 is "before the first snapshot".
    let lo: isize = match req.good {
        None => -1,
        Some(oid) if Some(oid) == base && !points.contains(&oid) => -1,
        Some(oid) => index_of(oid, "good")? as isize,
    };
    if lo >= hi as isize {
        return Err(BisectError::EndsOutOfOrder {
            good: chain::short_id(points[lo as usize]),
            bad: chain::short_id(points[hi]),
        }
        .into());
    }
    let range = (hi as isize - lo) as usize;
    let mut runner = Runner::new(ws, req, cancel)?;
    let mut search = Search::new(lo, hi);
    let mut probes: Vec<Probe> = Vec::new();
    let estimate = |search: &Search, done: usize, ends: usize| {
        done + ends + steps(search.candidates().count())
    };

    // The bad end must fail.
    let of = estimate(&search, 0, 1 + usize::from(req.good.is_some()));
    let probe = probe_at(&mut runner, points[hi], 1, of, progress)?;
    probes.push(probe.clone());
    match probe.verdict {
        v if v.is_bad() => {}
        Verdict::Good => {
            return Err(BisectError::BadEndPasses {
                id: probe.id,
                latest: req.bad.is_none(),
            }
            .into())
        }
        _ => return Err(BisectError::BadEndSkipped(probe.id).into()),
    }
    // A good end that was named must pass (the chain's base too).
    if let Some(good) = req.good {
        let of = estimate(&search, probes.len(), 1);
        let probe = probe_at(&mut runner, good, probes.len() + 1, of, progress)?;
        probes.push(probe.clone());
        match probe.verdict {
            Verdict::Good => {}
            Verdict::Skip => return Err(BisectError::GoodEndSkipped(probe.id).into()),
            _ => {
                return Err(BisectError::GoodEndFails {
                    exit: describe_exit(&probe),
                    id: probe.id,
                }
                .into())
            }
        }
    }
    while let Some(mid) = search.next() {
        let of = estimate(&search, probes.len(), 0);
        let probe = probe_at(&mut runner, points[mid], probes.len() + 1, of, progress)?;
        search.record(mid, probe.verdict);
        probes.push(probe);
    }
    runner.finish();
    let (lo, hi) = (search.lo, search.hi);
    let last_good = match lo {
        -1 => req.good.filter(|g| Some(*g) == base),
        i => Some(points[i as usize]),
    };
    let mut skipped: Vec<Oid> = search.skipped.iter().map(|&i| points[i]).collect();
    let undecided: Vec<Oid> = search
        .skipped
        .iter()
        .filter(|&&i| (i as isize) > lo && i < hi)
        .map(|&i| points[i])
        .collect();
    skipped.reverse();
    Ok(Bisected {
        refname,
        first_bad: points[hi],
        last_good,
        probes,
        skipped,
        undecided,
        range,
    })
}

/// How far back [`prompt_under`] looks.
const PROMPT_SCAN: usize = 1_000;

/// The prompt snapshot `oid` was taken under: its own latest prompt, else
/// that of the nearest older snapshot on its chain in the same session (a
/// snapshot without a session — the watcher's, a manual one — counts in
/// the session around it). `None` past a session change, the chain's
/// start, or 1,000 snapshots back. With the snapshot that carries it.
pub fn prompt_under(repo: &git2::Repository, oid: Oid) -> Result<Option<(Oid, String)>> {
    let mut session: Option<String> = None;
    let mut next = Some(oid);
    for _ in 0..PROMPT_SCAN {
        let Some(at) = next else { break };
        let commit = repo
            .find_commit(at)
            .git_context(|| format!("read commit {at}"))?;
        let Some(t) =
            crate::snapshot::trailers::parse(&String::from_utf8_lossy(commit.message_bytes()))
        else {
            break;
        };
        match (&session, &t.session) {
            (Some(a), Some(b)) if a != b => break,
            (None, Some(b)) => session = Some(b.clone()),
            _ => {}
        }
        if let Some(p) = t.prompts.last() {
            return Ok(Some((at, p.clone())));
        }
        next = commit.parent_id(0).ok();
    }
    Ok(None)
}

/// `exit 3`, `timed out`.
pub fn describe_exit(p: &Probe) -> String {
    match (p.verdict, p.exit) {
        (Verdict::Timeout, _) => "timed out".into(),
        (_, Some(code)) => format!("exit {code}"),
        (_, None) => "no exit code".into(),
    }
}

/// Probes a binary search over `n` candidates needs at most (the last
/// step tells "the bad end itself is the first bad one").
fn steps(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

fn probe_at(
    runner: &mut Runner<'_>,
    oid: Oid,
    n: usize,
    of: usize,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Probe> {
    progress(Progress::Probing {
        n,
        of: of.max(n),
        oid,
    });
    let probe = runner.probe(oid)?;
    progress(Progress::Probed(&probe));
    Ok(probe)
}

/// The binary search over positions `lo+1 ..= hi` (`lo` known good, -1 for
/// "before the chain"; `hi` known bad), with skipped positions left out.
#[derive(Debug, Clone)]
struct Search {
    lo: isize,
    hi: usize,
    skipped: BTreeSet<usize>,
}

impl Search {
    fn new(lo: isize, hi: usize) -> Search {
        Search {
            lo,
            hi,
            skipped: BTreeSet::new(),
        }
    }

    /// Positions strictly between the ends not skipped yet.
    fn candidates(&self) -> impl Iterator<Item = usize> + '_ {
        ((self.lo + 1) as usize..self.hi).filter(|i| !self.skipped.contains(i))
    }

    /// The next position to probe: the candidate nearest the middle
    /// (the older one on a tie); `None` when the answer is known.
    fn next(&self) -> Option<usize> {
        let mid = (self.lo + self.hi as isize).div_euclid(2);
        self.candidates()
            .min_by_key(|&i| ((i as isize - mid).abs(), i))
    }

    fn record(&mut self, at: usize, verdict: Verdict) {
        match verdict {
            Verdict::Good => self.lo = at as isize,
            Verdict::Bad | Verdict::Timeout => self.hi = at,
            Verdict::Skip => {
                self.skipped.insert(at);
            }
        }
    }
}

/// Runs probes: owns this run's directory in the state dir and removes it
/// (and anything left in it) when dropped — on success, on an error and
/// on an interruption alike.
struct Runner<'a> {
    ws: &'a Workspace,
    req: &'a BisectRequest,
    cancel: &'a AtomicBool,
    dir: TempTree,
    count: usize,
}

impl<'a> Runner<'a> {
    fn new(
        ws: &'a Workspace,
        req: &'a BisectRequest,
        cancel: &'a AtomicBool,
    ) -> Result<Runner<'a>> {
        let parent = ws.state().ensure_file(StateFile::Bisect)?;
        mkdir_private(&parent)?;
        remove_stale_runs(&parent);
        let dir = parent.join(std::process::id().to_string());
        // A run of an earlier process that had our pid: gone, whatever it was.
        let _ = remove_tree(&dir);
        mkdir_private(&dir)?;
        Ok(Runner {
            ws,
            req,
            cancel,
            dir: TempTree(dir),
            count: 0,
        })
    }

    /// Export `oid`'s tree, run the command in it, remove it.
    fn probe(&mut self, oid: Oid) -> Result<Probe> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(BisectError::Interrupted.into());
        }
        self.count += 1;
        let tree_dir = TempTree(self.dir.0.join(format!("probe-{}", self.count)));
        let index = self.dir.0.join(format!("index-{}", self.count));
        mkdir_private(&tree_dir.0)?;
        let exported = self.export(oid, &tree_dir.0, &index);
        let _ = std::fs::remove_file(&index);
        exported?;
        let started = Instant::now();
        let (verdict, exit) = self.run(oid, &tree_dir.0)?;
        let seconds = started.elapsed().as_secs_f64();
        drop(tree_dir);
        Ok(Probe {
            id: chain::short_id(oid),
            verdict,
            exit,
            seconds,
            oid,
        })
    }

    /// The commit's tree into `into`, as `git checkout` would write it,
    /// through a throwaway index.
    fn export(&self, oid: Oid, into: &Path, index: &Path) -> Result<()> {
        let git = || GitCmd::new(self.ws.git_dir(), into).index_file(index);
        git().args(["read-tree", &oid.to_string()]).run()?;
        git().args(["checkout-index", "-a", "-f", "-q"]).run()?;
        Ok(())
    }

    /// Run the command in `dir` until it exits, times out or the bisect is
    /// cancelled.
    fn run(&self, oid: Oid, dir: &Path) -> Result<(Verdict, Option<i32>)> {
        let mut cmd = shell_command(&self.req.command);
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stderr_stdio())
            .stderr(Stdio::inherit())
            .env(SNAPSHOT_ENV, oid.to_string())
            // `git` in the probe finds no repository (the probe lives in
            // the git dir): not the user's, never the state dir's.
            .env("GIT_CEILING_DIRECTORIES", &self.dir.0);
        for var in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX"] {
            cmd.env_remove(var);
        }
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|source| BisectError::Start {
            command: crate::text::args_line(&self.req.command),
            source,
        })?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    end_group(&mut child);
                    return Err(Error::io("wait for the command", dir, e));
                }
            }
            if self.cancel.load(Ordering::SeqCst) {
                end_group(&mut child);
                return Err(BisectError::Interrupted.into());
            }
            if self.req.timeout.is_some_and(|t| started.elapsed() >= t) {
                end_group(&mut child);
                return Ok((Verdict::Timeout, None));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Whatever the command left running in its group goes with it.
        kill_group(&child, rustix::process::Signal::KILL);
        classify(status, &self.req.command)
    }

    /// Remove this run's directory now (also done on drop).
    fn finish(self) {}
}

/// `git bisect run`'s reading of an exit status.
fn classify(status: ExitStatus, command: &[OsString]) -> Result<(Verdict, Option<i32>)> {
    use std::os::unix::process::ExitStatusExt;
    let command = crate::text::args_line(command);
    match status.code() {
        Some(0) => Ok((Verdict::Good, Some(0))),
        Some(SKIP_CODE) => Ok((Verdict::Skip, Some(SKIP_CODE))),
        Some(code @ 1..=127) => Ok((Verdict::Bad, Some(code))),
        Some(code) => Err(BisectError::Aborted { command, code }.into()),
        None => Err(BisectError::Killed {
            command,
            signal: status.signal().unwrap_or(0),
        }
        .into()),
    }
}

/// One argument: a shell command line; several: a program and its
/// arguments (through `sh` too, so `./test.sh` is found in the probe's
/// directory and `PATH` is searched as a shell does).
fn shell_command(command: &[OsString]) -> Command {
    let mut cmd = Command::new("sh");
    match command {
        [line] => {
            cmd.arg("-c").arg(line);
        }
        _ => {
            cmd.arg("-c")
                .arg("exec \"$@\"")
                .arg("savepoint-bisect")
                .args(command);
        }
    }
    cmd
}

/// The caller's stderr for the command's stdout: stdout stays free for
/// `--json`.
fn stderr_stdio() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    }
}

fn kill_group(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(pid, signal);
}

/// TERM to the command's process group, KILL a second later if it is still
/// there, and reap it.
fn end_group(child: &mut Child) {
    kill_group(child, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_group(child, rustix::process::Signal::KILL);
    let _ = child.wait();
}

fn mkdir_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create", dir, e)),
    }
}

/// Runs of bisects killed before they could clean up (their pid is gone).
fn remove_stale_runs(parent: &Path) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
            .is_some_and(|pid| {
                !matches!(
                    rustix::process::test_kill_process(pid),
                    Err(rustix::io::Errno::SRCH)
                )
            });
        if !alive {
            let _ = remove_tree(&entry.path());
        }
    }
}

/// A directory removed with everything in it when dropped.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = remove_tree(&self.0);
    }
}

/// Remove `path` and everything below it, also directories the command
/// made read-only; symbolic links are removed, never followed.
pub(crate) fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
    }
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&entry.path());
        }
    }
}

/// The directory probes run in (for tests and messages):
/// `<git-dir>/savepoint/bisect`.
pub fn runs_dir(ws: &Workspace) -> PathBuf {
    ws.state().file(StateFile::Bisect)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive the search against a known first-bad position, skipping some.
    fn run(n: usize, first_bad: usize, skip: &[usize]) -> (Search, usize) {
        let mut s = Search::new(-1, n - 1);
        let mut probes = 0;
        while let Some(mid) = s.next() {
            probes += 1;
            let v = if skip.contains(&mid) {
                Verdict::Skip
            } else if mid >= first_bad {
                Verdict::Bad
            } else {
                Verdict::Good
            };
            s.record(mid, v);
        }
        (s, probes)
    }

    #[test]
    fn the_search_finds_the_first_bad_in_log_steps() {
        for n in [1, 2, 3, 7, 8, 100, 10_000] {
            for first_bad in [0, n / 3, n / 2, n - 1] {
                let (s, probes) = run(n, first_bad, &[]);
                assert_eq!(s.hi, first_bad, "n={n}");
                assert_eq!(s.lo, first_bad as isize - 1);
                assert!(probes <= steps(n - 1), "n={n}: {probes} probes");
            }
        }
    }

    #[test]
    fn skipped_snapshots_are_stepped_around_and_reported_when_they_decide() {
        // Skips away from the answer change nothing.
        let (s, _) = run(20, 12, &[5, 10]);
        assert_eq!((s.lo, s.hi), (11, 12));
        // A skip right before the first bad one leaves it undecided.
        let (s, _) = run(20, 12, &[11]);
        assert_eq!((s.lo, s.hi), (10, 12));
        assert!(s.skipped.contains(&11));
    }

    #[test]
    fn exit_codes_read_like_git_bisect_run() {
        use std::os::unix::process::ExitStatusExt;
        let cmd = [OsString::from("t")];
        let code = |c: i32| classify(ExitStatus::from_raw(c << 8), &cmd);
        assert_eq!(code(0).unwrap().0, Verdict::Good);
        assert_eq!(code(1).unwrap().0, Verdict::Bad);
        assert_eq!(code(127).unwrap().0, Verdict::Bad);
        assert_eq!(code(125).unwrap().0, Verdict::Skip);
        assert!(code(128).is_err());
        assert!(code(255).is_err());
        assert!(classify(ExitStatus::from_raw(9), &cmd).is_err());
    }
}
