//! Getting bytes onto the disk before success is reported: new objects are
//! flushed before a ref may point at them, and the ref and its reflog are
//! flushed before `snap` says "done". A few objects are fsynced one by one
//! (precise, cheap); many (a cold first snapshot) or unknown ones (git CLI
//! fallback) flush the object store's filesystem once with `syncfs`.

use std::fs::File;
use std::path::Path;

use git2::Oid;

/// Above this many objects one `syncfs` beats per-file fsyncs.
const PER_FILE_LIMIT: usize = 256;

/// Flush loose objects `ids` (or everything, when `all`) under `common_dir`.
pub fn sync_objects(common_dir: &Path, ids: &[Oid], all: bool) {
    let objects = common_dir.join("objects");
    if all || ids.len() > PER_FILE_LIMIT {
        sync_filesystem(&objects);
        return;
    }
    let mut dirs: Vec<String> = Vec::new();
    for id in ids {
        let hex = id.to_string();
        let (dir, file) = hex.split_at(2);
        let path = objects.join(dir).join(file);
        // Packed or pre-existing objects have no loose file; nothing to do.
        if let Ok(f) = File::open(&path) {
            sync(&f, &path);
            dirs.push(dir.to_owned());
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        sync_dir(&objects.join(d));
    }
}

/// Flush a ref file and its reflog (loose, under `common_dir`).
pub fn sync_ref(common_dir: &Path, refname: &str) {
    for path in [
        common_dir.join(refname),
        common_dir.join("logs").join(refname),
    ] {
        if let Ok(f) = File::open(&path) {
            sync(&f, &path);
        }
        if let Some(parent) = path.parent() {
            sync_dir(parent);
        }
    }
}

/// fsync a file, logging (not failing) on error.
pub fn sync(f: &File, path: &Path) {
    if let Err(e) = f.sync_all() {
        tracing::warn!(path = %path.display(), error = %e, "fsync failed");
    }
}

/// fsync a directory so a rename or create inside it is durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        sync(&f, dir);
    }
}

/// Flush the whole file system holding `dir` (`syncfs`, Linux).
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|f| rustix::fs::syncfs(&f).map_err(Into::into)) {
        tracing::warn!(error = %e, "syncfs failed; objects may not be on disk yet");
    }
}

/// Flush every file system (`sync`): other Unixes have no `syncfs`.
#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_dir: &Path) {
    rustix::fs::sync();
}
