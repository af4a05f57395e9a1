//! A full scan's leaves without a copy of what the index already holds.
//! At a million files nearly every file is tracked and clean: its leaf is
//! its index entry's path, mode and id. A full scan (see
//! [`super::walk_leaves`]) records such a file as one bit, its entry's
//! number in a [`SlotSet`], instead of an [`Entry`] (48 bytes, plus an
//! allocation for the path): the scan's list is then [`ScanLeaves`], the
//! index entries named by the set merged in path order with the
//! entries of the rest (untracked, changed, deleted-but-kept files).

use git2::Oid;

use crate::snapshot::engine::index::Tracked;
use crate::snapshot::engine::tree::{Entry, Leaves};

/// A set of index entry numbers: one bit each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    pub(crate) fn insert(&mut self, slot: usize) {
        let w = slot / 64;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (slot % 64);
    }

    /// Add every member of `other`.
    pub(crate) fn union(&mut self, other: &SlotSet) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + bit
                })
            })
        })
    }
}

/// In [`ScanLeaves::order`]: the leaf is `own[n & !OWN]`; without the bit
/// it is index entry `n`.
const OWN: u32 = 1 << 31;

/// The leaves of a full scan in path order: index entries (by number) and
/// entries of its own, merged.
pub(crate) struct ScanLeaves<'a> {
    tracked: &'a Tracked,
    /// Sorted by path.
    own: Vec<Entry>,
    /// The index entries taken as they are.
    clean: SlotSet,
    /// Every leaf, in path order (see [`OWN`]).
    order: Vec<u32>,
}

impl<'a> ScanLeaves<'a> {
    /// The index entries in `clean` and the entries `own` (sorted by path),
    /// in one list sorted by path; on a tie the index entry comes first.
    /// `None` when there are too many to number (2³¹ of either).
    pub(crate) fn new(tracked: &'a Tracked, own: Vec<Entry>, clean: SlotSet) -> Option<Self> {
        let fits = |n: usize| u32::try_from(n).is_ok_and(|n| n < OWN);
        if !fits(own.len()) || !fits(tracked.len()) {
            return None;
        }
        let mut leaves = ScanLeaves {
            tracked,
            own,
            clean,
            order: Vec::new(),
        };
        leaves.merge();
        Some(leaves)
    }

    /// (Re)build `order` from `own` and `clean`.
    fn merge(&mut self) {
        let mut order = Vec::with_capacity(self.own.len() + self.clean.len());
        let mut slots = self.clean.iter().peekable();
        for (n, e) in self.own.iter().enumerate() {
            while let Some(&s) = slots.peek() {
                if self.tracked.leaf(s).0 > e.path.as_slice() {
                    break;
                }
                order.push(s as u32);
                slots.next();
            }
            order.push(n as u32 | OWN);
        }
        order.extend(slots.map(|s| s as u32));
        self.order = order;
    }

    /// With `more` (sorted by path) added, after the leaves already there
    /// on a tie. `None` when they would be too many to number.
    pub(crate) fn add(mut self, more: Vec<Entry>) -> Option<Self> {
        if more.is_empty() {
            return Some(self);
        }
        if u32::try_from(self.own.len() + more.len()).map_or(true, |n| n >= OWN) {
            return None;
        }
        // The old order goes first: it is as long as the whole list.
        self.order = Vec::new();
        let own = std::mem::take(&mut self.own);
        self.own = super::merge_into(own, more);
        // A tie between an index entry and an added one: the index entry
        // (the walk's) first, as the merge does.
        self.merge();
        Some(self)
    }

    /// Every leaf as an [`Entry`], in path order.
    pub(crate) fn into_entries(self) -> Vec<Entry> {
        let mut own: Vec<Option<Entry>> = self.own.into_iter().map(Some).collect();
        self.order
            .iter()
            .map(|&n| {
                if n & OWN != 0 {
                    own[(n & !OWN) as usize].take().expect("each once")
                } else {
                    let (path, mode, oid) = self.tracked.leaf(n as usize);
                    Entry {
                        path: path.to_vec(),
                        mode,
                        oid,
                    }
                }
            })
            .collect()
    }
}

impl Leaves for ScanLeaves<'_> {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn path(&self, i: usize) -> &[u8] {
        let n = self.order[i];
        if n & OWN != 0 {
            &self.own[(n & !OWN) as usize].path
        } else {
            self.tracked.leaf(n as usize).0
        }
    }

    fn leaf(&self, i: usize) -> (u32, Oid) {
        let n = self.order[i];
        if n & OWN != 0 {
            let e = &self.own[(n & !OWN) as usize];
            (e.mode, e.oid)
        } else {
            let (_, mode, oid) = self.tracked.leaf(n as usize);
            (mode, oid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::engine::index::TrackedEntry;
    use crate::snapshot::engine::tree::{write_tree, write_tree_parallel, TreeStats};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const NAMES: &[&str] = &["a", "a-b", "a.c", "b", "sub", "z"];

    /// Paths `a/b/…` of one to three names: a file and a directory of one
    /// name come up, as do prefixes of one another.
    fn path() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0..NAMES.len(), 1..=3).prop_map(|idx| {
            idx.iter()
                .map(|&i| NAMES[i])
                .collect::<Vec<_>>()
                .join("/")
                .into_bytes()
        })
    }

    fn oid(n: usize) -> Oid {
        Oid::hash_object(git2::ObjectType::Blob, n.to_string().as_bytes()).unwrap()
    }

    fn entry(path: &[u8], n: usize) -> Entry {
        Entry {
            path: path.to_vec(),
            mode: if n.is_multiple_of(3) {
                0o100755
            } else {
                0o100644
            },
            oid: oid(n),
        }
    }

    /// Every leaf as the tree writer reads it.
    fn read(leaves: &impl Leaves) -> Vec<Entry> {
        (0..leaves.len())
            .map(|i| {
                let (mode, oid) = leaves.leaf(i);
                Entry {
                    path: leaves.path(i).to_vec(),
                    mode,
                    oid,
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x001e_a7e5),
            ..ProptestConfig::default()
        })]

        /// A [`SlotSet`] holds what a `BTreeSet` holds, union included, and
        /// hands its members out ascending.
        #[test]
        fn slot_set_matches_a_btreeset(
            a in prop::collection::vec(0..300usize, 0..64),
            b in prop::collection::vec(0..300usize, 0..64),
        ) {
            let (mut sa, mut sb) = (SlotSet::default(), SlotSet::default());
            a.iter().for_each(|&n| sa.insert(n));
            b.iter().for_each(|&n| sb.insert(n));
            let mut want: BTreeSet<usize> = a.iter().copied().collect();
            prop_assert_eq!(sa.iter().collect::<Vec<_>>(), want.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(sa.len(), want.len());
            sa.union(&sb);
            want.extend(&b);
            prop_assert_eq!(sa.iter().collect::<Vec<_>>(), want.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(sa.len(), want.len());
        }

        /// A scan's leaves — some index entries by number, entries of its
        /// own, more added later — read (and write trees) exactly as the
        /// list of all of them sorted by path, which is what the scan held
        /// before: the own entries before the added ones on a tie, the
        /// index entries first of all.
        #[test]
        fn scan_leaves_read_as_the_sorted_list_of_all_entries(
            indexed in prop::collection::btree_set(path(), 0..40),
            picks in prop::collection::vec(0..3u8, 40),
            own in prop::collection::btree_set(path(), 0..12),
            more in prop::collection::btree_set(path(), 0..12),
        ) {
            let indexed: Vec<Vec<u8>> = indexed.into_iter().collect();
            let tracked = Tracked::from_entries(indexed.iter().enumerate().map(|(n, p)| {
                let e = entry(p, n);
                TrackedEntry {
                    path: p,
                    mode: e.mode,
                    oid: e.oid,
                    stat: None,
                    skip_worktree: false,
                    assume_unchanged: false,
                }
            }));
            // Index entries taken as they are (`picks` 0), or not at all.
            let mut clean = SlotSet::default();
            let mut want: Vec<(Vec<u8>, u8, Entry)> = Vec::new();
            for (n, p) in indexed.iter().enumerate() {
                if picks[n % picks.len()] == 0 {
                    clean.insert(n);
                    want.push((p.clone(), 0, entry(p, n)));
                }
            }
            let own: Vec<Entry> = own.iter().map(|p| entry(p, 1000 + p.len())).collect();
            let more: Vec<Entry> = more.iter().map(|p| entry(p, 2000 + p.len())).collect();
            want.extend(own.iter().map(|e| (e.path.clone(), 1, e.clone())));
            want.extend(more.iter().map(|e| (e.path.clone(), 2, e.clone())));
            // The order the scan's single list had: a stable sort by path
            // of the walk's leaves, then the added ones.
            want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            let want: Vec<Entry> = want.into_iter().map(|(_, _, e)| e).collect();

            let leaves = ScanLeaves::new(&tracked, own, clean).unwrap().add(more).unwrap();
            prop_assert_eq!(&read(&leaves), &want);
            for e in &want {
                prop_assert!(leaves.contains(&e.path));
            }
            // The same trees, whether written from the leaves (on threads)
            // or from the plain list.
            let dir = tempfile::tempdir().unwrap();
            let repo = git2::Repository::init_bare(dir.path()).unwrap();
            let odb = repo.odb().unwrap();
            let got = write_tree_parallel(dir.path(), &odb, &leaves, 2, &mut TreeStats::default()).unwrap();
            let plain = write_tree(&odb, &want, 0, &mut TreeStats::default()).unwrap();
            prop_assert_eq!(got, plain);
            prop_assert_eq!(leaves.into_entries(), want);
        }
    }
}
