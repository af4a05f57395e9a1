//! The file-system calls of the hot walk loop, done relative to an open
//! directory: list a directory with `getdents` and `lstat` its entries with
//! `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)`, so the kernel does not walk
//! the whole absolute path for each of 100k files. Unix only (rustix).

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use super::stat::Stat;

/// What `getdents` said an entry is (without a stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// FIFOs, sockets, devices.
    Special,
    /// The file system did not say (`DT_UNKNOWN`): stat to find out.
    Unknown,
}

/// Open a directory for listing and `stat_at`, without following a
/// symlink in its last component.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// The error of opening a directory that vanished or was replaced by a
/// file or symlink (`ENOENT`, `ENOTDIR`, `ELOOP` from `O_NOFOLLOW`).
pub fn is_gone(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::NOENT, Errno::NOTDIR, Errno::LOOP]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// The entries of an open directory, without `.` and `..`.
pub fn list(dir: &OwnedFd) -> io::Result<Vec<(CString, Kind)>> {
    let mut out = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Directory => Kind::Dir,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Symlink,
            FileType::Unknown => Kind::Unknown,
            _ => Kind::Special,
        };
        out.push((name.to_owned(), kind));
    }
    Ok(out)
}

/// `lstat` of `name` inside the open directory.
pub fn stat_at(dir: &OwnedFd, name: &CString) -> io::Result<Stat> {
    let s = rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
    // Field widths differ between architectures; these casts are exact.
    #[allow(clippy::unnecessary_cast)]
    Ok(Stat {
        mtime_s: s.st_mtime as i64,
        mtime_ns: s.st_mtime_nsec as u32,
        ctime_s: s.st_ctime as i64,
        ctime_ns: s.st_ctime_nsec as u32,
        size: s.st_size as u64,
        ino: s.st_ino as u64,
        mode: s.st_mode as u32,
    })
}
