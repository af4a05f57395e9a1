//! Writing file contents as blobs. Small files are read, hashed in memory and
//! written only when the object store lacks them (no redundant writes, no
//! `utime` "freshening" of existing objects). Large files, and repositories
//! with attribute-driven filters (`core.autocrlf`, `.gitattributes`), go
//! through libgit2's streaming, filter-aware path like `git add` would.

use std::io;
use std::path::Path;

use git2::{ObjectType, Odb, OdbLookupFlags, Oid, Repository};

/// Files above this are streamed instead of read into memory.
const STREAM_THRESHOLD: u64 = 8 << 20;

/// Why a file could not become a blob: the file (vanished, unreadable —
/// it is left out or keeps its indexed content) or the object store (full
/// disk, read-only `.git/objects` — the snapshot fails: nothing may be
/// silently dropped).
#[derive(Debug)]
pub enum HashError {
    Read(io::Error),
    Store(String),
}

impl From<git2::Error> for HashError {
    fn from(e: git2::Error) -> Self {
        HashError::Store(e.message().to_owned())
    }
}

/// A per-thread handle for writing blobs.
pub struct BlobWriter {
    repo: Repository,
    apply_filters: bool,
}

impl BlobWriter {
    /// A handle on the repository at `git_dir` whose work tree is
    /// `workdir` (filters and attributes are looked up there).
    pub fn open(
        git_dir: &Path,
        workdir: &Path,
        apply_filters: bool,
    ) -> Result<BlobWriter, git2::Error> {
        Ok(BlobWriter {
            repo: crate::repo::reopen(git_dir, workdir)?,
            apply_filters,
        })
    }

    /// Hash and store a regular file.
    /// Returns the id and whether a new object may have been written.
    pub fn write_file(&self, abs: &Path, size: u64) -> Result<(Oid, bool), HashError> {
        if self.apply_filters || size > STREAM_THRESHOLD {
            // Surface open errors (vanished, unreadable) as read errors
            // first; what libgit2 reports after that is about the store.
            drop(std::fs::File::open(abs).map_err(HashError::Read)?);
            return Ok((self.repo.blob_path(abs)?, true));
        }
        let data = std::fs::read(abs).map_err(HashError::Read)?;
        self.write_bytes(&data)
    }

    /// Hash and store a symlink's target.
    pub fn write_link(&self, abs: &Path) -> Result<(Oid, bool), HashError> {
        use std::os::unix::ffi::OsStrExt;
        let target = std::fs::read_link(abs).map_err(HashError::Read)?;
        self.write_bytes(target.as_os_str().as_bytes())
    }

    fn write_bytes(&self, data: &[u8]) -> Result<(Oid, bool), HashError> {
        let odb = self.repo.odb()?;
        Ok(write_if_missing(&odb, ObjectType::Blob, data)?)
    }
}

/// Write an object unless the store already has it; `true` if written.
pub fn write_if_missing(
    odb: &Odb<'_>,
    kind: ObjectType,
    data: &[u8],
) -> Result<(Oid, bool), git2::Error> {
    let oid = Oid::hash_object(kind, data)?;
    if odb.exists_ext(oid, OdbLookupFlags::NO_REFRESH) {
        return Ok((oid, false));
    }
    Ok((odb.write(kind, data)?, true))
}

/// Could attribute filters change what `git add` stores? Checked once per
/// scan: `core.autocrlf`/`core.eol`, a root `.gitattributes`,
/// `info/attributes` or `core.attributesFile`.
pub fn filters_possible(repo: &Repository, workdir: &Path) -> bool {
    let cfg = repo.config().ok();
    let autocrlf = cfg
        .as_ref()
        .and_then(|c| c.get_string("core.autocrlf").ok())
        .is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "false" | "no" | "off" | "0"
            )
        });
    let eol = cfg
        .as_ref()
        .and_then(|c| c.get_string("core.eol").ok())
        .is_some();
    let attributes_file = cfg
        .as_ref()
        .and_then(|c| c.get_path("core.attributesFile").ok())
        .is_some_and(|p| p.is_file());
    autocrlf
        || eol
        || attributes_file
        || workdir.join(".gitattributes").is_file()
        || repo.commondir().join("info").join("attributes").is_file()
}
