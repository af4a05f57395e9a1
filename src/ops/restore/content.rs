//! Blob content as git would check it out: raw through libgit2 when
//! small, streamed from `git cat-file` when large, through git's smudge
//! filters (`core.autocrlf`, `.gitattributes`, filter drivers) when they
//! may apply — never a whole large blob in memory.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{Oid, Repository, Tree};

use crate::git::command::GitCmd;
use crate::git::treediff::Leaf;
use crate::workspace::Workspace;

/// Blobs larger than this are streamed from `git cat-file` into the file
/// instead of being read whole into memory (libgit2 inflates a loose blob
/// whole; a fetched chain may hold blobs of many GiB).
pub const STREAM_THRESHOLD: usize = 8 << 20;

/// Blob contents as they belong in the work tree: raw, or through git's
/// smudge filters (`core.autocrlf`, `.gitattributes`, filter drivers) via
/// `git cat-file --filters` when filters may apply. (One process per file:
/// `--batch --filters` reports the unfiltered size in its header, so its
/// output cannot be framed.) Output of git is streamed into the file, never
/// held whole; so are raw blobs above [`STREAM_THRESHOLD`] (`git cat-file
/// blob`), smaller ones are read through libgit2.
pub(super) struct Content<'a> {
    repo: &'a Repository,
    filters: bool,
    workdir: &'a Path,
    git_dir: &'a Path,
}

/// How a blob reaches its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// Read whole through libgit2 (small, unfiltered).
    Memory,
    /// `git cat-file blob`, streamed.
    Stream,
    /// `git cat-file --filters --path=…`, streamed.
    Filtered,
}

impl<'a> Content<'a> {
    pub(super) fn new(ws: &'a Workspace, filters: bool) -> Self {
        Content {
            repo: ws.repo(),
            filters,
            workdir: ws.workdir(),
            git_dir: ws.git_dir(),
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

    fn fetch(&self, rel: &[u8], oid: Oid) -> std::io::Result<Fetch> {
        let odb = self
            .repo
            .odb()
            .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
        // Not here (a partial clone): git fetches it from the promisor.
        let Ok((size, _)) = odb.read_header(oid) else {
            return Ok(if self.filters {
                Fetch::Filtered
            } else {
                Fetch::Stream
            });
        };
        Ok(match (size > STREAM_THRESHOLD, self.filters) {
            (false, false) => Fetch::Memory,
            (false, true) => Fetch::Filtered,
            (true, false) => Fetch::Stream,
            // `cat-file --filters` holds the whole blob in git's memory:
            // only when git would convert this path.
            (true, true) if self.converts(rel) => Fetch::Filtered,
            (true, true) => Fetch::Stream,
        })
    }

    /// Whether git could change `rel`'s content on checkout, from its
    /// attributes (one `git check-attr`) and `core.autocrlf`/`core.eol`.
    /// No filter driver, `ident` or `working-tree-encoding`, and either
    /// `-text` or no text attribute at all without `core.autocrlf=true` /
    /// `core.eol=crlf`: git writes the blob as it is. Anything else, or a
    /// failure to ask: it may convert.
    fn converts(&self, rel: &[u8]) -> bool {
        let out = GitCmd::new(self.git_dir, self.workdir)
            .args(["check-attr", "-z"])
            .args([
                "filter",
                "ident",
                "working-tree-encoding",
                "eol",
                "crlf",
                "text",
                "--",
            ])
            .arg(OsStr::from_bytes(rel))
            .run();
        let Ok(out) = out else { return true };
        let fields: Vec<&[u8]> = out.split(|&b| b == 0).collect();
        let mut text: &[u8] = b"unspecified";
        for f in fields.chunks_exact(3) {
            match (f[1], f[2]) {
                (_, b"unspecified") => {}
                (b"text", value) => text = value,
                // `-crlf` is the old spelling of `-text`.
                (b"crlf", b"unset") if text == b"unspecified" => text = b"unset",
                (b"filter" | b"ident" | b"working-tree-encoding", b"unset") => {}
                _ => return true,
            }
        }
        match text {
            b"unset" => false,
            b"unspecified" => {
                let cfg = self.repo.config().ok();
                let get = |key: &str| {
                    cfg.as_ref()
                        .and_then(|c| c.get_string(key).ok())
                        .map(|v| v.to_ascii_lowercase())
                };
                matches!(
                    get("core.autocrlf").as_deref(),
                    Some("true" | "yes" | "on" | "1")
                ) || get("core.eol").as_deref() == Some("crlf")
            }
            _ => true,
        }
    }

    /// Write the content of file `leaf` at `rel` into `out`.
    pub(super) fn write_to(
        &self,
        rel: &[u8],
        leaf: Leaf,
        out: &mut std::fs::File,
    ) -> std::io::Result<()> {
        let how = self.fetch(rel, leaf.oid)?;
        tracing::debug!(path = %String::from_utf8_lossy(rel), ?how, "restoring blob {}", leaf.oid);
        let cmd = match how {
            Fetch::Memory => {
                let blob = self
                    .repo
                    .find_blob(leaf.oid)
                    .map_err(|e| std::io::Error::other(e.message().to_owned()))?;
                return out.write_all(blob.content());
            }
            Fetch::Stream => GitCmd::new(self.git_dir, self.workdir)
                .args(["cat-file", "blob"])
                .arg(leaf.oid.to_string()),
            Fetch::Filtered => {
                let mut path_arg = std::ffi::OsString::from("--path=");
                path_arg.push(OsStr::from_bytes(rel));
                GitCmd::new(self.git_dir, self.workdir)
                    .args(["cat-file", "--filters"])
                    .arg(path_arg)
                    .arg(leaf.oid.to_string())
            }
        };
        stream(cmd, out)
    }
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

/// Does `tree` hold a `.gitattributes` anywhere (so filters may apply)?
pub(super) fn has_gitattributes(tree: &Tree<'_>) -> bool {
    let mut found = false;
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |_, e| {
        if e.name_bytes() == b".gitattributes" {
            found = true;
            git2::TreeWalkResult::Abort
        } else {
            git2::TreeWalkResult::Ok
        }
    });
    found
}
