//! Off-machine copies of the snapshot chains: `push` copies the local
//! chains (`refs/savepoint/heads/*`, `refs/savepoint/detached/*`,
//! `refs/savepoint/worktrees/*` — linked work trees' chains) to a git
//! remote under the same names; `fetch` brings a remote's chains in as
//! `refs/savepoint/remotes/<remote>/…`, so they never overwrite local ones.
//! Both shell out to `git push` / `git fetch` with explicit refspecs, so the
//! user's transport, credentials and configuration apply; `refs/heads` is
//! never pushed.
//!
//! `prune` rewrites chains, so a pruned chain no longer fast-forwards the
//! copy pushed before. That copy is ours: `push` remembers the tip it
//! pushed per remote and chain (`<state>/pushed.json`) and replaces it with
//! `--force-with-lease=<ref>:<that tip>`; a remote tip our own reflog knows
//! counts too. A chain another machine pushed fails both tests and is
//! refused as before.

use std::collections::BTreeMap;

use git2::Oid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::git::command::GitCmd;
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

/// The remote to use: the argument, else `savepoint.remote`, else `origin`.
pub fn choose(arg: Option<&str>, configured: Option<&str>) -> String {
    arg.or(configured)
        .unwrap_or(crate::workspace::config::DEFAULT_REMOTE)
        .to_owned()
}

/// Local chain namespaces that `push` copies.
const PUSHED: &[&str] = &["heads", "detached", "worktrees"];

/// The refspecs `fetch` uses for `remote`, whose chains land under
/// `refs/savepoint/remotes/<local_name>/`.
pub(crate) fn fetch_refspecs(local_name: &str) -> Vec<String> {
    PUSHED
        .iter()
        .map(|ns| format!("+refs/savepoint/{ns}/*:refs/savepoint/remotes/{local_name}/{ns}/*"))
        .collect()
}

/// The name a fetched remote's chains are kept under: a configured remote's
/// own name; for a URL or path, its last component (without `.git`) and a
/// short hash of the whole URL, so two URLs never share a namespace
/// (`/srv/backup.git` → `backup-1f2e3d4c`).
pub(crate) fn local_name(ws: &Workspace, remote: &str) -> String {
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
    format!("{base}-{:08x}", crate::fnv1a(remote.as_bytes()) as u32)
}

/// One ref's fate in a push.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pushed {
    #[serde(rename = "ref")]
    pub refname: String,
    /// `new`, `updated`, `up to date`, `forced` (`--force`), `rewritten`
    /// (our own pushed chain replaced by its pruned version, under a
    /// lease), `rejected`.
    pub status: String,
    pub detail: String,
}

fn check_remote(ws: &Workspace, remote: &str) -> Result<()> {
    if remote.starts_with('-') || remote.is_empty() {
        // `--upload-pack=…` / `--receive-pack=…` would run a command.
        return Err(Error::Remote {
            remote: remote.to_owned(),
            source: RemoteError::InvalidName,
        });
    }
    let looks_like_url = remote.contains(':') || remote.contains('/');
    if looks_like_url || ws.repo().find_remote(remote).is_ok() {
        return Ok(());
    }
    Err(Error::Remote {
        remote: remote.to_owned(),
        source: RemoteError::NoSuchRemote,
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

/// What [`StateFile::Pushed`] holds: per remote, the tip each chain had
/// when it was last pushed from this work tree — the lease for pushing a
/// rewritten (pruned) chain over it. Another format version is read as
/// "nothing recorded".
#[derive(Debug, Default, Serialize, Deserialize)]
struct PushedTips {
    version: u32,
    /// Remote (as [`local_name`] names it) → chain ref → tip pushed.
    remotes: BTreeMap<String, BTreeMap<String, String>>,
}

impl PushedTips {
    fn load(ws: &Workspace) -> PushedTips {
        std::fs::read(ws.state().file(StateFile::Pushed))
            .ok()
            .and_then(|b| serde_json::from_slice::<PushedTips>(&b).ok())
            .filter(|t| t.version == StateFile::Pushed.format())
            .unwrap_or_default()
    }

    /// The tips recorded for `remote`.
    fn for_remote(&self, remote: &str) -> BTreeMap<String, Oid> {
        self.remotes
            .get(remote)
            .into_iter()
            .flatten()
            .filter_map(|(r, o)| Some((r.clone(), Oid::from_str(o).ok()?)))
            .collect()
    }

    /// Remember that `remote` now has these tips. The file is a cache: a
    /// failure to write it only costs the next rewritten push a round trip.
    fn record(ws: &Workspace, remote: &str, tips: &[(String, Oid)]) {
        if tips.is_empty() {
            return;
        }
        let mut all = PushedTips::load(ws);
        all.version = StateFile::Pushed.format();
        let known = all.remotes.entry(remote.to_owned()).or_default();
        for (r, o) in tips {
            known.insert(r.clone(), o.to_string());
        }
        let written = ws.state().ensure().and_then(|dir| {
            let path = StateFile::Pushed.path_in(dir);
            let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
            crate::fs::atomic::write(&path, &bytes, crate::fs::atomic::PRIVATE)
                .map_err(|e| Error::io("write", path, e))
        });
        if let Err(e) = written {
            tracing::warn!("cannot remember the pushed tips: {e}");
        }
    }
}

/// Push every local chain to `remote`. A chain the remote has diverging
/// (pushed from another machine) is rejected unless `force`; our own
/// pushed chain rewritten since (by `prune`) is replaced, with a lease on
/// the tip we pushed (`--force-with-lease=<ref>:<tip>`), so a chain someone
/// else pushed in between is still refused. The result lists each ref, and
/// the error names the rejected ones.
pub fn push(ws: &Workspace, remote: &str, force: bool) -> Result<Vec<Pushed>> {
    check_remote(ws, remote)?;
    let repo = ws.repo();
    let local: BTreeMap<String, Oid> = crate::snapshot::chain::all_chains(repo)?
        .into_iter()
        .filter(|(n, _)| {
            PUSHED
                .iter()
                .any(|ns| n.starts_with(&format!("refs/savepoint/{ns}/")))
        })
        .collect();
    if local.is_empty() {
        return Ok(Vec::new());
    }
    let key = local_name(ws, remote);
    // Chains rewritten since we pushed them: not descendants of that tip.
    let leases: BTreeMap<String, Oid> = if force {
        BTreeMap::new()
    } else {
        PushedTips::load(ws)
            .for_remote(&key)
            .into_iter()
            .filter(|(r, pushed)| {
                local.get(r).is_some_and(|tip| {
                    tip != pushed && !repo.graph_descendant_of(*tip, *pushed).unwrap_or(false)
                })
            })
            .collect()
    };
    let first = push_refs(ws, remote, &local, &leases, force)?;
    let mut results = first.results;
    let mut failure = first.failure;
    // Rejected without a lease that held (pushed before savepoint recorded
    // tips, or from another work tree): still ours if the remote's tip is a
    // state our own chain has had (its reflog).
    let rejected: Vec<String> = results
        .iter()
        .filter(|p| p.status == "rejected")
        .map(|p| p.refname.clone())
        .collect();
    if !force && !rejected.is_empty() {
        let retry: BTreeMap<String, Oid> = remote_tips(ws, remote, &rejected)
            .into_iter()
            .filter(|(r, theirs)| {
                local.get(r) != Some(theirs) && our_past_tips(ws, r).contains(theirs)
            })
            .collect();
        if !retry.is_empty() {
            let subset: BTreeMap<String, Oid> = local
                .iter()
                .filter(|(r, _)| retry.contains_key(*r))
                .map(|(r, o)| (r.clone(), *o))
                .collect();
            let second = push_refs(ws, remote, &subset, &retry, false)?;
            results.retain(|p| !retry.contains_key(&p.refname));
            results.extend(second.results);
            results.sort_by(|a, b| a.refname.cmp(&b.refname));
            failure = failure.or(second.failure);
        }
    }
    let pushed: Vec<(String, Oid)> = results
        .iter()
        .filter(|p| p.status != "rejected")
        .filter_map(|p| Some((p.refname.clone(), *local.get(&p.refname)?)))
        .collect();
    PushedTips::record(ws, &key, &pushed);
    let rejected: Vec<&Pushed> = results.iter().filter(|p| p.status == "rejected").collect();
    if !rejected.is_empty() {
        return Err(Error::Remote {
            remote: remote.to_owned(),
            source: RemoteError::DifferentChain {
                refs: rejected.iter().map(|p| p.refname.clone()).collect(),
                remote: remote.to_owned(),
            },
        });
    }
    if let Some(said) = failure {
        return Err(Error::Remote {
            remote: remote.to_owned(),
            source: RemoteError::Git(said),
        });
    }
    Ok(results)
}

/// What one `git push` did.
struct PushRun {
    results: Vec<Pushed>,
    /// git failed for a reason other than rejected refs.
    failure: Option<String>,
}

/// `git push --porcelain` of exactly these tips (`<id>:<ref>`: what is
/// recorded is what was pushed, even if a snapshot lands meanwhile), with
/// a lease for each ref in `leases`.
fn push_refs(
    ws: &Workspace,
    remote: &str,
    tips: &BTreeMap<String, Oid>,
    leases: &BTreeMap<String, Oid>,
    force: bool,
) -> Result<PushRun> {
    let mut args = vec!["push".to_owned(), "--porcelain".to_owned()];
    if force {
        args.push("--force".to_owned());
    }
    args.extend(
        leases
            .iter()
            .map(|(r, old)| format!("--force-with-lease={r}:{old}")),
    );
    // `--` ends the options: the remote can never be read as one.
    args.push("--".to_owned());
    args.push(remote.to_owned());
    args.extend(tips.iter().map(|(r, tip)| format!("{tip}:{r}")));
    let out = git(ws, &args)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut results = Vec::new();
    for line in stdout.lines() {
        // <flag> \t <from>:<to> \t <summary> (<reason>)
        let mut parts = line.splitn(3, '\t');
        let (Some(flag), Some(refs), summary) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let refname = refs.rsplit(':').next().unwrap_or(refs).to_owned();
        let status = match flag.trim() {
            "*" => "new",
            " " | "" => "updated",
            "=" => "up to date",
            "+" if leases.contains_key(&refname) => "rewritten",
            "+" => "forced",
            "!" => "rejected",
            _ => continue,
        };
        results.push(Pushed {
            refname,
            status: status.to_owned(),
            detail: summary.unwrap_or("").trim().to_owned(),
        });
    }
    let rejected = results.iter().any(|p| p.status == "rejected");
    let failure = (!out.status.success() && !rejected).then(|| first_error(&out.stderr));
    Ok(PushRun { results, failure })
}

/// The remote's tips of `refs` (those it has).
fn remote_tips(ws: &Workspace, remote: &str, refs: &[String]) -> BTreeMap<String, Oid> {
    let mut args = vec!["ls-remote".to_owned(), "--".to_owned(), remote.to_owned()];
    args.extend(refs.iter().cloned());
    let Ok(out) = git(ws, &args) else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (oid, name) = l.split_once('\t')?;
            let name = name.trim();
            refs.iter()
                .any(|r| r == name)
                .then(|| Some((name.to_owned(), Oid::from_str(oid.trim()).ok()?)))?
        })
        .collect()
}

/// Every tip `refname` has had, from its reflog (`git reflog`: both ref
/// stores).
fn our_past_tips(ws: &Workspace, refname: &str) -> Vec<Oid> {
    let args = [
        "reflog".to_owned(),
        "show".to_owned(),
        "--format=%H".to_owned(),
        "--end-of-options".to_owned(),
        refname.to_owned(),
    ];
    match git(ws, &args) {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| Oid::from_str(l.trim()).ok())
            .collect(),
        _ => Vec::new(),
    }
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
            source: RemoteError::Git(first_error(&out.stderr)),
        });
    }
    let prefix = format!("refs/savepoint/remotes/{name}/");
    Ok(crate::snapshot::chain::all_chains(ws.repo())?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with(&prefix))
        .collect())
}

/// The most telling line of git's stderr.
/// Why talking to a remote failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// `--upload-pack=…` / `--receive-pack=…` would run a command.
    #[error("a remote name or URL cannot be empty or start with `-`")]
    InvalidName,
    #[error("no such remote (see `git remote -v`; add one with `git remote add <name> <url>`, or set savepoint.remote)")]
    NoSuchRemote,
    #[error(
        "the remote has a different chain for {} (pushed from another machine?); \
         `savepoint fetch {remote}` brings it in side by side, `savepoint push --force` replaces it",
        refs.join(", ")
    )]
    DifferentChain { refs: Vec<String>, remote: String },
    /// git's own words (its first `fatal:`/`error:` line).
    #[error("{0}")]
    Git(String),
}

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
