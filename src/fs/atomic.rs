//! The one atomic file writer: every file savepoint replaces (agent
//! settings, git hooks, the watcher's status, pending prompts, caches) is
//! written to a temporary file beside its target, flushed, given its mode
//! and renamed over the target, so a crash leaves the old or the new
//! content, never a torn file.
//!
//! A target that is a symbolic link (dotfile managers link
//! `~/.claude/settings.json` into a repository) is written *through*: the
//! link stays and the file it points to is replaced. An existing file keeps
//! its permission bits (a 0600 file holding an API key stays 0600); a new
//! one gets the mode asked for.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode for new files that hold nothing private.
pub const PUBLIC: u32 = 0o644;
/// Mode for new files that may hold prompts or paths of the user's work.
pub const PRIVATE: u32 = 0o600;

/// Replace `path` with `bytes`; a new file gets `new_mode`, an existing one
/// keeps its mode. Parent directories are created.
pub fn write(path: &Path, bytes: &[u8], new_mode: u32) -> io::Result<()> {
    write_impl(path, bytes, new_mode, false, true)
}

/// `write` without the fsyncs, for caches: a crash may leave the old
/// content (or none), never a torn file; saving stays cheap.
pub fn write_cache(path: &Path, bytes: &[u8], new_mode: u32) -> io::Result<()> {
    write_impl(path, bytes, new_mode, false, false)
}

/// `write` that always sets `mode` (e.g. 0755 for a git hook, 0600 for
/// private state), also on an existing file.
pub fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_impl(path, bytes, mode, true, true)
}

fn write_impl(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    force_mode: bool,
    durable: bool,
) -> io::Result<()> {
    let target = resolve_links(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mode = match std::fs::metadata(&target) {
        Ok(m) if !force_mode => m.permissions().mode() & 0o7777,
        _ => mode,
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".savepoint-tmp")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    // The umask may have narrowed the mode at creation.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    if durable {
        super::durable::sync_file(tmp.as_file())?;
    }
    tmp.persist(&target).map_err(|e| e.error)?;
    if durable {
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = super::durable::sync_file(&d);
        }
    }
    Ok(())
}

/// Follow `path` through symbolic links to the file they name (which may
/// not exist yet); a loop or a chain over 40 links is an error, as for the
/// kernel.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::other(format!(
        "too many levels of symbolic links at {}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn writes_through_symlinks_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/settings.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "{}").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("settings.json");
        std::os::unix::fs::symlink("dotfiles/settings.json", &link).unwrap();
        write(&link, b"{\"a\": 1}", PUBLIC).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"{\"a\": 1}");
        assert_eq!(mode(&real), 0o600);
        // New files get the mode asked for; forcing a mode changes it.
        let new = dir.path().join("new/x");
        write(&new, b"x", PRIVATE).unwrap();
        assert_eq!(mode(&new), 0o600);
        write_with_mode(&new, b"y", 0o755).unwrap();
        assert_eq!(mode(&new), 0o755);
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("made-by-write", &dangling).unwrap();
        write(&dangling, b"z", PUBLIC).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("made-by-write")).unwrap(),
            b"z"
        );
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("dotfiles"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("savepoint-tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn link_loops_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert!(write(&a, b"x", PUBLIC).is_err());
    }
}
