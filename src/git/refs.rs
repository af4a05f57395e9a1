//! The ref store: every read and write of a ref (HEAD, branches, shadow
//! refs) goes through here.
//!
//! Repositories keep refs in one of two formats (`extensions.refStorage`):
//! `files` (loose files and `packed-refs`, which libgit2 reads and writes
//! directly: the fast path) or `reftable` (git 2.45+, git 3.0's default),
//! which this libgit2 cannot read — it would see no refs at all. There
//! savepoint asks git: `git for-each-ref` to read, `git symbolic-ref` for
//! HEAD, and `git update-ref --stdin` transactions (`start` / `prepare` /
//! `commit`, with the old value verified) to write, so compare-and-swap and
//! reflog entries keep the meaning they have with files.

use git2::{ErrorCode, Oid, Repository};

use crate::error::{Error, GitContext, Result};
use crate::git::command::GitCmd;
use crate::git::reflock::RefLock;

/// How a repository stores its refs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Files,
    Reftable,
}

/// The ref storage of `repo` (`extensions.refStorage`).
pub fn backend(repo: &Repository) -> Backend {
    let reftable = repo
        .config()
        .ok()
        .and_then(|c| c.get_string("extensions.refstorage").ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("reftable"));
    if reftable {
        Backend::Reftable
    } else {
        Backend::Files
    }
}

/// git for this repository (its git dir; the work tree when it has one).
fn git(repo: &Repository) -> GitCmd {
    GitCmd::new(repo.path(), repo.workdir().unwrap_or(repo.path()))
}

/// What HEAD is, unresolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadRef {
    /// Points at a ref (`refs/heads/main`), which may not exist yet.
    Symbolic(String),
    /// Detached at a commit.
    Direct(Oid),
}

/// Read HEAD of this work tree without resolving it.
pub fn head(repo: &Repository) -> Result<HeadRef> {
    match backend(repo) {
        Backend::Files => {
            let head_ref = repo
                .find_reference("HEAD")
                .git_context(|| "read HEAD".to_owned())?;
            if let Some(target) = head_ref.symbolic_target_bytes() {
                return Ok(HeadRef::Symbolic(
                    String::from_utf8_lossy(target).into_owned(),
                ));
            }
            head_ref
                .target()
                .map(HeadRef::Direct)
                .ok_or(Error::BrokenHead)
        }
        Backend::Reftable => {
            let out = git(repo).args(["symbolic-ref", "-q", "HEAD"]).output()?;
            if out.status.success() {
                let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                return Ok(HeadRef::Symbolic(name));
            }
            let text = git(repo)
                .args(["rev-parse", "--verify", "HEAD"])
                .run_text()?;
            Ok(HeadRef::Direct(parse_oid(&text)?))
        }
    }
}

/// The id `refname` points at (following symbolic refs), if it exists.
pub fn resolve(repo: &Repository, refname: &str) -> Result<Option<Oid>> {
    match backend(repo) {
        Backend::Files => match repo.refname_to_id(refname) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).git_context(|| format!("read {refname}")),
        },
        Backend::Reftable => {
            if refname == "HEAD" {
                let out = git(repo)
                    .args(["rev-parse", "-q", "--verify", "HEAD"])
                    .output()?;
                let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                return if out.status.success() {
                    parse_oid(&text).map(Some)
                } else {
                    Ok(None)
                };
            }
            Ok(list(repo, refname)?
                .into_iter()
                .find(|(name, _)| name == refname)
                .map(|(_, oid)| oid))
        }
    }
}

/// Does `refname` exist?
pub fn exists(repo: &Repository, refname: &str) -> Result<bool> {
    Ok(resolve(repo, refname)?.is_some())
}

/// Every ref whose name starts with `prefix` (a `…/`-ending namespace or a
/// full name), with the id it points at, sorted by name.
pub fn list(repo: &Repository, prefix: &str) -> Result<Vec<(String, Oid)>> {
    let mut out = Vec::new();
    match backend(repo) {
        Backend::Files => {
            let glob = if prefix.ends_with('/') {
                format!("{prefix}*")
            } else {
                prefix.to_owned()
            };
            let refs = repo
                .references_glob(&glob)
                .git_context(|| format!("list {prefix}"))?;
            for r in refs {
                let r = r.git_context(|| format!("read a ref under {prefix}"))?;
                if let (Some(name), Some(target)) = (r.name(), r.target()) {
                    out.push((name.to_owned(), target));
                }
            }
        }
        Backend::Reftable => {
            let text = git(repo)
                .args(["for-each-ref", "--format=%(objectname) %(refname)", prefix])
                .run_text()?;
            for line in text.lines() {
                if let Some((oid, name)) = line.split_once(' ') {
                    if name.starts_with(prefix) {
                        out.push((name.to_owned(), parse_oid(oid)?));
                    }
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Why a ref update did not happen.
#[derive(Debug)]
pub enum UpdateError {
    /// The ref was not at the expected value (compare-and-swap lost).
    Moved,
    /// Another process holds the ref's lock.
    Locked,
    /// Anything else.
    Failed(Error),
}

/// Compare-and-swap `refname` from `old` (`None`: must not exist) to `new`,
/// with `log` as the reflog message (a reflog is created if needed).
/// Written under the repository-wide ref lock (`crate::git::reflock`),
/// which also waits out a `<ref>.lock` git holds and clears one a killed
/// savepoint process left.
pub fn update(
    repo: &Repository,
    refname: &str,
    old: Option<Oid>,
    new: Oid,
    log: &str,
) -> std::result::Result<(), UpdateError> {
    under_ref_lock(repo, refname, || update_once(repo, refname, old, new, log))
}

/// Run `write` (one attempt at a ref write) under the ref lock: shadow
/// refs, and the branch `squash` moves.
fn under_ref_lock(
    repo: &Repository,
    refname: &str,
    mut write: impl FnMut() -> std::result::Result<(), UpdateError>,
) -> std::result::Result<(), UpdateError> {
    let mut lock = RefLock::acquire(repo.commondir(), refname).map_err(UpdateError::Failed)?;
    let written = lock.update_with(|| match write() {
        Ok(()) => Ok(true),
        Err(UpdateError::Locked) => Ok(false),
        Err(e) => Err(e),
    })?;
    if written {
        Ok(())
    } else {
        Err(UpdateError::Locked)
    }
}

fn update_once(
    repo: &Repository,
    refname: &str,
    old: Option<Oid>,
    new: Oid,
    log: &str,
) -> std::result::Result<(), UpdateError> {
    match backend(repo) {
        Backend::Files => {
            // libgit2 only logs refs outside refs/heads when a reflog
            // exists; shadow refs always get one (branches follow git's
            // `core.logAllRefUpdates`).
            if refname.starts_with(crate::snapshot::chain::PREFIX) {
                repo.reference_ensure_log(refname)
                    .git_context(|| format!("create reflog for {refname}"))
                    .map_err(UpdateError::Failed)?;
            }
            let result = match old {
                Some(old) => repo
                    .reference_matching(refname, new, true, old, log)
                    .map(|_| ()),
                None => repo.reference(refname, new, false, log).map(|_| ()),
            };
            result.map_err(|e| match e.code() {
                ErrorCode::Modified | ErrorCode::Exists => UpdateError::Moved,
                ErrorCode::Locked => UpdateError::Locked,
                _ => UpdateError::Failed(Error::Git {
                    action: format!("update {refname}"),
                    source: e,
                }),
            })
        }
        Backend::Reftable => {
            let old_hex = old.unwrap_or_else(Oid::zero).to_string();
            let script = format!("start\nupdate {refname} {new} {old_hex}\nprepare\ncommit\n");
            transaction(repo, refname, old, log, &script)
        }
    }
}

/// Delete `refname` if it still points at `old` (its reflog goes with it).
pub fn delete(repo: &Repository, refname: &str, old: Oid) -> std::result::Result<(), UpdateError> {
    under_ref_lock(repo, refname, || delete_once(repo, refname, old))
}

fn delete_once(repo: &Repository, refname: &str, old: Oid) -> std::result::Result<(), UpdateError> {
    match backend(repo) {
        Backend::Files => {
            let mut r = repo.find_reference(refname).map_err(|e| match e.code() {
                ErrorCode::NotFound => UpdateError::Moved,
                _ => UpdateError::Failed(Error::Git {
                    action: format!("read {refname}"),
                    source: e,
                }),
            })?;
            if r.target() != Some(old) {
                return Err(UpdateError::Moved);
            }
            r.delete().map_err(|e| match e.code() {
                ErrorCode::Modified => UpdateError::Moved,
                ErrorCode::Locked => UpdateError::Locked,
                _ => UpdateError::Failed(Error::Git {
                    action: format!("delete {refname}"),
                    source: e,
                }),
            })
        }
        Backend::Reftable => {
            let script = format!("start\ndelete {refname} {old}\nprepare\ncommit\n");
            transaction(repo, refname, Some(old), "savepoint: delete", &script)
        }
    }
}

/// Run one `git update-ref --stdin` transaction; on failure, tell a lost
/// compare-and-swap (the ref is no longer at `old`) from other errors.
fn transaction(
    repo: &Repository,
    refname: &str,
    old: Option<Oid>,
    log: &str,
    script: &str,
) -> std::result::Result<(), UpdateError> {
    let mut cmd = git(repo).arg("update-ref");
    if refname.starts_with(crate::snapshot::chain::PREFIX) {
        cmd = cmd.arg("--create-reflog");
    }
    let out = cmd
        .args(["-m", log, "--stdin"])
        .output_with_input(script.as_bytes())
        .map_err(UpdateError::Failed)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    match resolve(repo, refname) {
        Ok(now) if now != old => Err(UpdateError::Moved),
        _ if stderr.contains("lock") && stderr.contains("exists") => Err(UpdateError::Locked),
        _ => Err(UpdateError::Failed(Error::GitCli {
            args: "update-ref --stdin".to_owned(),
            stderr,
        })),
    }
}

fn parse_oid(hex: &str) -> Result<Oid> {
    Oid::from_str(hex.trim()).map_err(|e| Error::GitCli {
        args: "rev-parse".into(),
        stderr: format!("unexpected object id {hex:?}: {}", e.message()),
    })
}

/// A revision (`HEAD~2`, a branch, a short id) to a commit id, asking git
/// where libgit2 cannot see the refs. `None` when it names nothing.
pub fn rev_parse_commit(repo: &Repository, rev: &str) -> Result<Option<Oid>> {
    let out = git(repo)
        .args(["rev-parse", "-q", "--verify", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .output()?;
    if !out.status.success() {
        return Ok(None);
    }
    parse_oid(&String::from_utf8_lossy(&out.stdout)).map(Some)
}
