//! Off-machine copies through a plain git remote (a local bare repository
//! over a file URL), and the finishing touches: completions, man page,
//! `config`, the no-command guide and `git savepoint`.

use crate::common::{self, TestRepo};
use serde_json::Value;

fn bare_remote(repo: &TestRepo) -> tempfile::TempDir {
    let bare = tempfile::tempdir().unwrap();
    repo.git(&["init", "-q", "--bare", bare.path().to_str().unwrap()]);
    let url = format!("file://{}", bare.path().display());
    repo.git(&["remote", "add", "origin", &url]);
    bare
}

fn ls_remote(repo: &TestRepo, pattern: &str) -> String {
    repo.git(&["ls-remote", "origin", pattern])
}

#[test]
fn push_fetch_log_and_restore_across_machines() {
    let a = TestRepo::new();
    a.write("src/lib.rs", "fn a() {}\n");
    a.commit_all("init");
    let bare = bare_remote(&a);
    a.git(&["push", "-q", "origin", "main"]);
    let branches_on_remote = ls_remote(&a, "refs/heads/*");

    a.write("src/lib.rs", "fn a() { wip on machine a }\n");
    a.write("notes.md", "only in the snapshot\n");
    let first = a.snap("manual").id.unwrap();
    let out = a.run_ok(&["push"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("refs/savepoint/heads/main"));
    let remote_tip = ls_remote(&a, "refs/savepoint/heads/main");
    assert!(
        remote_tip.starts_with(&a.rev("refs/savepoint/heads/main")),
        "{remote_tip}"
    );
    assert_eq!(
        ls_remote(&a, "refs/heads/*"),
        branches_on_remote,
        "branches touched"
    );

    // A second push after new snapshots is a fast-forward.
    a.write("notes.md", "more\n");
    a.snap("manual");
    let json: Value = a.json(&["push"]);
    assert_eq!(json[0]["status"], "updated", "{json}");
    assert!(json[0]["detail"].as_str().unwrap().contains(".."), "{json}");

    // Another machine: a fresh clone fetches the chains beside its own.
    let b = TestRepo::new();
    let url = format!("file://{}", bare.path().display());
    std::fs::remove_dir_all(b.abs(".git")).unwrap();
    b.git(&["clone", "-q", "-b", "main", &url, "."]);
    let out = b.run_ok(&["fetch"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("refs/savepoint/remotes/origin/heads/main")
    );
    let log = b.json(&["log", "--all"]);
    let refs: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ref"].as_str().unwrap())
        .collect();
    assert!(
        refs.iter()
            .all(|r| *r == "refs/savepoint/remotes/origin/heads/main"),
        "{refs:?}"
    );
    assert_eq!(refs.len(), 2);
    // Restore from the fetched chain works (by id or by name).
    b.run_ok(&["restore", &first]);
    assert_eq!(
        std::fs::read_to_string(b.abs("notes.md")).unwrap(),
        "only in the snapshot\n"
    );
    b.run_ok(&["restore", "remotes/origin/heads/main", "--", "notes.md"]);
    assert_eq!(
        std::fs::read_to_string(b.abs("notes.md")).unwrap(),
        "more\n"
    );

    // B's own chain diverges from A's: B's push is refused (A's chain is
    // not overwritten), A fetches B's… nothing is lost on either side.
    b.write("src/lib.rs", "fn a() { wip on machine b }\n");
    b.snap("manual");
    let b_local = b.rev("refs/savepoint/heads/main");
    let out = b.cmd().arg("push").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another machine") && err.contains("savepoint fetch"),
        "{err}"
    );
    assert!(
        ls_remote(&a, "refs/savepoint/heads/main").starts_with(&a.rev("refs/savepoint/heads/main"))
    );
    b.run_ok(&["fetch"]);
    assert_eq!(
        b.rev("refs/savepoint/heads/main"),
        b_local,
        "local chain overwritten"
    );
    assert_eq!(
        b.rev("refs/savepoint/remotes/origin/heads/main"),
        a.rev("refs/savepoint/heads/main")
    );
    // --force replaces the remote's copy (A still has its own locally).
    b.run_ok(&["push", "--force"]);
    a.run_ok(&["fetch"]);
    assert_eq!(a.rev("refs/savepoint/remotes/origin/heads/main"), b_local);
    assert_ne!(a.rev("refs/savepoint/heads/main"), b_local);
    a.assert_fsck_clean();
    b.assert_fsck_clean();
}

#[test]
fn remote_errors_are_clear() {
    let repo = TestRepo::new();
    repo.write("a", "a\n");
    repo.commit_all("init");
    repo.write("a", "work\n");
    repo.snap("manual");
    let out = repo.cmd().args(["push", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("remote `nowhere`") && err.contains("git remote add"),
        "{err}"
    );
    // An unreachable remote.
    repo.git(&[
        "remote",
        "add",
        "gone",
        "file:///nonexistent/savepoint-remote",
    ]);
    let out = repo.cmd().args(["fetch", "gone"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: remote `gone`"), "{err}");
    // savepoint.remote picks the default.
    let _bare = bare_remote(&repo);
    repo.git(&["remote", "rename", "origin", "backup"]);
    repo.git(&["config", "savepoint.remote", "backup"]);
    repo.run_ok(&["push"]);
    assert!(!repo
        .git(&["ls-remote", "backup", "refs/savepoint/*"])
        .is_empty());
}

#[test]
fn completions_man_config_and_the_guide() {
    let repo = TestRepo::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = repo.run_ok(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("savepoint") && text.contains("restore"),
            "{shell}"
        );
    }
    let out = repo.run_ok(&["man"]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH savepoint") && page.contains("savepoint-restore"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    repo.run_ok(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(dir.path().join("savepoint.1").exists());
    assert!(dir.path().join("savepoint-watch.1").exists());

    // config: effective values and their origins; invalid ones name the key.
    repo.git(&["config", "savepoint.debounce", "250"]);
    let v: Value = repo.json(&["config"]);
    let find = |k: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(find("savepoint.debounce")["value"], "250");
    assert_eq!(find("savepoint.debounce")["source"], "local");
    assert_eq!(find("savepoint.maxWait")["source"], "default");
    repo.git(&["config", "savepoint.maxWait", "never"]);
    let out = repo.cmd().arg("config").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("savepoint.maxWait"));
    repo.git(&["config", "--unset", "savepoint.maxWait"]);

    // No command: the guide, with the next steps.
    let out = repo.run_ok(&[]);
    let guide = String::from_utf8_lossy(&out.stdout);
    assert!(
        guide.contains("watcher:") && guide.contains("savepoint watch --detach"),
        "{guide}"
    );
    let outside = tempfile::tempdir().unwrap();
    let mut cmd = repo.cmd();
    cmd.current_dir(outside.path());
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Not in a git work tree"));

    // Every command's --help has examples.
    for sub in [
        "snap",
        "log",
        "show",
        "diff",
        "restore",
        "recover",
        "squash",
        "prune",
        "watch",
        "status",
        "stop",
        "hooks",
        "handoff",
        "push",
        "fetch",
        "config",
        "completions",
        "man",
    ] {
        let out = repo.run_ok(&[sub, "--help"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Examples:"),
            "{sub}"
        );
    }
}

#[test]
fn git_savepoint_runs_savepoint() {
    let repo = TestRepo::new();
    repo.write("a", "a\n");
    repo.commit_all("init");
    let bin = assert_cmd::cargo::cargo_bin("savepoint");
    let dir = bin.parent().unwrap();
    assert!(dir.join("git-savepoint").exists(), "git-savepoint is built");
    let out = std::process::Command::new("git")
        .args(["savepoint", "status", "--json"])
        .current_dir(repo.path())
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", dir.display()),
        )
        .env("HOME", repo.home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["watching"], false);
}

#[test]
fn the_watcher_pushes_every_push_interval() {
    let repo = TestRepo::new();
    repo.write("a", "a\n");
    repo.commit_all("init");
    let _bare = bare_remote(&repo);
    repo.git(&["config", "savepoint.pushInterval", "1s"]);
    let mut watcher = repo.spawn_watcher(&["--debounce", "100"]);
    repo.write("a", "changed while watching\n");
    let start = std::time::Instant::now();
    loop {
        let local = repo
            .git_output(
                &["rev-parse", "-q", "--verify", "refs/savepoint/heads/main"],
                None,
            )
            .stdout;
        let local = String::from_utf8_lossy(&local).trim().to_owned();
        let remote = ls_remote(&repo, "refs/savepoint/heads/main");
        if !local.is_empty() && remote.starts_with(&local) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the watcher did not push (local {local:?}, remote {remote:?})"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
}

/// Issue 16 item 4: a remote that begins with `-` (from the command line
/// or `savepoint.remote`) is refused — it would be read as
/// `--upload-pack=<command>` — and `ext::` transports never run, even when
/// the user's configuration allows them.
#[test]
fn remote_option_injection_and_ext_transport_are_refused() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.snap("manual");
    let pwned = repo.home.path().join("pwned");
    let payload = format!("--upload-pack=touch {}", pwned.display());
    for cmd in ["push", "fetch"] {
        let out = repo.cmd().args([cmd, "--", &payload]).output().unwrap();
        assert!(!out.status.success(), "{cmd} accepted {payload}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("start with `-`"), "{err}");
    }
    repo.git(&[
        "config",
        "savepoint.remote",
        &payload.replace("upload", "receive"),
    ]);
    let out = repo.cmd().arg("push").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("savepoint.remote"),
        "{err}"
    );
    repo.git(&["config", "--unset", "savepoint.remote"]);

    repo.git(&["config", "protocol.ext.allow", "always"]);
    let ext = format!("ext::sh -c touch% {}", pwned.display());
    for cmd in ["push", "fetch"] {
        let out = repo.cmd().args([cmd, &ext]).output().unwrap();
        assert!(!out.status.success(), "{cmd} via ext:: succeeded");
    }
    assert!(!pwned.exists(), "a command ran through the remote");
}

/// Issue 16 item 13: `fetch` takes a URL or a path, like git; the chains
/// land under a name made from it.
#[test]
fn fetch_from_a_url_or_a_path() {
    let a = TestRepo::new();
    a.write("src/lib.rs", "fn a() {}\n");
    a.commit_all("init");
    let bare = bare_remote(&a);
    a.git(&["push", "-q", "origin", "main"]);
    a.write("src/lib.rs", "fn a() { wip }\n");
    a.snap("manual");
    a.run_ok(&["push"]);
    let tip = a.rev("refs/savepoint/heads/main");

    let b = TestRepo::new();
    let path = bare.path().to_str().unwrap().to_owned();
    for remote in [path.clone(), format!("file://{path}")] {
        let out = b.run_ok(&["fetch", &remote]);
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        let refs = b.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/savepoint/remotes/",
        ]);
        let line = refs
            .lines()
            .find(|l| l.ends_with(&tip) && l.contains("/heads/main "))
            .unwrap_or_else(|| panic!("no fetched chain for {remote}: {refs}\n{listed}"));
        let name = line.split('/').nth(3).unwrap();
        let (base, hash) = name.rsplit_once('-').unwrap();
        assert!(
            !base.is_empty() && hash.len() == 8 && hash.bytes().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
    }
    // The path and the file URL are two names: two namespaces.
    let refs = b.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/savepoint/remotes/",
    ]);
    assert_eq!(refs.lines().count(), 2, "{refs}");
}

const CHAIN: &str = "refs/savepoint/heads/main";

/// Append a snapshot taken at `time` (Unix seconds) to the chain (HEAD's
/// tree), the ref moved with a reflog entry, as savepoint moves it: the
/// history an old chain has, which `prune` thins.
fn old_snapshot(repo: &TestRepo, time: i64, n: usize) -> String {
    let r = git2::Repository::open(repo.path()).unwrap();
    let head = r.head().unwrap().peel_to_commit().unwrap();
    let tip = r.refname_to_id(CHAIN).ok();
    let parents: Vec<git2::Commit<'_>> =
        savepoint::snapshot::chain::parents_for(&r, tip, Some(head.id()))
            .unwrap()
            .iter()
            .map(|p| r.find_commit(*p).unwrap())
            .collect();
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let when = git2::Time::new(time, 0);
    let sig = git2::Signature::new("Test", "test@example.com", &when).unwrap();
    let msg = savepoint::snapshot::trailers::format_message(
        &format!("savepoint: watch: old {n}"),
        None,
        &savepoint::snapshot::trailers::Trailers {
            trigger: "watch".into(),
            base: head.id().to_string(),
            ..Default::default()
        },
    );
    let oid = r
        .commit(None, &sig, &sig, &msg, &head.tree().unwrap(), &parents)
        .unwrap()
        .to_string();
    repo.git(&["update-ref", "--create-reflog", "-m", "test", CHAIN, &oid]);
    oid
}

fn is_ancestor(repo: &TestRepo, a: &str, b: &str) -> bool {
    repo.git_output(&["merge-base", "--is-ancestor", a, b], None)
        .status
        .success()
}

const DAY: i64 = 86_400;

/// Noon (UTC) ten days ago: snapshots a few minutes around it share a day,
/// of which `prune` keeps only the newest.
fn ten_days_ago_noon() -> i64 {
    (chrono::Utc::now().timestamp() - 10 * DAY).div_euclid(DAY) * DAY + DAY / 2
}

/// Issue 18 item 5: the watcher prunes (daily) and pushes (every
/// `savepoint.pushInterval`); the pruned chain no longer fast-forwards the
/// copy it pushed before, and that copy is ours — it is replaced, with a
/// lease on the tip pushed.
#[test]
fn the_watcher_pushes_its_pruned_chain_over_the_copy_it_pushed() {
    let repo = TestRepo::new();
    repo.write("a", "a\n");
    repo.commit_all("init");
    let _bare = bare_remote(&repo);
    // A week-old day of work: three snapshots, of which prune keeps one.
    let noon = ten_days_ago_noon();
    let dropped = old_snapshot(&repo, noon - 600, 1);
    old_snapshot(&repo, noon - 300, 2);
    let pushed = old_snapshot(&repo, noon, 3);
    let out = repo.json(&["push"]);
    assert_eq!(out[0]["status"], "new", "{out}");

    repo.git(&["config", "savepoint.pushInterval", "1s"]);
    let _watcher = common::DetachedWatcher::start(&repo);
    // A change: the watcher snapshots it, prunes the chain, pushes.
    repo.write("a", "changed while watching\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let local = loop {
        let local = repo.rev(CHAIN);
        let remote = ls_remote(&repo, CHAIN);
        let pruned = !is_ancestor(&repo, &dropped, &local);
        if pruned && remote.starts_with(&local) {
            break local;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher's push did not replace the pushed chain (local {local}, remote {remote:?}, pruned: {pruned}): {}",
            std::fs::read_to_string(repo.abs(".git/savepoint/watch.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        !is_ancestor(&repo, &pushed, &local),
        "the chain was rewritten"
    );
    let again = repo.json(&["push"]);
    assert_eq!(again[0]["status"], "up to date", "{again}");
    repo.assert_fsck_clean();
}

/// Issue 18 item 5: `prune` then `push` by hand, with the watcher running.
/// Our own pushed chain is replaced (also when the pushed tip was not
/// recorded, e.g. pushed by an older savepoint: our reflog knows it); a
/// chain another machine pushed meanwhile is still refused.
#[test]
fn push_after_prune_replaces_our_chain_but_never_another_machines() {
    let a = TestRepo::new();
    a.write("a", "a\n");
    a.commit_all("init");
    let bare = bare_remote(&a);
    let noon = ten_days_ago_noon();
    old_snapshot(&a, noon - 300, 1);
    let first = old_snapshot(&a, noon, 2);
    a.run_ok(&["push"]);
    let _watcher = common::DetachedWatcher::start(&a);
    // Pushed before savepoint remembered pushed tips.
    let _ = std::fs::remove_file(a.abs(".git/savepoint/pushed.json"));
    a.run_ok(&["prune"]);
    assert!(!is_ancestor(&a, &first, CHAIN), "prune rewrote the chain");
    let out = a.json(&["push"]);
    assert_eq!(out[0]["status"], "rewritten", "{out}");
    assert!(ls_remote(&a, CHAIN).starts_with(&a.rev(CHAIN)));

    // Machine B replaces the remote's copy with its own chain.
    let b = TestRepo::new();
    b.write("b", "b\n");
    b.snap("manual");
    let url = format!("file://{}", bare.path().display());
    b.git(&["remote", "add", "origin", &url]);
    b.run_ok(&["push", "--force"]);
    let theirs = b.rev(CHAIN);
    // A prunes again (one more old snapshot of the same day) and pushes.
    old_snapshot(&a, noon + 60, 3);
    a.run_ok(&["prune"]);
    let out = a.cmd().arg("push").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another machine") && err.contains("savepoint fetch"),
        "{err}"
    );
    assert!(
        ls_remote(&a, CHAIN).starts_with(&theirs),
        "another machine's chain was overwritten"
    );
}
