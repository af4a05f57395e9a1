//! Differences between two trees at the level of files (blobs, symlinks,
//! gitlinks). Subtrees with equal ids are skipped without being read, so a
//! diff costs O(changed paths × depth), not O(repository). Used for the
//! changed-paths summary of a snapshot and for restore plans.

use std::collections::BTreeMap;

use git2::{Oid, Repository, Tree};

use crate::error::{GitContext, Result};
use crate::git::mode::MODE_TREE;
use crate::git::path::is_at_or_under;

/// One side of a changed path: the entry's id and mode (see
/// [`crate::git::mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub oid: Oid,
    pub mode: u32,
}

impl Leaf {
    pub(crate) fn of(e: &git2::TreeEntry<'_>) -> Leaf {
        Leaf {
            oid: e.id(),
            // libgit2's `i32`; git's modes are all positive.
            mode: e.filemode() as u32,
        }
    }

    /// The entry at `path` in `tree` (`None`: no tree, or no such path).
    pub(crate) fn at(tree: Option<&Tree<'_>>, path: &[u8]) -> Option<Leaf> {
        tree?
            .get_path(crate::snapshot::engine::bytes_path(path))
            .ok()
            .map(|e| Leaf::of(&e))
    }
}

/// A path whose entry differs; `None` on the side where it does not exist
/// (or is a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: Vec<u8>,
    pub old: Option<Leaf>,
    pub new: Option<Leaf>,
}

impl Change {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Is `path` at or below one of `scope` (every path when `scope` is empty)?
pub(crate) fn in_scope(path: &[u8], scope: &[Vec<u8>]) -> bool {
    scope.is_empty() || scope.iter().any(|s| is_at_or_under(path, s))
}

/// Could a directory at `dir` contain something in `scope`?
fn dir_in_scope(dir: &[u8], scope: &[Vec<u8>]) -> bool {
    scope.is_empty()
        || scope
            .iter()
            .any(|s| is_at_or_under(dir, s) || is_at_or_under(s, dir))
}

/// How deep trees may nest: git's default `core.maxTreeDepth`. Deeper ones
/// come only from crafted chains and are refused.
pub(crate) const MAX_TREE_DEPTH: usize = 4096;

/// File-level changes from `old` to `new` (`None`: the empty tree), limited
/// to `scope`, in path order. A path that is a file on one side and a
/// directory on the other yields the file's change and one per file below.
/// Trees nested deeper than `MAX_TREE_DEPTH` are an error.
pub fn diff(
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: Option<&Tree<'_>>,
    scope: &[Vec<u8>],
) -> Result<Vec<Change>> {
    // An explicit stack, not recursion: a crafted (fetched) chain may nest
    // trees tens of thousands deep, which must not overflow the stack.
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<u8>, Option<Oid>, Option<Oid>)> =
        vec![(Vec::new(), old.map(Tree::id), new.map(Tree::id))];
    while let Some((prefix, a, b)) = stack.pop() {
        let depth = prefix.iter().filter(|&&c| c == b'/').count() + usize::from(!prefix.is_empty());
        if depth > MAX_TREE_DEPTH {
            return Err(crate::Error::TreeTooDeep {
                limit: MAX_TREE_DEPTH,
            });
        }
        let find = |oid: Option<Oid>| -> Result<Option<Tree<'_>>> {
            oid.map(|oid| {
                repo.find_tree(oid)
                    .git_context(|| format!("read tree {oid}"))
            })
            .transpose()
        };
        let (ta, tb) = (find(a)?, find(b)?);
        level(
            ta.as_ref(),
            tb.as_ref(),
            scope,
            &prefix,
            &mut out,
            &mut stack,
        );
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Compare one directory level; subtrees to compare go on `stack`.
fn level(
    a: Option<&Tree<'_>>,
    b: Option<&Tree<'_>>,
    scope: &[Vec<u8>],
    prefix: &[u8],
    out: &mut Vec<Change>,
    stack: &mut Vec<(Vec<u8>, Option<Oid>, Option<Oid>)>,
) {
    type Side = (Option<Leaf>, Option<Leaf>);
    let mut names: BTreeMap<Vec<u8>, Side> = BTreeMap::new();
    for e in a.into_iter().flat_map(|t| t.iter()) {
        names.entry(e.name_bytes().to_vec()).or_default().0 = Some(Leaf::of(&e));
    }
    for e in b.into_iter().flat_map(|t| t.iter()) {
        names.entry(e.name_bytes().to_vec()).or_default().1 = Some(Leaf::of(&e));
    }
    for (name, (ea, eb)) in names {
        if ea == eb {
            continue;
        }
        let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
        path.extend_from_slice(prefix);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);
        let leaf = |e: Option<Leaf>| e.filter(|l| l.mode != MODE_TREE);
        let subtree = |e: Option<Leaf>| e.filter(|l| l.mode == MODE_TREE).map(|l| l.oid);
        if (leaf(ea).is_some() || leaf(eb).is_some()) && in_scope(&path, scope) {
            out.push(Change {
                path: path.clone(),
                old: leaf(ea),
                new: leaf(eb),
            });
        }
        let (ta, tb) = (subtree(ea), subtree(eb));
        if (ta.is_some() || tb.is_some()) && dir_in_scope(&path, scope) {
            stack.push((path, ta, tb));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_matching_is_by_whole_components() {
        let scope = vec![b"src/a".to_vec()];
        assert!(in_scope(b"src/a", &scope));
        assert!(in_scope(b"src/a/b.rs", &scope));
        assert!(!in_scope(b"src/ab.rs", &scope));
        assert!(!in_scope(b"src", &scope));
        assert!(dir_in_scope(b"src", &scope));
        assert!(!dir_in_scope(b"lib", &scope));
        assert!(in_scope(b"anything", &[]));
    }
}
