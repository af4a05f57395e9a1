//! The directory cache in `<git-dir>/savepoint/dir-cache`: what each
//! directory of the work tree held (names and `d_type`s, exactly as
//! `getdents` returned them) and the directory's own stat when it was
//! listed. A one-shot scan that finds a directory with the same stat
//! reuses the listing instead of reading the directory again (on ext4 a
//! listing costs as much as stat-ing every file in it); everything else —
//! ignore rules, attributes, the stat of every entry — is applied to the
//! names exactly as for a fresh listing, so rule and config changes need no
//! invalidation here.
//!
//! A directory's stat changes whenever an entry is created, removed or
//! renamed in it (mtime and ctime), and when the directory itself is
//! replaced (inode). A listing is trusted only when the directory's
//! mtime, ctime and inode all equal the recorded ones *and* its mtime is
//! safely older than the moment the listing was taken (git's racy rule, as
//! in the stat cache): an entry added within the same clock tick as the
//! listing cannot hide behind an unchanged timestamp. Equality, not
//! "not newer", so a directory whose mtime was set back (`touch -d`, an
//! archive restore) is listed again; the ctime, which nobody can set back,
//! catches a change followed by a restored mtime.
//!
//! Format (little endian): magic `SPDC`, version u32, recorded-at seconds
//! i64 + nanoseconds u32, count u64, then per directory: path length u32,
//! path bytes, mtime s/ns, ctime s/ns, ino, then the listing's length u32
//! and bytes ([`Names`]: per entry a kind byte, the name, a NUL). Anything
//! unexpected means "start empty": the cache is disposable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::Reader;
use super::fsys::Names;
use super::stat::Stat;
use crate::workspace::state::StateFile;

const MAGIC: &[u8; 4] = b"SPDC";

/// The parts of a directory's stat that change when its entries do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirStat {
    pub mtime_s: i64,
    pub mtime_ns: u32,
    pub ctime_s: i64,
    pub ctime_ns: u32,
    pub ino: u64,
}

impl DirStat {
    pub(crate) fn of(s: &Stat) -> DirStat {
        DirStat {
            mtime_s: s.mtime_s,
            mtime_ns: s.mtime_ns,
            ctime_s: s.ctime_s,
            ctime_ns: s.ctime_ns,
            ino: s.ino,
        }
    }

    /// Changed at or after `since` (minus the stat cache's one-second
    /// margin for coarse clocks): a listing taken then may miss an entry
    /// added in the same tick.
    fn is_racy(&self, since: (i64, u32)) -> bool {
        let m = Stat {
            mtime_s: self.mtime_s,
            mtime_ns: self.mtime_ns,
            ctime_s: 0,
            ctime_ns: 0,
            size: 0,
            ino: 0,
            mode: 0,
        };
        let c = Stat {
            mtime_s: self.ctime_s,
            mtime_ns: self.ctime_ns,
            ..m
        };
        m.is_racy(since) || c.is_racy(since)
    }
}

/// One directory's listing with the stat it was taken under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedDir {
    pub stat: DirStat,
    pub names: Arc<Names>,
}

/// The directory cache, keyed by repository-relative directory path
/// (empty for the root).
#[derive(Debug, Default)]
pub(crate) struct DirCache {
    pub dirs: HashMap<Vec<u8>, CachedDir>,
    /// When the listings were taken (before the scan that took them).
    pub recorded_at: (i64, u32),
}

impl DirCache {
    pub(crate) fn path_in(state_dir: &Path) -> PathBuf {
        StateFile::DirCache.path_in(state_dir)
    }

    /// Load, or start empty on any problem.
    pub(crate) fn load(path: &Path) -> DirCache {
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes).unwrap_or_else(|| {
                tracing::debug!(path = %path.display(), "directory cache unreadable or of another version; rebuilding");
                DirCache::default()
            }),
            Err(_) => DirCache::default(),
        }
    }

    /// The recorded listing of `dir` if its stat is unchanged and was not
    /// racy when recorded.
    pub(crate) fn lookup(&self, dir: &[u8], stat: &DirStat) -> Option<&CachedDir> {
        let d = self.dirs.get(dir)?;
        (d.stat == *stat && !stat.is_racy(self.recorded_at)).then_some(d)
    }

    fn decode(b: &[u8]) -> Option<DirCache> {
        let mut r = Reader(b);
        if r.take(4)? != MAGIC || r.u32()? != StateFile::DirCache.format() {
            return None;
        }
        let recorded_at = (r.i64()?, r.u32()?);
        let count = r.u64()? as usize;
        let mut dirs = HashMap::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let len = r.u32()? as usize;
            let path = r.take(len)?.to_vec();
            let stat = DirStat {
                mtime_s: r.i64()?,
                mtime_ns: r.u32()?,
                ctime_s: r.i64()?,
                ctime_ns: r.u32()?,
                ino: r.u64()?,
            };
            let len = r.u32()? as usize;
            let names = Arc::new(Names::from_bytes(r.take(len)?.to_vec())?);
            dirs.insert(path, CachedDir { stat, names });
        }
        r.0.is_empty().then_some(DirCache { dirs, recorded_at })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.dirs.len() * 256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&StateFile::DirCache.format().to_le_bytes());
        out.extend_from_slice(&self.recorded_at.0.to_le_bytes());
        out.extend_from_slice(&self.recorded_at.1.to_le_bytes());
        let dirs: Vec<(&Vec<u8>, &CachedDir)> = self.dirs.iter().collect();
        out.extend_from_slice(&(dirs.len() as u64).to_le_bytes());
        for (path, d) in dirs {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            let s = &d.stat;
            out.extend_from_slice(&s.mtime_s.to_le_bytes());
            out.extend_from_slice(&s.mtime_ns.to_le_bytes());
            out.extend_from_slice(&s.ctime_s.to_le_bytes());
            out.extend_from_slice(&s.ctime_ns.to_le_bytes());
            out.extend_from_slice(&s.ino.to_le_bytes());
            let names = d.names.as_bytes();
            out.extend_from_slice(&(names.len() as u32).to_le_bytes());
            out.extend_from_slice(names);
        }
        out
    }

    /// Write atomically. Failure only costs speed, so it is logged.
    pub(crate) fn save(&self, path: &Path) {
        let result =
            crate::fs::atomic::write_cache(path, &self.encode(), crate::fs::atomic::PRIVATE);
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not save the directory cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mtime_s: i64, ctime_s: i64, ino: u64) -> DirStat {
        DirStat {
            mtime_s,
            mtime_ns: 5,
            ctime_s,
            ctime_ns: 6,
            ino,
        }
    }

    fn cache() -> DirCache {
        let mut c = DirCache {
            recorded_at: (1000, 0),
            ..Default::default()
        };
        c.dirs.insert(
            b"a/\xffb".to_vec(),
            CachedDir {
                stat: stat(100, 100, 7),
                names: Arc::new(
                    Names::from_bytes(b"\x02f\0\x01\xfe\0\x03l\0\x04p\0\x05u\0".to_vec()).unwrap(),
                ),
            },
        );
        c
    }

    #[test]
    fn round_trip_and_version_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let c = cache();
        c.save(&path);
        let back = DirCache::load(&path);
        assert_eq!(back.dirs, c.dirs);
        assert_eq!(back.recorded_at, (1000, 0));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4] = 99; // unknown version
        std::fs::write(&path, &bytes).unwrap();
        assert!(DirCache::load(&path).dirs.is_empty());
        std::fs::write(&path, &bytes[..30]).unwrap();
        assert!(DirCache::load(&path).dirs.is_empty());
        // A listing that is not one: an unknown kind, a name with a slash,
        // an empty name, a missing NUL.
        for bad in [&b"\x09f\0"[..], b"\x02a/b\0", b"\x02\0", b"\x02f"] {
            assert!(Names::from_bytes(bad.to_vec()).is_none(), "{bad:?}");
        }
    }

    /// Only an identical, non-racy stat reuses a listing: any change of
    /// mtime (also backwards), ctime or inode, and a directory changed
    /// within a second of the listing, is listed again.
    #[test]
    fn a_listing_is_reused_only_for_the_same_safely_old_stat() {
        let mut c = cache();
        let key = b"a/\xffb".as_slice();
        assert!(c.lookup(key, &stat(100, 100, 7)).is_some());
        assert!(c.lookup(key, &stat(99, 100, 7)).is_none(), "mtime set back");
        assert!(c.lookup(key, &stat(101, 100, 7)).is_none(), "mtime");
        assert!(c.lookup(key, &stat(100, 101, 7)).is_none(), "ctime");
        assert!(c.lookup(key, &stat(100, 100, 8)).is_none(), "replaced");
        assert!(c.lookup(b"other", &stat(100, 100, 7)).is_none());
        // Changed in the second before the listing was taken: racy.
        c.dirs.get_mut(key).unwrap().stat = stat(999, 100, 7);
        assert!(c.lookup(key, &stat(999, 100, 7)).is_none(), "racy mtime");
        c.dirs.get_mut(key).unwrap().stat = stat(100, 999, 7);
        assert!(c.lookup(key, &stat(100, 999, 7)).is_none(), "racy ctime");
        c.dirs.get_mut(key).unwrap().stat = stat(998, 998, 7);
        assert!(c.lookup(key, &stat(998, 998, 7)).is_some());
    }
}
