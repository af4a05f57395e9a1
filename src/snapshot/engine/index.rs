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

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use git2::Oid;

use super::stat::{IndexStat, Stat};
use crate::git::mode::MODE_TREE;

/// One tracked path, as [`Tracked`] hands it out (a view: the path lives
/// in the index view's path arena).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackedEntry<'a> {
    pub path: &'a [u8],
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

/// One tracked path as stored: 52 bytes, its path `paths[off..off + len]`
/// of the owning [`Tracked`]. The watcher keeps one per tracked file for
/// its whole life, so a `Vec<u8>` per path (24 bytes and an allocation)
/// and an `Option` around the stat (4 more) are left out.
#[derive(Debug, Clone, Copy)]
struct Slot {
    off: u32,
    stat: IndexStat,
    oid: Oid,
    /// The path's length (the low [`LEN_BITS`] bits) and the `SLOT_*` flags.
    len_flags: u16,
    /// The mode's low 16 bits: its type and permission bits, all there are.
    mode: u16,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 52);

/// Paths longer than this (8 KiB, twice Linux's `PATH_MAX`) make the index
/// unreadable here: snapshots then go through the git command line.
const LEN_BITS: u32 = 13;
const LEN_MASK: u16 = (1 << LEN_BITS) - 1;
/// The stat data vouches for the work-tree file (see [`TrackedEntry::stat`]).
const SLOT_STAT: u16 = 1 << 13;
const SLOT_SKIP_WORKTREE: u16 = 1 << 14;
const SLOT_ASSUME_UNCHANGED: u16 = 1 << 15;

impl Slot {
    fn len(&self) -> usize {
        usize::from(self.len_flags & LEN_MASK)
    }

    fn range(&self) -> Range<usize> {
        let off = self.off as usize;
        off..off + self.len()
    }

    fn path<'a>(&self, paths: &'a [u8]) -> &'a [u8] {
        &paths[self.range()]
    }

    fn has(&self, flag: u16) -> bool {
        self.len_flags & flag != 0
    }

    fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.len_flags |= flag;
        } else {
            self.len_flags &= !flag;
        }
    }

    fn mode(&self) -> u32 {
        u32::from(self.mode)
    }

    /// Point at the path `paths[start..]` (the arena's end).
    fn new(
        paths: &[u8],
        start: usize,
        mode: u32,
        oid: Oid,
        stat: Option<IndexStat>,
        flags: u16,
    ) -> Result<Slot, IndexUnreadable> {
        let len = paths.len() - start;
        let too_big = |what: &str| IndexUnreadable::Format(format!("index {what} too large"));
        let len = u16::try_from(len)
            .ok()
            .filter(|&l| l <= LEN_MASK)
            .ok_or_else(|| too_big("path"))?;
        let mode = u16::try_from(mode).map_err(|_| too_big("mode"))?;
        let off = u32::try_from(start).map_err(|_| too_big("path total"))?;
        let mut slot = Slot {
            off,
            stat: stat.unwrap_or(NO_STAT),
            oid,
            len_flags: len | flags,
            mode,
        };
        slot.set(SLOT_STAT, stat.is_some());
        Ok(slot)
    }
}

const NO_STAT: IndexStat = IndexStat {
    mtime_s: 0,
    mtime_ns: 0,
    ctime_s: 0,
    ctime_ns: 0,
    size: 0,
    ino: 0,
};

/// All tracked paths, sorted by path bytes (the index order).
#[derive(Debug, Default)]
pub struct Tracked {
    slots: Vec<Slot>,
    /// Every entry's path, one after the other (in no particular order).
    paths: Vec<u8>,
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

/// A run of consecutive entries of a [`Tracked`] (all of them, or those
/// below a directory), sorted by path.
#[derive(Debug, Clone, Copy)]
pub struct Entries<'a> {
    tracked: &'a Tracked,
    start: usize,
    end: usize,
}

impl<'a> Entries<'a> {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The entry for exactly this path (binary search).
    pub fn find(&self, path: &[u8]) -> Option<TrackedEntry<'a>> {
        self.find_at(path).map(|(_, e)| e)
    }

    /// [`Entries::find`], with the entry's number in the whole index view
    /// (for [`Tracked::entry`]).
    pub(crate) fn find_at(&self, path: &[u8]) -> Option<(usize, TrackedEntry<'a>)> {
        let t = self.tracked;
        t.slots[self.start..self.end]
            .binary_search_by(|s| s.path(&t.paths).cmp(path))
            .ok()
            .map(|i| (self.start + i, t.entry(self.start + i)))
    }

    /// Index (within the run) of the first entry whose path is not less
    /// than `path`.
    fn lower_bound(&self, path: &[u8]) -> usize {
        let t = self.tracked;
        t.slots[self.start..self.end].partition_point(|s| s.path(&t.paths) < path)
    }

    pub fn iter(&self) -> Iter<'a> {
        Iter {
            tracked: self.tracked,
            range: self.start..self.end,
        }
    }
}

impl<'a> IntoIterator for Entries<'a> {
    type Item = TrackedEntry<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The entries of an [`Entries`] run, in path order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    tracked: &'a Tracked,
    range: Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = TrackedEntry<'a>;

    fn next(&mut self) -> Option<TrackedEntry<'a>> {
        self.range.next().map(|i| self.tracked.entry(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.range.next_back().map(|i| self.tracked.entry(i))
    }
}

impl ExactSizeIterator for Iter<'_> {}

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
/// folded) and the extensions that change their meaning. The paths are in
/// the arena the parse was given.
struct Parsed {
    slots: Vec<Slot>,
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
pub fn parse(b: &[u8], racy_since: (i64, u32)) -> Result<Tracked, IndexUnreadable> {
    let mut paths = Vec::new();
    let parsed = parse_raw(&mut Window::new(b, b.len(), Path::new("")), &mut paths)?;
    if parsed.link.is_some() {
        return Err(IndexUnreadable::Format(
            "a split index needs its shared index".into(),
        ));
    }
    let slots = finish(parsed.slots, &parsed.meta, &paths, racy_since);
    Ok(Tracked::from_parts(slots, paths))
}

/// An index file read front to back through a window of a few hundred
/// KiB: a million-entry index is ~90 MB, more than its parsed entries,
/// and is never held whole.
struct Window<R> {
    src: R,
    /// The file's length.
    len: usize,
    /// Bytes `at..at + buf.len()` of the file.
    buf: Vec<u8>,
    at: usize,
    /// For errors (empty for bytes already in memory).
    path: std::path::PathBuf,
    /// How much to read at once ([`WINDOW`]; tests read less).
    chunk: usize,
}

/// How much a [`Window`] reads at once.
const WINDOW: usize = 256 << 10;

impl<R: Read> Window<R> {
    fn new(src: R, len: usize, path: &Path) -> Window<R> {
        Window {
            src,
            len,
            buf: Vec::new(),
            at: 0,
            path: path.to_path_buf(),
            chunk: WINDOW,
        }
    }

    /// Bytes `pos..pos + n` of the file; `pos` never goes back before an
    /// earlier call's.
    fn get(&mut self, pos: usize, n: usize) -> Result<&[u8], IndexUnreadable> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= self.len && pos >= self.at)
            .ok_or_else(|| IndexUnreadable::Format("malformed index: truncated".into()))?;
        if end > self.at + self.buf.len() {
            let io = |source| IndexUnreadable::Io {
                path: self.path.clone(),
                source,
            };
            let have = self.at + self.buf.len();
            if pos >= have {
                // Skip what nobody asked for (an extension we ignore).
                let skip = (pos - have) as u64;
                let src: &mut R = &mut self.src;
                let skipped =
                    std::io::copy(&mut src.take(skip), &mut std::io::sink()).map_err(io)?;
                if skipped != skip {
                    return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                self.buf.clear();
            } else {
                self.buf.drain(..pos - self.at);
            }
            self.at = pos;
            let want = n.max(self.chunk).min(self.len - pos);
            let old = self.buf.len();
            self.buf.resize(want, 0);
            self.src.read_exact(&mut self.buf[old..]).map_err(io)?;
        }
        Ok(&self.buf[pos - self.at..end - self.at])
    }

    fn be32(&mut self, pos: usize) -> Result<u32, IndexUnreadable> {
        let s = self.get(pos, 4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// The bytes from `pos` up to the next NUL (not past `end`, nor past
    /// the longest path a [`Slot`] holds).
    fn until_nul(&mut self, pos: usize, end: usize) -> Result<&[u8], IndexUnreadable> {
        let n = end.saturating_sub(pos).min(usize::from(LEN_MASK) + 1);
        let s = self.get(pos, n)?;
        let nul = s.iter().position(|&c| c == 0).ok_or_else(|| {
            IndexUnreadable::Format("malformed index: path (or one too long)".into())
        })?;
        Ok(&s[..nul])
    }
}

/// Parse an index file's entries, their paths appended to `paths`.
fn parse_raw<R: Read>(b: &mut Window<R>, paths: &mut Vec<u8>) -> Result<Parsed, IndexUnreadable> {
    let bad = |what: &str| IndexUnreadable::Format(format!("malformed index: {what}"));
    if b.len < 12 + 20 || b.get(0, 4)? != b"DIRC" {
        return Err(bad("no DIRC header"));
    }
    let version = b.be32(4)?;
    if !(2..=4).contains(&version) {
        return Err(IndexUnreadable::Format(format!(
            "unsupported index version {version}"
        )));
    }
    let count = b.be32(8)? as usize;
    let end_of_data = b.len - 20;
    let mut slots: Vec<Slot> = Vec::with_capacity(count.min(1 << 24));
    let mut meta: Vec<u8> = Vec::with_capacity(count.min(1 << 24));
    if version < 4 {
        // At most what is left after the fixed parts (less the padding and
        // extensions); the caller gives back what is not used.
        paths.reserve(end_of_data.saturating_sub(12 + count.saturating_mul(ENTRY_FIXED + 1)));
    }
    let mut pos = 12;
    // Where the previous entry's path is in `paths` (version 4 strips a
    // prefix of it).
    let mut prev = 0..0;
    for _ in 0..count {
        let start = pos;
        if pos + ENTRY_FIXED > end_of_data {
            return Err(bad("truncated entry"));
        }
        let e = b.get(start, ENTRY_FIXED)?;
        let f = |i: usize| u32::from_be_bytes([e[4 * i], e[4 * i + 1], e[4 * i + 2], e[4 * i + 3]]);
        let stat = IndexStat {
            ctime_s: f(0),
            ctime_ns: f(1),
            mtime_s: f(2),
            mtime_ns: f(3),
            ino: f(5),
            size: f(9),
        };
        let mode = f(6);
        let oid = Oid::from_bytes(&e[40..60]).map_err(|_| bad("object id"))?;
        let flags = u16::from_be_bytes([e[60], e[61]]);
        pos = start + ENTRY_FIXED;
        let mut ext_flags = 0u16;
        if flags & EXTENDED != 0 {
            if version < 3 || pos + 2 > end_of_data {
                return Err(bad("extended flags"));
            }
            let x = b.get(pos, 2)?;
            ext_flags = u16::from_be_bytes([x[0], x[1]]);
            pos += 2;
        }
        let path_start = paths.len();
        if version == 4 {
            let head = b.get(pos, end_of_data.saturating_sub(pos).min(16))?;
            let (strip, used) = varint(head).ok_or_else(|| bad("path prefix"))?;
            pos += used;
            let keep = prev
                .len()
                .checked_sub(strip as usize)
                .ok_or_else(|| bad("path prefix"))?;
            paths.extend_from_within(prev.start..prev.start + keep);
            let name = b.until_nul(pos, end_of_data)?;
            paths.extend_from_slice(name);
            pos += name.len() + 1;
        } else {
            let name = b.until_nul(pos, end_of_data)?;
            paths.extend_from_slice(name);
            // NUL-terminated, padded with NULs to a multiple of 8 bytes.
            pos = start + (pos - start + name.len() + 8) / 8 * 8;
        }
        prev = path_start..paths.len();
        let mut slot_flags = 0;
        if ext_flags & SKIP_WORKTREE != 0 {
            slot_flags |= SLOT_SKIP_WORKTREE;
        }
        if flags & ASSUME_VALID != 0 {
            slot_flags |= SLOT_ASSUME_UNCHANGED;
        }
        slots.push(Slot::new(
            paths,
            path_start,
            mode,
            oid,
            Some(stat),
            slot_flags,
        )?);
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
        let head = b.get(pos, 8)?;
        let sig: [u8; 4] = [head[0], head[1], head[2], head[3]];
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let data_end = (pos + 8)
            .checked_add(len)
            .filter(|&e| e <= end_of_data)
            .ok_or_else(|| bad("extension length"))?;
        match &sig {
            b"link" => {
                let data = b.get(pos + 8, len)?;
                link = Some(parse_link(data).ok_or_else(|| bad("link extension"))?);
            }
            // Sparse index: the directory entries say it all.
            b"sdir" => {}
            _ if sig[0].is_ascii_uppercase() => {}
            _ => {
                return Err(IndexUnreadable::Format(format!(
                    "unsupported mandatory extension: '{}'",
                    String::from_utf8_lossy(&sig)
                )))
            }
        }
        pos = data_end;
    }
    Ok(Parsed { slots, meta, link })
}

/// Fold conflict stages into one entry per path and decide which stat data
/// can be trusted, in place.
fn finish(mut slots: Vec<Slot>, meta: &[u8], paths: &[u8], racy_since: (i64, u32)) -> Vec<Slot> {
    let mut kept = 0;
    for i in 0..slots.len() {
        let conflicted = meta[i] & META_STAGE != 0;
        if conflicted && kept > 0 && slots[kept - 1].path(paths) == slots[i].path(paths) {
            // Several stages of one path: one entry, always hashed.
            continue;
        }
        let s = &mut slots[i];
        // Racy: modified in the same second the index was written (git
        // compares whole seconds unless built with USE_NSEC, which the
        // usual builds are not); git itself re-checks the content, so do
        // we. It matters when attributes changed since: git then stores the
        // converted content, not the indexed blob.
        let racy = s.has(SLOT_STAT) && i64::from(s.stat.mtime_s) >= racy_since.0;
        if conflicted || meta[i] & META_INTENT_TO_ADD != 0 || racy {
            s.set(SLOT_STAT, false);
        }
        // git ignores CE_VALID on unmerged entries.
        if conflicted {
            s.set(SLOT_ASSUME_UNCHANGED, false);
        }
        slots[kept] = slots[i];
        kept += 1;
    }
    slots.truncate(kept);
    slots
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
/// Both were parsed into `paths`.
fn merge_split(
    base: Parsed,
    own: Parsed,
    link: &Link,
    paths: &[u8],
) -> Result<Parsed, IndexUnreadable> {
    let bad = |what: &str| IndexUnreadable::Format(format!("malformed split index: {what}"));
    let (mut slots, mut meta) = (base.slots, base.meta);
    let (mut own, mut own_meta) = (own.slots, own.meta);
    if link.replace.len() > own.len() {
        return Err(bad("more replacements than entries"));
    }
    let added = own.split_off(link.replace.len());
    let added_meta = own_meta.split_off(link.replace.len());
    for ((&at, mut new), m) in link.replace.iter().zip(own).zip(own_meta) {
        let old = slots.get_mut(at).ok_or_else(|| bad("replace bitmap"))?;
        if new.len() == 0 {
            new.off = old.off;
            new.len_flags = (new.len_flags & !LEN_MASK) | (old.len_flags & LEN_MASK);
        }
        *old = new;
        meta[at] = m;
    }
    if !link.delete.is_empty() {
        let mut keep = vec![true; slots.len()];
        for &at in &link.delete {
            *keep.get_mut(at).ok_or_else(|| bad("delete bitmap"))? = false;
        }
        let mut k = keep.iter();
        slots.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        meta.retain(|_| *k.next().unwrap_or(&true));
    }
    if added.iter().any(|s| s.len() == 0) {
        return Err(bad("added entry without a name"));
    }
    if added.is_empty() {
        return Ok(Parsed {
            slots,
            meta,
            link: None,
        });
    }
    // Both lists are sorted by (path, stage); an added entry wins a tie.
    let n = slots.len() + added.len();
    let (mut out, mut out_meta) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut base = slots.into_iter().zip(meta).peekable();
    let key = |s: &Slot, m: u8| (s.path(paths), m & META_STAGE);
    for (a, am) in added.into_iter().zip(added_meta) {
        let ka = key(&a, am);
        while let Some((b, bm)) = base.next_if(|(b, bm)| key(b, *bm) < ka) {
            out.push(b);
            out_meta.push(bm);
        }
        base.next_if(|(b, bm)| key(b, *bm) == ka);
        out.push(a);
        out_meta.push(am);
    }
    for (b, bm) in base {
        out.push(b);
        out_meta.push(bm);
    }
    Ok(Parsed {
        slots: out,
        meta: out_meta,
        link: None,
    })
}

/// Replace each sparse directory entry (`dir/`, mode 040000) by the files
/// of its tree, all skip-worktree (git's `ensure_full_index`); their paths
/// are appended to `paths`.
fn expand_sparse_dirs(
    slots: Vec<Slot>,
    paths: &mut Vec<u8>,
    repo: &git2::Repository,
) -> Result<Vec<Slot>, IndexUnreadable> {
    if !slots.iter().any(|s| s.mode() == MODE_TREE) {
        return Ok(slots);
    }
    let mut out = Vec::with_capacity(slots.len());
    for s in slots {
        if s.mode() != MODE_TREE {
            out.push(s);
            continue;
        }
        let mut prefix = s.path(paths).to_vec();
        if prefix.last() != Some(&b'/') {
            prefix.push(b'/');
        }
        let name = String::from_utf8_lossy(&prefix).into_owned();
        let sparse_dir =
            |err: String| IndexUnreadable::Format(format!("sparse directory {name}: {err}"));
        let mut added = Vec::new();
        add_tree(repo, s.oid, &mut prefix, &mut added)
            .map_err(|e| sparse_dir(e.message().into()))?;
        for (path, mode, oid) in added {
            let start = paths.len();
            paths.extend_from_slice(&path);
            let slot = Slot::new(paths, start, mode, oid, None, SLOT_SKIP_WORKTREE)
                .map_err(|e| sparse_dir(e.to_string()))?;
            out.push(slot);
        }
    }
    let arena: &[u8] = paths;
    out.sort_by(|a, b| a.path(arena).cmp(b.path(arena)));
    Ok(out)
}

/// The files of `tree` (recursively), each as (path, mode, id).
fn add_tree(
    repo: &git2::Repository,
    tree: Oid,
    prefix: &mut Vec<u8>,
    out: &mut Vec<(Vec<u8>, u32, Oid)>,
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
            out.push((prefix.clone(), crate::git::mode::canonical(mode), item.id()));
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

/// Open an index file for reading, `None` if it does not exist.
fn open_optional(path: &Path) -> Result<Option<Window<std::fs::File>>, IndexUnreadable> {
    let io = |source| IndexUnreadable::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    let len =
        usize::try_from(len).map_err(|_| IndexUnreadable::Format("index too large".into()))?;
    // Unbuffered: the window reads large blocks itself.
    Ok(Some(Window::new(file, len, path)))
}

/// The entries of the index file `index`; a split index's shared part is
/// read from `git_dir`, sparse directories are expanded from `repo`'s
/// objects.
fn entries_of(
    index: &mut Window<std::fs::File>,
    racy_since: (i64, u32),
    repo: &git2::Repository,
) -> Result<Tracked, IndexUnreadable> {
    let mut paths = Vec::new();
    let mut parsed = parse_raw(index, &mut paths)?;
    let parsed = match parsed.link.take() {
        None => parsed,
        Some(link) => {
            let shared_path = repo.path().join(format!("sharedindex.{}", link.shared));
            let mut shared = open_optional(&shared_path)?.ok_or_else(|| {
                IndexUnreadable::Format(format!("missing shared index {}", shared_path.display()))
            })?;
            let base = parse_raw(&mut shared, &mut paths)?;
            if base.link.is_some() {
                return Err(IndexUnreadable::Format(
                    "a shared index that is split again".into(),
                ));
            }
            merge_split(base, parsed, &link, &paths)?
        }
    };
    let slots = finish(parsed.slots, &parsed.meta, &paths, racy_since);
    let slots = expand_sparse_dirs(slots, &mut paths, repo)?;
    Ok(Tracked::from_parts(slots, paths))
}

impl Tracked {
    fn from_parts(mut slots: Vec<Slot>, mut paths: Vec<u8>) -> Tracked {
        // Kept for the watcher's life: no slack.
        slots.shrink_to_fit();
        paths.shrink_to_fit();
        Tracked {
            slots,
            paths,
            ..Tracked::default()
        }
    }

    /// An index view holding `entries` (sorted by path), for tests.
    #[cfg(test)]
    pub(crate) fn from_entries<'a>(entries: impl IntoIterator<Item = TrackedEntry<'a>>) -> Tracked {
        let mut paths = Vec::new();
        let mut slots = Vec::new();
        for e in entries {
            let start = paths.len();
            paths.extend_from_slice(e.path);
            let mut flags = 0;
            if e.skip_worktree {
                flags |= SLOT_SKIP_WORKTREE;
            }
            if e.assume_unchanged {
                flags |= SLOT_ASSUME_UNCHANGED;
            }
            slots.push(
                Slot::new(&paths, start, e.mode, e.oid, e.stat, flags).expect("a small entry"),
            );
        }
        Tracked::from_parts(slots, paths)
    }

    /// How many paths are tracked.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The `i`-th entry in path order.
    pub fn entry(&self, i: usize) -> TrackedEntry<'_> {
        let s = &self.slots[i];
        TrackedEntry {
            path: s.path(&self.paths),
            mode: s.mode(),
            oid: s.oid,
            stat: s.has(SLOT_STAT).then_some(s.stat),
            skip_worktree: s.has(SLOT_SKIP_WORKTREE),
            assume_unchanged: s.has(SLOT_ASSUME_UNCHANGED),
        }
    }

    /// The `i`-th entry's path, if there are that many.
    fn path(&self, i: usize) -> Option<&[u8]> {
        self.slots.get(i).map(|s| s.path(&self.paths))
    }

    /// The `i`-th entry's path, mode and id (what a tree records of it).
    pub(crate) fn leaf(&self, i: usize) -> (&[u8], u32, Oid) {
        let s = &self.slots[i];
        (s.path(&self.paths), s.mode(), s.oid)
    }

    /// Every entry, in path order.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            tracked: self,
            start: 0,
            end: self.slots.len(),
        }
    }

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
            let Some(mut index) = open_optional(path)? else {
                continue;
            };
            let read = entries_of(&mut index, (before.mtime_s, before.mtime_ns), repo);
            if stat_of(path)? != Some(before) {
                // Replaced while we read it (the shared index of a split
                // index that git just rewrote may be gone already): read
                // the new one.
                if let Err(e) = read {
                    last_error = Some(e);
                }
                continue;
            }
            return read.map(|mut tracked| {
                tracked.index_stat = Some(before);
                tracked
            });
        }
        Err(last_error.unwrap_or_else(|| {
            IndexUnreadable::Format("the index kept changing while it was read".into())
        }))
    }

    /// The entry for exactly this path.
    pub(crate) fn get(&self, path: &[u8]) -> Option<TrackedEntry<'_>> {
        self.entries().find(path)
    }

    /// Entries strictly below directory `dir` (every entry when `dir` is
    /// empty). Paths starting with `dir/` are one contiguous range in byte
    /// order: from `dir/` up to (not including) `dir0`, `0` being `/` + 1.
    pub(crate) fn below(&self, dir: &[u8]) -> Entries<'_> {
        let all = self.entries();
        if dir.is_empty() {
            return all;
        }
        let mut lo = dir.to_vec();
        lo.push(b'/');
        let start = all.lower_bound(&lo);
        *lo.last_mut().expect("non-empty") = b'/' + 1;
        let end = all.lower_bound(&lo);
        Entries {
            tracked: self,
            start,
            end,
        }
    }

    /// Does git leave this entry as indexed, whatever is in the work tree?
    /// `present`: something exists at its path. Assume-unchanged entries are
    /// trusted; skip-worktree entries too, except in a sparse checkout when
    /// the path exists (git then clears the bit and looks at the file).
    pub(crate) fn keeps_indexed(
        &self,
        t: &TrackedEntry<'_>,
        present: impl FnOnce() -> bool,
    ) -> bool {
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
            for e in self.entries() {
                for (i, _) in e.path.iter().enumerate().filter(|(_, &b)| b == b'/') {
                    f.dirs.insert(fold(&e.path[..i]));
                }
                f.files.insert(fold(e.path));
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

/// What [`added_or_removed`] needs of an index view about to be replaced,
/// in a fraction of its memory (at a million files ~10 MB instead of ~73):
/// the paths in order, each as the length it shares with the one before
/// and the bytes that follow (sorted paths share most of theirs), and the
/// mode and id of entries git keeps as indexed (skip-worktree,
/// assume-unchanged), the only ones whose content is compared. The engine
/// outlines the old view and drops it before it reads the new index: the
/// two whole views are never held at once.
#[derive(Debug, Default)]
pub(crate) struct Outline {
    /// Per entry: shared length and rest length (LEB128), the rest, a
    /// flags byte ([`PIN_SKIP_WORKTREE`], [`PIN_ASSUME_UNCHANGED`]) and,
    /// when a flag is set, the mode (4 bytes, little-endian) and the id.
    bytes: Vec<u8>,
}

const PIN_SKIP_WORKTREE: u8 = 1;
const PIN_ASSUME_UNCHANGED: u8 = 2;

impl Tracked {
    /// This view's [`Outline`].
    pub(crate) fn outline(&self) -> Outline {
        let mut bytes = Vec::new();
        let mut prev: &[u8] = &[];
        for e in self.entries() {
            let shared = prev.iter().zip(e.path).take_while(|(a, b)| a == b).count();
            push_varint(&mut bytes, shared);
            push_varint(&mut bytes, e.path.len() - shared);
            bytes.extend_from_slice(&e.path[shared..]);
            let flags = pins(&e);
            bytes.push(flags);
            if flags != 0 {
                bytes.extend_from_slice(&e.mode.to_le_bytes());
                bytes.extend_from_slice(e.oid.as_bytes());
            }
            prev = e.path;
        }
        bytes.shrink_to_fit();
        Outline { bytes }
    }
}

/// An entry's [`Outline`] flags.
fn pins(e: &TrackedEntry<'_>) -> u8 {
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    flag(e.skip_worktree, PIN_SKIP_WORKTREE) | flag(e.assume_unchanged, PIN_ASSUME_UNCHANGED)
}

fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads an [`Outline`] entry by entry.
struct OutlineCursor<'a> {
    rest: &'a [u8],
    /// The current entry (when `valid`).
    path: Vec<u8>,
    flags: u8,
    mode: u32,
    oid: Oid,
    valid: bool,
}

impl<'a> OutlineCursor<'a> {
    /// A cursor on the first entry.
    fn new(outline: &'a Outline) -> Self {
        let mut c = OutlineCursor {
            rest: &outline.bytes,
            path: Vec::new(),
            flags: 0,
            mode: 0,
            oid: Oid::zero(),
            valid: false,
        };
        c.advance();
        c
    }

    /// On to the next entry (`valid` false past the last one).
    fn advance(&mut self) {
        self.valid = self.read().is_some();
    }

    fn read(&mut self) -> Option<()> {
        let shared = self.varint()?;
        let len = self.varint()?;
        let suffix = self.take(len)?;
        self.path.truncate(shared);
        self.path.extend_from_slice(suffix);
        self.flags = *self.take(1)?.first()?;
        if self.flags != 0 {
            self.mode = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
            self.oid = Oid::from_bytes(self.take(20)?).ok()?;
        }
        Some(())
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let rest: &'a [u8] = self.rest;
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        self.rest = tail;
        Some(head)
    }

    fn varint(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in (0..64).step_by(7) {
            let b = *self.take(1)?.first()?;
            n |= usize::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }
}

/// Paths present in exactly one of the old view (outlined) and the new
/// one, and paths whose entry git keeps as indexed (skip-worktree,
/// assume-unchanged) before or after and that changed: their snapshot
/// content follows the index, not the work tree.
pub(crate) fn added_or_removed(old: &Outline, new: &Tracked) -> Vec<Vec<u8>> {
    use std::cmp::Ordering;
    let mut old = OutlineCursor::new(old);
    let mut j = 0;
    let mut out = Vec::new();
    while old.valid || j < new.len() {
        let order = match (old.valid, new.path(j)) {
            (true, Some(b)) => old.path.as_slice().cmp(b),
            (true, None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                out.push(old.path.clone());
                old.advance();
            }
            Ordering::Greater => {
                out.push(new.entry(j).path.to_vec());
                j += 1;
            }
            Ordering::Equal => {
                let b = new.entry(j);
                // Pinned before or after, and its pins or (pinned both
                // times) its content changed.
                if old.flags != pins(&b)
                    || (old.flags != 0 && (old.oid != b.oid || old.mode != b.mode))
                {
                    out.push(b.path.to_vec());
                }
                old.advance();
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path, mode, id and flag of an index view, to compare two.
    fn dump(t: &Tracked) -> Vec<String> {
        t.entries().iter().map(|e| format!("{e:?}")).collect()
    }

    /// (path, mode, content, skip-worktree, assume-unchanged) of an entry.
    type Spec = (Vec<u8>, bool, u8, bool, bool);

    /// An index view of `specs` (one entry per path, the first of each).
    fn view(specs: &[Spec]) -> Tracked {
        let mut by_path: std::collections::BTreeMap<&[u8], &Spec> = Default::default();
        for s in specs {
            by_path.entry(&s.0).or_insert(s);
        }
        let oids: Vec<Oid> = by_path
            .values()
            .map(|s| Oid::hash_object(git2::ObjectType::Blob, &[s.2]).unwrap())
            .collect();
        Tracked::from_entries(
            by_path
                .iter()
                .zip(&oids)
                .map(|((path, s), oid)| TrackedEntry {
                    path,
                    mode: if s.1 { 0o100755 } else { 0o100644 },
                    oid: *oid,
                    stat: None,
                    skip_worktree: s.3,
                    assume_unchanged: s.4,
                }),
        )
    }

    fn spec() -> impl proptest::strategy::Strategy<Value = Spec> {
        use proptest::prelude::*;
        // Long shared prefixes (the outline stores what differs; lengths
        // past 127 take two bytes) and paths that are prefixes of one
        // another.
        let long: &'static str = "l".repeat(130).leak();
        let names = ["a", "a-b", "dir/sub", "dir/sub/deeper/x", "z", "é", long];
        (
            prop::collection::vec(0..names.len(), 1..=4),
            any::<bool>(),
            0..3u8,
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.3),
        )
            .prop_map(move |(idx, exec, c, skip, assume)| {
                let path = idx.iter().map(|&i| names[i]).collect::<Vec<_>>().join("/");
                (path.into_bytes(), exec, c, skip, assume)
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0071_e0a5),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// The paths that changed between an old view (only its outline
        /// kept) and a new one: those in one view only, and those pinned
        /// (skip-worktree, assume-unchanged) in either whose pins, mode or
        /// id differ — in path order.
        #[test]
        fn added_or_removed_from_the_outline_of_the_old_view(
            old in proptest::collection::vec(spec(), 0..24),
            new in proptest::collection::vec(spec(), 0..24),
        ) {
            let (old, new) = (view(&old), view(&new));
            let entries = |t: &Tracked| -> std::collections::BTreeMap<Vec<u8>, (u32, Oid, bool, bool)> {
                t.entries()
                    .iter()
                    .map(|e| (e.path.to_vec(), (e.mode, e.oid, e.skip_worktree, e.assume_unchanged)))
                    .collect()
            };
            let (a, b) = (entries(&old), entries(&new));
            let paths: std::collections::BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
            let want: Vec<Vec<u8>> = paths
                .into_iter()
                .filter(|p| match (a.get(*p), b.get(*p)) {
                    (Some(x), Some(y)) => (x.2 || x.3 || y.2 || y.3) && x != y,
                    _ => true,
                })
                .cloned()
                .collect();
            proptest::prop_assert_eq!(added_or_removed(&old.outline(), &new), want);
        }
    }

    /// The window reads the index in pieces: whatever their size (down to
    /// one byte, so every field straddles a refill, and extensions are
    /// skipped unread), the entries are those of the whole file at once.
    #[test]
    fn a_window_of_any_size_reads_the_same_entries() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        for i in 0..60 {
            let d = dir.path().join(format!("dir{}/sub{}", i % 7, i % 3));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("file-{i}-{}", "x".repeat(i))), i.to_string()).unwrap();
        }
        git(&["add", "-A"]);
        // The cache-tree (`TREE`) extension: skipped by the window.
        git(&["write-tree"]);
        for version in ["2", "3", "4"] {
            git(&["update-index", "--index-version", version]);
            if version == "3" {
                git(&["update-index", "--skip-worktree", "dir1/sub1/file-1-x"]);
                git(&["update-index", "--assume-unchanged", "dir2/sub2/file-2-xx"]);
            }
            let bytes = std::fs::read(dir.path().join(".git/index")).unwrap();
            let whole = parse(&bytes, (i64::MAX, 0)).unwrap();
            assert_eq!(whole.len(), 60);
            for chunk in [1, 3, 64, 1000] {
                let mut w = Window::new(bytes.as_slice(), bytes.len(), Path::new(""));
                w.chunk = chunk;
                let mut paths = Vec::new();
                let parsed = parse_raw(&mut w, &mut paths).unwrap();
                let slots = finish(parsed.slots, &parsed.meta, &paths, (i64::MAX, 0));
                let t = Tracked::from_parts(slots, paths);
                assert_eq!(dump(&t), dump(&whole), "version {version}, chunk {chunk}");
            }
        }
    }

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
