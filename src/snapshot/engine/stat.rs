//! File stat fingerprints and the two places a known blob id can come from
//! without reading the file: the user's index (read-only) and savepoint's own
//! stat cache. A fingerprint is trusted only if it is not "racy": the file's
//! mtime must be older than the moment its id was recorded (git's rule).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use crate::git::mode::{MODE_EXEC, MODE_FILE, MODE_LINK};

/// The parts of `lstat` that change when a file's content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub mtime_s: i64,
    pub mtime_ns: u32,
    pub ctime_s: i64,
    pub ctime_ns: u32,
    pub size: u64,
    pub ino: u64,
    /// The raw `st_mode` (type and permission bits).
    pub mode: u32,
}

impl Stat {
    pub(crate) fn from_metadata(m: &Metadata) -> Stat {
        Stat {
            mtime_s: m.mtime(),
            mtime_ns: m.mtime_nsec() as u32,
            ctime_s: m.ctime(),
            ctime_ns: m.ctime_nsec() as u32,
            size: m.size(),
            ino: m.ino(),
            mode: m.mode(),
        }
    }

    pub(crate) fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }

    pub(crate) fn is_symlink(&self) -> bool {
        self.mode & 0o170000 == 0o120000
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    /// The git mode this file gets in a tree (`filemode`: honour exec bit).
    pub(crate) fn git_mode(&self, filemode: bool) -> u32 {
        if self.is_symlink() {
            MODE_LINK
        } else if filemode && self.mode & 0o100 != 0 {
            MODE_EXEC
        } else {
            MODE_FILE
        }
    }

    /// `true` when the file was modified at or after `since` (minus a one
    /// second margin for coarse filesystem clocks): its recorded id may
    /// describe an older content with the same stat.
    pub(crate) fn is_racy(&self, since: (i64, u32)) -> bool {
        (self.mtime_s, self.mtime_ns) >= (since.0 - 1, since.1)
    }

    /// Compare against an index entry's stat data the way git does (32-bit
    /// truncated fields; nanoseconds only when the index recorded them).
    pub(crate) fn matches_index(&self, e: &IndexStat) -> bool {
        fn time_eq(s: i64, ns: u32, is: u32, ins: u32) -> bool {
            s as u32 == is && (ins == 0 || ns == ins)
        }
        time_eq(self.mtime_s, self.mtime_ns, e.mtime_s, e.mtime_ns)
            && time_eq(self.ctime_s, self.ctime_ns, e.ctime_s, e.ctime_ns)
            && self.size as u32 == e.size
            && (e.ino == 0 || self.ino as u32 == e.ino)
    }
}

/// Stat data as the index stores it (truncated to 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStat {
    pub mtime_s: u32,
    pub mtime_ns: u32,
    pub ctime_s: u32,
    pub ctime_ns: u32,
    pub size: u32,
    pub ino: u32,
}
