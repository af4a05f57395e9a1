//! Many new objects in one recording go into one pack (`git::pack`,
//! `snapshot::engine::objects`): git must accept the pack (`fsck --strict`,
//! `verify-pack`) and read every object from it, the snapshot tree must
//! still be git's, and small updates must stay loose (no pack per edit).

use std::path::PathBuf;

use crate::common::TestRepo;
use savepoint::snapshot::engine::{Engine, ScanOptions};
use savepoint::workspace::config::Config;

/// The pack files (`pack-*.pack`) in the repository, sorted.
fn packs(repo: &TestRepo) -> Vec<String> {
    let dir = repo.path().join(".git/objects/pack");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".pack"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Loose objects in the repository (`git count-objects`'s `count`).
fn loose(repo: &TestRepo) -> u64 {
    let out = repo.git(&["count-objects", "-v"]);
    out.lines()
        .find_map(|l| l.strip_prefix("count: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("count-objects output")
}

/// `git verify-pack` accepts every pack, and `cat-file` reads what the
/// tree `tree` names from them.
fn assert_packs_valid(repo: &TestRepo, tree: &str) {
    for p in packs(repo) {
        let idx = repo
            .path()
            .join(".git/objects/pack")
            .join(p.replace(".pack", ".idx"));
        let out = repo.git_output(&["verify-pack", "-v", idx.to_str().unwrap()], None);
        assert!(
            out.status.success(),
            "verify-pack {p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    repo.assert_fsck_clean();
    // Every blob and tree of the snapshot reads back.
    let archive = repo.git_output(&["archive", "--format=tar", "-o", "/dev/null", tree], None);
    assert!(
        archive.status.success(),
        "{}",
        String::from_utf8_lossy(&archive.stderr)
    );
}

fn engine(repo: &TestRepo) -> (savepoint::workspace::Workspace, Engine) {
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let eng = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    (ws, eng)
}

#[test]
fn a_first_snapshot_of_many_files_is_one_pack_git_reads() {
    let repo = TestRepo::new();
    for i in 0..300 {
        repo.write(
            &format!("d{}/s{}/f{i}.txt", i % 3, i % 7),
            &format!("file {i}\n"),
        );
    }
    let loose_before = loose(&repo);
    let snap = repo.snap("manual");
    assert!(snap.created, "{snap:?}");
    assert_eq!(snap.tree, repo.oracle_tree());
    let packs = packs(&repo);
    assert_eq!(packs.len(), 1, "{packs:?}");
    // Only the snapshot's commit is loose; every blob and tree is packed.
    assert_eq!(loose(&repo), loose_before + 1);
    assert_packs_valid(&repo, &snap.tree);
    let blob = repo.git(&["cat-file", "-p", &format!("{}:d1/s3/f10.txt", snap.tree)]);
    assert_eq!(blob, "file 10"); // (trimmed)
                                 // The pack is in place under its final name, with no temporary files
                                 // left beside it, and read-only like git's.
    let dir = repo.path().join(".git/objects/pack");
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("pack-"), "{name}");
        let mode = std::os::unix::fs::PermissionsExt::mode(&e.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o444, "{name}");
    }
}

#[test]
fn a_burst_is_one_pack_and_small_updates_stay_loose() {
    let repo = TestRepo::new();
    let names: Vec<String> = (0..120)
        .map(|i| format!("src/m{}/deep/f{i}.rs", i % 10))
        .collect();
    for n in &names {
        repo.write(n, "old\n");
    }
    repo.commit_all("init");
    let (ws, mut eng) = engine(&repo);
    let base = eng.scan(&ws).unwrap().tree;
    assert!(packs(&repo).is_empty(), "a warm scan writes nothing");

    // A burst: every file rewritten.
    for (i, n) in names.iter().enumerate() {
        repo.write(n, &format!("new {i}\n"));
    }
    let paths: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
    let loose_before = loose(&repo);
    let out = eng.update(&ws, base, &paths).unwrap();
    let tree = out.tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(packs(&repo).len(), 1);
    assert_eq!(loose(&repo), loose_before, "nothing of the burst is loose");
    assert!(out.written.is_empty(), "{:?}", out.written);
    assert!(out.stats.trees_written >= 21, "{:?}", out.stats);
    assert_packs_valid(&repo, &tree);

    // A small update: loose objects, flushed one by one; no new pack.
    repo.write("src/m3/deep/f3.rs", "small\n");
    repo.write("src/m4/new.rs", "new file\n");
    let small = [PathBuf::from("src/m3/deep/f3.rs"), "src/m4/new.rs".into()];
    let out = eng.update(&ws, out.tree, &small).unwrap();
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    assert_eq!(packs(&repo).len(), 1);
    assert!(!out.written.is_empty());
    assert!(loose(&repo) > loose_before);

    // Recording reads the packed trees back in this process.
    let snap = repo.snap("manual");
    assert_eq!(snap.tree, repo.oracle_tree());
    repo.assert_fsck_clean();
}

#[test]
fn a_new_directory_tree_of_many_files_is_packed_and_exact() {
    let repo = TestRepo::new();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("init");
    let (ws, mut eng) = engine(&repo);
    let base = eng.scan(&ws).unwrap().tree;
    // A directory appears whole (an unpacked archive): re-walked, its
    // objects past the first few go into the pack.
    for i in 0..200 {
        repo.write(
            &format!("vendor/lib{}/x/f{i}.c", i % 4),
            &format!("int f{i};\n"),
        );
    }
    let loose_before = loose(&repo);
    let out = eng.update(&ws, base, &[PathBuf::from("vendor")]).unwrap();
    let tree = out.tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(packs(&repo).len(), 1);
    // The first objects, held back until there were enough, joined the
    // pack: none is loose.
    assert_eq!(loose(&repo), loose_before);
    assert!(out.written.is_empty(), "{:?}", out.written);
    assert_packs_valid(&repo, &tree);
}

#[test]
fn a_few_new_directories_stay_loose() {
    let repo = TestRepo::new();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("init");
    let (ws, mut eng) = engine(&repo);
    let base = eng.scan(&ws).unwrap().tree;
    for i in 0..10 {
        repo.write(&format!("new/d{i}/f.txt"), &format!("{i}\n"));
    }
    let loose_before = loose(&repo);
    let out = eng.update(&ws, base, &[PathBuf::from("new")]).unwrap();
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    assert!(packs(&repo).is_empty());
    // 10 blobs, 10 trees `d<i>`, `new` and the root: loose, every one
    // named for its flush.
    assert_eq!(out.written.len(), 22, "{:?}", out.written);
    assert_eq!(loose(&repo), loose_before + 22);
    repo.assert_fsck_clean();
}
