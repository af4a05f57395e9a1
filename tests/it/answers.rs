//! Commands answered by the running watcher (`snap`, and the work tree's
//! tree that `diff`, `recover`, `restore --dry-run` and the agents'
//! session-start check compare with) give exactly what a fresh full scan —
//! and git — give, at once after the change, with no waiting.

use crate::common::{DetachedWatcher, TestRepo};
use savepoint::watch::{self, WatchState};

/// A small deterministic PRNG (xorshift64*): the same steps every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seeded() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(".gitignore", "*.log\n/build/\n");
    repo.write("src/lib.rs", "pub fn a() {}\n");
    repo.write("src/deep/er/mod.rs", "mod x;\n");
    repo.write("docs/readme.md", "# docs\n");
    repo.write("build/keep.txt", "tracked although ignored\n");
    repo.git(&["add", "-A"]);
    repo.git(&["add", "-f", "build/keep.txt"]);
    repo.git(&["commit", "-q", "-m", "base"]);
    repo
}

/// Every file in the work tree (not in `.git`), relative.
fn files(repo: &TestRepo) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![repo.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(repo.path()).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// One random change of the kinds an editor, an agent or git makes.
fn change(repo: &TestRepo, rng: &mut Rng, step: usize) -> String {
    let existing = files(repo);
    let dirs = ["", "src/", "src/deep/er/", "docs/", "new/a/b/", "build/"];
    let pick = |rng: &mut Rng| existing[rng.below(existing.len())].clone();
    match rng.below(11) {
        0 | 1 => {
            let rel = format!("{}f{step}.txt", dirs[rng.below(dirs.len())]);
            repo.write(&rel, &format!("new {step}\n"));
            format!("write {rel}")
        }
        2 | 3 => {
            let rel = pick(rng);
            if std::fs::symlink_metadata(repo.abs(&rel)).is_ok_and(|m| m.file_type().is_symlink()) {
                repo.remove(&rel);
                return format!("remove link {rel}");
            }
            repo.write(&rel, &format!("changed at {step}\n"));
            format!("rewrite {rel}")
        }
        4 => {
            let rel = pick(rng);
            repo.remove(&rel);
            format!("remove {rel}")
        }
        5 => {
            let from = pick(rng);
            let to = format!("moved/{step}-{}", from.replace('/', "_"));
            std::fs::create_dir_all(repo.abs("moved")).unwrap();
            std::fs::rename(repo.abs(&from), repo.abs(&to)).unwrap();
            format!("rename {from} → {to}")
        }
        6 => {
            let dir = format!("tree{step}/x/y");
            for i in 0..3 {
                repo.write(&format!("{dir}/g{i}.rs"), &format!("{step} {i}\n"));
            }
            // A whole directory moved in at once.
            let to = format!("src/moved{step}");
            std::fs::rename(repo.abs(format!("tree{step}")), repo.abs(&to)).unwrap();
            format!("mkdir -p + mv {to}")
        }
        7 => {
            let rel = format!("{}noise{step}.log", dirs[rng.below(dirs.len())]);
            repo.write(&rel, "ignored\n");
            format!("ignored {rel}")
        }
        8 => {
            let rel = pick(rng);
            repo.chmod(&rel, if step.is_multiple_of(2) { 0o755 } else { 0o644 });
            format!("chmod {rel}")
        }
        9 => {
            let rel = format!("link{step}");
            repo.symlink("src/lib.rs", &rel);
            format!("symlink {rel}")
        }
        _ => {
            // Index-only: a file becomes tracked although ignored.
            let rel = format!("build/forced{step}.txt");
            repo.write(&rel, "forced\n");
            repo.git(&["add", "-f", &rel]);
            format!("git add -f {rel}")
        }
    }
}

#[test]
fn the_watchers_answers_equal_a_full_scan_and_git_right_after_each_change() {
    let repo = seeded();
    let _w = DetachedWatcher::start(&repo);
    let ws = repo.workspace();
    let mut rng = Rng(0x5EED_0020_2026_1127);
    for step in 0..60 {
        let what = change(&repo, &mut rng, step);
        // No wait: the answer must include the change just made.
        let answered = watch::ask_tree(&ws)
            .unwrap_or_else(|| panic!("step {step} ({what}): the watcher did not answer"));
        let oracle = repo.oracle_tree();
        assert_eq!(
            answered.to_string(),
            oracle,
            "step {step} ({what}): the watcher's tree differs from git's"
        );
        let scanned = savepoint::snapshot::current::scan(&ws).unwrap();
        assert_eq!(
            answered, scanned,
            "step {step} ({what}): differs from a full scan"
        );
        if step % 10 == 9 {
            // `snap` through the watcher records exactly that tree.
            let out = repo.json(&["snap"]);
            assert_eq!(out["tree"], oracle, "step {step} ({what}): {out}");
        }
    }
}

#[test]
fn snap_with_a_watcher_is_taken_by_the_watcher_and_touches_nothing_of_the_user() {
    let repo = seeded();
    // A long quiet period: every snapshot here is one the commands ask for,
    // and `diff` still finds the change it is asked about.
    let _w = DetachedWatcher::start_with(&repo, &["--debounce", "60000", "--max-wait", "60000"]);
    let state_dir = repo.path().join(".git/savepoint");
    let before = repo.user_state();
    repo.write("src/lib.rs", "pub fn a() { unsaved }\n");
    let out = repo.json(&["snap", "-m", "before the refactor"]);
    assert_eq!(out["created"], true, "{out}");
    assert_eq!(out["tree"], repo.oracle_tree());
    let st = WatchState::load(&state_dir).expect("watcher status");
    assert_eq!(
        st.last_snapshot.as_deref(),
        out["id"].as_str(),
        "the watcher took it"
    );
    let subject = repo.git(&["log", "-1", "--format=%s", "refs/savepoint/heads/main"]);
    assert_eq!(subject.trim(), "savepoint: manual: before the refactor");
    // A label is recorded although nothing changed since.
    let again = repo.json(&["snap", "-m", "a label"]);
    assert_eq!(again["created"], true, "{again}");
    assert!(again["files"].as_array().unwrap().is_empty(), "{again}");
    let unlabelled = repo.json(&["snap"]);
    assert_eq!(unlabelled["created"], false, "{unlabelled}");
    // `diff` and `recover --dry-run` see the work tree as it is now.
    repo.write("docs/readme.md", "# lost?\n");
    let diff = repo.run_ok(&["diff", "--stat"]);
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("docs/readme.md"),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    let after = repo.user_state();
    assert_eq!(before.index, after.index);
    assert_eq!(before.head, after.head);
    assert_eq!(before.branches, after.branches);
    // The sync cookies are gone.
    let left: Vec<_> = std::fs::read_dir(state_dir.join("watch.sync"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A failed turn's snapshot must be taken before the brief is written (the
/// brief names it): with a watcher running, the watcher takes it, writes
/// the brief and answers when done, instead of the hook scanning the tree
/// itself, diffing the chain for a first brief or starting a worker.
#[test]
fn a_failed_turn_is_snapshotted_by_the_watcher_before_the_brief_names_it() {
    let repo = seeded();
    // A long quiet period: the change below must still be pending when the
    // hook asks (else the watcher's own snapshot would hold it).
    let _w = DetachedWatcher::start_with(&repo, &["--debounce", "60000", "--max-wait", "60000"]);
    repo.write("src/lib.rs", "pub fn a() { half done }\n");
    let payload = serde_json::json!({
        "session_id": "s-outage",
        "cwd": repo.path(),
        "hook_event_name": "StopFailure",
        "error": "api_error",
    });
    let out = repo.pipe(&["hook", "claude"], payload.to_string().as_bytes());
    assert!(out.status.success(), "{out:?}");
    let tip = repo.rev("refs/savepoint/heads/main");
    assert_eq!(repo.tree_of(&tip), repo.oracle_tree());
    let st = WatchState::load(&repo.path().join(".git/savepoint")).expect("watcher status");
    let id = st.last_snapshot.expect("the watcher took a snapshot");
    assert!(tip.starts_with(&id), "{tip} vs {id}");
    let trigger = repo.git(&["log", "-1", "--format=%s", &tip]);
    assert!(
        trigger.starts_with("savepoint: claude:StopFailure"),
        "{trigger}"
    );
    let brief = std::fs::read_to_string(repo.abs(".git/savepoint/handoff.md")).unwrap();
    assert!(brief.contains(&id), "the brief names {id}:\n{brief}");
    // No status page to ask: the watcher did all of it (snapshot and
    // brief), no worker process was started.
    let log = std::fs::read_to_string(repo.abs(".git/savepoint/hook.log")).unwrap();
    assert!(
        log.contains(&format!("claude:StopFailure by the watcher: snapshot {id}")),
        "{log}"
    );
}

/// With a watcher, the hook writes no brief of its own: when the failed
/// turn left nothing new to record, the watcher still writes it (naming
/// the tip it already had) before it answers.
#[test]
fn a_failed_turn_with_nothing_new_still_gets_its_brief_from_the_watcher() {
    let repo = seeded();
    let _w = DetachedWatcher::start_with(&repo, &["--debounce", "60000", "--max-wait", "60000"]);
    repo.write("src/lib.rs", "pub fn a() { recorded before the outage }\n");
    repo.run_ok(&["snap"]);
    let tip = repo.rev("refs/savepoint/heads/main");
    let brief = repo.abs(".git/savepoint/handoff.md");
    assert!(!brief.exists());
    let payload = serde_json::json!({
        "session_id": "s-outage",
        "cwd": repo.path(),
        "hook_event_name": "StopFailure",
        "error": "rate_limit",
    });
    let out = repo.pipe(&["hook", "claude"], payload.to_string().as_bytes());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(repo.rev("refs/savepoint/heads/main"), tip, "nothing new");
    let text = std::fs::read_to_string(&brief).expect("the watcher wrote the brief");
    assert!(text.contains(&tip[..12]), "the brief names {tip}:\n{text}");
    assert!(text.contains("rate_limit"), "{text}");
    let log = std::fs::read_to_string(repo.abs(".git/savepoint/hook.log")).unwrap();
    assert!(
        log.contains("claude:StopFailure by the watcher: nothing new"),
        "{log}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&brief.display().to_string()), "{stderr}");
}
