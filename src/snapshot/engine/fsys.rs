//! The file-system calls of the hot walk loop, done relative to an open
//! directory: list a directory with `getdents` and `lstat` its entries with
//! `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)`, so the kernel does not walk
//! the whole absolute path for each of 100k files. Unix only (rustix).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
use rustix::fs::Dir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::stat::Stat;

/// What `getdents` said an entry is (without a stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// The error of opening a directory that vanished or was replaced by a
/// file or symlink (`ENOENT`, `ENOTDIR`, `ELOOP` from `O_NOFOLLOW`).
pub(crate) fn is_gone(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::NOENT, Errno::NOTDIR, Errno::LOOP]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// The entries of an open directory, without `.` and `..`.
pub(crate) fn list(dir: &OwnedFd) -> io::Result<Vec<(CString, Kind)>> {
    let mut out = Vec::new();
    each_entry(dir, |name, kind| out.push((name.to_owned(), kind)))?;
    Ok(out)
}

/// [`list`] packed into [`Names`] (one allocation for the directory).
pub(crate) fn list_packed(dir: &OwnedFd) -> io::Result<Names> {
    let mut names = Names::default();
    each_entry(dir, |name, kind| names.push(name.to_bytes(), kind))?;
    Ok(names)
}

/// Call `f` for each entry of an open directory but `.` and `..`. On
/// Linux the directory is read straight through `dir` with `getdents64`
/// (no second descriptor opened, queried and closed per directory, as
/// `Dir::read_from` would): `dir` must be freshly opened (at offset 0)
/// and is left at its end, which is all the walk needs.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn each_entry(dir: &OwnedFd, mut f: impl FnMut(&CStr, Kind)) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(32 * 1024);
    loop {
        let cap = buf.capacity();
        let mut iter = rustix::fs::RawDir::new(dir, buf.spare_capacity_mut());
        let mut grow = false;
        while let Some(entry) = iter.next() {
            let entry = match entry {
                // A name longer than the buffer: grow it and go on where
                // this read stopped (the descriptor keeps the position).
                // Names are at most 255 bytes, so past 1 MiB it is some
                // other problem, reported as such.
                Err(rustix::io::Errno::INVAL) if cap < 1 << 20 => {
                    grow = true;
                    break;
                }
                r => r?,
            };
            let name = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            f(name, kind_of(entry.file_type()));
        }
        if !grow {
            return Ok(());
        }
        buf.reserve(cap * 2);
    }
}

/// Call `f` for each entry of an open directory but `.` and `..`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn each_entry(dir: &OwnedFd, mut f: impl FnMut(&CStr, Kind)) -> io::Result<()> {
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        f(name, kind_of(entry.file_type()));
    }
    Ok(())
}

/// A directory's entries packed in one buffer (one allocation per
/// directory, not per name): per entry a [`Kind`] byte, the name, a NUL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Names {
    buf: Vec<u8>,
}

impl Names {
    fn push(&mut self, name: &[u8], kind: Kind) {
        self.buf.push(kind.to_byte());
        self.buf.extend_from_slice(name);
        self.buf.push(0);
    }

    /// The packed bytes (for the directory cache's file).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Take packed bytes back, checking every entry: a known kind, a
    /// non-empty name without `/`, NUL-terminated.
    pub(crate) fn from_bytes(buf: Vec<u8>) -> Option<Names> {
        let mut rest = buf.as_slice();
        while let Some((&k, tail)) = rest.split_first() {
            Kind::from_byte(k)?;
            let end = tail.iter().position(|&b| b == 0)?;
            if end == 0 || tail[..end].contains(&b'/') {
                return None;
            }
            rest = &tail[end + 1..];
        }
        Some(Names { buf })
    }

    /// The entries, in listing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&CStr, Kind)> {
        let mut rest = self.buf.as_slice();
        std::iter::from_fn(move || {
            let (&k, tail) = rest.split_first()?;
            let end = tail.iter().position(|&b| b == 0)?;
            let name = CStr::from_bytes_with_nul(&tail[..=end]).ok()?;
            rest = &tail[end + 1..];
            Some((name, Kind::from_byte(k).unwrap_or(Kind::Unknown)))
        })
    }
}

impl Kind {
    fn to_byte(self) -> u8 {
        match self {
            Kind::Dir => 1,
            Kind::File => 2,
            Kind::Symlink => 3,
            Kind::Special => 4,
            Kind::Unknown => 5,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Dir,
            2 => Kind::File,
            3 => Kind::Symlink,
            4 => Kind::Special,
            5 => Kind::Unknown,
            _ => return None,
        })
    }
}

/// What a directory entry's `d_type` says.
fn kind_of(t: FileType) -> Kind {
    match t {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        FileType::Unknown => Kind::Unknown,
        _ => Kind::Special,
    }
}

/// `fstat` of an open file or directory.
pub(crate) fn stat_fd(fd: &OwnedFd) -> io::Result<Stat> {
    Ok(from_raw(&rustix::fs::fstat(fd)?))
}

/// `lstat` of `name` inside the open directory.
pub(crate) fn stat_at(dir: &OwnedFd, name: &CStr) -> io::Result<Stat> {
    let s = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(from_raw(&s))
}

fn from_raw(s: &rustix::fs::Stat) -> Stat {
    // Field widths differ between architectures; these casts are exact.
    #[allow(clippy::unnecessary_cast)]
    Stat {
        mtime_s: s.st_mtime as i64,
        mtime_ns: s.st_mtime_nsec as u32,
        ctime_s: s.st_ctime as i64,
        ctime_ns: s.st_ctime_nsec as u32,
        size: s.st_size as u64,
        ino: s.st_ino as u64,
        mode: s.st_mode as u32,
    }
}

/// Does `dir` hold a nested repository git would record as a gitlink? Like
/// git's `is_nonbare_repository_dir`: its `.git` is a git directory, or a
/// `gitdir:` file naming one. A dangling `.git` file or an empty `.git`
/// directory does not count: git then adds the directory's files (and
/// skips only the `.git` entry itself).
pub(crate) fn is_nested_repo(dir: &Path) -> bool {
    let dot_git = dir.join(".git");
    let Ok(meta) = std::fs::symlink_metadata(&dot_git) else {
        return false;
    };
    if meta.is_dir() {
        return is_git_directory(&dot_git);
    }
    if !meta.is_file() {
        return false;
    }
    let Ok(text) = std::fs::read(&dot_git) else {
        return false;
    };
    let Some(target) = text
        .strip_prefix(b"gitdir: ")
        .map(|t| t.strip_suffix(b"\n").unwrap_or(t))
        .map(|t| t.strip_suffix(b"\r").unwrap_or(t))
    else {
        return false;
    };
    use std::os::unix::ffi::OsStrExt;
    let target = Path::new(std::ffi::OsStr::from_bytes(target));
    is_git_directory(&dir.join(target))
}

/// git's `is_git_directory`: `HEAD` names a ref or a commit, and objects
/// and refs exist (in the common dir for a linked work tree).
fn is_git_directory(git_dir: &Path) -> bool {
    let head_ok = std::fs::read(git_dir.join("HEAD")).is_ok_and(|h| {
        h.starts_with(b"ref:") || (h.len() >= 40 && h.iter().take(40).all(u8::is_ascii_hexdigit))
    });
    if !head_ok {
        return false;
    }
    let common = match std::fs::read(git_dir.join("commondir")) {
        Ok(c) => {
            use std::os::unix::ffi::OsStrExt;
            let c = c.strip_suffix(b"\n").unwrap_or(&c).to_vec();
            git_dir.join(std::ffi::OsStr::from_bytes(&c))
        }
        Err(_) => git_dir.to_path_buf(),
    };
    common.join("objects").is_dir() && common.join("refs").is_dir()
}

const DIR_AT: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The subdirectory `name` of an open directory, never through a symlink
/// (`ELOOP`/`ENOTDIR` when it was swapped for one: see [`is_gone`]).
pub(crate) fn open_dir_at(dir: &OwnedFd, name: &CStr) -> io::Result<OwnedFd> {
    rustix::fs::openat(dir, name, DIR_AT, Mode::empty()).map_err(io::Error::from)
}

/// The directory `rel` below the work tree root `workdir`, walked one
/// component at a time from the root's descriptor, never through a
/// symlink: whatever is swapped meanwhile, the result lies inside the tree.
pub(crate) fn open_dir_beneath(workdir: &Path, rel: &[u8]) -> io::Result<OwnedFd> {
    let mut fd = open_dir(workdir)?;
    for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let name = CString::new(comp).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        fd = open_dir_at(&fd, &name)?;
    }
    Ok(fd)
}

/// Open the regular file `name` of an open directory for reading: never a
/// symlink (`O_NOFOLLOW`), never blocking on a FIFO swapped in meanwhile.
pub(crate) fn open_file_at(dir: &OwnedFd, name: &CStr) -> io::Result<std::fs::File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => io::Error::other("replaced by a symbolic link while being read"),
        e => io::Error::from(e),
    })?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("no longer a regular file"));
    }
    Ok(std::fs::File::from(fd))
}

/// The target of the symlink `name` of an open directory.
pub(crate) fn read_link_at(dir: &OwnedFd, name: &CStr) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory larger than one `getdents` buffer is listed completely,
    /// each entry once, with its type, and without `.` and `..`.
    #[test]
    fn list_reads_a_directory_larger_than_one_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let long = "n".repeat(200);
        for i in 0..1500 {
            std::fs::write(dir.path().join(format!("{long}{i}")), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("link")).unwrap();
        let fd = open_dir(dir.path()).unwrap();
        let mut names: Vec<(Vec<u8>, Kind)> = list(&fd)
            .unwrap()
            .into_iter()
            .map(|(n, k)| (n.into_bytes(), k))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(names.len(), 1502);
        names.dedup_by(|a, b| a.0 == b.0);
        assert_eq!(names.len(), 1502, "an entry came twice");
        assert!(names.contains(&(b"sub".to_vec(), Kind::Dir)));
        assert!(names.contains(&(b"link".to_vec(), Kind::Symlink)));
        assert!(names.contains(&(format!("{long}1499").into_bytes(), Kind::File)));
        assert!(!names.iter().any(|(n, _)| n == b"." || n == b".."));
    }
}
