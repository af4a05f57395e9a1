//! End-to-end tests of `snap`, `log`, `show` and `diff` through the binary:
//! output contracts (JSON fields, exit codes, error lines) and the promise
//! that the user's index, HEAD and branches are never touched. (The chain's
//! shape is recorded by the library: record.rs.)

use crate::common::{self, TestRepo};
use assert_cmd::assert::OutputAssertExt;
use predicates::prelude::*;
use serde_json::Value;

fn snap_json(repo: &TestRepo) -> Value {
    repo.json(&["snap"])
}

fn parents(repo: &TestRepo, rev: &str) -> Vec<String> {
    let line = repo.git(&["rev-list", "--parents", "-n", "1", rev]);
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

/// A repository with history, a staged change, an unstaged change and an
/// untracked file: the index differs from HEAD and from the work tree.
fn busy_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("README", "hello\n");
    repo.commit_all("init");
    repo.write("src/lib.rs", "fn a() { staged }\n");
    repo.git(&["add", "src/lib.rs"]);
    repo.write("src/lib.rs", "fn a() { unstaged }\n");
    repo.write("notes.txt", "untracked\n");
    repo
}

#[test]
fn snap_json_has_the_contract_fields_and_no_change_creates_nothing() {
    let repo = busy_repo();
    let first = snap_json(&repo);
    for key in ["id", "ref", "created", "trigger", "tree"] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["created"], true);
    assert_eq!(first["ref"], "refs/savepoint/heads/main");
    assert_eq!(first["trigger"], "manual");
    assert_eq!(first["id"].as_str().unwrap().len(), 12);
    assert_eq!(first["tree"], repo.oracle_tree());

    let second = snap_json(&repo);
    assert_eq!(second["created"], false);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/savepoint/heads/main", "^HEAD"]),
        "1"
    );
    repo.cmd()
        .arg("snap")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "nothing to snapshot: the work tree matches",
        ));

    // Empty unborn repo: nothing to snapshot.
    let empty = TestRepo::new();
    empty
        .cmd()
        .arg("snap")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to snapshot"));
}

#[test]
fn user_index_head_and_branches_are_byte_identical_after_every_command() {
    let repo = busy_repo();
    let before = repo.user_state();
    repo.cmd().arg("snap").assert().success();
    repo.write("more.txt", "x\n");
    repo.cmd().args(["snap", "-m", "second"]).assert().success();
    repo.cmd().arg("log").assert().success();
    repo.cmd()
        .args(["log", "--all", "--json"])
        .assert()
        .success();
    repo.cmd().args(["show", "@"]).assert().success();
    repo.cmd()
        .args(["show", "@~1", "--stat"])
        .assert()
        .success();
    repo.cmd().arg("diff").assert().success();
    repo.cmd().args(["diff", "@~1", "@"]).assert().success();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["handoff"],
        &["prune", "--dry-run"],
        &["prune"],
        &["recover", "--dry-run"],
        &["restore", "@", "--dry-run"],
        &["hooks", "status"],
        &["stop"],
    ] {
        repo.cmd().args(args).assert().success();
    }
    repo.remove("more.txt");
    assert_eq!(repo.user_state(), before);
    repo.assert_fsck_clean();
}

#[test]
fn log_lists_newest_first_with_json_fields() {
    let repo = TestRepo::new();
    repo.write("a", "1\n");
    repo.commit_all("base");
    for i in 2..5 {
        repo.write("a", &format!("{i}\n"));
        repo.cmd()
            .args(["snap", "-m", &format!("step {i}")])
            .assert()
            .success();
    }
    let out = repo
        .cmd()
        .args(["log", "--json", "-n", "2"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    for key in [
        "id", "ref", "time", "trigger", "base", "session", "tool", "prompt", "message", "files",
    ] {
        assert!(arr[0].get(key).is_some(), "missing {key}");
    }
    assert!(arr[0]["message"].as_str().unwrap().contains("step 4"));
    assert_eq!(arr[0]["files"], serde_json::json!(["a"]));
    chrono::DateTime::parse_from_rfc3339(arr[0]["time"].as_str().unwrap()).unwrap();

    repo.cmd()
        .arg("log")
        .assert()
        .success()
        .stdout(predicate::str::contains("manual").and(predicate::str::contains("step 3")));

    // --all includes other chains.
    repo.git(&["checkout", "-q", "-b", "feat/x"]);
    repo.write("b", "x\n");
    repo.cmd().arg("snap").assert().success();
    repo.cmd().args(["log", "--all"]).assert().success().stdout(
        predicate::str::contains("heads/feat/x").and(predicate::str::contains("heads/main")),
    );
}

#[test]
fn show_and_diff_resolve_shorthands() {
    let repo = TestRepo::new();
    repo.write("a.txt", "one\n");
    repo.cmd().arg("snap").assert().success();
    repo.write("a.txt", "two\n");
    repo.cmd().arg("snap").assert().success();
    repo.write("a.txt", "three\n");

    repo.cmd()
        .args(["show", "@"])
        .assert()
        .success()
        .stdout(predicate::str::contains("-one").and(predicate::str::contains("+two")));
    repo.cmd()
        .args(["diff"])
        .assert()
        .success()
        .stdout(predicate::str::contains("-two").and(predicate::str::contains("+three")));
    repo.cmd()
        .args(["diff", "@~1", "@"])
        .assert()
        .success()
        .stdout(predicate::str::contains("-one").and(predicate::str::contains("+two")));
    // Older than the chain: the state it began from (no files here, an
    // unborn branch), said on stderr (issue 18 item 4).
    repo.cmd()
        .args(["show", "@{1 minute ago}"])
        .assert()
        .success()
        .stderr(predicate::str::contains("before the first snapshot"));
    repo.cmd().args(["show", "@{now}"]).assert().success();
    repo.cmd()
        .args(["show", "@~5"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("has only 2 snapshot"));
}

#[test]
fn bad_input_gives_one_clear_error_line() {
    let outside = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    repo.cmd()
        .args(["-C", outside.path().to_str().unwrap(), "snap"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with("error: not a git repository")
                .and(predicate::str::contains("hint: ")),
        );

    let bare = tempfile::tempdir().unwrap();
    repo.git(&["init", "-q", "--bare", bare.path().to_str().unwrap()]);
    repo.cmd()
        .args(["-C", bare.path().to_str().unwrap(), "snap"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bare repository"));

    repo.cmd().args(["snap", "--bogus"]).assert().code(2);
    repo.cmd()
        .args(["show", "no-such-thing"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot resolve snapshot `no-such-thing`",
        ));
    repo.cmd()
        .args(["show"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no snapshots yet"));

    repo.git(&["config", "savepoint.maxFileSize", "lots"]);
    repo.cmd()
        .arg("snap")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("savepoint.maxFileSize"));
}

#[test]
fn large_untracked_files_are_skipped_and_named_in_a_trailer() {
    let repo = TestRepo::new();
    repo.git(&["config", "savepoint.maxFileSize", "1k"]);
    repo.write("small.txt", "ok\n");
    repo.write("big.bin", &"x".repeat(4096));
    let out = repo.cmd().args(["snap", "--json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("big.bin"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["skipped"][0].as_str().unwrap().starts_with("big.bin"));
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/savepoint/heads/main"]);
    assert!(msg.contains("Savepoint-Skipped: big.bin"), "{msg}");
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/savepoint/heads/main"]);
    assert_eq!(files, "small.txt");

    // A tracked file is never skipped, whatever its size.
    repo.git(&["config", "savepoint.maxFileSize", "50m"]);
    repo.commit_all("track big");
    repo.git(&["config", "savepoint.maxFileSize", "1k"]);
    repo.write("big.bin", &"y".repeat(4096));
    repo.cmd().arg("snap").assert().success();
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/savepoint/heads/main"]);
    assert!(files.contains("big.bin"));
}

#[test]
fn author_falls_back_when_git_has_no_identity() {
    let repo = TestRepo::new();
    repo.git(&["config", "--unset", "user.name"]);
    repo.git(&["config", "--unset", "user.email"]);
    repo.write("a", "1\n");
    repo.cmd().arg("snap").assert().success();
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%an <%ae>",
            "refs/savepoint/heads/main"
        ]),
        "savepoint <savepoint@localhost>"
    );
}

#[test]
fn no_color_and_broken_pipe_are_respected() {
    let repo = TestRepo::new();
    for i in 0..30 {
        repo.write("a", &i.to_string());
        repo.cmd().arg("snap").assert().success();
    }
    repo.cmd()
        .args(["log", "--color", "always"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\x1b["));
    repo.cmd()
        .arg("log")
        .assert()
        .success()
        .stdout(predicate::str::contains("\x1b[").not());
    // `savepoint log | head -1`: a closed pipe is not an error.
    let mut child = repo
        .cmd()
        .args(["log", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn parallel_snaps_serialize_and_lose_nothing() {
    let repo = TestRepo::new();
    repo.write("base", "0\n");
    repo.commit_all("base");
    let children: Vec<_> = (0..8)
        .map(|i| {
            repo.write(&format!("file{i}"), &format!("{i}\n"));
            repo.cmd()
                .args(["snap", "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        if v["created"] == true {
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(!ids.is_empty());
    // Every created snapshot is on the (linear) chain.
    let chain = repo.git(&[
        "rev-list",
        "--first-parent",
        "refs/savepoint/heads/main",
        "^HEAD",
    ]);
    for id in &ids {
        assert!(
            chain.lines().any(|l| l.starts_with(id.as_str())),
            "{id} lost from {chain}"
        );
    }
    assert_eq!(chain.lines().count(), ids.len());
    // The last one holds every file.
    let files = repo.git(&["ls-tree", "--name-only", "refs/savepoint/heads/main"]);
    assert_eq!(files.lines().filter(|l| l.starts_with("file")).count(), 8);
    repo.assert_fsck_clean();
}

/// Issue 15 item 18: `diff` and `show` emit the patch bytes as git does, so
/// content that is not UTF-8 survives and the patch applies with git.
#[test]
fn patches_are_byte_exact_and_apply_with_git() {
    let repo = TestRepo::new();
    repo.write_bytes(b"latin1.txt", b"caf\xe9\nsecond line\n");
    repo.write_bytes(b"caf\xe9-name.txt", b"x\n");
    repo.commit_all("base");
    repo.write_bytes(
        b"latin1.txt",
        b"caf\xe9 cr\xe8me\nsecond line\n\xff\xfe end\n",
    );
    repo.write_bytes(b"caf\xe9-name.txt", b"y \xe9\n");
    repo.run_ok(&["snap"]);
    let patch = repo.run_ok(&["diff", "HEAD", "@"]).stdout;
    assert!(
        patch.windows(3).all(|w| w != "\u{fffd}".as_bytes()),
        "replacement characters in the patch"
    );
    let show = repo.run_ok(&["show", "@"]).stdout;
    for (name, p) in [("diff", patch), ("show", show)] {
        let file = repo.home.path().join(format!("{name}.patch"));
        std::fs::write(&file, &p).unwrap();
        // The work tree is the new side: the patch must apply in reverse.
        let out = repo.git_output(&["apply", "-R", "--check", file.to_str().unwrap()], None);
        assert!(
            out.status.success(),
            "`savepoint {name}` output does not apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

use crate::common::wait_recorded;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 18 item 3: with the watcher running every change is already
/// recorded, so `snap -m` finds an unchanged tree — the label is recorded
/// anyway, `log` shows it and `@{/<text>}` names it.
#[test]
fn a_label_typed_with_snap_m_is_recorded_and_named_with_a_watcher_running() {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.commit_all("base");
    let _watcher = common::DetachedWatcher::start(&repo);
    repo.write("src/lib.rs", "fn a() { before the refactor }\n");
    let recorded = wait_recorded(&repo, "the work tree");

    let label = "before letting the agent refactor";
    let out = repo.json(&["snap", "-m", label]);
    for key in ["id", "ref", "created", "trigger", "tree"] {
        assert!(out.get(key).is_some(), "missing {key} in {out}");
    }
    assert_eq!(out["created"], true, "the label was dropped: {out}");
    assert_eq!(out["trigger"], "manual");
    assert_eq!(
        out["tree"],
        repo.tree_of(&recorded),
        "a label only: same tree"
    );
    let labelled = repo.rev("refs/savepoint/heads/main");
    assert!(labelled.starts_with(out["id"].as_str().unwrap()));
    assert_eq!(parents(&repo, &labelled), vec![recorded.clone()]);

    // `log` shows it; `log --json` has it in "message".
    assert!(stdout(&repo.run_ok(&["log"])).contains(label));
    let log = repo.json(&["log"]);
    assert!(log[0]["message"].as_str().unwrap().contains(label), "{log}");

    // The agent goes on; the label still names the restore point.
    repo.write("src/lib.rs", "fn a() { refactored }\n");
    wait_recorded(&repo, "the work tree");
    let show = stdout(&repo.run_ok(&["show", "@{/before letting}"]));
    assert!(show.contains(&labelled), "{show}");
    let diff = stdout(&repo.run_ok(&["diff", "@{/before letting}", "--", "src/"]));
    assert!(
        diff.contains("-fn a() { before the refactor }") && diff.contains("+fn a() { refactored }"),
        "{diff}"
    );
    // Smart case: upper case in the text makes it case-sensitive.
    let out = repo
        .cmd()
        .args(["show", "@{/Before letting}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no snapshot") && err.contains("savepoint log"),
        "{err}"
    );

    // Without a label an unchanged tree still records nothing.
    wait_recorded(&repo, "the work tree");
    let out = repo.json(&["snap"]);
    assert_eq!(out["created"], false, "{out}");
}

/// Issue 18 item 6 (and item 7's papercuts in these commands): `diff`,
/// `show` and `log` take paths like git — relative to the current
/// directory, after `--` or alone when they exist — with the watcher
/// recording in the background.
#[test]
fn diff_show_and_log_take_paths_like_git_with_a_watcher_running() {
    let repo = TestRepo::new();
    repo.write("src/a.rs", "a\n");
    repo.write("src/b.rs", "b\n");
    repo.write("docs/guide.md", "guide\n");
    repo.commit_all("base");
    let _watcher = common::DetachedWatcher::start(&repo);
    // An empty chain with a watcher running: no advice to start one.
    let log = stdout(&repo.run_ok(&["log"]));
    assert!(
        log.contains("no snapshots") && log.contains("the watcher (pid"),
        "{log}"
    );

    repo.write("src/a.rs", "a changed\n");
    let touched_a = wait_recorded(&repo, "the work tree");
    repo.write("docs/guide.md", "guide changed\n");
    let touched_docs = wait_recorded(&repo, "the work tree");
    repo.remove("src/b.rs");
    let deleted_b = wait_recorded(&repo, "the work tree");

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let short = |id: &str| id[..12].to_owned();
    let all = repo.json(&["log"]);
    let touching = |prefix: &str| -> Vec<String> {
        all.as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f.as_str().unwrap().starts_with(prefix))
            })
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // `log -- src/` lists exactly the snapshots that touched src/.
    let json = |args: &[&str]| -> Value {
        serde_json::from_slice(&repo.run_ok(args).stdout).expect("JSON output")
    };
    let src = ids(&json(&["log", "--json", "--", "src/"]));
    assert_eq!(src, touching("src/"));
    assert!(src.contains(&short(&touched_a)) && src.contains(&short(&deleted_b)));
    assert!(!src.contains(&short(&touched_docs)), "{src:?}");
    // An existing path needs no `--`; `-n` counts matching snapshots.
    assert_eq!(ids(&repo.json(&["log", "docs"])), touching("docs/"));
    assert_eq!(
        ids(&json(&["log", "--json", "-n", "1", "--", "src"])),
        src[..1]
    );
    // Relative to the current directory, like git.
    let in_src = |args: &[&str]| {
        let out = repo
            .cmd()
            .current_dir(repo.abs("src"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    let a_only = in_src(&["log", "--json", "--", "a.rs"]);
    assert!(a_only.contains(&short(&touched_a)) && !a_only.contains(&short(&deleted_b)));
    // The summary marks the deletion.
    let text = stdout(&repo.run_ok(&["log"]));
    let line = text
        .lines()
        .find(|l| l.starts_with(&short(&deleted_b)))
        .unwrap();
    assert!(
        line.contains("deleted") && line.contains("src/b.rs"),
        "{line}"
    );

    // diff: base → work tree, limited to paths.
    let diff = stdout(&repo.run_ok(&["diff", "HEAD", "--", "src/"]));
    assert!(diff.contains("+a changed") && diff.contains("-b"), "{diff}");
    assert!(!diff.contains("guide"), "{diff}");
    let diff = in_src(&["diff", "HEAD", "a.rs"]);
    assert!(
        diff.contains("+a changed") && !diff.contains("b.rs"),
        "{diff}"
    );
    let stat = stdout(&repo.run_ok(&["diff", "HEAD", "--stat", "--", "docs"]));
    assert!(
        stat.contains("docs/guide.md") && !stat.contains("src/"),
        "{stat}"
    );
    // Everything is recorded: nothing to show, said in words.
    assert_eq!(stdout(&repo.run_ok(&["diff", "--", "src/"])), "");
    let stat = stdout(&repo.run_ok(&["diff", "--stat"]));
    assert_eq!(stat.trim(), "no changes", "{stat}");
    // show: the metadata, and the patch under those paths only.
    let show = stdout(&repo.run_ok(&["show", &touched_docs, "--", "src/"]));
    assert!(
        show.contains(&touched_docs) && !show.contains("diff --git"),
        "{show}"
    );
    let show = stdout(&repo.run_ok(&["show", &touched_docs, "--", "docs/"]));
    assert!(show.contains("+guide changed"), "{show}");

    // Paths outside the work tree, and names that are neither: clear errors.
    let outside = repo
        .cmd()
        .args(["diff", "--", "../elsewhere"])
        .output()
        .unwrap();
    assert_eq!(outside.status.code(), Some(1));
    let err = String::from_utf8_lossy(&outside.stderr);
    assert!(err.contains("outside the work tree"), "{err}");
    let neither = repo.cmd().args(["diff", "no-such"]).output().unwrap();
    assert_eq!(neither.status.code(), Some(1));
    let err = String::from_utf8_lossy(&neither.stderr);
    assert!(
        err.starts_with("error: cannot resolve snapshot `no-such`") && err.contains("--"),
        "{err}"
    );
}

/// Issue 18 item 7: `-C` must name a directory, as with `git -C`: a file
/// or a missing path is said as such (not "not a git repository").
#[test]
fn dash_c_names_a_directory_or_says_what_is_wrong() {
    let repo = TestRepo::new();
    repo.write("file.txt", "x\n");
    for (dir, want) in [
        (repo.abs("file.txt"), "Not a directory"),
        (repo.abs("missing"), "No such file or directory"),
    ] {
        let out = repo.cmd().arg("-C").arg(&dir).arg("log").output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot change to") && err.contains(want),
            "{err}"
        );
    }
}

/// Issue 18: the README's Quick start, in order, with the watcher running
/// as it recommends — every command succeeds and does what its comment
/// says (`recover` with `--yes`: there is no terminal to ask on).
#[test]
fn the_quick_start_works_as_written_with_a_watcher() {
    let repo = TestRepo::new();
    repo.write("src/a.rs", "fn a() {}\n");
    repo.write("src/b.rs", "fn b() {}\n");
    repo.commit_all("init");
    // Index, HEAD and branches (the work tree's status changes, of course).
    let user_state = || {
        let mut s = repo.user_state();
        s.status = String::new();
        s
    };
    let user = user_state();
    let committed_a = "fn a() {}\n";
    // As the Quick start runs it: the default debounce (1 s), so the loss
    // below (`git checkout`, then `rm`) is one change to the watcher — a
    // snapshot between the two would be a loss of its own.
    let _watcher = common::DetachedWatcher::start_with(&repo, &[]);
    repo.run_ok(&["hooks", "install", "--claude"]);
    let out = repo.run_ok(&["snap", "-m", "before letting the agent refactor"]);
    assert!(stdout(&out).contains("before letting"), "{}", stdout(&out));
    // ... the agent works ...
    repo.write("src/a.rs", "fn a() { refactored }\n");
    repo.write("src/c.rs", "fn c() {}\n");
    wait_recorded(&repo, "the work tree");
    repo.write("src/b.rs", "fn b() { refactored }\n");
    wait_recorded(&repo, "the work tree");
    assert!(stdout(&repo.run_ok(&["log"])).contains("before letting the agent refactor"));
    repo.run_ok(&["diff"]);
    let out = repo.run_ok(&["diff", "@{1h}"]);
    assert!(stdout(&out).contains("src/c.rs"), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("began"));
    repo.run_ok(&["show", "@~2"]);
    assert_eq!(user_state(), user, "index, HEAD and branches untouched");
    // ... things go wrong (git's checkout rewrites the index's stat data) ...
    repo.git(&["checkout", "--", "."]);
    repo.remove("src/c.rs");
    let user = user_state();
    repo.run_ok(&["recover", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/a.rs")).unwrap(),
        "fn a() { refactored }\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/c.rs")).unwrap(),
        "fn c() {}\n"
    );
    wait_recorded(&repo, "the work tree");
    repo.run_ok(&["restore", "@{1h}", "--", "src/"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/a.rs")).unwrap(),
        committed_a
    );
    assert!(!repo.abs("src/c.rs").exists(), "src/ as the chain began");
    wait_recorded(&repo, "the work tree");
    repo.run_ok(&["undo", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/a.rs")).unwrap(),
        "fn a() { refactored }\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/c.rs")).unwrap(),
        "fn c() {}\n"
    );
    repo.run_ok(&["stop"]);
    assert_eq!(user_state(), user, "index, HEAD and branches untouched");
}
