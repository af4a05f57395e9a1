//! Files only git can convert (a clean filter or `process` driver,
//! `working-tree-encoding`, `ident`): the walk sets them aside and they
//! are hashed by git in one batch afterwards (see [`blob::hash_with_git`]).

use std::os::unix::ffi::OsStrExt;

use super::Worker;
use crate::snapshot::engine::blob;
use crate::snapshot::engine::cache::CacheEntry;
use crate::snapshot::engine::stat::Stat;
use crate::snapshot::engine::tree::Entry;
use crate::snapshot::engine::{SkipReason, Skipped};

/// A file only git can convert (clean filter, `process` driver,
/// `working-tree-encoding`, `ident`), waiting for the batch.
#[derive(Debug)]
pub(crate) struct Deferred {
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

impl Worker<'_> {
    /// Hash the deferred files through git in one batch (see
    /// [`blob::hash_with_git`]). A file git cannot convert (a required
    /// filter failed) is never stored raw: it is named as skipped and a
    /// tracked one keeps its indexed content.
    pub(crate) fn resolve_deferred(&mut self, deferred: Vec<Deferred>) {
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
}
