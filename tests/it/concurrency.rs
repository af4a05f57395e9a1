//! Everything at once: parallel `snap` processes, a running watcher, agent
//! hooks and a user running `git commit` / `git checkout` / `git stash` in
//! a loop. No snapshot is lost (every id `snap --json` reported as created
//! is reachable from its ref), the user's git never trips over a lock of
//! ours, nothing deadlocks, and the repository stays fsck-clean.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::TestRepo;
use serde_json::Value;

#[test]
fn snaps_watcher_hooks_and_user_git_in_parallel() {
    let repo = Arc::new(TestRepo::new());
    for i in 0..100 {
        repo.write(&format!("src/f{i}.txt"), &format!("{i}\n"));
    }
    repo.commit_all("init");
    let mut watcher = repo.spawn_watcher(&["--debounce", "30", "--max-wait", "200"]);

    let started = Instant::now();
    let mut threads = Vec::new();
    for t in 0..3 {
        let repo = Arc::clone(&repo);
        threads.push(std::thread::spawn(move || {
            let mut created = Vec::new();
            for i in 0..8 {
                repo.write(&format!("snap{t}/f{i}.txt"), &format!("{t} {i}\n"));
                let out = repo.cmd().args(["snap", "--json"]).output().unwrap();
                assert!(
                    out.status.success(),
                    "snap failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                if v["created"] == true {
                    created.push((
                        v["id"].as_str().unwrap().to_owned(),
                        v["ref"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            created
        }));
    }
    let hooks = {
        let repo = Arc::clone(&repo);
        std::thread::spawn(move || {
            for i in 0..10 {
                repo.write(&format!("agent/f{i}.txt"), &format!("{i}\n"));
                let payload = format!(
                    r#"{{"hook_event_name":"PostToolUse","session_id":"s","cwd":"{}","tool_name":"Write","tool_input":{{"file_path":"agent/f{i}.txt"}}}}"#,
                    repo.path().display()
                );
                let mut child = repo
                    .cmd()
                    .args(["hook", "claude"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(payload.as_bytes())
                    .unwrap();
                assert!(child.wait().unwrap().success());
            }
        })
    };
    let user = {
        let repo = Arc::clone(&repo);
        std::thread::spawn(move || {
            for i in 0..6 {
                repo.write(&format!("src/f{i}.txt"), &format!("user {i}\n"));
                for args in [
                    vec!["add", "-A"],
                    vec!["commit", "-q", "-m", "user work"],
                    vec!["checkout", "-q", "-b", &format!("side{i}")],
                    vec!["checkout", "-q", "main"],
                ] {
                    let out = repo.git_output(&args, None);
                    assert!(
                        out.status.success(),
                        "git {args:?} failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                repo.write(&format!("src/f{i}.txt"), &format!("stash me {i}\n"));
                for args in [vec!["stash", "-q"], vec!["stash", "pop", "-q"]] {
                    let out = repo.git_output(&args, None);
                    assert!(
                        out.status.success(),
                        "git {args:?} failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        })
    };
    let mut created = Vec::new();
    for t in threads {
        created.extend(t.join().expect("snap thread"));
    }
    hooks.join().expect("hook thread");
    user.join().expect("user thread");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "too slow: deadlock?"
    );

    assert!(!created.is_empty());
    for (id, refname) in &created {
        let out = repo.git_output(&["merge-base", "--is-ancestor", id, refname], None);
        assert!(out.status.success(), "snapshot {id} lost from {refname}");
    }
    let out = repo.cmd().arg("stop").output().unwrap();
    assert!(out.status.success());
    let _ = watcher.wait();
    repo.assert_fsck_clean();
    repo.run_ok(&["snap"]);
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
}

/// A `<ref>.lock` on a shadow ref that another process holds (git's
/// `pack-refs` during `gc --auto` locks the loose refs it packs) is waited
/// for and never deleted: deleting it would defeat that process's
/// compare-and-swap. Once it is gone, the next snapshot goes through.
#[test]
fn a_ref_lock_another_process_holds_is_waited_for_and_never_removed() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("init");
    repo.write("a.txt", "a1\n");
    let first = repo.snap("manual");
    let lock = repo.abs(".git/refs/savepoint/heads/main.lock");
    std::fs::write(&lock, "held by git\n").unwrap();
    repo.write("a.txt", "a2\n");
    let out = repo.cmd().args(["snap", "--json"]).output().unwrap();
    assert!(!out.status.success(), "the snapshot must not take the ref");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked by another process") && stderr.contains("main.lock"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&lock).unwrap(), b"held by git\n");
    let tip = repo.rev("refs/savepoint/heads/main");
    assert_eq!(
        Some(tip),
        first.oid.map(|o| o.to_string()),
        "the chain did not move"
    );
    std::fs::remove_file(&lock).unwrap();
    let out = repo.snap("manual");
    assert!(out.created);
    assert_eq!(out.tree, repo.oracle_tree());
}
