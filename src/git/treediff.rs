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

/// [`Leaf::at`] for many paths of one tree: each directory's tree is read
/// once, not once for every path below it (a recovery of 2,500 files
/// looked each up from the root: a third of its time).
pub(crate) struct Lookup<'r> {
    repo: &'r Repository,
    root: Option<Tree<'r>>,
    /// Directories read so far (`None`: not a directory in the tree).
    dirs: std::collections::HashMap<Vec<u8>, Option<Tree<'r>>>,
}

impl<'r> Lookup<'r> {
    pub(crate) fn new(repo: &'r Repository, root: Option<&Tree<'r>>) -> Self {
        Lookup {
            repo,
            root: root.cloned(),
            dirs: std::collections::HashMap::new(),
        }
    }

    /// The entry at `path`, as [`Leaf::at`] finds it.
    pub(crate) fn at(&mut self, path: &[u8]) -> Option<Leaf> {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], path),
        };
        self.dir(dir)?.get_name_bytes(name).map(|e| Leaf::of(&e))
    }

    /// The tree of directory `dir`, read through its parents (without
    /// recursion: a crafted tree may nest very deep).
    fn dir(&mut self, dir: &[u8]) -> Option<&Tree<'r>> {
        if !dir.is_empty() && !self.dirs.contains_key(dir) {
            let ends = dir
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'/')
                .map(|(i, _)| i)
                .chain([dir.len()]);
            let mut parent: &[u8] = &[];
            for end in ends {
                let here = &dir[..end];
                if !self.dirs.contains_key(here) {
                    let name = &here[parent.len() + usize::from(!parent.is_empty())..];
                    let id = self
                        .known(parent)
                        .and_then(|t| t.get_name_bytes(name))
                        .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                        .map(|e| e.id());
                    let tree = id.and_then(|id| self.repo.find_tree(id).ok());
                    self.dirs.insert(here.to_vec(), tree);
                }
                parent = here;
            }
        }
        self.known(dir)
    }

    fn known(&self, dir: &[u8]) -> Option<&Tree<'r>> {
        if dir.is_empty() {
            self.root.as_ref()
        } else {
            self.dirs.get(dir)?.as_ref()
        }
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

    /// The batched lookup finds what a lookup from the root finds: files,
    /// directories, paths through a file, missing paths, in any order and
    /// again after their directories were read.
    #[test]
    fn lookup_finds_what_leaf_at_finds() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        let odb = repo.odb().unwrap();
        let blob = odb.write(git2::ObjectType::Blob, b"x").unwrap();
        let mut paths: Vec<&[u8]> = vec![
            b"top",
            b"a/b/c/deep",
            b"a/b/c/deeper",
            b"a/b/side",
            b"a/f",
            b"z/one",
        ];
        let mut idx = repo.index().unwrap();
        for p in &paths {
            let e = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: 1,
                id: blob,
                flags: 0,
                flags_extended: 0,
                path: p.to_vec(),
            };
            idx.add(&e).unwrap();
        }
        let tree = repo.find_tree(idx.write_tree().unwrap()).unwrap();
        paths.extend([
            &b"a"[..],
            b"a/b",
            b"a/b/c",
            b"missing",
            b"a/missing",
            b"a/f/through-a-file",
            b"a/b/c/deep/below",
            b"q/r/s",
        ]);
        for order in [paths.clone(), paths.iter().rev().copied().collect()] {
            let mut lookup = Lookup::new(&repo, Some(&tree));
            for _ in 0..2 {
                for p in &order {
                    assert_eq!(
                        lookup.at(p),
                        Leaf::at(Some(&tree), p),
                        "{}",
                        String::from_utf8_lossy(p)
                    );
                }
            }
        }
        assert_eq!(Lookup::new(&repo, None).at(b"top"), None);
    }
}
