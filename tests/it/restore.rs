//! `restore` and `recover` end to end: the destructive commands agents (and
//! people) run, then one command to get every byte back — content, exec
//! bit, symlink target — without touching the index, HEAD or branches, and
//! hostile snapshot trees that must never write outside the work tree.

use crate::common::{Fingerprint, TestRepo};
use serde_json::Value;

/// Committed files (text, exec script, symlink, nested dirs), then work in
/// progress on top: modified, new untracked, new nested, an exec-bit
/// change, a retargeted symlink, a deleted tracked file. Plus an ignored
/// build output that must never be deleted by a restore.
fn repo_with_work() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(".gitignore", "build/\n*.log\n");
    repo.write("README.md", "# project\n");
    repo.write("src/lib.rs", "pub fn a() {}\n");
    repo.write("src/deep/mod.rs", "pub mod x;\n");
    repo.write("tool.sh", "#!/bin/sh\necho hi\n");
    repo.chmod("tool.sh", 0o755);
    repo.write("docs/guide.md", "guide\n");
    repo.symlink("README.md", "link");
    repo.write("old.txt", "to be deleted in WIP\n");
    repo.commit_all("init");
    // Work in progress.
    repo.write("src/lib.rs", "pub fn a() { wip }\n");
    repo.write("src/new.rs", "pub fn new() {}\n");
    repo.write("notes/todo/today.md", "- ship it\n");
    repo.write("naïve name.txt", "unicode\n");
    repo.chmod("tool.sh", 0o644);
    std::fs::remove_file(repo.abs("link")).unwrap();
    repo.symlink("docs/guide.md", "link");
    repo.remove("old.txt");
    repo.write("build/out.o", "ignored build output\n");
    repo.write("app.log", "ignored log\n");
    repo
}

fn ignored(rel: &str) -> bool {
    rel.starts_with("build") || rel.ends_with(".log")
}

fn recover_yes(repo: &TestRepo) -> String {
    let out = repo.run_ok(&["recover", "--yes"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each destructive command, then `recover --yes`: every non-ignored file
/// is back byte for byte; the index, HEAD and branches are what the
/// destructive command left (recover does not touch them).
#[test]
fn recover_undoes_destructive_commands() {
    type Damage = fn(&TestRepo);
    let cases: [(&str, Damage); 5] = [
        ("git checkout -- .", |r| {
            r.git(&["checkout", "--", "."]);
        }),
        ("git reset --hard", |r| {
            r.git(&["reset", "-q", "--hard"]);
        }),
        ("git clean -fdx", |r| {
            r.git(&["clean", "-q", "-fdx"]);
        }),
        ("rm -rf src", |r| r.remove("src")),
        ("an agent overwriting files", |r| {
            r.write("src/lib.rs", "garbage\n");
            r.write("README.md", "garbage\n");
            r.chmod("tool.sh", 0o755);
            std::fs::remove_file(r.abs("link")).unwrap();
            r.write("link", "not a link any more\n");
        }),
    ];
    for (name, damage) in cases {
        for watcher_saw_it in [false, true] {
            // The agent-overwrite case is only recoverable from the snapshot
            // before it: a later snapshot of the overwrite is new work.
            if watcher_saw_it && name.starts_with("an agent") {
                continue;
            }
            let repo = repo_with_work();
            repo.snap("manual");
            let before = repo.fingerprint(ignored);
            damage(&repo);
            assert_ne!(repo.fingerprint(ignored), before, "{name} did no damage");
            if watcher_saw_it {
                // The watcher (or a hook) recorded the damaged state.
                repo.snap("watch");
            }
            let state = repo.user_state();
            let out = recover_yes(&repo);
            assert_eq!(
                repo.fingerprint(ignored),
                before,
                "{name} (watcher saw it: {watcher_saw_it})\n{out}"
            );
            let after = repo.user_state();
            assert_eq!(after.index, state.index, "{name}: index touched");
            assert_eq!((after.head, after.branches), (state.head, state.branches));
            if name != "git clean -fdx" {
                assert!(
                    repo.abs("build/out.o").exists(),
                    "{name}: ignored file deleted"
                );
            }
            repo.assert_fsck_clean();
            // Right after a recover there is nothing left to recover.
            let again = repo.run_ok(&["recover", "--yes"]);
            assert!(
                String::from_utf8_lossy(&again.stdout).contains("nothing to recover"),
                "{}",
                String::from_utf8_lossy(&again.stdout)
            );
        }
    }
}

#[test]
fn recover_with_nothing_lost_says_so_and_needs_yes_without_a_terminal() {
    let repo = repo_with_work();
    repo.snap("manual");
    let out = repo.run_ok(&["recover"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to recover"));

    repo.remove("src");
    let before = repo.fingerprint(|_| false);
    // stdin is not a terminal here: no --yes, no change, exit 1.
    let out = repo.cmd().arg("recover").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("create src/lib.rs"));
    assert_eq!(repo.fingerprint(|_| false), before);
    // --dry-run: the preview, nothing else.
    let refs = repo.git(&["for-each-ref"]);
    repo.run_ok(&["recover", "--dry-run"]);
    assert_eq!(repo.fingerprint(|_| false), before);
    assert_eq!(
        repo.git(&["for-each-ref"]),
        refs,
        "dry run wrote a snapshot"
    );
}

#[test]
fn recover_keeps_new_files_and_finds_work_on_another_branch() {
    let repo = repo_with_work();
    repo.snap("manual");
    // The branch changes (the WIP comes along), then the WIP is wiped.
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.git(&["checkout", "--", "."]);
    repo.write("fresh.txt", "made after the snapshot\n");
    let out = recover_yes(&repo);
    assert!(out.contains("has no snapshots"), "{out}");
    assert!(out.contains("refs/savepoint/heads/main"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.abs("src/lib.rs")).unwrap(),
        "pub fn a() { wip }\n"
    );
    // A file with unsaved work that the snapshot lacks is never deleted.
    assert_eq!(
        std::fs::read_to_string(repo.abs("fresh.txt")).unwrap(),
        "made after the snapshot\n"
    );
}

#[test]
fn restore_of_paths_changes_nothing_else_and_directories_recurse() {
    let repo = repo_with_work();
    repo.snap("manual");
    let snapshot = repo.fingerprint(ignored);
    repo.write("src/lib.rs", "changed later\n");
    repo.write("src/deep/mod.rs", "changed later\n");
    repo.write("src/deep/extra.rs", "added later\n");
    repo.write("README.md", "changed later\n");
    repo.run_ok(&["restore", "@", "--", "src/lib.rs"]);
    let now = repo.fingerprint(ignored);
    assert_eq!(now["src/lib.rs"], snapshot["src/lib.rs"]);
    assert_eq!(now["README.md"].0, b"changed later\n");
    assert_eq!(now["src/deep/mod.rs"].0, b"changed later\n");

    // A directory, given relative to a subdirectory: recursive, and files
    // the snapshot lacks are removed inside it only.
    let mut cmd = repo.cmd();
    cmd.current_dir(repo.abs("src"));
    let out = cmd.args(["restore", "@~1", "deep"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = repo.fingerprint(ignored);
    assert_eq!(now["src/deep/mod.rs"], snapshot["src/deep/mod.rs"]);
    assert!(!now.contains_key("src/deep/extra.rs"));
    assert_eq!(now["README.md"].0, b"changed later\n");

    let out = repo
        .cmd()
        .args(["restore", "@", "--", "no/such/path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not match"));
}

#[test]
fn dry_run_changes_nothing_and_restore_is_undoable() {
    let repo = repo_with_work();
    let first = repo.snap("manual");
    repo.write("src/lib.rs", "second version\n");
    repo.remove("docs");
    repo.write("later.txt", "later\n");
    repo.snap("manual");
    let current = repo.fingerprint(|_| false);
    let refs = repo.git(&["for-each-ref"]);
    let state = repo.user_state();

    let out = repo.run_ok(&["restore", first.id.as_deref().unwrap(), "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("would restore"), "{text}");
    assert!(text.contains("create docs/guide.md"), "{text}");
    assert!(text.contains("delete later.txt"), "{text}");
    assert_eq!(repo.fingerprint(|_| false), current);
    assert_eq!(repo.git(&["for-each-ref"]), refs);
    assert_eq!(repo.user_state(), state);

    let json: Value = repo.json(&["restore", first.id.as_deref().unwrap()]);
    assert_eq!(json["deleted"], serde_json::json!(["later.txt"]));
    assert!(json["created"]
        .as_array()
        .unwrap()
        .contains(&"docs/guide.md".into()));
    assert_eq!(json["failed"], serde_json::json!([]));
    // The snapshot's state, except ignored files, which were left alone.
    assert!(repo.abs("build/out.o").exists() && repo.abs("app.log").exists());
    let after = repo.user_state();
    assert_eq!(after.index, state.index);
    assert_eq!(
        (&after.head, &after.branches),
        (&state.head, &state.branches)
    );

    // `restore @` right after a restore undoes it (the latest snapshot is
    // the safety snapshot, unless nothing needed saving).
    repo.run_ok(&["restore", "@"]);
    assert_eq!(repo.fingerprint(|_| false), current);
    repo.assert_fsck_clean();
}

/// A restore of many paths lists every one of them, with line counts for
/// the first 200 (counting reads and diffs both versions of each file) and
/// a note saying so.
#[test]
fn a_large_plan_lists_every_path_and_counts_lines_for_the_first_200() {
    let repo = TestRepo::new();
    for i in 0..250 {
        repo.write(&format!("f{i:03}.txt"), "one\n");
    }
    repo.commit_all("files");
    for i in 0..250 {
        repo.write(&format!("f{i:03}.txt"), "one\ntwo\n");
    }
    let out = repo.run_ok(&["restore", "HEAD", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  modify "))
        .collect();
    assert_eq!(listed.len(), 250, "{text}");
    assert!(
        listed[..200].iter().all(|l| l.ends_with(" +0 -1")),
        "{text}"
    );
    assert!(listed[200..].iter().all(|l| l.ends_with(".txt")), "{text}");
    assert!(
        text.contains("(line counts for the first 200 of 250 paths)"),
        "{text}"
    );
}

/// A commit whose tree holds `entries` (name, mode, blob content), written
/// as raw objects so nothing validates the names.
fn crafted_commit(repo: &TestRepo, entries: &[(&[u8], &str, &[u8])]) -> String {
    let r = git2::Repository::open(repo.path()).unwrap();
    let odb = r.odb().unwrap();
    let tree = raw_tree(&odb, entries);
    let sig = git2::Signature::now("evil", "evil@example.com").unwrap();
    let tree = r.find_tree(tree).unwrap();
    r.commit(None, &sig, &sig, "crafted", &tree, &[])
        .unwrap()
        .to_string()
}

/// `entries`: (name, mode, content); a mode of `40000` takes the content as
/// the hex id of a subtree.
fn raw_tree(odb: &git2::Odb<'_>, entries: &[(&[u8], &str, &[u8])]) -> git2::Oid {
    let mut bytes = Vec::new();
    for (name, mode, content) in entries {
        let id = if *mode == "40000" {
            git2::Oid::from_str(std::str::from_utf8(content).unwrap()).unwrap()
        } else {
            odb.write(git2::ObjectType::Blob, content).unwrap()
        };
        bytes.extend_from_slice(mode.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend_from_slice(id.as_bytes());
    }
    odb.write(git2::ObjectType::Tree, &bytes).unwrap()
}

#[test]
fn hostile_trees_are_refused_and_nothing_is_written_outside() {
    let repo = TestRepo::new();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("init");
    let outside = tempfile::tempdir().unwrap();
    let r = git2::Repository::open(repo.path()).unwrap();
    let odb = r.odb().unwrap();
    let hooks = raw_tree(
        &odb,
        &[(b"post-checkout", "100755", b"#!/bin/sh\necho pwned\n")],
    );
    let dot_git = raw_tree(&odb, &[(b"hooks", "40000", hooks.to_string().as_bytes())]);
    let escape = format!("{}/evil", outside.path().display());
    type Entry = (Vec<u8>, &'static str, Vec<u8>);
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        (
            "dot-dot",
            vec![(b"..".to_vec(), "40000", dot_git.to_string().into_bytes())],
        ),
        (
            "dot-dot name",
            vec![(b"../evil".to_vec(), "100644", b"x".to_vec())],
        ),
        (
            "absolute",
            vec![(escape.clone().into_bytes(), "100644", b"x".to_vec())],
        ),
        (
            ".git",
            vec![(b".git".to_vec(), "40000", dot_git.to_string().into_bytes())],
        ),
        (
            ".GIT",
            vec![(b".GIT".to_vec(), "40000", dot_git.to_string().into_bytes())],
        ),
    ];
    let before = repo.fingerprint(|_| false);
    for (name, entries) in cases {
        let mut all: Vec<(&[u8], &str, &[u8])> = vec![(b"aaa-innocent.txt", "100644", b"hi\n")];
        all.extend(
            entries
                .iter()
                .map(|(n, m, c)| (n.as_slice(), *m, c.as_slice())),
        );
        all.sort_by(|a, b| a.0.cmp(b.0));
        let commit = crafted_commit(&repo, &all);
        for extra in [&[][..], &["--dry-run"][..]] {
            let out = repo
                .cmd()
                .args(["restore", &commit])
                .args(extra)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("refusing to restore"), "{name}: {err}");
        }
        assert_eq!(
            repo.fingerprint(|_| false),
            before,
            "{name}: something was written"
        );
        assert!(!repo.abs(".git/hooks/post-checkout").exists(), "{name}");
        assert_eq!(
            std::fs::read_dir(outside.path()).unwrap().count(),
            0,
            "{name}"
        );
    }

    // An ignored symlink to a directory outside, and a snapshot that puts a
    // file "inside" it: the write is refused, the rest is restored.
    repo.write(".gitignore", "out\n");
    std::os::unix::fs::symlink(outside.path(), repo.abs("out")).unwrap();
    let inner = raw_tree(&odb, &[(b"pwned.txt", "100644", b"pwned\n")]);
    let commit = crafted_commit(
        &repo,
        &[
            (b".gitignore", "100644", b"out\n"),
            (b"keep.txt", "100644", b"keep, restored\n"),
            (b"out", "40000", inner.to_string().as_bytes()),
        ],
    );
    let out = repo.cmd().args(["restore", &commit]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_to_string(repo.abs("keep.txt")).unwrap(),
        "keep, restored\n"
    );
}

#[test]
fn restore_handles_type_changes_and_line_ending_filters() {
    let repo = TestRepo::new();
    repo.write("a", "file that becomes a directory\n");
    repo.write("d/x", "directory that becomes a file\n");
    repo.write("crlf.txt", "one\ntwo\n");
    repo.write(".gitattributes", "*.txt text eol=crlf\n");
    repo.commit_all("init");
    repo.git(&["rm", "-q", "--cached", "crlf.txt"]);
    repo.git(&["add", "crlf.txt"]);
    repo.commit_all("renormalize");
    // Let git write the file as checkout does (CRLF in the work tree).
    repo.remove("crlf.txt");
    repo.git(&["checkout", "--", "crlf.txt"]);
    repo.write("untracked.txt", "so that there is something to snapshot\n");
    let s1 = repo.snap("manual");
    let before = repo.fingerprint(|_| false);
    repo.remove("a");
    repo.write("a/inner", "now a dir\n");
    repo.remove("d");
    repo.write("d", "now a file\n");
    std::fs::remove_file(repo.abs("crlf.txt")).unwrap();
    repo.snap("manual");
    let s1 = s1.id.unwrap();
    repo.run_ok(&["restore", &s1]);
    assert_eq!(repo.fingerprint(|_| false), before);
    // The file came back with the work tree's line endings, as git writes it.
    assert_eq!(
        std::fs::read(repo.abs("crlf.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
    let fp: Fingerprint = repo.fingerprint(|_| false);
    assert!(fp.contains_key("d/x"));
}

/// Issue 15 item 19: a backslash is an ordinary character in a Unix file
/// name; such files are restored (byte-identical) like any other.
#[test]
fn backslash_in_a_file_name_is_restored() {
    let repo = TestRepo::new();
    repo.write("keep.txt", "base\n");
    repo.commit_all("base");
    repo.write_bytes(b"a\\b.txt", b"backslash\n");
    repo.write_bytes(b"dir\\x/y.txt", b"in a backslash dir\n");
    repo.write("plain.txt", "plain\n");
    let snap: serde_json::Value =
        serde_json::from_slice(&repo.run_ok(&["snap", "--json"]).stdout).unwrap();
    let id = snap["id"].as_str().unwrap().to_owned();
    std::fs::remove_file(repo.abs("a\\b.txt")).unwrap();
    std::fs::remove_dir_all(repo.abs("dir\\x")).unwrap();
    std::fs::remove_file(repo.abs("plain.txt")).unwrap();
    recover_yes(&repo);
    assert_eq!(std::fs::read(repo.abs("a\\b.txt")).unwrap(), b"backslash\n");
    assert_eq!(
        std::fs::read(repo.abs("dir\\x/y.txt")).unwrap(),
        b"in a backslash dir\n"
    );
    assert_eq!(std::fs::read(repo.abs("plain.txt")).unwrap(), b"plain\n");
    // And a path restore of just that file.
    repo.write_bytes(b"a\\b.txt", b"damaged\n");
    repo.run_ok(&["restore", &id, "--", "a\\b.txt"]);
    assert_eq!(std::fs::read(repo.abs("a\\b.txt")).unwrap(), b"backslash\n");
}

/// Issue 16 item 12: NTFS and HFS+ spellings of `.git`, and `.gitmodules`,
/// `.gitattributes`, `.gitignore` as symbolic links (which git refuses in
/// a tree), refuse the whole restore — and recover — before anything is
/// written; as regular files those names restore normally.
#[test]
fn git_dir_spellings_and_symlinked_git_dotfiles_are_refused() {
    let repo = TestRepo::new();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("init");
    let outside = tempfile::tempdir().unwrap();
    let r = git2::Repository::open(repo.path()).unwrap();
    let odb = r.odb().unwrap();
    let hooks = raw_tree(
        &odb,
        &[(b"post-checkout", "100755", b"#!/bin/sh\necho pwned\n")],
    );
    let dot_git = raw_tree(&odb, &[(b"hooks", "40000", hooks.to_string().as_bytes())]);
    let dot_git = dot_git.to_string().into_bytes();
    let link_target = format!("{}/attrs", outside.path().display()).into_bytes();
    let mut cases: Vec<(Vec<u8>, &str, Vec<u8>)> = [
        &b"git~1"[..],
        b"GIT~1",
        b".git.",
        b".GIT.",
        b".git ",
        b".git::$INDEX_ALLOCATION",
        ".g\u{200c}it".as_bytes(),
        ".\u{200d}GIT".as_bytes(),
        ".git\u{feff}".as_bytes(),
    ]
    .iter()
    .map(|n| (n.to_vec(), "40000", dot_git.clone()))
    .collect();
    for name in [
        &b".gitmodules"[..],
        b".gitattributes",
        b".gitignore",
        b".GITIGNORE",
        b"gitmod~1",
    ] {
        cases.push((name.to_vec(), "120000", link_target.clone()));
    }
    let chain = "refs/savepoint/heads/main";
    let before = repo.fingerprint(|_| false);
    for (name, mode, content) in &cases {
        let shown = String::from_utf8_lossy(name).into_owned();
        let mut all: Vec<(&[u8], &str, &[u8])> = vec![
            (b"aaa-innocent.txt", "100644", b"hi\n"),
            (name.as_slice(), mode, content.as_slice()),
        ];
        all.sort_by(|a, b| a.0.cmp(b.0));
        let commit = crafted_commit(&repo, &all);
        // Whether it arrives as a snapshot to restore or as the chain's tip
        // (a fetched chain) that recover would bring back.
        for args in [
            vec!["restore", commit.as_str(), "--dry-run"],
            vec!["recover", "--yes"],
            vec!["restore", commit.as_str()],
        ] {
            repo.git(&["update-ref", chain, &commit]);
            let out = repo.cmd().args(&args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{shown} {args:?}: {err}");
            assert!(
                err.contains("refusing to restore"),
                "{shown} {args:?}: {err}"
            );
            assert_eq!(
                repo.fingerprint(|_| false),
                before,
                "{shown} {args:?}: something was written"
            );
        }
        assert!(!repo.abs(".git/hooks/post-checkout").exists(), "{shown}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
    // As regular files those names are ordinary and restored.
    let commit = crafted_commit(
        &repo,
        &[
            (b".gitattributes", "100644", b"*.bin binary\n"),
            (b".gitignore", "100644", b"*.o\n"),
            (b"keep.txt", "100644", b"keep\n"),
        ],
    );
    repo.run_ok(&["restore", &commit]);
    assert_eq!(
        std::fs::read(repo.abs(".gitignore")).unwrap(),
        b"*.o\n".to_vec()
    );
}

/// Issue 16 item 9: a blob above the streaming threshold (8 MiB) goes from
/// `git cat-file` straight into the file instead of through memory, and
/// comes back byte-identical, exec bit included.
#[test]
fn large_blobs_are_streamed_and_restored_byte_identical() {
    let repo = TestRepo::new();
    repo.write("small.txt", "small\n");
    repo.commit_all("init");
    // 9 MiB that do not repeat in short cycles.
    // Attribute filters are possible here, but none applies to big.bin.
    repo.write(".gitattributes", "*.txt text eol=crlf\n");
    repo.commit_all("attributes");
    let mut big = Vec::with_capacity(9 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while big.len() < (9 << 20) + 123 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(format!("{x:016x}\n").as_bytes());
    }
    std::fs::write(repo.abs("big.bin"), &big).unwrap();
    repo.chmod("big.bin", 0o755);
    // One that git converts (LF → CRLF): through `git cat-file --filters`.
    std::fs::write(repo.abs("big.txt"), &big).unwrap();
    let snap = repo.snap("manual").id.unwrap();
    // As git checks it out: CRLF line endings.
    let big_txt: Vec<u8> = big
        .split(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .join(&b"\r\n"[..]);
    std::fs::write(repo.abs("big.bin"), "overwritten\n").unwrap();
    std::fs::write(repo.abs("big.txt"), "overwritten\n").unwrap();
    repo.chmod("big.bin", 0o644);
    let out = repo
        .cmd()
        .env("SAVEPOINT_LOG", "savepoint=debug")
        .args(["restore", &snap])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("big.bin") && l.contains("how=Stream")),
        "the streaming path was not taken:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains("big.txt") && l.contains("how=Filtered")),
        "the filtered path was not taken:\n{err}"
    );
    let restored_txt = std::fs::read(repo.abs("big.txt")).unwrap();
    assert!(restored_txt == big_txt, "big.txt differs after the restore");
    assert!(
        restored_txt.windows(2).any(|w| w == b"\r\n"),
        "not converted"
    );
    let restored = std::fs::read(repo.abs("big.bin")).unwrap();
    assert!(restored == big, "big.bin differs after the restore");
    assert_eq!(
        repo.git(&["hash-object", "big.bin"]).trim(),
        repo.git(&["rev-parse", &format!("{snap}:big.bin")]).trim()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(repo.abs("big.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o100, 0, "exec bit lost");
    // Removed entirely, then restored: the create path streams too.
    std::fs::remove_file(repo.abs("big.bin")).unwrap();
    repo.run_ok(&["restore", &snap, "--", "big.bin"]);
    assert!(std::fs::read(repo.abs("big.bin")).unwrap() == big);
    repo.assert_fsck_clean();
}

/// A blob a partial clone never fetched is restored through git, which
/// fetches it from the promisor remote (libgit2 cannot), as checkout would.
#[test]
fn restore_in_a_partial_clone_fetches_missing_blobs_through_git() {
    let upstream = TestRepo::new();
    upstream.write("old.txt", "only in history\n");
    upstream.commit_all("old");
    upstream.remove("old.txt");
    upstream.write("a.txt", "current\n");
    upstream.commit_all("current");
    upstream.git(&["config", "uploadpack.allowFilter", "true"]);
    let clone = TestRepo {
        dir: tempfile::tempdir().unwrap(),
        home: tempfile::tempdir().unwrap(),
    };
    let url = format!("file://{}", upstream.path().display());
    clone.git(&["clone", "-q", "--filter=blob:none", &url, "."]);
    let old = clone.git(&["rev-parse", "HEAD~1:old.txt"]);
    let missing = clone.git(&["rev-list", "--objects", "--missing=print", "--all"]);
    assert!(missing.contains(&format!("?{}", old.trim())), "{missing}");
    clone.run_ok(&["restore", "HEAD~1", "--", "old.txt"]);
    assert_eq!(
        std::fs::read_to_string(clone.abs("old.txt")).unwrap(),
        "only in history\n"
    );
}

// ---------------------------------------------------------------------
// Issue 18: the everyday story with a watcher running, as the README's
// Quick start sets it up (`savepoint watch --detach`).

const MAIN: &str = "refs/savepoint/heads/main";

use crate::common::DetachedWatcher;

/// Run savepoint; the user's index, HEAD and branches must be byte for
/// byte what they were before. Returns (exit code, stdout, stderr).
fn run_untouched(repo: &TestRepo, args: &[&str]) -> (Option<i32>, String, String) {
    let before = repo.user_state();
    let out = repo.cmd().args(args).output().expect("run savepoint");
    let after = repo.user_state();
    assert_eq!(after.index, before.index, "{args:?} touched the index");
    assert_eq!(after.head, before.head, "{args:?} touched HEAD");
    assert_eq!(after.branches, before.branches, "{args:?} touched a branch");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`run_untouched`] that must succeed; its stdout.
fn ok_untouched(repo: &TestRepo, args: &[&str]) -> String {
    let (code, out, err) = run_untouched(repo, args);
    assert_eq!(code, Some(0), "savepoint {args:?} failed:\n{out}\n{err}");
    out
}

/// Committed files, then work in progress: a modified tracked file, a new
/// file, a modified file in `src/`.
fn repo_for_the_story() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(".gitignore", "*.log\n");
    repo.write("a.txt", "committed a\n");
    repo.write("src/lib.rs", "pub fn committed() {}\n");
    repo.write("README.md", "# story\n");
    repo.commit_all("init");
    repo
}

fn do_wip(repo: &TestRepo) {
    repo.write("a.txt", "work in progress on a\n");
    repo.write("new.txt", "a new file\n");
    repo.write("src/lib.rs", "pub fn wip() {}\n");
}

/// The loss of the issue: `rm new.txt; git checkout -- .`.
fn lose_it(repo: &TestRepo) {
    repo.remove("new.txt");
    repo.git(&["checkout", "--", "."]);
}

/// Issue 18 item 1: with a watcher running, the restored state is
/// recorded within a second, so `restore @` names the restored state
/// itself; `savepoint undo` puts back what the restore replaced (only the
/// paths it changed: later edits elsewhere stay), shows its plan, needs
/// `--yes` without a terminal, and a second `undo` redoes.
#[test]
fn issue18_undo_puts_back_what_a_restore_replaced_with_a_watcher_running() {
    let repo = repo_for_the_story();
    let w = DetachedWatcher::start(&repo);
    do_wip(&repo);
    w.wait_recorded("the first work");
    let first = repo.rev(MAIN);
    repo.write("a.txt", "second version of a\n");
    repo.write("src/lib.rs", "pub fn second() {}\n");
    repo.write("later.txt", "made later\n");
    w.wait_recorded("the second work");
    let before_restore = repo.fingerprint(|p| p.ends_with(".log"));

    let restore_out = ok_untouched(&repo, &["restore", &first]);
    let restored = repo.fingerprint(|p| p.ends_with(".log"));
    assert_eq!(restored["a.txt"].0, b"work in progress on a\n");
    assert!(!restored.contains_key("later.txt"));
    w.wait_recorded("the restored state");
    // What the issue saw: `restore @` is the restored state now.
    let out = ok_untouched(&repo, &["restore", "@"]);
    assert!(out.contains("nothing to restore"), "{out}");
    assert!(
        restore_out.contains("undo with: savepoint undo"),
        "{restore_out}"
    );

    // Edits after the restore: a new file and a file the restore left alone.
    repo.write("notes.txt", "written after the restore\n");
    repo.write("README.md", "# story, edited after the restore\n");
    w.wait_recorded("edits after the restore");
    let mut expected = before_restore.clone();
    expected.insert(
        "notes.txt".into(),
        (b"written after the restore\n".to_vec(), false),
    );
    expected.insert(
        "README.md".into(),
        (b"# story, edited after the restore\n".to_vec(), false),
    );

    // The plan, changing nothing (no snapshot either).
    let now = repo.fingerprint(|p| p.ends_with(".log"));
    let refs = repo.git(&["for-each-ref"]);
    let out = ok_untouched(&repo, &["undo", "--dry-run"]);
    assert!(out.contains("undo the restore of"), "{out}");
    assert!(out.contains("modify a.txt"), "{out}");
    assert!(out.contains("create later.txt"), "{out}");
    assert!(
        !out.contains("notes.txt") && !out.contains("README.md"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    assert_eq!(repo.fingerprint(|p| p.ends_with(".log")), now);
    assert_eq!(
        repo.git(&["for-each-ref"]),
        refs,
        "a dry run recorded something"
    );
    // No terminal, no --yes: refused, nothing changed.
    let (code, out, err) = run_untouched(&repo, &["undo"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("savepoint undo --yes"), "{err}");
    assert_eq!(repo.fingerprint(|p| p.ends_with(".log")), now);

    let out = ok_untouched(&repo, &["undo", "--yes"]);
    assert!(out.contains("`savepoint undo` again redoes it"), "{out}");
    assert_eq!(repo.fingerprint(|p| p.ends_with(".log")), expected, "{out}");
    w.wait_recorded("the undone state");

    // A second undo redoes; --json is valid JSON saying what it undid.
    let (code, out, err) = run_untouched(&repo, &["undo", "--yes", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let json: Value = serde_json::from_str(&out).expect("undo --json is JSON");
    assert_eq!(json["undoes"]["command"], "undo", "{json}");
    assert_eq!(json["dry_run"], false);
    assert!(
        json["deleted"]
            .as_array()
            .unwrap()
            .contains(&"later.txt".into()),
        "{json}"
    );
    let redone = repo.fingerprint(|p| p.ends_with(".log"));
    assert_eq!(redone["a.txt"], restored["a.txt"]);
    assert_eq!(redone["src/lib.rs"], restored["src/lib.rs"]);
    assert!(!redone.contains_key("later.txt"));
    assert_eq!(
        redone["notes.txt"], expected["notes.txt"],
        "edits since were kept"
    );
    assert_eq!(
        redone["README.md"], expected["README.md"],
        "edits since were kept"
    );
    drop(w);
    repo.assert_fsck_clean();
}

/// Issue 18 item 2: after a recover, the same loss again is a new loss.
/// `recover` brings the work back again — with no watcher, with a watcher
/// that recorded the damage (and maybe not the recovered state before it),
/// and with one that recorded the recovered state first — and right after
/// each recover there is nothing left to recover.
#[test]
fn issue18_a_loss_after_a_recover_is_recovered_again() {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Setup {
        NoWatcher,
        WatcherSawTheDamage,
        WatcherSawTheRecoveredStateFirst,
    }
    for setup in [
        Setup::NoWatcher,
        Setup::WatcherSawTheDamage,
        Setup::WatcherSawTheRecoveredStateFirst,
    ] {
        let repo = repo_for_the_story();
        let w = (setup != Setup::NoWatcher).then(|| DetachedWatcher::start(&repo));
        let recorded = |what: &str| match &w {
            Some(w) => {
                w.wait_recorded(what);
            }
            None => {
                repo.snap("manual");
            }
        };
        do_wip(&repo);
        recorded("the work");
        let work = repo.fingerprint(|p| p.ends_with(".log"));
        let mut outputs = Vec::new();
        for round in 1..=3 {
            lose_it(&repo);
            assert_ne!(repo.fingerprint(|p| p.ends_with(".log")), work);
            if let Some(w) = &w {
                w.wait_recorded("the damage");
            }
            let out = ok_untouched(&repo, &["recover", "--yes"]);
            assert_eq!(
                repo.fingerprint(|p| p.ends_with(".log")),
                work,
                "{setup:?}, round {round}:\n{out}"
            );
            outputs.push(out);
            let out = ok_untouched(&repo, &["recover", "--yes"]);
            assert!(
                out.contains("nothing to recover"),
                "{setup:?} round {round}: {out}"
            );
            if setup == Setup::WatcherSawTheRecoveredStateFirst {
                w.as_ref().unwrap().wait_recorded("the recovered state");
            }
        }
        for out in &outputs {
            assert!(out.contains("undo with: savepoint undo"), "{out}");
        }
        // `undo` of the last recover gives the damaged state back: it is
        // the undo of that recover, as it says.
        let out = ok_untouched(&repo, &["undo", "--yes"]);
        assert!(out.contains("as before the recover"), "{out}");
        assert!(!repo.abs("new.txt").exists(), "{out}");
        drop(w);
        repo.assert_fsck_clean();
    }
}

/// Issue 18 item 7: when `recover` searches back past snapshots taken on
/// the current HEAD, it says that HEAD moved since the snapshot it uses.
#[test]
fn issue18_recover_says_head_moved_when_it_searches_back() {
    let repo = repo_for_the_story();
    let w = DetachedWatcher::start(&repo);
    do_wip(&repo);
    repo.write("unrelated.txt", "committed later\n");
    w.wait_recorded("the work");
    let base = repo.rev("HEAD");
    // HEAD moves (a commit of a file the snapshot already has: the tree
    // stays as recorded), then the work is lost and the watcher records
    // the loss on the new HEAD.
    repo.git(&["add", "unrelated.txt"]);
    repo.git(&["commit", "-q", "-m", "unrelated"]);
    lose_it(&repo);
    w.wait_recorded("the damage");
    let out = ok_untouched(&repo, &["recover", "--dry-run"]);
    assert!(out.contains("already matches the work tree"), "{out}");
    assert!(out.contains("HEAD moved since that snapshot"), "{out}");
    assert!(out.contains(&base[..12]), "{out}");
}

/// Issue 18 item 4: the Quick start's `diff @{1h}` and `restore @{1h} --
/// src/` on a chain younger than an hour mean the state the chain began
/// from — HEAD's commit then, or no files on an unborn branch — and say so
/// on stderr, while `--json` output stays valid.
#[test]
fn issue18_a_time_older_than_the_chain_means_the_state_it_began_from() {
    for unborn in [false, true] {
        let repo = TestRepo::new();
        if !unborn {
            repo.write("src/lib.rs", "pub fn committed() {}\n");
            repo.write("README.md", "# committed\n");
            repo.commit_all("init");
        }
        let w = DetachedWatcher::start(&repo);
        repo.write("src/lib.rs", "pub fn changed() {}\n");
        repo.write("src/new.rs", "pub fn new() {}\n");
        repo.write("README.md", "# changed\n");
        w.wait_recorded("the work");

        let (code, out, err) = run_untouched(&repo, &["diff", "@{1h}"]);
        assert_eq!(code, Some(0), "unborn: {unborn}\n{err}");
        assert!(err.contains("before the first snapshot"), "{err}");
        assert!(out.contains("+pub fn new() {}"), "{out}");
        assert!(out.contains("+pub fn changed() {}"), "{out}");
        if unborn {
            assert!(err.contains("no files"), "{err}");
            assert!(!out.contains("-pub fn committed"), "{out}");
        } else {
            assert!(err.contains(&repo.rev("HEAD")[..12]), "{err}");
            assert!(out.contains("-pub fn committed() {}"), "{out}");
        }

        let (code, out, err) = run_untouched(&repo, &["restore", "@{1h}", "--json", "--", "src/"]);
        assert_eq!(code, Some(0), "unborn: {unborn}\n{err}");
        assert!(err.contains("before the first snapshot"), "{err}");
        let json: Value = serde_json::from_str(&out).expect("restore --json is JSON");
        assert!(
            json["deleted"]
                .as_array()
                .unwrap()
                .contains(&"src/new.rs".into()),
            "{json}"
        );
        assert!(!repo.abs("src/new.rs").exists());
        if unborn {
            assert!(!repo.abs("src/lib.rs").exists());
        } else {
            assert_eq!(
                std::fs::read_to_string(repo.abs("src/lib.rs")).unwrap(),
                "pub fn committed() {}\n"
            );
        }
        // Only src/: the rest is as it was.
        assert_eq!(
            std::fs::read_to_string(repo.abs("README.md")).unwrap(),
            "# changed\n"
        );
        // And undone, the watcher having recorded the restore.
        w.wait_recorded("the restored state");
        ok_untouched(&repo, &["undo", "--yes"]);
        assert_eq!(
            std::fs::read_to_string(repo.abs("src/new.rs")).unwrap(),
            "pub fn new() {}\n"
        );
        drop(w);
        repo.assert_fsck_clean();
    }
}

/// The record of the last restore is a cache: a record of savepoint 0.1,
/// or a damaged one, is ignored — `undo` falls back to the latest safety
/// snapshot (and says so), `recover` still works — never a crash.
#[test]
fn issue18_an_old_or_damaged_restore_record_is_ignored() {
    let repo = repo_for_the_story();
    do_wip(&repo);
    let work = repo.snap("manual").id.unwrap();
    repo.write("a.txt", "after the snapshot\n");
    ok_untouched(&repo, &["restore", &work]);
    let record = repo.abs(".git/savepoint/last-restore.json");
    let tip = repo.rev(MAIN);
    for content in [
        format!(r#"{{"ref":"{MAIN}","tip":"{tip}"}}"#),
        "not json".to_owned(),
        format!(
            r#"{{"format":2,"ref":"{MAIN}","kind":"restore","time":0,"target":"é","safety":"ééééééééééééé","before":"x","after":"y","head":null}}"#
        ),
    ] {
        std::fs::write(&record, &content).unwrap();
        let out = ok_untouched(&repo, &["undo", "--dry-run"]);
        assert!(
            out.contains("no record of the last restore"),
            "{content}: {out}"
        );
        assert!(out.contains("modify a.txt"), "{content}: {out}");
        let (code, _, err) = run_untouched(&repo, &["recover", "--dry-run"]);
        assert_eq!(code, Some(0), "{content}: {err}");
    }
    ok_untouched(&repo, &["undo", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(repo.abs("a.txt")).unwrap(),
        "after the snapshot\n"
    );
}

// ---------------------------------------------------------------------
// Issue 20 item 4: restores stream and write in parallel.

/// Pseudo-random bytes that do not repeat in short cycles (cheap to make,
/// not compressible to nothing).
fn noise(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A 64 MiB file comes back through `restore` and then `recover` with
/// savepoint's data segment limited to 16 MiB (`ulimit -d`, which counts
/// every heap and anonymous allocation): memory stays flat in the file's
/// size, with attribute filters possible in the repository.
#[test]
fn a_large_file_restores_and_recovers_with_memory_far_below_its_size() {
    let repo = TestRepo::new();
    repo.write(".gitattributes", "*.txt text eol=lf\n");
    repo.write("small.txt", "small\n");
    let big = noise(64 << 20);
    std::fs::write(repo.abs("big.dat"), &big).unwrap();
    repo.commit_all("init");
    let limited = |args: &[&str]| {
        let out = repo
            .cmd_after_shell("ulimit -d 16384")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "savepoint {args:?} under a 16 MiB data limit failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(repo.abs("big.dat"), "overwritten\n").unwrap();
    limited(&["restore", "HEAD"]);
    assert!(std::fs::read(repo.abs("big.dat")).unwrap() == big);
    std::fs::remove_file(repo.abs("big.dat")).unwrap();
    limited(&["recover", "--yes"]);
    assert!(std::fs::read(repo.abs("big.dat")).unwrap() == big);
}

/// Every file of `tree` as git checks it out (a temporary index, then
/// `git checkout-index --prefix`), against the work tree: content, exec
/// bit, symlink target. Returns the number of paths compared.
fn assert_equals_git_checkout(repo: &TestRepo, tree: &str) -> usize {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let prefix = format!("{}/out/", tmp.path().display());
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .env("GIT_INDEX_FILE", &index)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["read-tree", tree]);
    git(&["checkout-index", "-a", "-f", &format!("--prefix={prefix}")]);
    let listing = git(&["ls-files", "-s"]);
    let mut n = 0;
    for line in listing.lines() {
        let (meta, path) = line.split_once('\t').unwrap();
        let mode = meta.split(' ').next().unwrap();
        let ours = repo.abs(path);
        let theirs = std::path::Path::new(&prefix).join(path);
        let (m_ours, m_theirs) = (
            std::fs::symlink_metadata(&ours).unwrap_or_else(|e| panic!("{path}: {e}")),
            std::fs::symlink_metadata(&theirs).unwrap(),
        );
        if mode == "120000" {
            assert!(m_ours.file_type().is_symlink(), "{path} is no symlink");
            assert_eq!(
                std::fs::read_link(&ours).unwrap(),
                std::fs::read_link(&theirs).unwrap(),
                "{path}"
            );
        } else {
            assert!(m_ours.is_file(), "{path} is no file");
            assert!(
                std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
                "{path}: content differs from git's checkout"
            );
            assert_eq!(
                m_ours.permissions().mode() & 0o100,
                m_theirs.permissions().mode() & 0o100,
                "{path}: exec bit"
            );
        }
        n += 1;
    }
    n
}

/// `restore HEAD` with the debug log on (it says how each blob was
/// written); its stderr, after asserting it succeeded.
fn restore_head_logged(repo: &TestRepo) -> String {
    let out = repo
        .cmd()
        .env("SAVEPOINT_LOG", "savepoint=debug")
        .args(["restore", "HEAD"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// A restore of hundreds of files in dozens of directories (written by
/// several threads) leaves exactly what `git checkout-index` writes for
/// the same tree — line endings per attribute, exec bits, symlinks — and
/// only files git converts go through git: the others are written from
/// the object store as they are.
#[test]
fn parallel_restore_of_many_directories_equals_git_checkout() {
    let repo = TestRepo::new();
    repo.write(
        ".gitattributes",
        "*.crlf text eol=crlf\n*.lf text eol=lf\n*.auto text=auto\n*.raw -text\n",
    );
    for d in 0..30 {
        for f in 0..10 {
            let ext = ["crlf", "lf", "auto", "raw", "txt"][f % 5];
            let rel = format!("d{d:02}/sub{}/f{f}.{ext}", d % 3);
            repo.write(&rel, &format!("line one {d} {f}\nline two\n"));
            if f == 7 {
                repo.chmod(&rel, 0o755);
            }
        }
        std::os::unix::fs::symlink(
            format!("sub{}/f0.crlf", d % 3),
            repo.abs(format!("d{d:02}/link")),
        )
        .unwrap();
    }
    repo.write("nested/a/b/c/deep.crlf", "deep\n");
    repo.commit_all("many");
    // The files as git checks them out (CRLF where the attributes say).
    for d in 0..30 {
        std::fs::remove_dir_all(repo.abs(format!("d{d:02}"))).unwrap();
    }
    std::fs::remove_dir_all(repo.abs("nested")).unwrap();
    repo.git(&["checkout", "--", "."]);
    let before = repo.user_state();
    // Change everything: delete a third, rewrite the rest, flip exec bits,
    // retarget links, replace a directory by a file.
    for d in 0..30 {
        for f in 0..10 {
            let ext = ["crlf", "lf", "auto", "raw", "txt"][f % 5];
            let rel = format!("d{d:02}/sub{}/f{f}.{ext}", d % 3);
            match (d + f) % 3 {
                0 => repo.remove(&rel),
                1 => repo.write(&rel, "changed\r\n"),
                _ => repo.chmod(&rel, if f == 7 { 0o644 } else { 0o755 }),
            }
        }
        let link = repo.abs(format!("d{d:02}/link"));
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("elsewhere", &link).unwrap();
    }
    std::fs::remove_dir_all(repo.abs("nested")).unwrap();
    repo.write("nested", "a file now\n");
    let err = restore_head_logged(&repo);
    assert!(
        repo.user_state() == before,
        "index, HEAD or branches changed"
    );
    assert_eq!(assert_equals_git_checkout(&repo, "HEAD"), 1 + 30 * 11 + 1);
    let status = repo.git(&["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
    // How each file was written: git converts only `eol=crlf` here.
    let how = |path: &str| {
        err.lines()
            .find(|l| l.contains(&format!("path={path} ")))
            .unwrap_or_else(|| panic!("{path} was not written:\n{err}"))
            .to_owned()
    };
    assert!(
        how("d00/sub0/f1.lf").contains("how=Memory"),
        "{}",
        how("d00/sub0/f1.lf")
    );
    assert!(how("d00/sub0/f3.raw").contains("how=Memory"));
    assert!(how("d01/sub1/f2.auto").contains("how=Memory"));
    // LF → CRLF is done without git.
    assert!(how("d01/sub1/f0.crlf").contains("how=Memory(Crlf"));
    assert!(how("nested/a/b/c/deep.crlf").contains("how=Memory(Crlf"));
    assert!(!err.contains("how=Filtered"), "{err}");
}

/// LF → CRLF on the way out is done by savepoint itself (git's
/// `crlf_to_worktree`), so it must write what git writes for every kind of
/// content — lone CRs, CRLFs already there, NULs, a trailing ^Z, no final
/// newline — under every attribute and `core.autocrlf`/`core.eol` setting
/// that asks for CRLF. Random contents (fixed seeds), compared with
/// `git checkout-index` byte for byte; none of them may go through git.
#[test]
fn crlf_output_written_without_git_equals_git_checkout_for_random_content() {
    const EXTS: [(&str, &str); 6] = [
        ("tc", "text eol=crlf"),
        ("ac", "text=auto eol=crlf"),
        ("t", "text"),
        ("a", "text=auto"),
        ("o", "crlf"),
        ("n", ""),
    ];
    let configs: [&[(&str, &str)]; 4] = [
        &[],
        &[("core.autocrlf", "true")],
        &[("core.eol", "crlf")],
        &[("core.autocrlf", "input"), ("core.eol", "crlf")],
    ];
    for (round, config) in configs.iter().enumerate() {
        let repo = TestRepo::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ round as u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut files = Vec::new();
        for i in 0..120 {
            let (ext, _) = EXTS[i % EXTS.len()];
            let len = (next() % 40) as usize;
            // Mostly text, sometimes the bytes that change git's mind.
            let content: Vec<u8> = (0..len)
                .map(|_| match next() % 16 {
                    0..=6 => b'a',
                    7..=10 => b'\n',
                    11 | 12 => b'\r',
                    13 => 0,
                    14 => 0x1a,
                    _ => b'\t',
                })
                .collect();
            let rel = format!("d{}/f{i}.{ext}", i % 7);
            repo.write_bytes(rel.as_bytes(), &content);
            files.push(rel);
        }
        // The blobs hold the bytes as written: no attributes at commit.
        repo.commit_all("raw contents");
        let attrs: String = EXTS
            .iter()
            .map(|(ext, a)| format!("*.{ext} {a}\n"))
            .collect();
        repo.write(".gitattributes", &attrs);
        repo.git(&["add", ".gitattributes"]);
        repo.git(&["commit", "-q", "-m", "attributes"]);
        for (k, v) in *config {
            repo.git(&["config", k, v]);
        }
        // As git writes it under this config (it is not restored).
        repo.remove(".gitattributes");
        repo.git(&["checkout", "--", ".gitattributes"]);
        for d in 0..7 {
            std::fs::remove_dir_all(repo.abs(format!("d{d}"))).unwrap();
        }
        let err = restore_head_logged(&repo);
        assert!(!err.contains("how=Filtered"), "{config:?}: {err}");
        assert_eq!(
            assert_equals_git_checkout(&repo, "HEAD"),
            files.len() + 1,
            "{config:?}"
        );
    }
}

/// A restore records the state it left (`last-restore.json`'s `after`)
/// without reading back what it wrote as the blob's own bytes, with or
/// without a watcher running. That state is still exactly
/// git's `add -A` tree of the work tree it left: under line-ending rules
/// that do not touch content without a CR, that do touch a blob with CRLFs
/// (rules added after the snapshot, so the blob kept them), with
/// `eol=crlf` files written converted, exec bits, symlinks and binary
/// content.
#[test]
fn the_state_a_restore_leaves_is_gits_add_all_of_it() {
    for ((autocrlf, attrs), watched) in [
        ("false", ""),
        ("true", ""),
        ("false", "* text=auto\n*.bat eol=crlf\n"),
        ("input", "*.txt text\n*.bin -text\n"),
    ]
    .into_iter()
    .flat_map(|c| [(c, false), (c, true)])
    {
        let repo = TestRepo::new();
        repo.git(&["config", "core.autocrlf", "false"]);
        repo.write("lf.txt", "committed\n");
        repo.commit_all("init");
        repo.write("lf.txt", "one\ntwo\n");
        repo.write("crlf.txt", "one\r\ntwo\r\n");
        repo.write("lone.txt", "one\rtwo\n");
        repo.write("x.bat", "@echo off\nrem\n");
        repo.write("run.sh", "#!/bin/sh\n");
        repo.chmod("run.sh", 0o755);
        repo.write_bytes(b"data.bin", b"\0\x01\r\n\xff\n");
        repo.symlink("lf.txt", "link");
        repo.write("deep/dir/new.txt", "new\n");
        let snap = repo.snap("manual").id.unwrap();
        // Rules that apply from now on, and a changed work tree.
        repo.git(&["config", "core.autocrlf", autocrlf]);
        std::fs::write(repo.abs(".git/info/attributes"), attrs).unwrap();
        for f in [
            "lf.txt", "crlf.txt", "lone.txt", "x.bat", "run.sh", "data.bin",
        ] {
            repo.write(f, "changed\n");
        }
        repo.remove("deep/dir/new.txt");
        std::fs::remove_file(repo.abs("link")).unwrap();
        let w = watched.then(|| DetachedWatcher::start(&repo));
        ok_untouched(&repo, &["restore", &snap]);
        drop(w);
        let record: Value = serde_json::from_slice(
            &std::fs::read(repo.abs(".git/savepoint/last-restore.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            record["after"].as_str(),
            Some(repo.oracle_tree().as_str()),
            "autocrlf={autocrlf} attributes {attrs:?} watcher: {watched}"
        );
    }
}

/// Whether a restore converts line endings is decided by the attribute
/// files above the paths it writes — in the snapshot or in the work tree,
/// however far up, and only those (no walk of the whole tree). Each
/// restored alone, they come back as `git checkout-index` writes them: with
/// CRLF a file three levels below an unchanged `.gitattributes`, one beside
/// a `.gitattributes` only the snapshot has, one beside a `.gitattributes`
/// only the work tree has (new since, and left in place); with LF a file
/// elsewhere.
#[test]
fn attribute_files_above_the_restored_paths_decide_their_conversion() {
    let repo = TestRepo::new();
    repo.write("a/.gitattributes", "*.txt eol=crlf\n");
    repo.write("a/b/c/far.txt", "committed\n");
    repo.commit_all("init");
    for file in [
        "a/b/c/far.txt",
        "x/y/near.txt",
        "q/new.txt",
        "other/plain.txt",
    ] {
        repo.write(file, "one\ntwo\n");
    }
    repo.write("x/y/.gitattributes", "*.txt eol=crlf\n");
    let snap = repo.snap("manual").id.unwrap();
    repo.remove("x/y/.gitattributes");
    repo.write("q/.gitattributes", "*.txt eol=crlf\n");
    for (scope, file, want) in [
        ("a/b/c/far.txt", "a/b/c/far.txt", "one\r\ntwo\r\n"),
        ("x/y", "x/y/near.txt", "one\r\ntwo\r\n"),
        ("q/new.txt", "q/new.txt", "one\r\ntwo\r\n"),
        ("other", "other/plain.txt", "one\ntwo\n"),
    ] {
        repo.write(file, "changed\n");
        ok_untouched(&repo, &["restore", &snap, "--", scope]);
        assert_eq!(
            std::fs::read_to_string(repo.abs(file)).unwrap(),
            want,
            "{file}"
        );
    }
}
