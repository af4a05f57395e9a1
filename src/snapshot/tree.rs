//! Building git tree objects from a sorted list of `(path, mode, id)`
//! entries. Entries sorted by path bytes are already in git's tree order
//! (a directory `d` sorts as `d/`), so each tree is serialised in one pass,
//! hashed in memory and written only if the object store lacks it: a
//! re-snapshot of a mostly unchanged repository writes only the trees on the
//! paths that changed.

use git2::{ObjectType, Odb, Oid};

use super::blob::write_if_missing;
use super::stat::MODE_TREE;

/// One leaf of a snapshot tree (a blob, symlink or gitlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Repository-relative path, `/`-separated bytes.
    pub path: Vec<u8>,
    pub mode: u32,
    pub oid: Oid,
}

/// Counts from writing a tree.
#[derive(Debug, Default, Clone)]
pub struct TreeStats {
    pub trees: u64,
    /// Trees newly written to the object store.
    pub written: Vec<Oid>,
}

/// Write the tree for `entries` (sorted, unique paths) whose paths all start
/// with a `prefix_len`-byte directory prefix (0 for the root), returning its
/// id. An empty list gives the empty tree.
pub fn write_tree(
    odb: &Odb<'_>,
    entries: &[Entry],
    prefix_len: usize,
    stats: &mut TreeStats,
) -> Result<Oid, git2::Error> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * entries.len().min(256));
    let mut i = 0;
    let mut last_name: &[u8] = &[];
    while i < entries.len() {
        let rest = &entries[i].path[prefix_len..];
        match rest.iter().position(|&b| b == b'/') {
            None => {
                if !(i > 0 && last_name == rest) {
                    push_entry(&mut buf, entries[i].mode, rest, entries[i].oid);
                }
                last_name = rest;
                i += 1;
            }
            Some(pos) => {
                let name = &rest[..pos];
                let sub_len = prefix_len + pos + 1;
                let mut j = i + 1;
                while j < entries.len()
                    && dir_prefix_eq(&entries[j].path, &entries[i].path, sub_len)
                {
                    j += 1;
                }
                let oid = write_tree(odb, &entries[i..j], sub_len, stats)?;
                if last_name == name {
                    // A file and a directory of the same name: keep the file,
                    // the caller should never produce this.
                    tracing::warn!(path = %String::from_utf8_lossy(&entries[i].path[..sub_len - 1]), "path is both a file and a directory; keeping the file");
                } else {
                    push_entry(&mut buf, MODE_TREE, name, oid);
                }
                last_name = name;
                i = j;
            }
        }
    }
    stats.trees += 1;
    let (oid, written) = write_if_missing(odb, ObjectType::Tree, &buf)?;
    if written {
        stats.written.push(oid);
    }
    Ok(oid)
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
