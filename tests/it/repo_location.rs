//! Where the repository is, and which repositories open (issue 15: items
//! 1, 2, 13, 14 and 17): separate git dirs and `.git` files, `GIT_DIR` /
//! `GIT_WORK_TREE`, `core.worktree`, reftable ref storage, SHA-256 object
//! format, two work trees on one branch, partial clones. Real git, real
//! repositories; trees are compared with what git itself would record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::TestRepo;

/// A repository made by `git init -b main <extra>` (instead of
/// [`TestRepo::new`]'s plain init), with the test identity.
fn init_with(extra: &[&str]) -> TestRepo {
    savepoint::git::libgit2_init::init();
    let t = TestRepo {
        dir: tempfile::tempdir().expect("tempdir"),
        home: tempfile::tempdir().expect("tempdir"),
    };
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend_from_slice(extra);
    t.git(&args);
    t.git(&["config", "user.name", "Test"]);
    t.git(&["config", "user.email", "test@example.com"]);
    t.git(&["config", "commit.gpgsign", "false"]);
    t
}

fn s(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().to_owned()
}

/// The oracle for trees whose `.git/index` is not where
/// [`TestRepo::oracle_tree`] looks: `git add -A` (limited to `pathspec`)
/// into a throwaway index, `git write-tree`.
fn oracle_with(repo: &TestRepo, pathspec: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let mut add = vec!["add", "-A", "--"];
    add.extend_from_slice(pathspec);
    let out = repo.git_output(&add, Some(&index));
    assert!(out.status.success(), "{}", s(&out.stderr));
    let out = repo.git_output(&["write-tree"], Some(&index));
    assert!(out.status.success(), "{}", s(&out.stderr));
    s(&out.stdout)
}

/// Every file below `dir` (not following links) with its bytes.
fn files_below(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn snap_json(repo: &TestRepo) -> serde_json::Value {
    repo.json(&["snap"])
}

fn tree_of_rev(repo: &TestRepo, rev: &str) -> String {
    repo.git(&["rev-parse", &format!("{rev}^{{tree}}")])
}

// ---------------------------------------------------------------- item 1

#[test]
fn separate_git_dir_snapshot_matches_git_and_recover_stays_inside() {
    // The git dir lives next to (not in) the work tree; its parent also
    // holds a file of the user's that savepoint must never see or touch.
    let outside = tempfile::tempdir().unwrap();
    let git_dir = outside.path().join("proj.git");
    std::fs::write(outside.path().join("a.txt"), "not in the work tree\n").unwrap();
    let repo = init_with(&["--separate-git-dir", git_dir.to_str().unwrap()]);
    assert!(repo.abs(".git").is_file(), "git wrote a .git file");
    repo.write("a.txt", "committed\n");
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.commit_all("init");
    repo.write("a.txt", "work in progress\n");
    repo.write("new.txt", "untracked\n");

    let snap = snap_json(&repo);
    assert_eq!(snap["created"], true);
    assert_eq!(snap["ref"], "refs/savepoint/heads/main");
    assert_eq!(snap["tree"], oracle_with(&repo, &["."]));
    let listed = repo.git(&["ls-tree", "-r", "--name-only", "refs/savepoint/heads/main"]);
    assert_eq!(
        listed, "a.txt\nnew.txt\nsrc/lib.rs",
        "only the work tree is recorded"
    );

    // An interruption: the work is wiped; recover brings it back inside the
    // work tree and writes nothing anywhere else.
    repo.git(&["checkout", "--", "."]);
    repo.remove("new.txt");
    let before_outside = files_below(outside.path());
    let index_before = std::fs::read(git_dir.join("index")).unwrap();
    repo.run_ok(&["recover", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "work in progress\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.abs("new.txt")).unwrap(),
        "untracked\n"
    );
    assert_eq!(std::fs::read(git_dir.join("index")).unwrap(), index_before);
    let after_outside = files_below(outside.path());
    // Only savepoint's own state dir and the objects/refs it adds change.
    for (path, bytes) in &before_outside {
        let rel = path.strip_prefix(outside.path()).unwrap();
        if rel.starts_with("proj.git/savepoint")
            || rel.starts_with("proj.git/objects")
            || rel.starts_with("proj.git/refs/savepoint")
            || rel.starts_with("proj.git/logs/refs/savepoint")
        {
            continue;
        }
        assert_eq!(
            after_outside.get(path),
            Some(bytes),
            "{} changed",
            rel.display()
        );
    }
    for path in after_outside.keys() {
        let rel = path.strip_prefix(outside.path()).unwrap();
        assert!(
            before_outside.contains_key(path)
                || rel.starts_with("proj.git/savepoint")
                || rel.starts_with("proj.git/objects")
                || rel.starts_with("proj.git/refs/savepoint")
                || rel.starts_with("proj.git/logs/refs/savepoint"),
            "{} was written",
            rel.display()
        );
    }
    // The library agrees on where things are.
    let ws = repo.workspace();
    assert_eq!(
        std::fs::canonicalize(ws.workdir()).unwrap(),
        std::fs::canonicalize(repo.path()).unwrap()
    );
    assert_eq!(
        std::fs::canonicalize(ws.git_dir()).unwrap(),
        std::fs::canonicalize(&git_dir).unwrap()
    );
}

/// A work tree whose git dir is `meta/` inside it, reached through a
/// `.git` file, with `core.worktree` set; one commit (`a.txt`, `dir/b.txt`).
fn git_dir_inside_work_tree() -> (TestRepo, PathBuf) {
    let repo = TestRepo {
        dir: tempfile::tempdir().unwrap(),
        home: tempfile::tempdir().unwrap(),
    };
    let meta = repo.abs("meta");
    repo.git(&[
        "init",
        "-q",
        "-b",
        "main",
        "--separate-git-dir",
        meta.to_str().unwrap(),
    ]);
    repo.git(&["config", "core.worktree", repo.path().to_str().unwrap()]);
    repo.git(&["config", "user.name", "Test"]);
    repo.git(&["config", "user.email", "test@example.com"]);
    repo.write("a.txt", "one\n");
    repo.write("dir/b.txt", "two\n");
    repo.git(&["add", "a.txt", "dir"]);
    repo.git(&["commit", "-q", "-m", "init"]);
    (repo, meta)
}

#[test]
fn gitfile_with_core_worktree() {
    // The git dir is inside the work tree under another name (`meta/`),
    // reached through a `.git` file, with `core.worktree` naming the work
    // tree: git's own `add -A` would record `meta/`; savepoint never
    // enters, records or writes a git dir.
    let (repo, meta) = git_dir_inside_work_tree();
    repo.write("a.txt", "changed\n");
    repo.write("c.txt", "new\n");

    let snap = snap_json(&repo);
    assert_eq!(snap["tree"], oracle_with(&repo, &[".", ":(exclude)meta"]));
    let listed = repo.git(&["ls-tree", "-r", "--name-only", "refs/savepoint/heads/main"]);
    assert!(!listed.contains("meta"), "{listed}");
    assert_eq!(listed, "a.txt\nc.txt\ndir/b.txt");

    // The incremental path (events inside the git dir) ignores it too.
    let ws = repo.workspace();
    assert_eq!(ws.git_dirs_inside(), &[b"meta".to_vec()]);
    assert!(ws.is_in_git_dir(b"meta/index") && !ws.is_in_git_dir(b"metadata"));

    // A snapshot that holds a path in the git dir is refused before
    // anything is written.
    let crafted = {
        let r = ws.repo();
        let blob = r.blob(b"[core]\n\tbare = true\n").unwrap();
        let mut inner = r.treebuilder(None).unwrap();
        inner.insert("config", blob, 0o100644).unwrap();
        let inner = inner.write().unwrap();
        let a = r.blob(b"hijacked\n").unwrap();
        let mut top = r.treebuilder(None).unwrap();
        top.insert("a.txt", a, 0o100644).unwrap();
        top.insert("meta", inner, 0o040000).unwrap();
        let tree = r.find_tree(top.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        r.commit(None, &sig, &sig, "crafted", &tree, &[]).unwrap()
    };
    let config_before = std::fs::read(meta.join("config")).unwrap();
    let dry = repo
        .cmd()
        .args(["restore", "--dry-run", &crafted.to_string()])
        .output()
        .unwrap();
    assert!(!dry.status.success(), "a dry run names the refusal too");
    let out = repo
        .cmd()
        .args(["restore", &crafted.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(s(&out.stderr).contains("git dir"), "{}", s(&out.stderr));
    assert_eq!(std::fs::read(meta.join("config")).unwrap(), config_before);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "changed\n"
    );

    // The git command line fallback (a split index libgit2 cannot read)
    // leaves the git dir out too.
    repo.git(&["update-index", "--split-index"]);
    repo.write("dir/d.txt", "split\n");
    let snap = snap_json(&repo);
    assert_eq!(snap["tree"], oracle_with(&repo, &[".", ":(exclude)meta"]));
}

#[test]
fn a_git_dir_inside_the_work_tree_is_never_watched() {
    let (repo, meta) = git_dir_inside_work_tree();
    repo.run_ok(&["watch", "--detach", "--debounce", "100"]);
    let state_dir = meta.join("savepoint");
    let start = std::time::Instant::now();
    let state = loop {
        if let Some(st) = savepoint::watch::WatchState::load(&state_dir) {
            break st;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The work tree's top and `dir/`: nothing of `meta/`.
    assert_eq!(state.watches, 2, "{state:?}");
    repo.write("dir/c.txt", "new\n");
    let expected = oracle_with(&repo, &[".", ":(exclude)meta"]);
    let tip_tree = || {
        let out = repo.git_output(
            &[
                "rev-parse",
                "-q",
                "--verify",
                "refs/savepoint/heads/main^{tree}",
            ],
            None,
        );
        s(&out.stdout)
    };
    let start = std::time::Instant::now();
    while tip_tree() != expected {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no snapshot"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // git writing into its git dir records nothing new.
    let before = repo.git(&["rev-list", "--count", "refs/savepoint/heads/main"]);
    repo.git(&["update-index", "--refresh"]);
    repo.git(&["gc", "-q"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/savepoint/heads/main"]),
        before
    );
    repo.run_ok(&["stop"]);
}

// ---------------------------------------------------------------- item 2

#[test]
fn git_dir_and_work_tree_env_are_honoured() {
    let repo = TestRepo::new();
    repo.write("a.txt", "1\n");
    repo.write("sub/b.txt", "2\n");
    repo.commit_all("init");
    repo.write("a.txt", "changed\n");
    repo.write("sub/new.txt", "new\n");
    let elsewhere = tempfile::tempdir().unwrap();
    let git_dir = repo.abs(".git");

    // Both variables, from an unrelated directory.
    let out = repo
        .cmd()
        .current_dir(elsewhere.path())
        .env("GIT_DIR", &git_dir)
        .env("GIT_WORK_TREE", repo.path())
        .args(["snap", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["tree"], repo.oracle_tree());
    assert!(!elsewhere.path().join(".git").exists());

    // GIT_DIR alone: the work tree is the current directory (git's rule).
    repo.write("a.txt", "changed again\n");
    let out = repo
        .cmd()
        .env("GIT_DIR", &git_dir)
        .args(["snap", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["tree"], repo.oracle_tree());

    // GIT_DIR alone with core.worktree: that work tree, from anywhere.
    repo.git(&["config", "core.worktree", repo.path().to_str().unwrap()]);
    repo.write("sub/b.txt", "3\n");
    let out = repo
        .cmd()
        .current_dir(elsewhere.path())
        .env("GIT_DIR", &git_dir)
        .args(["snap", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["tree"], repo.oracle_tree());
    // `log` through the same variables sees the chain.
    let out = repo
        .cmd()
        .current_dir(elsewhere.path())
        .env("GIT_DIR", &git_dir)
        .args(["log", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log.as_array().unwrap().len(), 3);

    // A GIT_DIR that is not a repository is "not a git repository".
    let out = repo
        .cmd()
        .current_dir(elsewhere.path())
        .env("GIT_DIR", elsewhere.path().join("nothing"))
        .arg("snap")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        s(&out.stderr).contains("not a git repository"),
        "{}",
        s(&out.stderr)
    );
}

#[test]
fn git_dir_env_reaches_the_detached_watcher() {
    // A work tree with no `.git` at all: only GIT_DIR (and the git dir's
    // core.worktree) lead to it, so the watcher daemon must be told too.
    let store = tempfile::tempdir().unwrap();
    let git_dir = store.path().join("store.git");
    let repo = init_with(&["--separate-git-dir", git_dir.to_str().unwrap()]);
    std::fs::remove_file(repo.abs(".git")).unwrap();
    let with_env = |args: &[&str]| {
        let out = repo
            .cmd()
            .current_dir(store.path())
            .env("GIT_DIR", &git_dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", s(&out.stderr));
        out
    };
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .env("GIT_DIR", &git_dir)
            .env("GIT_WORK_TREE", repo.path())
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", s(&out.stderr));
        s(&out.stdout)
    };
    git(&["config", "core.worktree", repo.path().to_str().unwrap()]);
    repo.write("a.txt", "one\n");
    git(&["add", "a.txt"]);
    git(&["commit", "-q", "-m", "init"]);
    with_env(&["watch", "--detach", "--debounce", "100"]);
    repo.write("a.txt", "two\n");
    repo.write("b.txt", "new\n");
    let expected = {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index");
        let run = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .env("GIT_DIR", &git_dir)
                .env("GIT_WORK_TREE", repo.path())
                .env("GIT_INDEX_FILE", &index)
                .current_dir(repo.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", s(&out.stderr));
            s(&out.stdout)
        };
        run(&["add", "-A"]);
        run(&["write-tree"])
    };
    let start = std::time::Instant::now();
    loop {
        let tree = Command::new("git")
            .args([
                "rev-parse",
                "-q",
                "--verify",
                "refs/savepoint/heads/main^{tree}",
            ])
            .env("GIT_DIR", &git_dir)
            .output()
            .unwrap();
        if s(&tree.stdout) == expected {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the watcher recorded nothing: {}",
            std::fs::read_to_string(git_dir.join("savepoint/watch.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    with_env(&["stop"]);
}

// ---------------------------------------------------------------- item 13

#[test]
fn reftable_repository_snap_log_restore_recover() {
    let repo = init_with(&["--ref-format=reftable"]);
    assert_eq!(repo.git(&["rev-parse", "--show-ref-format"]), "reftable");
    repo.write("a.txt", "base\n");
    repo.commit_all("init");
    let head_before = repo.rev("HEAD");

    repo.write("a.txt", "first\n");
    let first = snap_json(&repo);
    assert_eq!(first["created"], true);
    assert_eq!(first["ref"], "refs/savepoint/heads/main");
    assert_eq!(first["tree"], repo.oracle_tree());
    repo.write("a.txt", "second\n");
    repo.write("b.txt", "new\n");
    let second = snap_json(&repo);
    assert_eq!(second["tree"], repo.oracle_tree());
    // git sees the chain, with a reflog, and HEAD/branches did not move.
    let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/savepoint/"]);
    assert_eq!(refs, "refs/savepoint/heads/main");
    let tip = repo.rev("refs/savepoint/heads/main");
    assert!(tip.starts_with(second["id"].as_str().unwrap()));
    assert_eq!(
        repo.rev("refs/savepoint/heads/main~1")[..12],
        first["id"].as_str().unwrap()[..]
    );
    let reflog = repo.git(&["reflog", "show", "refs/savepoint/heads/main"]);
    assert_eq!(reflog.lines().count(), 2, "{reflog}");
    assert_eq!(repo.rev("HEAD"), head_before);

    // log reads it.
    let log = repo.json(&["log"]);
    assert_eq!(log.as_array().unwrap().len(), 2);

    // recover after a destructive command.
    repo.git(&["checkout", "--", "."]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "base\n"
    );
    repo.run_ok(&["recover", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "second\n"
    );

    // restore brings the first state back (after a safety snapshot) ...
    repo.run_ok(&["restore", first["id"].as_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "first\n"
    );
    assert!(!repo.abs("b.txt").exists());
    // ... and `restore @` right after undoes it.
    repo.run_ok(&["restore", "@"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "second\n"
    );
    assert!(repo.abs("b.txt").exists());
    // `@~N` walks the chain git keeps in the reftable.
    let back = repo.json(&["log", "-n", "10"]);
    assert!(back.as_array().unwrap().len() >= 4, "{back}");

    // A compare-and-swap against a stale tip is refused and moves nothing.
    let ws = repo.workspace();
    let tip = savepoint::snapshot::chain::tip(ws.repo(), "refs/savepoint/heads/main")
        .unwrap()
        .unwrap();
    let base = git2::Oid::from_str(&head_before).unwrap();
    let stale = savepoint::snapshot::chain::move_ref(
        ws.repo(),
        "refs/savepoint/heads/main",
        Some(base),
        base,
        "test",
    );
    assert!(
        matches!(stale, Err(savepoint::Error::RefMoved { .. })),
        "{stale:?}"
    );
    assert_eq!(repo.rev("refs/savepoint/heads/main"), tip.to_string());
    let create_over = savepoint::snapshot::chain::move_ref(
        ws.repo(),
        "refs/savepoint/heads/main",
        None,
        base,
        "test",
    );
    assert!(matches!(
        create_over,
        Err(savepoint::Error::RefMoved { .. })
    ));
    assert_eq!(repo.rev("refs/savepoint/heads/main"), tip.to_string());

    // squash moves the branch (with git's view of it) and cleans status.
    repo.run_ok(&["squash", "-m", "squashed work"]);
    assert_ne!(repo.rev("HEAD"), head_before);
    assert_eq!(repo.rev("HEAD~1"), head_before);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "main"]),
        "squashed work"
    );
    assert_eq!(tree_of_rev(&repo, "HEAD"), repo.oracle_tree());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // Detached HEAD resolves through git too.
    repo.git(&["checkout", "-q", "--detach"]);
    repo.write("c.txt", "detached\n");
    let detached = snap_json(&repo);
    assert_eq!(detached["ref"], "refs/savepoint/detached/main");
    // prune deletes a dead branch's expired chain through git.
    repo.git(&["branch", "-q", "gone"]);
    repo.git(&["checkout", "-q", "gone"]);
    repo.write("d.txt", "on gone\n");
    snap_json(&repo);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "gone"]);
    repo.git(&["config", "savepoint.keepAll", "0s"]);
    repo.git(&["config", "savepoint.keepHourly", "0s"]);
    repo.git(&["config", "savepoint.keepDaily", "0s"]);
    repo.run_ok(&["prune"]);
    let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/savepoint/"]);
    assert!(!refs.contains("heads/gone"), "{refs}");
    assert!(refs.contains("refs/savepoint/heads/main"), "{refs}");
    repo.assert_fsck_clean();
}

#[test]
fn reftable_watcher_follows_branch_switches() {
    let repo = init_with(&["--ref-format=reftable"]);
    repo.write("a.txt", "base\n");
    repo.commit_all("init");
    repo.git(&["branch", "feat"]);
    let mut child = repo.spawn_watcher(&["--debounce", "100"]);
    let wait_for = |refname: &str| {
        let start = std::time::Instant::now();
        loop {
            let out = repo.git_output(&["rev-parse", "-q", "--verify", refname], None);
            if out.status.success() {
                let tip = s(&out.stdout);
                if tree_of_rev(&repo, &tip) == repo.oracle_tree() {
                    return tip;
                }
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "no snapshot on {refname}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    repo.write("a.txt", "on main\n");
    let main_tip = wait_for("refs/savepoint/heads/main");
    repo.git(&["commit", "-q", "-am", "main work"]);
    repo.git(&["checkout", "-q", "feat"]);
    repo.write("b.txt", "on feat\n");
    wait_for("refs/savepoint/heads/feat");
    assert_eq!(repo.rev("refs/savepoint/heads/main"), main_tip);
    repo.run_ok(&["stop"]);
    child.wait().unwrap();
}

#[test]
fn sha256_repository_is_one_clear_error() {
    let repo = init_with(&["--object-format=sha256"]);
    repo.write("a.txt", "x\n");
    for args in [&["snap"][..], &["log"], &["status"], &["recover", "--yes"]] {
        let out = repo.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = s(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("SHA-256"), "{stderr}");
        assert!(stderr.contains("not supported"), "{stderr}");
    }
    assert!(matches!(
        savepoint::workspace::Workspace::discover(repo.path()),
        Err(savepoint::Error::UnsupportedObjectFormat { .. })
    ));
    // Hooks never fail the agent or git, and stay quiet.
    let payload = serde_json::json!({
        "session_id": "s1",
        "cwd": repo.path(),
        "hook_event_name": "UserPromptSubmit",
        "prompt": "hello",
    });
    let out = repo.pipe(&["hook", "claude"], payload.to_string().as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s(&out.stderr), "");
    let out = repo
        .cmd()
        .args(["hook", "git", "post-commit"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s(&out.stderr), "");
}

// ---------------------------------------------------------------- item 14

#[test]
fn two_worktrees_on_one_branch_have_separate_chains() {
    let repo = TestRepo::new();
    repo.write("shared.txt", "base\n");
    repo.commit_all("init");
    let parent = tempfile::tempdir().unwrap();
    let wt = parent.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-f", wt.to_str().unwrap(), "main"]);
    let in_wt = |args: &[&str]| {
        let out = repo.cmd().current_dir(&wt).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", s(&out.stderr));
        out
    };
    let json_in_wt = |args: &[&str]| -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_slice(&in_wt(&a).stdout).unwrap()
    };

    repo.write("main-only.txt", "main work\n");
    let main_snap = snap_json(&repo);
    // The worktree has no chain yet: recover there finds nothing of its
    // own, and never proposes the main work tree's files.
    in_wt(&["recover", "--yes"]);
    assert!(!wt.join("main-only.txt").exists());
    std::fs::write(wt.join("wt-only.txt"), "worktree work\n").unwrap();
    std::fs::write(wt.join("shared.txt"), "changed in wt\n").unwrap();
    let wt_snap = json_in_wt(&["snap"]);
    assert_eq!(main_snap["ref"], "refs/savepoint/heads/main");
    assert_eq!(wt_snap["ref"], "refs/savepoint/worktrees/wt/heads/main");
    assert_eq!(main_snap["tree"], repo.oracle_tree());
    let wt_files = repo.git(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/savepoint/worktrees/wt/heads/main",
    ]);
    assert_eq!(wt_files, "shared.txt\nwt-only.txt");

    // Each work tree's log is its own chain; --all shows both.
    let main_log = repo.json(&["log"]);
    let wt_log = json_in_wt(&["log"]);
    assert_eq!(main_log.as_array().unwrap().len(), 1);
    assert_eq!(wt_log.as_array().unwrap().len(), 1);
    assert_eq!(main_log[0]["id"], main_snap["id"]);
    assert_eq!(wt_log[0]["id"], wt_snap["id"]);
    let all = repo.json(&["log", "--all"]);
    let refs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ref"].as_str().unwrap())
        .collect();
    assert!(refs.contains(&"refs/savepoint/heads/main"), "{refs:?}");
    assert!(
        refs.contains(&"refs/savepoint/worktrees/wt/heads/main"),
        "{refs:?}"
    );
    assert_eq!(
        json_in_wt(&["status"])["ref"],
        "refs/savepoint/worktrees/wt/heads/main"
    );

    // recover in the worktree proposes the worktree's files, never main's.
    std::fs::remove_file(wt.join("wt-only.txt")).unwrap();
    std::fs::write(wt.join("shared.txt"), "base\n").unwrap();
    in_wt(&["recover", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(wt.join("wt-only.txt")).unwrap(),
        "worktree work\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("shared.txt")).unwrap(),
        "changed in wt\n"
    );
    assert!(!wt.join("main-only.txt").exists());
    let out = repo.cmd().args(["recover", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    assert!(!repo.abs("wt-only.txt").exists());
    assert_eq!(
        std::fs::read_to_string(repo.abs("shared.txt")).unwrap(),
        "base\n"
    );

    // push copies both chains; prune keeps both (branch and work tree live).
    let remote = tempfile::tempdir().unwrap();
    let out = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(remote.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    repo.git(&["remote", "add", "backup", remote.path().to_str().unwrap()]);
    repo.run_ok(&["push", "backup"]);
    let remote_refs = Command::new("git")
        .args(["for-each-ref", "--format=%(refname)"])
        .env("GIT_DIR", remote.path())
        .output()
        .unwrap();
    let remote_refs = s(&remote_refs.stdout);
    assert!(
        remote_refs.contains("refs/savepoint/heads/main"),
        "{remote_refs}"
    );
    assert!(
        remote_refs.contains("refs/savepoint/worktrees/wt/heads/main"),
        "{remote_refs}"
    );
    repo.git(&["config", "savepoint.keepAll", "0s"]);
    repo.git(&["config", "savepoint.keepHourly", "0s"]);
    repo.git(&["config", "savepoint.keepDaily", "0s"]);
    repo.run_ok(&["prune"]);
    let local = repo.git(&["for-each-ref", "--format=%(refname)", "refs/savepoint/"]);
    assert!(
        local.contains("refs/savepoint/worktrees/wt/heads/main"),
        "{local}"
    );
    // Once the work tree is gone, its expired chain goes with prune.
    repo.git(&["worktree", "remove", "--force", wt.to_str().unwrap()]);
    repo.run_ok(&["prune"]);
    let local = repo.git(&["for-each-ref", "--format=%(refname)", "refs/savepoint/"]);
    assert!(!local.contains("worktrees/wt"), "{local}");
    assert!(local.contains("refs/savepoint/heads/main"), "{local}");
}

// ---------------------------------------------------------------- item 17

#[test]
fn partial_clone_opens() {
    let upstream = TestRepo::new();
    upstream.write("old.bin", "only in history\n");
    upstream.commit_all("old");
    upstream.remove("old.bin");
    upstream.write("a.txt", "current\n");
    upstream.write("src/lib.rs", "fn f() {}\n");
    upstream.commit_all("current");
    upstream.git(&["config", "uploadpack.allowFilter", "true"]);
    let old_blob = upstream.git(&["rev-parse", "HEAD~1:old.bin"]);

    let clone = TestRepo {
        dir: tempfile::tempdir().unwrap(),
        home: tempfile::tempdir().unwrap(),
    };
    let url = format!("file://{}", upstream.path().display());
    clone.git(&["clone", "-q", "--filter=blob:none", &url, "."]);
    // git before 2.44 (and repositories cloned by it) mark the promisor
    // remote with this extension; git still honours it.
    clone.git(&["config", "extensions.partialClone", "origin"]);
    assert_eq!(clone.git(&["config", "core.repositoryformatversion"]), "1");
    // The blob only history needs was never fetched (and stays so).
    let missing = clone.git(&["rev-list", "--objects", "--missing=print", "--all"]);
    assert!(missing.contains(&format!("?{old_blob}")), "{missing}");

    clone.write("a.txt", "edited\n");
    clone.write("new.txt", "new\n");
    let snap = snap_json(&clone);
    assert_eq!(snap["created"], true);
    assert_eq!(snap["tree"], clone.oracle_tree());
    assert_eq!(clone.json(&["log"]).as_array().unwrap().len(), 1);
    clone.git(&["checkout", "--", "a.txt"]);
    clone.run_ok(&["recover", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(clone.abs("a.txt")).unwrap(),
        "edited\n"
    );
    let missing = clone.git(&["rev-list", "--objects", "--missing=print", "--all"]);
    assert!(
        missing.contains(&format!("?{old_blob}")),
        "nothing fetched it"
    );
}
