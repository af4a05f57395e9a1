//! Library-level tests of the snapshot engine on the cases the random
//! differential test cannot reach easily: submodules, split and sparse
//! indexes, skip-worktree / assume-unchanged entries, `core.ignorecase`,
//! linked work trees, merges in progress, special
//! files, files vanishing mid-scan, and the stat cache's behaviour.

use std::time::{Duration, SystemTime};

use crate::common::TestRepo;
use savepoint::snapshot::engine::{Engine, ScanOptions};
use savepoint::snapshot::record::{ChainPos, SnapRequest};
use savepoint::workspace::config::Config;

fn scan(repo: &TestRepo) -> savepoint::snapshot::engine::TreeOutcome {
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    Engine::new(&ws, ScanOptions::from_config(&cfg))
        .unwrap()
        .scan(&ws)
        .unwrap()
}

fn age(repo: &TestRepo, rel: &str, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(repo.abs(rel))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn tracked_but_ignored_files_stay_and_exec_bits_and_symlinks_match() {
    let repo = TestRepo::new();
    repo.write("build/keep.txt", "tracked\n");
    repo.write("run.sh", "#!/bin/sh\n");
    repo.chmod("run.sh", 0o755);
    repo.symlink("run.sh", "link");
    repo.symlink("../../outside", "dangling");
    repo.commit_all("init");
    repo.write(".gitignore", "build/\n*.sh\n");
    repo.write("build/new.txt", "ignored\n");
    repo.write("build/keep.txt", "tracked, changed\n");
    repo.chmod("run.sh", 0o644);
    let out = scan(&repo);
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    let ls = repo.git(&["ls-tree", "-r", &out.tree.to_string()]);
    assert!(
        ls.contains("build/keep.txt") && !ls.contains("build/new.txt"),
        "{ls}"
    );
    assert!(
        ls.contains("120000 blob") && ls.contains("100644 blob"),
        "{ls}"
    );
}

/// Tracked files matched by an ignore rule are resolved where the walk
/// lists them (no ignore matching for tracked files): their directory's
/// `.gitattributes` still converts them, a skip-worktree or
/// assume-unchanged one keeps its indexed content, and untracked neighbours
/// stay ignored.
#[test]
fn tracked_ignored_files_keep_their_directory_attributes() {
    let repo = TestRepo::new();
    repo.write("deep/er/.gitattributes", "*.txt text eol=lf\n");
    repo.write("deep/er/a.txt", "one\n");
    repo.write("deep/er/kept.txt", "kept\n");
    repo.write("deep/er/b.bin", "bin\n");
    repo.commit_all("init");
    repo.write(".gitignore", "*.txt\n*.bin\n");
    repo.write("deep/er/a.txt", "one\r\ntwo\r\n");
    repo.write("deep/er/b.bin", "bin\r\n");
    repo.write("deep/er/new.txt", "ignored\r\n");
    repo.git(&["update-index", "--assume-unchanged", "deep/er/kept.txt"]);
    repo.write("deep/er/kept.txt", "changed but assumed unchanged\n");
    let out = scan(&repo);
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    let ls = repo.git(&["ls-tree", "-r", &out.tree.to_string()]);
    assert!(
        ls.contains("deep/er/a.txt") && !ls.contains("new.txt"),
        "{ls}"
    );
    let a = repo.git(&["cat-file", "-p", &format!("{}:deep/er/a.txt", out.tree)]);
    assert_eq!(a, "one\ntwo", "the directory's eol=lf was not applied");
}

#[test]
fn non_utf8_unicode_and_odd_names() {
    use std::os::unix::ffi::OsStrExt;
    let repo = TestRepo::new();
    repo.write_bytes(b"caf\xe9/latin1.txt", b"x");
    repo.write("ünï cødé/with space.txt", "y");
    repo.write("-leading-dash", "z");
    repo.write("tab\tname", "t");
    repo.write("new\nline", "n");
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
    let _ = std::ffi::OsStr::from_bytes(b"");
}

#[test]
fn fifos_and_sockets_are_skipped_like_git_does() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a");
    let st = std::process::Command::new("mkfifo")
        .arg(repo.abs("pipe"))
        .status()
        .unwrap();
    assert!(st.success());
    let _sock = std::os::unix::net::UnixListener::bind(repo.abs("sock")).unwrap();
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

#[test]
fn nested_repositories_and_submodules_become_gitlinks() {
    let repo = TestRepo::new();
    let upstream = TestRepo::new();
    upstream.write("lib.rs", "pub fn x() {}\n");
    upstream.commit_all("lib");
    repo.write("main.rs", "fn main() {}\n");
    repo.add_submodule(&upstream, "vendor/lib");
    repo.commit_all("with submodule");
    // Move the submodule's HEAD: the snapshot records the new commit.
    let sub = repo.abs("vendor/lib");
    std::fs::write(sub.join("lib.rs"), "pub fn y() {}\n").unwrap();
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "sub change",
        ][..],
    ] {
        assert!(std::process::Command::new("git")
            .args(args)
            .current_dir(&sub)
            .status()
            .unwrap()
            .success());
    }
    // An untracked nested repository is a gitlink too.
    let nested = TestRepo::new();
    nested.write("f", "f");
    nested.commit_all("n");
    let dest = repo.abs("nested");
    assert!(std::process::Command::new("git")
        .args([
            "clone",
            "-q",
            nested.path().to_str().unwrap(),
            dest.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    let out = scan(&repo);
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    let ls = repo.git(&["ls-tree", "-r", &out.tree.to_string()]);
    assert!(ls.contains("160000 commit"), "{ls}");
}

#[test]
fn uninitialised_submodule_keeps_its_recorded_commit() {
    let upstream = TestRepo::new();
    upstream.write("lib.rs", "x\n");
    upstream.commit_all("lib");
    let origin = TestRepo::new();
    origin.add_submodule(&upstream, "sub");
    origin.commit_all("sub");
    let clone = TestRepo::new();
    clone.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
    clone.git(&["fetch", "-q", "origin"]);
    clone.git(&["checkout", "-q", "-B", "main", "origin/main"]);
    assert!(clone.abs("sub").is_dir());
    clone.write("x", "y");
    assert_eq!(scan(&clone).tree.to_string(), clone.oracle_tree());
}

/// A scan with `savepoint.maxFileSize` / `savepoint.exclude` set through
/// git config, as `snap` reads them.
fn scan_with(
    repo: &TestRepo,
    max_file_size: u64,
    exclude: &[&str],
) -> savepoint::snapshot::engine::TreeOutcome {
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut opts = ScanOptions::from_config(&cfg);
    opts.max_file_size = max_file_size;
    opts.exclude = exclude.iter().map(|s| s.to_string()).collect();
    Engine::new(&ws, opts).unwrap().scan(&ws).unwrap()
}

fn tree_paths(repo: &TestRepo, tree: &str) -> Vec<String> {
    repo.git(&["ls-tree", "-r", "--name-only", tree])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn blob_at(repo: &TestRepo, tree: &str, path: &str) -> String {
    repo.git(&["rev-parse", &format!("{tree}:{path}")])
}

/// A split index whose `link` extension deletes, replaces and adds
/// entries of the shared index.
fn split_index_repo() -> TestRepo {
    let repo = TestRepo::new();
    // Enough entries for bitmaps of several 64-bit words.
    for i in 0..200 {
        repo.write(&format!("f{i:03}"), &i.to_string());
        // Older than the index, so its stat data is trusted (not racy).
        age(&repo, &format!("f{i:03}"), 10);
    }
    repo.commit_all("init");
    repo.git(&["update-index", "--split-index"]);
    repo.git(&["config", "splitIndex.maxPercentChange", "100"]);
    for f in ["f003", "f130", "f199"] {
        repo.write(f, "changed and staged");
        repo.git(&["add", f]); // replace bitmap
    }
    repo.git(&["rm", "-q", "--cached", "f005", "f140"]); // delete bitmap
    repo.write("staged-new", "n");
    repo.write("f150-new", "n");
    repo.git(&["add", "staged-new", "f150-new"]); // added entries
    repo.write("f007", "changed, not staged");
    repo.write("f180", "changed, not staged");
    repo.remove("f009");
    repo.write("untracked", "u");
    let index = std::fs::read(repo.abs(".git/index")).unwrap();
    assert!(index.windows(4).any(|w| w == b"link"), "a split index");
    repo
}

#[test]
fn split_index_is_read_directly_and_stays_exact() {
    let repo = split_index_repo();
    let before = repo.user_state();
    let out = scan(&repo);
    assert!(!out.stats.used_git_cli, "split indexes are read directly");
    assert!(
        out.stats.from_index > 0,
        "the shared entries' stat data is used"
    );
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    assert_eq!(repo.user_state(), before);
    let snap = repo.snap("manual");
    assert!(snap.created);
    assert_eq!(repo.user_state(), before);
}

#[test]
fn split_index_honours_max_file_size_and_exclude() {
    let repo = split_index_repo();
    repo.write("secret.env", "password=hunter2\n");
    repo.write("big.bin", &"x".repeat(4096));
    let out = scan_with(&repo, 1024, &["*.env"]);
    assert!(!out.stats.used_git_cli);
    let tree = out.tree.to_string();
    let paths = tree_paths(&repo, &tree);
    assert!(!paths.iter().any(|p| p == "secret.env"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "big.bin"), "{paths:?}");
    assert!(
        out.skipped.iter().any(|s| s.path == b"big.bin"),
        "{:?}",
        out.skipped
    );
    // Everything else is exactly git's.
    repo.remove("secret.env");
    repo.remove("big.bin");
    assert_eq!(tree, repo.oracle_tree());
}

/// A cone-mode sparse checkout of `in/` (with or without a sparse index):
/// `out/` and `out2/` are not checked out.
fn sparse_repo(sparse_index: bool) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("in/a", "a");
    repo.write("out/b", "b");
    repo.write("out/deep/c", "c");
    repo.write("out2/d", "d");
    repo.write("top", "t");
    repo.commit_all("init");
    let flag = if sparse_index {
        "--sparse-index"
    } else {
        "--no-sparse-index"
    };
    repo.git(&["sparse-checkout", "set", "--cone", flag, "in"]);
    assert!(!repo.abs("out/b").exists());
    let index = std::fs::read(repo.abs(".git/index")).unwrap();
    assert_eq!(
        index.windows(4).any(|w| w == b"sdir"),
        sparse_index,
        "sparse index as asked"
    );
    repo
}

/// Everything present is recorded, in and out of the cone; entries that
/// are not checked out keep their indexed content.
fn sparse_rule(sparse_index: bool) {
    let repo = sparse_repo(sparse_index);
    repo.write("in/a", "changed");
    repo.write("out/new", "untracked outside the cone");
    repo.write("out/b", "materialised and changed");
    let before = repo.user_state();
    let out = scan(&repo);
    assert!(
        !out.stats.used_git_cli,
        "sparse checkouts are read directly"
    );
    let tree = out.tree.to_string();
    assert_eq!(tree, repo.oracle_tree_sparse());
    let paths = tree_paths(&repo, &tree);
    for p in ["in/a", "out/b", "out/new", "out/deep/c", "out2/d", "top"] {
        assert!(paths.iter().any(|x| x == p), "{p} in {paths:?}");
    }
    assert_eq!(repo.user_state(), before);
    // Recording it works too (the git fallback used to refuse).
    let snap = repo.snap("manual");
    assert!(snap.created, "{snap:?}");
    assert_eq!(snap.tree, tree);
    // And incremental updates agree.
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut eng = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    let base = eng.scan(&ws).unwrap().tree;
    repo.write("out2/new", "another one");
    repo.remove("out/b");
    let paths = [std::path::PathBuf::from("out2/new"), "out/b".into()];
    let next = eng.update(&ws, base, &paths).unwrap().tree;
    assert_eq!(next.to_string(), repo.oracle_tree_sparse());
}

#[test]
fn sparse_index_with_out_of_cone_file_snapshots() {
    sparse_rule(true);
}

#[test]
fn sparse_checkout_without_sparse_index_same_rule() {
    sparse_rule(false);
}

#[test]
fn sparse_index_honours_max_file_size_and_exclude() {
    let repo = sparse_repo(true);
    repo.write("out/secret.env", "password=hunter2\n");
    repo.write("out/big.bin", &"x".repeat(4096));
    repo.write("out/fine", "f");
    let out = scan_with(&repo, 1024, &["*.env"]);
    assert!(!out.stats.used_git_cli);
    let tree = out.tree.to_string();
    let paths = tree_paths(&repo, &tree);
    assert!(
        !paths.iter().any(|p| p.ends_with("secret.env")),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.ends_with("big.bin")), "{paths:?}");
    assert!(out.skipped.iter().any(|s| s.path == b"out/big.bin"));
    repo.remove("out/secret.env");
    repo.remove("out/big.bin");
    assert_eq!(tree, repo.oracle_tree_sparse());
}

#[test]
fn skip_worktree_entry_kept_as_indexed() {
    let repo = TestRepo::new();
    repo.write("config.ini", "password=changeme\n");
    repo.write("gone", "g");
    repo.write("other", "o");
    repo.commit_all("init");
    let committed = blob_at(&repo, "HEAD", "config.ini");
    repo.git(&["update-index", "--skip-worktree", "config.ini", "gone"]);
    repo.write("config.ini", "password=local-secret\n");
    repo.remove("gone");
    repo.write("other", "changed");
    let before = repo.user_state();
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob_at(&repo, &tree, "config.ini"), committed);
    assert!(tree_paths(&repo, &tree).contains(&"gone".to_owned()));
    // The same when recorded, with a warm stat cache, and incrementally.
    repo.snap("manual");
    assert_eq!(repo.tree_of("refs/savepoint/heads/main"), tree);
    assert_eq!(scan(&repo).tree.to_string(), tree);
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut eng = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    let base = eng.scan(&ws).unwrap().tree;
    repo.write("config.ini", "password=another\n");
    let next = eng
        .update(&ws, base, &["config.ini".into(), "gone".into()])
        .unwrap()
        .tree;
    assert_eq!(next.to_string(), tree);
    assert_eq!(repo.user_state(), before);
}

#[test]
fn assume_unchanged_entry_kept_as_indexed() {
    let repo = TestRepo::new();
    repo.write("settings.json", "{}\n");
    repo.write("gone", "g");
    repo.write("ignored.log", "tracked but ignored\n");
    repo.commit_all("init");
    repo.write(".gitignore", "*.log\n");
    let committed = blob_at(&repo, "HEAD", "settings.json");
    repo.git(&[
        "update-index",
        "--assume-unchanged",
        "settings.json",
        "gone",
        "ignored.log",
    ]);
    repo.write("settings.json", "{\"token\": \"local\"}\n");
    repo.write("ignored.log", "changed\n");
    repo.remove("gone");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob_at(&repo, &tree, "settings.json"), committed);
    assert!(tree_paths(&repo, &tree).contains(&"gone".to_owned()));
}

#[test]
fn ignorecase_patterns_match_case_insensitively() {
    let repo = TestRepo::new();
    repo.git(&["config", "core.ignorecase", "true"]);
    repo.write(".gitignore", "*.log\nBUILD/\n");
    repo.write("src/a.rs", "a");
    repo.commit_all("init");
    repo.write("DEBUG.LOG", "noise");
    repo.write("Sub/Trace.Log", "noise");
    repo.write("build/out.o", "object");
    repo.write("notes.TXT", "excluded by savepoint.exclude");
    repo.write("keep.md", "k");
    let out = scan_with(&repo, u64::MAX, &["*.txt"]);
    let tree = out.tree.to_string();
    let paths = tree_paths(&repo, &tree);
    for p in ["DEBUG.LOG", "Sub/Trace.Log", "build/out.o", "notes.TXT"] {
        assert!(!paths.iter().any(|x| x == p), "{p} in {paths:?}");
    }
    repo.remove("notes.TXT");
    assert_eq!(tree, repo.oracle_tree());
    // Case-sensitive again: the same files are recorded, as git does.
    repo.git(&["config", "core.ignorecase", "false"]);
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

#[test]
fn ignorecase_case_variant_updates_tracked_entry() {
    let repo = TestRepo::new();
    repo.git(&["config", "core.ignorecase", "true"]);
    repo.write("README.md", "readme\n");
    repo.write("Docs/guide.md", "guide\n");
    repo.write("Gone/x", "x\n");
    repo.commit_all("init");
    // A case variant next to the tracked file: git takes it for the
    // tracked file (never adds it under its own name); the tracked entry
    // follows whatever is at the index's spelling.
    repo.write("README.MD", "variant\n");
    repo.write("README.md", "updated\n");
    // A new file in a directory the index spells differently is filed
    // under the index's spelling.
    repo.write("docs/new.md", "new\n");
    // A tracked directory renamed in case only: on this case-sensitive
    // file system git sees its files deleted and the new spelling as a
    // case variant of the tracked paths.
    std::fs::rename(repo.abs("Gone"), repo.abs("gone")).unwrap();
    repo.write("gone/y", "y\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    let paths = tree_paths(&repo, &tree);
    assert!(paths.contains(&"README.md".to_owned()), "{paths:?}");
    assert!(!paths.contains(&"README.MD".to_owned()), "{paths:?}");
    assert!(paths.contains(&"Docs/new.md".to_owned()), "{paths:?}");
    assert_eq!(repo.git(&["show", &format!("{tree}:README.md")]), "updated");
    // Incremental updates that involve a case variant agree as well.
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut eng = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    let base = eng.scan(&ws).unwrap().tree;
    repo.write("docs/other.md", "other\n");
    repo.write("README.MD", "variant 2\n");
    let next = eng
        .update(&ws, base, &["docs/other.md".into(), "README.MD".into()])
        .unwrap()
        .tree;
    assert_eq!(next.to_string(), repo.oracle_tree());
}

#[test]
fn linked_worktree_has_its_own_chain_and_state() {
    let repo = TestRepo::new();
    repo.write("a", "1");
    repo.commit_all("init");
    let wt_parent = tempfile::tempdir().unwrap();
    let wt = wt_parent.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "feat", wt.to_str().unwrap()]);
    std::fs::write(wt.join("a"), "in worktree").unwrap();
    let ws = savepoint::workspace::Workspace::discover(&wt).unwrap();
    let out = savepoint::snapshot::record::take(&ws, &SnapRequest::new("manual"), None).unwrap();
    assert!(out.created);
    // Linked work trees always have their own namespace (two of them may
    // have one branch checked out).
    assert_eq!(out.refname, "refs/savepoint/worktrees/wt/heads/feat");
    assert!(repo.abs(".git/worktrees/wt/savepoint/stat-cache").exists());
    // Detached in the linked worktree: named after the worktree.
    assert!(std::process::Command::new("git")
        .args(["checkout", "-q", "--detach"])
        .current_dir(&wt)
        .status()
        .unwrap()
        .success());
    assert_eq!(ws.chain_ref().unwrap(), "refs/savepoint/detached/wt");
}

#[test]
fn merge_in_progress_with_conflicts_snapshots_the_work_tree() {
    let repo = TestRepo::new();
    repo.conflicting_branches("other");
    let merge = repo.git_output(&["merge", "-q", "other"], None);
    assert!(!merge.status.success(), "expected a conflict");
    let before = repo.user_state();
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
    assert!(repo.snap("manual").created);
    assert_eq!(
        repo.user_state(),
        before,
        "the conflicted index is untouched"
    );
    assert!(repo.abs(".git/MERGE_HEAD").exists());
}

#[test]
fn stat_cache_rereads_only_changed_files() {
    let repo = TestRepo::new();
    for i in 0..50 {
        repo.write(&format!("d/f{i}.txt"), &format!("content {i}\n"));
        age(&repo, &format!("d/f{i}.txt"), 120);
    }
    let first = scan(&repo);
    assert_eq!(first.stats.hashed, 50);
    let second = scan(&repo);
    assert_eq!(second.stats.hashed, 0, "{:?}", second.stats);
    assert_eq!(second.stats.from_cache, 50);
    assert_eq!(second.tree, first.tree);
    repo.write("d/f7.txt", "changed\n");
    age(&repo, "d/f7.txt", 60);
    let third = scan(&repo);
    assert_eq!(third.stats.hashed, 1);
    assert_eq!(third.tree.to_string(), repo.oracle_tree());

    // Tracked files whose stat matches the index are not read at all.
    repo.commit_all("track");
    std::thread::sleep(Duration::from_millis(1100)); // leave git's racy window
    repo.git(&["update-index", "--really-refresh"]);
    let fourth = scan(&repo);
    assert_eq!(fourth.stats.hashed, 0, "{:?}", fourth.stats);
    assert_eq!(fourth.stats.from_index, 50);

    // A corrupt cache is rebuilt, not fatal.
    std::fs::write(repo.abs(".git/savepoint/stat-cache"), b"garbage").unwrap();
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

#[test]
fn a_file_rewritten_within_the_racy_window_is_rehashed() {
    let repo = TestRepo::new();
    repo.write("f", "aaaa");
    let first = scan(&repo);
    // Same size, and force the same mtime: only the racy guard can notice.
    let mtime = std::fs::metadata(repo.abs("f"))
        .unwrap()
        .modified()
        .unwrap();
    repo.write("f", "bbbb");
    std::fs::File::options()
        .write(true)
        .open(repo.abs("f"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let second = scan(&repo);
    assert_ne!(first.tree, second.tree);
    assert_eq!(second.tree.to_string(), repo.oracle_tree());
}

#[test]
fn files_vanishing_and_appearing_during_scans_never_fail_a_snapshot() {
    let repo = TestRepo::new();
    for i in 0..200 {
        repo.write(&format!("churn/{}/f{i}", i % 10), "x");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let root = repo.path().to_path_buf();
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let d = root.join(format!("churn/{}", n % 10));
                let _ = std::fs::remove_dir_all(&d);
                let _ = std::fs::create_dir_all(&d);
                for i in 0..20 {
                    let _ = std::fs::write(d.join(format!("f{i}")), n.to_string());
                }
                n += 1;
            }
        })
    };
    let ws = repo.workspace();
    for _ in 0..25 {
        let out =
            savepoint::snapshot::record::take(&ws, &SnapRequest::new("manual"), None).unwrap();
        if let Some(oid) = out.oid {
            ws.repo().find_commit(oid).unwrap().tree().unwrap();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    repo.assert_fsck_clean();
}

#[test]
fn core_excludes_file_and_savepoint_exclude_are_honoured() {
    let repo = TestRepo::new();
    let global = repo.path().join(".git/my-excludes");
    std::fs::write(&global, "*.secret\n").unwrap();
    repo.git(&["config", "core.excludesFile", global.to_str().unwrap()]);
    repo.write("a.secret", "s");
    repo.write("b.txt", "b");
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());

    repo.git(&["config", "--add", "savepoint.exclude", "*.txt"]);
    let ls = repo.git(&[
        "ls-tree",
        "-r",
        "--name-only",
        &scan(&repo).tree.to_string(),
    ]);
    assert!(!ls.contains("b.txt"), "{ls}");
}

#[test]
fn index_versions_2_3_4_intent_to_add_and_symlink_loops() {
    for version in ["2", "3", "4"] {
        let repo = TestRepo::new();
        repo.git(&["config", "index.version", version]);
        for i in 0..30 {
            repo.write(
                &format!("dir{}/a-rather-long-common-prefix-{i}.txt", i % 3),
                &i.to_string(),
            );
        }
        repo.commit_all("init");
        repo.write("new-intent.txt", "intent to add\n");
        repo.git(&["add", "-N", "new-intent.txt"]);
        repo.symlink("loop-b", "loop-a");
        repo.symlink("loop-a", "loop-b");
        repo.write("dir1/a-rather-long-common-prefix-4.txt", "changed");
        repo.git(&["update-index", "--index-version", version]);
        let out = scan(&repo);
        assert!(
            !out.stats.used_git_cli,
            "version {version} is read directly"
        );
        assert_eq!(
            out.tree.to_string(),
            repo.oracle_tree(),
            "index version {version}"
        );
    }
}

#[test]
fn index_parser_refuses_what_it_does_not_understand() {
    use savepoint::snapshot::engine::index::parse;
    let repo = TestRepo::new();
    repo.write("a", "1");
    repo.write("b/c", "2");
    repo.commit_all("init");
    let real = std::fs::read(repo.abs(".git/index")).unwrap();
    let body = &real[..real.len() - 20];
    assert_eq!(parse(&real, (i64::MAX, 0)).unwrap().len(), 2);

    // An unknown mandatory (lower-case) extension: named in the error.
    let mut foreign = body.to_vec();
    foreign.extend_from_slice(b"zzzz\0\0\0\0");
    foreign.extend_from_slice(&[0; 20]);
    let err = parse(&foreign, (0, 0)).unwrap_err();
    assert!(err.to_string().contains("zzzz"), "{err}");

    // An unknown optional (capitalised) one is skipped.
    let mut optional = body.to_vec();
    optional.extend_from_slice(b"ZZZZ\0\0\0\x03abc");
    optional.extend_from_slice(&[0; 20]);
    assert_eq!(parse(&optional, (0, 0)).unwrap().len(), 2);

    // Truncation anywhere is an error, never a panic.
    for cut in 0..body.len() {
        let _ = parse(&real[..cut], (0, 0));
    }
    assert!(parse(b"DIRC\0\0\0\x09\0\0\0\0aaaaaaaaaaaaaaaaaaaa", (0, 0)).is_err());
}

#[test]
fn rebase_stopped_on_a_conflict_snapshots_to_the_detached_chain() {
    let repo = TestRepo::new();
    repo.conflicting_branches("topic");
    repo.git(&["checkout", "-q", "topic"]);
    let rebase = repo.git_output(&["rebase", "-q", "main"], None);
    assert!(!rebase.status.success(), "expected a conflict");
    repo.write("untracked-during-rebase", "x");
    let before = repo.user_state();
    let out = repo.snap("manual");
    assert!(out.created);
    assert_eq!(out.refname, "refs/savepoint/detached/main");
    assert_eq!(out.tree, repo.oracle_tree());
    assert_eq!(repo.user_state(), before);
    assert!(
        repo.abs(".git/rebase-merge").exists(),
        "the rebase is still in progress"
    );
}

#[test]
fn line_ending_filters_match_git_add() {
    let repo = TestRepo::new();
    repo.git(&["config", "core.autocrlf", "true"]);
    repo.write("crlf.txt", "one\r\ntwo\r\n");
    repo.write("lf.txt", "one\ntwo\n");
    repo.write(".gitattributes", "*.bin -text\n*.md text eol=lf\n");
    repo.write("data.bin", "keep\r\nas is\r\n");
    repo.write("doc.md", "crlf\r\nmarkdown\r\n");
    let out = scan(&repo);
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
}

#[test]
fn a_nested_tracked_gitattributes_is_honoured() {
    let repo = TestRepo::new();
    repo.write("docs/.gitattributes", "*.txt text eol=lf\n");
    repo.commit_all("attributes");
    repo.write("docs/crlf.txt", "one\r\ntwo\r\n");
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

/// Issue 15 item 9: a symlinked in-tree `.gitignore` is not followed (git
/// warns and takes no rules from it).
#[test]
fn symlinked_gitignore_is_not_followed() {
    let repo = TestRepo::new();
    repo.write("rules.txt", "*.log\n");
    repo.symlink("rules.txt", ".gitignore");
    repo.write("sub/rules", "*.tmp\n");
    repo.symlink("rules", "sub/.gitignore");
    repo.write("a.log", "log\n");
    repo.write("sub/b.tmp", "tmp\n");
    repo.write("sub/c.txt", "c\n");
    let oracle = repo.oracle_tree();
    let files = repo.git(&["ls-tree", "-r", "--name-only", &oracle]);
    assert!(
        files.contains("a.log"),
        "git itself ignores nothing here: {files}"
    );
    assert_eq!(scan(&repo).tree.to_string(), oracle);
}

/// Issue 15 item 9: with `core.symlinks=false` a tracked symlink checked
/// out as a plain file keeps mode 120000 (its content is the target).
#[test]
fn core_symlinks_false_keeps_tracked_symlink_mode() {
    let repo = TestRepo::new();
    repo.write("target.txt", "t\n");
    repo.symlink("target.txt", "link");
    repo.symlink("target.txt", "link2");
    repo.commit_all("links");
    repo.git(&["config", "core.symlinks", "false"]);
    // What a checkout with core.symlinks=false leaves: plain files.
    repo.remove("link");
    repo.write("link", "target.txt");
    repo.remove("link2");
    repo.write("link2", "elsewhere.txt");
    repo.write("new-file", "plain\n");
    let oracle = repo.oracle_tree();
    let tree = repo.git(&["ls-tree", &oracle]);
    assert!(tree.contains("120000 blob"), "{tree}");
    assert_eq!(scan(&repo).tree.to_string(), oracle);
}

/// Issue 15 item 9: a directory whose `.git` is a dangling `gitdir:` file
/// or an empty directory is not a nested repository: git adds its files.
#[test]
fn dangling_dot_git_file_and_empty_dot_git_dir_are_plain_directories() {
    let repo = TestRepo::new();
    repo.write("top.txt", "top\n");
    repo.write("dangling/.git", "gitdir: /nonexistent/savepoint/gitdir\n");
    repo.write("dangling/a.txt", "a\n");
    std::fs::create_dir_all(repo.abs("empty/.git")).unwrap();
    repo.write("empty/b.txt", "b\n");
    repo.write("empty/deeper/c.txt", "c\n");
    let oracle = repo.oracle_tree();
    let files = repo.git(&["ls-tree", "-r", "--name-only", &oracle]);
    assert!(
        files.contains("dangling/a.txt") && files.contains("empty/b.txt"),
        "{files}"
    );
    assert_eq!(scan(&repo).tree.to_string(), oracle);
}

/// A checkout the watcher has not seen yet: the changed paths it collected
/// belong to the old branch's chain, so patching the new branch's (old) tip
/// with them would record a wrong tree. `since` makes it a full scan.
#[test]
fn changed_paths_for_another_chain_give_a_full_scan() {
    let repo = TestRepo::new();
    repo.write("common.txt", "c\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write("other-only.txt", "o\n");
    repo.commit_all("other");
    repo.write("other-only.txt", "o, edited on other\n");
    repo.snap("manual"); // chain `other` has an old tip
    repo.git(&["checkout", "-q", "-f", "main"]);
    repo.write("common.txt", "edited on main\n");
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut engine = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    let main_ref = ws.chain_ref().unwrap();
    // The user switches to `other` (carrying the edit) before the watcher
    // sees the HEAD event; its batch names only common.txt.
    repo.git(&["checkout", "-q", "other"]);
    let mut req = SnapRequest::new("watch");
    req.changed_paths = Some(vec![repo.abs("common.txt")]);
    let tip = ws.repo().refname_to_id(&main_ref).ok();
    req.since = Some(ChainPos {
        refname: main_ref.clone(),
        tip,
        tree: tip.map(|t| ws.repo().find_commit(t).unwrap().tree_id()),
    });
    let out = savepoint::snapshot::record::take(&ws, &req, Some(&mut engine)).unwrap();
    assert_eq!(out.refname, "refs/savepoint/heads/other");
    assert_eq!(out.tree, repo.oracle_tree());
}

/// The recorder patches changed paths onto the chain only where it left
/// it: when another process moved the chain since (here a `git update-ref`
/// back to an older snapshot; in life a hook, `snap`, `undo`), the paths
/// collected since say nothing about the new tip and a full scan is taken.
#[test]
fn changed_paths_on_a_chain_another_process_moved_give_a_full_scan() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a0\n");
    repo.write("b.txt", "b0\n");
    repo.commit_all("base");
    repo.write("b.txt", "b1\n");
    let old = repo.snap("manual").oid.unwrap().to_string();
    repo.write("b.txt", "b2\n");
    repo.snap("manual");
    let ws = repo.workspace();
    let refname = ws.chain_ref().unwrap();
    let left_at = ws.repo().refname_to_id(&refname).unwrap();
    // Another process moves the chain back; the watcher then sees only
    // a.txt change.
    repo.git(&["update-ref", &refname, &old]);
    repo.write("a.txt", "a1\n");
    let cfg = ws.config().unwrap();
    let mut engine = Engine::new(&ws, ScanOptions::from_config(cfg)).unwrap();
    let mut req = SnapRequest::new("watch");
    req.changed_paths = Some(vec![repo.abs("a.txt")]);
    req.since = Some(ChainPos {
        refname: refname.clone(),
        tip: Some(left_at),
        tree: Some(ws.repo().find_commit(left_at).unwrap().tree_id()),
    });
    let out = savepoint::snapshot::record::take(&ws, &req, Some(&mut engine)).unwrap();
    assert!(out.created);
    assert_eq!(
        out.tree,
        repo.oracle_tree(),
        "b.txt must be b2, not the old tip's b1"
    );
}

/// A clean work tree under a watcher: the start-up scan finds nothing new,
/// so no chain exists yet. The first change is patched onto HEAD's tree
/// (the tree that scan found) instead of a full scan — but only while HEAD
/// still has that tree: after `git reset --soft` the work tree did not
/// change, HEAD's tree did, and patching onto it would record HEAD~'s
/// content for every file the reset "changed".
#[test]
fn changed_paths_before_the_chain_starts_are_patched_onto_heads_tree_while_head_keeps_it() {
    let repo = TestRepo::new();
    repo.write(
        "a.txt", "a0
",
    );
    repo.write(
        "b.txt", "b0
",
    );
    repo.commit_all("base");
    repo.write(
        "b.txt", "b1
",
    );
    repo.commit_all("second");
    let ws = repo.workspace();
    let refname = ws.chain_ref().unwrap();
    let cfg = ws.config().unwrap();
    let mut engine = Engine::new(&ws, ScanOptions::from_config(cfg)).unwrap();
    let take = |engine: &mut Engine, req: &SnapRequest| {
        savepoint::snapshot::record::take(&ws, req, Some(engine)).unwrap()
    };
    let start = take(&mut engine, &SnapRequest::new("watch"));
    assert!(!start.created && start.oid.is_none(), "clean: no chain yet");
    let since = ChainPos {
        refname: refname.clone(),
        tip: None,
        tree: start.tree.parse().ok(),
    };

    repo.write(
        "a.txt", "a1
",
    );
    let mut req = SnapRequest::new("watch");
    req.changed_paths = Some(vec![repo.abs("a.txt")]);
    req.since = Some(since.clone());
    let out = take(&mut engine, &req);
    assert!(out.created);
    assert!(
        out.stats.incremental,
        "patched onto HEAD's tree, not scanned"
    );
    assert_eq!(out.tree, repo.oracle_tree());

    // Again from a clean tree, then HEAD moves to another tree under it.
    ws.repo()
        .find_reference(&refname)
        .unwrap()
        .delete()
        .unwrap();
    repo.write(
        "a.txt", "a0
",
    );
    let start = take(&mut engine, &SnapRequest::new("watch"));
    assert!(!start.created && start.oid.is_none());
    repo.git(&["reset", "-q", "--soft", "HEAD~"]);
    repo.write(
        "a.txt", "a2
",
    );
    req.since = Some(ChainPos {
        tree: start.tree.parse().ok(),
        ..since
    });
    let out = take(&mut engine, &req);
    assert!(!out.stats.incremental, "HEAD's tree moved: a full scan");
    assert_eq!(out.tree, repo.oracle_tree(), "b.txt must stay b1");
}

/// Issue 18 item 7: the scan's progress counts bytes as well as files, and
/// the bytes advance while a large file streams in (a progress line must
/// not stand still on one big file).
#[test]
fn scan_progress_counts_files_and_bytes() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let repo = TestRepo::new();
    repo.write("small.txt", "hello\n");
    let big = vec![7u8; 9 << 20]; // above the streaming threshold
    std::fs::write(repo.abs("big.bin"), &big).unwrap();
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut engine = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    let progress = Arc::new(savepoint::snapshot::engine::ScanProgress::default());
    engine.set_progress(Arc::clone(&progress));
    let out = engine.scan(&ws).unwrap();
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
    assert_eq!(progress.files.load(Ordering::Relaxed), 2);
    assert_eq!(progress.bytes.load(Ordering::Relaxed), (9 << 20) + 6);
}

/// The watcher's engine keeps compiled `.gitignore` rules from one
/// incremental update to the next: a `.gitignore` rewritten in between
/// (same size, same second) must be read again, and so must the rules
/// below a parent whose rules changed.
#[test]
fn incremental_updates_see_a_rewritten_gitignore_and_its_parents_rules() {
    let repo = TestRepo::new();
    repo.write("a/.gitignore", "*.tmp\n");
    repo.write("a/b/.gitignore", "!keep.tmp\n");
    repo.write("a/b/c/file.rs", "x\n");
    repo.commit_all("base");
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let mut eng = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    let mut tree = eng.scan(&ws).unwrap().tree;
    let mut update = |paths: &[&str]| {
        let paths: Vec<std::path::PathBuf> = paths.iter().map(Into::into).collect();
        tree = eng.update(&ws, tree, &paths).unwrap().tree;
        assert_eq!(tree.to_string(), repo.oracle_tree(), "after {paths:?}");
    };
    repo.write("a/x.log", "1\n");
    repo.write("a/b/c/y.tmp", "2\n");
    repo.write("a/b/keep.tmp", "3\n");
    update(&["a/x.log", "a/b/c/y.tmp", "a/b/keep.tmp"]);
    // Same size, same second: only the content (and the stat) changed.
    repo.write("a/.gitignore", "*.log\n");
    repo.write("a/x.log", "4\n");
    repo.write("a/b/c/y.tmp", "5\n");
    update(&["a/.gitignore", "a/x.log", "a/b/c/y.tmp"]);
    // A child's rules (unchanged file) under the parent's new rules.
    repo.write("a/b/c/z.log", "6\n");
    repo.write("a/b/keep.log", "7\n");
    update(&["a/b/c/z.log", "a/b/keep.log"]);
    // Gone: what it ignored comes back (the changed paths name them, as
    // the watcher's full scan after a rule change would find them).
    repo.remove("a/.gitignore");
    repo.write("a/b/c/w.log", "8\n");
    update(&[
        "a/.gitignore",
        "a/b/c/w.log",
        "a/x.log",
        "a/b/c/z.log",
        "a/b/keep.log",
    ]);
}

// The directory cache (`engine::dircache`): a one-shot scan reuses the
// listing of a directory whose stat is unchanged since the last scan. These
// tests settle the cache (see `scan_and_settle`), change the work tree in
// ways that leave a directory looking unchanged or changed in unusual ways,
// and compare with git.

/// Scan, then settle the directory cache ([`TestRepo::settle_dir_cache`]).
fn scan_and_settle(repo: &TestRepo) -> savepoint::snapshot::engine::TreeOutcome {
    let out = scan(repo);
    repo.settle_dir_cache();
    out
}

fn mtime(repo: &TestRepo, rel: &str) -> SystemTime {
    std::fs::symlink_metadata(repo.abs(rel))
        .unwrap()
        .modified()
        .unwrap()
}

fn set_mtime(repo: &TestRepo, rel: &str, t: SystemTime) {
    std::fs::File::open(repo.abs(rel))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn dir_cache_sees_entries_added_removed_or_renamed_behind_a_restored_mtime() {
    let repo = TestRepo::new();
    repo.write("a/keep.txt", "keep\n");
    repo.write("a/gone.txt", "gone\n");
    repo.write("a/old.txt", "old\n");
    repo.write("a/sub/deep.txt", "deep\n");
    repo.commit_all("init");
    repo.write("a/untracked.txt", "u\n");
    let before = scan_and_settle(&repo).tree;
    let t = mtime(&repo, "a");
    repo.write("a/new.txt", "new\n");
    repo.remove("a/gone.txt");
    std::fs::rename(repo.abs("a/old.txt"), repo.abs("a/renamed.txt")).unwrap();
    std::fs::rename(repo.abs("a/untracked.txt"), repo.abs("a/moved.txt")).unwrap();
    set_mtime(&repo, "a", t);
    let out = scan(&repo);
    assert_ne!(out.tree, before);
    assert_eq!(out.tree.to_string(), repo.oracle_tree());
}

#[test]
fn dir_cache_sees_a_directory_replaced_by_a_symlink_or_a_file() {
    let repo = TestRepo::new();
    repo.write("d1/f", "1\n");
    repo.write("d2/f", "2\n");
    repo.write("stay", "s\n");
    repo.commit_all("init");
    scan_and_settle(&repo);
    let t = mtime(&repo, ".");
    repo.remove("d1");
    repo.symlink("stay", "d1");
    repo.remove("d2");
    repo.write("d2", "now a file\n");
    set_mtime(&repo, ".", t);
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

#[test]
fn dir_cache_sees_a_directory_whose_mtime_went_backwards() {
    let repo = TestRepo::new();
    repo.write("b/one.txt", "1\n");
    repo.commit_all("init");
    scan_and_settle(&repo);
    let t = mtime(&repo, "b");
    repo.write("b/two.txt", "2\n");
    repo.remove("b/one.txt");
    // Restored from an archive: older than when it was listed.
    set_mtime(&repo, "b", t - Duration::from_secs(86_400));
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

/// Ignore rules and `core.ignorecase` are applied to cached listings as to
/// fresh ones: the cache holds what the directory contains, never what a
/// rule made of it.
#[test]
fn dir_cache_applies_changed_ignore_rules_and_case_folding() {
    let repo = TestRepo::new();
    repo.write("s/.gitignore", "*.log\n");
    repo.write("s/readme.txt", "t\n");
    repo.commit_all("init");
    repo.write("s/a.log", "log\n");
    repo.write("s/b.tmp", "tmp\n");
    repo.write("s/c.bak", "bak\n");
    repo.write("s/README.TXT", "case alias\n");
    repo.write("info-excluded.txt", "x\n");
    let first = scan_and_settle(&repo);
    assert_eq!(first.tree.to_string(), repo.oracle_tree());
    let t = mtime(&repo, "s");
    // In place: the directory's stat does not change.
    std::fs::write(repo.abs("s/.gitignore"), "*.tmp\n").unwrap();
    set_mtime(&repo, "s", t);
    std::fs::write(repo.abs(".git/info/exclude"), "info-excluded.txt\n").unwrap();
    let global = repo.path().join(".git/global-excludes");
    std::fs::write(&global, "*.bak\n").unwrap();
    repo.git(&["config", "core.excludesFile", global.to_str().unwrap()]);
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
    scan_and_settle(&repo);
    repo.git(&["config", "core.ignorecase", "true"]);
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}
