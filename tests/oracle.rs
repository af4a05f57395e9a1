//! Differential tests: savepoint's snapshot tree must equal what
//! `git add -A && git write-tree` produces (computed in a throwaway index),
//! over randomized mutation sequences — for the full scan, for re-scans with
//! a warm stat cache, and for the incremental changed-paths API. The
//! sequences also rewrite `.gitattributes` files (root and nested: text,
//! eol, a `filter.upper.clean = tr a-z A-Z` driver) and toggle
//! `core.autocrlf`, so content conversions and the stat cache's reaction
//! to rule changes are checked against git too.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use common::TestRepo;
use proptest::prelude::*;
use savepoint::config::Config;
use savepoint::snapshot::{Engine, ScanOptions};

/// Path components chosen to collide often and to cover odd names.
const NAMES: &[&[u8]] = &[
    b"a",
    b"b.txt",
    b"dir",
    b"sub dir",
    "ünï cødé".as_bytes(),
    b"x.log",
    b"keep.log",
    b"build",
    b"-dash",
    b"\xff\xfe-latin1",
    b"tmp.tmp",
];

const IGNORE_LINES: &[&str] = &[
    "*.log",
    "!keep.log",
    "build/",
    "/a",
    "dir/*",
    "*.tmp",
    "sub*",
    "!sub dir/",
    "ü*",
    "b.txt",
];

const CONTENTS: &[&str] = &[
    "",
    "one\n",
    "two\n",
    "#!/bin/sh\necho hi\n",
    "line\r\nwith crlf\r\n",
    "mixed\r\nEnds\n",
    "nul\0binary\r\n",
];

const ATTR_LINES: &[&str] = &[
    "*.txt text",
    "*.log -text",
    "* text=auto",
    "b.txt eol=lf",
    "*.txt eol=crlf",
    "x.log filter=upper",
    "*.tmp filter=upper",
    "dir/** text",
    "a binary",
    "b.txt filter=upper",
    "sub* -text",
    "[attr]up filter=upper text",
    "keep.log up",
    "* -text",
    "/a !text",
];

const AUTOCRLF: &[Option<&str>] = &[None, Some("true"), Some("false"), Some("input")];

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<u8>, usize),
    Append(Vec<u8>),
    Delete(Vec<u8>),
    Rename(Vec<u8>, Vec<u8>),
    Chmod(Vec<u8>, bool),
    Symlink(Vec<u8>, Vec<u8>),
    Mkdir(Vec<u8>),
    Ignore(Vec<u8>, Vec<usize>),
    Exclude(Vec<usize>),
    Attributes(Vec<u8>, Vec<usize>),
    AutoCrlf(usize),
    Commit,
}

fn rel_path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..NAMES.len(), 1..=3).prop_map(|idx| {
        let parts: Vec<&[u8]> = idx.iter().map(|&i| NAMES[i]).collect();
        parts.join(&b'/')
    })
}

fn dir_path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..NAMES.len(), 0..=2).prop_map(|idx| {
        let parts: Vec<&[u8]> = idx.iter().map(|&i| NAMES[i]).collect();
        parts.join(&b'/')
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (rel_path(), 0..CONTENTS.len()).prop_map(|(p, c)| Op::Write(p, c)),
        2 => rel_path().prop_map(Op::Append),
        2 => rel_path().prop_map(Op::Delete),
        2 => (rel_path(), rel_path()).prop_map(|(a, b)| Op::Rename(a, b)),
        2 => (rel_path(), any::<bool>()).prop_map(|(p, x)| Op::Chmod(p, x)),
        1 => (rel_path(), rel_path()).prop_map(|(p, t)| Op::Symlink(p, t)),
        1 => rel_path().prop_map(Op::Mkdir),
        2 => (dir_path(), prop::collection::vec(0..IGNORE_LINES.len(), 0..4)).prop_map(|(d, l)| Op::Ignore(d, l)),
        1 => prop::collection::vec(0..IGNORE_LINES.len(), 0..3).prop_map(Op::Exclude),
        2 => (dir_path(), prop::collection::vec(0..ATTR_LINES.len(), 0..4)).prop_map(|(d, l)| Op::Attributes(d, l)),
        1 => (0..AUTOCRLF.len()).prop_map(Op::AutoCrlf),
        2 => Just(Op::Commit),
    ]
}

fn os(p: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(p)
}

/// Make room for `rel`: any ancestor that is not a directory is removed.
fn clear_ancestors(root: &std::path::Path, rel: &[u8]) {
    let mut end = 0;
    while let Some(pos) = rel[end..].iter().position(|&b| b == b'/') {
        let a = root.join(os(&rel[..end + pos]));
        if let Ok(m) = std::fs::symlink_metadata(&a) {
            if !m.is_dir() {
                std::fs::remove_file(&a).unwrap();
            }
        }
        end += pos + 1;
    }
}

/// Does `rel` lead through a symlinked directory? Then an op on it
/// changes a file elsewhere than the path reported, unlike a real watcher
/// event: such ops are skipped.
fn via_symlink(root: &std::path::Path, rel: &[u8]) -> bool {
    let mut end = 0;
    while let Some(pos) = rel[end..].iter().position(|&b| b == b'/') {
        let a = root.join(os(&rel[..end + pos]));
        if std::fs::symlink_metadata(&a).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
        end += pos + 1;
    }
    false
}

fn remove_any(p: &std::path::Path) {
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if m.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
}

/// Apply an op; returns the paths it touched (what a watcher would report).
/// `None` means "rules changed: rescan everything".
fn apply(repo: &TestRepo, op: &Op) -> Option<Vec<PathBuf>> {
    let root = repo.path();
    let touched = |p: &[u8]| PathBuf::from(os(p));
    let redirected = match op {
        Op::Append(p) | Op::Delete(p) | Op::Chmod(p, _) => via_symlink(root, p),
        Op::Rename(a, b) => via_symlink(root, a) || via_symlink(root, b),
        _ => false,
    };
    if redirected {
        return Some(vec![]);
    }
    match op {
        Op::Write(p, c) => {
            clear_ancestors(root, p);
            let abs = root.join(os(p));
            if abs.is_dir() && !abs.is_symlink() {
                std::fs::remove_dir_all(&abs).unwrap();
            } else if abs.is_symlink() {
                std::fs::remove_file(&abs).unwrap();
            }
            std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
            std::fs::write(&abs, CONTENTS[*c]).unwrap();
            Some(vec![touched(p)])
        }
        Op::Append(p) => {
            let abs = root.join(os(p));
            if std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_file()) {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().append(true).open(&abs).unwrap();
                f.write_all(b"more\n").unwrap();
            }
            Some(vec![touched(p)])
        }
        Op::Delete(p) => {
            remove_any(&root.join(os(p)));
            Some(vec![touched(p)])
        }
        Op::Rename(a, b) => {
            let (from, to) = (root.join(os(a)), root.join(os(b)));
            if std::fs::symlink_metadata(&from).is_err() || b.starts_with(a) || a.starts_with(b) {
                return Some(vec![]);
            }
            clear_ancestors(root, b);
            remove_any(&to);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::rename(&from, &to).unwrap();
            Some(vec![touched(a), touched(b)])
        }
        Op::Chmod(p, exec) => {
            use std::os::unix::fs::PermissionsExt;
            let abs = root.join(os(p));
            if std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_file()) {
                let mode = if *exec { 0o755 } else { 0o644 };
                std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            Some(vec![touched(p)])
        }
        Op::Symlink(p, t) => {
            clear_ancestors(root, p);
            let abs = root.join(os(p));
            remove_any(&abs);
            std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(os(t), &abs).unwrap();
            Some(vec![touched(p)])
        }
        Op::Mkdir(p) => {
            clear_ancestors(root, p);
            let abs = root.join(os(p));
            if std::fs::symlink_metadata(&abs).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&abs).unwrap();
            }
            std::fs::create_dir_all(&abs).unwrap();
            Some(vec![touched(p)])
        }
        Op::Ignore(d, lines) => {
            let mut rel = d.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(b".gitignore");
            clear_ancestors(root, &rel);
            let abs = root.join(os(&rel));
            remove_any(&abs);
            std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
            let text: Vec<&str> = lines.iter().map(|&i| IGNORE_LINES[i]).collect();
            std::fs::write(&abs, text.join("\n") + "\n").unwrap();
            None
        }
        Op::Exclude(lines) => {
            let text: Vec<&str> = lines.iter().map(|&i| IGNORE_LINES[i]).collect();
            std::fs::create_dir_all(root.join(".git/info")).unwrap();
            std::fs::write(root.join(".git/info/exclude"), text.join("\n") + "\n").unwrap();
            None
        }
        Op::Attributes(d, lines) => {
            let mut rel = d.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(b".gitattributes");
            clear_ancestors(root, &rel);
            let abs = root.join(os(&rel));
            remove_any(&abs);
            std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
            let text: Vec<&str> = lines.iter().map(|&i| ATTR_LINES[i]).collect();
            std::fs::write(&abs, text.join("\n") + "\n").unwrap();
            // The engine itself must notice that this path is special.
            Some(vec![touched(&rel)])
        }
        Op::AutoCrlf(i) => {
            match AUTOCRLF[*i] {
                Some(v) => {
                    repo.git(&["config", "core.autocrlf", v]);
                }
                None => {
                    // Exit 5 when it was not set: fine.
                    repo.git_output(&["config", "--unset-all", "core.autocrlf"], None);
                }
            }
            None
        }
        Op::Commit => {
            repo.commit_all("c");
            Some(vec![])
        }
    }
}

/// A test repository with the `upper` clean filter configured.
fn new_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.git(&["config", "filter.upper.clean", "tr a-z A-Z"]);
    repo
}

fn engine(repo: &TestRepo) -> (savepoint::repo::Workspace, Engine) {
    let ws = repo.workspace();
    let cfg = Config::load(ws.repo()).unwrap();
    let e = Engine::new(&ws, ScanOptions::from_config(&cfg)).unwrap();
    (ws, e)
}

fn cases() -> u32 {
    std::env::var("SAVEPOINT_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(224)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Full scans (cold, then with a warm stat cache) equal the oracle after
    /// every step of a random mutation sequence.
    #[test]
    fn full_scan_matches_git_add_all(ops in prop::collection::vec(op(), 1..14), v4 in any::<bool>()) {
        let repo = new_repo();
        if v4 {
            repo.git(&["config", "index.version", "4"]);
        }
        let (ws, mut eng) = engine(&repo);
        for (i, op) in ops.iter().enumerate() {
            apply(&repo, op);
            if i % 3 == 2 || i + 1 == ops.len() {
                let ours = eng.scan(&ws).unwrap().tree.to_string();
                prop_assert_eq!(&ours, &repo.oracle_tree(), "after {:?}", &ops[..=i]);
            }
        }
        // A fresh engine (stat cache from disk) agrees as well.
        let (ws2, mut eng2) = engine(&repo);
        prop_assert_eq!(eng2.scan(&ws2).unwrap().tree.to_string(), repo.oracle_tree());
    }

    /// Incremental updates from the touched paths equal the oracle.
    #[test]
    fn incremental_update_matches_git_add_all(
        setup in prop::collection::vec(op(), 0..8),
        ops in prop::collection::vec(op(), 1..10),
    ) {
        let repo = new_repo();
        for op in &setup {
            apply(&repo, op);
        }
        let (ws, mut eng) = engine(&repo);
        let mut base = eng.scan(&ws).unwrap().tree;
        for (i, op) in ops.iter().enumerate() {
            let next = match apply(&repo, op) {
                Some(paths) => eng.update(&ws, base, &paths).unwrap().tree,
                None => eng.scan(&ws).unwrap().tree,
            };
            prop_assert_eq!(next.to_string(), repo.oracle_tree(), "after setup {:?} then {:?}", &setup, &ops[..=i]);
            base = next;
        }
    }
}

/// Regression (issue 15, flaky `incremental_update_matches_git_add_all`):
/// a path reported through a symlinked directory (`keep.log/b.txt` with
/// `keep.log -> dir`, as a hook passes the path the agent used) changed
/// `dir/b.txt`; the incremental update must see the real file.
#[test]
fn incremental_update_through_a_symlinked_directory_matches_git() {
    let repo = TestRepo::new();
    repo.write("dir/b.txt", "b\n");
    repo.write("dir/c.txt", "c\n");
    repo.symlink("dir", "keep.log");
    let (ws, mut eng) = engine(&repo);
    let base = eng.scan(&ws).unwrap().tree;
    std::fs::remove_file(repo.abs("keep.log/b.txt")).unwrap();
    std::fs::write(repo.abs("keep.log/c.txt"), "changed\n").unwrap();
    let paths = [
        PathBuf::from("keep.log/b.txt"),
        PathBuf::from("keep.log/c.txt"),
    ];
    let next = eng.update(&ws, base, &paths).unwrap().tree;
    assert_eq!(next.to_string(), repo.oracle_tree());
}
