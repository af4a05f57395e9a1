//! The one fd-relative file layer: every write and delete savepoint makes
//! inside the work tree goes through a [`Dir`], an open directory file
//! descriptor, and names one entry of it.
//!
//! Checking a path (`lstat` each directory on the way) and then using it
//! (`open`, `rename`, `unlink` by path) leaves a window in which another
//! process can swap a directory for a symbolic link to anywhere, and the
//! write lands outside the work tree. Here a path is walked one component
//! at a time from the work tree's root descriptor with
//! `openat(O_DIRECTORY | O_NOFOLLOW)`: each step is relative to a directory
//! already verified and held open, a symbolic link is never followed, and
//! the final create / `renameat` / `unlinkat` / `symlinkat` / `fchmod` is
//! relative to the parent's descriptor. Whatever is renamed meanwhile, the
//! operation happens in the directory that was checked — or fails.
//!
//! Only safe `rustix` calls; no `unsafe`. Per-component `openat` rather than
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: it works on every Unix
//! kernel, gives the same guarantee, and yields each parent's descriptor,
//! which removing emptied directories needs anyway.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Whether [`Dir::replace`] can exchange two entries here; cleared at the
/// first refusal.
#[cfg(target_os = "linux")]
static EXCHANGE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// An open directory; names passed to its methods are single components
/// (no `/`), never followed when they are symbolic links.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// What is at a name, without following a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// FIFO, socket, device.
    Other,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn check_name(name: &[u8]) -> io::Result<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "not a single file name: {:?}",
                String::from_utf8_lossy(name)
            ),
        ));
    }
    Ok(())
}

impl Dir {
    /// Open the directory at `path` — a trusted location such as the work
    /// tree's root or the state dir, resolved as the kernel resolves it.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd })
    }

    /// The subdirectory `name`; a symbolic link or a non-directory there is
    /// an error ([`io::ErrorKind::NotFound`] when nothing is there).
    pub fn open_dir(&self, name: &[u8]) -> io::Result<Dir> {
        check_name(name)?;
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Dir { fd }),
            Err(Errno::LOOP | Errno::NOTDIR) => Err(self.not_a_dir(name)),
            Err(e) => Err(e.into()),
        }
    }

    /// [`Dir::open_dir`], creating the directory when it is missing.
    pub fn open_or_create_dir(&self, name: &[u8]) -> io::Result<Dir> {
        match self.open_dir(name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                self.open_dir(name)
            }
            other => other,
        }
    }

    fn not_a_dir(&self, name: &[u8]) -> io::Error {
        match self.kind(name) {
            Ok(Some(Kind::Symlink)) => io::Error::other(format!(
                "refusing to go through the symbolic link {}",
                OsStr::from_bytes(name).to_string_lossy()
            )),
            _ => io::Error::new(
                io::ErrorKind::NotADirectory,
                format!(
                    "{} is not a directory",
                    OsStr::from_bytes(name).to_string_lossy()
                ),
            ),
        }
    }

    /// What is at `name` (not following a symbolic link), `None` if nothing.
    pub fn kind(&self, name: &[u8]) -> io::Result<Option<Kind>> {
        check_name(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(kind_of(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove the file or symbolic link `name` (never a directory).
    pub fn remove_file(&self, name: &[u8]) -> io::Result<()> {
        check_name(name)?;
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// Remove the empty directory `name`.
    pub fn remove_dir(&self, name: &[u8]) -> io::Result<()> {
        check_name(name)?;
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?)
    }

    /// Create the new file `name` for writing with `mode` (less the umask);
    /// fails if anything is already there.
    pub fn create_file(&self, name: &[u8], mode: u32) -> io::Result<File> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            // Permission bits only: they fit every platform's `mode_t`.
            Mode::from_raw_mode((mode & 0o7777) as rustix::fs::RawMode),
        )?;
        Ok(File::from(fd))
    }

    /// A new file without a name (Linux's `O_TMPFILE`), its inode placed
    /// with this directory's: `Ok(None)` where the platform or the file
    /// system has no unnamed files. A crash before [`Dir::link_unnamed`]
    /// leaves nothing behind.
    pub fn create_unnamed(&self, mode: u32) -> io::Result<Option<File>> {
        #[cfg(target_os = "linux")]
        {
            let made = rustix::fs::openat(
                &self.fd,
                ".",
                OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
                Mode::from_raw_mode((mode & 0o7777) as rustix::fs::RawMode),
            );
            match made {
                Ok(fd) => Ok(Some(File::from(fd))),
                // No `O_TMPFILE` in this file system (or kernel).
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = mode;
            Ok(None)
        }
    }

    /// Give `file`, made by [`Dir::create_unnamed`] in a directory of the
    /// same file system, the new name `name` here (`Unsupported` where
    /// there are no unnamed files).
    pub fn link_unnamed(&self, file: &File, name: &[u8]) -> io::Result<()> {
        check_name(name)?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            match rustix::fs::linkat(file, "", &self.fd, name, AtFlags::EMPTY_PATH) {
                // `AT_EMPTY_PATH` needs CAP_DAC_READ_SEARCH; the descriptor's
                // link in /proc does not.
                Err(Errno::NOENT | Errno::PERM | Errno::ACCESS) => {
                    let fd_link = format!("/proc/self/fd/{}", file.as_raw_fd());
                    Ok(rustix::fs::linkat(
                        rustix::fs::CWD,
                        fd_link.as_str(),
                        &self.fd,
                        name,
                        AtFlags::SYMLINK_FOLLOW,
                    )?)
                }
                other => Ok(other?),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = file;
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// Open the existing regular file `name` for reading, never a symbolic
    /// link, and without blocking on a FIFO.
    pub fn open_file(&self, name: &[u8]) -> io::Result<File> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if kind_of(rustix::fs::fstat(&fd)?.st_mode) != Kind::File {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(File::from(fd))
    }

    /// Create the symbolic link `name` pointing to `target`.
    pub fn symlink(&self, target: &[u8], name: &[u8]) -> io::Result<()> {
        check_name(name)?;
        Ok(rustix::fs::symlinkat(target, &self.fd, name)?)
    }

    /// Put `from` (an entry here) at `to` in `dest`, replacing the file or
    /// symbolic link there: the name holds the old entry or the new one at
    /// every moment. On Linux the two are exchanged (`RENAME_EXCHANGE`) and
    /// the old entry, now at `from`, is removed: a plain rename over a file
    /// makes ext4 start writing the new file's data out before it returns
    /// (`auto_da_alloc`), most of a restore's time. A directory that
    /// appeared at `to` meanwhile is exchanged back and left as it is (an
    /// error, as a rename over it would be). Where there is no exchange, or
    /// nothing at `to`, a plain rename.
    pub fn replace(&self, from: &[u8], dest: &Dir, to: &[u8]) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        #[cfg(target_os = "linux")]
        if EXCHANGE.load(std::sync::atomic::Ordering::Relaxed) {
            use rustix::fs::RenameFlags;
            match rustix::fs::renameat_with(&self.fd, from, &dest.fd, to, RenameFlags::EXCHANGE) {
                Ok(()) => {
                    if self.kind(from)? == Some(Kind::Dir) {
                        rustix::fs::renameat_with(
                            &self.fd,
                            from,
                            &dest.fd,
                            to,
                            RenameFlags::EXCHANGE,
                        )?;
                        return Err(io::Error::from_raw_os_error(Errno::ISDIR.raw_os_error()));
                    }
                    // The new entry is in place. An old one left here (in a
                    // temporary directory) is swept up later.
                    let _ = self.remove_file(from);
                    return Ok(());
                }
                // Nothing at `to`: the rename below creates it.
                Err(Errno::NOENT) => {}
                // This file system (or kernel) cannot exchange.
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    EXCHANGE.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rustix::fs::renameat(&self.fd, from, &dest.fd, to)?)
    }

    /// The file system this directory lives on (`st_dev`).
    pub fn device(&self) -> io::Result<u64> {
        // `dev_t` is u64 on Linux, i32 on macOS; the value is only compared.
        #[allow(clippy::unnecessary_cast)]
        Ok(rustix::fs::fstat(&self.fd)?.st_dev as u64)
    }

    /// Walk `components` down from `self`, creating missing directories when
    /// `create`, and return the last one (`self` again, duplicated, for no
    /// components). Only one descriptor is held at a time, however deep
    /// the path. A symbolic link or a file on the way is an error naming
    /// the path up to it; nothing there, [`io::ErrorKind::NotFound`].
    pub fn walk(&self, components: &[&[u8]], create: bool) -> io::Result<Dir> {
        let mut dir = Dir {
            fd: self.fd.try_clone()?,
        };
        for (i, comp) in components.iter().enumerate() {
            let next = if create {
                dir.open_or_create_dir(comp)
            } else {
                dir.open_dir(comp)
            };
            dir = match next {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => {
                    let shown = String::from_utf8_lossy(&components[..=i].join(&b'/')).into_owned();
                    return Err(match dir.kind(comp) {
                        Ok(Some(Kind::Symlink)) => io::Error::other(format!(
                            "refusing to go through the symbolic link {shown}"
                        )),
                        Ok(Some(Kind::File | Kind::Other)) => io::Error::other(format!(
                            "{shown} is in the way (a file savepoint does not manage, e.g. an ignored one)"
                        )),
                        _ => e,
                    });
                }
            };
        }
        Ok(dir)
    }
}

/// Change the exec bits of the regular file `name` in `dir` like
/// `chmod +x` / `chmod -x` (execute where read is allowed), through its
/// descriptor.
pub fn set_exec(dir: &Dir, name: &[u8], exec: bool) -> io::Result<()> {
    let f = dir.open_file(name)?;
    let mode = rustix::fs::fstat(&f)?.st_mode & 0o7777;
    let new = if exec {
        mode | ((mode & 0o444) >> 2)
    } else {
        mode & !0o111
    };
    Ok(rustix::fs::fchmod(&f, Mode::from_raw_mode(new))?)
}

fn kind_of(mode: rustix::fs::RawMode) -> Kind {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unnamed file has no entry anywhere until it is linked, then it
    /// has exactly the one name, with its content and (umasked) mode.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_unnamed_file_appears_only_when_linked() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        for d in ["dest", "names"] {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
        }
        let dest = Dir::open(&tmp.path().join("dest")).unwrap();
        let names = Dir::open(&tmp.path().join("names")).unwrap();
        let Some(mut f) = dest.create_unnamed(0o777).unwrap() else {
            return; // this file system has no O_TMPFILE: nothing to check
        };
        f.write_all(b"content").unwrap();
        let listed = |d: &str| std::fs::read_dir(tmp.path().join(d)).unwrap().count();
        assert_eq!((listed("dest"), listed("names")), (0, 0));
        names.link_unnamed(&f, b"t").unwrap();
        assert_eq!((listed("dest"), listed("names")), (0, 1));
        // A taken name is never replaced, not even a symbolic link's.
        std::os::unix::fs::symlink("../elsewhere", tmp.path().join("dest/t")).unwrap();
        let taken = dest.link_unnamed(&f, b"t").unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AlreadyExists, "{taken}");
        let target = std::fs::read_link(tmp.path().join("dest/t")).unwrap();
        assert_eq!(target, Path::new("../elsewhere"));
        assert!(!tmp.path().join("elsewhere").exists());
        std::fs::remove_file(tmp.path().join("dest/t")).unwrap();
        drop(f);
        let p = tmp.path().join("names/t");
        assert_eq!(std::fs::read(&p).unwrap(), b"content");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o100, 0o100, "{mode:o}");
        assert!(names
            .link_unnamed(&File::open(&p).unwrap(), b"a/b")
            .is_err());
    }

    /// `replace` puts the new entry in place of a file, of a symbolic link
    /// (not what it points to) or of nothing, takes the old entry away,
    /// and leaves a directory in the way as it is.
    #[test]
    fn replacing_swaps_the_entry_and_never_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, temp) = (tmp.path().join("root"), tmp.path().join("temp"));
        for d in [&root, &temp, &tmp.path().join("outside")] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(root.join("file"), "old").unwrap();
        std::fs::write(tmp.path().join("outside/target"), "outside").unwrap();
        std::os::unix::fs::symlink("../outside/target", root.join("link")).unwrap();
        std::fs::create_dir(root.join("dir")).unwrap();
        std::fs::write(root.join("dir/inner"), "kept").unwrap();
        let (dir, tdir) = (Dir::open(&root).unwrap(), Dir::open(&temp).unwrap());
        for (name, content) in [
            ("file", "new"),
            ("link", "not a link"),
            ("absent", "created"),
        ] {
            std::fs::write(temp.join("t"), content).unwrap();
            tdir.replace(b"t", &dir, name.as_bytes()).unwrap();
            assert_eq!(std::fs::read_to_string(root.join(name)).unwrap(), content);
            assert_eq!(dir.kind(name.as_bytes()).unwrap(), Some(Kind::File));
            assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0, "{name}");
        }
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("outside/target")).unwrap(),
            "outside"
        );
        std::fs::write(temp.join("t"), "x").unwrap();
        assert!(tdir.replace(b"t", &dir, b"dir").is_err());
        assert_eq!(
            std::fs::read_to_string(root.join("dir/inner")).unwrap(),
            "kept"
        );
        assert_eq!(std::fs::read_to_string(temp.join("t")).unwrap(), "x");
        assert!(tdir.replace(b"t", &dir, b"../escape").is_err());
    }

    #[test]
    fn never_goes_through_a_symbolic_link() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        let dir = Dir::open(&root).unwrap();
        let err = dir.walk(&[b"link", b"deeper"], true).unwrap_err();
        assert!(err.to_string().contains("symbolic link link"), "{err}");
        let err = dir.walk(&[b"file", b"x"], true).unwrap_err();
        assert!(err.to_string().contains("in the way"), "{err}");
        assert_eq!(
            dir.walk(&[b"missing"], false).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(dir.open_file(b"link").is_err());
        assert!(dir.create_file(b"link", 0o644).is_err());
        assert!(dir.create_file(b"../escape", 0o644).is_err());
        assert!(set_exec(&dir, b"link", true).is_err());
        // Creating, renaming and removing stay in `root`.
        let b = dir.walk(&[b"a", b"b"], true).unwrap();
        b.symlink(b"../../link", b"l").unwrap();
        b.replace(b"l", &dir, b"moved").unwrap();
        assert_eq!(dir.kind(b"moved").unwrap(), Some(Kind::Symlink));
        dir.remove_file(b"moved").unwrap();
        dir.walk(&[b"a"], false).unwrap().remove_dir(b"b").unwrap();
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        set_exec(&dir, b"file", true).unwrap();
        assert_eq!(
            rustix::fs::stat(root.join("file")).unwrap().st_mode & 0o111,
            (rustix::fs::stat(root.join("file")).unwrap().st_mode & 0o444) >> 2
        );
    }
}
