//! The tracked pass: index entries the walk did not produce — tracked
//! files that are ignored, deletions, sparse (skip-worktree) and
//! assume-unchanged entries, uninitialised submodules — resolved as
//! `git add -A` would.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Deferred, Worker};
use crate::git::mode::MODE_GITLINK;
use crate::snapshot::engine::fsys;
use crate::snapshot::engine::index::Entries;
use crate::snapshot::engine::stat::Stat;
use crate::snapshot::engine::tree::{Entry, Leaves};

impl Worker<'_> {
    /// Tracked paths the walk did not produce: ignored-but-tracked files,
    /// deletions, sparse (skip-worktree) entries and uninitialised
    /// submodules. `found` must be sorted by path; `pending` are the walk's
    /// files still waiting for git (found too).
    pub(crate) fn tracked_pass(
        &mut self,
        found: &[Entry],
        tracked: Entries<'_>,
        pending: &[Deferred],
    ) {
        self.tracked_pass_over(found, tracked, pending);
    }

    /// [`Worker::tracked_pass`] over any sorted list of leaves (a full
    /// scan's [`super::ScanLeaves`]).
    pub(crate) fn tracked_pass_over<L: Leaves + ?Sized>(
        &mut self,
        found: &L,
        tracked: Entries<'_>,
        pending: &[Deferred],
    ) {
        let mut pending: Vec<&[u8]> = pending.iter().map(|d| d.rel.as_slice()).collect();
        pending.sort_unstable();
        let ctx = self.ctx;
        let mut repo_dirs = self.out.repo_dirs.clone();
        repo_dirs.sort();
        let mut dir_ok: std::collections::HashMap<Vec<u8>, Option<bool>> = Default::default();
        let mut fi = 0;
        for t in tracked {
            while fi < found.len() && found.path(fi) < t.path {
                fi += 1;
            }
            if fi < found.len() && found.path(fi) == t.path {
                continue;
            }
            if pending.binary_search(&t.path).is_ok() {
                continue;
            }
            let abs = ctx.workdir.join(std::ffi::OsStr::from_bytes(t.path));
            let keep = Entry {
                path: t.path.to_vec(),
                mode: t.mode,
                oid: t.oid,
            };
            if (t.skip_worktree || t.assume_unchanged)
                && ctx.tracked.keeps_indexed(&t, || {
                    ancestors_are_dirs(ctx.workdir, t.path, &repo_dirs, &mut dir_ok) != Some(false)
                        && std::fs::symlink_metadata(&abs).is_ok()
                })
            {
                // Unless the work tree put something new in its way: `git
                // add` then replaces the entry (file ↔ directory).
                if !collides(found, t.path) {
                    self.out.entries.push(keep);
                }
                continue;
            }
            let meta = match ancestors_are_dirs(ctx.workdir, t.path, &repo_dirs, &mut dir_ok) {
                Some(false) => continue,
                Some(true) => std::fs::symlink_metadata(&abs),
                None => Err(std::io::ErrorKind::PermissionDenied.into()),
            };
            let meta = match meta {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    // In a directory we may not search (its listing was
                    // reported as skipped): git keeps the entry as indexed.
                    self.out.entries.push(keep);
                    continue;
                }
                Err(_) => continue, // deleted
            };
            if t.mode == MODE_GITLINK {
                if meta.is_dir() {
                    if fsys::is_nested_repo(&abs) {
                        self.nested_repo(t.path.to_vec(), &abs);
                    } else {
                        // Not initialised: git keeps the recorded commit.
                        self.out.entries.push(Entry {
                            path: t.path.to_vec(),
                            mode: MODE_GITLINK,
                            oid: t.oid,
                        });
                    }
                }
                continue;
            }
            let stat = Stat::from_metadata(&meta);
            if stat.is_file() || stat.is_symlink() {
                self.file(t.path.to_vec(), stat);
            }
        }
    }
}

/// Does the sorted walk result hold a path below `path`, or `path`'s parent
/// directory as a file?
fn collides<L: Leaves + ?Sized>(found: &L, path: &[u8]) -> bool {
    let mut below = path.to_vec();
    below.push(b'/');
    let at = found.lower_bound(&below);
    if at < found.len() && found.path(at).starts_with(&below) {
        return true;
    }
    path.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .any(|(i, _)| found.contains(&path[..i]))
}

/// Every ancestor directory of `path` is a real directory (not a symlink,
/// not a nested repository): otherwise git would not look inside. `None`:
/// an ancestor cannot be searched (permission denied), so nobody can tell.
fn ancestors_are_dirs(
    workdir: &Path,
    path: &[u8],
    repo_dirs: &[Vec<u8>],
    memo: &mut std::collections::HashMap<Vec<u8>, Option<bool>>,
) -> Option<bool> {
    let mut end = 0;
    while let Some(pos) = path[end..].iter().position(|&b| b == b'/') {
        let dir = &path[..end + pos];
        let ok = match memo.get(dir) {
            Some(&ok) => ok,
            None => {
                let ok = if repo_dirs
                    .binary_search_by(|d| d.as_slice().cmp(dir))
                    .is_ok()
                {
                    Some(false)
                } else {
                    match std::fs::symlink_metadata(workdir.join(std::ffi::OsStr::from_bytes(dir)))
                    {
                        Ok(m) => Some(m.is_dir()),
                        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
                        Err(_) => Some(false),
                    }
                };
                memo.insert(dir.to_vec(), ok);
                ok
            }
        };
        if ok != Some(true) {
            return ok;
        }
        end += pos + 1;
    }
    Some(true)
}
