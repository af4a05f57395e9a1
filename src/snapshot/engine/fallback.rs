//! When savepoint cannot read the user's index (a newer index version or an
//! unknown mandatory extension — split and sparse indexes are read by
//! [`super::index`]), compute the snapshot tree with the git CLI instead:
//! `git add -A --sparse` into a throwaway copy of the index, then
//! `git write-tree`. Slower, and `savepoint.maxFileSize` /
//! `savepoint.exclude` cannot apply, but the user's index is never written.

use std::path::Path;
use std::time::Instant;

use git2::Oid;

use super::{ScanStats, TreeOutcome};
use crate::error::{Error, Result};
use crate::git::command::GitCmd;
use crate::git::index_file::copy_index;
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

/// Full snapshot tree via the git CLI.
pub(crate) fn scan_with_git_cli(ws: &Workspace, started: Instant) -> Result<TreeOutcome> {
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
