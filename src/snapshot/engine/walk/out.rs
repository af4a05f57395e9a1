//! What a walk produced — entries, cache updates, skips, written objects,
//! deferred files, counters — and the one way to combine two of them:
//! each walker thread's share, the tracked pass and incremental updates
//! all fold in through [`Out::merge`].

use super::Deferred;
use crate::error::StoreError;
use crate::snapshot::engine::cache::CacheEntry;
use crate::snapshot::engine::dircache::CachedDir;
use crate::snapshot::engine::tree::Entry;
use crate::snapshot::engine::{ScanStats, Skipped};

/// What one walk (or one thread of it) produced.
#[derive(Default)]
pub(crate) struct Out {
    pub entries: Vec<Entry>,
    /// Ids we know from hashing or the stat cache (not from the index).
    pub cache: Vec<(Vec<u8>, CacheEntry)>,
    pub skipped: Vec<Skipped>,
    /// Directories that are nested repositories (recorded as gitlinks).
    pub repo_dirs: Vec<Vec<u8>>,
    /// Objects that may have been newly written (to flush to disk).
    pub written: Vec<git2::Oid>,
    /// Object-store failures: the snapshot cannot be complete.
    pub store_errors: Vec<StoreError>,
    /// Files to hash through git (see [`Worker::resolve_deferred`]).
    pub deferred: Vec<Deferred>,
    /// Each listed directory's listing and stat, for the next scan's
    /// directory cache (collected only when the walk has one).
    pub dirs: Vec<(Vec<u8>, CachedDir)>,
    /// Directories listed afresh (not answered by the directory cache).
    pub dirs_listed: u64,
    pub stats: ScanStats,
}

impl Out {
    /// Add everything `o` holds (its entries appended, unsorted).
    pub(crate) fn merge(&mut self, o: Out) {
        self.entries.extend(o.entries);
        self.cache.extend(o.cache);
        self.skipped.extend(o.skipped);
        self.repo_dirs.extend(o.repo_dirs);
        self.written.extend(o.written);
        self.store_errors.extend(o.store_errors);
        self.deferred.extend(o.deferred);
        self.dirs.extend(o.dirs);
        self.dirs_listed += o.dirs_listed;
        self.stats.add(&o.stats);
    }
}

/// Merge runs sorted by path into one sorted list.
pub(super) fn merge_sorted(mut runs: Vec<Vec<Entry>>) -> Vec<Entry> {
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
