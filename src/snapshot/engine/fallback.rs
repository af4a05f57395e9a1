//! When savepoint cannot read the user's index (a newer index version or an
//! unknown mandatory extension — split and sparse indexes are read by
//! [`super::index`]), compute the snapshot tree with the git CLI instead:
//! `git add -A --sparse` into a throwaway copy of the index, then
//! `git write-tree`. Slower, and `savepoint.maxFileSize` /
//! `savepoint.exclude` cannot apply, but the user's index is never written.
//! `copy_index` is shared with `squash`, which prepares the new index aside.

use std::path::Path;
use std::time::Instant;

use git2::Oid;

use super::{ScanStats, TreeOutcome};
use crate::error::{Error, Result};
use crate::git::command::GitCmd;
use crate::workspace::Workspace;

/// Run a git command for `ws` with the given index file.
fn git(ws: &Workspace, index: &Path, args: &[&str]) -> Result<String> {
    GitCmd::new(ws.git_dir(), ws.workdir())
        .config("core.splitIndex", "false")
        .config("index.sparse", "false")
        .config("core.fsmonitor", "false")
        .index_file(index)
        .args(args)
        .run_text()
}

/// Copy an index file keeping its mtime. git decides which entries are
/// "racily clean" (same-second modifications it must re-read) by comparing
/// them with the index file's mtime; a copy with a fresh mtime would make git
/// trust stale stat data and record old content.
pub fn copy_index(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map_err(|e| Error::io("copy the index to", to, e))?;
    let mtime = std::fs::metadata(from)
        .and_then(|m| m.modified())
        .map_err(|e| Error::io("stat", from, e))?;
    std::fs::File::options()
        .write(true)
        .open(to)
        .and_then(|f| f.set_modified(mtime))
        .map_err(|e| Error::io("set the mtime of", to, e))
}

/// Full snapshot tree via the git CLI.
pub fn scan_with_git_cli(ws: &Workspace, started: Instant) -> Result<TreeOutcome> {
    let state = ws.state().ensure()?;
    let tmp = state.join(format!("fallback-index.{}", std::process::id()));
    let user_index = ws.index_path();
    let result = (|| {
        if user_index.exists() {
            copy_index(&user_index, &tmp)?;
        }
        // `--sparse`: record what is present outside a sparse checkout's
        // cone too, instead of refusing. A git dir inside the work tree is
        // left out, as the walk does.
        let excludes: Vec<String> = ws
            .git_dirs_inside()
            .iter()
            .map(|d| format!(":(top,exclude,literal){}", String::from_utf8_lossy(d)))
            .collect();
        let mut add = vec!["add", "-A", "--sparse"];
        if !excludes.is_empty() {
            add.extend(["--", ":(top)"]);
            add.extend(excludes.iter().map(String::as_str));
        }
        git(ws, &tmp, &add)?;
        let hex = git(ws, &tmp, &["write-tree"])?;
        Oid::from_str(&hex).map_err(|_| Error::GitCli {
            args: "write-tree".into(),
            stderr: format!("unexpected output {hex:?}"),
        })
    })();
    let _ = std::fs::remove_file(&tmp);
    let tree = result?;
    Ok(TreeOutcome {
        tree,
        skipped: Vec::new(),
        stats: ScanStats {
            used_git_cli: true,
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
        // git wrote the objects; flush the whole object store's filesystem.
        written: Vec::new(),
    })
}
