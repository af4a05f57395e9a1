//! The watcher end to end: a real `savepoint watch` process on a real
//! file system, edits made like editors and agents make them, and the git
//! oracle as judge. Waits are bounded polls ("until the chain's tip equals
//! the oracle, at most 30 s"), never timing assertions.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, TestRepo};
use savepoint::watch::{self, Request, SnapMeta, WatchState};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(40);

/// A watcher process, killed (SIGKILL) if the test ends without stopping it.
struct Watcher {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Watcher {
    fn start(repo: &TestRepo, args: &[&str]) -> Watcher {
        let w = Watcher::spawn(repo, args);
        let pid = w.child.id();
        let state_dir = repo.path().join(".git/savepoint");
        w.wait(&format!("watcher {pid} ready"), || {
            WatchState::load(&state_dir).is_some_and(|s| s.pid == pid)
        });
        w
    }

    fn spawn(repo: &TestRepo, args: &[&str]) -> Watcher {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let out = repo.home.path().join(format!("watch-{n}.out"));
        let err = repo.home.path().join(format!("watch-{n}.err"));
        let child = repo
            .cmd()
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("start watcher");
        Watcher { child, out, err }
    }

    fn logs(&self) -> String {
        format!(
            "--- watcher stdout\n{}\n--- watcher stderr\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// Poll `cond` until it holds; panic with the watcher's output if not.
    fn wait(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the process to exit; its exit code.
    fn exit_code(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < WAIT,
                "watcher did not exit\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tip(repo: &TestRepo, refname: &str) -> Option<String> {
    let out = repo.git_output(&["rev-parse", "-q", "--verify", refname], None);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn tip_tree(repo: &TestRepo, refname: &str) -> Option<String> {
    tip(repo, refname).map(|_| repo.tree_of(refname))
}

fn log_json(repo: &TestRepo, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["log"];
    args.extend_from_slice(extra);
    repo.json(&args).as_array().unwrap().clone()
}

fn status_json(repo: &TestRepo) -> Value {
    repo.json(&["status"])
}

const MAIN: &str = "refs/savepoint/heads/main";

/// Wait until the main chain's tip holds exactly what git would commit.
fn wait_for_oracle(w: &Watcher, repo: &TestRepo, refname: &str) {
    w.wait(&format!("{refname} to match the oracle"), || {
        tip_tree(repo, refname).is_some_and(|t| t == repo.oracle_tree())
    });
}

fn seeded() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(".gitignore", "target/\n*.log\n");
    repo.write("src/lib.rs", "pub fn a() {}\n");
    repo.write("src/util/mod.rs", "// util\n");
    repo.write("README.md", "# demo\n");
    repo.write("old-name.txt", "rename me\n");
    repo.write("script.sh", "#!/bin/sh\n");
    repo.commit_all("init");
    repo
}

#[test]
fn edits_become_snapshots_that_match_git() {
    let repo = seeded();
    let before = repo.user_state();
    let w = Watcher::start(&repo, &["--debounce", "150"]);
    // A clean tree at start: nothing to snapshot yet.
    assert_eq!(tip(&repo, MAIN), None, "{}", w.logs());

    repo.write("src/lib.rs", "pub fn a() { changed }\n");
    repo.write("src/new.rs", "pub fn new() {}\n");
    repo.remove("README.md");
    std::fs::rename(repo.abs("old-name.txt"), repo.abs("new-name.txt")).unwrap();
    repo.chmod("script.sh", 0o755);
    repo.symlink("src/lib.rs", "link-to-lib");
    repo.write("naïve €/ünïcode.txt", "unicode\n");
    // `mkdir -p` followed at once by files deep inside.
    std::fs::create_dir_all(repo.abs("deep/a/b/c")).unwrap();
    repo.write("deep/a/b/c/leaf.txt", "leaf\n");
    // An editor's atomic save: write a temp file, rename over the original.
    repo.write("src/util/.mod.rs.swp", "pub mod x;\n");
    std::fs::rename(
        repo.abs("src/util/.mod.rs.swp"),
        repo.abs("src/util/mod.rs"),
    )
    .unwrap();
    wait_for_oracle(&w, &repo, MAIN);

    // A later delete of a whole directory is seen too, a directory renamed
    // inside the tree keeps being watched under its new name, and one
    // re-created under an old name is watched again.
    repo.remove("deep");
    std::fs::rename(repo.abs("src/util"), repo.abs("src/helpers")).unwrap();
    wait_for_oracle(&w, &repo, MAIN);
    repo.write("src/helpers/more.rs", "// more\n");
    std::fs::create_dir(repo.abs("src/util")).unwrap();
    repo.write("src/util/again.rs", "// again\n");
    wait_for_oracle(&w, &repo, MAIN);
    repo.write("src/util/again.rs", "// again, edited\n");
    repo.write("src/helpers/more.rs", "// more, edited\n");
    wait_for_oracle(&w, &repo, MAIN);

    let after = repo.user_state();
    assert_eq!(after.index, before.index, "the user's index");
    assert_eq!((after.head, after.branches), (before.head, before.branches));
    repo.assert_fsck_clean();
    let log = log_json(&repo, &[]);
    assert!(log.iter().all(|s| s["trigger"] == "watch"), "{log:?}");
}

#[test]
fn a_burst_of_2000_writes_gives_few_snapshots_and_an_exact_tree() {
    let repo = seeded();
    let w = Watcher::start(&repo, &["--debounce", "400"]);
    for d in 0..20 {
        for f in 0..100 {
            repo.write(&format!("burst/d{d}/f{f}.txt"), &format!("{d} {f}\n"));
        }
    }
    wait_for_oracle(&w, &repo, MAIN);
    let n = log_json(&repo, &[]).len();
    assert!((1..=10).contains(&n), "{n} snapshots for one burst");
}

#[test]
fn churn_in_ignored_paths_makes_no_snapshot_and_costs_no_watches() {
    let repo = seeded();
    for i in 0..30 {
        std::fs::create_dir_all(repo.abs(format!("target/debug/deps{i}"))).unwrap();
    }
    let w = Watcher::start(&repo, &["--debounce", "100"]);
    // Root, src, src/util: nothing below target/.
    assert_eq!(status_json(&repo)["watches"], 3, "{}", w.logs());
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(1200) {
        repo.write(
            &format!("target/debug/deps{}/out.o", i % 30),
            &i.to_string(),
        );
        repo.write("build.log", &i.to_string());
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        tip(&repo, MAIN),
        None,
        "ignored churn made a snapshot\n{}",
        w.logs()
    );
    // The watcher is alive and still sees real edits.
    repo.write("src/lib.rs", "pub fn a() { after churn }\n");
    wait_for_oracle(&w, &repo, MAIN);
    assert_eq!(log_json(&repo, &[]).len(), 1);
}

#[test]
fn branch_switch_sends_snapshots_to_the_new_branch_chain() {
    let repo = seeded();
    repo.git(&["checkout", "-q", "-b", "feat"]);
    repo.write("src/lib.rs", "pub fn a() { feat }\n");
    repo.write("feat-only.txt", "feat\n");
    repo.commit_all("feat work");
    repo.git(&["checkout", "-q", "main"]);
    let w = Watcher::start(&repo, &["--debounce", "150"]);

    repo.write("README.md", "# wip on main\n");
    wait_for_oracle(&w, &repo, MAIN);
    repo.git(&["commit", "-q", "-am", "main wip"]);
    let main_tip = tip(&repo, MAIN).unwrap();

    // A clean switch: the checkout itself is not a snapshot on either chain.
    repo.git(&["checkout", "-q", "feat"]);
    repo.write("feat-only.txt", "feat, edited after the switch\n");
    wait_for_oracle(&w, &repo, "refs/savepoint/heads/feat");
    let feat = log_json(&repo, &[]);
    assert_eq!(feat.len(), 1, "{feat:?}\n{}", w.logs());
    assert_eq!(feat[0]["files"], serde_json::json!(["feat-only.txt"]));
    assert_eq!(feat[0]["base"], repo.rev("feat"));
    assert_eq!(tip(&repo, MAIN).unwrap(), main_tip, "main chain moved");
}

#[test]
fn stop_takes_a_final_snapshot_and_leaves_no_process_or_lock() {
    let repo = seeded();
    // A long debounce: only the final snapshot can record the edit.
    let mut w = Watcher::start(&repo, &["--debounce", "60000", "--max-wait", "60000"]);
    repo.write("src/lib.rs", "pub fn a() { unsaved }\n");
    let out = repo.cmd().arg("stop").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stopped the watcher"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(w.exit_code(), 0, "{}", w.logs());
    assert_eq!(tip_tree(&repo, MAIN).unwrap(), repo.oracle_tree());
    let st = status_json(&repo);
    assert_eq!(st["watching"], false);
    assert_eq!(st["pid"], Value::Null);
    assert!(!repo.abs(".git/savepoint/watch.sock").exists());
    // The lock is free: a new watcher starts at once.
    let again = Watcher::start(&repo, &[]);
    drop(again);
    // Stopping when nothing runs is not an error.
    let out = repo.cmd().arg("stop").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no watcher is running"));
}

#[test]
fn a_second_watcher_is_refused_naming_the_first() {
    let repo = seeded();
    let w = Watcher::start(&repo, &[]);
    let out = repo.cmd().arg("watch").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains(&w.child.id().to_string()), "{err}");
    let out = repo.cmd().args(["watch", "--detach"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn kill_9_leaves_a_clean_repo_and_the_next_watcher_starts() {
    let repo = seeded();
    for round in 0..3 {
        let mut w = Watcher::start(&repo, &["--debounce", "50", "--max-wait", "100"]);
        for i in 0..300 {
            repo.write(&format!("churn/r{round}/f{i}.txt"), &i.to_string());
        }
        std::thread::sleep(Duration::from_millis(30 * round as u64));
        w.child.kill().unwrap();
        w.child.wait().unwrap();
        repo.assert_fsck_clean();
        if let Some(t) = tip(&repo, MAIN) {
            repo.git(&["ls-tree", "-r", &t]);
        }
    }
    let w = Watcher::start(&repo, &["--debounce", "100"]);
    wait_for_oracle(&w, &repo, MAIN);
    assert_eq!(status_json(&repo)["watching"], true);
}

#[test]
fn hooks_hand_their_metadata_to_the_watcher_over_its_socket() {
    let repo = seeded();
    let w = Watcher::start(&repo, &["--debounce", "60000", "--max-wait", "60000"]);
    repo.write("src/lib.rs", "pub fn a() { from the agent }\n");
    let ws = repo.workspace();
    let meta = SnapMeta {
        trigger: "claude:PostToolUse".into(),
        session: Some("sess-1".into()),
        tool: Some("Edit".into()),
        prompt: Some("make a() do something".into()),
        paths: vec!["src/lib.rs".into()],
        ..SnapMeta::default()
    };
    let started = Instant::now();
    let reply = watch::send(&ws, &Request::Snap(meta))
        .unwrap()
        .expect("watcher answers");
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.pid, w.child.id());
    assert!(started.elapsed() < WAIT);
    wait_for_oracle(&w, &repo, MAIN);
    let log = log_json(&repo, &[]);
    assert_eq!(log[0]["trigger"], "claude:PostToolUse");
    assert_eq!(log[0]["session"], "sess-1");
    assert_eq!(log[0]["tool"], "Edit");
    assert_eq!(log[0]["prompt"], "make a() do something");

    // A request with nothing new keeps its prompt for the next snapshot.
    let meta = SnapMeta {
        trigger: "claude:UserPromptSubmit".into(),
        prompt: Some("second prompt".into()),
        ..SnapMeta::default()
    };
    assert!(watch::send(&ws, &Request::Snap(meta)).unwrap().unwrap().ok);
    // Requests are asynchronous; usually the prompt is handled before the
    // next write, but either order must keep the prompt.
    std::thread::sleep(Duration::from_millis(300));
    repo.write("src/new.rs", "// new\n");
    assert!(
        watch::send(
            &ws,
            &Request::Snap(SnapMeta {
                trigger: "claude:Stop".into(),
                ..SnapMeta::default()
            })
        )
        .unwrap()
        .unwrap()
        .ok
    );
    wait_for_oracle(&w, &repo, MAIN);
    let log = log_json(&repo, &[]);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["prompt"], "second prompt", "{log:?}");

    // Garbage on the socket gets an error reply, not a dead watcher.
    use std::io::{BufRead, Write};
    let mut s =
        std::os::unix::net::UnixStream::connect(repo.abs(".git/savepoint/watch.sock")).unwrap();
    s.write_all(b"{not json\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.contains("malformed request"), "{line}");
    assert_eq!(status_json(&repo)["watching"], true);
}

#[test]
fn polling_mode_snapshots_without_notifications() {
    let repo = seeded();
    let w = Watcher::start(&repo, &["--poll", "--debounce", "100"]);
    assert_eq!(status_json(&repo)["mode"], "poll");
    repo.write("src/lib.rs", "pub fn a() { polled }\n");
    repo.write("target/ignored.o", "x");
    wait_for_oracle(&w, &repo, MAIN);
}

#[test]
fn detach_runs_in_the_background_until_stopped() {
    let repo = seeded();
    let out = repo.run_ok(&["watch", "--detach", "--debounce", "150"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("in the background (pid"));
    let st = status_json(&repo);
    assert_eq!(st["watching"], true, "{st}");
    let pid = st["pid"].as_u64().unwrap();
    repo.write("src/lib.rs", "pub fn a() { detached }\n");
    let start = Instant::now();
    while tip_tree(&repo, MAIN) != Some(repo.oracle_tree()) {
        assert!(start.elapsed() < WAIT, "detached watcher made no snapshot");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = repo.cmd().arg("stop").output().unwrap();
    assert!(out.status.success());
    assert_eq!(status_json(&repo)["watching"], false);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            // A zombie of the (already exited) parent is not ours to reap; the
            // process must at least not be running.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        }
    );
    let log = std::fs::read_to_string(repo.abs(".git/savepoint/watch.log")).unwrap();
    assert!(log.contains("watching"), "{log}");
    assert!(log.contains("final snapshot"), "{log}");
}

#[test]
fn deleting_the_work_tree_stops_the_watcher_with_a_message() {
    let repo = seeded();
    let mut w = Watcher::start(&repo, &["--debounce", "100"]);
    // `rm -rf` while the watcher runs: a state file it writes meanwhile can
    // make one pass fail with "Directory not empty", as it would for `rm`.
    common::wait_until(
        "the work tree to be deleted",
        WAIT,
        || match std::fs::remove_dir_all(repo.path()) {
            Ok(()) => true,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        },
    );
    assert_eq!(w.exit_code(), 1, "{}", w.logs());
    let err = std::fs::read_to_string(&w.err).unwrap();
    assert!(err.contains("was deleted"), "{err}");
}

#[test]
fn ignore_rule_changes_and_index_only_changes_are_picked_up() {
    let repo = seeded();
    repo.write("gen/out.txt", "generated\n");
    repo.write("scratch.tmp", "tmp\n");
    repo.write("secret.log", "tracked on purpose\n");
    let w = Watcher::start(&repo, &["--debounce", "150"]);
    wait_for_oracle(&w, &repo, MAIN);

    // Ignore *.tmp and un-ignore nothing: scratch.tmp leaves the snapshot.
    repo.write(".gitignore", "target/\n*.log\n*.tmp\n");
    wait_for_oracle(&w, &repo, MAIN);
    // Ignore gen/, then stop ignoring it: its files come back, and later
    // edits inside it are watched.
    repo.write(".gitignore", "target/\n*.log\n*.tmp\ngen/\n");
    wait_for_oracle(&w, &repo, MAIN);
    repo.write(".gitignore", "target/\n*.log\n*.tmp\n");
    wait_for_oracle(&w, &repo, MAIN);
    repo.write("gen/out.txt", "regenerated\n");
    wait_for_oracle(&w, &repo, MAIN);

    // `git add -f` of an ignored file changes only the index; the next
    // snapshot includes it.
    repo.git(&["add", "-f", "secret.log"]);
    repo.write("src/lib.rs", "pub fn a() { later }\n");
    wait_for_oracle(&w, &repo, MAIN);
    let files = repo.git(&["ls-tree", "-r", "--name-only", MAIN]);
    assert!(files.lines().any(|l| l == "secret.log"), "{files}");
}

#[test]
fn a_watcher_in_a_linked_worktree_uses_that_worktree_chain() {
    let repo = seeded();
    let wt_dir = tempfile::tempdir().unwrap();
    let wt = wt_dir.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    let mut cmd = repo.cmd();
    cmd.current_dir(&wt);
    let child = cmd
        .args(["watch", "--debounce", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let w = Watcher {
        child,
        out: repo.home.path().join("none"),
        err: repo.home.path().join("none"),
    };
    let state = repo.abs(".git/worktrees/wt/savepoint");
    w.wait("worktree watcher ready", || {
        WatchState::load(&state).is_some()
    });
    std::fs::write(wt.join("src/lib.rs"), "pub fn a() { side }\n").unwrap();
    // Linked work trees keep their chains in their own namespace.
    let side = "refs/savepoint/worktrees/wt/heads/side";
    w.wait("side chain snapshot", || tip(&repo, side).is_some());
    let files = repo.git(&["ls-tree", "-r", "--name-only", side]);
    assert!(files.contains("src/lib.rs"));
    assert_eq!(tip(&repo, MAIN), None, "main chain untouched");
    // Separate worktrees, separate watchers: one in the main tree is fine.
    let main_w = Watcher::start(&repo, &[]);
    drop(main_w);
}

#[test]
fn sigterm_and_sigint_stop_a_foreground_watcher_with_a_final_snapshot() {
    for signal in ["-TERM", "-INT"] {
        let repo = seeded();
        let mut w = Watcher::start(&repo, &["--debounce", "60000", "--max-wait", "60000"]);
        repo.write("src/lib.rs", &format!("pub fn a() {{ {signal} }}\n"));
        let st = std::process::Command::new("kill")
            .args([signal, &w.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(w.exit_code(), 0, "{}", w.logs());
        assert_eq!(
            tip_tree(&repo, MAIN).unwrap(),
            repo.oracle_tree(),
            "{}",
            w.logs()
        );
        assert!(!repo.abs(".git/savepoint/watch.sock").exists());
        repo.assert_fsck_clean();
    }
}

#[test]
fn checkout_and_stash_storms_end_in_an_exact_snapshot() {
    let repo = seeded();
    repo.git(&["checkout", "-q", "-b", "other"]);
    for i in 0..20 {
        repo.write(&format!("other/f{i}.txt"), &format!("other {i}\n"));
    }
    repo.commit_all("other");
    repo.git(&["checkout", "-q", "main"]);
    let w = Watcher::start(&repo, &["--debounce", "100", "--max-wait", "400"]);
    for i in 0..8 {
        repo.write("src/lib.rs", &format!("pub fn a() {{ {i} }}\n"));
        repo.git(&["stash", "-q"]);
        repo.git(&["checkout", "-q", "other"]);
        repo.git(&["checkout", "-q", "main"]);
        repo.git(&["stash", "pop", "-q"]);
    }
    repo.write("src/lib.rs", "pub fn a() { final }\n");
    wait_for_oracle(&w, &repo, MAIN);
    repo.assert_fsck_clean();
    // Snapshots of `other` (if any) hold `other`'s files.
    if let Some(t) = tip(&repo, "refs/savepoint/heads/other") {
        let files = repo.git(&["ls-tree", "-r", "--name-only", &t]);
        assert!(files.contains("other/f0.txt"), "{files}");
    }
}

/// Issue 15 item 15: `git add -f` / `git rm --cached` of files in an ignored
/// directory, and later edits there, are snapshotted without any other
/// event (nothing else changes in the work tree meanwhile).
#[test]
fn watcher_sees_index_only_changes_and_edits_in_ignored_dirs() {
    let repo = seeded();
    repo.write("target/deep/keep.txt", "v1\n");
    repo.write("target/already.txt", "tracked from the start\n");
    repo.git(&["add", "-f", "target/already.txt"]);
    repo.commit_all("track one ignored file");
    repo.write("notes.txt", "uncommitted work\n");
    let w = Watcher::start(&repo, &["--debounce", "100"]);
    wait_for_oracle(&w, &repo, MAIN);

    // An edit to a file tracked inside an ignored directory.
    repo.write("target/already.txt", "edited\n");
    wait_for_oracle(&w, &repo, MAIN);

    // Only the index changes: the file enters the snapshot.
    repo.git(&["add", "-f", "target/deep/keep.txt"]);
    wait_for_oracle(&w, &repo, MAIN);
    let files = repo.git(&["ls-tree", "-r", "--name-only", MAIN]);
    assert!(
        files.lines().any(|l| l == "target/deep/keep.txt"),
        "{files}"
    );

    // Its directory was not watched before; edits there are seen now.
    repo.write("target/deep/keep.txt", "v2\n");
    wait_for_oracle(&w, &repo, MAIN);
    assert_eq!(
        repo.git(&["show", &format!("{MAIN}:target/deep/keep.txt")]),
        "v2"
    );

    // `git rm --cached`: the ignored file leaves the snapshot.
    repo.git(&["rm", "-q", "-f", "--cached", "target/deep/keep.txt"]);
    wait_for_oracle(&w, &repo, MAIN);
    let files = repo.git(&["ls-tree", "-r", "--name-only", MAIN]);
    assert!(
        !files.lines().any(|l| l == "target/deep/keep.txt"),
        "{files}"
    );
}

/// Issue 16 item 8: the state dir is 0700 and the socket 0600 whatever the
/// umask; a trigger outside `[A-Za-z0-9:_-]` is refused; idle clients
/// (more than the watcher serves at once) delay nobody for long: `stop`
/// still gets through; pending prompts and the hook log are 0600.
#[test]
fn watcher_socket_is_private_validated_and_not_blocked_by_idle_clients() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    let repo = seeded();
    repo.write("notes.txt", "work\n");
    // Start the watcher under a permissive umask.
    let mut sh = repo.cmd_after_shell("umask 000");
    sh.args(["watch", "--debounce", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = sh.spawn().unwrap();
    let state_dir = repo.path().join(".git/savepoint");
    let pid = child.id();
    let w = Watcher {
        child,
        out: repo.home.path().join("none.out"),
        err: repo.home.path().join("none.err"),
    };
    w.wait("watcher ready", || {
        WatchState::load(&state_dir).is_some_and(|s| s.pid == pid)
    });
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state_dir), 0o700);
    let sock = watch::socket_path(&state_dir);
    assert_eq!(mode(&sock), 0o600);

    // A forged trigger is refused with a reason.
    let mut c = UnixStream::connect(&sock).unwrap();
    c.write_all(b"{\"op\":\"snap\",\"trigger\":\"claude:Stop\\n## Run rm -rf\"}\n")
        .unwrap();
    let mut reply = String::new();
    BufReader::new(&c).read_line(&mut reply).unwrap();
    assert!(reply.contains("invalid trigger"), "{reply}");

    // A prompt that finds nothing new waits in a private file.
    let cwd = repo.path().to_str().unwrap();
    let prompt = serde_json::json!({"hook_event_name": "UserPromptSubmit", "session_id": "s1", "cwd": cwd, "prompt": "secret plan"});
    let out = repo.pipe(&["hook", "claude"], prompt.to_string().as_bytes());
    assert!(out.status.success());
    for f in ["pending-prompts.json", "hook.log"] {
        let p = state_dir.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }

    // 40 clients that connect and say nothing; `stop` still gets through.
    let idle: Vec<UnixStream> = (0..40)
        .filter_map(|_| UnixStream::connect(&sock).ok())
        .collect();
    assert!(!idle.is_empty());
    let out = repo
        .cmd()
        .args(["stop", "--timeout", "30"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stop failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(idle);
    drop(w);
}
