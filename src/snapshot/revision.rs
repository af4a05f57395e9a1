//! Resolving `<snap>` arguments: any git revision, plus shorthands on the
//! current chain: `@` (latest snapshot), `@~N` (N snapshots back) and
//! `@{<time>}` (the latest snapshot at or before a time: `@{10m}`, `@{2h}`,
//! `@{yesterday}`, `@{2026-11-24 14:00}`).
//!
//! `@{/<text>}` names the newest snapshot of the current chain whose message
//! contains the text, like git's `:/<text>`: a label typed with `snap -m`, a
//! prompt, a path named in the summary.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
use git2::Oid;

use crate::error::{Error, GitContext, Result};
use crate::snapshot::chain;
use crate::workspace::Workspace;

/// A parsed `<snap>` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// `@`, `@~N`: N snapshots back from the chain's tip.
    Back(usize),
    /// `@{<time>}`: latest snapshot at or before this instant.
    At(DateTime<Local>),
    /// `@{/<text>}`: the newest snapshot whose message contains the text.
    Message(String),
    /// Anything else: a git revision.
    Git(String),
}

/// Parse a `<snap>` argument (`now` is the reference for relative times).
pub fn parse(spec: &str, now: DateTime<Local>) -> std::result::Result<Spec, String> {
    let s = spec.trim();
    if s == "@" {
        return Ok(Spec::Back(0));
    }
    if let Some(rest) = s.strip_prefix("@~") {
        if rest.is_empty() {
            return Ok(Spec::Back(1));
        }
        return rest
            .parse::<usize>()
            .map(Spec::Back)
            .map_err(|_| format!("`@~` takes a number of snapshots, e.g. @~3 (got {rest:?})"));
    }
    if let Some(text) = s.strip_prefix("@{/").and_then(|r| r.strip_suffix('}')) {
        return match text.trim() {
            "" => Err(
                "`@{/…}` takes some text of the snapshot's message, e.g. @{/before refactor}"
                    .into(),
            ),
            text => Ok(Spec::Message(text.to_owned())),
        };
    }
    if let Some(inner) = s.strip_prefix("@{").and_then(|r| r.strip_suffix('}')) {
        return parse_time(inner, now).map(Spec::At);
    }
    if s.is_empty() {
        return Err("empty snapshot name".into());
    }
    Ok(Spec::Git(s.to_owned()))
}

/// Parse the time inside `@{…}`: a duration ago (`10m`, `2 hours ago`),
/// `now`, `today`, `yesterday`, or a local date/time (`2026-11-24 14:00`,
/// `2026-11-24`, RFC 3339).
pub fn parse_time(t: &str, now: DateTime<Local>) -> std::result::Result<DateTime<Local>, String> {
    let t = t.trim();
    let lower = t.to_ascii_lowercase();
    let midnight = |d: NaiveDate| {
        Local
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .ok_or_else(|| format!("no such local time: {d} 00:00"))
    };
    match lower.as_str() {
        "now" => return Ok(now),
        "today" => return midnight(now.date_naive()),
        "yesterday" => return Ok(now - chrono::Duration::days(1)),
        _ => {}
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Local));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return Local
                .from_local_datetime(&naive)
                .earliest()
                .ok_or_else(|| format!("no such local time: {t}"));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        // A bare date means the end of that day: "what did it look like on the 24th".
        let next = d.succ_opt().ok_or("date out of range")?;
        return Ok(midnight(next)? - chrono::Duration::seconds(1));
    }
    let ago = lower.strip_suffix(" ago").unwrap_or(&lower);
    let d = crate::workspace::config::parse_duration(ago).map_err(|_| {
        format!("cannot read the time {t:?}: use e.g. @{{10m}}, @{{2h}}, @{{yesterday}} or @{{2026-11-24 14:00}}")
    })?;
    let d = chrono::Duration::from_std(d).map_err(|_| "duration out of range".to_owned())?;
    Ok(now - d)
}

/// Why a `<snap>` did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// Not a name savepoint can read (the message says what is expected).
    #[error("{0}")]
    Syntax(String),
    /// git knows no such revision (libgit2's own words when it said why).
    #[error("{}unknown revision (snapshots are named by id, @, @~N or @{{time}})", .0.as_ref().map(|e| format!("{}: ", e.message())).unwrap_or_default())]
    Unknown(#[source] Option<git2::Error>),
    #[error("does not name a commit")]
    NotACommit,
    #[error("{refname} has only {count} snapshot(s)")]
    TooFew { refname: String, count: usize },
    #[error("no snapshot on {refname} has {text:?} in its message")]
    NoMatch { refname: String, text: String },
    #[error("no snapshots yet on {refname} — run `savepoint snap` first")]
    EmptyChain { refname: String },
    /// A command argument that is neither a snapshot nor a path.
    #[error("not a snapshot, nor a path in the work tree (a path that no longer exists goes after `--`: `savepoint {command} -- {name}`)")]
    NeitherSnapshotNorPath { command: String, name: String },
}

/// Resolve `spec` to a commit id in `ws` (shorthands use the current chain).
/// `@{<time>}` before the chain's first snapshot resolves to the state the
/// chain began from, and before any snapshot to HEAD's commit: the oldest
/// state known, said on stderr (a warning), never an error.
pub fn resolve(ws: &Workspace, spec: &str) -> Result<Oid> {
    let err = |source: RevisionError| Error::Revision {
        spec: spec.to_owned(),
        source,
    };
    let parsed = parse(spec, Local::now()).map_err(|e| err(RevisionError::Syntax(e)))?;
    let repo = ws.repo();
    match parsed {
        Spec::Git(rev) => {
            if crate::git::refs::backend(repo) == crate::git::refs::Backend::Reftable {
                // libgit2 cannot see reftable refs: git resolves names.
                for candidate in [rev.clone(), format!("{}{rev}", chain::PREFIX)] {
                    if let Some(oid) = crate::git::refs::rev_parse_commit(repo, &candidate)? {
                        return Ok(oid);
                    }
                }
                return Err(err(RevisionError::Unknown(None)));
            }
            let obj = repo
                .revparse_single(&rev)
                .or_else(|_| repo.revparse_single(&format!("{}{rev}", chain::PREFIX)))
                .map_err(|e| err(RevisionError::Unknown(Some(e))))?;
            let commit = obj
                .peel_to_commit()
                .map_err(|_| err(RevisionError::NotACommit))?;
            Ok(commit.id())
        }
        Spec::Back(n) => {
            let (refname, tip) = current_tip(ws, spec)?;
            let ids = chain::walk(repo, tip, Some(n + 1))?;
            ids.get(n).copied().ok_or_else(|| {
                err(RevisionError::TooFew {
                    refname,
                    count: ids.len(),
                })
            })
        }
        Spec::At(when) => {
            let refname = ws.chain_ref()?;
            let Some(tip) = chain::tip(repo, &refname)? else {
                return before_any_snapshot(ws, spec, &refname);
            };
            let mut first = tip;
            for oid in chain::walk(repo, tip, None)? {
                let commit = repo
                    .find_commit(oid)
                    .git_context(|| format!("read {oid}"))?;
                if chain::commit_time(&commit).timestamp() <= when.timestamp() {
                    return Ok(oid);
                }
                first = oid;
            }
            chain_base(repo, spec, &refname, first)
        }
        Spec::Message(text) => {
            let (refname, tip) = current_tip(ws, spec)?;
            let matches = message_matcher(&text);
            for oid in chain::walk(repo, tip, None)? {
                let commit = repo
                    .find_commit(oid)
                    .git_context(|| format!("read {oid}"))?;
                if matches(&String::from_utf8_lossy(commit.message_bytes())) {
                    return Ok(oid);
                }
            }
            Err(err(RevisionError::NoMatch {
                refname,
                text: text.clone(),
            }))
        }
    }
}

/// Does a message contain `text`? Case-insensitive unless `text` has an
/// upper-case letter (smart case, as in ripgrep and fd).
fn message_matcher(text: &str) -> impl Fn(&str) -> bool + '_ {
    let fold = !text.chars().any(char::is_uppercase);
    let needle = if fold {
        text.to_lowercase()
    } else {
        text.to_owned()
    };
    move |message: &str| {
        if fold {
            message.to_lowercase().contains(&needle)
        } else {
            message.contains(&needle)
        }
    }
}

/// `@{<time>}` older than every snapshot of `refname`: the state the chain
/// began from (DESIGN: "a time older than the chain means the chain's base
/// state, said so") — its first snapshot's parent, HEAD's commit then; on
/// an unborn branch the empty tree, as a commit (see [`empty_base`]). Said
/// on stderr, so `--json` output stays valid.
fn chain_base(repo: &git2::Repository, spec: &str, refname: &str, first: Oid) -> Result<Oid> {
    let commit = repo
        .find_commit(first)
        .git_context(|| format!("read {first}"))?;
    let began = chain::commit_time(&commit);
    let (base, what) = match commit.parent_id(0) {
        Ok(parent) => (
            parent,
            format!("HEAD's commit then, {}", chain::short_id(parent)),
        ),
        Err(_) => (
            empty_base(repo, &commit)?,
            "no files (the branch had no commit yet)".to_owned(),
        ),
    };
    tracing::warn!(
        "{spec} is before the first snapshot on {refname} ({}): \
         using the state that chain began from — {what}",
        began.format("%Y-%m-%d %H:%M:%S")
    );
    Ok(base)
}

/// `@{<time>}` on a chain with no snapshot yet: HEAD's commit is the
/// oldest state known (said so); on an unborn branch there is none.
fn before_any_snapshot(ws: &Workspace, spec: &str, refname: &str) -> Result<Oid> {
    match ws.head()?.commit() {
        Some(head) => {
            tracing::warn!(
                "{refname} has no snapshots yet: {spec} means HEAD's commit {}, \
                 the oldest state known",
                chain::short_id(head)
            );
            Ok(head)
        }
        None => current_tip(ws, spec).map(|(_, tip)| tip),
    }
}

/// The state of an unborn branch, no files, as a commit, so that every
/// command that takes a `<snap>` can read it: the empty tree, no parent,
/// dated like the chain's first snapshot `first` (the same id each time;
/// written to the object store, referenced by nothing).
fn empty_base(repo: &git2::Repository, first: &git2::Commit<'_>) -> Result<Oid> {
    let tree = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .git_context(|| "write the empty tree".to_owned())?;
    let tree = repo
        .find_tree(tree)
        .git_context(|| "read the empty tree".to_owned())?;
    let sig = git2::Signature::new(
        "savepoint",
        "savepoint@localhost",
        &first.committer().when(),
    )
    .git_context(|| "make a signature".to_owned())?;
    repo.commit(
        None,
        &sig,
        &sig,
        "savepoint: the empty state before the first commit\n",
        &tree,
        &[],
    )
    .git_context(|| "write the empty base commit".to_owned())
}

/// The current chain's name and tip; an error naming `spec` when the chain
/// has no snapshot yet.
fn current_tip(ws: &Workspace, spec: &str) -> Result<(String, Oid)> {
    let refname = ws.chain_ref()?;
    match chain::tip(ws.repo(), &refname)? {
        Some(tip) => Ok((refname, tip)),
        None => Err(Error::Revision {
            spec: spec.to_owned(),
            source: RevisionError::EmptyChain { refname },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    #[test]
    fn shorthands() {
        assert_eq!(parse("@", now()), Ok(Spec::Back(0)));
        assert_eq!(parse("@~", now()), Ok(Spec::Back(1)));
        assert_eq!(parse("@~12", now()), Ok(Spec::Back(12)));
        assert!(parse("@~x", now()).is_err());
        assert_eq!(parse("HEAD~2", now()), Ok(Spec::Git("HEAD~2".into())));
    }

    #[test]
    fn messages() {
        assert_eq!(
            parse("@{/before letting}", now()),
            Ok(Spec::Message("before letting".into()))
        );
        assert_eq!(parse("@{/ x }", now()), Ok(Spec::Message("x".into())));
        assert!(parse("@{/}", now()).is_err());
        assert!(parse("@{/  }", now()).is_err());
        let m = message_matcher("refactor");
        assert!(m("savepoint: manual: Before the REFACTOR"));
        let m = message_matcher("Refactor");
        assert!(!m("savepoint: manual: before the refactor"));
        assert!(m("savepoint: manual: Refactor it"));
    }

    #[test]
    fn times() {
        let at = |s: &str| match parse(s, now()).unwrap() {
            Spec::At(t) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(at("@{10m}"), now() - chrono::Duration::minutes(10));
        assert_eq!(at("@{2 hours ago}"), now() - chrono::Duration::hours(2));
        assert_eq!(at("@{yesterday}"), now() - chrono::Duration::days(1));
        assert_eq!(
            at("@{2026-11-24 14:00}"),
            Local.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap()
        );
        assert_eq!(
            at("@{2026-11-24}"),
            Local.with_ymd_and_hms(2026, 11, 24, 23, 59, 59).unwrap()
        );
        assert!(parse("@{soon}", now()).is_err());
    }
}
