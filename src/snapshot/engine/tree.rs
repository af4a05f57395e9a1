//! Building git tree objects from a sorted list of `(path, mode, id)`
//! entries. Entries sorted by path bytes are already in git's tree order
//! (a directory `d` sorts as `d/`), so each tree is serialised in one pass,
//! hashed in memory and written only if the object store lacks it: a
//! re-snapshot of a mostly unchanged repository writes only the trees on the
//! paths that changed.

use git2::{ObjectType, Odb, Oid};

use super::blob::write_if_missing;
use crate::git::mode::MODE_TREE;

/// One leaf of a snapshot tree (a blob, symlink or gitlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Repository-relative path, `/`-separated bytes.
    pub path: Vec<u8>,
    pub mode: u32,
    pub oid: Oid,
}

/// Counts from writing a tree.
#[derive(Debug, Default, Clone)]
pub(crate) struct TreeStats {
    pub trees: u64,
    /// Trees newly written to the object store.
    pub written: Vec<Oid>,
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

/// Group `entries` (all below a `prefix_len`-byte directory prefix) into
/// the items of that directory's tree, in tree order.
fn items(entries: &[Entry], prefix_len: usize) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let rest = &entries[i].path[prefix_len..];
        match rest.iter().position(|&b| b == b'/') {
            None => {
                out.push(Item::Leaf {
                    name: rest,
                    mode: entries[i].mode,
                    oid: entries[i].oid,
                });
                i += 1;
            }
            Some(pos) => {
                let sub_len = prefix_len + pos + 1;
                let mut j = i + 1;
                while j < entries.len()
                    && dir_prefix_eq(&entries[j].path, &entries[i].path, sub_len)
                {
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
    let (oid, written) = write_if_missing(odb, ObjectType::Tree, buf)?;
    if written {
        stats.written.push(oid);
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
    let items = items(entries, prefix_len);
    let mut ids = Vec::new();
    for item in &items {
        if let Item::Dir { range, sub_len, .. } = item {
            ids.push(write_tree(odb, &entries[range.clone()], *sub_len, stats)?);
        }
    }
    store(odb, &serialize(&items, ids.into_iter()), stats)
}

/// [`write_tree`] for the root, with the top-level subtrees hashed on
/// `threads` threads (each with its own object database handle).
pub(crate) fn write_tree_parallel(
    git_dir: &std::path::Path,
    odb: &Odb<'_>,
    entries: &[Entry],
    threads: usize,
    stats: &mut TreeStats,
) -> Result<Oid, git2::Error> {
    let items = items(entries, 0);
    let dirs: Vec<(std::ops::Range<usize>, usize)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Dir { range, sub_len, .. } => Some((range.clone(), *sub_len)),
            Item::Leaf { .. } => None,
        })
        .collect();
    if threads < 2 || dirs.len() < 2 {
        return write_tree(odb, entries, 0, stats);
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
                    let mut local = TreeStats::default();
                    let mut ids = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((range, sub_len)) = dirs.get(k) else {
                            break;
                        };
                        ids.push((
                            k,
                            write_tree(&odb, &entries[range.clone()], *sub_len, &mut local)?,
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
