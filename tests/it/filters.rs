//! Content conversions (issue 15, items 3, 4, 5, 10, 16): clean filters and
//! the long-running `process` protocol, `working-tree-encoding`, every
//! attribute source git reads, the stat cache after a rule change, deleted
//! `.gitattributes` files and files that change while they are hashed. Each
//! test compares the snapshot tree with `git add -A && git write-tree`.

use std::time::{Duration, SystemTime};

use crate::common::TestRepo;
use savepoint::snapshot::engine::{Engine, ScanOptions, SkipReason, TreeOutcome};
use savepoint::workspace::config::Config;

fn engine(repo: &TestRepo) -> (savepoint::workspace::Workspace, Engine) {
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let e = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    (ws, e)
}

fn scan(repo: &TestRepo) -> TreeOutcome {
    let (ws, mut e) = engine(repo);
    e.scan(&ws).unwrap()
}

/// Make a file old enough that its stat is trusted (not racy).
fn age(repo: &TestRepo, rel: &str) {
    let f = std::fs::File::options()
        .write(true)
        .open(repo.abs(rel))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(30))
        .unwrap();
}

/// The content of `path` in tree `tree`.
fn blob(repo: &TestRepo, tree: &str, path: &str) -> Vec<u8> {
    let out = repo.git_output(&["cat-file", "blob", &format!("{tree}:{path}")], None);
    assert!(out.status.success(), "{path} not in {tree}");
    out.stdout
}

/// A snapshot through the binary (its environment, `HOME` and
/// `XDG_CONFIG_HOME`, is the test repository's own).
fn snap_tree(repo: &TestRepo) -> String {
    repo.json(&["snap"])["tree"]
        .as_str()
        .expect("tree in snap --json")
        .to_owned()
}

#[test]
fn clean_filter_driver_matches_git() {
    let repo = TestRepo::new();
    repo.git(&["config", "filter.upper.clean", "tr a-z A-Z"]);
    repo.git(&["config", "filter.upper.smudge", "cat"]);
    repo.write(".gitattributes", "*.up filter=upper\n");
    repo.write("a.up", "hello\n");
    repo.write("plain.txt", "hello\n");
    repo.write("dir/b.up", "nested\n");
    repo.write("\"quoted\".up", "quote\n");
    repo.write("new\nline.up", "newline\n");
    let out = scan(&repo);
    let tree = out.tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "a.up"), b"HELLO\n");
    assert_eq!(blob(&repo, &tree, "plain.txt"), b"hello\n");
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    // Modified afterwards: the stat cache must not return the old id.
    std::thread::sleep(Duration::from_millis(20));
    repo.write("a.up", "changed\n");
    assert_eq!(scan(&repo).tree.to_string(), repo.oracle_tree());
}

/// A long-running filter (`filter.<d>.process`, pkt-line protocol v2)
/// that upper-cases on clean and logs each start.
const PROCESS_FILTER: &str = r#"
import sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
with open(sys.argv[1], "a") as log:
    log.write("start\n")
def read_pkt():
    h = inp.read(4)
    if len(h) < 4:
        sys.exit(0)
    n = int(h, 16)
    return None if n == 0 else inp.read(n - 4)
def read_list():
    items = []
    while True:
        p = read_pkt()
        if p is None:
            return items
        items.append(p)
def write_pkt(data):
    out.write(b"%04x" % (len(data) + 4) + data)
def flush():
    out.write(b"0000")
    out.flush()
read_list()
write_pkt(b"git-filter-server\n"); write_pkt(b"version=2\n"); flush()
read_list()
write_pkt(b"capability=clean\n"); flush()
while True:
    meta = read_list()
    content = b"".join(read_list())
    write_pkt(b"status=success\n"); flush()
    data = content.upper()
    for i in range(0, len(data), 65516):
        write_pkt(data[i:i + 65516])
    flush()
    flush()
"#;

#[test]
fn filter_process_protocol_matches_git() {
    let repo = TestRepo::new();
    let script = repo.home.path().join("filter.py");
    std::fs::write(&script, PROCESS_FILTER).unwrap();
    let log = repo.home.path().join("starts.log");
    let cmd = format!("python3 {} {}", script.display(), log.display());
    repo.git(&["config", "filter.proc.process", &cmd]);
    repo.git(&["config", "filter.proc.required", "true"]);
    repo.write(".gitattributes", "*.p filter=proc\n");
    repo.write("a.p", "one\n");
    repo.write("b/c.p", &"big content\n".repeat(20_000));
    repo.write("plain.txt", "plain\n");
    std::fs::write(&log, "").unwrap();
    let out = scan(&repo);
    let tree = out.tree.to_string();
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert_eq!(blob(&repo, &tree, "a.p"), b"ONE\n");
    // One filter process for the whole scan.
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
    assert_eq!(tree, repo.oracle_tree());
}

#[test]
fn required_filter_failure_is_not_raw() {
    let repo = TestRepo::new();
    repo.write("secret.bad", "committed\n");
    repo.write("keep.txt", "keep\n");
    repo.commit_all("init");
    repo.git(&["config", "filter.bad.clean", "false"]);
    repo.git(&["config", "filter.bad.required", "true"]);
    repo.write(".gitattributes", "*.bad filter=bad\n");
    repo.write("secret.bad", "raw, must not be stored\n");
    repo.write("new.bad", "raw too\n");
    repo.write("other.txt", "other\n");
    // git add -A itself refuses ...
    let tmp = tempfile::NamedTempFile::new().unwrap();
    savepoint::git::index_file::copy_index(&repo.abs(".git/index"), tmp.path()).unwrap();
    let add = repo.git_output(&["add", "-A"], Some(tmp.path()));
    assert!(!add.status.success(), "git add -A should fail");
    // ... so the snapshot keeps everything else, the tracked file's indexed
    // content, leaves the untracked one out, and says so.
    let out = scan(&repo);
    let mut skipped: Vec<_> = out
        .skipped
        .iter()
        .map(|s| {
            (
                s.path_lossy(),
                matches!(s.reason, SkipReason::FilterFailed { .. }),
            )
        })
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("new.bad".to_owned(), true),
            ("secret.bad".to_owned(), true)
        ]
    );
    let add = repo.git_output(&["add", "-A", "--", ".", ":!*.bad"], Some(tmp.path()));
    assert!(add.status.success());
    let expected = repo.git_output(&["write-tree"], Some(tmp.path()));
    assert_eq!(
        out.tree.to_string(),
        String::from_utf8_lossy(&expected.stdout).trim()
    );
    assert_eq!(
        blob(&repo, &out.tree.to_string(), "secret.bad"),
        b"committed\n"
    );
}

#[test]
fn working_tree_encoding_matches_git() {
    let repo = TestRepo::new();
    repo.write(
        ".gitattributes",
        "*.u16 text working-tree-encoding=UTF-16\n",
    );
    let mut utf16 = vec![0xff, 0xfe];
    for u in "héllo\r\nwörld\r\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    repo.write_bytes(b"a.u16", &utf16);
    repo.write_bytes(b"raw.bin", &utf16);
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "a.u16"), "héllo\nwörld\n".as_bytes());
}

#[test]
fn nested_untracked_gitattributes_applies() {
    let repo = TestRepo::new();
    repo.git(&["config", "filter.upper.clean", "tr a-z A-Z"]);
    repo.write(".gitattributes", "*.txt -text\n");
    repo.write("sub/.gitattributes", "*.txt text\n*.up filter=upper\n");
    repo.write("sub/deeper/.gitattributes", "b.txt -text\n");
    repo.write("sub/a.txt", "crlf\r\n");
    repo.write("sub/x.up", "upper\n");
    repo.write("sub/deeper/a.txt", "crlf\r\n");
    repo.write("sub/deeper/b.txt", "crlf\r\n");
    repo.write("top.txt", "crlf\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "sub/a.txt"), b"crlf\n");
    assert_eq!(blob(&repo, &tree, "sub/deeper/b.txt"), b"crlf\r\n");
    assert_eq!(blob(&repo, &tree, "sub/x.up"), b"UPPER\n");
}

#[test]
fn info_attributes_applies() {
    let repo = TestRepo::new();
    repo.write(".gitattributes", "*.txt -text\n");
    std::fs::create_dir_all(repo.abs(".git/info")).unwrap();
    std::fs::write(repo.abs(".git/info/attributes"), "*.txt text\n").unwrap();
    repo.write("a.txt", "crlf\r\n");
    repo.write("d/b.txt", "crlf\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "d/b.txt"), b"crlf\n");
}

#[test]
fn core_attributes_file_and_xdg_default_apply() {
    let repo = TestRepo::new();
    repo.write("a.txt", "crlf\r\n");
    repo.write("b.md", "crlf\r\n");
    repo.write("c.txt", "later\r\n");
    // The XDG default ($XDG_CONFIG_HOME/git/attributes).
    let xdg = repo.home.path().join(".config/git");
    std::fs::create_dir_all(&xdg).unwrap();
    std::fs::write(xdg.join("attributes"), "*.txt text\n").unwrap();
    let tree = snap_tree(&repo);
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "a.txt"), b"crlf\n");
    // core.attributesFile replaces the default.
    let custom = repo.home.path().join("my-attributes");
    std::fs::write(&custom, "*.md text\n").unwrap();
    repo.git(&["config", "core.attributesFile", custom.to_str().unwrap()]);
    repo.write("c.txt", "changed\r\n");
    let tree = snap_tree(&repo);
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "b.md"), b"crlf\n");
    assert_eq!(blob(&repo, &tree, "c.txt"), b"changed\r\n");
}

#[test]
fn stat_cache_dropped_after_rule_change() {
    let repo = TestRepo::new();
    repo.write("a.txt", "crlf\r\nlines\r\n");
    repo.write("b.txt", "lower\n");
    repo.write("same.bin", "unrelated\n");
    for f in ["a.txt", "b.txt", "same.bin"] {
        age(&repo, f);
    }
    let check = |what: &str| {
        // A fresh engine each time: the cache comes from disk, as for
        // one-shot `snap` commands.
        let out = scan(&repo);
        assert_eq!(out.tree.to_string(), repo.oracle_tree(), "after {what}");
        out
    };
    check("first scan");
    // Unchanged files come from the stat cache: the test exercises it.
    assert!(check("second scan").stats.from_cache >= 3);

    repo.git(&["config", "core.autocrlf", "true"]);
    check("core.autocrlf=true");
    repo.git(&["config", "core.autocrlf", "false"]);
    check("core.autocrlf=false");
    repo.git(&["config", "core.autocrlf", "input"]);
    check("core.autocrlf=input");
    repo.git(&["config", "--unset", "core.autocrlf"]);
    check("core.autocrlf unset");

    repo.git(&["config", "core.eol", "crlf"]);
    repo.write(".gitattributes", "*.txt eol=lf\n");
    check("eol attribute");
    repo.git(&["config", "--unset", "core.eol"]);
    repo.write(".gitattributes", "*.txt -text\n");
    check(".gitattributes -text");

    repo.write(".gitattributes", "*.txt filter=f\n");
    repo.git(&["config", "filter.f.clean", "tr a-z A-Z"]);
    check("filter config");
    repo.git(&["config", "filter.f.clean", "tr a-z x"]);
    check("filter command changed");
    repo.git(&["config", "--unset", "filter.f.clean"]);
    let out = check("filter removed");
    assert_eq!(blob(&repo, &out.tree.to_string(), "b.txt"), b"lower\n");
}

#[test]
fn deleted_tracked_gitattributes_not_applied() {
    let repo = TestRepo::new();
    repo.write("sub/.gitattributes", "*.txt text\n");
    repo.write("sub/a.txt", "lf\n");
    repo.commit_all("attributes");
    repo.remove("sub/.gitattributes");
    repo.write("sub/a.txt", "now crlf\r\n");
    repo.write("sub/new.txt", "crlf\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "sub/new.txt"), b"crlf\r\n");
    assert_eq!(blob(&repo, &tree, "sub/a.txt"), b"now crlf\r\n");
}

#[test]
fn text_auto_keeps_crlf_already_in_the_index() {
    let repo = TestRepo::new();
    repo.write("a.txt", "crlf\r\n");
    repo.write("b.txt", "lf\n");
    repo.commit_all("crlf committed before the rule");
    repo.write(".gitattributes", "* text=auto\n");
    repo.write("a.txt", "crlf\r\nmore\r\n");
    repo.write("b.txt", "lf\r\nnow crlf\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "a.txt"), b"crlf\r\nmore\r\n");
    assert_eq!(blob(&repo, &tree, "b.txt"), b"lf\nnow crlf\n");
}

#[test]
fn growing_file_while_hashed_does_not_fail_snapshot() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let repo = TestRepo::new();
    repo.write("other.txt", "other\n");
    let line = b"a log line that keeps coming\n";
    let start: Vec<u8> = line.iter().copied().cycle().take(9 << 20).collect();
    repo.write_bytes(b"big.log", &start);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = std::sync::Arc::clone(&stop);
        let path = repo.abs("big.log");
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            // About 2 MB/s: well below savepoint.maxFileSize for the test.
            while !stop.load(Ordering::Relaxed) {
                f.write_all(&line.repeat(64)).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let (ws, mut eng) = engine(&repo);
    let mut trees = Vec::new();
    for _ in 0..4 {
        let out = eng
            .scan(&ws)
            .expect("a growing file never fails the snapshot");
        trees.push(out);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let last = std::fs::read(repo.abs("big.log")).unwrap();
    for out in &trees {
        let tree = out.tree.to_string();
        assert_eq!(blob(&repo, &tree, "other.txt"), b"other\n");
        let skipped = out.skipped.iter().any(|s| s.path == b"big.log");
        if !skipped {
            let stored = blob(&repo, &tree, "big.log");
            assert!(stored.len() >= start.len());
            assert!(last.starts_with(&stored), "a prefix of what was written");
        }
    }
    // Once it stops growing, the snapshot is exact.
    assert_eq!(eng.scan(&ws).unwrap().tree.to_string(), repo.oracle_tree());
}

#[test]
fn attributes_added_in_the_second_of_a_commit_match_git() {
    // git treats index entries modified in the same second as the index
    // write as racy and re-checks their content, with the new rules.
    let repo = TestRepo::new();
    repo.write("b.txt", "mixed\r\nEnds\n");
    repo.commit_all("c");
    repo.write(".gitattributes", "*.txt text\n");
    let tree = scan(&repo).tree.to_string();
    let oracle = repo.oracle_tree();
    assert_eq!(tree, oracle);
}

#[test]
fn filtered_text_auto_keeps_crlf_already_in_the_index() {
    // git hash-object reads no index, so it would turn these CRLFs into
    // LFs; git add keeps them because the indexed blob has CRLFs.
    let repo = TestRepo::new();
    repo.git(&["config", "filter.upper.clean", "tr a-z A-Z"]);
    repo.write("a.up", "one\r\n");
    repo.write("b.up", "lf\n");
    repo.commit_all("before the rule");
    repo.write(".gitattributes", "*.up filter=upper text=auto\n");
    repo.write("a.up", "one\r\ntwo\r\n");
    repo.write("b.up", "lf\r\nnow crlf\r\n");
    repo.write("c.up", "new\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "a.up"), b"ONE\r\nTWO\r\n");
    assert_eq!(blob(&repo, &tree, "b.up"), b"LF\nNOW CRLF\n");
    assert_eq!(blob(&repo, &tree, "c.up"), b"NEW\n");
}

#[test]
fn sparse_skip_worktree_gitattributes_is_read_from_the_index() {
    // Not in the work tree, but a skip-worktree entry: git reads the
    // index copy (and `git add -A` keeps the entry).
    let repo = TestRepo::new();
    repo.write("sub/.gitattributes", "*.txt text\n");
    repo.write("sub/a.txt", "lf\n");
    repo.write("top.txt", "top\n");
    repo.commit_all("init");
    repo.git(&[
        "sparse-checkout",
        "set",
        "--no-cone",
        "/*",
        "!/sub/.gitattributes",
    ]);
    assert!(!repo.abs("sub/.gitattributes").exists());
    repo.write("sub/a.txt", "now crlf\r\n");
    repo.write("sub/b.txt", "new\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "sub/b.txt"), b"new\n");
}

#[test]
fn attribute_patterns_and_ident_match_git() {
    let repo = TestRepo::new();
    repo.write(
        ".gitattributes",
        "a/**/b.txt text\n**/deep.txt text\n[a-c]*.md text\n*.[ch] text\n\
         d/*.txt text\n/rooted.txt text\nnested/ text\n\\!bang.txt text\n\
         x?.txt text\n[[:upper:]]*.up text\n**/foo/** text\n\"sp ace.txt\" text\n\
         *.id ident\n[attr]txt text\nmac.ro txt\n*.bin binary\n",
    );
    let paths = [
        "a/b.txt",
        "a/x/y/b.txt",
        "b.txt",
        "z/deep.txt",
        "deep.txt",
        "b1.md",
        "q.md",
        "m.c",
        "m.h",
        "m.cc",
        "d/in.txt",
        "d/e/in.txt",
        "rooted.txt",
        "sub/rooted.txt",
        "nested/file.txt",
        "!bang.txt",
        "x1.txt",
        "x12.txt",
        "Upper.up",
        "lower.up",
        "p/foo/q/r.txt",
        "foo/r.txt",
        "sp ace.txt",
        "mac.ro",
        "x.bin",
    ];
    for p in paths {
        repo.write(p, "crlf\r\n");
    }
    repo.write("v.id", "$Id: expanded junk $\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
    assert_eq!(blob(&repo, &tree, "v.id"), b"$Id$\r\n");

    // core.ignorecase: patterns match whatever the case.
    repo.git(&["config", "core.ignorecase", "true"]);
    repo.write(".gitattributes", "*.TXT text\nSUB/** text\n");
    repo.write("a/b.txt", "again\r\n");
    repo.write("sub/c.md", "again\r\n");
    repo.write("other.md", "again\r\n");
    let tree = scan(&repo).tree.to_string();
    assert_eq!(tree, repo.oracle_tree());
}
