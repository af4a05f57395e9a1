//! savepoint's own stat cache in `<git-dir>/savepoint/stat-cache`: for files
//! whose stat no longer matches the user's index (new, modified, untracked),
//! the blob id we computed and the stat it was computed from. A re-snapshot
//! re-reads a file only when its stat changed or its entry is racy.
//!
//! Format (little endian): magic `SPSC`, version u32, recorded-at seconds
//! i64 + nanoseconds u32, count u64, then per entry: path length u32, path
//! bytes, mtime s/ns, ctime s/ns, size, ino, st_mode, git mode, conversion
//! key u64, 20-byte id.
//!
//! An id depends on more than the bytes on disk: `.gitattributes`,
//! `core.autocrlf` and filter drivers decide how git converts the content.
//! Each entry therefore carries the conversion key it was computed under
//! ([`super::attr::Conversion::key`]); after a rule change the key differs
//! and the file is hashed again, however old its stat.
//! Anything unexpected (other version, short file) means "start empty": the
//! cache is disposable, never a reason to fail.

use crate::workspace::state::StateFile;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::Oid;

use super::stat::Stat;

const MAGIC: &[u8; 4] = b"SPSC";

/// The `rules` of an entry whose id holds under any conversion that only
/// changes line endings — content without a carriage return, which no
/// CRLF → LF conversion changes (a file a restore wrote). Conversion keys
/// are 0 or odd: never this.
pub(crate) const ANY_EOL: u64 = 2;

/// A cached blob id with the stat it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheEntry {
    pub stat: Stat,
    pub mode: u32,
    /// The conversion key the id was computed under (0: raw bytes).
    pub rules: u64,
    pub oid: Oid,
}

/// The stat cache, keyed by repository-relative path bytes.
#[derive(Debug, Default)]
pub(crate) struct StatCache {
    pub entries: HashMap<Vec<u8>, CacheEntry>,
    /// When the entries were recorded (before the scan that produced them).
    pub recorded_at: (i64, u32),
    /// Files this process wrote itself (a restore), with the stat they had
    /// once written: their ids are known without reading them back. Only
    /// this process trusts them — their stat is too recent to pass the
    /// racy check of a later one — so they are never saved.
    pub written: HashMap<Vec<u8>, CacheEntry>,
}

impl StatCache {
    pub(crate) fn path_in(state_dir: &Path) -> PathBuf {
        StateFile::StatCache.path_in(state_dir)
    }

    /// Load, or start empty on any problem.
    pub(crate) fn load(path: &Path) -> StatCache {
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes).unwrap_or_else(|| {
                tracing::debug!(path = %path.display(), "stat cache unreadable or of another version; rebuilding");
                StatCache::default()
            }),
            Err(_) => StatCache::default(),
        }
    }

    /// The id recorded for `path` if `stat` still matches and is not racy,
    /// or that of a file this process wrote if `stat` is still the one it
    /// had then.
    pub(crate) fn lookup(&self, path: &[u8], stat: &Stat) -> Option<CacheEntry> {
        let recorded = self
            .entries
            .get(path)
            .filter(|e| e.stat == *stat && !stat.is_racy(self.recorded_at));
        recorded
            .or_else(|| self.written.get(path).filter(|e| e.stat == *stat))
            .copied()
    }

    fn decode(b: &[u8]) -> Option<StatCache> {
        let mut r = Reader(b);
        if r.take(4)? != MAGIC || r.u32()? != StateFile::StatCache.format() {
            return None;
        }
        let recorded_at = (r.i64()?, r.u32()?);
        let count = r.u64()? as usize;
        let mut entries = HashMap::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let len = r.u32()? as usize;
            let path = r.take(len)?.to_vec();
            let stat = Stat {
                mtime_s: r.i64()?,
                mtime_ns: r.u32()?,
                ctime_s: r.i64()?,
                ctime_ns: r.u32()?,
                size: r.u64()?,
                ino: r.u64()?,
                mode: r.u32()?,
            };
            let mode = r.u32()?;
            let rules = r.u64()?;
            let oid = Oid::from_bytes(r.take(20)?).ok()?;
            entries.insert(
                path,
                CacheEntry {
                    stat,
                    mode,
                    rules,
                    oid,
                },
            );
        }
        r.0.is_empty().then_some(StatCache {
            entries,
            recorded_at,
            written: HashMap::new(),
        })
    }

    fn encode(&self) -> Vec<u8> {
        // What only this process may trust stays out.
        let saved: Vec<(&Vec<u8>, &CacheEntry)> = self
            .entries
            .iter()
            .filter(|(path, e)| self.written.get(*path) != Some(*e))
            .collect();
        let mut out = Vec::with_capacity(32 + saved.len() * 100);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&StateFile::StatCache.format().to_le_bytes());
        out.extend_from_slice(&self.recorded_at.0.to_le_bytes());
        out.extend_from_slice(&self.recorded_at.1.to_le_bytes());
        out.extend_from_slice(&(saved.len() as u64).to_le_bytes());
        for (path, e) in saved {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            let s = &e.stat;
            out.extend_from_slice(&s.mtime_s.to_le_bytes());
            out.extend_from_slice(&s.mtime_ns.to_le_bytes());
            out.extend_from_slice(&s.ctime_s.to_le_bytes());
            out.extend_from_slice(&s.ctime_ns.to_le_bytes());
            out.extend_from_slice(&s.size.to_le_bytes());
            out.extend_from_slice(&s.ino.to_le_bytes());
            out.extend_from_slice(&s.mode.to_le_bytes());
            out.extend_from_slice(&e.mode.to_le_bytes());
            out.extend_from_slice(&e.rules.to_le_bytes());
            out.extend_from_slice(e.oid.as_bytes());
        }
        out
    }

    /// Write atomically. Failure only costs speed, so it is logged, not
    /// returned.
    pub(crate) fn save(&self, path: &Path) {
        let result =
            crate::fs::atomic::write_cache(path, &self.encode(), crate::fs::atomic::PRIVATE);
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not save the stat cache");
        }
    }
}

/// Reads the little-endian fields of a cache file (also the directory
/// cache's); `None` when the bytes run out.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub(super) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let mut c = StatCache {
            recorded_at: (100, 5),
            ..Default::default()
        };
        let stat = Stat {
            mtime_s: 1,
            mtime_ns: 2,
            ctime_s: 3,
            ctime_ns: 4,
            size: 5,
            ino: 6,
            mode: 0o100644,
        };
        c.entries.insert(
            b"a/\xffb".to_vec(),
            CacheEntry {
                stat,
                mode: 0o100644,
                rules: 42,
                oid: Oid::from_bytes(&[7; 20]).unwrap(),
            },
        );
        c.save(&path);
        let back = StatCache::load(&path);
        assert_eq!(back.entries, c.entries);
        assert_eq!(back.recorded_at, (100, 5));
        assert!(back.lookup(b"a/\xffb", &stat).is_some());

        // What this process wrote itself: trusted here however recent its
        // stat, never saved.
        let racy = Stat {
            mtime_s: 200,
            ..stat
        };
        let ours = CacheEntry {
            stat: racy,
            mode: 0o100644,
            rules: ANY_EOL,
            oid: Oid::from_bytes(&[8; 20]).unwrap(),
        };
        c.written.insert(b"ours".to_vec(), ours);
        assert_eq!(c.lookup(b"ours", &racy), Some(ours));
        assert_eq!(c.lookup(b"ours", &stat), None);
        c.entries.insert(b"ours".to_vec(), ours);
        c.save(&path);
        let back = StatCache::load(&path);
        assert!(!back.entries.contains_key(&b"ours"[..]));
        assert_eq!(back.entries.len(), 1);

        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4] = 99; // unknown version
        std::fs::write(&path, &bytes).unwrap();
        assert!(StatCache::load(&path).entries.is_empty());
        std::fs::write(&path, &bytes[..10]).unwrap();
        assert!(StatCache::load(&path).entries.is_empty());
    }
}
