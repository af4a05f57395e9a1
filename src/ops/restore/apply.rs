//! Carrying out a plan in the work tree: deletions, then atomic writes
//! (a temporary file renamed into place), every one relative to directory
//! descriptors walked from the work tree's root through [`crate::fs::at`],
//! never through a symbolic link — even one swapped in while the restore
//! runs.
//!
//! Writes go by directory: each directory is walked to once and its files
//! are written through that one descriptor, by a small pool of threads
//! (each with its own repository handle) when there are many. Which files
//! git would convert on checkout is asked once for the whole plan
//! ([`super::smudge`]); the rest are written straight from the object
//! store. Results do not depend on the threads: every path's outcome is
//! its own, and failures are reported in a fixed order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::content::{Content, Written};
use super::plan::{Action, Plan, Step};
use super::safety::refuse_git_dirs;
use super::smudge::Smudge;
use crate::error::{Error, Result};
use crate::fs::at::{self, Dir, Kind};
use crate::git::mode::{MODE_EXEC, MODE_FILE, MODE_LINK};
use crate::git::treediff::Leaf;
use crate::snapshot::engine::cache::{CacheEntry, ANY_EOL};
use crate::snapshot::engine::stat::Stat;
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// At most this many writer threads (the work is small files: a few
/// threads keep the disk and the inflating busy).
const MAX_WRITERS: usize = 8;
/// Below this many files one thread writes them all.
const PARALLEL_FROM: usize = 64;

/// What [`apply`] did.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// The paths that failed, with reasons (deletions, then writes in the
    /// order they were planned, whatever the threads did first).
    pub failed: Vec<String>,
    /// Regular files written as the blob's bytes, unconverted, with the
    /// stat they had once in place: what the state after the restore holds
    /// there is known without reading them back.
    pub raw: Vec<(Vec<u8>, CacheEntry)>,
}

/// Failures (by place among the writes) and raw writes, as they happen.
#[derive(Default)]
struct Report {
    errors: Vec<(usize, String)>,
    raw: Vec<(Vec<u8>, CacheEntry)>,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.errors.extend(other.errors);
        self.raw.extend(other.raw);
    }
}

/// Carry out a plan: deletions (deepest first, then empty directories
/// they leave), then writes — `.gitattributes` files first, so that every
/// other file is converted by the attributes it is restored under. Every
/// write and delete goes through [`at`]: relative to directory descriptors
/// walked from the work tree's root, never through a symbolic link, even
/// one swapped in meanwhile. `filters`: git may convert some files on
/// checkout (else all are written raw).
pub(super) fn apply(ws: &Workspace, plan: &Plan, filters: bool) -> Result<Applied> {
    refuse_git_dirs(ws, plan)?;
    let root = Dir::open(ws.workdir()).map_err(|e| Error::io("open", ws.workdir(), e))?;
    let mut failed = Vec::new();
    let mut deletes: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete || is_type_change(s))
        .collect();
    deletes.sort_by(|a, b| b.change.path.cmp(&a.change.path));
    for step in deletes {
        if let Err(e) = delete(&root, &step.change.path) {
            failed.push(format!("{}: {e}", step.change.path_lossy()));
        }
    }
    let tmp = TempDir::new(ws);
    let writes: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::Delete && s.change.new.is_some())
        .collect();
    let is_attributes =
        |s: &&Step| s.change.path.rsplit(|&b| b == b'/').next() == Some(&b".gitattributes"[..]);
    let (attributes, files): (Vec<&Step>, Vec<&Step>) = writes.into_iter().partition(is_attributes);
    let mut report = Report::default();
    // Attribute files: as before, through git whenever filters may apply.
    let content = Content::new(ws.repo(), ws.workdir(), ws.git_dir());
    let attr_jobs: Vec<Job<'_>> = attributes
        .iter()
        .enumerate()
        .map(|(i, s)| Job {
            index: i,
            step: s,
            smudge: if filters { Smudge::Git } else { Smudge::None },
        })
        .collect();
    write_group(&root, &tmp, &content, &attr_jobs, &mut report);
    // Every other file, converted as the attributes now in place say.
    let smudges = if filters {
        let paths: Vec<&[u8]> = files.iter().map(|s| s.change.path.as_slice()).collect();
        super::smudge::smudges(ws, &paths)
    } else {
        vec![Smudge::None; files.len()]
    };
    let base = attr_jobs.len();
    let mut groups: BTreeMap<&[u8], Vec<Job<'_>>> = BTreeMap::new();
    for (i, (step, smudge)) in files.iter().zip(smudges).enumerate() {
        groups
            .entry(split(&step.change.path).0)
            .or_default()
            .push(Job {
                index: base + i,
                step,
                smudge,
            });
    }
    let groups: Vec<Vec<Job<'_>>> = groups.into_values().collect();
    let writers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WRITERS)
        .min(groups.len());
    if files.len() < PARALLEL_FROM || writers <= 1 {
        for group in &groups {
            write_group(&root, &tmp, &content, group, &mut report);
        }
    } else {
        report.merge(write_parallel(ws, &root, &tmp, &groups, writers));
    }
    report.errors.sort_by_key(|(i, _)| *i);
    failed.extend(report.errors.into_iter().map(|(_, e)| e));
    Ok(Applied {
        failed,
        raw: report.raw,
    })
}

/// One file to write: its place among the writes (for the order of
/// failures), its step, and what git does to its content.
struct Job<'p> {
    index: usize,
    step: &'p Step,
    smudge: Smudge,
}

/// Write `groups` (each the files of one directory) with `writers`
/// threads, each taking the next group as it finishes one and reading
/// through its own repository handle.
fn write_parallel(
    ws: &Workspace,
    root: &Dir,
    tmp: &TempDir,
    groups: &[Vec<Job<'_>>],
    writers: usize,
) -> Report {
    let next = AtomicUsize::new(0);
    let (workdir, git_dir) = (ws.workdir(), ws.git_dir());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|n| {
                let next = &next;
                scope.spawn(move || {
                    let tmp = &tmp.shard(n);
                    let mut report = Report::default();
                    let repo = crate::workspace::reopen(git_dir, workdir);
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(group) = groups.get(n) else { break };
                        match &repo {
                            Ok(repo) => {
                                let content = Content::new(repo, workdir, git_dir);
                                write_group(root, tmp, &content, group, &mut report);
                            }
                            Err(e) => report.errors.extend(group.iter().map(|j| {
                                (
                                    j.index,
                                    format!(
                                        "{}: cannot open the repository: {}",
                                        j.step.change.path_lossy(),
                                        e.message()
                                    ),
                                )
                            })),
                        }
                    }
                    report
                })
            })
            .collect();
        let mut all = Report::default();
        for h in handles {
            all.merge(h.join().unwrap_or_default());
        }
        all
    })
}

/// Write the files of one directory (all `jobs` share a parent), walking
/// to it once. Failures go to `errors`.
fn write_group(
    root: &Dir,
    tmp: &TempDir,
    content: &Content<'_>,
    jobs: &[Job<'_>],
    report: &mut Report,
) {
    let Some(first) = jobs.first() else { return };
    let fail = |report: &mut Report, j: &Job<'_>, e: &dyn std::fmt::Display| {
        report
            .errors
            .push((j.index, format!("{}: {e}", j.step.change.path_lossy())));
    };
    let (comps, _) = components(&first.step.change.path);
    let needs_dir = jobs.iter().any(|j| !is_exec_only(j.step));
    let parent = match root.walk(&comps, needs_dir) {
        Ok(p) => p,
        Err(e) => {
            for j in jobs {
                fail(report, j, &e);
            }
            return;
        }
    };
    let tdir = tmp.place(&parent);
    for j in jobs {
        let (_, name) = split(&j.step.change.path);
        let new = j.step.change.new.expect("writes have a new leaf");
        let result = if is_exec_only(j.step) {
            at::set_exec(&parent, name, new.mode == MODE_EXEC).map(|()| None)
        } else {
            write(&parent, tdir, content, j, name, new)
        };
        match result {
            Ok(Some((stat, written))) => {
                let entry = CacheEntry {
                    stat,
                    mode: new.mode,
                    // The blob's own bytes: the id holds for files git
                    // stores unconverted, and without a carriage return
                    // for every line-ending conversion too.
                    rules: if written.has_cr { 0 } else { ANY_EOL },
                    oid: new.oid,
                };
                report.raw.push((j.step.change.path.clone(), entry));
            }
            Ok(None) => {}
            Err(e) => fail(report, j, &e),
        }
    }
}

/// Only the exec bit changed: no need to rewrite the content.
fn is_exec_only(s: &Step) -> bool {
    match (s.change.old, s.change.new) {
        (Some(old), Some(new)) => {
            old.oid == new.oid && is_file_mode(old.mode) && is_file_mode(new.mode)
        }
        _ => false,
    }
}

fn is_file_mode(mode: u32) -> bool {
    mode == MODE_EXEC || mode == MODE_FILE
}

/// A file that becomes a symlink or back: removed first, then written.
fn is_type_change(s: &Step) -> bool {
    match (s.change.old, s.change.new) {
        (Some(o), Some(n)) => (o.mode == MODE_LINK) != (n.mode == MODE_LINK),
        _ => false,
    }
}

/// `rel` split into its parent directory (`""` at the root) and its name.
fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(n) => (&rel[..n], &rel[n + 1..]),
        None => (&[], rel),
    }
}

/// `rel`'s directories, and its name.
fn components(rel: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let (parent, name) = split(rel);
    if parent.is_empty() {
        return (Vec::new(), name);
    }
    (parent.split(|&b| b == b'/').collect(), name)
}

fn delete(root: &Dir, rel: &[u8]) -> std::io::Result<()> {
    let (parents, name) = components(rel);
    let parent = match root.walk(&parents, false) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match parent.kind(name)? {
        // A file in the snapshot of the current state, a directory now: it
        // changed meanwhile; leave it alone.
        Some(Kind::Dir) => return Err(std::io::Error::other("is a directory now; left as it is")),
        Some(_) => match parent.remove_file(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        },
        None => {}
    }
    // Remove the directories this left empty, like git does (each from its
    // own parent, walked again: one descriptor at a time).
    for i in (0..parents.len()).rev() {
        let removed = root
            .walk(&parents[..i], false)
            .and_then(|holder| holder.remove_dir(parents[i]));
        if removed.is_err() {
            break;
        }
    }
    Ok(())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name; short, so that it fits beside any file name.
fn tmp_name() -> Vec<u8> {
    format!(
        ".savepoint-tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
    .into_bytes()
}

/// Where new files are written before being renamed into place: the state
/// dir (`<git-dir>/savepoint/tmp`), held open, when it is on the work
/// tree's file system — so a crash leaves no stray temporary file in the
/// work tree — else the destination's own directory. Names are
/// `.savepoint-tmp-<pid>-<n>`; each writer thread has a directory of its
/// own below (`tmp/w<n>`): linking thousands of files into one directory
/// from several threads queues them all on its lock. Either way the
/// rename is between two descriptors.
struct TempDir {
    dir: Option<(Dir, u64)>,
}

impl TempDir {
    fn new(ws: &Workspace) -> Self {
        let path = ws.state().file(StateFile::RestoreTmp);
        let dir = std::fs::create_dir_all(&path)
            .and_then(|()| Dir::open(&path))
            .and_then(|d| d.device().map(|dev| (d, dev)))
            .ok();
        if dir.is_some() {
            sweep(&path, true);
        }
        TempDir { dir }
    }

    /// Writer thread `n`'s own directory (this one where it cannot be made).
    fn shard(&self, n: usize) -> TempDir {
        let dir = self.dir.as_ref().and_then(|(d, dev)| {
            let shard = d
                .open_or_create_dir(format!("w{n}").as_bytes())
                .or_else(|_| d.walk(&[], false))
                .ok()?;
            Some((shard, *dev))
        });
        TempDir { dir }
    }

    /// The directory for temporary files that will be renamed into `parent`.
    fn place<'a>(&'a self, parent: &'a Dir) -> &'a Dir {
        match &self.dir {
            Some((d, dev)) if parent.device().is_ok_and(|p| p == *dev) => d,
            _ => parent,
        }
    }
}

/// Remove the leftovers of restores killed an hour or more ago from
/// `path` (and, at the top, from the writer threads' directories in it).
fn sweep(path: &std::path::Path, top: bool) {
    let hour = std::time::Duration::from_secs(3600);
    for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
        if top && e.file_type().is_ok_and(|t| t.is_dir()) {
            sweep(&e.path(), false);
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether unnamed files work here (see [`unnamed`]); cleared at the first
/// refusal.
static UNNAMED: AtomicBool = AtomicBool::new(cfg!(target_os = "linux"));

/// A new file without a name in `parent`'s directory (Linux `O_TMPFILE`),
/// or `None` where there are none. Its inode is allocated with its
/// destination's: created by the thousand in the one temporary directory,
/// ext4 searched that directory's block group past every inode the last
/// restore freed (a third of a 2,500-file restore's time).
fn unnamed(parent: &Dir, mode: u32) -> std::io::Result<Option<std::fs::File>> {
    if !UNNAMED.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let f = parent.create_unnamed(mode)?;
    if f.is_none() {
        UNNAMED.store(false, Ordering::Relaxed);
    }
    Ok(f)
}

/// Write a file or symlink atomically into `parent`: its content into an
/// unnamed file in `parent` (where the system has them) or a temporary
/// file in `tdir`, named in `tdir`, then renamed over the destination
/// `name`, between the two directories' descriptors. An unnamed file whose
/// destination is free is named there directly (a `recover` after
/// `rm -rf` creates every file): one link, no rename between directories
/// (those serialise on a file-system-wide lock). Returns the stat of a
/// regular file written unconverted, once in place, and what was written.
fn write(
    parent: &Dir,
    tdir: &Dir,
    content: &Content<'_>,
    job: &Job<'_>,
    name: &[u8],
    leaf: Leaf,
) -> std::io::Result<Option<(Stat, Written)>> {
    let existing = parent.kind(name)?;
    if existing == Some(Kind::Dir) {
        // Only a directory holding files savepoint does not manage (ignored
        // ones) is still here after the deletions.
        return Err(std::io::Error::other(
            "a directory with ignored files is in the way",
        ));
    }
    let tname = tmp_name();
    let result = (|| {
        let file = if leaf.mode == MODE_LINK {
            tdir.symlink(&content.link_target(leaf)?, &tname)?;
            None
        } else {
            let mode = if leaf.mode == MODE_EXEC { 0o777 } else { 0o666 };
            let path = &job.step.change.path;
            match unnamed(parent, mode)? {
                Some(mut f) => {
                    let written = content.write_to(path, leaf, job.smudge, &mut f)?;
                    if existing.is_none() {
                        match parent.link_unnamed(&f, name) {
                            Ok(()) => return Ok(Some((f, written))),
                            // Something took the name meanwhile: replace
                            // it, as for any existing file.
                            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                            Err(e) => return Err(e),
                        }
                    }
                    tdir.link_unnamed(&f, &tname)?;
                    Some((f, written))
                }
                None => {
                    let mut f = tdir.create_file(&tname, mode)?;
                    let written = content.write_to(path, leaf, job.smudge, &mut f)?;
                    Some((f, written))
                }
            }
        };
        tdir.replace(&tname, parent, name)?;
        Ok(file)
    })();
    match result {
        // Its stat in place (naming it changed its ctime).
        Ok(file) => Ok(file
            .filter(|_| job.smudge == Smudge::None)
            .and_then(|(f, written)| Some((Stat::from_metadata(&f.metadata().ok()?), written)))),
        Err(e) => {
            let _ = tdir.remove_file(&tname);
            Err(e)
        }
    }
}
