//! A read-only view of the user's index: which paths are tracked, with the
//! blob id and stat data git recorded for each. savepoint never writes the
//! index; it only uses it to keep tracked-but-ignored files, to keep
//! skip-worktree and assume-unchanged entries as git does, and to avoid
//! re-reading files git already hashed.
//!
//! Every index format git writes by default or on request is read here, so
//! one snapshot path serves them all: versions 2, 3 and 4, split indexes
//! (`link`: the entries live in `sharedindex.<hex>`, patched by two EWAH
//! bitmaps, see git's `split-index.txt`) and sparse indexes (`sdir`: a
//! directory outside the sparse cone is one entry naming its tree, expanded
//! here into its files from the object database as git's
//! `ensure_full_index` does).

use std::path::Path;

use git2::Oid;

use super::stat::{IndexStat, Stat};
use crate::git::mode::MODE_TREE;

/// One tracked path.
#[derive(Debug, Clone)]
pub struct TrackedEntry {
    pub path: Vec<u8>,
    pub mode: u32,
    pub oid: Oid,
    /// `None` when the entry cannot vouch for the worktree content
    /// (conflicted, intent-to-add, or racy against the index write time).
    pub stat: Option<IndexStat>,
    /// Sparse checkout (or `update-index --skip-worktree`): git does not
    /// look at the work-tree file.
    pub skip_worktree: bool,
    /// `update-index --assume-unchanged` (`CE_VALID`): git trusts the entry
    /// and does not look at the work-tree file either.
    pub assume_unchanged: bool,
}

/// All tracked paths, sorted by path bytes (the index order).
#[derive(Debug, Default)]
pub struct Tracked {
    pub entries: Vec<TrackedEntry>,
    /// The index file's stat when read, to notice when it changes.
    pub index_stat: Option<Stat>,
    /// `core.sparseCheckout` is on (and `sparse.expectFilesOutsideOfPatterns`
    /// off): git clears the skip-worktree bit of entries whose path exists
    /// in the work tree, so those are looked at like any tracked file.
    pub sparse_checkout: bool,
    /// `core.ignorecase`: untracked paths are matched against the index
    /// case-insensitively (see `Tracked::case_fold`).
    pub ignore_case: Option<CaseFold>,
}

/// Why the index could not be used directly.
#[derive(Debug, thiserror::Error)]
pub enum IndexUnreadable {
    /// The file (or a split index's shared part) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A format this reader does not know, or bytes that break it.
    #[error("{0}")]
    Format(String),
}

/// `CE_VALID` in the entry flags: assume unchanged.
const ASSUME_VALID: u16 = 1 << 15;
const SKIP_WORKTREE: u16 = 1 << 14;
const INTENT_TO_ADD: u16 = 1 << 13;
const EXTENDED: u16 = 1 << 14;
/// Fixed part of an entry: ten 32-bit stat/mode fields, a SHA-1, flags.
const ENTRY_FIXED: usize = 40 + 20 + 2;
const OID_LEN: usize = 20;

/// What [`finish`] needs of an entry's flags besides [`TrackedEntry`]'s
/// fields: the stage (bits 0–1) and intent-to-add. Kept in a side vector
/// so the entries are built once, in place (a second 100k-entry vector
/// costs more than the parsing).
const META_STAGE: u8 = 0b011;
const META_INTENT_TO_ADD: u8 = 0b100;

/// The `link` extension of a split index.
struct Link {
    shared: Oid,
    delete: Vec<usize>,
    replace: Vec<usize>,
}

/// An index file's entries (stat data not yet judged, stages not yet
/// folded) and the extensions that change their meaning.
struct Parsed {
    entries: Vec<TrackedEntry>,
    meta: Vec<u8>,
    link: Option<Link>,
}

/// Parse an index file (versions 2, 3 and 4; git's `index-format.txt`) on
/// its own. A split index needs its shared index (`Tracked::load` reads
/// it) and is refused here; sparse directory entries are returned as
/// entries of mode 040000 (see `expand_sparse_dirs`). Optional extensions
/// (capitalised signatures) are skipped; a mandatory one we do not
/// understand makes the index unreadable, and the caller falls back to the
/// git CLI. The trailing checksum is not verified: a torn index is git's to
/// report. `racy_since` is the index file's mtime (see
/// [`TrackedEntry::stat`]).
pub fn parse(b: &[u8], racy_since: (i64, u32)) -> Result<Vec<TrackedEntry>, IndexUnreadable> {
    let parsed = parse_raw(b)?;
    if parsed.link.is_some() {
        return Err(IndexUnreadable::Format(
            "a split index needs its shared index".into(),
        ));
    }
    Ok(finish(parsed.entries, &parsed.meta, racy_since))
}

fn parse_raw(b: &[u8]) -> Result<Parsed, IndexUnreadable> {
    let bad = |what: &str| IndexUnreadable::Format(format!("malformed index: {what}"));
    let be32 = |at: usize| -> Result<u32, IndexUnreadable> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    if b.len() < 12 + 20 || &b[..4] != b"DIRC" {
        return Err(bad("no DIRC header"));
    }
    let version = be32(4)?;
    if !(2..=4).contains(&version) {
        return Err(IndexUnreadable::Format(format!(
            "unsupported index version {version}"
        )));
    }
    let count = be32(8)? as usize;
    let end_of_data = b.len() - 20;
    let mut entries: Vec<TrackedEntry> = Vec::with_capacity(count.min(1 << 24));
    let mut meta: Vec<u8> = Vec::with_capacity(count.min(1 << 24));
    let mut pos = 12;
    let mut prev_path: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = pos;
        if pos + ENTRY_FIXED > end_of_data {
            return Err(bad("truncated entry"));
        }
        let f = |i: usize| be32(start + 4 * i);
        let stat = IndexStat {
            ctime_s: f(0)?,
            ctime_ns: f(1)?,
            mtime_s: f(2)?,
            mtime_ns: f(3)?,
            ino: f(5)?,
            size: f(9)?,
        };
        let mode = f(6)?;
        let oid = Oid::from_bytes(&b[start + 40..start + 60]).map_err(|_| bad("object id"))?;
        let flags = u16::from_be_bytes([b[start + 60], b[start + 61]]);
        pos = start + ENTRY_FIXED;
        let mut ext_flags = 0u16;
        if flags & EXTENDED != 0 {
            if version < 3 || pos + 2 > end_of_data {
                return Err(bad("extended flags"));
            }
            ext_flags = u16::from_be_bytes([b[pos], b[pos + 1]]);
            pos += 2;
        }
        let path = if version == 4 {
            let (strip, used) = varint(&b[pos..end_of_data]).ok_or_else(|| bad("path prefix"))?;
            pos += used;
            let nul = b[pos..end_of_data]
                .iter()
                .position(|&c| c == 0)
                .ok_or_else(|| bad("path"))?;
            let keep = prev_path
                .len()
                .checked_sub(strip as usize)
                .ok_or_else(|| bad("path prefix"))?;
            let mut p = Vec::with_capacity(keep + nul);
            p.extend_from_slice(&prev_path[..keep]);
            p.extend_from_slice(&b[pos..pos + nul]);
            pos += nul + 1;
            prev_path.clone_from(&p);
            p
        } else {
            let nul = b[pos..end_of_data]
                .iter()
                .position(|&c| c == 0)
                .ok_or_else(|| bad("path"))?;
            let p = b[pos..pos + nul].to_vec();
            // NUL-terminated, padded with NULs to a multiple of 8 bytes.
            pos = start + (pos - start + nul + 8) / 8 * 8;
            p
        };
        entries.push(TrackedEntry {
            path,
            mode,
            oid,
            stat: Some(stat),
            skip_worktree: ext_flags & SKIP_WORKTREE != 0,
            assume_unchanged: flags & ASSUME_VALID != 0,
        });
        let ita = if ext_flags & INTENT_TO_ADD != 0 {
            META_INTENT_TO_ADD
        } else {
            0
        };
        meta.push(((flags >> 12) as u8 & META_STAGE) | ita);
    }
    // Extensions: 4-byte signature, 4-byte length, data.
    let mut link = None;
    while pos + 8 <= end_of_data {
        let sig = &b[pos..pos + 4];
        let len = be32(pos + 4)? as usize;
        let data_end = (pos + 8)
            .checked_add(len)
            .filter(|&e| e <= end_of_data)
            .ok_or_else(|| bad("extension length"))?;
        let data = &b[pos + 8..data_end];
        match sig {
            b"link" => link = Some(parse_link(data).ok_or_else(|| bad("link extension"))?),
            // Sparse index: the directory entries say it all.
            b"sdir" => {}
            _ if sig[0].is_ascii_uppercase() => {}
            _ => {
                return Err(IndexUnreadable::Format(format!(
                    "unsupported mandatory extension: '{}'",
                    String::from_utf8_lossy(sig)
                )))
            }
        }
        pos = data_end;
    }
    Ok(Parsed {
        entries,
        meta,
        link,
    })
}

/// Fold conflict stages into one entry per path and decide which stat data
/// can be trusted, in place.
fn finish(
    mut entries: Vec<TrackedEntry>,
    meta: &[u8],
    racy_since: (i64, u32),
) -> Vec<TrackedEntry> {
    let mut kept = 0;
    for i in 0..entries.len() {
        let conflicted = meta[i] & META_STAGE != 0;
        if conflicted && kept > 0 && entries[kept - 1].path == entries[i].path {
            // Several stages of one path: one entry, always hashed.
            continue;
        }
        let e = &mut entries[i];
        // Racy: modified in the same second the index was written (git
        // compares whole seconds unless built with USE_NSEC, which the
        // usual builds are not); git itself re-checks the content, so do
        // we. It matters when attributes changed since: git then stores the
        // converted content, not the indexed blob.
        let racy = e.stat.is_some_and(|s| i64::from(s.mtime_s) >= racy_since.0);
        if conflicted || meta[i] & META_INTENT_TO_ADD != 0 || racy {
            e.stat = None;
        }
        // git ignores CE_VALID on unmerged entries.
        e.assume_unchanged &= !conflicted;
        if kept != i {
            entries.swap(kept, i);
        }
        kept += 1;
    }
    entries.truncate(kept);
    entries
}

/// The `link` extension: the shared index's id, then (optionally) the
/// delete and replace bitmaps.
fn parse_link(data: &[u8]) -> Option<Link> {
    let shared = Oid::from_bytes(data.get(..OID_LEN)?).ok()?;
    let rest = &data[OID_LEN..];
    if rest.is_empty() {
        return Some(Link {
            shared,
            delete: Vec::new(),
            replace: Vec::new(),
        });
    }
    let (delete, used) = ewah_bits(rest)?;
    let (replace, _) = ewah_bits(&rest[used..])?;
    Some(Link {
        shared,
        delete,
        replace,
    })
}

/// The positions of the set bits of a serialised EWAH bitmap (git's
/// `ewah/ewah_io.c`), and the bytes it took. Layout: bit count (be32), word
/// count (be32), the 64-bit words (be64), last-marker position (be32). The
/// words are run-length markers — bit 0 the running bit, bits 1..=32 the
/// run length in words, bits 33..=63 how many literal words follow — each
/// followed by its literal words, bits numbered from the least significant.
fn ewah_bits(b: &[u8]) -> Option<(Vec<usize>, usize)> {
    let be32 = |at: usize| -> Option<usize> {
        let s = b.get(at..at + 4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let bit_size = be32(0)?;
    let words = be32(4)?;
    let body = b.get(8..8usize.checked_add(words.checked_mul(8)?)?)?;
    let used = 8 + body.len() + 4;
    be32(8 + body.len())?;
    let word = |i: usize| -> u64 {
        let s = &body[i * 8..i * 8 + 8];
        u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    };
    let mut bits = Vec::new();
    let mut pos = 0usize;
    let mut i = 0;
    while i < words {
        let rlw = word(i);
        i += 1;
        let run = ((rlw >> 1) & 0xffff_ffff) as usize * 64;
        if rlw & 1 != 0 {
            // Never trust a run longer than the bitmap says it is.
            bits.extend(pos..pos.saturating_add(run).min(bit_size));
        }
        pos = pos.checked_add(run)?;
        let literals = (rlw >> 33) as usize;
        for _ in 0..literals {
            if i >= words {
                return None;
            }
            let mut w = word(i);
            i += 1;
            while w != 0 {
                let bit = pos + w.trailing_zeros() as usize;
                if bit < bit_size {
                    bits.push(bit);
                }
                w &= w - 1;
            }
            pos = pos.checked_add(64)?;
        }
    }
    Some((bits, used))
}

/// Apply a split index's `link` to the entries of its shared index: replace
/// (the k-th set bit takes the k-th entry of the split file, keeping the
/// shared entry's name), delete, then add the split file's other entries.
fn merge_split(base: Parsed, own: Parsed, link: &Link) -> Result<Parsed, IndexUnreadable> {
    let bad = |what: &str| IndexUnreadable::Format(format!("malformed split index: {what}"));
    let (mut entries, mut meta) = (base.entries, base.meta);
    let (mut own, mut own_meta) = (own.entries, own.meta);
    if link.replace.len() > own.len() {
        return Err(bad("more replacements than entries"));
    }
    let added = own.split_off(link.replace.len());
    let added_meta = own_meta.split_off(link.replace.len());
    for ((&at, mut new), m) in link.replace.iter().zip(own).zip(own_meta) {
        let old = entries.get_mut(at).ok_or_else(|| bad("replace bitmap"))?;
        if new.path.is_empty() {
            new.path = std::mem::take(&mut old.path);
        }
        *old = new;
        meta[at] = m;
    }
    if !link.delete.is_empty() {
        let mut keep = vec![true; entries.len()];
        for &at in &link.delete {
            *keep.get_mut(at).ok_or_else(|| bad("delete bitmap"))? = false;
        }
        let mut k = keep.iter();
        entries.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        meta.retain(|_| *k.next().unwrap_or(&true));
    }
    if added.iter().any(|e| e.path.is_empty()) {
        return Err(bad("added entry without a name"));
    }
    if added.is_empty() {
        return Ok(Parsed {
            entries,
            meta,
            link: None,
        });
    }
    // Both lists are sorted by (path, stage); an added entry wins a tie.
    let n = entries.len() + added.len();
    let (mut out, mut out_meta) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut base = entries.into_iter().zip(meta).peekable();
    for (a, am) in added.into_iter().zip(added_meta) {
        let ka = (a.path.as_slice(), am & META_STAGE);
        while let Some((b, bm)) = base.next_if(|(b, bm)| (b.path.as_slice(), bm & META_STAGE) < ka)
        {
            out.push(b);
            out_meta.push(bm);
        }
        base.next_if(|(b, bm)| (b.path.as_slice(), bm & META_STAGE) == ka);
        out.push(a);
        out_meta.push(am);
    }
    for (b, bm) in base {
        out.push(b);
        out_meta.push(bm);
    }
    Ok(Parsed {
        entries: out,
        meta: out_meta,
        link: None,
    })
}

/// Replace each sparse directory entry (`dir/`, mode 040000) by the files
/// of its tree, all skip-worktree (git's `ensure_full_index`).
pub(crate) fn expand_sparse_dirs(
    entries: Vec<TrackedEntry>,
    repo: &git2::Repository,
) -> Result<Vec<TrackedEntry>, IndexUnreadable> {
    if !entries.iter().any(|e| e.mode == MODE_TREE) {
        return Ok(entries);
    }
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        if e.mode != MODE_TREE {
            out.push(e);
            continue;
        }
        let mut prefix = e.path;
        if prefix.last() != Some(&b'/') {
            prefix.push(b'/');
        }
        add_tree(repo, e.oid, &mut prefix, &mut out).map_err(|err| {
            IndexUnreadable::Format(format!(
                "sparse directory {}: {}",
                String::from_utf8_lossy(&prefix),
                err.message()
            ))
        })?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn add_tree(
    repo: &git2::Repository,
    tree: Oid,
    prefix: &mut Vec<u8>,
    out: &mut Vec<TrackedEntry>,
) -> Result<(), git2::Error> {
    let tree = repo.find_tree(tree)?;
    for item in tree.iter() {
        let len = prefix.len();
        prefix.extend_from_slice(item.name_bytes());
        let mode = item.filemode() as u32;
        if crate::git::mode::is_tree(mode) {
            prefix.push(b'/');
            add_tree(repo, item.id(), prefix, out)?;
        } else {
            out.push(TrackedEntry {
                path: prefix.clone(),
                mode: crate::git::mode::canonical(mode),
                oid: item.id(),
                stat: None,
                skip_worktree: true,
                assume_unchanged: false,
            });
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// git's offset varint (index v4 path prefix lengths): returns the value and
/// the bytes used.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut i = 0;
    let mut c = *b.get(i)?;
    i += 1;
    let mut val = u64::from(c & 127);
    while c & 128 != 0 {
        c = *b.get(i)?;
        i += 1;
        val = val.checked_add(1)?.checked_mul(128)? + u64::from(c & 127);
    }
    Some((val, i))
}

/// Read a file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, IndexUnreadable> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(IndexUnreadable::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The entries of the index file's bytes `bytes`; a split index's shared
/// part is read from `git_dir`, sparse directories are expanded from
/// `repo`'s objects.
fn entries_of(
    bytes: &[u8],
    racy_since: (i64, u32),
    repo: &git2::Repository,
) -> Result<Vec<TrackedEntry>, IndexUnreadable> {
    let mut parsed = parse_raw(bytes)?;
    let parsed = match parsed.link.take() {
        None => parsed,
        Some(link) => {
            let shared_path = repo.path().join(format!("sharedindex.{}", link.shared));
            let shared = read_optional(&shared_path)?.ok_or_else(|| {
                IndexUnreadable::Format(format!("missing shared index {}", shared_path.display()))
            })?;
            let base = parse_raw(&shared)?;
            if base.link.is_some() {
                return Err(IndexUnreadable::Format(
                    "a shared index that is split again".into(),
                ));
            }
            merge_split(base, parsed, &link)?
        }
    };
    expand_sparse_dirs(finish(parsed.entries, &parsed.meta, racy_since), repo)
}

impl Tracked {
    /// Read the index at `path` of `repo`; a missing index means nothing is
    /// tracked.
    ///
    /// The racy-entry check needs the mtime of the very file whose bytes were
    /// parsed, so the file is stat'ed before and after reading and read again
    /// if git replaced it in between. (A split index's shared part is
    /// immutable: its name is its checksum.)
    pub(crate) fn load(path: &Path, repo: &git2::Repository) -> Result<Tracked, IndexUnreadable> {
        let stat_of = |path: &Path| match std::fs::metadata(path) {
            Ok(m) => Ok(Some(Stat::from_metadata(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(IndexUnreadable::Io {
                path: path.to_path_buf(),
                source,
            }),
        };
        let mut last_error = None;
        for _ in 0..5 {
            let Some(before) = stat_of(path)? else {
                return Ok(Tracked::default());
            };
            let Some(bytes) = read_optional(path)? else {
                continue;
            };
            if stat_of(path)? != Some(before) {
                continue; // replaced while we read it
            }
            match entries_of(&bytes, (before.mtime_s, before.mtime_ns), repo) {
                Ok(entries) => {
                    return Ok(Tracked {
                        entries,
                        index_stat: Some(before),
                        ..Tracked::default()
                    })
                }
                // The shared index of a split index that git just
                // rewrote may be gone already: read the new one.
                Err(e) if stat_of(path)? != Some(before) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            IndexUnreadable::Format("the index kept changing while it was read".into())
        }))
    }

    /// The entry for exactly this path.
    pub(crate) fn get(&self, path: &[u8]) -> Option<&TrackedEntry> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Entries strictly below directory `dir` (every entry when `dir` is
    /// empty). Paths starting with `dir/` are one contiguous range in byte
    /// order: from `dir/` up to (not including) `dir0`, `0` being `/` + 1.
    pub(crate) fn below(&self, dir: &[u8]) -> &[TrackedEntry] {
        if dir.is_empty() {
            return &self.entries;
        }
        let mut lo = dir.to_vec();
        lo.push(b'/');
        let start = self.entries.partition_point(|e| e.path < lo);
        *lo.last_mut().expect("non-empty") = b'/' + 1;
        let end = self.entries.partition_point(|e| e.path < lo);
        &self.entries[start..end]
    }

    /// Does git leave this entry as indexed, whatever is in the work tree?
    /// `present`: something exists at its path. Assume-unchanged entries are
    /// trusted; skip-worktree entries too, except in a sparse checkout when
    /// the path exists (git then clears the bit and looks at the file).
    pub(crate) fn keeps_indexed(&self, t: &TrackedEntry, present: impl FnOnce() -> bool) -> bool {
        t.assume_unchanged || (t.skip_worktree && !(self.sparse_checkout && present()))
    }

    /// With `core.ignorecase`: an untracked path that names a tracked file
    /// in another case. git treats it as that tracked file (it is never
    /// added under its own name; the tracked entry follows whatever is at
    /// the index's spelling).
    pub(crate) fn is_case_alias(&self, path: &[u8]) -> bool {
        self.ignore_case
            .as_ref()
            .is_some_and(|f| f.files.contains(&fold(path)))
    }

    /// Turn case-insensitive matching (`core.ignorecase`) on or off.
    pub(crate) fn set_ignore_case(&mut self, on: bool) {
        self.ignore_case = on.then(|| {
            let mut f = CaseFold::default();
            for e in &self.entries {
                for (i, _) in e.path.iter().enumerate().filter(|(_, &b)| b == b'/') {
                    f.dirs.insert(fold(&e.path[..i]));
                }
                f.files.insert(fold(&e.path));
            }
            f
        });
    }

    /// With `core.ignorecase`: `path` or one of its directories names a
    /// tracked path in another case (an incremental update then leaves the
    /// spelling to a full scan, see [`apply_case_folding`]).
    pub(crate) fn differs_in_case(&self, path: &[u8]) -> bool {
        let Some(f) = &self.ignore_case else {
            return false;
        };
        let dir_differs = path
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'/')
            .any(|(i, _)| {
                let dir = &path[..i];
                f.dirs.contains(&fold(dir)) && self.below(dir).is_empty()
            });
        dir_differs
            || (self.get(path).is_none()
                && (f.files.contains(&fold(path))
                    || (f.dirs.contains(&fold(path)) && self.below(path).is_empty())))
    }
}

/// The case-folded paths of the index (`core.ignorecase`), git's name hash.
#[derive(Debug, Default)]
pub struct CaseFold {
    files: std::collections::HashSet<Vec<u8>>,
    dirs: std::collections::HashSet<Vec<u8>>,
}

/// git folds case byte by byte, ASCII only (`tolower` in the C locale).
pub(crate) fn fold(path: &[u8]) -> Vec<u8> {
    path.to_ascii_lowercase()
}

/// With `core.ignorecase`, git files a new path under the spelling its
/// directories already have in the index (`adjust_dirname_case`), so
/// `A/f` and `a/f` both become `A/f`, the later one (in byte order)
/// winning. A respelled path can then clash with a file at one of its
/// directories, or a file with a directory (`X/d` the file, `x/d/f`
/// respelled to `X/d/f`): git adds with `ADD_CACHE_OK_TO_REPLACE`, so the
/// path added later replaces the entries it clashes with. Two new files
/// whose own names differ only in case make `git add -A` die ("will not
/// add file alias"); a snapshot must not fail, so the first is kept.
/// `entries` is the finished snapshot (sorted); `tracked` tells which paths
/// were in the index. Returns the entries, sorted.
pub(crate) fn apply_case_folding(
    entries: Vec<super::tree::Entry>,
    tracked: &Tracked,
) -> Vec<super::tree::Entry> {
    use std::collections::{BTreeMap, HashMap};
    let (kept, new): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| tracked.get(&e.path).is_some());
    if new.is_empty() {
        return kept;
    }
    // The index as git builds it: path → (entry, added by this pass).
    let mut index: BTreeMap<Vec<u8>, (super::tree::Entry, bool)> = kept
        .into_iter()
        .map(|e| (e.path.clone(), (e, false)))
        .collect();
    // Directories (folded → spelling) and files (folded → path) of what is
    // in the index after the tracked paths were updated.
    let mut dirs: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut files: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let add_dirs = |dirs: &mut HashMap<Vec<u8>, Vec<u8>>, path: &[u8]| {
        for i in slashes(path) {
            dirs.entry(fold(&path[..i]))
                .or_insert_with(|| path[..i].to_vec());
        }
    };
    for path in index.keys() {
        add_dirs(&mut dirs, path);
        files.insert(fold(path), path.clone());
    }
    for mut e in new {
        // The deepest directory the index knows gives the prefix spelling.
        let spelled = slashes(&e.path)
            .rev()
            .find_map(|i| dirs.get(&fold(&e.path[..i])));
        if let Some(spelled) = spelled {
            let n = spelled.len();
            e.path[..n].copy_from_slice(spelled);
        }
        let folded = fold(&e.path);
        match files.get(&folded) {
            Some(p) if *p == e.path && index.get(p).is_some_and(|(_, new)| *new) => {
                index.insert(e.path.clone(), (e, true));
            }
            Some(_) => {}
            None => {
                // A file at one of its directories, or entries below it.
                let mut doomed: Vec<Vec<u8>> = slashes(&e.path)
                    .map(|i| e.path[..i].to_vec())
                    .filter(|d| index.contains_key(d))
                    .collect();
                let mut below = e.path.clone();
                below.push(b'/');
                doomed.extend(
                    index
                        .range(below.clone()..)
                        .map(|(p, _)| p)
                        .take_while(|p| p.starts_with(&below))
                        .cloned(),
                );
                for p in doomed {
                    index.remove(&p);
                    files.remove(&fold(&p));
                }
                add_dirs(&mut dirs, &e.path);
                files.insert(folded, e.path.clone());
                index.insert(e.path.clone(), (e, true));
            }
        }
    }
    index.into_values().map(|(e, _)| e).collect()
}

/// The offsets of the `/` separators in `path`.
fn slashes(path: &[u8]) -> impl DoubleEndedIterator<Item = usize> + '_ {
    path.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .map(|(i, _)| i)
}

/// Paths present in exactly one of two sorted entry lists, and paths whose
/// entry git keeps as indexed (skip-worktree, assume-unchanged) before or
/// after and that changed: their snapshot content follows the index, not
/// the work tree.
pub(crate) fn added_or_removed(old: &[TrackedEntry], new: &[TrackedEntry]) -> Vec<Vec<u8>> {
    use std::cmp::Ordering;
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.path.cmp(&b.path),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                out.push(old[i].path.clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(new[j].path.clone());
                j += 1;
            }
            Ordering::Equal => {
                let (a, b) = (&old[i], &new[j]);
                let pinned = |e: &TrackedEntry| e.skip_worktree || e.assume_unchanged;
                if (pinned(a) || pinned(b))
                    && (a.skip_worktree != b.skip_worktree
                        || a.assume_unchanged != b.assume_unchanged
                        || a.oid != b.oid
                        || a.mode != b.mode)
                {
                    out.push(b.path.clone());
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ewah_bits;

    fn ewah(bit_size: u32, words: &[u64]) -> Vec<u8> {
        let mut b = bit_size.to_be_bytes().to_vec();
        b.extend((words.len() as u32).to_be_bytes());
        for w in words {
            b.extend(w.to_be_bytes());
        }
        b.extend(0u32.to_be_bytes());
        b
    }

    /// Marker word: running bit, run length in words, literal words after.
    fn rlw(run_bit: bool, run: u64, literals: u64) -> u64 {
        u64::from(run_bit) | (run << 1) | (literals << 33)
    }

    #[test]
    fn ewah_runs_and_literals() {
        // One word of zeros, one literal with bits 0 and 2, then a run of
        // one word of ones (bits 128..192), cut to 150 bits.
        let bytes = ewah(150, &[rlw(false, 1, 1), 0b101, rlw(true, 1, 0)]);
        let (bits, used) = ewah_bits(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        let mut want = vec![64, 66];
        want.extend(128..150);
        assert_eq!(bits, want);
        // Empty bitmap.
        assert_eq!(ewah_bits(&ewah(0, &[])).unwrap().0, Vec::<usize>::new());
    }

    #[test]
    fn ewah_malformed_is_refused_not_a_panic() {
        // A marker promising literal words that are not there.
        assert!(ewah_bits(&ewah(64, &[rlw(false, 0, 3)])).is_none());
        // A run of ones the size of the universe is cut to the bit count.
        let (bits, _) = ewah_bits(&ewah(10, &[rlw(true, u64::from(u32::MAX), 0)])).unwrap();
        assert_eq!(bits, (0..10).collect::<Vec<_>>());
        // Truncated anywhere.
        let bytes = ewah(150, &[rlw(false, 1, 1), 0b101, rlw(true, 1, 0)]);
        for cut in 0..bytes.len() {
            assert!(ewah_bits(&bytes[..cut]).is_none(), "cut at {cut}");
        }
    }
}
