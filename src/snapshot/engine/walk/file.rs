//! What one file becomes (git's `add -A` decision per path): kept as
//! indexed (skip-worktree, assume-unchanged), the index's id when the stat
//! matches, the stat cache's id, skipped (too large, unreadable), deferred
//! to git (filters, encodings), or read — through its directory's
//! descriptor, never a symbolic link — and hashed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Ctx, Deferred, Worker};
use crate::git::mode::{self, MODE_LINK};
use crate::snapshot::engine::attr::{AttrDir, Conversion, Eol};
use crate::snapshot::engine::blob::HashError;
use crate::snapshot::engine::cache::{self, CacheEntry};
use crate::snapshot::engine::index::TrackedEntry;
use crate::snapshot::engine::stat::Stat;
use crate::snapshot::engine::tree::Entry;
use crate::snapshot::engine::{SkipReason, Skipped};

impl Worker<'_> {
    /// Resolve a regular file or symlink to a tree entry (or a skip).
    pub(crate) fn file(&mut self, rel: Vec<u8>, stat: Stat) {
        let tracked = self.ctx.tracked.entries().find_at(&rel);
        self.file_with(rel, stat, tracked, None, None);
    }

    /// How git converts the regular file `rel` (`attrs`: its directory's
    /// attribute chain when the caller has it).
    fn conversion(&mut self, rel: &[u8], attrs: Option<&Arc<AttrDir>>) -> Conversion {
        match attrs {
            Some(a) => self.ctx.attrs.conversion(rel, a),
            None => {
                let a = self.attr_dir(crate::git::path::parent(rel));
                self.ctx.attrs.conversion(rel, &a)
            }
        }
    }

    /// [`Worker::file`] with the index entry (its number and itself; and
    /// maybe the directory's attribute chain) already looked up.
    pub(super) fn file_with(
        &mut self,
        rel: Vec<u8>,
        stat: Stat,
        tracked: Option<(usize, TrackedEntry<'_>)>,
        attrs: Option<&Arc<AttrDir>>,
        at: Option<(&std::os::fd::OwnedFd, &std::ffi::CStr)>,
    ) {
        let ctx = self.ctx;
        self.out.stats.files += 1;
        if let Some(p) = ctx.progress {
            p.files.fetch_add(1, Ordering::Relaxed);
        }
        let slot = tracked.map(|(n, _)| n);
        let tracked = tracked.map(|(_, t)| t);
        let keeps = tracked.filter(|t| ctx.tracked.keeps_indexed(t, || true));
        // Skip-worktree / assume-unchanged (git does not look at it), or
        // the index's stat matches: the index's entry as it is.
        let mode = ce_mode_from_stat(ctx, tracked, &stat);
        let clean = keeps.or(tracked
            .filter(|t| t.mode == mode && t.stat.as_ref().is_some_and(|s| stat.matches_index(s))));
        if let (Some(t), Some(slot)) = (clean, slot) {
            self.out.stats.from_index += 1;
            if self.index_refs {
                self.out.clean.insert(slot);
            } else {
                self.out.entries.push(Entry {
                    path: rel,
                    mode: t.mode,
                    oid: t.oid,
                });
            }
            return;
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
            .filter(|c| c.mode == mode)
            .filter(|c| c.rules == rules || (c.rules == cache::ANY_EOL && !conv.via_git))
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
}

/// The mode git records for a file with `stat` (git's `ce_mode_from_stat`):
/// with `core.symlinks=false` a tracked symlink checked out as a plain file
/// stays a symlink, with `core.fileMode=false` a tracked file keeps its
/// indexed exec bit.
fn ce_mode_from_stat(ctx: &Ctx<'_>, tracked: Option<TrackedEntry<'_>>, stat: &Stat) -> u32 {
    match tracked {
        Some(t) if !ctx.symlinks && stat.is_file() && t.mode == MODE_LINK => t.mode,
        Some(t) if !ctx.filemode && stat.is_file() && mode::is_file(t.mode) => t.mode,
        _ => stat.git_mode(ctx.filemode),
    }
}
