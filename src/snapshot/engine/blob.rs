//! Writing file contents as blobs, with the content conversions `git add`
//! applies. Files without any conversion (see [`super::attr`]) take the fast
//! path: read, hashed in memory and written only when the object store
//! lacks them (no redundant writes, no `utime` "freshening"); files above
//! 8 MiB are streamed in chunks straight into the object store (loose
//! objects; the others may go into a pack, see [`super::objects`]). Line-ending
//! normalisation (`text`, `eol`, `core.autocrlf`) is done here exactly as
//! git's `convert.c` does it. Clean filters, the long-running `process`
//! protocol, `working-tree-encoding` and `ident` are git's own: those files
//! are hashed by `git hash-object -w --stdin-paths`, one batch per scan
//! ([`hash_with_git`]).

use std::io::{self, Read, Write};
use std::path::Path;

use git2::{ObjectType, Odb, OdbLookupFlags, Oid, Repository};

use super::attr::Eol;
use super::objects::{ObjectSink, Stored};
use crate::error::StoreError;
use crate::git::command::GitCmd;

/// Files above this are streamed instead of read into memory.
const STREAM_THRESHOLD: u64 = 8 << 20;
/// Read size when streaming.
const CHUNK: usize = 1 << 20;
/// A file that shrinks while it is streamed is read again this many times.
const STREAM_ATTEMPTS: usize = 3;

/// Why a file could not become a blob: the file (vanished, unreadable,
/// kept changing — it is left out or keeps its indexed content) or the
/// object store (full disk, read-only `.git/objects` — the snapshot fails:
/// nothing may be silently dropped).
#[derive(Debug)]
pub(crate) enum HashError {
    Read(io::Error),
    Store(StoreError),
}

impl From<git2::Error> for HashError {
    fn from(e: git2::Error) -> Self {
        HashError::Store(StoreError::Git(e))
    }
}

/// A per-thread handle for writing blobs.
pub(crate) struct BlobWriter {
    repo: Repository,
    /// Where new blobs go (`None`: loose objects).
    sink: Option<std::sync::Arc<ObjectSink>>,
}

impl BlobWriter {
    pub(crate) fn open(
        git_dir: &Path,
        sink: Option<std::sync::Arc<ObjectSink>>,
    ) -> Result<BlobWriter, git2::Error> {
        Ok(BlobWriter {
            repo: Repository::open(git_dir)?,
            sink,
        })
    }

    /// Hash and store the raw bytes of an open regular file (opened by the
    /// caller without following symlinks: see `fsys::open_file_at`).
    /// Returns the id and whether a new loose object may have been written
    /// (objects the sink kept are its to report: see `super::objects`).
    /// `bytes` (a progress counter) advances as the file is read.
    pub(crate) fn write_file(
        &self,
        mut f: std::fs::File,
        size: u64,
        bytes: Option<&std::sync::atomic::AtomicU64>,
    ) -> Result<(Oid, bool), HashError> {
        if size > STREAM_THRESHOLD {
            return self.stream_file(f, bytes);
        }
        let mut data = Vec::with_capacity(size as usize);
        f.read_to_end(&mut data).map_err(HashError::Read)?;
        if let Some(b) = bytes {
            b.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        self.write_bytes(&data)
    }

    /// Hash and store a regular file after git's line-ending normalisation
    /// (`eol`); `indexed` is the blob the index has for this path (`text=auto`
    /// keeps CRLFs when that blob has them, like `git add`).
    pub(crate) fn write_normalized(
        &self,
        mut f: std::fs::File,
        eol: Eol,
        indexed: Option<Oid>,
    ) -> Result<(Oid, bool), HashError> {
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(HashError::Read)?;
        let index_has_crlf = || indexed.is_some_and(|oid| self.blob_has_crlf(oid));
        match crlf_to_git(&data, eol, index_has_crlf) {
            Some(converted) => self.write_bytes(&converted),
            None => self.write_bytes(&data),
        }
    }

    /// The content of blob `oid`, if the store has it.
    pub(crate) fn blob_content(&self, oid: Oid) -> Option<Vec<u8>> {
        self.repo.find_blob(oid).ok().map(|b| b.content().to_vec())
    }

    /// Is blob `oid` text with CRLFs (git's `has_crlf_in_index`)?
    pub(crate) fn blob_has_crlf(&self, oid: Oid) -> bool {
        self.repo
            .find_blob(oid)
            .is_ok_and(|b| has_crlf_text(b.content()))
    }

    /// Stream a large file into the object store in chunks. The size is
    /// taken when the file is opened and that many bytes are stored (what
    /// git does for a file that grows meanwhile); a file that shrinks is
    /// read again, a few times, then reported as unreadable.
    fn stream_file(
        &self,
        mut f: std::fs::File,
        bytes: Option<&std::sync::atomic::AtomicU64>,
    ) -> Result<(Oid, bool), HashError> {
        use std::io::Seek;
        let odb = self.repo.odb()?;
        for _ in 0..STREAM_ATTEMPTS {
            f.seek(io::SeekFrom::Start(0)).map_err(HashError::Read)?;
            let len = f.metadata().map_err(HashError::Read)?.len();
            let mut w = odb.writer(len as usize, ObjectType::Blob)?;
            let mut buf = vec![0u8; CHUNK.min(len.max(1) as usize)];
            let mut left = len;
            while left > 0 {
                let want = buf.len().min(left as usize);
                let n = match f.read(&mut buf[..want]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(HashError::Read(e)),
                };
                if n == 0 {
                    break; // truncated meanwhile
                }
                w.write_all(&buf[..n])
                    .map_err(|e| HashError::Store(StoreError::Io(e)))?;
                left -= n as u64;
                if let Some(b) = bytes {
                    b.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if left == 0 {
                return Ok((w.finalize()?, true));
            }
        }
        Err(HashError::Read(io::Error::other(
            "it kept shrinking while it was read",
        )))
    }

    /// Hash and store bytes (a symlink's target) as a blob.
    pub(crate) fn write_bytes(&self, data: &[u8]) -> Result<(Oid, bool), HashError> {
        let odb = self.repo.odb()?;
        let (oid, stored) = write_if_missing(&odb, self.sink.as_deref(), ObjectType::Blob, data)?;
        Ok((oid, stored == Stored::Loose))
    }
}

/// git's `gather_stats` counters.
#[derive(Default)]
struct TextStat {
    crlf: usize,
    lonecr: usize,
    lonelf: usize,
    nul: usize,
    printable: usize,
    nonprintable: usize,
}

fn gather_stats(buf: &[u8]) -> TextStat {
    let mut s = TextStat::default();
    let mut i = 0;
    while i < buf.len() {
        let c = buf[i];
        if c == b'\r' {
            if buf.get(i + 1) == Some(&b'\n') {
                s.crlf += 1;
                i += 1;
            } else {
                s.lonecr += 1;
            }
        } else if c == b'\n' {
            s.lonelf += 1;
        } else if c == 127 {
            s.nonprintable += 1;
        } else if c < 32 {
            match c {
                8 | b'\t' | 27 | 12 => s.printable += 1,
                0 => {
                    s.nul += 1;
                    s.nonprintable += 1;
                }
                _ => s.nonprintable += 1,
            }
        } else {
            s.printable += 1;
        }
        i += 1;
    }
    // A trailing ^Z (DOS end of file) does not count as non-printable.
    if buf.last() == Some(&0x1a) {
        s.nonprintable = s.nonprintable.wrapping_sub(1);
    }
    s
}

fn is_binary(s: &TextStat) -> bool {
    s.lonecr > 0 || s.nul > 0 || (s.printable >> 7) < s.nonprintable
}

/// git's `has_crlf_in_index` test on a blob: text with CRLFs.
pub(crate) fn has_crlf_text(data: &[u8]) -> bool {
    if !data.contains(&b'\r') {
        return false;
    }
    let s = gather_stats(data);
    !is_binary(&s) && s.crlf > 0
}

/// git's `crlf_to_git`: the converted content, or `None` when git stores
/// the bytes as they are.
pub(crate) fn crlf_to_git(
    data: &[u8],
    eol: Eol,
    index_has_crlf: impl FnOnce() -> bool,
) -> Option<Vec<u8>> {
    if eol == Eol::Binary || data.is_empty() || !data.contains(&b'\r') {
        return None;
    }
    let s = gather_stats(data);
    if s.crlf == 0 {
        return None;
    }
    if eol == Eol::Auto && (is_binary(&s) || index_has_crlf()) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() - s.crlf);
    for (i, &c) in data.iter().enumerate() {
        if !(c == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            out.push(c);
        }
    }
    Some(out)
}

/// git's `crlf_to_worktree` (`convert.c`): a blob whose checkout turns
/// LF into CRLF, converted — or `None` when git writes it as it is (no
/// lone LF; for `text=auto` and `core.autocrlf`, also a blob that already
/// has CRs or looks binary). `auto`: the action is one of the `auto`
/// ones.
pub(crate) fn crlf_to_worktree(data: &[u8], auto: bool) -> Option<Vec<u8>> {
    if !data.contains(&b'\n') {
        return None;
    }
    let s = gather_stats(data);
    if s.lonelf == 0 || (auto && (s.lonecr > 0 || s.crlf > 0 || is_binary(&s))) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() + s.lonelf);
    let mut rest = data;
    while let Some(nl) = rest.iter().position(|&c| c == b'\n') {
        if nl > 0 && rest[nl - 1] == b'\r' {
            out.extend_from_slice(&rest[..=nl]);
        } else {
            out.extend_from_slice(&rest[..nl]);
            out.extend_from_slice(b"\r\n");
        }
        rest = &rest[nl + 1..];
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// Hash and store files with `git hash-object -w --stdin-paths` (run in the
/// work tree, so git applies every filter, `process` driver, encoding and
/// attribute itself). One result per path, in order. When git fails on a
/// path (a required filter that failed, an unknown encoding), the ids it
/// printed before belong to the paths before it; the batch goes on after
/// it in a new process.
pub(crate) fn hash_with_git(
    git_dir: &Path,
    workdir: &Path,
    rels: &[&[u8]],
) -> Vec<Result<Oid, String>> {
    let mut results: Vec<Result<Oid, String>> = Vec::with_capacity(rels.len());
    while results.len() < rels.len() {
        let rest = &rels[results.len()..];
        let mut input = Vec::new();
        for r in rest {
            push_stdin_path(&mut input, r);
        }
        let out = GitCmd::new(git_dir, workdir)
            .config("core.safecrlf", "false")
            .args(["hash-object", "-w", "--stdin-paths"])
            .output_with_input(&input);
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let msg = e.to_string();
                results.extend(rest.iter().map(|_| Err(msg.clone())));
                break;
            }
        };
        let before = results.len();
        for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let parsed = std::str::from_utf8(line)
                .ok()
                .and_then(|s| Oid::from_str(s.trim()).ok());
            match parsed {
                Some(oid) if results.len() < rels.len() => results.push(Ok(oid)),
                _ => break,
            }
        }
        if results.len() == rels.len() {
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("git hash-object failed")
            .trim();
        let why = why.strip_prefix("fatal: ").unwrap_or(why).to_owned();
        if out.status.success() && results.len() == before {
            // Exit 0 without the ids: nothing more to learn by retrying.
            results.extend(rest.iter().map(|_| Err(why.clone())));
            break;
        }
        // The path after the last id printed is the one git stopped on.
        results.push(Err(why));
    }
    results
}

/// Hash and store tracked files the way `git add` does, including the
/// checks against the indexed blob (`text=auto` keeps CRLFs that the index
/// already has): a throwaway index at `index` gets the entries (`mode`,
/// indexed id, path), `git update-index` re-adds the files from the work
/// tree, and their new ids are read back. All or nothing: an error (a
/// required filter failed) fails the whole call.
pub(crate) fn hash_in_index(
    git_dir: &Path,
    workdir: &Path,
    index: &Path,
    entries: &[(u32, Oid, &[u8])],
) -> Result<Vec<Oid>, String> {
    let run = |args: &[&str], input: &[u8]| {
        GitCmd::new(git_dir, workdir)
            .index_file(index)
            .config("core.splitIndex", "false")
            .config("index.sparse", "false")
            .config("core.fsmonitor", "false")
            .config("core.safecrlf", "false")
            .args(args)
            .run_with_input(input)
            .map_err(|e| e.to_string())
    };
    let _ = std::fs::remove_file(index);
    let result = (|| {
        let mut info = Vec::new();
        let mut paths = Vec::new();
        for (mode, oid, rel) in entries {
            let _ = write!(info, "{mode:o} {oid}\t");
            info.extend_from_slice(rel);
            info.push(0);
            paths.extend_from_slice(rel);
            paths.push(0);
        }
        run(&["update-index", "-z", "--index-info"], &info)?;
        run(&["update-index", "--add", "-z", "--stdin"], &paths)?;
        let listed = run(&["ls-files", "-s", "-z"], &[])?;
        let mut ids = std::collections::HashMap::new();
        for rec in listed.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let Some(tab) = rec.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let fields: Vec<&[u8]> = rec[..tab].split(|&b| b == b' ').collect();
            let oid = fields
                .get(1)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| Oid::from_str(h).ok());
            if let Some(oid) = oid {
                ids.insert(&rec[tab + 1..], oid);
            }
        }
        entries
            .iter()
            .map(|(_, _, rel)| {
                ids.get(rel)
                    .copied()
                    .ok_or_else(|| "git update-index lost a path".to_owned())
            })
            .collect()
    })();
    let _ = std::fs::remove_file(index);
    result
}

/// One `--stdin-paths` line: git C-unquotes lines that start with `"`
/// and strips a trailing CR, so such paths (and those with a newline) are
/// quoted.
fn push_stdin_path(out: &mut Vec<u8>, rel: &[u8]) {
    let needs_quotes =
        rel.first() == Some(&b'"') || rel.contains(&b'\n') || rel.last() == Some(&b'\r');
    if !needs_quotes {
        out.extend_from_slice(rel);
        out.push(b'\n');
        return;
    }
    out.push(b'"');
    for &c in rel {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c if c < 0x20 || c == 0x7f => {
                let _ = write!(out, "\\{:03o}", c);
            }
            c => out.push(c),
        }
    }
    out.extend_from_slice(b"\"\n");
}

/// Write an object unless the store already has it: into `sink` (loose or
/// packed, as it decides), else as a loose object.
pub(crate) fn write_if_missing(
    odb: &Odb<'_>,
    sink: Option<&ObjectSink>,
    kind: ObjectType,
    data: &[u8],
) -> Result<(Oid, Stored), git2::Error> {
    let oid = Oid::hash_object(kind, data)?;
    if odb.exists_ext(oid, OdbLookupFlags::NO_REFRESH) {
        return Ok((oid, Stored::Existing));
    }
    match sink {
        Some(sink) => Ok((oid, sink.write(oid, kind, data)?)),
        None => Ok((odb.write(kind, data)?, Stored::Loose)),
    }
}

/// Could attribute filters change file contents between git and the work
/// tree (`core.autocrlf`/`core.eol`, a root `.gitattributes`,
/// `info/attributes` or `core.attributesFile`)? A coarse check for
/// `restore`, which writes files through git's smudge side when it is
/// `true`; snapshots use [`super::attr`] instead.
pub(crate) fn filters_possible(repo: &Repository, workdir: &Path) -> bool {
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
