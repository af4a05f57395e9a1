//! What a walk produced — entries, cache updates, skips, written objects,
//! deferred files, counters — and the one way to combine two of them:
//! each walker thread's share, the tracked pass and incremental updates
//! all fold in through [`Out::merge`].

use super::leaves::SlotSet;
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
    /// Index entries recorded as they are (a full scan's walk, see
    /// [`super::leaves`]): leaves not in `entries`.
    pub clean: SlotSet,
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
        self.clean.union(&o.clean);
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

/// Merge runs sorted by path in *descending* order (each walker thread
/// sorts its share so) into one list in ascending order. Every entry is
/// taken from the end of its run, and a run gives its memory back as it
/// shrinks: the entries are never held twice (at a million files they are
/// ~50 MB, and their paths as much again).
pub(super) fn merge_sorted(mut runs: Vec<Vec<Entry>>) -> Vec<Entry> {
    /// Shrink a run once this many entries (~1 MiB) were taken from it.
    const GIVE_BACK: usize = (1 << 20) / std::mem::size_of::<Entry>();
    runs.retain(|r| !r.is_empty());
    if runs.len() < 2 {
        let mut only = runs.pop().unwrap_or_default();
        only.reverse();
        return only;
    }
    let mut out = Vec::with_capacity(runs.iter().map(Vec::len).sum());
    fn last(r: &[Entry]) -> Option<&[u8]> {
        r.last().map(|e| e.path.as_slice())
    }
    while !runs.is_empty() {
        let mut min = 0;
        for i in 1..runs.len() {
            if last(&runs[i]) < last(&runs[min]) {
                min = i;
            }
        }
        let run = &mut runs[min];
        out.extend(run.pop());
        if run.is_empty() {
            runs.swap_remove(min);
        } else if run.capacity() - run.len() >= GIVE_BACK {
            run.shrink_to_fit();
        }
    }
    out
}

/// Merge sorted `b` into sorted `a`, from the back (an entry of `a` comes
/// before an equal one of `b`, as in a stable sort of `a` then `b`).
pub(crate) fn merge_into(mut a: Vec<Entry>, mut b: Vec<Entry>) -> Vec<Entry> {
    let mut i = a.len();
    let placeholder = || Entry {
        path: Vec::new(),
        mode: 0,
        oid: git2::Oid::zero(),
    };
    a.reserve_exact(b.len());
    a.resize_with(i + b.len(), placeholder);
    // a[..i] is what is left of `a`, a[k..] the merged tail.
    let mut k = a.len();
    while let Some(last) = b.last() {
        k -= 1;
        if i > 0 && a[i - 1].path > last.path {
            i -= 1;
            a.swap(i, k);
        } else {
            a[k] = b.pop().expect("last");
            if b.capacity() > 2 * b.len() + 4096 {
                b.shrink_to_fit();
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(paths: &[&str]) -> Vec<Entry> {
        paths
            .iter()
            .map(|p| Entry {
                path: p.as_bytes().to_vec(),
                mode: 0o100644,
                oid: git2::Oid::zero(),
            })
            .collect()
    }

    fn paths(entries: &[Entry]) -> Vec<&str> {
        entries
            .iter()
            .map(|e| std::str::from_utf8(&e.path).unwrap())
            .collect()
    }

    /// The runs as the walker threads hand them over: descending.
    fn merge(runs: Vec<Vec<Entry>>) -> Vec<Entry> {
        merge_sorted(
            runs.into_iter()
                .map(|mut r| {
                    r.reverse();
                    r
                })
                .collect(),
        )
    }

    #[test]
    fn merge_sorted_interleaves_runs_of_any_length() {
        let merged = merge(vec![
            run(&["b", "d", "f"]),
            run(&[]),
            run(&["a", "c", "e", "g", "h"]),
            run(&["a/b", "z"]),
        ]);
        assert_eq!(
            paths(&merged),
            ["a", "a/b", "b", "c", "d", "e", "f", "g", "h", "z"]
        );
        assert!(merge(Vec::new()).is_empty());
        assert_eq!(paths(&merge(vec![run(&["x", "y"])])), ["x", "y"]);
        // All of one run before all of the other, both ways.
        for (a, b) in [(["a", "b"], ["c", "d"]), (["c", "d"], ["a", "b"])] {
            assert_eq!(paths(&merge(vec![run(&a), run(&b)])), ["a", "b", "c", "d"]);
        }
        // Many entries (runs shrink as they are taken from): a sorted
        // result holding every one of them.
        let many: Vec<String> = (0..100_000)
            .map(|i| format!("{:06}", i * 7919 % 100_000))
            .collect();
        let mut runs = vec![Vec::new(), Vec::new(), Vec::new()];
        for (i, p) in many.iter().enumerate() {
            runs[i % 3].push(p.as_str());
        }
        let runs: Vec<Vec<Entry>> = runs
            .into_iter()
            .map(|mut r| {
                r.sort_unstable();
                run(&r)
            })
            .collect();
        let merged = merge(runs);
        let mut want: Vec<&str> = many.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(paths(&merged), want);
    }

    #[test]
    fn merge_into_keeps_the_first_lists_entry_first_on_a_tie() {
        let mut b = run(&["b", "d"]);
        b[0].mode = 0o100755;
        let merged = merge_into(run(&["a", "b", "c"]), b);
        assert_eq!(paths(&merged), ["a", "b", "b", "c", "d"]);
        assert_eq!((merged[1].mode, merged[2].mode), (0o100644, 0o100755));
        assert_eq!(paths(&merge_into(Vec::new(), run(&["x"]))), ["x"]);
        assert_eq!(paths(&merge_into(run(&["x"]), Vec::new())), ["x"]);
    }
}
