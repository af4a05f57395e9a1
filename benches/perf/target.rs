//! The repository under test and the files the scenarios change, picked from
//! its own index so the same code serves a generated tree and a real clone.
//! On a real clone (`--repo`) the harness leaves it as it found it: it
//! refuses a dirty work tree or a running watcher, moves savepoint's state
//! and shadow refs aside for the run and puts them back, restores every file
//! it changed and checks `git status --porcelain` is empty at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run::{git, output, run, tool};
use crate::Opts;

pub struct Target {
    pub dir: PathBuf,
    pub savepoint: PathBuf,
    pub repo_mode: bool,
    /// `refs/savepoint/heads/<branch>`.
    pub shadow_ref: String,
    pub head: String,
    pub files: usize,
    pub dirs: usize,
    /// One tracked file as deep as the tree allows (up to depth 4).
    pub one: String,
    /// 1,000 tracked files (fewer on a small tree), neighbours in the index.
    pub burst: Vec<String>,
    /// A few directories holding ~2,500 tracked files, and those files.
    pub restore_dirs: Vec<String>,
    pub restore_files: Vec<String>,
    /// Up to 100,000 tracked files.
    pub many: Vec<String>,
    /// Savepoint state found in the clone, moved aside for the run.
    saved: Option<Saved>,
    /// The object store's packs when the run began.
    packs: Vec<std::ffi::OsString>,
}

struct Saved {
    refs: Vec<(String, String)>,
    state_away: Option<PathBuf>,
    logs_away: Option<PathBuf>,
}

const STATE_AWAY: &str = "savepoint.bench-away";
const LOGS_AWAY: &str = "logs/refs/savepoint.bench-away";

fn git_dir(dir: &Path) -> Result<PathBuf, String> {
    let out = output(git(dir, &["rev-parse", "--absolute-git-dir"]))?;
    Ok(PathBuf::from(out.trim()))
}

/// Is a `savepoint watch` running with its current directory in `dir`?
fn watcher_running_in(dir: &Path) -> Option<u32> {
    let dir = dir.canonicalize().ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_watch = args.first().is_some_and(|a| a.ends_with(b"savepoint"))
            && args.iter().any(|a| *a == b"watch");
        if !is_watch {
            continue;
        }
        // Started in the work tree, or pointed at it with `-C <dir>`.
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        let named = args.iter().any(|a| {
            Path::new(std::ffi::OsStr::from_bytes(a))
                .canonicalize()
                .is_ok_and(|p| p == dir)
        });
        if named || cwd.is_some_and(|c| c.starts_with(&dir)) {
            return Some(pid);
        }
    }
    None
}

impl Target {
    pub fn open(o: &Opts, savepoint: &Path, dir: &Path) -> Result<Target, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let repo_mode = o.repo.is_some();
        let gd = git_dir(&dir)?;
        if repo_mode {
            let dirty = output(git(&dir, &["status", "--porcelain"]))?;
            if !dirty.trim().is_empty() {
                return Err(format!(
                    "the work tree is not clean (`git status --porcelain` lists {} entries); \
                     the harness changes and restores tracked files and needs a clean clone",
                    dirty.lines().count()
                ));
            }
            if let Some(pid) = watcher_running_in(&dir) {
                return Err(format!(
                    "a `savepoint watch` (pid {pid}) runs in this repository; \
                     stop it first (`savepoint stop`)"
                ));
            }
        }
        let branch = output(git(&dir, &["symbolic-ref", "--short", "HEAD"]))
            .map(|s| s.trim().to_owned())
            .map_err(|_| "HEAD is detached; check out a branch".to_owned())?;
        let head = output(git(&dir, &["rev-parse", "--short", "HEAD"]))?
            .trim()
            .to_owned();

        // Regular tracked files, in index order.
        let listing = output(git(&dir, &["ls-files", "-s", "-z"]))?;
        let mut all = Vec::new();
        let mut dirs = BTreeSet::new();
        for rec in listing.split('\0').filter(|r| !r.is_empty()) {
            let Some((meta, path)) = rec.split_once('\t') else {
                continue;
            };
            let mut p = path;
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !dirs.insert(parent.to_owned()) {
                    break;
                }
                p = parent;
            }
            // Only plain files at stage 0 that exist as such on disk.
            if meta.starts_with("100644 ")
                && meta.ends_with(" 0")
                && std::fs::symlink_metadata(dir.join(path)).is_ok_and(|m| m.is_file())
            {
                all.push(path.to_owned());
            }
        }
        if all.is_empty() {
            return Err("no tracked regular files".into());
        }
        let depth = |p: &str| p.matches('/').count();
        let want = all.iter().map(|p| depth(p)).max().unwrap_or(0).min(4);
        let one = all.iter().find(|p| depth(p) >= want).unwrap().clone();
        let burst: Vec<String> = all
            .iter()
            .skip(all.len() / 3)
            .chain(all.iter().take(all.len() / 3))
            .filter(|p| **p != one)
            .take(1000)
            .cloned()
            .collect();
        // ~2,500 files in whole directories (grouped two levels down),
        // starting half-way through the index.
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &all {
            let parts: Vec<&str> = p.split('/').collect();
            if parts.len() < 2 {
                continue;
            }
            let key = parts[..(parts.len() - 1).min(2)].join("/");
            groups.entry(key).or_default().push(p.clone());
        }
        let keys: Vec<&String> = groups.keys().collect();
        let (mut restore_dirs, mut restore_files) = (Vec::new(), Vec::new());
        let wanted = 2500.min(all.len() / 2).max(1);
        for k in keys.iter().skip(keys.len() / 2).chain(keys.iter()) {
            if restore_files.len() >= wanted {
                break;
            }
            let g = &groups[*k];
            let overshoots = restore_files.len() + g.len() > wanted + wanted / 4;
            if restore_dirs.contains(*k) || overshoots || g.contains(&one) {
                continue;
            }
            restore_dirs.push((*k).clone());
            restore_files.extend(g.iter().cloned());
        }
        let many: Vec<String> = all.iter().take(100_000).cloned().collect();

        let shadow_ref = format!("refs/savepoint/heads/{branch}");
        let mut t = Target {
            dir,
            savepoint: savepoint.to_path_buf(),
            repo_mode,
            shadow_ref,
            head,
            files: listing.split('\0').filter(|r| !r.is_empty()).count(),
            dirs: dirs.len(),
            one,
            burst,
            restore_dirs,
            restore_files,
            many,
            saved: None,
            packs: list_packs(&gd),
        };
        if repo_mode {
            // Move the clone's own savepoint state and shadow refs aside.
            let refs = t.savepoint_refs()?;
            let state = gd.join("savepoint");
            let state_away = state.exists().then(|| gd.join(STATE_AWAY));
            if let Some(away) = &state_away {
                if away.exists() {
                    return Err(format!(
                        "{} exists: an earlier bench run did not finish; \
                         move it back to {} by hand",
                        away.display(),
                        state.display()
                    ));
                }
                std::fs::rename(&state, away).map_err(|e| e.to_string())?;
            }
            let logs = gd.join("logs/refs/savepoint");
            let logs_away = logs.exists().then(|| gd.join(LOGS_AWAY));
            if let Some(away) = &logs_away {
                let _ = std::fs::remove_dir_all(away);
                std::fs::rename(&logs, away).map_err(|e| e.to_string())?;
            }
            t.saved = Some(Saved {
                refs,
                state_away,
                logs_away,
            });
        }
        t.reset()?;
        eprintln!(
            "target: {} at {} ({} files, {} dirs); one-file change: {}; burst: {} files; \
             restore: {} files in {} dirs; restore-all: {} files",
            t.dir.display(),
            t.head,
            t.files,
            t.dirs,
            t.one,
            t.burst.len(),
            t.restore_files.len(),
            t.restore_dirs.len(),
            t.many.len()
        );
        Ok(t)
    }

    fn savepoint_refs(&self) -> Result<Vec<(String, String)>, String> {
        let out = output(git(
            &self.dir,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/savepoint/",
            ],
        ))?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, o)| (r.to_owned(), o.to_owned()))
            .collect())
    }

    /// Every shadow ref and savepoint's state gone; tracked files as
    /// committed; the index refreshed and out of git's racy window.
    pub fn reset(&mut self) -> Result<(), String> {
        let gd = git_dir(&self.dir)?;
        if let Some(pid) = watcher_running_in(&self.dir) {
            let _ = run(tool(&self.savepoint, &self.dir, &["stop"]));
            std::thread::sleep(Duration::from_millis(200));
            if watcher_running_in(&self.dir) == Some(pid) {
                // SAFETY: plain kill(2) of the watcher this run started
                // (`open` refused a repository with a watcher of its own).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        run(git(&self.dir, &["checkout", "-q", "--", "."]))?;
        for (r, _) in self.savepoint_refs()? {
            run(git(&self.dir, &["update-ref", "-d", &r]))?;
        }
        let _ = std::fs::remove_dir_all(gd.join("savepoint"));
        let _ = std::fs::remove_dir_all(gd.join("logs/refs/savepoint"));
        self.remove_own_packs(&gd);
        for f in [
            "bench-index",
            "bench-fresh",
            "bench-restore-index",
            "bench-restore-paths",
        ] {
            let _ = std::fs::remove_file(gd.join(f));
        }
        if gd.join("index.bench-away").exists() {
            std::fs::rename(gd.join("index.bench-away"), gd.join("index"))
                .map_err(|e| e.to_string())?;
        }
        // `--refresh`, not `--really-refresh`: a file committed with CRLF
        // under a `text` attribute (netbeans has some) would be re-hashed
        // and show as modified from then on. Its exit code says whether
        // anything is modified; `finish` checks that with `git status`.
        let _ = run(git(&self.dir, &["update-index", "-q", "--refresh"]));
        std::thread::sleep(Duration::from_millis(1100));
        Ok(())
    }

    /// Remove the packs savepoint wrote during the run (its first snapshots,
    /// bursts, restores' safety snapshots): reachable from no ref once the
    /// shadow refs are gone, they would pile up run after run (the
    /// generated trees have `gc.auto=0`) and every object lookup would go
    /// through them. Only while every pack of the start is still there — a
    /// repack meanwhile may have moved anything anywhere.
    fn remove_own_packs(&self, gd: &Path) {
        let now = list_packs(gd);
        if !self.packs.iter().all(|p| now.contains(p)) {
            eprintln!("note: the object store was repacked during the run; its packs are left as they are");
            return;
        }
        let dir = gd.join("objects/pack");
        for name in now.iter().filter(|p| !self.packs.contains(p)) {
            let stem = Path::new(name).with_extension("");
            for ext in ["keep", "bitmap", "rev", "mtimes", "idx", "pack"] {
                let _ = std::fs::remove_file(dir.join(stem.with_extension(ext)));
            }
        }
    }

    /// Reset, put back what the clone had, and check it is clean.
    pub fn finish(&mut self) -> Result<(), String> {
        self.reset()?;
        let gd = git_dir(&self.dir)?;
        let _ = run(git(&self.dir, &["update-ref", "-d", "refs/bench/baseline"]));
        if let Some(saved) = self.saved.take() {
            for (r, id) in &saved.refs {
                run(git(&self.dir, &["update-ref", r, id]))?;
            }
            if let Some(away) = &saved.state_away {
                std::fs::rename(away, gd.join("savepoint")).map_err(|e| e.to_string())?;
            }
            if let Some(away) = &saved.logs_away {
                std::fs::rename(away, gd.join("logs/refs/savepoint")).map_err(|e| e.to_string())?;
            }
        }
        let dirty = output(git(&self.dir, &["status", "--porcelain"]))?;
        if !dirty.trim().is_empty() {
            return Err(format!(
                "the work tree is not clean after the run:\n{}",
                dirty.lines().take(20).collect::<Vec<_>>().join("\n")
            ));
        }
        Ok(())
    }

    pub fn write(&self, rel: &str, content: &str) -> Result<(), String> {
        std::fs::write(self.dir.join(rel), content).map_err(|e| format!("{rel}: {e}"))
    }

    /// Writes `tag` plus the path into each file.
    pub fn write_all(&self, files: &[String], tag: &str) -> Result<(), String> {
        for f in files {
            self.write(f, &format!("{tag} {f}\n"))?;
        }
        Ok(())
    }

    /// A label for the table's heading.
    pub fn name(&self) -> String {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "{name} at {} ({} files, {} directories)",
            self.head, self.files, self.dirs
        )
    }
}

/// The `.pack` files of the object store at `gd`.
fn list_packs(gd: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(gd.join("objects/pack"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "pack"))
        .collect()
}
