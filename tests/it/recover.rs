//! `recover`'s search back through a chain, checked against the same
//! search done by brute force: every snapshot's tree listed whole and
//! compared with the work tree's, newest first. The search itself steps
//! from a snapshot to its parent by the snapshot's own changes.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::TestRepo;
use savepoint::ops::recover::{self, Found, Source};

/// path → "mode oid" of every file of a tree-ish.
fn listing(repo: &TestRepo, treeish: &str) -> BTreeMap<String, String> {
    repo.git(&["ls-tree", "-r", treeish])
        .lines()
        .filter_map(|l| {
            let (meta, path) = l.split_once('\t')?;
            let mut f = meta.split(' ');
            let (mode, _, oid) = (f.next()?, f.next()?, f.next()?);
            Some((path.to_owned(), format!("{mode} {oid}")))
        })
        .collect()
}

/// The snapshot and the paths `recover` should bring back, found by
/// comparing whole listings: the newest snapshot before the latest with a
/// file the work tree lost (gone, or back to HEAD's version).
fn brute_force(repo: &TestRepo, chain: &str) -> Option<(String, Vec<String>)> {
    let snapshots = repo.git(&["rev-list", "--first-parent", chain, "^HEAD"]);
    let snapshots: Vec<&str> = snapshots.lines().collect();
    let current = listing(repo, snapshots.first()?);
    let head = listing(repo, "HEAD");
    for snap in snapshots.iter().skip(1) {
        let then = listing(repo, snap);
        let paths: BTreeSet<&String> = current.keys().chain(then.keys()).collect();
        let lost: Vec<String> = paths
            .into_iter()
            .filter(|p| {
                let (now, was) = (current.get(*p), then.get(*p));
                now != was
                    && ((now.is_none() && was.is_some()) || (now.is_some() && now == head.get(*p)))
            })
            .cloned()
            .collect();
        if !lost.is_empty() {
            return Some((snap.to_string(), lost));
        }
    }
    None
}

/// Random work on a few files (edits, deletions, `git checkout` of one
/// file, new files), a snapshot after each step; after every step the
/// search finds what the brute force finds, and its plan touches exactly
/// the lost paths.
#[test]
fn the_search_back_finds_what_comparing_every_snapshot_whole_finds() {
    let files = [
        "a.txt",
        "d0/b.txt",
        "d0/c.txt",
        "d1/x/d.txt",
        "d1/x/e.txt",
        "d1/f.txt",
    ];
    let (mut found_some, mut found_deep) = (0, 0);
    for seed in [1u64, 2, 3, 4] {
        let repo = TestRepo::new();
        for f in files {
            repo.write(f, "committed\n");
        }
        repo.commit_all("init");
        repo.write("scratch.txt", "the chain's first snapshot\n");
        let chain = repo.snap("manual").refname;
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for step in 0..14 {
            let f = files[next() % files.len()];
            match next() % 5 {
                0 | 1 => repo.write(f, &format!("work {seed} {step}\n")),
                2 if repo.abs(f).exists() => repo.remove(f),
                3 => {
                    repo.git(&["checkout", "--", f]);
                }
                _ => repo.write(&format!("new/{f}"), &format!("new {step}\n")),
            }
            repo.snap("watch");
            let want = brute_force(&repo, &chain);
            let ws = repo.workspace();
            let got = match recover::find(&ws).expect("recover") {
                Found::Nothing { .. } => None,
                Found::Recovery(r) => {
                    let Source::Snapshot(info) = &r.source else {
                        panic!("seed {seed} step {step}: not a snapshot");
                    };
                    let lost: Vec<String> = r
                        .scope
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect();
                    let planned: Vec<String> =
                        r.plan.steps.iter().map(|s| s.change.path_lossy()).collect();
                    assert_eq!(planned, lost, "seed {seed} step {step}");
                    Some((info.oid.to_string(), lost))
                }
            };
            assert_eq!(got, want, "seed {seed} step {step}");
            if let Some((snap, _)) = &got {
                found_some += 1;
                let chain = repo.git(&["rev-list", "--first-parent", &chain, "^HEAD"]);
                let back = chain.lines().position(|l| l == snap).unwrap_or(0);
                found_deep += usize::from(back >= 2);
            }
        }
    }
    // The walk did find losses, some of them several snapshots back.
    assert!(
        found_some > 5 && found_deep > 0,
        "{found_some} {found_deep}"
    );
}
