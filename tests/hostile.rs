//! Odd and hostile input, one test each: every case ends with a clear
//! message and the documented exit code, never a panic, and nothing lost.
//! (Not a repo, bare repos, unborn/detached HEADs, rebase/merge, FIFOs and
//! sockets, non-UTF-8 names, submodules, symlink loops, vanishing files,
//! malformed hook JSON and crafted restore trees are covered next to the
//! feature they exercise: tests/cli.rs, engine.rs, hooks.rs, restore.rs.)

mod common;

use std::process::{Command, Output};

use common::TestRepo;

fn no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Run savepoint as an unprivileged user: `nobody` via setpriv when the
/// tests run as root (permission bits do not bind root), else as is.
fn unprivileged(repo: &TestRepo, args: &[&str]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("savepoint");
    let mut cmd = if is_root() {
        // The build directory may not be reachable for `nobody` (a checkout
        // under /root): run a copy from the test's own temporary home.
        let copy = repo.home.path().join("savepoint-as-nobody");
        if !copy.exists() {
            std::fs::copy(&bin, &copy).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(&copy);
        c
    } else {
        Command::new(&bin)
    };
    cmd.args(args)
        .current_dir(repo.path())
        .env("HOME", repo.home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        // git refuses repositories owned by someone else.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "*");
    cmd.output().unwrap()
}

/// Make a repository usable by `nobody` (when running as root).
fn open_up(repo: &TestRepo) {
    if !is_root() {
        return;
    }
    for dir in [repo.path(), repo.home.path()] {
        let st = Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

#[test]
fn unreadable_files_are_named_and_tracked_content_is_kept() {
    let repo = TestRepo::new();
    repo.write("tracked.txt", "committed content\n");
    repo.write("ok.txt", "ok\n");
    repo.commit_all("init");
    repo.write("tracked.txt", "changed but unreadable\n");
    repo.write("secret.txt", "untracked, unreadable\n");
    repo.write("ok.txt", "changed\n");
    repo.git(&["config", "--global", "safe.directory", "*"]);
    open_up(&repo);
    repo.chmod("tracked.txt", 0o000);
    repo.chmod("secret.txt", 0o000);
    let out = unprivileged(&repo, &["snap", "--json"]);
    no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tracked.txt") && err.contains("unreadable"),
        "{err}"
    );
    assert!(err.contains("secret.txt"), "{err}");
    // The snapshot keeps the last committed content of the unreadable
    // tracked file, records the readable change, and leaves out the rest.
    let r = "refs/savepoint/heads/main";
    assert_eq!(
        repo.git(&["show", &format!("{r}:tracked.txt")]),
        "committed content"
    );
    assert_eq!(repo.git(&["show", &format!("{r}:ok.txt")]), "changed");
    let files = repo.git(&["ls-tree", "-r", "--name-only", r]);
    assert!(!files.contains("secret.txt"), "{files}");
    repo.chmod("tracked.txt", 0o644);
    repo.chmod("secret.txt", 0o644);
}

#[test]
fn unreadable_directory_keeps_tracked_entries() {
    let repo = TestRepo::new();
    repo.write("locked/a.txt", "a\n");
    repo.write("locked/sub/b.txt", "b\n");
    repo.write("ok.txt", "ok\n");
    repo.commit_all("init");
    repo.write("ok.txt", "changed\n");
    repo.write("locked/new.txt", "cannot be seen\n");
    repo.git(&["config", "--global", "safe.directory", "*"]);
    open_up(&repo);
    repo.chmod("locked", 0o000);
    let out = unprivileged(&repo, &["snap", "--json"]);
    no_panic(&out);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    repo.chmod("locked", 0o755);
    assert!(out.status.success(), "{err}");
    // The directory is named as skipped ...
    assert!(
        err.contains("locked") && err.contains("unreadable"),
        "{err}"
    );
    // ... and its tracked files keep their indexed content, as `git add -A`
    // keeps their index entries; nothing is recorded as deleted.
    let r = "refs/savepoint/heads/main";
    assert_eq!(repo.git(&["show", &format!("{r}:locked/a.txt")]), "a");
    assert_eq!(repo.git(&["show", &format!("{r}:locked/sub/b.txt")]), "b");
    assert_eq!(repo.git(&["show", &format!("{r}:ok.txt")]), "changed");
    let changed = repo.git(&["diff", "--name-status", "HEAD", r]);
    assert_eq!(changed, "M\tok.txt", "{changed}");
}

#[test]
fn a_read_only_object_store_is_a_clear_error_and_changes_nothing() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    repo.write("a.txt", "changed\n");
    repo.git(&["config", "--global", "safe.directory", "*"]);
    open_up(&repo);
    let objects = repo.abs(".git/objects");
    // Unwritable for the unprivileged run: root-owned 0755 (as root), or
    // read-only (as another user).
    let st = Command::new("chmod")
        .args(["-R", "a-w,u+r"])
        .arg(&objects)
        .status()
        .unwrap();
    assert!(st.success());
    if is_root() {
        // Keep the state dir writable so the object write is what fails.
        std::fs::create_dir_all(repo.abs(".git/savepoint")).unwrap();
        Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(repo.abs(".git/savepoint"))
            .status()
            .unwrap();
    }
    let refs_before = repo.git(&["for-each-ref"]);
    let out = unprivileged(&repo, &["snap"]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&objects)
        .status()
        .unwrap();
    assert_eq!(repo.git(&["for-each-ref"]), refs_before);
    repo.assert_fsck_clean();
}

#[test]
fn a_sparse_1_gib_untracked_file_is_skipped_by_size_without_reading_it() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    let f = std::fs::File::create(repo.abs("huge.img")).unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);
    repo.write("b.txt", "b\n");
    let out = repo.cmd().args(["snap", "--json"]).output().unwrap();
    no_panic(&out);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["skipped"][0]
            .as_str()
            .unwrap()
            .starts_with("huge.img (1.0 GiB"),
        "{v}"
    );
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/savepoint/heads/main"]);
    assert_eq!(files, "a.txt\nb.txt");
}

#[test]
fn very_long_names_and_deep_paths_match_git() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    let long = "n".repeat(250);
    repo.write(&format!("{long}.txt"), "long name\n");
    let deep: String = (0..40)
        .map(|i| format!("dir{i:02}-{}/", "x".repeat(40)))
        .collect();
    repo.write(&format!("{deep}leaf.txt"), "deep\n");
    let out = repo.cmd().arg("snap").output().unwrap();
    no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
    // And back through restore.
    std::fs::remove_dir_all(repo.abs(deep.split('/').next().unwrap())).unwrap();
    repo.run_ok(&["restore", "@"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs(format!("{deep}leaf.txt"))).unwrap(),
        "deep\n"
    );
}

#[test]
fn device_files_and_symlinks_out_of_the_tree_are_handled_like_git() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    // A device node (needs privileges: skipped where mknod is refused).
    let _ = Command::new("mknod")
        .arg(repo.abs("null-dev"))
        .args(["c", "1", "3"])
        .status();
    std::os::unix::fs::symlink("/etc", repo.abs("etc-link")).unwrap();
    std::os::unix::fs::symlink("../../outside/file", repo.abs("dangling")).unwrap();
    std::os::unix::fs::symlink("loop-b", repo.abs("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", repo.abs("loop-b")).unwrap();
    let out = repo.cmd().arg("snap").output().unwrap();
    no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/savepoint/heads/main"]);
    assert!(!files.contains("null-dev"));
    assert!(!files.contains("etc-link/"), "symlinks are never followed");
    // Restoring never follows them either.
    let outside_before = std::fs::read_dir("/etc").unwrap().count();
    repo.run_ok(&["restore", "@"]);
    assert_eq!(std::fs::read_dir("/etc").unwrap().count(), outside_before);
}

#[test]
fn malformed_config_values_name_the_key() {
    for (key, value, cmd) in [
        ("savepoint.debounce", "abc", "watch"),
        ("savepoint.maxWait", "soon", "watch"),
        ("savepoint.keepAll", "forever", "prune"),
        ("savepoint.autostart", "maybe", "snap"),
        ("savepoint.pushInterval", "often", "snap"),
    ] {
        let repo = TestRepo::new();
        repo.write("a.txt", "a\n");
        repo.commit_all("init");
        repo.git(&["config", key, value]);
        let out = repo.cmd().arg(cmd).output().unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key) && err.contains(value), "{key}: {err}");
        assert!(err.contains("hint: "), "{err}");
        // The hooks still never fail the caller.
        let hook = repo
            .cmd()
            .args(["hook", "git", "post-commit"])
            .output()
            .unwrap();
        assert_eq!(hook.status.code(), Some(0));
    }
}

#[test]
fn cherry_pick_in_progress_snapshots_and_squash_refuses() {
    let repo = TestRepo::new();
    repo.conflicting_branches("other");
    let _ = repo.git_output(&["cherry-pick", "other"], None);
    assert!(repo.abs(".git/CHERRY_PICK_HEAD").exists());
    let out = repo.cmd().arg("snap").output().unwrap();
    no_panic(&out);
    assert!(out.status.success());
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
    let out = repo.cmd().arg("squash").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cherry-pick is in progress"));
    assert!(repo.abs(".git/CHERRY_PICK_HEAD").exists());
}
