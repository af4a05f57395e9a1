//! The user's index file, copied aside: the engine's git-CLI fallback runs
//! `git add -A` on a copy, and `squash` prepares the new index on one. A
//! copy must keep the original's mtime, or git misjudges which entries are
//! racily clean.

use std::path::Path;

use crate::error::{Error, Result};

/// Copy an index file keeping its mtime. git decides which entries are
/// "racily clean" (same-second modifications it must re-read) by comparing
/// them with the index file's mtime; a copy with a fresh mtime would make git
/// trust stale stat data and record old content.
pub fn copy_index(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map_err(|e| Error::io("copy the index to", to, e))?;
    let mtime = std::fs::metadata(from)
        .and_then(|m| m.modified())
        .map_err(|e| Error::io("stat", from, e))?;
    std::fs::File::options()
        .write(true)
        .open(to)
        .and_then(|f| f.set_modified(mtime))
        .map_err(|e| Error::io("set the mtime of", to, e))
}
