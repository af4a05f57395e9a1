//! `squash`, `prune` and `handoff`: one real commit that equals the git
//! oracle with a clean `git status` and an index that kept its stat data;
//! retention on a synthetic chain with controlled dates; the hand-off brief
//! as a golden file.

use crate::common::TestRepo;
use git2::{Oid, Signature, Time};
use savepoint::snapshot::trailers::{self, Trailers};

fn status_porcelain(repo: &TestRepo) -> String {
    repo.git(&["status", "--porcelain", "--untracked-files=all"])
}

/// `git ls-files --debug` entries: path → (ctime, mtime, ino) lines.
fn index_stats(repo: &TestRepo) -> std::collections::BTreeMap<String, String> {
    let text = repo.git(&["ls-files", "--debug"]);
    let mut out = std::collections::BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            current = line.to_owned();
        } else if line.trim_start().starts_with("ctime")
            || line.trim_start().starts_with("mtime")
            || line.trim_start().starts_with("dev")
        {
            out.entry(current.clone())
                .or_insert_with(String::new)
                .push_str(line.trim());
        }
    }
    out
}

fn work(repo: &TestRepo) {
    for i in 0..50 {
        repo.write(&format!("lib/f{i:02}.rs"), &format!("// {i}\n"));
    }
    repo.write("README.md", "# project\n");
    repo.write("tool.sh", "#!/bin/sh\n");
    repo.commit_all("init");
    // Let the index entries age out of the racy window.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    repo.git(&["update-index", "--refresh"]);
    repo.write("lib/f01.rs", "// changed\n");
    repo.remove("lib/f02.rs");
    repo.write("lib/new.rs", "// new\n");
    repo.chmod("tool.sh", 0o755);
    repo.write("build.log", "ignored\n");
    repo.write(".gitignore", "*.log\n");
}

#[test]
fn squash_commits_the_exact_work_and_leaves_git_status_clean() {
    let repo = TestRepo::new();
    work(&repo);
    let mut req = savepoint::snapshot::record::SnapRequest::new("claude:UserPromptSubmit");
    req.prompt = Some("Add the new module and retire f02".into());
    req.session = Some("s1".into());
    let ws = repo.workspace();
    savepoint::snapshot::record::take(&ws, &req, None).unwrap();
    repo.write("lib/f03.rs", "// changed after the prompt\n");

    let oracle = repo.oracle_tree();
    let head_before = repo.rev("HEAD");
    let stats_before = index_stats(&repo);
    let out = repo.json(&["squash"]);
    assert_eq!(out["ref"], "refs/heads/main");
    let head = repo.rev("HEAD");
    assert_eq!(repo.rev("HEAD^"), head_before);
    assert_eq!(repo.tree_of("HEAD"), oracle);
    assert_eq!(status_porcelain(&repo), "", "git status not clean");
    // Untouched entries kept their stat data (no re-hash needed).
    let stats_after = index_stats(&repo);
    for (path, stat) in &stats_before {
        let untouched =
            !["lib/f01.rs", "lib/f02.rs", "lib/f03.rs", "tool.sh"].contains(&path.as_str());
        if untouched {
            assert_eq!(
                stats_after.get(path),
                Some(stat),
                "{path} lost its stat data"
            );
        }
    }
    // Committed paths have real stat data, not zeros.
    assert!(
        !stats_after["lib/new.rs"].contains("ctime: 0:0"),
        "{}",
        stats_after["lib/new.rs"]
    );
    let msg = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        msg.starts_with("Add the new module and retire f02"),
        "{msg}"
    );
    assert!(msg.contains("D lib/f02.rs"), "{msg}");
    assert!(msg.contains("Savepoint-Snapshots: "), "{msg}");
    assert!(
        !msg.contains("Savepoint-Trigger"),
        "a real commit is not a snapshot"
    );
    let reflog = repo.git(&["reflog", "-1", "--format=%gs", "main"]);
    assert!(reflog.starts_with("savepoint squash:"), "{reflog}");
    repo.assert_fsck_clean();

    // Nothing left to squash.
    let again = repo.cmd().arg("squash").output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to squash"));
    assert_eq!(repo.rev("HEAD"), head);
}

#[test]
fn squash_to_a_new_branch_and_refusals_change_nothing() {
    let repo = TestRepo::new();
    work(&repo);
    let state = repo.user_state();
    let oracle = repo.oracle_tree();
    let out = repo.json(&["squash", "--branch", "wip/parser", "-m", "WIP parser"]);
    assert_eq!(out["ref"], "refs/heads/wip/parser");
    assert_eq!(repo.tree_of("wip/parser"), oracle);
    assert_eq!(repo.rev("wip/parser^"), repo.rev("main"));
    let after = repo.user_state();
    assert_eq!(after.head, state.head);
    assert_eq!(after.index, state.index);
    assert!(after.branches.contains("refs/heads/main"));
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "wip/parser"]),
        "WIP parser"
    );
    // The branch exists now: refused.
    let out = repo
        .cmd()
        .args(["squash", "--branch", "wip/parser"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // Detached HEAD without --branch, and mid-merge: refused, nothing moves.
    repo.git(&["checkout", "-q", "--detach"]);
    let refs = repo.git(&["for-each-ref", "refs/heads"]);
    let out = repo.cmd().arg("squash").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--branch"));
    assert_eq!(repo.git(&["for-each-ref", "refs/heads"]), refs);

    let conflicted = TestRepo::new();
    conflicted.conflicting_branches("other");
    let _ = conflicted.git_output(&["merge", "other"], None);
    let refs = conflicted.git(&["for-each-ref", "refs/heads"]);
    let out = conflicted.cmd().arg("squash").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("merge is in progress"));
    assert_eq!(conflicted.git(&["for-each-ref", "refs/heads"]), refs);
}

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;

/// Append a snapshot commit at `time` to `refname` (tree = HEAD's tree plus
/// one file named after the time).
fn synthetic(repo: &git2::Repository, refname: &str, time: i64, n: usize) -> Oid {
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let mut builder = repo.treebuilder(Some(&head.tree().unwrap())).unwrap();
    let blob = repo.blob(format!("{n}\n").as_bytes()).unwrap();
    builder.insert(format!("s{n:03}"), blob, 0o100644).unwrap();
    let tree = repo.find_tree(builder.write().unwrap()).unwrap();
    let tip = repo.refname_to_id(refname).ok();
    let parents = savepoint::snapshot::chain::parents_for(repo, tip, Some(head.id())).unwrap();
    let parents: Vec<_> = parents
        .iter()
        .map(|p| repo.find_commit(*p).unwrap())
        .collect();
    let refs: Vec<_> = parents.iter().collect();
    let sig = Signature::new("Test", "test@example.com", &Time::new(time, 0)).unwrap();
    let msg = trailers::format_message(
        &format!("savepoint: watch: s{n:03}"),
        None,
        &Trailers {
            trigger: "watch".into(),
            base: head.id().to_string(),
            ..Trailers::default()
        },
    );
    let oid = repo.commit(None, &sig, &sig, &msg, &tree, &refs).unwrap();
    repo.reference(refname, oid, true, "test").unwrap();
    oid
}

#[test]
fn prune_keeps_exactly_what_retention_says() {
    let repo = TestRepo::new();
    repo.write("a", "a\n");
    repo.commit_all("init");
    let r = git2::Repository::open(repo.path()).unwrap();
    // A fixed "now" on an hour boundary keeps the buckets predictable.
    let now = 1_790_000_000 - 1_790_000_000 % DAY + 12 * HOUR;
    let ages = [
        100 * DAY,           // 0: past keepDaily: dropped
        10 * DAY + 2 * HOUR, // 1: same day as 2, older: dropped
        10 * DAY,            // 2: newest of its day: kept
        3 * DAY + 40 * 60,   // 3: 11:20, same hour as 4, older: dropped
        3 * DAY + 10 * 60,   // 4: 11:50: kept
        3 * DAY,             // 5: 12:00, its own hour: kept
        DAY + 30 * 60,       // 6: same hour as 7 (in the hourly window): dropped
        DAY + 5 * 60,        // 7: kept
        2 * HOUR,            // 8..: younger than keepAll: all kept
        HOUR,
        60,
    ];
    let refname = "refs/savepoint/heads/main";
    let ids: Vec<Oid> = ages
        .iter()
        .enumerate()
        .map(|(n, age)| synthetic(&r, refname, now - age, n))
        .collect();
    let trees: Vec<Oid> = ids
        .iter()
        .map(|i| r.find_commit(*i).unwrap().tree_id())
        .collect();
    let old_tip = *ids.last().unwrap();

    // A deleted branch's chain: everything old → removed; another with a
    // recent snapshot → kept.
    synthetic(&r, "refs/savepoint/heads/gone", now - 200 * DAY, 90);
    synthetic(&r, "refs/savepoint/heads/gone-but-recent", now - HOUR, 91);

    let ws = repo.workspace();
    let cfg = savepoint::workspace::config::Config::load(ws.repo()).unwrap();
    let retention = savepoint::ops::prune::Retention::from_config(&cfg);
    let plans = savepoint::ops::prune::plan(&ws, &retention, now).unwrap();
    let main = plans.iter().find(|p| p.refname == refname).unwrap();
    let dropped: Vec<String> = main.dropped.iter().map(|d| d.id.clone()).collect();
    let expect_dropped: Vec<String> = [6, 3, 1, 0]
        .iter()
        .map(|&i| savepoint::snapshot::chain::short_id(ids[i]))
        .collect();
    assert_eq!(dropped, expect_dropped);
    assert!(plans
        .iter()
        .any(|p| p.refname == "refs/savepoint/heads/gone" && p.delete));
    assert!(!plans.iter().any(|p| p.refname.ends_with("gone-but-recent")));

    let problems = savepoint::ops::prune::apply(&ws, &plans).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let kept_idx = [2, 4, 5, 7, 8, 9, 10];
    let tip = r.refname_to_id(refname).unwrap();
    let chain = savepoint::snapshot::chain::walk(&r, tip, None).unwrap();
    let kept_trees: Vec<Oid> = chain
        .iter()
        .rev()
        .map(|c| r.find_commit(*c).unwrap().tree_id())
        .collect();
    assert_eq!(
        kept_trees,
        kept_idx.iter().map(|&i| trees[i]).collect::<Vec<_>>()
    );
    // Dates, messages and base parents are kept.
    for (c, &i) in chain.iter().rev().zip(&kept_idx) {
        let new = r.find_commit(*c).unwrap();
        let old = r.find_commit(ids[i]).unwrap();
        assert_eq!(new.time().seconds(), old.time().seconds());
        assert_eq!(new.message_bytes(), old.message_bytes());
    }
    let oldest = r.find_commit(*chain.last().unwrap()).unwrap();
    assert_eq!(
        oldest.parent_id(0).unwrap(),
        r.head().unwrap().target().unwrap()
    );
    assert!(r.find_reference("refs/savepoint/heads/gone").is_err());
    // The old tip stays in the reflog; the repository is sound.
    let reflog = std::fs::read_to_string(repo.abs(format!(".git/logs/{refname}"))).unwrap();
    let entry = reflog.lines().last().unwrap();
    assert!(entry.starts_with(&format!("{old_tip} {tip}")), "{reflog}");
    assert!(
        entry.ends_with("savepoint prune: dropped 4 snapshots"),
        "{reflog}"
    );
    repo.assert_fsck_clean();
    // Nothing more to do.
    assert!(savepoint::ops::prune::plan(&ws, &retention, now)
        .unwrap()
        .is_empty());

    // The command: dry run lists, changes nothing.
    let out = repo.run_ok(&["prune", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dry run") || text.contains("nothing to prune"),
        "{text}"
    );
}

#[test]
fn handoff_brief_golden() {
    let repo = TestRepo::new();
    repo.write("src/parser.rs", "fn parse() {}\n");
    repo.commit_all("Initial parser");
    let ws = repo.workspace();
    let steps: [(&str, Option<&str>, Option<&str>, &str); 3] = [
        (
            "claude:UserPromptSubmit",
            Some("Make parse errors carry line numbers"),
            None,
            "fn parse() { 1 }\n",
        ),
        (
            "claude:PostToolUse",
            None,
            Some("Edit"),
            "fn parse() -> Result<(), Line> { 2 }\n",
        ),
        (
            "claude:PostToolUse",
            None,
            Some("Bash"),
            "fn parse() -> Result<(), Line> { 3 }\n",
        ),
    ];
    for (trigger, prompt, tool, content) in steps {
        repo.write("src/parser.rs", content);
        let mut req = savepoint::snapshot::record::SnapRequest::new(trigger);
        req.session = Some("session-1".into());
        req.prompt = prompt.map(str::to_owned);
        req.tool = tool.map(str::to_owned);
        savepoint::snapshot::record::take(&ws, &req, None).unwrap();
    }
    repo.write("src/error.rs", "pub struct Line(usize);\n");
    let mut req = savepoint::snapshot::record::SnapRequest::new("claude:UserPromptSubmit");
    req.session = Some("session-1".into());
    req.prompt = Some("Now add an error type".into());
    savepoint::snapshot::record::take(&ws, &req, None).unwrap();

    // What `savepoint handoff` prints (brief.rs checks that it prints it).
    let brief = savepoint::ops::handoff::brief(&ws).unwrap();
    let chain = ws.chain_ref().unwrap();
    let tip = savepoint::snapshot::chain::tip(ws.repo(), &chain)
        .unwrap()
        .unwrap();
    let snapshots = savepoint::snapshot::chain::walk(ws.repo(), tip, None).unwrap();
    assert_eq!(snapshots.len(), 4);
    // Normalise what changes from run to run: paths, ids, times.
    let mut normal = brief.replace(repo.path().to_str().unwrap(), "/repo");
    for id in snapshots
        .iter()
        .map(|oid| savepoint::snapshot::chain::short_id(*oid))
        .chain([repo.rev("HEAD")[..12].to_owned()])
    {
        normal = normal.replace(&id, "<id>");
    }
    let normal = mask_times(&normal);
    insta::assert_snapshot!(normal);
}

/// Replace RFC 3339 times (`2026-11-25T05:41:10+00:00`) with `<time>`.
fn mask_times(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let candidate = s.get(i..i + 25).filter(|c| {
            let c = c.as_bytes();
            c[4] == b'-' && c[7] == b'-' && c[10] == b'T' && c[13] == b':' && c[16] == b':'
        });
        if let Some(t) = candidate.filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()) {
            let _ = t;
            out.push_str("<time>");
            i += 25;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[test]
fn squash_keeps_skip_worktree_entries() {
    let repo = TestRepo::new();
    repo.write("config.ini", "password=changeme\n");
    repo.write("settings.json", "{}\n");
    repo.write("code.rs", "fn a() {}\n");
    repo.commit_all("init");
    let committed_ini = repo.rev("HEAD:config.ini");
    let committed_json = repo.rev("HEAD:settings.json");
    repo.git(&["update-index", "--skip-worktree", "config.ini"]);
    repo.git(&["update-index", "--assume-unchanged", "settings.json"]);
    repo.write("config.ini", "password=local-secret\n");
    repo.write("settings.json", "{\"token\": \"local\"}\n");
    repo.write("code.rs", "fn a() { 1 }\n");

    let out = repo.json(&["squash", "-m", "Real work"]);
    assert!(out["index_warning"].is_null(), "{out}");
    // The local values never reach the commit.
    assert_eq!(repo.rev("HEAD:config.ini"), committed_ini);
    assert_eq!(repo.rev("HEAD:settings.json"), committed_json);
    assert_eq!(repo.git(&["show", "HEAD:code.rs"]), "fn a() { 1 }");
    // The index keeps both entries, their bits and their content; the
    // work tree keeps the local values.
    let flags = repo.git(&["ls-files", "-v", "config.ini", "settings.json", "code.rs"]);
    assert_eq!(flags, "H code.rs\nS config.ini\nh settings.json", "{flags}");
    let staged = repo.git(&["ls-files", "-s", "config.ini", "settings.json"]);
    assert!(
        staged.contains(&committed_ini) && staged.contains(&committed_json),
        "{staged}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.abs("config.ini")).unwrap(),
        "password=local-secret\n"
    );
    assert_eq!(status_porcelain(&repo), "", "git status is clean");
}
