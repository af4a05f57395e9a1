//! One walker thread's state: its blob writer (opened on first use), the
//! attribute chains of directories it looked up, and directories it opened
//! beneath the root for files reached outside the walk (the tracked pass,
//! incremental updates) — plus what it produced so far ([`Out`]).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::{Ctx, Out};
use crate::git::mode::{self, MODE_GITLINK};
use crate::snapshot::engine::attr::AttrDir;
use crate::snapshot::engine::blob::{BlobWriter, HashError};
use crate::snapshot::engine::fsys;
use crate::snapshot::engine::index::TrackedEntry;
use crate::snapshot::engine::tree::Entry;
use crate::snapshot::engine::{SkipReason, Skipped};

/// Per-thread resolver state.
pub(crate) struct Worker<'a> {
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
    /// Record a file whose leaf is its index entry's as that entry's
    /// number in `out.clean` (a full scan's walk) instead of an entry.
    pub(super) index_refs: bool,
}

impl<'a> Worker<'a> {
    pub(crate) fn new(ctx: &'a Ctx<'a>) -> Self {
        Worker {
            ctx,
            writer: None,
            attr_dirs: Default::default(),
            open_dirs: Default::default(),
            out: Out::default(),
            index_refs: false,
        }
    }

    pub(super) fn writer(&mut self) -> Result<&BlobWriter, HashError> {
        if self.writer.is_none() {
            let w = BlobWriter::open(self.ctx.git_dir, self.ctx.objects.clone())?;
            self.writer = Some(w);
        }
        Ok(self.writer.as_ref().expect("just set"))
    }

    /// The attribute chain of directory `dir` (relative), read from the
    /// work tree's `.gitattributes` files on its way down from the root.
    pub(crate) fn attr_dir(&mut self, dir: &[u8]) -> Arc<AttrDir> {
        if dir.is_empty() {
            return Arc::clone(self.ctx.attrs.root());
        }
        if let Some(hit) = self.attr_dirs.get(dir) {
            return Arc::clone(hit);
        }
        let parent = self.attr_dir(crate::git::path::parent(dir));
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
    pub(super) fn sparse_attrs(
        &mut self,
        parent: &Arc<AttrDir>,
        dir: &[u8],
        tracked: Option<TrackedEntry<'_>>,
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

    /// Open the regular file `rel` for hashing: relative to its directory's
    /// descriptor when the walk has it, else walked to from the work tree
    /// root; never through a symlink.
    pub(super) fn open_file(
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
    pub(super) fn read_link(
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

    /// A directory that holds a `.git`: record it as a gitlink at its HEAD.
    pub(super) fn nested_repo(&mut self, rel: Vec<u8>, abs: &Path) {
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
}
