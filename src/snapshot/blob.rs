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

/// A per-thread handle for writing blobs.
pub struct BlobWriter {
    repo: Repository,
    apply_filters: bool,
}

impl BlobWriter {
    pub fn open(git_dir: &Path, apply_filters: bool) -> Result<BlobWriter, git2::Error> {
        Ok(BlobWriter {
            repo: Repository::open(git_dir)?,
            apply_filters,
        })
    }

    /// Hash and store a regular file.
    /// Returns the id and whether a new object may have been written.
    pub fn write_file(&self, abs: &Path, size: u64) -> io::Result<(Oid, bool)> {
        if self.apply_filters || size > STREAM_THRESHOLD {
            // Surface open errors (vanished, unreadable) as io errors first.
            drop(std::fs::File::open(abs)?);
            return self
                .repo
                .blob_path(abs)
                .map(|oid| (oid, true))
                .map_err(git_to_io);
        }
        let data = std::fs::read(abs)?;
        self.write_bytes(&data)
    }

    /// Hash and store a symlink's target.
    pub fn write_link(&self, abs: &Path) -> io::Result<(Oid, bool)> {
        use std::os::unix::ffi::OsStrExt;
        let target = std::fs::read_link(abs)?;
        self.write_bytes(target.as_os_str().as_bytes())
    }

    fn write_bytes(&self, data: &[u8]) -> io::Result<(Oid, bool)> {
        let odb = self.repo.odb().map_err(git_to_io)?;
        write_if_missing(&odb, ObjectType::Blob, data).map_err(git_to_io)
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

fn git_to_io(e: git2::Error) -> io::Error {
    let kind = match e.code() {
        git2::ErrorCode::NotFound => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.message().to_owned())
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
