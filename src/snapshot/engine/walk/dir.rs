//! Listing one directory of the walk: opened relative to its parent's
//! descriptor (never through a symbolic link), its `.gitignore` and
//! `.gitattributes` layered onto its parent's, nested repositories turned
//! into gitlinks, ignored and special entries dropped, subdirectories
//! handed back to the queue and files to [`Worker::file_with`].

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use super::{Job, Listed, Worker};
use crate::snapshot::engine::attr::AttrDir;
use crate::snapshot::engine::dircache::{CachedDir, DirStat};
use crate::snapshot::engine::fsys::{self, Kind};
use crate::snapshot::engine::ignore::DirRules;
use crate::snapshot::engine::{SkipReason, Skipped};

/// Test hook: the directory whose listing panics (see
/// `parallel::tests`).
#[cfg(test)]
pub(super) static PANIC_AT_ALL: std::sync::Mutex<Option<Vec<u8>>> = std::sync::Mutex::new(None);

impl Worker<'_> {
    /// List one directory; returns its subdirectories to walk.
    pub(super) fn dir(&mut self, job: Job) -> Vec<Job> {
        #[cfg(test)]
        maybe_panic(&job.rel);
        let ctx = self.ctx;
        let opened = match (&job.parent_fd, job.rel.rsplit(|&b| b == b'/').next()) {
            (Some(parent), Some(name)) if !job.rel.is_empty() => std::ffi::CString::new(name)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
                .and_then(|name| fsys::open_dir_at(parent, &name)),
            _ if job.rel.is_empty() => fsys::open_dir(&job.abs),
            _ => fsys::open_dir_beneath(ctx.workdir, &job.rel),
        };
        // Told before the listing: whatever changes in the directory from
        // here on is the observer's to notice, the rest is in the listing.
        let mut observed = false;
        let listed = opened.and_then(|fd| {
            if let Some(o) = ctx.observer {
                o.before_listing(&job.abs);
                observed = true;
            }
            self.listing(&job.rel, &fd).map(|names| (fd, names))
        });
        if listed.is_err() && observed {
            if let Some(o) = ctx.observer {
                o.after_listing(&job.abs, Listed::Failed);
            }
        }
        let (fd, (names, dir_stat)) = match listed {
            Ok(x) => x,
            // Vanished, or replaced by a file/symlink since it was listed.
            Err(e) if fsys::is_gone(&e) => return Vec::new(),
            Err(e) => {
                self.out.skipped.push(Skipped {
                    path: job.rel,
                    reason: SkipReason::Unreadable {
                        error: e.to_string(),
                    },
                });
                return Vec::new();
            }
        };
        self.out.stats.dirs += 1;
        let has_git = names.iter().any(|(n, _)| n.to_bytes() == b".git");
        if has_git && !job.rel.is_empty() && fsys::is_nested_repo(&job.abs) {
            if let Some(o) = ctx.observer {
                o.after_listing(&job.abs, Listed::NestedRepo);
            }
            self.nested_repo(job.rel, &job.abs);
            return Vec::new();
        }
        let has_gitignore = names.iter().any(|(n, _)| n.to_bytes() == b".gitignore");
        let rules = DirRules::child(&job.parent_rules, &job.abs, has_gitignore);
        if let Some(o) = ctx.observer {
            o.after_listing(&job.abs, Listed::Dir(&rules));
        }
        // Read from the work tree whether tracked, untracked or ignored (a
        // symlinked one is not followed, like git). The root's is already in
        // the repository-wide rules.
        let has_gitattributes = names.iter().any(|(n, k)| {
            n.to_bytes() == b".gitattributes" && matches!(k, Kind::File | Kind::Unknown)
        });
        // Index entries below this directory: lookups search this slice only.
        let tracked_here = ctx.tracked.below(&job.rel);
        let attrs = if has_gitattributes || job.rel.is_empty() {
            AttrDir::child(&job.parent_attrs, &job.rel, &job.abs, has_gitattributes)
        } else {
            let mut rel = job.rel.clone();
            rel.extend_from_slice(b"/.gitattributes");
            let tracked = tracked_here.find(&rel);
            self.sparse_attrs(&job.parent_attrs, &job.rel, tracked)
        };
        let fd = Arc::new(fd);
        let mut subdirs = Vec::new();
        for (name, kind) in names.iter() {
            let name_bytes = name.to_bytes();
            if name_bytes == b".git" {
                continue;
            }
            let mut rel = Vec::with_capacity(job.rel.len() + 1 + name_bytes.len());
            if !job.rel.is_empty() {
                rel.extend_from_slice(&job.rel);
                rel.push(b'/');
            }
            rel.extend_from_slice(name_bytes);
            // Built only where needed (ignore rules, subdirectories, logs):
            // most files are tracked and need neither.
            let abs = || job.abs.join(std::ffi::OsStr::from_bytes(name_bytes));
            if kind == Kind::Special {
                tracing::debug!(path = %abs().display(), "skipping special file");
                continue;
            }
            // Directories need no stat; anything else does (and a stat may
            // reveal a directory whose type getdents did not give).
            let stat = if kind == Kind::Dir {
                None
            } else {
                match fsys::stat_at(&fd, name) {
                    Ok(stat) => Some(stat),
                    Err(_) => continue, // vanished
                }
            };
            let Some(stat) = stat.filter(|s| !s.is_dir()) else {
                let abs = abs();
                if ctx.git_dirs_inside.contains(&rel) {
                    continue;
                }
                if !rules.is_ignored(ctx.excludes, &abs, true) {
                    subdirs.push(Job {
                        rel,
                        abs,
                        parent_rules: Arc::clone(&rules),
                        parent_attrs: Arc::clone(&attrs),
                        parent_fd: Some(Arc::clone(&fd)),
                    });
                } else if let Some(o) = ctx.observer {
                    // Not walked; its tracked files are looked at by the
                    // tracked pass, after the walk.
                    if !ctx.tracked.below(&rel).is_empty() {
                        o.ignored_with_tracked(&abs, &rules, ctx.excludes, ctx.tracked);
                    }
                }
                continue;
            };
            if !(stat.is_file() || stat.is_symlink()) {
                // FIFOs, sockets, devices: git add -A skips them too.
                tracing::debug!(path = %abs().display(), "skipping special file");
                continue;
            }
            let tracked = tracked_here.find_at(&rel);
            // A tracked file is recorded whatever the ignore rules say (as
            // the tracked pass would), so only untracked ones are matched.
            if tracked.is_none() {
                if rules.is_ignored(ctx.excludes, &abs(), false) {
                    continue;
                }
                if ctx.tracked.is_case_alias(&rel) {
                    continue; // core.ignorecase: git takes it for the tracked file
                }
            }
            self.file_with(rel, stat, tracked, Some(&attrs), Some((&fd, name)));
        }
        if let Some(stat) = dir_stat {
            self.out.dirs.push((job.rel, CachedDir { stat, names }));
        }
        subdirs
    }
}

impl Worker<'_> {
    /// The entries of the open directory `rel`: from the directory cache
    /// when the directory's stat is the one recorded there (and was not
    /// racy), else read with `getdents`. With a cache, the directory's
    /// stat comes back too: the listing is kept for the next scan.
    fn listing(&mut self, rel: &[u8], fd: &std::os::fd::OwnedFd) -> std::io::Result<Listing> {
        let Some(cache) = self.ctx.dircache else {
            self.out.dirs_listed += 1;
            return Ok((Arc::new(fsys::list_packed(fd)?), None));
        };
        // The stat is taken before the listing: a change after it shows
        // as a newer stat next time.
        let stat = DirStat::of(&fsys::stat_fd(fd)?);
        let names = match cache.lookup(rel, &stat) {
            Some(hit) => Arc::clone(&hit.names),
            None => {
                self.out.dirs_listed += 1;
                Arc::new(fsys::list_packed(fd)?)
            }
        };
        Ok((names, Some(stat)))
    }
}

/// A directory's entries, and its stat when a directory cache is kept.
type Listing = (Arc<fsys::Names>, Option<DirStat>);

#[cfg(test)]
fn maybe_panic(rel: &[u8]) {
    let hit = PANIC_AT_ALL
        .lock()
        .map(|p| p.as_deref() == Some(rel))
        .unwrap_or(false);
    if hit {
        panic!("injected walker panic");
    }
}
