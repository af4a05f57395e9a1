//! Building git tree objects from a sorted list of `(path, mode, id)`
//! entries. Entries sorted by path bytes are already in git's tree order
//! (a directory `d` sorts as `d/`), so each tree is serialised in one pass,
//! hashed in memory and written only if the object store lacks it: a
//! re-snapshot of a mostly unchanged repository writes only the trees on the
//! paths that changed.

use git2::{ObjectType, Odb, Oid};

use super::blob::write_if_missing;
use super::objects::{ObjectSink, Stored};
use crate::git::mode::MODE_TREE;

/// One leaf of a snapshot tree (a blob, symlink or gitlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Repository-relative path, `/`-separated bytes.
    pub path: Vec<u8>,
    pub mode: u32,
    pub oid: Oid,
}

/// Counts from writing a tree, and where new trees go.
#[derive(Debug, Default, Clone)]
pub(crate) struct TreeStats {
    pub trees: u64,
    /// Trees newly written to the object store as loose objects.
    pub written: Vec<Oid>,
    /// Trees newly kept by the computation's sink (packed, or written
    /// loose when it finishes).
    pub kept: u64,
    /// The computation's destination for new objects (`None`: loose).
    pub sink: Option<std::sync::Arc<ObjectSink>>,
}

impl TreeStats {
    /// No counts yet, new trees going to `sink`.
    pub(crate) fn with_sink(sink: Option<std::sync::Arc<ObjectSink>>) -> TreeStats {
        TreeStats {
            sink,
            ..TreeStats::default()
        }
    }

    /// How many trees were new.
    pub(crate) fn new_trees(&self) -> u64 {
        self.written.len() as u64 + self.kept
    }
}

/// A list of leaves sorted by path, as the tree writer reads it: a plain
/// `[Entry]`, or a scan's list that names most leaves by their index entry
/// (see `walk::Leaves`).
pub(crate) trait Leaves: Sync {
    fn len(&self) -> usize;
    /// The `i`-th leaf's path.
    fn path(&self, i: usize) -> &[u8];
    /// The `i`-th leaf's mode and id.
    fn leaf(&self, i: usize) -> (u32, Oid);

    /// The number of leaves whose path sorts before `path`.
    fn lower_bound(&self, path: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.path(mid) < path {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Is there a leaf at exactly `path`?
    fn contains(&self, path: &[u8]) -> bool {
        let at = self.lower_bound(path);
        at < self.len() && self.path(at) == path
    }
}

impl Leaves for [Entry] {
    fn len(&self) -> usize {
        <[Entry]>::len(self)
    }

    fn path(&self, i: usize) -> &[u8] {
        &self[i].path
    }

    fn leaf(&self, i: usize) -> (u32, Oid) {
        (self[i].mode, self[i].oid)
    }
}

/// One entry of a tree being built: a leaf, or a subdirectory covering a
/// range of the sorted entries.
enum Item<'a> {
    Leaf {
        name: &'a [u8],
        mode: u32,
        oid: Oid,
    },
    Dir {
        name: &'a [u8],
        range: std::ops::Range<usize>,
        sub_len: usize,
    },
}

/// Group the leaves in `range` (all below a `prefix_len`-byte directory
/// prefix) into the items of that directory's tree, in tree order.
fn items<L: Leaves + ?Sized>(
    leaves: &L,
    range: std::ops::Range<usize>,
    prefix_len: usize,
) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    let mut i = range.start;
    while i < range.end {
        let path = leaves.path(i);
        let rest = &path[prefix_len..];
        match rest.iter().position(|&b| b == b'/') {
            None => {
                let (mode, oid) = leaves.leaf(i);
                out.push(Item::Leaf {
                    name: rest,
                    mode,
                    oid,
                });
                i += 1;
            }
            Some(pos) => {
                let sub_len = prefix_len + pos + 1;
                let mut j = i + 1;
                while j < range.end && dir_prefix_eq(leaves.path(j), path, sub_len) {
                    j += 1;
                }
                out.push(Item::Dir {
                    name: &rest[..pos],
                    range: i..j,
                    sub_len,
                });
                i = j;
            }
        }
    }
    out
}

/// Serialise a tree from its items, the subdirectories' ids given in order.
fn serialize(items: &[Item<'_>], mut dir_ids: impl Iterator<Item = Oid>) -> Vec<u8> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * items.len().min(256));
    let mut last_name: &[u8] = &[];
    for item in items {
        match item {
            Item::Leaf { name, mode, oid } => {
                if last_name != *name {
                    push_entry(&mut buf, *mode, name, *oid);
                }
                last_name = name;
            }
            Item::Dir { name, range, .. } => {
                let oid = dir_ids.next().expect("one id per directory");
                if last_name == *name {
                    // A file and a directory of the same name: keep the file,
                    // the caller should never produce this.
                    tracing::warn!(name = %String::from_utf8_lossy(name), start = range.start, "path is both a file and a directory; keeping the file");
                } else {
                    push_entry(&mut buf, MODE_TREE, name, oid);
                }
                last_name = name;
            }
        }
    }
    buf
}

fn store(odb: &Odb<'_>, buf: &[u8], stats: &mut TreeStats) -> Result<Oid, git2::Error> {
    stats.trees += 1;
    let (oid, stored) = write_if_missing(odb, stats.sink.as_deref(), ObjectType::Tree, buf)?;
    match stored {
        Stored::Loose => stats.written.push(oid),
        Stored::Kept => stats.kept += 1,
        Stored::Existing => {}
    }
    Ok(oid)
}

/// Write the tree for `entries` (sorted, unique paths) whose paths all start
/// with a `prefix_len`-byte directory prefix (0 for the root), returning its
/// id. An empty list gives the empty tree.
pub(crate) fn write_tree(
    odb: &Odb<'_>,
    entries: &[Entry],
    prefix_len: usize,
    stats: &mut TreeStats,
) -> Result<Oid, git2::Error> {
    write_range(odb, entries, 0..entries.len(), prefix_len, stats)
}

/// [`write_tree`] for the leaves in `range` of `leaves`.
fn write_range<L: Leaves + ?Sized>(
    odb: &Odb<'_>,
    leaves: &L,
    range: std::ops::Range<usize>,
    prefix_len: usize,
    stats: &mut TreeStats,
) -> Result<Oid, git2::Error> {
    let items = items(leaves, range, prefix_len);
    let mut ids = Vec::new();
    for item in &items {
        if let Item::Dir { range, sub_len, .. } = item {
            ids.push(write_range(odb, leaves, range.clone(), *sub_len, stats)?);
        }
    }
    store(odb, &serialize(&items, ids.into_iter()), stats)
}

/// [`write_tree`] for the root of `leaves`, with the top-level subtrees
/// hashed on `threads` threads (each with its own object database handle).
pub(crate) fn write_tree_parallel<L: Leaves + ?Sized>(
    git_dir: &std::path::Path,
    odb: &Odb<'_>,
    leaves: &L,
    threads: usize,
    stats: &mut TreeStats,
) -> Result<Oid, git2::Error> {
    let items = items(leaves, 0..leaves.len(), 0);
    let dirs: Vec<(std::ops::Range<usize>, usize)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Dir { range, sub_len, .. } => Some((range.clone(), *sub_len)),
            Item::Leaf { .. } => None,
        })
        .collect();
    if threads < 2 || dirs.len() < 2 {
        return write_range(odb, leaves, 0..leaves.len(), 0, stats);
    }
    /// What one thread hashed: (directory number, id) pairs and its counts.
    type Share = Result<(Vec<(usize, Oid)>, TreeStats), git2::Error>;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Share> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(dirs.len()))
            .map(|_| {
                s.spawn(|| {
                    let repo = git2::Repository::open(git_dir)?;
                    let odb = repo.odb()?;
                    let mut local = TreeStats::with_sink(stats.sink.clone());
                    let mut ids = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((range, sub_len)) = dirs.get(k) else {
                            break;
                        };
                        ids.push((
                            k,
                            write_range(&odb, leaves, range.clone(), *sub_len, &mut local)?,
                        ));
                    }
                    Ok((ids, local))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut ids = vec![Oid::zero(); dirs.len()];
    for r in results {
        let (found, local) = r?;
        for (k, oid) in found {
            ids[k] = oid;
        }
        stats.trees += local.trees;
        stats.written.extend(local.written);
        stats.kept += local.kept;
    }
    store(odb, &serialize(&items, ids.into_iter()), stats)
}

fn dir_prefix_eq(a: &[u8], b: &[u8], len: usize) -> bool {
    a.len() > len && a[..len] == b[..len]
}

fn push_entry(buf: &mut Vec<u8>, mode: u32, name: &[u8], oid: Oid) {
    use std::io::Write;
    let _ = write!(buf, "{mode:o} ");
    buf.extend_from_slice(name);
    buf.push(0);
    buf.extend_from_slice(oid.as_bytes());
}

/// What a [`TreePatch`] does at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Put this entry (a blob, symlink, gitlink or whole subtree) here.
    Upsert { mode: u32, oid: Oid },
    /// Take whatever is here out (nothing, if nothing is).
    Remove,
}

/// Changes to apply to a tree, by path: one rebuild of only the
/// directories they touch. Each touched directory's old tree is read once
/// and its new tree serialised and written once, bottom-up; everything
/// else is shared with the base tree. A directory left without entries
/// disappears from its parent (git has no empty trees), and every tree
/// written is counted in the [`TreeStats`], so the caller knows what to
/// flush.
///
/// Unlike libgit2's `TreeUpdateBuilder` no entry is looked up in the
/// object store (libgit2 reads the header of every entry of every tree it
/// rewrites), and removing a path that is not there is not an error.
#[derive(Debug, Default)]
pub(crate) struct TreePatch {
    /// Path → change; a later change to the same path replaces the earlier.
    changes: std::collections::BTreeMap<Vec<u8>, Change>,
}

impl TreePatch {
    /// Put a leaf (`mode` a file, symlink or gitlink mode) or a subtree
    /// ([`MODE_TREE`]) at `path`, replacing what was there.
    pub(crate) fn upsert(&mut self, path: &[u8], oid: Oid, mode: u32) {
        self.changes
            .insert(path.to_vec(), Change::Upsert { mode, oid });
    }

    /// Take `path` (and all below it) out.
    pub(crate) fn remove(&mut self, path: &[u8]) {
        self.changes.insert(path.to_vec(), Change::Remove);
    }

    /// Write the patched tree of `base`, returning its id.
    pub(crate) fn apply(
        &self,
        repo: &git2::Repository,
        odb: &Odb<'_>,
        base: &git2::Tree<'_>,
        stats: &mut TreeStats,
    ) -> Result<Oid, git2::Error> {
        if self.changes.is_empty() {
            return Ok(base.id());
        }
        let changes: Vec<(&[u8], Change)> = self
            .changes
            .iter()
            .map(|(p, c)| (p.as_slice(), *c))
            .collect();
        let base = tree_entries(base);
        let root = patch_dir(repo, odb, Some(&base), &changes, stats)?;
        match root {
            Some(oid) => Ok(oid),
            // Everything went: the root is the empty tree.
            None => store(odb, &[], stats),
        }
    }
}

/// The new tree of one directory: `base` (its old tree, if any) with
/// `changes`, whose paths are relative to it and sorted. `None` when
/// nothing is left in it.
fn patch_dir(
    repo: &git2::Repository,
    odb: &Odb<'_>,
    base: Option<&[(Vec<u8>, u32, Oid)]>,
    changes: &[(&[u8], Change)],
    stats: &mut TreeStats,
) -> Result<Option<Oid>, git2::Error> {
    // This directory's own changes by name, and the changes below each
    // subdirectory (contiguous: the paths are sorted, and a name's
    // subpaths `name/…` sort together).
    let mut here: std::collections::HashMap<&[u8], Change> = std::collections::HashMap::new();
    let mut below: Vec<(&[u8], std::ops::Range<usize>)> = Vec::new();
    let mut i = 0;
    while i < changes.len() {
        let (path, change) = changes[i];
        match path.iter().position(|&b| b == b'/') {
            None => {
                here.insert(path, change);
                i += 1;
            }
            Some(pos) => {
                let name = &path[..pos];
                let mut j = i + 1;
                while j < changes.len() && dir_prefix_eq(changes[j].0, path, pos + 1) {
                    j += 1;
                }
                below.push((name, i..j));
                i = j;
            }
        }
    }
    let by_name: std::collections::HashMap<&[u8], usize> = below
        .iter()
        .enumerate()
        .map(|(k, (n, _))| (*n, k))
        .collect();
    // The new tree's (name, mode, id); and what the base had at each name
    // with changes below it.
    let mut entries: Vec<(Vec<u8>, u32, Oid)> = Vec::new();
    let mut old: Vec<Option<(u32, Oid)>> = vec![None; below.len()];
    if let Some(base) = base {
        entries.reserve(base.len() + here.len());
        for (name, mode, id) in base {
            if let Some(&k) = by_name.get(name.as_slice()) {
                old[k] = Some((*mode, *id));
            } else if !here.contains_key(name.as_slice()) {
                // Untouched: kept as it is.
                entries.push((name.clone(), *mode, *id));
            }
        }
    }
    for (name, change) in &here {
        if by_name.contains_key(name) {
            continue; // the subdirectory's changes decide (below)
        }
        if let Change::Upsert { mode, oid } = change {
            entries.push((name.to_vec(), *mode, *oid));
        }
    }
    for (k, (name, range)) in below.iter().enumerate() {
        // What is there before the changes below apply: a change of the
        // name itself, else the base's entry.
        let before = match here.get(name) {
            Some(Change::Upsert { mode, oid }) => Some((*mode, *oid)),
            Some(Change::Remove) => None,
            None => old[k],
        };
        let sub_base = match before {
            // Possibly written by this very update, and not in the store
            // until its pack is finished.
            Some((m, o)) if crate::git::mode::is_tree(m) => {
                match stats.sink.as_ref().and_then(|s| s.tree(o)) {
                    Some(raw) => Some(parse_tree(&raw)?),
                    None => Some(tree_entries(&repo.find_tree(o)?)),
                }
            }
            _ => None,
        };
        let sub: Vec<(&[u8], Change)> = changes[range.clone()]
            .iter()
            .map(|(p, c)| (&p[name.len() + 1..], *c))
            .collect();
        match patch_dir(repo, odb, sub_base.as_deref(), &sub, stats)? {
            Some(id) => entries.push((name.to_vec(), MODE_TREE, id)),
            None => {
                // Nothing left below: a subdirectory disappears; a leaf
                // that was there (changes below a file, which can only
                // have been removals) stays.
                if let Some((m, o)) = before.filter(|(m, _)| !crate::git::mode::is_tree(*m)) {
                    entries.push((name.to_vec(), m, o));
                }
            }
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    // git's tree order: a subtree sorts as if its name ended in `/`.
    entries.sort_by(|a, b| {
        let key = |e: &(Vec<u8>, u32, Oid)| -> u8 {
            if crate::git::mode::is_tree(e.1) {
                b'/'
            } else {
                0
            }
        };
        crate::git::path::tree_order(&a.0, key(a), &b.0, key(b))
    });
    let mut buf: Vec<u8> = Vec::with_capacity(entries.len() * 48);
    for (name, mode, oid) in &entries {
        push_entry(&mut buf, *mode, name, *oid);
    }
    store(odb, &buf, stats).map(Some)
}

/// A tree's entries as (name, mode, id).
fn tree_entries(tree: &git2::Tree<'_>) -> Vec<(Vec<u8>, u32, Oid)> {
    tree.iter()
        .map(|e| (e.name_bytes().to_vec(), e.filemode_raw() as u32, e.id()))
        .collect()
}

/// The entries of a serialised tree (`<octal mode> <name>\0<20-byte id>`
/// each).
fn parse_tree(mut raw: &[u8]) -> Result<Vec<(Vec<u8>, u32, Oid)>, git2::Error> {
    let bad = || git2::Error::from_str("malformed tree in the pack being written");
    let mut out = Vec::new();
    while !raw.is_empty() {
        let space = raw.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let nul = raw.iter().position(|&b| b == 0).ok_or_else(bad)?;
        if nul < space || raw.len() < nul + 21 {
            return Err(bad());
        }
        let mode = std::str::from_utf8(&raw[..space])
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .ok_or_else(bad)?;
        let oid = Oid::from_bytes(&raw[nul + 1..nul + 21])?;
        out.push((raw[space + 1..nul].to_vec(), mode, oid));
        raw = &raw[nul + 21..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::mode::{MODE_EXEC, MODE_FILE, MODE_GITLINK, MODE_LINK};
    use proptest::prelude::*;

    const NAMES: &[&str] = &["a", "a-b", "a.c", "b", "sub", "z"];
    const MODES: &[u32] = &[MODE_FILE, MODE_EXEC, MODE_LINK, MODE_GITLINK];

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(0..NAMES.len(), 1..=4)
            .prop_map(|idx| idx.iter().map(|&i| NAMES[i]).collect::<Vec<_>>().join("/"))
    }

    /// (path, mode, content) of a leaf.
    fn leaf() -> impl Strategy<Value = (String, u32, u8)> {
        (path(), 0..MODES.len(), 0..4u8).prop_map(|(p, m, c)| (p, MODES[m], c))
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Upsert(String, u32, u8),
        /// Remove the n-th path of the base (libgit2 refuses to remove a
        /// path that is not there).
        Remove(usize),
        /// Remove the n-th path's directory.
        RemoveParent(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            3 => leaf().prop_map(|(p, m, c)| Edit::Upsert(p, m, c)),
            2 => any::<usize>().prop_map(Edit::Remove),
            1 => any::<usize>().prop_map(Edit::RemoveParent),
        ]
    }

    fn blob(repo: &git2::Repository, mode: u32, c: u8) -> Oid {
        if mode == MODE_GITLINK {
            // Gitlinks name commits of another repository: never read.
            return Oid::hash_object(ObjectType::Commit, &[c]).unwrap();
        }
        repo.blob(&[b'x', c]).unwrap()
    }

    /// Leaves with no path below another one (a file and a directory of
    /// one name cannot both be in a tree).
    fn consistent(leaves: Vec<(String, u32, u8)>) -> Vec<(String, u32, u8)> {
        let mut out: Vec<(String, u32, u8)> = Vec::new();
        for l in leaves {
            let clash = out.iter().any(|o| {
                o.0 == l.0
                    || o.0.starts_with(&format!("{}/", l.0))
                    || l.0.starts_with(&format!("{}/", o.0))
            });
            if !clash {
                out.push(l);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7ee9_a7c4),
            ..ProptestConfig::default()
        })]

        /// A [`TreePatch`] writes the tree libgit2's `TreeUpdateBuilder`
        /// writes for the same edits: leaves replacing directories and the
        /// other way round, removals that empty directories (which
        /// disappear), every mode.
        #[test]
        fn tree_patch_matches_libgit2s_tree_update_builder(
            leaves in prop::collection::vec(leaf(), 0..24),
            edits in prop::collection::vec(edit(), 1..24),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let repo = git2::Repository::init_bare(dir.path()).unwrap();
            let odb = repo.odb().unwrap();
            let leaves = consistent(leaves);
            let mut entries: Vec<Entry> = leaves
                .iter()
                .map(|(p, m, c)| Entry { path: p.clone().into_bytes(), mode: *m, oid: blob(&repo, *m, *c) })
                .collect();
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            let base_id = write_tree(&odb, &entries, 0, &mut TreeStats::default()).unwrap();
            let base = repo.find_tree(base_id).unwrap();

            // The edits, in path order and one per path (as libgit2 applies them).
            let mut by_path: std::collections::BTreeMap<String, Option<(u32, Oid)>> = Default::default();
            for e in &edits {
                match e {
                    Edit::Upsert(p, m, c) => {
                        by_path.insert(p.clone(), Some((*m, blob(&repo, *m, *c))));
                    }
                    Edit::Remove(n) | Edit::RemoveParent(n) if !leaves.is_empty() => {
                        let p = &leaves[n % leaves.len()].0;
                        let p = match (e, p.rsplit_once('/')) {
                            (Edit::RemoveParent(_), Some((parent, _))) => parent.to_owned(),
                            _ => p.clone(),
                        };
                        by_path.insert(p, None);
                    }
                    _ => {}
                }
            }
            // libgit2 cannot put something below a path it removes or
            // upserts in the same update: keep the first of such a pair.
            let mut kept: Vec<(String, Option<(u32, Oid)>)> = Vec::new();
            for (p, c) in by_path {
                if !kept.iter().any(|(k, _)| p.starts_with(&format!("{k}/"))) {
                    kept.push((p, c));
                }
            }
            let mut ours = TreePatch::default();
            let mut theirs = git2::build::TreeUpdateBuilder::new();
            let mut gone = false;
            for (p, c) in &kept {
                match c {
                    Some((m, oid)) => {
                        ours.upsert(p.as_bytes(), *oid, *m);
                        let mode = match *m {
                            MODE_EXEC => git2::FileMode::BlobExecutable,
                            MODE_LINK => git2::FileMode::Link,
                            MODE_GITLINK => git2::FileMode::Commit,
                            _ => git2::FileMode::Blob,
                        };
                        theirs.upsert(p, *oid, mode);
                    }
                    None => {
                        ours.remove(p.as_bytes());
                        // Earlier removals may have taken it already.
                        gone |= base.get_path(std::path::Path::new(p)).is_err();
                        theirs.remove(p);
                    }
                }
            }
            let mut stats = TreeStats::default();
            let got = ours.apply(&repo, &odb, &base, &mut stats).unwrap();
            // The model: the leaves after the edits, written from scratch.
            let mut model: std::collections::BTreeMap<Vec<u8>, (u32, Oid)> =
                entries.iter().map(|e| (e.path.clone(), (e.mode, e.oid))).collect();
            for (p, c) in &kept {
                let p = p.as_bytes();
                let under = |k: &[u8]| crate::git::path::is_at_or_under(k, p);
                model.retain(|k, _| !under(k));
                if let Some((m, oid)) = c {
                    // A leaf on the way down becomes a directory.
                    model.retain(|k, _| !crate::git::path::is_at_or_under(p, k));
                    model.insert(p.to_vec(), (*m, *oid));
                }
            }
            let model: Vec<Entry> = model
                .into_iter()
                .map(|(path, (mode, oid))| Entry { path, mode, oid })
                .collect();
            let want = write_tree(&odb, &model, 0, &mut TreeStats::default()).unwrap();
            prop_assert_eq!(got, want, "model: base {:?}, edits {:?}", leaves, kept);
            // libgit2 agrees wherever it takes the edits (it refuses to
            // remove what is not there and to put a leaf where a tree is).
            if !gone {
                if let Ok(theirs) = theirs.create_updated(&repo, &base) {
                    prop_assert_eq!(got, theirs, "libgit2: base {:?}, edits {:?}", leaves, kept);
                }
            }
            // Every tree of the result is in the store.
            repo.find_tree(got).unwrap().walk(git2::TreeWalkMode::PreOrder, |_, e| {
                if e.kind() == Some(ObjectType::Tree) {
                    assert!(repo.find_tree(e.id()).is_ok());
                }
                git2::TreeWalkResult::Ok
            }).unwrap();
        }
    }

    /// A patch that descends into a subtree written into the unfinished
    /// pack of the same computation reads it from the sink (the store does
    /// not have it yet), and the finished pack gives the tree a loose
    /// rebuild gives.
    #[test]
    fn tree_patch_reads_subtrees_from_the_unfinished_pack() {
        use crate::snapshot::engine::objects::ObjectSink;
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(dir.path()).unwrap();
        let odb = repo.odb().unwrap();
        let (x, y, z) = (
            repo.blob(b"x").unwrap(),
            repo.blob(b"y").unwrap(),
            repo.blob(b"z").unwrap(),
        );
        let leaf = |p: &str, oid| Entry {
            path: p.as_bytes().to_vec(),
            mode: 0o100644,
            oid,
        };
        let sink = std::sync::Arc::new(ObjectSink::new(&dir.path().join("objects")));
        sink.pack_from_now();
        let mut stats = TreeStats::with_sink(Some(sink.clone()));
        // `a` (with a subdirectory) written into the pack, then patched in
        // with a change below it, over an empty base.
        let sub = [leaf("a/b/c", x), leaf("a/d", y)];
        let a = write_tree(&odb, &sub, 2, &mut stats).unwrap();
        assert!(repo.find_tree(a).is_err(), "still only in the pack");
        assert_eq!(stats.kept, 2);
        let empty = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let mut patch = TreePatch::default();
        patch.upsert(b"a", a, MODE_TREE);
        patch.upsert(b"a/b/e", z, 0o100644);
        let got = patch.apply(&repo, &odb, &empty, &mut stats).unwrap();
        assert!(stats.written.is_empty(), "{:?}", stats.written);
        assert!(sink.finish(&odb).unwrap().is_empty(), "all packed");
        assert!(dir.path().join("objects/pack").read_dir().unwrap().count() == 2);
        let want = write_tree(
            &odb,
            &[leaf("a/b/c", x), leaf("a/b/e", z), leaf("a/d", y)],
            0,
            &mut TreeStats::default(),
        )
        .unwrap();
        assert_eq!(got, want);
        // The pack is readable now (a miss refreshes the pack directory).
        assert!(repo.find_tree(a).is_ok());
    }
}
