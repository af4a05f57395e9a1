//! Getting bytes onto the disk before success is reported: new objects are
//! flushed before a ref may point at them, and the ref and its reflog are
//! flushed before `snap` says "done". A few objects are flushed one by one
//! (precise, cheap); many (a cold first snapshot) or unknown ones (git CLI
//! fallback) are flushed for the whole object store at once. A recording
//! that writes many objects puts them in one pack instead (`git::pack`),
//! which flushes just that pack, its index and the pack directory.
//!
//! What "flushed" takes depends on the platform, and this file is the one
//! place that knows (its last section):
//! - Linux: `fsync` reaches stable storage, file by file; the whole store
//!   is one `syncfs`.
//! - macOS: `fsync` only hands the data to the drive, whose volatile cache
//!   can still lose it at a power cut; `fcntl(F_FULLFSYNC)` flushes that
//!   cache too — for everything written out before it, and at the price of
//!   a whole drive-cache flush. So, as git's `core.fsyncMethod=batch` does,
//!   a group of files is written out with plain `fsync` each and made
//!   durable by one `F_FULLFSYNC` at the end (`Batch`). There is no
//!   `syncfs`, and `sync` only starts the writes: the whole store is `sync`,
//!   then every file in it written out, then the one `F_FULLFSYNC`.
//! - Other Unixes: as macOS, without the cache flush (`fsync` is durable).
//!
//! One file on its own (the atomic writer) is [`sync_file`]: std's
//! `sync_all`, which already is `F_FULLFSYNC` on macOS.

use std::fs::File;
use std::io;
use std::path::Path;

use git2::Oid;

/// Above this many objects one flush of the whole store beats flushing
/// them one by one.
const PER_FILE_LIMIT: usize = 256;

/// Flush loose objects `ids` (or everything, when `all`) under `common_dir`.
pub fn sync_objects(common_dir: &Path, ids: &[Oid], all: bool) {
    let objects = common_dir.join("objects");
    if all || ids.len() > PER_FILE_LIMIT {
        sync_store(&objects);
        return;
    }
    // Each object file is flushed, not its fan-out directory: git's own
    // durability for loose objects (`core.fsync=committed` fsyncs the
    // object files and the refs, never their directories; a journalling
    // file system orders the directory entry before the ref that follows).
    // A deep path writes a dozen objects per snapshot, and the directory
    // flushes were half of a one-file snapshot's cost.
    let mut batch = Batch::default();
    for id in ids {
        let hex = id.to_string();
        let (dir, file) = hex.split_at(2);
        // Packed or pre-existing objects have no loose file; nothing to do.
        batch.add_file(&objects.join(dir).join(file));
    }
    batch.finish();
}

/// Flush files just written (a pack and its index under temporary names,
/// each with its path for messages) before they are renamed into place:
/// each written out, then one drive flush for all.
pub fn sync_new_files(files: &[(&File, &Path)]) {
    let mut batch = Batch::default();
    for (f, path) in files {
        match f.try_clone() {
            Ok(f) => batch.add(f, path, true),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "fsync failed"),
        }
    }
    batch.finish();
}

/// Flush directory `dir`, so that the renames into it last.
pub fn sync_dir(dir: &Path) {
    let mut batch = Batch::default();
    batch.add_dir(dir);
    batch.finish();
}

/// Flush a ref file and its reflog (loose, under `common_dir`).
pub fn sync_ref(common_dir: &Path, refname: &str) {
    let mut batch = Batch::default();
    for path in [
        common_dir.join(refname),
        common_dir.join("logs").join(refname),
    ] {
        batch.add_file(&path);
        if let Some(parent) = path.parent() {
            batch.add_dir(parent);
        }
    }
    batch.finish();
}

/// Flush one file so that it is durable on its own (before a rename makes
/// it visible): `File::sync_all`, `F_FULLFSYNC` on macOS. A macOS file
/// system without `F_FULLFSYNC` (SMB and other network mounts) answers
/// `ENOTSUP`; it then gets plain `fsync`, the most it offers.
pub fn sync_file(f: &File) -> io::Result<()> {
    match f.sync_all() {
        #[cfg(target_vendor = "apple")]
        Err(e) if rustix::io::Errno::from_io_error(&e) == Some(rustix::io::Errno::NOTSUP) => {
            Ok(rustix::fs::fsync(f)?)
        }
        result => result,
    }
}

/// Files written out one by one, durable once [`Batch::finish`] returns.
#[derive(Default)]
struct Batch {
    /// What the final flush goes through: the last file, else a directory.
    last: Option<File>,
    last_is_file: bool,
}

impl Batch {
    /// Write out the file at `path`; false if it cannot be opened.
    fn add_file(&mut self, path: &Path) -> bool {
        let Ok(f) = File::open(path) else {
            return false;
        };
        self.add(f, path, true);
        true
    }

    /// Write out a directory, so a rename or create inside it lasts.
    fn add_dir(&mut self, dir: &Path) {
        if let Ok(f) = File::open(dir) {
            self.add(f, dir, false);
        }
    }

    fn add(&mut self, f: File, path: &Path, is_file: bool) {
        if let Err(e) = write_out(&f) {
            tracing::warn!(path = %path.display(), error = %e, "fsync failed");
        }
        if is_file || !self.last_is_file {
            self.last = Some(f);
            self.last_is_file = is_file;
        }
    }

    /// Make everything added durable.
    fn finish(self) {
        if let Some(f) = self.last {
            flush_drive(&f);
        }
    }
}

// ---- Platform code: the only `cfg`s of this file. ----

/// Flush the whole object store: `syncfs` of its file system.
#[cfg(target_os = "linux")]
fn sync_store(objects: &Path) {
    if let Err(e) = File::open(objects).and_then(|f| rustix::fs::syncfs(&f).map_err(Into::into)) {
        tracing::warn!(error = %e, "syncfs failed; objects may not be on disk yet");
    }
}

/// Flush the whole object store without `syncfs`: `sync` starts every
/// write at once, then each file in the store (loose objects, packs) and
/// each directory is written out as a [`Batch`].
#[cfg(not(target_os = "linux"))]
fn sync_store(objects: &Path) {
    rustix::fs::sync();
    let entries = |dir: &Path| std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut batch = Batch::default();
    for dir in entries(objects) {
        if !dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for entry in entries(&dir.path()) {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                batch.add_file(&entry.path());
            }
        }
        batch.add_dir(&dir.path());
    }
    batch.add_dir(objects);
    batch.finish();
}

/// Write `f` out to the storage device: plain `fsync`. Durable by itself
/// except on macOS, where [`flush_drive`] must follow.
fn write_out(f: &File) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    return Ok(rustix::fs::fsync(f)?);
    #[cfg(not(target_vendor = "apple"))]
    f.sync_all()
}

/// macOS: flush the drive's cache (`F_FULLFSYNC` through `f`), making
/// everything written out before durable. Elsewhere there is nothing left
/// to do.
fn flush_drive(f: &File) {
    #[cfg(target_vendor = "apple")]
    if let Err(e) = rustix::fs::fcntl_fullfsync(f) {
        // ENOTSUP: a file system without it (network mounts); the
        // write-outs are all it offers.
        if e != rustix::io::Errno::NOTSUP {
            tracing::warn!(error = %e, "F_FULLFSYNC failed; the last writes may still sit in the drive's cache");
        }
    }
    #[cfg(not(target_vendor = "apple"))]
    let _ = f;
}
