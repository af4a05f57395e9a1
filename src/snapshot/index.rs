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
const EXTENDED: u16 = 1 << 14;
/// Fixed part of an entry: ten 32-bit stat/mode fields, a SHA-1, flags.
const ENTRY_FIXED: usize = 40 + 20 + 2;

/// Parse an index file (versions 2, 3 and 4; git's `index-format.txt`).
/// Optional extensions (capitalised signatures) are skipped; a mandatory one
/// we do not understand (`link`: split index, `sdir`: sparse index) makes
/// the index unreadable here, and the caller falls back to the git CLI.
/// The trailing checksum is not verified: a torn index is git's to report.
/// `racy_since` is the index file's mtime (see [`TrackedEntry::stat`]).
pub fn parse(b: &[u8], racy_since: (i64, u32)) -> Result<Vec<TrackedEntry>, IndexUnreadable> {
    let bad = |what: &str| IndexUnreadable(format!("malformed index: {what}"));
    let be32 = |at: usize| -> Result<u32, IndexUnreadable> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    if b.len() < 12 + 20 || &b[..4] != b"DIRC" {
        return Err(bad("no DIRC header"));
    }
    let version = be32(4)?;
    if !(2..=4).contains(&version) {
        return Err(IndexUnreadable(format!(
            "unsupported index version {version}"
        )));
    }
    let count = be32(8)? as usize;
    let end_of_data = b.len() - 20;
    let mut entries: Vec<TrackedEntry> = Vec::with_capacity(count.min(1 << 24));
    let mut pos = 12;
    let mut prev_path: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = pos;
        if pos + ENTRY_FIXED > end_of_data {
            return Err(bad("truncated entry"));
        }
        let f = |i: usize| be32(start + 4 * i);
        let stat = IndexStat {
            ctime_s: f(0)?,
            ctime_ns: f(1)?,
            mtime_s: f(2)?,
            mtime_ns: f(3)?,
            ino: f(5)?,
            size: f(9)?,
        };
        let mode = f(6)?;
        let oid = Oid::from_bytes(&b[start + 40..start + 60]).map_err(|_| bad("object id"))?;
        let flags = u16::from_be_bytes([b[start + 60], b[start + 61]]);
        pos = start + ENTRY_FIXED;
        let mut ext_flags = 0u16;
        if flags & EXTENDED != 0 {
            if version < 3 || pos + 2 > end_of_data {
                return Err(bad("extended flags"));
            }
            ext_flags = u16::from_be_bytes([b[pos], b[pos + 1]]);
            pos += 2;
        }
        let path = if version == 4 {
            let (strip, used) = varint(&b[pos..end_of_data]).ok_or_else(|| bad("path prefix"))?;
            pos += used;
            let nul = b[pos..end_of_data]
                .iter()
                .position(|&c| c == 0)
                .ok_or_else(|| bad("path"))?;
            let keep = prev_path
                .len()
                .checked_sub(strip as usize)
                .ok_or_else(|| bad("path prefix"))?;
            let mut p = Vec::with_capacity(keep + nul);
            p.extend_from_slice(&prev_path[..keep]);
            p.extend_from_slice(&b[pos..pos + nul]);
            pos += nul + 1;
            p
        } else {
            let nul = b[pos..end_of_data]
                .iter()
                .position(|&c| c == 0)
                .ok_or_else(|| bad("path"))?;
            let p = b[pos..pos + nul].to_vec();
            // NUL-terminated, padded with NULs to a multiple of 8 bytes.
            pos = start + (pos - start + nul + 8) / 8 * 8;
            p
        };
        if mode & 0o170000 == 0o040000 {
            return Err(IndexUnreadable("sparse directory entries".into()));
        }
        let stage = (flags >> 12) & 0x3;
        let conflicted = stage != 0;
        let duplicate = conflicted && entries.last().is_some_and(|last| last.path == path);
        if version == 4 {
            prev_path.clone_from(&path);
        }
        if duplicate {
            // Several stages of one path: one entry, always hashed.
            continue;
        }
        // Racy: modified in the same second the index was written (git
        // compares whole seconds unless built with USE_NSEC, which the
        // usual builds are not); git itself re-checks the content, so do
        // we. It matters when attributes changed since: git then stores the
        // converted content, not the indexed blob.
        let racy = i64::from(stat.mtime_s) >= racy_since.0;
        let trusted = !conflicted && ext_flags & INTENT_TO_ADD == 0 && !racy;
        entries.push(TrackedEntry {
            mode,
            oid,
            stat: trusted.then_some(stat),
            skip_worktree: ext_flags & SKIP_WORKTREE != 0,
            path,
        });
    }
    // Extensions: 4-byte signature, 4-byte length, data.
    while pos + 8 <= end_of_data {
        let sig = &b[pos..pos + 4];
        let len = be32(pos + 4)? as usize;
        if !sig[0].is_ascii_uppercase() {
            return Err(IndexUnreadable(format!(
                "unsupported mandatory extension: '{}'",
                String::from_utf8_lossy(sig)
            )));
        }
        pos = pos
            .checked_add(8 + len)
            .ok_or_else(|| bad("extension length"))?;
    }
    Ok(entries)
}

/// git's offset varint (index v4 path prefix lengths): returns the value and
/// the bytes used.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut i = 0;
    let mut c = *b.get(i)?;
    i += 1;
    let mut val = u64::from(c & 127);
    while c & 128 != 0 {
        c = *b.get(i)?;
        i += 1;
        val = val.checked_add(1)?.checked_mul(128)? + u64::from(c & 127);
    }
    Some((val, i))
}

impl Tracked {
    /// Read the index at `path`; a missing index means nothing is tracked.
    ///
    /// The racy-entry check needs the mtime of the very file whose bytes were
    /// parsed, so the file is stat'ed before and after reading and read again
    /// if git replaced it in between.
    pub fn load(path: &Path) -> Result<Tracked, IndexUnreadable> {
        let stat_of = |path: &Path| match std::fs::metadata(path) {
            Ok(m) => Ok(Some(Stat::from_metadata(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IndexUnreadable(e.to_string())),
        };
        for _ in 0..5 {
            let Some(before) = stat_of(path)? else {
                return Ok(Tracked::default());
            };
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(IndexUnreadable(e.to_string())),
            };
            if stat_of(path)? != Some(before) {
                continue; // replaced while we read it
            }
            let entries = parse(&bytes, (before.mtime_s, before.mtime_ns))?;
            return Ok(Tracked {
                entries,
                index_stat: Some(before),
            });
        }
        Err(IndexUnreadable(
            "the index kept changing while it was read".into(),
        ))
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

/// Paths present in exactly one of two sorted entry lists.
pub fn added_or_removed(old: &[TrackedEntry], new: &[TrackedEntry]) -> Vec<Vec<u8>> {
    use std::cmp::Ordering;
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.path.cmp(&b.path),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                out.push(old[i].path.clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(new[j].path.clone());
                j += 1;
            }
            Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    out
}
