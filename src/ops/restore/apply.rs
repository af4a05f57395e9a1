//! Carrying out a plan in the work tree: deletions, then atomic writes
//! (a temporary file renamed into place), every one relative to directory
//! descriptors walked from the work tree's root through [`crate::fs::at`],
//! never through a symbolic link — even one swapped in while the restore
//! runs.

use std::sync::atomic::{AtomicU64, Ordering};

use super::content::Content;
use super::plan::{Action, Plan, Step};
use super::safety::refuse_git_dirs;
use crate::error::{Error, Result};
use crate::fs::at::{self, Dir, Kind};
use crate::git::mode::{MODE_EXEC, MODE_FILE, MODE_LINK};
use crate::git::treediff::Leaf;
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// Carry out a plan: deletions (deepest first, then empty directories
/// they leave), then writes. Returns the paths that failed, with reasons;
/// the rest is restored. Every write and delete goes through [`at`]:
/// relative to directory descriptors walked from the work tree's root,
/// never through a symbolic link, even one swapped in meanwhile.
pub(super) fn apply(ws: &Workspace, plan: &Plan, filters: bool) -> Result<Vec<String>> {
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
    let content = Content::new(ws, filters);
    let tmp = TempDir::new(ws);
    for step in plan.steps.iter().filter(|s| s.action != Action::Delete) {
        let Some(new) = step.change.new else { continue };
        let result = match step.change.old {
            // Only the exec bit changed: no need to rewrite the content.
            Some(old) if old.oid == new.oid && is_file_mode(old.mode) && is_file_mode(new.mode) => {
                set_exec(&root, &step.change.path, new.mode == MODE_EXEC)
            }
            _ => write(&root, &tmp, &content, &step.change.path, new),
        };
        if let Err(e) = result {
            failed.push(format!("{}: {e}", step.change.path_lossy()));
        }
    }
    Ok(failed)
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

/// `rel` split into its directories and its file name.
fn split(rel: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
    let name = comps.pop().expect("split yields at least one item");
    (comps, name)
}

fn delete(root: &Dir, rel: &[u8]) -> std::io::Result<()> {
    let (parents, name) = split(rel);
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
/// `.savepoint-tmp-<pid>-<n>`.
/// Either way the rename is `renameat` between two descriptors.
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
            // Leftovers of a restore killed an hour or more ago.
            let hour = std::time::Duration::from_secs(3600);
            for e in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour));
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        TempDir { dir }
    }

    /// The directory for a temporary file that will be renamed into `parent`.
    fn place<'a>(&'a self, parent: &'a Dir) -> &'a Dir {
        match &self.dir {
            Some((d, dev)) if parent.device().is_ok_and(|p| p == *dev) => d,
            _ => parent,
        }
    }
}

/// Write a file or symlink atomically: a temporary file, then a rename over
/// the destination, relative to its parent directory's descriptor.
fn write(
    root: &Dir,
    tmp_dir: &TempDir,
    content: &Content<'_>,
    rel: &[u8],
    leaf: Leaf,
) -> std::io::Result<()> {
    let (parents, name) = split(rel);
    let parent = &root.walk(&parents, true)?;
    if parent.kind(name)? == Some(Kind::Dir) {
        // Only a directory holding files savepoint does not manage (ignored
        // ones) is still here after the deletions.
        return Err(std::io::Error::other(
            "a directory with ignored files is in the way",
        ));
    }
    let (tdir, tname) = (tmp_dir.place(parent), tmp_name());
    let result = (|| {
        if leaf.mode == MODE_LINK {
            tdir.symlink(&content.link_target(leaf)?, &tname)?;
        } else {
            let mut f =
                tdir.create_file(&tname, if leaf.mode == MODE_EXEC { 0o777 } else { 0o666 })?;
            content.write_to(rel, leaf, &mut f)?;
        }
        tdir.rename(&tname, parent, name)
    })();
    if result.is_err() {
        let _ = tdir.remove_file(&tname);
    }
    result
}

fn set_exec(root: &Dir, rel: &[u8], exec: bool) -> std::io::Result<()> {
    let (parents, name) = split(rel);
    at::set_exec(&root.walk(&parents, false)?, name, exec)
}
