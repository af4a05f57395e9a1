//! Recording snapshots through the library (`snapshot::record::take`, what
//! `snap`, the hooks and the watcher all call): the chain's shape — linear
//! first parents, HEAD as the second parent once it moves, no parent on an
//! unborn branch, the detached chain — and a snapshot lock left by a killed
//! process. No process boundary is under test here; `cli.rs` holds what
//! `snap` itself promises (output, `--json`, exit codes).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::TestRepo;

fn parents(repo: &TestRepo, rev: &str) -> Vec<String> {
    let line = repo.git(&["rev-list", "--parents", "-n", "1", rev]);
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

#[test]
fn chain_is_linear_and_head_becomes_second_parent_when_it_moves() {
    let repo = TestRepo::new();
    repo.write("a", "1\n");
    repo.commit_all("base");
    let base = repo.rev("HEAD");

    repo.write("a", "2\n");
    let s1 = repo.snap("manual").id.unwrap();
    assert_eq!(
        parents(&repo, "refs/savepoint/heads/main"),
        vec![base.clone()]
    );

    repo.write("a", "3\n");
    repo.snap("manual");
    let p = parents(&repo, "refs/savepoint/heads/main");
    assert_eq!(p.len(), 1, "HEAD did not move: one parent");
    assert!(p[0].starts_with(&s1));

    repo.commit_all("user commits");
    let head = repo.rev("HEAD");
    repo.write("a", "4\n");
    repo.snap("manual");
    let p = parents(&repo, "refs/savepoint/heads/main");
    assert_eq!(p.len(), 2);
    assert_eq!(p[1], head, "HEAD moved: second parent");
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/savepoint/heads/main"]);
    assert!(msg.contains(&format!("Savepoint-Base: {head}")), "{msg}");

    // First-parent walk: three snapshots, then the base commit.
    let fp = repo.git(&["rev-list", "--first-parent", "refs/savepoint/heads/main"]);
    let fp: Vec<&str> = fp.lines().collect();
    assert_eq!(fp.len(), 4);
    assert_eq!(fp[3], base);

    // Every move is in the reflog.
    let reflog = repo.git(&["reflog", "show", "refs/savepoint/heads/main"]);
    assert_eq!(reflog.lines().count(), 3, "{reflog}");
}

#[test]
fn unborn_branch_first_snapshot_has_no_parent() {
    let repo = TestRepo::new();
    repo.write("new.txt", "x\n");
    let out = repo.snap("manual");
    assert!(out.created);
    assert!(parents(&repo, "refs/savepoint/heads/main").is_empty());
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/savepoint/heads/main"]);
    assert!(msg.contains("Savepoint-Base: unborn"));
    assert!(
        msg.starts_with("savepoint: manual: 1 file: new.txt"),
        "{msg}"
    );
    // Empty unborn repo: nothing to snapshot, no chain.
    let empty = TestRepo::new();
    let out = empty.snap("manual");
    assert!(!out.created && out.id.is_none(), "{out:?}");
    assert!(empty
        .git_output(
            &["rev-parse", "-q", "--verify", "refs/savepoint/heads/main"],
            None
        )
        .stdout
        .is_empty());
}

#[test]
fn detached_head_uses_the_detached_chain() {
    let repo = TestRepo::new();
    repo.write("a", "1\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "--detach"]);
    repo.write("a", "2\n");
    assert_eq!(repo.snap("manual").refname, "refs/savepoint/detached/main");
}

#[test]
fn a_lock_held_by_a_killed_process_does_not_block() {
    let repo = TestRepo::new();
    repo.write("a", "1\n");
    std::fs::create_dir_all(repo.abs(".git/savepoint")).unwrap();
    // `flock -o` holds the lock itself while running the command.
    let mut holder = Command::new("flock")
        .args(["-o", ".git/savepoint/lock", "sleep", "60"])
        .current_dir(repo.path())
        .spawn()
        .expect("flock(1) from util-linux");
    let held = |repo: &TestRepo| {
        !Command::new("flock")
            .args(["-n", ".git/savepoint/lock", "true"])
            .current_dir(repo.path())
            .status()
            .unwrap()
            .success()
    };
    crate::common::wait_until("flock to take the lock", Duration::from_secs(10), || {
        held(&repo)
    });
    holder.kill().unwrap(); // SIGKILL: no cleanup runs
    holder.wait().unwrap();
    let started = Instant::now();
    assert!(repo.snap("manual").created);
    assert!(started.elapsed() < Duration::from_secs(10));
}
