//! Differences between two trees at the level of files (blobs, symlinks,
//! gitlinks). Subtrees with equal ids are skipped without being read, so a
//! diff costs O(changed paths × depth), not O(repository). Used for the
//! changed-paths summary of a snapshot and for restore plans.

use std::collections::{BTreeMap, HashMap};

use git2::{Oid, Repository, Tree};

use crate::error::{GitContext, Result};
use crate::git::mode::MODE_TREE;
use crate::git::path::{is_at_or_under, tree_order};

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

/// Trees read once for a whole operation that diffs and looks up many
/// times (recover searching a chain): libgit2 keeps only trees under 4 KiB
/// in its object cache, so a large directory (a root of 200 entries, a
/// package of 1,000 files) was inflated and parsed again by every diff and
/// lookup that passed through it. Holds at most [`Trees::BUDGET`] entries'
/// worth of trees; past that it reads without keeping.
pub(crate) struct Trees<'r> {
    repo: &'r Repository,
    read: HashMap<Oid, Tree<'r>>,
    /// Entries of the trees kept so far.
    entries: usize,
}

impl<'r> Trees<'r> {
    /// How many tree entries the cache keeps (~50–100 MB of parsed trees).
    const BUDGET: usize = 1 << 20;

    pub(crate) fn new(repo: &'r Repository) -> Self {
        Trees {
            repo,
            read: HashMap::new(),
            entries: 0,
        }
    }

    pub(crate) fn repo(&self) -> &'r Repository {
        self.repo
    }

    /// The tree `oid`, read at most once while the budget lasts.
    pub(crate) fn get(&mut self, oid: Oid) -> Result<Tree<'r>> {
        if let Some(t) = self.read.get(&oid) {
            return Ok(t.clone());
        }
        let tree = self
            .repo
            .find_tree(oid)
            .git_context(|| format!("read tree {oid}"))?;
        if self.entries + tree.len() <= Self::BUDGET {
            self.entries += tree.len();
            self.read.insert(oid, tree.clone());
        }
        Ok(tree)
    }
}

/// [`Leaf::at`] for many paths of one tree: each directory's tree is read
/// once, not once for every path below it (a recovery of 2,500 files
/// looked each up from the root: a third of its time).
pub(crate) struct Lookup<'r> {
    root: Option<Tree<'r>>,
    /// Directories read so far (`None`: not a directory in the tree).
    dirs: HashMap<Vec<u8>, Option<Tree<'r>>>,
}

impl<'r> Lookup<'r> {
    pub(crate) fn new(root: Option<&Tree<'r>>) -> Self {
        Lookup {
            root: root.cloned(),
            dirs: HashMap::new(),
        }
    }

    /// The entry at `path`, as [`Leaf::at`] finds it; trees are read
    /// through `trees`.
    pub(crate) fn at(&mut self, trees: &mut Trees<'r>, path: &[u8]) -> Option<Leaf> {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], path),
        };
        self.dir(trees, dir)?
            .get_name_bytes(name)
            .map(|e| Leaf::of(&e))
    }

    /// The tree of directory `dir`, read through its parents (without
    /// recursion: a crafted tree may nest very deep).
    fn dir(&mut self, trees: &mut Trees<'r>, dir: &[u8]) -> Option<&Tree<'r>> {
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
                    let tree = id.and_then(|id| trees.get(id).ok());
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

/// The file-level difference from a fixed tree (the work tree's) to a
/// state that moves back along a chain, one snapshot at a time: each step
/// applies that snapshot's own changes instead of diffing the fixed tree
/// against every older state again (a search back through a long chain
/// cost O(states × everything changed since)).
pub(crate) struct Moving {
    /// Path → (the fixed tree's entry, the state's): only paths that differ.
    differ: BTreeMap<Vec<u8>, (Option<Leaf>, Option<Leaf>)>,
}

impl Moving {
    /// From `changes`, a [`diff`] from the fixed tree to the first state.
    pub(crate) fn new(changes: Vec<Change>) -> Self {
        Moving {
            differ: changes
                .into_iter()
                .map(|c| (c.path, (c.old, c.new)))
                .collect(),
        }
    }

    /// Move from a state to its parent, `own` being the state's own changes
    /// (a [`diff`] from the parent to it). Returns the paths whose entry
    /// in the state changed.
    pub(crate) fn step_back(&mut self, own: Vec<Change>) -> Vec<Vec<u8>> {
        let mut touched = Vec::with_capacity(own.len());
        for c in own {
            // Not in the map: the fixed tree has what the state had.
            let fixed = self.differ.get(&c.path).map_or(c.new, |&(f, _)| f);
            if fixed == c.old {
                self.differ.remove(&c.path);
            } else {
                self.differ.insert(c.path.clone(), (fixed, c.old));
            }
            touched.push(c.path);
        }
        touched
    }

    /// The two sides at `path` when they differ.
    pub(crate) fn get(&self, path: &[u8]) -> Option<(Option<Leaf>, Option<Leaf>)> {
        self.differ.get(path).copied()
    }

    /// Every path that differs with its two sides, in path order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Option<Leaf>, Option<Leaf>)> {
        self.differ.iter().map(|(p, &(a, b))| (p.as_slice(), a, b))
    }

    /// What [`diff`] from the fixed tree to the state returns.
    pub(crate) fn changes(&self) -> Vec<Change> {
        self.iter()
            .map(|(path, old, new)| Change {
                path: path.to_vec(),
                old,
                new,
            })
            .collect()
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
    diff_by(
        &mut |oid| {
            repo.find_tree(oid)
                .git_context(|| format!("read tree {oid}"))
        },
        old,
        new,
        scope,
    )
}

/// [`diff`] reading trees through `trees`, for an operation that makes
/// many diffs over the same trees.
pub(crate) fn diff_in<'r>(
    trees: &mut Trees<'r>,
    old: Option<&Tree<'_>>,
    new: Option<&Tree<'_>>,
    scope: &[Vec<u8>],
) -> Result<Vec<Change>> {
    diff_by(&mut |oid| trees.get(oid), old, new, scope)
}

fn diff_by<'r>(
    read: &mut dyn FnMut(Oid) -> Result<Tree<'r>>,
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
        let ta = a.map(&mut *read).transpose()?;
        let tb = b.map(&mut *read).transpose()?;
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

/// One side of a level: the tree's entries, in its order, with their leaves.
type Entries<'t> = Vec<(git2::TreeEntry<'t>, Leaf)>;

fn entries<'t>(t: Option<&'t Tree<'_>>) -> Entries<'t> {
    t.into_iter()
        .flat_map(|t| t.iter())
        .map(|e| {
            let leaf = Leaf::of(&e);
            (e, leaf)
        })
        .collect()
}

fn is_tree(l: &Leaf) -> bool {
    l.mode == MODE_TREE
}

/// What follows `l`'s name in git's order of tree entries: `/` for a
/// directory (see [`tree_order`]).
fn end(l: &Leaf) -> u8 {
    if is_tree(l) {
        b'/'
    } else {
        0
    }
}

/// Are the entries as git writes them: strictly in git's order ([`tree_order`]), and no
/// directory with a file of the same name (the two sort apart, with only
/// names that extend it by a byte below `/` between them)? A crafted tree
/// may be neither; its level is then compared by name, as a map does.
fn well_formed(entries: &Entries<'_>) -> bool {
    (1..entries.len()).all(|i| {
        let (prev, prev_leaf) = &entries[i - 1];
        let (e, leaf) = &entries[i];
        let name = e.name_bytes();
        tree_order(prev.name_bytes(), end(prev_leaf), name, end(leaf)) == std::cmp::Ordering::Less
            && (!is_tree(leaf)
                || entries[..i]
                    .iter()
                    .rev()
                    .map(|(p, _)| p.name_bytes())
                    .take_while(|p| {
                        p.starts_with(name) && p.get(name.len()).is_none_or(|&c| c < b'/')
                    })
                    .all(|p| p.len() != name.len()))
    })
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
    let (ea, eb) = (entries(a), entries(b));
    let mut visit = |name: &[u8], ea: Option<Leaf>, eb: Option<Leaf>| {
        visit_entry(name, ea, eb, scope, prefix, out, stack)
    };
    if !(well_formed(&ea) && well_formed(&eb)) {
        // By name, the later of two entries of one name winning.
        type Side = (Option<Leaf>, Option<Leaf>);
        let mut names: BTreeMap<&[u8], Side> = BTreeMap::new();
        for (e, l) in &ea {
            names.entry(e.name_bytes()).or_default().0 = Some(*l);
        }
        for (e, l) in &eb {
            names.entry(e.name_bytes()).or_default().1 = Some(*l);
        }
        for (name, (la, lb)) in names {
            visit(name, la, lb);
        }
        return;
    }
    // Both sides sorted alike: one merge, no copy of any name. A file and
    // a directory of one name meet as two entries (each against nothing),
    // which yields what comparing them as one name does.
    let (mut i, mut j) = (0, 0);
    while i < ea.len() || j < eb.len() {
        let order = match (ea.get(i), eb.get(j)) {
            (Some((x, lx)), Some((y, ly))) => {
                tree_order(x.name_bytes(), end(lx), y.name_bytes(), end(ly))
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                visit(ea[i].0.name_bytes(), Some(ea[i].1), None);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                visit(eb[j].0.name_bytes(), None, Some(eb[j].1));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                visit(ea[i].0.name_bytes(), Some(ea[i].1), Some(eb[j].1));
                i += 1;
                j += 1;
            }
        }
    }
}

/// One name of a level: its change, if a file differs, and its subtrees
/// to compare, if a directory does.
fn visit_entry(
    name: &[u8],
    ea: Option<Leaf>,
    eb: Option<Leaf>,
    scope: &[Vec<u8>],
    prefix: &[u8],
    out: &mut Vec<Change>,
    stack: &mut Vec<(Vec<u8>, Option<Oid>, Option<Oid>)>,
) {
    if ea == eb {
        return;
    }
    let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
    path.extend_from_slice(prefix);
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
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
            let mut trees = Trees::new(&repo);
            let mut lookup = Lookup::new(Some(&tree));
            for _ in 0..2 {
                for p in &order {
                    assert_eq!(
                        lookup.at(&mut trees, p),
                        Leaf::at(Some(&tree), p),
                        "{}",
                        String::from_utf8_lossy(p)
                    );
                }
            }
        }
        assert_eq!(Lookup::new(None).at(&mut Trees::new(&repo), b"top"), None);
    }

    /// Every file below `tree`, by path (what a diff compares).
    fn listing(repo: &Repository, tree: &Tree<'_>) -> BTreeMap<Vec<u8>, Leaf> {
        let mut out = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            if e.filemode() as u32 != MODE_TREE {
                let mut path = dir.as_bytes().to_vec();
                path.extend_from_slice(e.name_bytes());
                out.insert(path, Leaf::of(e));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        let _ = repo;
        out
    }

    /// A random tree over names chosen to sort around `/` (`a`, `a-`,
    /// `a.c`, `a0`): some a file in one tree and a directory in another.
    fn random_tree(repo: &Repository, seed: &mut u64, depth: usize) -> Oid {
        fn next(seed: &mut u64) -> usize {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) as usize
        }
        let names = ["a", "a-", "a.c", "a0", "ab", "b", "b-x", "c"];
        let mut b = repo.treebuilder(None).unwrap();
        for name in names {
            match next(seed) % 5 {
                0 | 1 => {}
                2 if depth > 0 => {
                    let sub = random_tree(repo, seed, depth - 1);
                    if !repo.find_tree(sub).unwrap().is_empty() {
                        b.insert(name, sub, 0o040000).unwrap();
                    }
                    continue;
                }
                n => {
                    let content = [b"0", b"1", b"2"][n % 2 + next(seed) % 2];
                    let blob = repo.blob(content).unwrap();
                    let mode = if next(seed).is_multiple_of(4) {
                        0o100755
                    } else {
                        0o100644
                    };
                    b.insert(name, blob, mode).unwrap();
                }
            }
        }
        b.write().unwrap()
    }

    /// The merged walk finds exactly the files whose entries differ between
    /// two full listings, within any scope, on random trees (files turning
    /// into directories, names sorting around `/`), cached or not.
    #[test]
    fn diff_equals_the_difference_of_full_listings() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        // Objects in memory: thousands of small loose files are slow to create.
        let odb = repo.odb().unwrap();
        odb.add_new_mempack_backend(1000).unwrap();
        let mut seed = 7u64;
        let mut trees = Trees::new(&repo);
        let scopes: Vec<Vec<Vec<u8>>> = vec![
            vec![],
            vec![b"a".to_vec()],
            vec![b"a-".to_vec(), b"b/a0".to_vec()],
            vec![b"c/a/ab".to_vec()],
        ];
        for case in 0..300 {
            let ta = repo.find_tree(random_tree(&repo, &mut seed, 3)).unwrap();
            let tb = repo.find_tree(random_tree(&repo, &mut seed, 3)).unwrap();
            let (la, lb) = (listing(&repo, &ta), listing(&repo, &tb));
            let scope = &scopes[case % scopes.len()];
            let mut want: Vec<Change> = la
                .keys()
                .chain(lb.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|p| la.get(*p) != lb.get(*p) && in_scope(p, scope))
                .map(|p| Change {
                    path: p.clone(),
                    old: la.get(p).copied(),
                    new: lb.get(p).copied(),
                })
                .collect();
            want.sort_by(|x, y| x.path.cmp(&y.path));
            let got = diff(&repo, Some(&ta), Some(&tb), scope).unwrap();
            assert_eq!(got, want, "case {case}");
            assert_eq!(
                diff_in(&mut trees, Some(&ta), Some(&tb), scope).unwrap(),
                want
            );
            let none = diff(&repo, None, Some(&tb), scope).unwrap();
            assert_eq!(none.len(), lb.keys().filter(|p| in_scope(p, scope)).count());
        }
    }

    /// A tree object written by hand: `(mode, name, id)` in the order given.
    fn raw_tree(repo: &Repository, entries: &[(&str, &str, Oid)]) -> Oid {
        let mut bytes = Vec::new();
        for (mode, name, id) in entries {
            bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            bytes.extend_from_slice(id.as_bytes());
        }
        repo.odb()
            .unwrap()
            .write(git2::ObjectType::Tree, &bytes)
            .unwrap()
    }

    /// A crafted tree out of git's order, or with a file and a directory
    /// of one name, is compared by name as before (the later entry of a
    /// name wins), not merged as if sorted.
    #[test]
    fn crafted_trees_are_compared_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        let (x, y) = (repo.blob(b"x").unwrap(), repo.blob(b"y").unwrap());
        let sorted = raw_tree(&repo, &[("100644", "a", x), ("100644", "b", y)]);
        let unsorted = raw_tree(&repo, &[("100644", "b", y), ("100644", "a", x)]);
        let tree = |id| repo.find_tree(id).unwrap();
        let d = diff(&repo, Some(&tree(unsorted)), Some(&tree(sorted)), &[]).unwrap();
        assert_eq!(d, vec![]);

        let sub = raw_tree(&repo, &[("100644", "in", y)]);
        let both = raw_tree(&repo, &[("100644", "n", x), ("40000", "n", sub)]);
        let file = raw_tree(&repo, &[("100644", "n", x)]);
        let d = diff(&repo, Some(&tree(both)), Some(&tree(file)), &[]).unwrap();
        let leaf = |oid, mode| Some(Leaf { oid, mode });
        assert_eq!(
            d,
            vec![
                Change {
                    path: b"n".to_vec(),
                    old: None,
                    new: leaf(x, 0o100644),
                },
                Change {
                    path: b"n/in".to_vec(),
                    old: leaf(y, 0o100644),
                    new: None,
                },
            ]
        );
    }

    /// Stepping back along a chain gives, at every state, what diffing the
    /// fixed tree against that state gives; the paths it reports touched
    /// cover every path whose difference changed.
    #[test]
    fn moving_back_along_a_chain_equals_diffing_each_state() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        repo.odb().unwrap().add_new_mempack_backend(1000).unwrap();
        let mut seed = 11u64;
        for _ in 0..40 {
            let fixed = repo.find_tree(random_tree(&repo, &mut seed, 3)).unwrap();
            let chain: Vec<Tree<'_>> = (0..6)
                .map(|_| repo.find_tree(random_tree(&repo, &mut seed, 3)).unwrap())
                .collect();
            let full = |t: &Tree<'_>| diff(&repo, Some(&fixed), Some(t), &[]).unwrap();
            let mut moving = Moving::new(full(&chain[0]));
            assert_eq!(moving.changes(), full(&chain[0]));
            for k in 1..chain.len() {
                let before = moving.changes();
                let own = diff(&repo, Some(&chain[k]), Some(&chain[k - 1]), &[]).unwrap();
                let touched = moving.step_back(own);
                let after = full(&chain[k]);
                assert_eq!(moving.changes(), after, "state {k}");
                for c in before.iter().chain(&after) {
                    let was = before.iter().find(|b| b.path == c.path);
                    let now = after.iter().find(|a| a.path == c.path);
                    if was != now {
                        assert!(touched.contains(&c.path));
                    }
                    assert_eq!(moving.get(&c.path), now.map(|n| (n.old, n.new)));
                }
            }
        }
    }
}
