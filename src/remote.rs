//! Off-machine copies of the snapshot chains: `push` copies the local
//! chains (`refs/savepoint/heads/*`, `refs/savepoint/detached/*`,
//! `refs/savepoint/worktrees/*` — linked work trees' chains) to a git
//! remote under the same names; `fetch` brings a remote's chains in as
//! `refs/savepoint/remotes/<remote>/…`, so they never overwrite local ones.
//! Both shell out to `git push` / `git fetch` with explicit refspecs, so the
//! user's transport, credentials and configuration apply; `refs/heads` is
//! never pushed.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::git::GitCmd;
use crate::repo::Workspace;

/// The remote to use: the argument, else `savepoint.remote`, else `origin`.
pub fn choose(arg: Option<&str>, configured: Option<&str>) -> String {
    arg.or(configured).unwrap_or("origin").to_owned()
}

/// Local chain namespaces that `push` copies.
const PUSHED: &[&str] = &["heads", "detached", "worktrees"];

/// The refspecs `fetch` uses for `remote`, whose chains land under
/// `refs/savepoint/remotes/<local_name>/`.
pub fn fetch_refspecs(local_name: &str) -> Vec<String> {
    PUSHED
        .iter()
        .map(|ns| format!("+refs/savepoint/{ns}/*:refs/savepoint/remotes/{local_name}/{ns}/*"))
        .collect()
}

/// The name a fetched remote's chains are kept under: a configured remote's
/// own name; for a URL or path, its last component (without `.git`) and a
/// short hash of the whole URL, so two URLs never share a namespace
/// (`/srv/backup.git` → `backup-1f2e3d4c`).
pub fn local_name(ws: &Workspace, remote: &str) -> String {
    if ws.repo().find_remote(remote).is_ok()
        && git2::Reference::is_valid_name(&format!("refs/savepoint/remotes/{remote}/x"))
    {
        return remote.to_owned();
    }
    let last = remote
        .trim_end_matches('/')
        .rsplit(['/', ':', '\\'])
        .next()
        .unwrap_or("");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let mut base: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches(['.', '-']).to_owned();
    if base.is_empty() {
        base = "url".to_owned();
    }
    // FNV-1a: stable across versions and platforms (unlike std's hasher).
    let hash = remote.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{base}-{:08x}", hash as u32)
}

/// One ref's fate in a push.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pushed {
    #[serde(rename = "ref")]
    pub refname: String,
    /// `new`, `updated`, `up to date`, `forced`, `rejected`.
    pub status: String,
    pub detail: String,
}

fn check_remote(ws: &Workspace, remote: &str) -> Result<()> {
    if remote.starts_with('-') || remote.is_empty() {
        // `--upload-pack=…` / `--receive-pack=…` would run a command.
        return Err(Error::Remote {
            remote: remote.to_owned(),
            reason: "a remote name or URL cannot be empty or start with `-`".into(),
        });
    }
    let looks_like_url = remote.contains(':') || remote.contains('/');
    if looks_like_url || ws.repo().find_remote(remote).is_ok() {
        return Ok(());
    }
    Err(Error::Remote {
        remote: remote.to_owned(),
        reason: "no such remote (see `git remote -v`; add one with `git remote add <name> <url>`, or set savepoint.remote)".into(),
    })
}

/// git for a transport: the `ext::` transport (runs arbitrary commands)
/// is refused whatever the user's configuration says.
fn git(ws: &Workspace, args: &[String]) -> Result<std::process::Output> {
    GitCmd::new(ws.git_dir(), ws.workdir())
        .config("protocol.ext.allow", "never")
        .args(args)
        .output()
}

/// Push every local chain to `remote`. Chains the remote has diverging
/// (pushed from another machine) are rejected unless `force`; the result
/// lists each ref, and the error names the rejected ones.
pub fn push(ws: &Workspace, remote: &str, force: bool) -> Result<Vec<Pushed>> {
    check_remote(ws, remote)?;
    let local: Vec<String> = crate::chain::all_chains(ws.repo())?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| {
            PUSHED
                .iter()
                .any(|ns| n.starts_with(&format!("refs/savepoint/{ns}/")))
        })
        .collect();
    if local.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["push".to_owned(), "--porcelain".to_owned()];
    if force {
        args.push("--force".to_owned());
    }
    // `--` ends the options: the remote can never be read as one.
    args.push("--".to_owned());
    args.push(remote.to_owned());
    args.extend(local.iter().map(|r| format!("{r}:{r}")));
    let out = git(ws, &args)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut results = Vec::new();
    for line in stdout.lines() {
        // <flag> \t <from>:<to> \t <summary> (<reason>)
        let mut parts = line.splitn(3, '\t');
        let (Some(flag), Some(refs), summary) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let status = match flag.trim() {
            "*" => "new",
            " " | "" => "updated",
            "=" => "up to date",
            "+" => "forced",
            "!" => "rejected",
            _ => continue,
        };
        results.push(Pushed {
            refname: refs.rsplit(':').next().unwrap_or(refs).to_owned(),
            status: status.to_owned(),
            detail: summary.unwrap_or("").trim().to_owned(),
        });
    }
    let rejected: Vec<&Pushed> = results.iter().filter(|p| p.status == "rejected").collect();
    if !rejected.is_empty() {
        return Err(Error::Remote {
            remote: remote.to_owned(),
            reason: format!(
                "the remote has a different chain for {} (pushed from another machine?); \
                 `savepoint fetch {remote}` brings it in side by side, `savepoint push --force` replaces it",
                rejected
                    .iter()
                    .map(|p| p.refname.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if !out.status.success() {
        return Err(Error::Remote {
            remote: remote.to_owned(),
            reason: first_error(&out.stderr),
        });
    }
    Ok(results)
}

/// Fetch `remote`'s chains into `refs/savepoint/remotes/<remote>/`.
/// Returns the refs that now exist there.
pub fn fetch(ws: &Workspace, remote: &str) -> Result<Vec<String>> {
    check_remote(ws, remote)?;
    let mut args = vec![
        "fetch".to_owned(),
        "--no-tags".to_owned(),
        "--no-write-fetch-head".to_owned(),
        "--quiet".to_owned(),
        "--".to_owned(),
        remote.to_owned(),
    ];
    let name = local_name(ws, remote);
    args.extend(fetch_refspecs(&name));
    let out = git(ws, &args)?;
    if !out.status.success() {
        return Err(Error::Remote {
            remote: remote.to_owned(),
            reason: first_error(&out.stderr),
        });
    }
    let prefix = format!("refs/savepoint/remotes/{name}/");
    Ok(crate::chain::all_chains(ws.repo())?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with(&prefix))
        .collect())
}

/// The most telling line of git's stderr.
fn first_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("git failed")
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ")
        .to_owned()
}
