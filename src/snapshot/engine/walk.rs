//! The parallel work-tree walk. Directories are a shared LIFO work queue
//! served by one thread per core; each thread lists a directory, applies the
//! ignore rules, stats files and resolves their blob ids (index → stat cache
//! → hash). Nested repositories become gitlinks; `.git` is never entered;
//! symlinks are recorded, never followed (so loops cannot happen). Each
//! directory's `.gitattributes` is layered like its `.gitignore`; files git
//! would run through a clean filter (or encoding, `ident`) are collected as
//! [`Deferred`] and hashed by git in one batch after the walk
//! ([`Worker::resolve_deferred`]).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use super::attr::{AttrDir, AttrRules, Conversion, Eol};
use super::blob::{self, BlobWriter, HashError};
use super::cache::{CacheEntry, StatCache};
use super::fsys::{self, Kind};
use super::ignore::{DirRules, Excludes};
use super::index::{Tracked, TrackedEntry};
use super::stat::Stat;
use super::tree::Entry;
use super::{ScanStats, SkipReason, Skipped};
use crate::git::mode::{self, MODE_GITLINK, MODE_LINK};

/// Read-only inputs shared by all walker threads.
pub struct Ctx<'a> {
    pub workdir: &'a Path,
    pub git_dir: &'a Path,
    /// Git dirs inside the work tree under another name: never entered.
    pub git_dirs_inside: &'a [Vec<u8>],
    /// savepoint's private state dir (for a throwaway index).
    pub state_dir: &'a Path,
    pub tracked: &'a Tracked,
    pub cache: &'a StatCache,
    pub excludes: &'a Excludes,
    pub filemode: bool,
    /// `core.symlinks`: when false, a tracked symlink checked out as a
    /// plain file keeps its symlink mode (git's `ce_mode_from_stat`).
    pub symlinks: bool,
    pub attrs: &'a AttrRules,
    pub max_file_size: u64,
    pub progress: Option<&'a super::ScanProgress>,
}

/// A directory to list: its relative path, absolute path and the ignore
/// and attribute rules of its parent (its own `.gitignore` and
/// `.gitattributes` are added when it is listed).
pub struct Job {
    pub rel: Vec<u8>,
    pub abs: PathBuf,
    pub parent_rules: Arc<DirRules>,
    pub parent_attrs: Arc<AttrDir>,
    /// The parent directory, held open: the job's directory is opened
    /// relative to it without following a symlink, so a directory swapped
    /// for a symlink mid-walk can never lead outside the work tree. `None`
    /// for a start directory (opened by walking down from the root).
    pub parent_fd: Option<Arc<std::os::fd::OwnedFd>>,
}

/// A file only git can convert (clean filter, `process` driver,
/// `working-tree-encoding`, `ident`), waiting for the batch.
#[derive(Debug)]
pub struct Deferred {
    pub rel: Vec<u8>,
    pub stat: Stat,
    pub mode: u32,
    pub rules: u64,
    /// The index entry's mode and id, kept if git cannot convert the file.
    pub tracked: Option<(u32, git2::Oid)>,
    /// `text=auto` and the indexed blob has CRLFs: `git add` keeps them,
    /// `git hash-object` (which reads no index) would not.
    pub keep_crlf: bool,
}

/// What one walk (or one thread of it) produced.
#[derive(Default)]
pub struct Out {
    pub entries: Vec<Entry>,
    /// Ids we know from hashing or the stat cache (not from the index).
    pub cache: Vec<(Vec<u8>, CacheEntry)>,
    pub skipped: Vec<Skipped>,
    /// Directories that are nested repositories (recorded as gitlinks).
    pub repo_dirs: Vec<Vec<u8>>,
    /// Objects that may have been newly written (to flush to disk).
    pub written: Vec<git2::Oid>,
    /// Object-store failures: the snapshot cannot be complete.
    pub store_errors: Vec<String>,
    /// Files to hash through git (see [`Worker::resolve_deferred`]).
    pub deferred: Vec<Deferred>,
    pub stats: ScanStats,
}

impl Out {
    fn merge(&mut self, o: Out) {
        self.entries.extend(o.entries);
        self.cache.extend(o.cache);
        self.skipped.extend(o.skipped);
        self.repo_dirs.extend(o.repo_dirs);
        self.written.extend(o.written);
        self.store_errors.extend(o.store_errors);
        self.deferred.extend(o.deferred);
        self.stats.add(&o.stats);
    }
}

/// Per-thread resolver state.
pub struct Worker<'a> {
    pub ctx: &'a Ctx<'a>,
    writer: Option<BlobWriter>,
    /// Attribute chains of directories looked up by path (files reached
    /// outside the walk: tracked-but-ignored, incremental updates).
    attr_dirs: std::collections::HashMap<Vec<u8>, Arc<AttrDir>>,
    /// Directories opened (beneath the root, never through a symlink) for
    /// files reached outside the walk: a burst of changes in one directory
    /// opens it once.
    open_dirs: std::collections::HashMap<Vec<u8>, Arc<std::os::fd::OwnedFd>>,
    pub out: Out,
}

impl<'a> Worker<'a> {
    pub fn new(ctx: &'a Ctx<'a>) -> Self {
        Worker {
            ctx,
            writer: None,
            attr_dirs: Default::default(),
            open_dirs: Default::default(),
            out: Out::default(),
        }
    }

    fn writer(&mut self) -> Result<&BlobWriter, HashError> {
        if self.writer.is_none() {
            let w = BlobWriter::open(self.ctx.git_dir)?;
            self.writer = Some(w);
        }
        Ok(self.writer.as_ref().expect("just set"))
    }

    /// Resolve a regular file or symlink to a tree entry (or a skip).
    pub fn file(&mut self, rel: Vec<u8>, stat: Stat) {
        let tracked = self.ctx.tracked.get(&rel);
        self.file_with(rel, stat, tracked, None, None);
    }

    /// The attribute chain of directory `dir` (relative), read from the
    /// work tree's `.gitattributes` files on its way down from the root.
    pub fn attr_dir(&mut self, dir: &[u8]) -> Arc<AttrDir> {
        if dir.is_empty() {
            return Arc::clone(self.ctx.attrs.root());
        }
        if let Some(hit) = self.attr_dirs.get(dir) {
            return Arc::clone(hit);
        }
        let parent_rel = match dir.iter().rposition(|&b| b == b'/') {
            Some(i) => &dir[..i],
            None => &[][..],
        };
        let parent = self.attr_dir(parent_rel);
        let abs = self.ctx.workdir.join(std::ffi::OsStr::from_bytes(dir));
        let has = std::fs::symlink_metadata(abs.join(".gitattributes")).is_ok_and(|m| m.is_file());
        let node = if has {
            AttrDir::child(&parent, dir, &abs, true)
        } else {
            let mut rel = dir.to_vec();
            rel.extend_from_slice(b"/.gitattributes");
            let tracked = self.ctx.tracked.get(&rel);
            self.sparse_attrs(&parent, dir, tracked)
        };
        self.attr_dirs.insert(dir.to_vec(), Arc::clone(&node));
        node
    }

    /// A directory without a `.gitattributes` in the work tree: a sparse
    /// checkout's skip-worktree entry for it still counts (git falls back
    /// to the index copy, and `git add -A` keeps such entries).
    fn sparse_attrs(
        &mut self,
        parent: &Arc<AttrDir>,
        dir: &[u8],
        tracked: Option<&TrackedEntry>,
    ) -> Arc<AttrDir> {
        let Some(t) = tracked.filter(|t| t.skip_worktree && mode::is_file(t.mode)) else {
            return Arc::clone(parent);
        };
        let content = self.writer().ok().and_then(|w| w.blob_content(t.oid));
        match content {
            Some(c) => AttrDir::from_index(parent, dir, &c),
            None => Arc::clone(parent),
        }
    }

    /// How git converts the regular file `rel` (`attrs`: its directory's
    /// attribute chain when the caller has it).
    fn conversion(&mut self, rel: &[u8], attrs: Option<&Arc<AttrDir>>) -> Conversion {
        match attrs {
            Some(a) => self.ctx.attrs.conversion(rel, a),
            None => {
                let dir = match rel.iter().rposition(|&b| b == b'/') {
                    Some(i) => &rel[..i],
                    None => &[][..],
                };
                let a = self.attr_dir(dir);
                self.ctx.attrs.conversion(rel, &a)
            }
        }
    }

    /// [`Worker::file`] with the index entry (and maybe the directory's
    /// attribute chain) already looked up.
    fn file_with(
        &mut self,
        rel: Vec<u8>,
        stat: Stat,
        tracked: Option<&TrackedEntry>,
        attrs: Option<&Arc<AttrDir>>,
        at: Option<(&std::os::fd::OwnedFd, &std::ffi::CStr)>,
    ) {
        let ctx = self.ctx;
        self.out.stats.files += 1;
        if let Some(p) = ctx.progress {
            p.files.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = tracked.filter(|t| ctx.tracked.keeps_indexed(t, || true)) {
            // Skip-worktree / assume-unchanged: git does not look at it.
            self.out.stats.from_index += 1;
            self.out.entries.push(Entry {
                path: rel,
                mode: t.mode,
                oid: t.oid,
            });
            return;
        }
        let mode = ce_mode_from_stat(ctx, tracked, &stat);
        if let Some(t) = tracked {
            if t.mode == mode && t.stat.as_ref().is_some_and(|s| stat.matches_index(s)) {
                self.out.stats.from_index += 1;
                self.out.entries.push(Entry {
                    path: rel,
                    mode,
                    oid: t.oid,
                });
                return;
            }
        }
        let conv = if stat.is_file() {
            self.conversion(&rel, attrs)
        } else {
            Conversion::NONE
        };
        // `text=auto` depends on the indexed blob too (see `crlf_to_git`).
        let rules = match (conv.eol, tracked) {
            (Eol::Auto, Some(t)) => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (conv.key, t.oid.as_bytes()).hash(&mut h);
                h.finish() | 1
            }
            _ => conv.key,
        };
        if let Some(c) = ctx
            .cache
            .lookup(&rel, &stat)
            .filter(|c| c.mode == mode && c.rules == rules)
        {
            self.out.stats.from_cache += 1;
            self.out.entries.push(Entry {
                path: rel.clone(),
                mode,
                oid: c.oid,
            });
            self.out.cache.push((rel, c));
            return;
        }
        if tracked.is_none() && stat.is_file() && stat.size > ctx.max_file_size {
            self.out.skipped.push(Skipped {
                path: rel,
                reason: SkipReason::TooLarge {
                    size: stat.size,
                    limit: ctx.max_file_size,
                },
            });
            return;
        }
        if conv.via_git {
            let keep_crlf = match (conv.eol, tracked) {
                (Eol::Auto, Some(t)) => self.writer().is_ok_and(|w| w.blob_has_crlf(t.oid)),
                _ => false,
            };
            self.out.deferred.push(Deferred {
                keep_crlf,
                rel,
                stat,
                mode,
                rules,
                tracked: tracked.map(|t| (t.mode, t.oid)),
            });
            return;
        }
        // Read through the directory's descriptor, never following a
        // symlink: a file swapped for a link to a secret outside the work
        // tree between the listing and the read is never recorded.
        let mut stat = stat;
        let mut mode = mode;
        let hashed = if stat.is_symlink() {
            self.read_link(&rel, at)
                .map_err(HashError::Read)
                .and_then(|target| self.writer()?.write_bytes(&target))
        } else {
            match self.open_file(&rel, at) {
                Err(e) => Err(HashError::Read(e)),
                Ok(f) => {
                    // Replaced (an editor's atomic save) since the listing:
                    // record what was read, with its own stat.
                    if let Ok(m) = f.metadata() {
                        let fresh = Stat::from_metadata(&m);
                        if fresh.ino != stat.ino {
                            mode = ce_mode_from_stat(ctx, tracked, &fresh);
                            stat = fresh;
                        }
                    }
                    match self.writer() {
                        Ok(w) if conv.is_none() => {
                            w.write_file(f, stat.size, ctx.progress.map(|p| &p.bytes))
                        }
                        Ok(w) => w.write_normalized(f, conv.eol, tracked.map(|t| t.oid)),
                        Err(e) => Err(e),
                    }
                }
            }
        };
        match hashed {
            Ok((oid, written)) => {
                if written {
                    self.out.written.push(oid);
                }
                self.out.stats.hashed += 1;
                self.out.stats.hashed_bytes += stat.size;
                self.out.cache.push((
                    rel.clone(),
                    CacheEntry {
                        stat,
                        mode,
                        rules,
                        oid,
                    },
                ));
                self.out.entries.push(Entry {
                    path: rel,
                    mode,
                    oid,
                });
            }
            // Vanished between listing and reading: it is simply gone.
            Err(HashError::Read(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(HashError::Store(e)) => self.out.store_errors.push(e),
            Err(HashError::Read(e)) => {
                // Keep the last committed content of a tracked file rather
                // than dropping it from the snapshot.
                if let Some(t) = tracked {
                    self.out.entries.push(Entry {
                        path: rel.clone(),
                        mode: t.mode,
                        oid: t.oid,
                    });
                }
                self.out.skipped.push(Skipped {
                    path: rel,
                    reason: SkipReason::Unreadable {
                        error: e.to_string(),
                    },
                });
            }
        }
    }

    /// Open the regular file `rel` for hashing: relative to its directory's
    /// descriptor when the walk has it, else walked to from the work tree
    /// root; never through a symlink.
    fn open_file(
        &mut self,
        rel: &[u8],
        at: Option<(&std::os::fd::OwnedFd, &std::ffi::CStr)>,
    ) -> std::io::Result<std::fs::File> {
        match at {
            Some((dir, name)) => fsys::open_file_at(dir, name),
            None => {
                let (dir, name) = self.parent_of(rel)?;
                fsys::open_file_at(&dir, &name)
            }
        }
    }

    /// The target of the symlink `rel`, read like [`Worker::open_file`].
    fn read_link(
        &mut self,
        rel: &[u8],
        at: Option<(&std::os::fd::OwnedFd, &std::ffi::CStr)>,
    ) -> std::io::Result<Vec<u8>> {
        match at {
            Some((dir, name)) => fsys::read_link_at(dir, name),
            None => {
                let (dir, name) = self.parent_of(rel)?;
                fsys::read_link_at(&dir, &name)
            }
        }
    }

    /// `rel`'s directory, opened beneath the root (once per worker), and
    /// `rel`'s last component.
    fn parent_of(
        &mut self,
        rel: &[u8],
    ) -> std::io::Result<(Arc<std::os::fd::OwnedFd>, std::ffi::CString)> {
        let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&[][..], rel),
        };
        let name = std::ffi::CString::new(name)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        if let Some(fd) = self.open_dirs.get(dir) {
            return Ok((Arc::clone(fd), name));
        }
        let fd = Arc::new(fsys::open_dir_beneath(self.ctx.workdir, dir)?);
        self.open_dirs.insert(dir.to_vec(), Arc::clone(&fd));
        Ok((fd, name))
    }

    /// Hash the deferred files through git in one batch (see
    /// [`blob::hash_with_git`]). A file git cannot convert (a required
    /// filter failed) is never stored raw: it is named as skipped and a
    /// tracked one keeps its indexed content.
    pub fn resolve_deferred(&mut self, deferred: Vec<Deferred>) {
        if deferred.is_empty() {
            return;
        }
        let (keep, plain): (Vec<&Deferred>, Vec<&Deferred>) =
            deferred.iter().partition(|d| d.keep_crlf);
        let mut results: std::collections::HashMap<&[u8], Result<git2::Oid, String>> =
            Default::default();
        let mut by_hash_object = plain;
        if !keep.is_empty() {
            // Through `git update-index` on a throwaway index holding the
            // tracked entries, so git sees the indexed CRLFs as `git add`
            // does. Should that fail, the files go the usual way.
            let entries: Vec<(u32, git2::Oid, &[u8])> = keep
                .iter()
                .filter_map(|d| d.tracked.map(|(m, o)| (m, o, d.rel.as_slice())))
                .collect();
            let index = self
                .ctx
                .state_dir
                .join(format!("convert-index.{}", std::process::id()));
            match blob::hash_in_index(self.ctx.git_dir, self.ctx.workdir, &index, &entries) {
                Ok(ids) => {
                    for (d, oid) in keep.iter().zip(ids) {
                        results.insert(d.rel.as_slice(), Ok(oid));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "throwaway-index conversion failed; using git hash-object");
                    by_hash_object.extend(keep);
                }
            }
        }
        let rels: Vec<&[u8]> = by_hash_object.iter().map(|d| d.rel.as_slice()).collect();
        let hashed = blob::hash_with_git(self.ctx.git_dir, self.ctx.workdir, &rels);
        results.extend(rels.iter().copied().zip(hashed));
        let results: Vec<Result<git2::Oid, String>> = deferred
            .iter()
            .map(|d| {
                results
                    .remove(d.rel.as_slice())
                    .unwrap_or_else(|| Err("not hashed".to_owned()))
            })
            .collect();
        for (d, r) in deferred.into_iter().zip(results) {
            match r {
                Ok(oid) => {
                    self.out.stats.hashed += 1;
                    self.out.stats.hashed_bytes += d.stat.size;
                    self.out.written.push(oid);
                    self.out.cache.push((
                        d.rel.clone(),
                        CacheEntry {
                            stat: d.stat,
                            mode: d.mode,
                            rules: d.rules,
                            oid,
                        },
                    ));
                    self.out.entries.push(Entry {
                        path: d.rel,
                        mode: d.mode,
                        oid,
                    });
                }
                Err(error) => {
                    let abs = self.ctx.workdir.join(std::ffi::OsStr::from_bytes(&d.rel));
                    if std::fs::symlink_metadata(&abs).is_err() {
                        continue; // vanished meanwhile
                    }
                    if let Some((mode, oid)) = d.tracked {
                        self.out.entries.push(Entry {
                            path: d.rel.clone(),
                            mode,
                            oid,
                        });
                    }
                    self.out.skipped.push(Skipped {
                        path: d.rel,
                        reason: SkipReason::FilterFailed { error },
                    });
                }
            }
        }
    }

    /// A directory that holds a `.git`: record it as a gitlink at its HEAD.
    pub fn nested_repo(&mut self, rel: Vec<u8>, abs: &Path) {
        self.out.repo_dirs.push(rel.clone());
        let head = git2::Repository::open(abs)
            .ok()
            .and_then(|r| crate::git::refs::resolve(&r, "HEAD").ok().flatten());
        match head {
            Some(oid) => self.out.entries.push(Entry {
                path: rel,
                mode: MODE_GITLINK,
                oid,
            }),
            None => {
                if let Some(t) = self
                    .ctx
                    .tracked
                    .get(&rel)
                    .filter(|t| t.mode == MODE_GITLINK)
                {
                    self.out.entries.push(Entry {
                        path: rel.clone(),
                        mode: MODE_GITLINK,
                        oid: t.oid,
                    });
                }
                self.out.skipped.push(Skipped {
                    path: rel,
                    reason: SkipReason::NoSubmoduleCommit,
                });
            }
        }
    }

    /// List one directory; returns its subdirectories to walk.
    fn dir(&mut self, job: Job) -> Vec<Job> {
        #[cfg(test)]
        tests::maybe_panic(&job.rel);
        let ctx = self.ctx;
        let opened = match (&job.parent_fd, job.rel.rsplit(|&b| b == b'/').next()) {
            (Some(parent), Some(name)) if !job.rel.is_empty() => std::ffi::CString::new(name)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
                .and_then(|name| fsys::open_dir_at(parent, &name)),
            _ if job.rel.is_empty() => fsys::open_dir(&job.abs),
            _ => fsys::open_dir_beneath(ctx.workdir, &job.rel),
        };
        let listed = opened.and_then(|fd| fsys::list(&fd).map(|names| (fd, names)));
        let (fd, names) = match listed {
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
        let has_git = names.iter().any(|(n, _)| n.as_bytes() == b".git");
        if has_git && !job.rel.is_empty() && fsys::is_nested_repo(&job.abs) {
            self.nested_repo(job.rel, &job.abs);
            return Vec::new();
        }
        let has_gitignore = names.iter().any(|(n, _)| n.as_bytes() == b".gitignore");
        let rules = DirRules::child(&job.parent_rules, &job.abs, has_gitignore);
        // Read from the work tree whether tracked, untracked or ignored (a
        // symlinked one is not followed, like git). The root's is already in
        // the repository-wide rules.
        let has_gitattributes = names.iter().any(|(n, k)| {
            n.as_bytes() == b".gitattributes" && matches!(k, Kind::File | Kind::Unknown)
        });
        let attrs = if has_gitattributes || job.rel.is_empty() {
            AttrDir::child(&job.parent_attrs, &job.rel, &job.abs, has_gitattributes)
        } else {
            let mut rel = job.rel.clone();
            rel.extend_from_slice(b"/.gitattributes");
            let tracked = lookup(ctx.tracked.below(&job.rel), &rel);
            self.sparse_attrs(&job.parent_attrs, &job.rel, tracked)
        };
        // Index entries below this directory: lookups search this slice only.
        let tracked_here = ctx.tracked.below(&job.rel);
        let fd = Arc::new(fd);
        let mut subdirs = Vec::new();
        for (name, kind) in names {
            let name_bytes = name.as_bytes();
            if name_bytes == b".git" {
                continue;
            }
            let abs = job.abs.join(std::ffi::OsStr::from_bytes(name_bytes));
            let mut rel = Vec::with_capacity(job.rel.len() + 1 + name_bytes.len());
            if !job.rel.is_empty() {
                rel.extend_from_slice(&job.rel);
                rel.push(b'/');
            }
            rel.extend_from_slice(name_bytes);
            if kind == Kind::Special {
                tracing::debug!(path = %abs.display(), "skipping special file");
                continue;
            }
            // Directories need no stat; anything else does (and a stat may
            // reveal a directory whose type getdents did not give).
            let stat = if kind == Kind::Dir {
                None
            } else {
                match fsys::stat_at(&fd, &name) {
                    Ok(stat) => Some(stat),
                    Err(_) => continue, // vanished
                }
            };
            let Some(stat) = stat.filter(|s| !s.is_dir()) else {
                if !ctx.git_dirs_inside.contains(&rel)
                    && !rules.is_ignored(ctx.excludes, &abs, true)
                {
                    subdirs.push(Job {
                        rel,
                        abs,
                        parent_rules: Arc::clone(&rules),
                        parent_attrs: Arc::clone(&attrs),
                        parent_fd: Some(Arc::clone(&fd)),
                    });
                }
                continue;
            };
            if !(stat.is_file() || stat.is_symlink()) {
                // FIFOs, sockets, devices: git add -A skips them too.
                tracing::debug!(path = %abs.display(), "skipping special file");
                continue;
            }
            if rules.is_ignored(ctx.excludes, &abs, false) {
                continue; // tracked-but-ignored files come back in the tracked pass
            }
            let tracked = lookup(tracked_here, &rel);
            if tracked.is_none() && ctx.tracked.is_case_alias(&rel) {
                continue; // core.ignorecase: git takes it for the tracked file
            }
            self.file_with(rel, stat, tracked, Some(&attrs), Some((&fd, &name)));
        }
        subdirs
    }

    /// Tracked paths the walk did not produce: ignored-but-tracked files,
    /// deletions, sparse (skip-worktree) entries and uninitialised
    /// submodules. `found` must be sorted by path; `pending` are the walk's
    /// files still waiting for git (found too).
    pub fn tracked_pass(
        &mut self,
        found: &[Entry],
        tracked: &[TrackedEntry],
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
            while fi < found.len() && found[fi].path < t.path {
                fi += 1;
            }
            if fi < found.len() && found[fi].path == t.path {
                continue;
            }
            if pending.binary_search(&t.path.as_slice()).is_ok() {
                continue;
            }
            let abs = ctx.workdir.join(std::ffi::OsStr::from_bytes(&t.path));
            let keep = Entry {
                path: t.path.clone(),
                mode: t.mode,
                oid: t.oid,
            };
            if (t.skip_worktree || t.assume_unchanged)
                && ctx.tracked.keeps_indexed(t, || {
                    ancestors_are_dirs(ctx.workdir, &t.path, &repo_dirs, &mut dir_ok) != Some(false)
                        && std::fs::symlink_metadata(&abs).is_ok()
                })
            {
                // Unless the work tree put something new in its way: `git
                // add` then replaces the entry (file ↔ directory).
                if !collides(found, &t.path) {
                    self.out.entries.push(keep);
                }
                continue;
            }
            let meta = match ancestors_are_dirs(ctx.workdir, &t.path, &repo_dirs, &mut dir_ok) {
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
                        self.nested_repo(t.path.clone(), &abs);
                    } else {
                        // Not initialised: git keeps the recorded commit.
                        self.out.entries.push(Entry {
                            path: t.path.clone(),
                            mode: MODE_GITLINK,
                            oid: t.oid,
                        });
                    }
                }
                continue;
            }
            let stat = Stat::from_metadata(&meta);
            if stat.is_file() || stat.is_symlink() {
                self.file(t.path.clone(), stat);
            }
        }
    }
}

/// Does the sorted walk result hold a path below `path`, or `path`'s parent
/// directory as a file?
fn collides(found: &[Entry], path: &[u8]) -> bool {
    let mut below = path.to_vec();
    below.push(b'/');
    let at = found.partition_point(|e| e.path < below);
    if found.get(at).is_some_and(|e| e.path.starts_with(&below)) {
        return true;
    }
    path.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .any(|(i, _)| {
            found
                .binary_search_by(|e| e.path.as_slice().cmp(&path[..i]))
                .is_ok()
        })
}

/// The mode git records for a file with `stat` (git's `ce_mode_from_stat`):
/// with `core.symlinks=false` a tracked symlink checked out as a plain file
/// stays a symlink, with `core.fileMode=false` a tracked file keeps its
/// indexed exec bit.
fn ce_mode_from_stat(ctx: &Ctx<'_>, tracked: Option<&TrackedEntry>, stat: &Stat) -> u32 {
    match tracked {
        Some(t) if !ctx.symlinks && stat.is_file() && t.mode == MODE_LINK => t.mode,
        Some(t) if !ctx.filemode && stat.is_file() && mode::is_file(t.mode) => t.mode,
        _ => stat.git_mode(ctx.filemode),
    }
}

/// Binary search for `rel` in a sorted slice of index entries.
fn lookup<'t>(entries: &'t [TrackedEntry], rel: &[u8]) -> Option<&'t TrackedEntry> {
    entries
        .binary_search_by(|e| e.path.as_slice().cmp(rel))
        .ok()
        .map(|i| &entries[i])
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

/// Walk from `roots` with `threads` threads; results unsorted.
pub fn walk(ctx: &Ctx<'_>, roots: Vec<Job>, threads: usize) -> Out {
    struct Queue {
        jobs: Vec<Job>,
        busy: usize,
        /// A thread panicked: the others stop instead of waiting forever
        /// for its directory, and the panic is re-raised after the join.
        failed: bool,
    }
    let queue = Mutex::new(Queue {
        jobs: roots,
        busy: 0,
        failed: false,
    });
    let cv = Condvar::new();
    let mut total = Out::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut worker = Worker::new(ctx);
                    loop {
                        let job = {
                            let mut q = queue.lock().expect("walk queue poisoned");
                            loop {
                                if q.failed {
                                    break None;
                                }
                                if let Some(job) = q.jobs.pop() {
                                    q.busy += 1;
                                    break Some(job);
                                }
                                if q.busy == 0 {
                                    break None;
                                }
                                q = cv.wait(q).expect("walk queue poisoned");
                            }
                        };
                        let Some(job) = job else {
                            cv.notify_all();
                            break;
                        };
                        let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            worker.dir(job)
                        }));
                        let subdirs = match listed {
                            Ok(subdirs) => subdirs,
                            Err(panic) => {
                                let mut q = queue.lock().expect("walk queue poisoned");
                                q.failed = true;
                                q.busy -= 1;
                                drop(q);
                                cv.notify_all();
                                std::panic::resume_unwind(panic);
                            }
                        };
                        let mut q = queue.lock().expect("walk queue poisoned");
                        q.busy -= 1;
                        let wake = !subdirs.is_empty() || q.busy == 0;
                        q.jobs.extend(subdirs);
                        drop(q);
                        if wake {
                            cv.notify_all();
                        }
                    }
                    // Sort this share here, in parallel with the others.
                    worker
                        .out
                        .entries
                        .sort_unstable_by(|a, b| a.path.cmp(&b.path));
                    worker.out
                })
            })
            .collect();
        let mut runs = Vec::new();
        for h in handles {
            match h.join() {
                Ok(mut out) => {
                    runs.push(std::mem::take(&mut out.entries));
                    total.merge(out);
                }
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        total.entries = merge_sorted(runs);
    });
    total
}

/// Merge runs sorted by path into one sorted list.
fn merge_sorted(mut runs: Vec<Vec<Entry>>) -> Vec<Entry> {
    while runs.len() > 1 {
        let b = runs.pop().expect("two runs");
        let a = runs.pop().expect("two runs");
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => x.path <= y.path,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.extend(if take_a { a.next() } else { b.next() });
        }
        runs.insert(0, merged);
    }
    runs.pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    static PANIC_AT_ALL: Mutex<Option<Vec<u8>>> = Mutex::new(None);

    /// Test hook: panic while listing the directory named in `PANIC_AT_ALL`.
    pub(super) fn maybe_panic(rel: &[u8]) {
        let hit = PANIC_AT_ALL
            .lock()
            .map(|p| p.as_deref() == Some(rel))
            .unwrap_or(false);
        if hit {
            panic!("injected walker panic");
        }
    }

    /// A panic in one walker thread reaches the caller; the other threads
    /// do not wait forever for the panicked thread's directory.
    #[test]
    fn a_panicking_walker_thread_propagates_instead_of_deadlocking() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..64 {
            std::fs::create_dir_all(dir.path().join(format!("d{i}/sub"))).unwrap();
            std::fs::write(dir.path().join(format!("d{i}/sub/f")), "x").unwrap();
        }
        *PANIC_AT_ALL.lock().unwrap() = Some(b"d7".to_vec());
        let root = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let tracked = Tracked::default();
            let cache = StatCache::default();
            let repo_dir = tempfile::tempdir().unwrap();
            git2::Repository::init(repo_dir.path()).unwrap();
            let excludes = Excludes::load(
                &git2::Repository::open(repo_dir.path()).unwrap(),
                &root,
                &[],
                false,
            );
            let git_dir = repo_dir.path().join(".git");
            let repo = git2::Repository::open(repo_dir.path()).unwrap();
            let attrs = AttrRules::load(&repo, &git_dir, &root);
            let ctx = Ctx {
                workdir: &root,
                git_dir: &git_dir,
                tracked: &tracked,
                cache: &cache,
                excludes: &excludes,
                filemode: true,
                symlinks: true,
                git_dirs_inside: &[],
                state_dir: &git_dir,
                attrs: &attrs,
                max_file_size: u64::MAX,
                progress: None,
            };
            let job = Job {
                rel: Vec::new(),
                abs: root.clone(),
                parent_rules: DirRules::empty(),
                parent_attrs: Arc::clone(attrs.root()),
                parent_fd: None,
            };
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| walk(&ctx, vec![job], 4)));
            let _ = tx.send(r.is_err());
        });
        let panicked = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the walk deadlocked after a thread panicked");
        *PANIC_AT_ALL.lock().unwrap() = None;
        assert!(panicked, "the panic was swallowed");
    }
}
