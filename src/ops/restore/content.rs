//! Blob content as git would check it out: raw from the object store
//! when git would not change it (small blobs through libgit2, large ones
//! streamed from `git cat-file`), LF → CRLF here when that is all git
//! would do to a small blob, through git's smudge side (`git cat-file
//! --filters`) otherwise — which [`super::smudge`] decides for a whole
//! restore at once. Never a whole large blob in savepoint's memory.

use std::io::Write;
use std::path::Path;

use git2::{Oid, Repository, Tree};

use super::smudge::Smudge;
use crate::git::command::GitCmd;
use crate::git::treediff::Leaf;

/// Blobs larger than this are streamed from `git cat-file` into the file
/// instead of being read whole into memory (libgit2 inflates a loose blob
/// whole; a fetched chain may hold blobs of many GiB).
pub const STREAM_THRESHOLD: usize = 8 << 20;

/// Blob contents as they belong in the work tree. One per writer thread:
/// it reads through that thread's own repository handle.
pub(super) struct Content<'a> {
    repo: &'a Repository,
    workdir: &'a Path,
    git_dir: &'a Path,
}

/// How a blob reaches its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// Read whole through libgit2 (small), then converted as the
    /// [`Smudge`] says (`None` or `Crlf`).
    Memory(Smudge),
    /// `git cat-file blob`, streamed.
    Stream,
    /// `git cat-file --filters --path=…`, streamed (one process per file:
    /// `--batch --filters` reports the unfiltered size in its header, so
    /// its output cannot be framed).
    Filtered,
}

impl<'a> Content<'a> {
    pub(super) fn new(repo: &'a Repository, workdir: &'a Path, git_dir: &'a Path) -> Self {
        Content {
            repo,
            workdir,
            git_dir,
        }
    }

    /// A symlink's target (always small; never filtered).
    pub(super) fn link_target(&self, leaf: Leaf) -> std::io::Result<Vec<u8>> {
        let blob = self
            .repo
            .find_blob(leaf.oid)
            .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
        Ok(blob.content().to_vec())
    }

    fn fetch(&self, oid: Oid, smudge: Smudge) -> std::io::Result<Fetch> {
        if smudge == Smudge::Git {
            return Ok(Fetch::Filtered);
        }
        let odb = self
            .repo
            .odb()
            .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
        // Not here (a partial clone): git fetches it from the promisor.
        let small = matches!(odb.read_header(oid), Ok((size, _)) if size <= STREAM_THRESHOLD);
        Ok(match smudge {
            _ if small => Fetch::Memory(smudge),
            Smudge::None => Fetch::Stream,
            // Large and converted: git streams it.
            _ => Fetch::Filtered,
        })
    }

    /// Write the content of file `leaf` at `rel` into `out`, converted as
    /// `smudge` says (see [`super::smudge::smudges`]).
    pub(super) fn write_to(
        &self,
        rel: &[u8],
        leaf: Leaf,
        smudge: Smudge,
        out: &mut std::fs::File,
    ) -> std::io::Result<Written> {
        let how = self.fetch(leaf.oid, smudge)?;
        tracing::debug!(path = %String::from_utf8_lossy(rel), ?how, "restoring blob {}", leaf.oid);
        let cmd = match how {
            Fetch::Memory(crlf) => {
                let blob = self
                    .repo
                    .find_blob(leaf.oid)
                    .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
                let converted = match crlf {
                    Smudge::Crlf { auto } => {
                        crate::snapshot::engine::blob::crlf_to_worktree(blob.content(), auto)
                    }
                    _ => None,
                };
                let bytes = converted.as_deref().unwrap_or(blob.content());
                out.write_all(bytes)?;
                return Ok(Written {
                    has_cr: bytes.contains(&b'\r'),
                });
            }
            Fetch::Stream => GitCmd::new(self.git_dir, self.workdir)
                .args(["cat-file", "blob"])
                .arg(leaf.oid.to_string()),
            Fetch::Filtered => GitCmd::new(self.git_dir, self.workdir)
                .args(["cat-file", "--filters"])
                .arg(super::smudge::path_arg(rel))
                .arg(leaf.oid.to_string()),
        };
        stream(cmd, out)?;
        // Not looked at.
        Ok(Written { has_cr: true })
    }
}

/// What [`Content::write_to`] wrote.
pub(super) struct Written {
    /// It may hold a carriage return (`true` when not looked at).
    pub has_cr: bool,
}

/// Run `cmd` with its stdout copied straight into `out`.
fn stream(cmd: GitCmd, out: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::Read;
    use std::process::Stdio;
    let shown = cmd.display();
    let mut child = cmd
        .into_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::other(format!("cannot run git {shown}: {e}")))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    // Drain stderr aside: a chatty filter driver must not block git.
    let errors = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let copied = std::io::copy(&mut stdout, out);
    drop(stdout); // git gets EPIPE if the copy failed
    let status = child.wait();
    let stderr = errors.join().unwrap_or_default();
    copied?;
    let status = status?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "`git {shown}` failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(())
}

/// Does one of `trees` hold a `.gitattributes` in a directory above one of
/// `paths` (so filters may apply to them)? Each directory is looked at
/// once, O(paths × depth) — not a walk of the whole tree, which cost more
/// than a second at a million files.
pub(super) fn has_gitattributes<'p>(
    trees: &[&Tree<'_>],
    paths: impl IntoIterator<Item = &'p [u8]>,
) -> bool {
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    for path in paths {
        // Every directory above `path`, up to the root; above one looked
        // at already, every one was.
        let mut dir = crate::git::path::parent(path);
        while seen.insert(dir) {
            let file = if dir.is_empty() {
                b".gitattributes".to_vec()
            } else {
                [dir, b"/.gitattributes"].concat()
            };
            let at = crate::snapshot::engine::bytes_path(&file);
            if trees.iter().any(|t| t.get_path(at).is_ok()) {
                return true;
            }
            if dir.is_empty() {
                break;
            }
            dir = crate::git::path::parent(dir);
        }
    }
    false
}
