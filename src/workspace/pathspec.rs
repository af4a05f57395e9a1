//! Path arguments (`restore <snap> -- <path>…`, `diff -- <path>…`, `show`,
//! `log`) as work-tree-relative paths, read the way git reads them:
//! relative to the directory the command runs in (`-C`), or absolute (also
//! through a symbolic link to the work tree); a path that leaves the work
//! tree, or names the git dir, is an error. One reading for every command
//! that takes paths.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::Workspace;
use crate::error::{Error, Result};

/// The path argument `p` (relative to `cwd`, or absolute) as a
/// work-tree-relative path: `/`-separated bytes, empty for the work tree's
/// root. The path need not exist.
pub fn resolve(ws: &Workspace, cwd: &Path, p: &Path) -> Result<Vec<u8>> {
    let base = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let workdir = ws.workdir();
    let root = workdir
        .canonicalize()
        .unwrap_or_else(|_| workdir.to_path_buf());
    let lexical = normalize(&base.join(p));
    let inside = lexical
        .strip_prefix(&root)
        .ok()
        .map(Path::to_path_buf)
        .or_else(|| {
            // An absolute path through a symbolic link to the work tree.
            let real = lexical.canonicalize().ok()?;
            real.strip_prefix(&root).ok().map(Path::to_path_buf)
        });
    let Some(rel) = inside else {
        return Err(Error::OutsideWorkTree {
            path: p.to_path_buf(),
            workdir: root,
        });
    };
    if rel.components().next() == Some(Component::Normal(".git".as_ref())) {
        return Err(Error::InGitDir {
            path: p.to_path_buf(),
        });
    }
    Ok(rel.as_os_str().as_bytes().to_vec())
}

/// Path arguments as a scope: each one [`resolve`]d; empty (the whole
/// work tree) when there are none or one names the work tree's root.
pub fn scope(ws: &Workspace, cwd: &Path, paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let mut scope = paths
        .iter()
        .map(|p| resolve(ws, cwd, p))
        .collect::<Result<Vec<_>>>()?;
    if scope.iter().any(Vec::is_empty) {
        scope.clear(); // the work tree's root: everything
    }
    Ok(scope)
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
