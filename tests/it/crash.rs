//! Crash injection: `snap`, `watch`, `restore` and `squash` killed with
//! SIGKILL at pseudo-random moments, 50 times each. Afterwards the
//! repository must be `git fsck --strict` clean, every shadow ref must point
//! to a readable snapshot, the user's index/HEAD/branches must be as before
//! (squash: fully applied or not at all), work-tree files must hold their
//! old or their new content (never a torn write), and the next command must
//! succeed with no manual cleanup. `SAVEPOINT_CRASH_ROUNDS` changes the
//! count.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::{Fingerprint, TestRepo};

fn rounds() -> usize {
    std::env::var("SAVEPOINT_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// xorshift: the same kill moments on every run.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn spawn(repo: &TestRepo, args: &[&str]) -> Child {
    repo.cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn savepoint")
}

fn kill_after(mut child: Child, micros: u64) {
    std::thread::sleep(Duration::from_micros(micros));
    let _ = child.kill();
    let _ = child.wait();
}

/// Every shadow ref resolves to a commit whose whole tree is readable.
fn assert_refs_sound(repo: &TestRepo) {
    let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/savepoint"]);
    for r in refs.lines() {
        repo.git(&["ls-tree", "-r", "-t", r]);
        repo.git(&["cat-file", "-e", &format!("{r}^{{commit}}")]);
    }
}

fn assert_sound(repo: &TestRepo, what: &str) {
    let fsck = repo.git_output(
        &["fsck", "--strict", "--no-progress", "--no-dangling"],
        None,
    );
    assert!(
        fsck.status.success() && fsck.stdout.is_empty(),
        "{what}: fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    assert_refs_sound(repo);
}

fn big_repo() -> TestRepo {
    let repo = TestRepo::new();
    for d in 0..10 {
        for f in 0..40 {
            repo.write(&format!("d{d}/f{f}.txt"), &format!("{d}/{f}\n").repeat(50));
        }
    }
    repo.commit_all("init");
    repo
}

#[test]
fn killed_snap_leaves_a_sound_repository() {
    let repo = big_repo();
    let mut rng = Rng(0x5eed_0001);
    for round in 0..rounds() {
        for i in 0..20 {
            let f = rng.below(400);
            repo.write(
                &format!("d{}/f{}.txt", f / 40, f % 40),
                &format!("round {round} {i}\n"),
            );
        }
        repo.write(&format!("new/r{round}.txt"), "new\n");
        let before = repo.user_state();
        kill_after(spawn(&repo, &["snap"]), rng.below(60_000));
        assert_sound(&repo, &format!("snap round {round}"));
        let after = repo.user_state();
        assert_eq!(after.index, before.index, "round {round}: index touched");
        assert_eq!((after.head, after.branches), (before.head, before.branches));
    }
    // The next snapshot succeeds (a stale lock never blocks) and is exact.
    repo.run_ok(&["snap"]);
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
}

#[test]
fn killed_watcher_leaves_a_sound_repository() {
    let repo = big_repo();
    let mut rng = Rng(0x5eed_0002);
    for round in 0..rounds() {
        let child = spawn(&repo, &["watch", "--debounce", "10", "--max-wait", "50"]);
        for i in 0..10 {
            let f = rng.below(400);
            repo.write(
                &format!("d{}/f{}.txt", f / 40, f % 40),
                &format!("w{round} {i}\n"),
            );
        }
        kill_after(child, rng.below(150_000));
        assert_sound(&repo, &format!("watch round {round}"));
    }
    repo.run_ok(&["snap"]);
    assert_eq!(
        repo.tree_of("refs/savepoint/heads/main"),
        repo.oracle_tree()
    );
    // No watcher left behind, and a new one starts.
    assert_eq!(repo.json(&["status"])["watching"], false);
}

#[test]
fn killed_restore_leaves_old_or_new_content_only() {
    let repo = big_repo();
    // State A: the snapshot to restore. State B: the work tree before.
    for f in 0..400 {
        if f % 3 == 0 {
            repo.write(&format!("d{}/f{}.txt", f / 40, f % 40), &"A\n".repeat(400));
        }
    }
    repo.write("only-in-a.txt", "A\n");
    let a = repo.snap("manual").id.unwrap();
    let fp_a = repo.fingerprint(|_| false);
    let mut rng = Rng(0x5eed_0003);
    for round in 0..rounds() {
        // Back to a B state: different content, a file A lacks, one missing.
        for f in 0..400 {
            if f % 3 == 0 {
                repo.write(
                    &format!("d{}/f{}.txt", f / 40, f % 40),
                    &format!("B{round}\n"),
                );
            }
        }
        let _ = std::fs::remove_file(repo.abs("only-in-a.txt"));
        repo.write("only-in-b.txt", "B\n");
        let fp_b = repo.fingerprint(|_| false);
        let before = repo.user_state();
        kill_after(spawn(&repo, &["restore", &a]), rng.below(80_000));
        assert_sound(&repo, &format!("restore round {round}"));
        let after = repo.user_state();
        assert_eq!(after.index, before.index);
        assert_eq!((after.head, after.branches), (before.head, before.branches));
        assert_old_or_new(&repo.fingerprint(|_| false), &fp_b, &fp_a, round);
    }
    // The next restore completes: exactly A.
    repo.run_ok(&["restore", &a]);
    assert_eq!(repo.fingerprint(|_| false), fp_a);
}

/// Every path holds its `old` or its `new` version (or is absent where one
/// of them lacks it); nothing else exists.
fn assert_old_or_new(now: &Fingerprint, old: &Fingerprint, new: &Fingerprint, round: usize) {
    let mut all: BTreeMap<&String, ()> = BTreeMap::new();
    for k in now.keys().chain(old.keys()).chain(new.keys()) {
        all.insert(k, ());
    }
    for path in all.keys() {
        let (n, o, w) = (now.get(*path), old.get(*path), new.get(*path));
        assert!(
            n == o || n == w,
            "round {round}: {path} is neither old nor new: {:?}",
            n.map(|(b, _)| String::from_utf8_lossy(b)
                .chars()
                .take(40)
                .collect::<String>())
        );
    }
}

#[test]
fn killed_squash_is_all_or_nothing() {
    let repo = big_repo();
    let mut rng = Rng(0x5eed_0004);
    for round in 0..rounds() {
        for i in 0..15 {
            let f = rng.below(400);
            repo.write(
                &format!("d{}/f{}.txt", f / 40, f % 40),
                &format!("sq{round} {i}\n"),
            );
        }
        let head_before = repo.rev("HEAD");
        let oracle = repo.oracle_tree();
        let before = repo.user_state();
        kill_after(
            spawn(&repo, &["squash", "-m", &format!("round {round}")]),
            rng.below(120_000),
        );
        assert_sound(&repo, &format!("squash round {round}"));
        let head = repo.rev("HEAD");
        if head == head_before {
            // Not applied: the index is untouched.
            assert_eq!(repo.user_state().index, before.index, "round {round}");
        } else {
            // Applied: the commit holds the work and its parent is the old HEAD.
            assert_eq!(repo.rev("HEAD^"), head_before);
            assert_eq!(repo.tree_of("HEAD"), oracle, "round {round}");
            // The index is the new one (or, if killed in the instant between
            // the ref move and the index swap, the old one: nothing lost).
            let index = repo.user_state().index;
            let staged = repo.git(&["diff", "--cached", "--name-only"]);
            assert!(
                staged.is_empty() || index == before.index,
                "round {round}: {staged}"
            );
        }
        let lock = repo.abs(".git/index.lock");
        assert!(
            !lock.exists(),
            "round {round}: index.lock left behind ({} bytes; HEAD moved: {})",
            std::fs::metadata(&lock).map(|m| m.len()).unwrap_or(0),
            head != head_before
        );
    }
    // The next squash works without cleanup (when there is work left).
    repo.write("last.txt", "last\n");
    repo.run_ok(&["squash", "-m", "last"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}
