//! A read-only view of the user's index: which paths are tracked, with the
//! blob id and stat data git recorded for each. savepoint never writes the
//! index; it only uses it to keep tracked-but-ignored files, to keep
//! skip-worktree entries, and to avoid re-reading files git already hashed.

use std::path::Path;

use git2::Oid;

use super::stat::{IndexStat, Stat};

/// One tracked path.
#[derive(Debug, Clone)]
pub struct TrackedEntry {
    pub path: Vec<u8>,
    pub mode: u32,
    pub oid: Oid,
    /// `None` when the entry cannot vouch for the worktree content
    /// (conflicted, intent-to-add, or racy against the index write time).
    pub stat: Option<IndexStat>,
    /// Sparse checkout: the file is not expected in the work tree.
    pub skip_worktree: bool,
}

/// All tracked paths, sorted by path bytes (the index order).
#[derive(Debug, Default)]
pub struct Tracked {
    pub entries: Vec<TrackedEntry>,
    /// The index file's stat when read, to notice when it changes.
    pub index_stat: Option<Stat>,
}

/// Why the index could not be used directly.
#[derive(Debug)]
pub struct IndexUnreadable(pub String);

const SKIP_WORKTREE: u16 = 1 << 14;
const INTENT_TO_ADD: u16 = 1 << 13;

impl Tracked {
    /// Read the index at `path`; a missing index means nothing is tracked.
    pub fn load(path: &Path) -> Result<Tracked, IndexUnreadable> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tracked::default()),
            Err(e) => return Err(IndexUnreadable(e.to_string())),
        };
        let index_stat = Stat::from_metadata(&meta);
        let index = git2::Index::open(path).map_err(|e| IndexUnreadable(e.message().to_owned()))?;
        let racy_since = (index_stat.mtime_s, index_stat.mtime_ns);
        let mut entries: Vec<TrackedEntry> = Vec::with_capacity(index.len());
        for e in index.iter() {
            let stage = (e.flags >> 12) & 0x3;
            let conflicted = stage != 0;
            if conflicted {
                // Several stages of one path: keep a single entry that must be hashed.
                if entries.last().is_some_and(|last| last.path == e.path) {
                    continue;
                }
            }
            let stat = IndexStat {
                mtime_s: e.mtime.seconds() as u32,
                mtime_ns: e.mtime.nanoseconds(),
                ctime_s: e.ctime.seconds() as u32,
                ctime_ns: e.ctime.nanoseconds(),
                size: e.file_size,
                ino: e.ino,
            };
            // Racy: modified in the same instant the index was written; git
            // itself would re-check the content, so do we.
            let racy = (i64::from(stat.mtime_s), stat.mtime_ns) >= racy_since;
            let trusted = !conflicted && e.flags_extended & INTENT_TO_ADD == 0 && !racy;
            entries.push(TrackedEntry {
                mode: e.mode,
                oid: e.id,
                stat: trusted.then_some(stat),
                skip_worktree: e.flags_extended & SKIP_WORKTREE != 0,
                path: e.path,
            });
        }
        Ok(Tracked {
            entries,
            index_stat: Some(index_stat),
        })
    }

    /// The entry for exactly this path.
    pub fn get(&self, path: &[u8]) -> Option<&TrackedEntry> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Entries strictly below directory `dir` (every entry when `dir` is
    /// empty). Paths starting with `dir/` are one contiguous range in byte
    /// order: from `dir/` up to (not including) `dir0`, `0` being `/` + 1.
    pub fn below(&self, dir: &[u8]) -> &[TrackedEntry] {
        if dir.is_empty() {
            return &self.entries;
        }
        let mut lo = dir.to_vec();
        lo.push(b'/');
        let start = self.entries.partition_point(|e| e.path < lo);
        *lo.last_mut().expect("non-empty") = b'/' + 1;
        let end = self.entries.partition_point(|e| e.path < lo);
        &self.entries[start..end]
    }
}

/// `path == dir` or `path` starts with `dir/`.
pub fn is_at_or_under(path: &[u8], dir: &[u8]) -> bool {
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}
