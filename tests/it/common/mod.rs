//! The shared test helper: a throwaway repository driven by the real git
//! CLI, with oracles (what `git add -A && git write-tree` gives, computed in
//! a throwaway index) and fingerprints of everything savepoint must never
//! touch (index bytes, HEAD, branches).
#![allow(dead_code)]

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use savepoint::snapshot::record::{SnapOutcome, SnapRequest};
use savepoint::workspace::Workspace;

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

/// Environment for every git and savepoint process: isolated from the
/// machine's config, fixed identity.
fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("NO_COLOR", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("SAVEPOINT_LOG");
}

impl TestRepo {
    /// `git init` on branch `main` with a local identity.
    pub fn new() -> TestRepo {
        // Before any test thread opens a repository through git2 directly.
        savepoint::git::libgit2_init::init();
        let t = TestRepo {
            dir: tempfile::tempdir().expect("tempdir"),
            home: tempfile::tempdir().expect("tempdir"),
        };
        // Failed turns never ask a real status page from a test (a test
        // that wants the check sets the repository's own config).
        std::fs::write(
            t.home.path().join(".gitconfig"),
            "[savepoint]\n\tstatusUrl = none\n",
        )
        .expect("write the test's global git config");
        t.git(&["init", "-q", "-b", "main"]);
        t.git(&["config", "user.name", "Test"]);
        t.git(&["config", "user.email", "test@example.com"]);
        t.git(&["config", "commit.gpgsign", "false"]);
        t
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn abs(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path().join(rel)
    }

    /// Run git, panic on failure, return stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.git_output(args, None);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn git_output(&self, args: &[&str], index: Option<&Path>) -> Output {
        let mut cmd = Command::new("git");
        cmd.args(args).current_dir(self.path());
        isolate(&mut cmd, self.home.path());
        if let Some(i) = index {
            cmd.env("GIT_INDEX_FILE", i);
        }
        cmd.output().expect("run git")
    }

    /// A `savepoint` process in this repo.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("savepoint").expect("binary built");
        cmd.current_dir(self.path());
        isolate(&mut cmd, self.home.path());
        cmd
    }

    /// savepoint run through `sh -c "<setup>; exec savepoint …"` (e.g.
    /// `umask 000`, `ulimit -s 1024`), in the repository, isolated like
    /// [`TestRepo::cmd`]; add savepoint's arguments with `.args(…)`.
    pub fn cmd_after_shell(&self, setup: &str) -> Command {
        let bin = assert_cmd::cargo::cargo_bin("savepoint");
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("{setup}; exec \"$0\" \"$@\""))
            .arg(bin)
            .current_dir(self.path());
        isolate(&mut sh, self.home.path());
        sh
    }

    /// Run savepoint with `args`; panic (showing stderr) unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run savepoint");
        assert!(
            out.status.success(),
            "savepoint {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Run savepoint with `args`, feeding `input` on stdin.
    pub fn pipe(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run savepoint");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait for savepoint")
    }

    /// Start `savepoint watch <args>` (output discarded) and wait until its
    /// start-up scan is done.
    pub fn spawn_watcher(&self, args: &[&str]) -> std::process::Child {
        use std::process::Stdio;
        let child = self
            .cmd()
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watcher");
        let state = self.path().join(".git/savepoint");
        let start = std::time::Instant::now();
        while savepoint::watch::WatchState::load(&state).is_none_or(|s| s.pid != child.id()) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "watcher did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
    }

    /// `savepoint <args> --json`, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_slice(&self.run_ok(&args).stdout).expect("JSON output")
    }

    pub fn write(&self, rel: &str, content: &str) {
        self.write_bytes(rel.as_bytes(), content.as_bytes());
    }

    pub fn write_bytes(&self, rel: &[u8], content: &[u8]) {
        let p = self.path().join(std::ffi::OsStr::from_bytes(rel));
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    pub fn remove(&self, rel: &str) {
        let p = self.abs(rel);
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(p).expect("rm -r");
        } else {
            std::fs::remove_file(p).expect("rm");
        }
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.abs(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }

    pub fn symlink(&self, target: &str, rel: &str) {
        let p = self.abs(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(target, p).expect("symlink");
    }

    /// Date the directory cache's listings (`engine::dircache`) an hour
    /// later, as if the last scan had run then: every listed directory
    /// counts as safely older than its listing (no waiting out the racy
    /// second), so the next one-shot scan answers unchanged directories
    /// from the cache.
    pub fn settle_dir_cache(&self) {
        let path = self.path().join(".git/savepoint/dir-cache");
        let mut b = std::fs::read(&path).expect("a directory cache after a scan");
        // Magic (4 bytes), version (4), recorded-at seconds (i64, little endian).
        let t = i64::from_le_bytes(b[8..16].try_into().expect("8 bytes")) + 3600;
        b[8..16].copy_from_slice(&t.to_le_bytes());
        std::fs::write(&path, b).expect("write the directory cache");
    }

    pub fn commit_all(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }

    /// The oracle: `git add -A && git write-tree` in a throwaway copy of the
    /// index.
    pub fn oracle_tree(&self) -> String {
        self.oracle_tree_with(&[])
    }

    /// The oracle of a sparse checkout: `git add -A --sparse` (everything
    /// present in the work tree, the contract's rule; plain `git add -A`
    /// refuses untracked files outside the cone).
    pub fn oracle_tree_sparse(&self) -> String {
        self.oracle_tree_with(&["--sparse"])
    }

    /// [`TestRepo::oracle_tree`] with extra `git add` arguments.
    pub fn oracle_tree_with(&self, add_args: &[&str]) -> String {
        let tmp = tempfile::NamedTempFile::new().expect("tmp");
        let index = self.path().join(".git/index");
        if index.exists() {
            // Keep the mtime: git's racy-entry check depends on it.
            savepoint::git::index_file::copy_index(&index, tmp.path()).expect("copy index");
        } else {
            std::fs::remove_file(tmp.path()).ok();
        }
        let mut args = vec!["add", "-A"];
        args.extend_from_slice(add_args);
        let add = self.git_output(&args, Some(tmp.path()));
        assert!(
            add.status.success(),
            "oracle add failed: {}",
            String::from_utf8_lossy(&add.stderr)
        );
        let wt = self.git_output(&["write-tree"], Some(tmp.path()));
        assert!(wt.status.success());
        String::from_utf8_lossy(&wt.stdout).trim().to_owned()
    }

    /// The work tree, opened in this process. Library calls here see the
    /// test process's environment (its `HOME`, its global git config), not
    /// the isolated one [`TestRepo::cmd`] gives: a test about global config
    /// or the environment goes through the binary.
    pub fn workspace(&self) -> Workspace {
        Workspace::discover(self.path()).expect("open workspace")
    }

    /// Take a snapshot through the library.
    pub fn snap(&self, trigger: &str) -> SnapOutcome {
        let ws = self.workspace();
        savepoint::snapshot::record::take(&ws, &SnapRequest::new(trigger), None).expect("snapshot")
    }

    /// Everything savepoint promises not to touch.
    pub fn user_state(&self) -> UserState {
        let git_dir = self.path().join(".git");
        UserState {
            index: std::fs::read(git_dir.join("index")).ok(),
            head: std::fs::read(git_dir.join("HEAD")).expect("HEAD"),
            branches: self.git(&[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
                "refs/tags",
                "refs/stash",
            ]),
            status: self.git(&[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
            ]),
        }
    }

    /// `git fsck --strict` must be clean.
    pub fn assert_fsck_clean(&self) {
        let fsck = self.git_output(&["fsck", "--strict", "--no-progress"], None);
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stderr)
        );
    }

    /// Three commits that conflict: `base` on main, then `f` changed both
    /// on `branch` and on main. Leaves `main` checked out.
    pub fn conflicting_branches(&self, branch: &str) {
        self.write("f", "base\n");
        self.commit_all("base");
        self.git(&["checkout", "-q", "-b", branch]);
        self.write("f", &format!("{branch}\n"));
        self.commit_all(branch);
        self.git(&["checkout", "-q", "main"]);
        self.write("f", "main\n");
        self.commit_all("main");
    }

    /// `git submodule add` of another test repository (file transport).
    pub fn add_submodule(&self, upstream: &TestRepo, path: &str) {
        let url = upstream.path().to_str().expect("utf-8 temp path");
        self.git(&[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            url,
            path,
        ]);
    }

    pub fn rev(&self, spec: &str) -> String {
        self.git(&["rev-parse", spec])
    }

    pub fn tree_of(&self, spec: &str) -> String {
        self.rev(&format!("{spec}^{{tree}}"))
    }
}

/// Every file and symlink of a work tree (`.git` aside): content (or link
/// target), and the exec bit.
pub type Fingerprint = std::collections::BTreeMap<String, (Vec<u8>, bool)>;

impl TestRepo {
    /// A fingerprint of the work tree, leaving out paths `skip` accepts.
    pub fn fingerprint(&self, skip: impl Fn(&str) -> bool) -> Fingerprint {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Fingerprint::new();
        let mut stack = vec![self.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("read_dir") {
                let e = e.expect("entry");
                let p = e.path();
                let rel = p
                    .strip_prefix(self.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel == ".git" || skip(&rel) {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).expect("lstat");
                if m.is_dir() {
                    stack.push(p);
                } else if m.file_type().is_symlink() {
                    let t = std::fs::read_link(&p).unwrap();
                    out.insert(rel, (t.as_os_str().as_bytes().to_vec(), false));
                } else {
                    let exec = m.permissions().mode() & 0o111 != 0;
                    out.insert(rel, (std::fs::read(&p).expect("read"), exec));
                }
            }
        }
        out
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct UserState {
    pub index: Option<Vec<u8>>,
    pub head: Vec<u8>,
    pub branches: String,
    pub status: String,
}

/// `savepoint watch --detach` (100 ms debounce) for as long as the value
/// lives, as users run it: stopped on drop, also when the test fails.
pub struct DetachedWatcher<'a> {
    repo: &'a TestRepo,
}

impl<'a> DetachedWatcher<'a> {
    pub fn start(repo: &'a TestRepo) -> DetachedWatcher<'a> {
        DetachedWatcher::start_with(repo, &["--debounce", "100"])
    }

    /// `savepoint watch --detach <args>` (no arguments: as users run it).
    pub fn start_with(repo: &'a TestRepo, args: &[&str]) -> DetachedWatcher<'a> {
        let mut all = vec!["watch", "--detach"];
        all.extend_from_slice(args);
        repo.run_ok(&all);
        DetachedWatcher { repo }
    }

    /// [`wait_recorded`] for this watcher's repository.
    pub fn wait_recorded(&self, what: &str) -> String {
        wait_recorded(self.repo, what)
    }
}

impl Drop for DetachedWatcher<'_> {
    fn drop(&mut self) {
        let _ = self.repo.cmd().args(["stop", "--timeout", "30"]).output();
    }
}

/// Wait (at most 40 s) until the tip of `refs/savepoint/heads/main` holds
/// exactly what git would record of the work tree now — the watcher has
/// recorded this state; returns the tip.
pub fn wait_recorded(repo: &TestRepo, what: &str) -> String {
    let recorded = || {
        let tip = repo.git_output(
            &[
                "rev-parse",
                "-q",
                "--verify",
                "refs/savepoint/heads/main^{tree}",
            ],
            None,
        );
        String::from_utf8_lossy(&tip.stdout).trim() == repo.oracle_tree()
    };
    if !poll(std::time::Duration::from_secs(40), recorded) {
        panic!(
            "the watcher did not record {what}\n{}",
            std::fs::read_to_string(repo.abs(".git/savepoint/watch.log")).unwrap_or_default()
        );
    }
    repo.rev("refs/savepoint/heads/main")
}

/// Check `done` every 10 ms until it holds (`true`) or `limit` has passed
/// (`false`): waiting on observable state, never a fixed sleep.
pub fn poll(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// [`poll`], failing the test (naming `what`) when `limit` passes first.
pub fn wait_until(what: &str, limit: std::time::Duration, done: impl FnMut() -> bool) {
    assert!(
        poll(limit, done),
        "timed out after {limit:?} waiting for {what}"
    );
}
