//! The hand-off brief: markdown describing the unsquashed work of the
//! current chain for the assistant (or person) that picks it up — maybe
//! another model or tool, maybe one that cannot run git — with what the
//! failed session knew: the repository, branch and base commit; what went
//! wrong (the failing session, its error, the provider's status); the
//! prompts in order; how each turn ended and the session's plan (from the
//! client's transcript); the files changed and the change itself as a
//! unified diff; anything skipped; and the exact commands to restore or
//! squash the work.
//!
//! Headings are stable so tools can parse the brief: always `## Repository`,
//! `## What the session was doing`, `## Files changed`, `## The change`,
//! `## Skipped`, `## How to continue`; after a failed turn also `## What
//! went wrong` (first), `## The conversation` and `## Plan` (when the
//! transcript has them). Everything that comes from outside (prompts,
//! messages, plans, file names and contents, status pages) is quoted:
//! control characters escaped, code spans and fences sized so that nothing
//! inside can close them or start a heading. Every part is bounded.
//!
//! The failure of the last turn is saved in the private state dir
//! (`failure.json`, 0600) by the agent hook, so that `savepoint handoff`
//! prints the same brief later. It belongs to the work it was saved with:
//! once HEAD or the chain moves (the work was committed or squashed, a
//! branch was switched) it is stale and no longer shown.

use crate::text::{code_span, escape_controls as esc, fence_for, quote_path};
use crate::workspace::state::StateFile;
use std::fmt::Write as _;
use std::path::PathBuf;

use git2::{DiffOptions, Oid, Repository};

use crate::error::{Error, GitContext, Result};
use crate::integrations::agents::transcript::{self, Transcript};
use crate::integrations::provider_status::Verdict;
use crate::snapshot::chain::{self, SnapshotInfo};
use crate::workspace::{Head, Workspace};

/// Snapshots looked at when collecting the session's prompts.
const MAX_SNAPSHOTS: usize = 500;

/// The snapshots of the current chain taken on the current HEAD (the work
/// not yet committed), oldest first.
pub(crate) fn unsquashed(ws: &Workspace) -> Result<Vec<SnapshotInfo>> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let Some(tip) = chain::tip(repo, &refname)? else {
        return Ok(Vec::new());
    };
    let head = ws
        .head()?
        .commit()
        .map_or_else(|| "unborn".to_owned(), |c| c.to_string());
    let mut out = Vec::new();
    for oid in chain::walk(repo, tip, Some(MAX_SNAPSHOTS))? {
        let info = chain::info(repo, oid, &refname)?;
        if info.base != head {
            break;
        }
        out.push(info);
    }
    out.reverse();
    Ok(out)
}

/// What the brief needs of one snapshot, read from its commit alone: no
/// tree is diffed (unlike [`chain::info`]), so the walk costs one commit
/// read per snapshot — the brief is written inside a hook with little time.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub oid: Oid,
    /// Committer time, RFC 3339.
    pub time: String,
    pub trigger: String,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub tool: Option<String>,
    /// Every prompt the snapshot carries, in order.
    pub prompts: Vec<String>,
    pub skipped: Vec<String>,
}

/// `unsquashed` without the per-snapshot file lists: the snapshots on
/// `refname` taken on `head`, oldest first (at most `MAX_SNAPSHOTS`).
pub fn recorded(ws: &Workspace, refname: &str, head: &Head) -> Result<Vec<Recorded>> {
    let repo = ws.repo();
    let Some(tip) = chain::tip(repo, refname)? else {
        return Ok(Vec::new());
    };
    let base = head_id(head);
    let mut out = Vec::new();
    let mut next = Some(tip);
    while let Some(oid) = next {
        if out.len() >= MAX_SNAPSHOTS {
            break;
        }
        let commit = repo
            .find_commit(oid)
            .git_context(|| format!("read commit {oid}"))?;
        let message = String::from_utf8_lossy(commit.message_bytes());
        let Some(t) = crate::snapshot::trailers::parse(&message) else {
            break;
        };
        if t.base != base {
            break;
        }
        out.push(Recorded {
            oid,
            time: chain::commit_time(&commit).to_rfc3339(),
            trigger: t.trigger,
            session: t.session,
            agent: t.agent,
            tool: t.tool,
            prompts: t.prompts,
            skipped: t.skipped,
        });
        next = commit.parent_id(0).ok();
    }
    out.reverse();
    Ok(out)
}

/// Prompts listed (the most recent).
const MAX_PROMPTS: usize = 50;
/// Files listed under `## Files changed`.
const MAX_FILES_LISTED: usize = 300;
/// Files diffed (line counts, the inline diff); the rest are only named.
const MAX_FILES_DIFFED: usize = 100;
/// The inline diff: at most this many lines…
pub const MAX_DIFF_LINES: usize = 200;
/// …and this many bytes.
pub const MAX_DIFF_BYTES: usize = 32 * 1024;
/// Files larger than this are named, not diffed.
pub(crate) const LARGE_FILE_BYTES: u64 = 256 * 1024;
/// Characters of one assistant message quoted in the brief.
const MAX_MESSAGE_CHARS: usize = 1500;
/// Characters of a prompt or an error quoted on one line.
const MAX_LINE_CHARS: usize = 300;
/// Names listed under `## Skipped`.
const MAX_SKIPPED: usize = 50;
/// A saved failure larger than this is not read.
const MAX_FAILURE_BYTES: u64 = 1 << 20;

/// What the failed turn knew; saved in the private state dir (0600) so that
/// `savepoint handoff` later prints the same brief.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// `claude`, `gemini`, `codex`, `cursor`.
    pub agent: String,
    pub session: Option<String>,
    /// The client's error (`server_error`, `unexpected status 529 …`).
    pub error: String,
    /// The assistant's last message (for Claude, the API error it showed).
    pub last_message: Option<String>,
    /// The client's transcript of the session.
    pub transcript: Option<PathBuf>,
    /// When the turn failed (RFC 3339).
    pub time: String,
    /// What the provider's status page said, when it was asked.
    pub status: Option<Verdict>,
}

/// `failure.json`: the failure and the work it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedFailure {
    version: u32,
    /// HEAD's commit when it was saved (`unborn`).
    head: String,
    /// The chain the work was on.
    chain: String,
    failure: Failure,
}

fn head_id(head: &Head) -> String {
    head.commit()
        .map_or_else(|| "unborn".to_owned(), |c| c.to_string())
}

/// Save the failure of the last turn for the brief (private, atomic).
pub fn save_failure(ws: &Workspace, f: &Failure) -> Result<()> {
    let head = ws.head()?;
    let saved = SavedFailure {
        version: StateFile::Failure.format(),
        head: head_id(&head),
        chain: ws.chain_ref_for(&head),
        failure: f.clone(),
    };
    let path = ws.state().ensure_file(StateFile::Failure)?;
    let json = serde_json::to_vec_pretty(&saved)
        .map_err(|e| Error::io("serialize", &path, std::io::Error::other(e)))?;
    crate::fs::atomic::write_with_mode(&path, &json, crate::fs::atomic::PRIVATE)
        .map_err(|e| Error::io("write", &path, e))
}

/// The saved failure, if any and still about the current work: `None`
/// when absent, unreadable, of another format version, or stale — HEAD
/// or the chain moved since it was saved (the work was committed or
/// squashed, the branch switched or reset).
pub fn load_failure(ws: &Workspace) -> Option<Failure> {
    use std::io::Read;
    let path = ws.state().file(StateFile::Failure);
    let file = std::fs::File::open(&path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_FAILURE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_FAILURE_BYTES {
        return None;
    }
    let saved: SavedFailure = serde_json::from_slice(&bytes).ok()?;
    if saved.version != StateFile::Failure.format() {
        return None;
    }
    let head = ws.head().ok()?;
    (saved.head == head_id(&head) && saved.chain == ws.chain_ref_for(&head))
        .then_some(saved.failure)
}

/// Forget the saved failure (a later turn of the session succeeded).
pub fn clear_failure(ws: &Workspace) -> Result<()> {
    let path = ws.state().file(StateFile::Failure);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &path, e)),
    }
}

/// Write `<state>/handoff.md` (atomically, 0600) from what is recorded and
/// the saved failure; returns its path.
pub fn write(ws: &Workspace) -> Result<PathBuf> {
    let md = brief(ws)?;
    let path = ws.state().ensure_file(StateFile::Handoff)?;
    crate::fs::atomic::write_with_mode(&path, md.as_bytes(), crate::fs::atomic::PRIVATE)
        .map_err(|e| Error::io("write", &path, e))?;
    Ok(path)
}

/// `s` clipped to `max` characters, controls escaped: one line of text.
fn one_line(s: &str, max: usize) -> String {
    esc(&transcript::clip(s.trim(), max)).into_owned()
}

/// Untrusted multi-line text in a fence: control characters escaped
/// (tabs kept), the fence longer than any backtick run inside. Returns
/// the block and whether anything had to be escaped (then it is not the
/// text byte for byte).
fn fenced(content: &str, info: &str) -> (String, bool) {
    let mut body = String::with_capacity(content.len() + 16);
    let mut escaped = false;
    for line in content.split_inclusive('\n') {
        let (line, nl) = match line.strip_suffix('\n') {
            Some(l) => (l, true),
            None => (line, false),
        };
        for (i, part) in line.split('\t').enumerate() {
            if i > 0 {
                body.push('\t');
            }
            let e = esc(part);
            escaped |= matches!(e, std::borrow::Cow::Owned(_));
            body.push_str(&e);
        }
        if nl {
            body.push('\n');
        }
    }
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let fence = fence_for(&body);
    (format!("{fence}{info}\n{body}{fence}\n"), escaped)
}

/// The brief for the current state of `ws`, with the saved failure (and
/// what its transcript says) when there is one.
pub fn brief(ws: &Workspace) -> Result<String> {
    let failure = load_failure(ws);
    let transcript = failure.as_ref().and_then(|f| {
        let format = transcript::Format::for_agent(&f.agent)?;
        transcript::read(f.transcript.as_deref()?, format)
    });
    brief_with(ws, failure.as_ref(), transcript.as_ref())
}

/// [`brief`] from an explicit failure and transcript.
pub fn brief_with(
    ws: &Workspace,
    failure: Option<&Failure>,
    transcript: Option<&Transcript>,
) -> Result<String> {
    let repo = ws.repo();
    let head = ws.head()?;
    let refname = ws.chain_ref_for(&head);
    let snaps = recorded(ws, &refname, &head)?;
    let tip = chain::tip(repo, &refname)?;
    // (id, time, trigger) of the chain's tip.
    let tip_info = match (tip, snaps.last()) {
        (Some(t), Some(last)) if last.oid == t => {
            Some((chain::short_id(t), last.time.clone(), last.trigger.clone()))
        }
        (Some(t), _) => {
            let i = chain::info(repo, t, &refname)?;
            Some((i.id, i.time, i.trigger))
        }
        (None, _) => None,
    };
    let failed_session = failure.and_then(|f| f.session.as_deref());
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "# Hand-off: work in progress in {}\n",
        esc(&ws.workdir().display().to_string())
    );
    let _ = writeln!(
        w,
        "Recorded by savepoint. The work below is safe in git (shadow ref {}), \
         even if it is not in the work tree or in any commit yet.\n",
        code_span(&refname)
    );

    if let Some(f) = failure {
        let _ = writeln!(
            w,
            "Picking this up? `## What went wrong` says why the last session stopped, \
             `## The conversation` and `## Plan` what it was doing and what is left, \
             `## The change` what it changed so far.\n"
        );
        what_went_wrong(w, f, transcript);
    }

    let _ = writeln!(w, "## Repository\n");
    let _ = writeln!(
        w,
        "- Path: {}",
        code_span(&ws.workdir().display().to_string())
    );
    match &head {
        Head::Branch { name, .. } => {
            let _ = writeln!(w, "- Branch: {}", code_span(name));
        }
        Head::Detached { .. } => {
            let _ = writeln!(w, "- Branch: none (detached HEAD)");
        }
    }
    match head.commit() {
        Some(c) => {
            let summary = repo
                .find_commit(c)
                .ok()
                .and_then(|c| c.summary().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(
                w,
                "- Base commit: `{}` {}",
                chain::short_id(c),
                one_line(&summary, MAX_LINE_CHARS)
            );
        }
        None => {
            let _ = writeln!(w, "- Base commit: none yet (unborn branch)");
        }
    }
    let _ = writeln!(w, "- Snapshot chain: {}", code_span(&refname));
    match &tip_info {
        Some((id, time, trigger)) => {
            let _ = writeln!(
                w,
                "- Latest snapshot: `{id}` ({time}, trigger {})",
                code_span(trigger)
            );
        }
        None => {
            let _ = writeln!(w, "- Latest snapshot: none");
        }
    }
    let _ = writeln!(w, "- Snapshots since the base commit: {}\n", snaps.len());

    what_the_session_was_doing(w, &snaps, failed_session);
    if let Some(t) = transcript.filter(|t| !t.turns.is_empty()) {
        conversation(w, t, failure);
    }
    if let Some(plan) = transcript.and_then(|t| t.plan.as_ref()) {
        plan_section(w, plan, transcript.is_some_and(|t| t.partial));
    }

    let base_tree = head
        .commit()
        .map(|c| repo.find_commit(c).and_then(|c| c.tree()))
        .transpose()
        .git_context(|| "read HEAD's tree".to_owned())?;
    let change = match (tip, snaps.is_empty()) {
        (Some(t), false) => Some(change_memo(repo, base_tree.as_ref(), t)?),
        _ => None,
    };

    let _ = writeln!(w, "## Files changed\n");
    match change.as_ref().filter(|c| !c.files.is_empty()) {
        None => {
            let _ = writeln!(w, "None since the base commit.");
        }
        Some(c) => {
            // File names are quoted (no newline can end the block) and the
            // fence is longer than any backtick run in them.
            let mut lines: String = c
                .files
                .iter()
                .map(|f| format!("{} | {}\n", quote_path(&f.path), f.stat))
                .collect();
            if c.more_files > 0 {
                let _ = writeln!(lines, "… and {} more", c.more_files);
            }
            let fence = fence_for(&lines);
            let _ = writeln!(
                w,
                "Base commit → latest snapshot:\n\n{fence}\n{lines}{fence}"
            );
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## The change\n");
    let mut complete = false;
    match change.as_ref().filter(|c| !c.files.is_empty()) {
        None => {
            let _ = writeln!(w, "None since the base commit.");
        }
        Some(c) => {
            let (block, escaped) = fenced(&c.diff, "diff");
            let exact = !escaped && !c.inexact;
            complete = c.omitted.is_empty() && c.more_files == 0 && c.not_diffed == 0 && exact;
            let base = head
                .commit()
                .map_or_else(|| "(none)".to_owned(), chain::short_id);
            let snap = tip.map(chain::short_id).unwrap_or_default();
            if c.diff.is_empty() {
                let _ = writeln!(w, "No file's diff fits here; see below.");
            } else {
                let _ = writeln!(
                    w,
                    "Unified diff, base commit `{base}` → latest snapshot `{snap}`{}:\n",
                    if complete {
                        " (complete: `git apply` takes it)"
                    } else if !exact {
                        " (control characters shown escaped or invalid UTF-8 replaced, \
                         so not for `git apply`)"
                    } else {
                        " (partial)"
                    }
                );
                w.push_str(&block);
            }
            if !c.omitted.is_empty() || c.more_files > 0 || c.not_diffed > 0 {
                let _ = writeln!(
                    w,
                    "\nNot shown here (`git diff HEAD {refname} -- <path>` shows one):\n"
                );
                for (path, why) in &c.omitted {
                    let _ = writeln!(w, "- {} ({why})", code_span(path));
                }
                if c.not_diffed > 0 {
                    let _ = writeln!(
                        w,
                        "- the other {} files listed under `## Files changed` (only the first \
                         {MAX_FILES_DIFFED} are diffed here)",
                        c.not_diffed
                    );
                }
                if c.more_files > 0 {
                    let _ = writeln!(w, "- {} more files (not looked at)", c.more_files);
                }
            }
        }
    }
    let _ = writeln!(w);

    let skipped: Vec<&String> = snaps
        .last()
        .map(|s| s.skipped.iter().collect())
        .unwrap_or_default();
    let _ = writeln!(w, "## Skipped\n");
    if skipped.is_empty() {
        let _ = writeln!(w, "Nothing: every file is in the snapshot.");
    } else {
        let _ = writeln!(
            w,
            "Left out of the snapshots (too large; copy them by hand):\n"
        );
        for s in skipped.iter().take(MAX_SKIPPED) {
            let _ = writeln!(w, "- {}", esc(s));
        }
        if skipped.len() > MAX_SKIPPED {
            let _ = writeln!(w, "- … and {} more", skipped.len() - MAX_SKIPPED);
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## How to continue\n");
    if complete {
        let _ = writeln!(
            w,
            "Without git: the whole change is under `## The change` above; apply it to \
             the base commit's files.\n"
        );
    }
    let _ = writeln!(
        w,
        "Run these in {}:\n",
        code_span(&ws.workdir().display().to_string())
    );
    let _ = writeln!(
        w,
        "- See the work: `git diff HEAD {refname}` (or `savepoint log`, `savepoint diff`)"
    );
    let _ = writeln!(
        w,
        "- If files are missing from the work tree: `savepoint recover --dry-run`, then `savepoint recover --yes`"
    );
    if let Some(t) = tip {
        let _ = writeln!(
            w,
            "- Put the work tree exactly at the latest snapshot: `savepoint restore {}`",
            chain::short_id(t)
        );
    }
    let _ = writeln!(
        w,
        "- Turn the work into one commit: `savepoint squash -m \"<message>\"`"
    );
    if let Some(cmd) = failure.and_then(resume_command) {
        let _ = writeln!(
            w,
            "- Once the provider is back, the failed session can go on: `{cmd}`"
        );
    }
    Ok(md)
}

/// The command that resumes the failed session in its own client, when
/// the session id is safe to paste into a shell.
fn resume_command(f: &Failure) -> Option<String> {
    let id = f.session.as_deref()?;
    let safe = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    crate::integrations::agents::by_name(&f.agent)?.resume_command(safe.then_some(id))
}

/// `## What went wrong`: the failing session, its error, the provider's
/// status and what to do.
fn what_went_wrong(w: &mut String, f: &Failure, transcript: Option<&Transcript>) {
    let _ = writeln!(w, "## What went wrong\n");
    let agent = if f.agent.is_empty() {
        "the assistant"
    } else {
        &f.agent
    };
    let session = match f.session.as_deref() {
        Some(s) => format!("session {}", code_span(&transcript::clip(s, 100))),
        None => "a session without an id".to_owned(),
    };
    let _ = writeln!(
        w,
        "The turn of {session} ({}) stopped on an API error{}.\n",
        esc(agent),
        if f.time.is_empty() {
            String::new()
        } else {
            format!(" at {}", one_line(&f.time, 40))
        }
    );
    let _ = writeln!(w, "- Failed session: {session} ({})", esc(agent));
    let _ = writeln!(
        w,
        "- Error: {}",
        if f.error.trim().is_empty() {
            "(none given)".to_owned()
        } else {
            code_span(&transcript::clip(f.error.trim(), MAX_LINE_CHARS))
        }
    );
    match &f.transcript {
        Some(p) => {
            let note = if transcript::Format::for_agent(&f.agent).is_none() {
                " (not read: savepoint does not know this client's format)"
            } else if transcript.is_none() {
                " (could not be read)"
            } else if transcript.is_some_and(|t| t.partial) {
                " (large: only its end was read)"
            } else {
                ""
            };
            let _ = writeln!(
                w,
                "- Transcript: {}{note}",
                code_span(&p.display().to_string())
            );
        }
        None => {
            let _ = writeln!(w, "- Transcript: not recorded");
        }
    }
    match &f.status {
        Some(v) => {
            let asked = match (v.page.is_empty(), v.checked_at.is_empty()) {
                (false, false) => format!(
                    " ({}, asked {})",
                    one_line(&v.page, 100),
                    one_line(&v.checked_at, 40)
                ),
                (false, true) => format!(" ({})", one_line(&v.page, 100)),
                _ => String::new(),
            };
            let _ = writeln!(w, "- Provider status{asked}: {}", v.line());
            let _ = writeln!(w, "- What to do: {}", v.advice());
        }
        None => {
            let _ = writeln!(
                w,
                "- Provider status: not checked. Retry the turn in a few minutes, switch \
                 model, or continue in another tool with this brief."
            );
        }
    }
    if let Some(m) = f.last_message.as_deref().filter(|m| !m.trim().is_empty()) {
        let _ = writeln!(w, "\nThe last message the user saw:\n");
        let (block, _) = fenced(&transcript::clip(m.trim(), MAX_MESSAGE_CHARS), "text");
        w.push_str(&block);
    }
    let _ = writeln!(w);
}

/// `## What the session was doing`: the prompts recorded with the
/// snapshots (each (session, prompt) once), tools and assistants.
fn what_the_session_was_doing(w: &mut String, snaps: &[Recorded], failed: Option<&str>) {
    let _ = writeln!(w, "## What the session was doing\n");
    let mut seen = std::collections::HashSet::new();
    let mut prompts: Vec<(&Recorded, &str)> = Vec::new();
    for s in snaps {
        for p in &s.prompts {
            if seen.insert((s.session.as_deref(), p.as_str())) {
                prompts.push((s, p));
            }
        }
    }
    let skip = prompts.len().saturating_sub(MAX_PROMPTS);
    if skip > 0 {
        let _ = writeln!(
            w,
            "({skip} earlier prompts are not listed: `savepoint log` shows them.)\n"
        );
    }
    for (n, (s, p)) in prompts.iter().enumerate().skip(skip) {
        let session = s
            .session
            .as_deref()
            .map(|x| {
                let failed = if Some(x) == failed {
                    ", the one that failed"
                } else {
                    ""
                };
                format!(" (session {}{failed})", code_span(x))
            })
            .unwrap_or_default();
        let by = s
            .agent
            .as_deref()
            .map(|a| format!(" [{}]", esc(a)))
            .unwrap_or_default();
        let _ = writeln!(
            w,
            "{}. {} — {}{session}{by}",
            n + 1,
            s.time,
            one_line(p, MAX_LINE_CHARS)
        );
    }
    if prompts.is_empty() {
        let _ = writeln!(w, "No prompts were recorded.");
    }
    let tools: Vec<&str> = {
        let mut t: Vec<&str> = snaps.iter().filter_map(|s| s.tool.as_deref()).collect();
        t.sort_unstable();
        t.dedup();
        t
    };
    if !tools.is_empty() {
        let tools: Vec<_> = tools.iter().take(30).map(|t| one_line(t, 60)).collect();
        let _ = writeln!(w, "\nTools used: {}.", tools.join(", "));
    }
    let mut agents: Vec<&str> = Vec::new();
    for a in snaps.iter().filter_map(|s| s.agent.as_deref()) {
        if !agents.contains(&a) {
            agents.push(a);
        }
    }
    if !agents.is_empty() {
        let agents: Vec<_> = agents.iter().take(10).map(|a| one_line(a, 60)).collect();
        let _ = writeln!(w, "\nAssistants that worked on it: {}.", agents.join(", "));
    }
    let _ = writeln!(w);
}

/// `## The conversation`: how each of the last turns ended, from the
/// client's transcript.
fn conversation(w: &mut String, t: &Transcript, failure: Option<&Failure>) {
    let _ = writeln!(w, "## The conversation\n");
    let agent = failure.map_or("the client", |f| f.agent.as_str());
    let _ = writeln!(
        w,
        "The last {} of the failed session, from {}'s transcript{}, oldest first: \
         each prompt and the assistant's last message in that turn.\n",
        crate::plural(t.turns.len() as u64, "turn"),
        esc(agent),
        if t.partial {
            " (only its end was read)"
        } else {
            ""
        }
    );
    let last = t.turns.len().saturating_sub(1);
    for (i, turn) in t.turns.iter().enumerate() {
        let failed = if i == last && failure.is_some() {
            " (the turn that failed)"
        } else {
            ""
        };
        let prompt = turn
            .prompt
            .as_deref()
            .map_or("(not in the part read)".to_owned(), |p| {
                one_line(p, MAX_LINE_CHARS)
            });
        let _ = writeln!(w, "**Turn {}{failed}.** Prompt: {prompt}\n", i + 1);
        match turn.last_message.as_deref() {
            Some(m) => {
                let _ = writeln!(w, "The assistant's last message:\n");
                let (block, _) = fenced(&transcript::clip(m, MAX_MESSAGE_CHARS), "text");
                w.push_str(&block);
                let _ = writeln!(w);
            }
            None => {
                let _ = writeln!(w, "The assistant said nothing in this turn.\n");
            }
        }
        if let Some(e) = turn.error.as_deref() {
            let _ = writeln!(
                w,
                "It ended on: {}\n",
                code_span(&transcript::clip(e, MAX_LINE_CHARS))
            );
        }
    }
}

/// `## Plan`: the session's todo list, what is not done marked so.
fn plan_section(w: &mut String, plan: &transcript::Plan, partial: bool) {
    let _ = writeln!(w, "## Plan\n");
    let _ = writeln!(
        w,
        "The session's latest plan ({}){}:\n",
        code_span(&plan.tool),
        if partial {
            ", from the part of the transcript read"
        } else {
            ""
        }
    );
    if let Some(e) = &plan.explanation {
        let _ = writeln!(w, "Why: {}\n", one_line(e, MAX_LINE_CHARS));
    }
    if plan.items.is_empty() {
        let _ = writeln!(w, "(empty)");
    }
    for item in &plan.items {
        let text = one_line(&item.text, MAX_LINE_CHARS);
        let status = one_line(&item.status, 40);
        if item.done() {
            let _ = writeln!(w, "- [x] {text}");
        } else if matches!(item.status.as_str(), "cancelled" | "deleted") {
            let _ = writeln!(w, "- [ ] ~~{text}~~ ({status})");
        } else {
            let _ = writeln!(w, "- [ ] {text} — **not yet done** ({status})");
        }
    }
    if plan.more > 0 {
        let _ = writeln!(w, "- … and {} more items", plan.more);
    }
    let _ = writeln!(w);
}

/// [`change`] of the last brief this process wrote, by base tree and
/// snapshot: a pure function of two immutable objects, so a watcher that
/// writes the brief again for the same tip (a client retrying a failing
/// turn fires one failure event per attempt) reuses it.
fn change_memo(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: Oid,
) -> Result<std::sync::Arc<Change>> {
    type Memo = Option<(Option<Oid>, Oid, std::sync::Arc<Change>)>;
    static LAST: std::sync::Mutex<Memo> = std::sync::Mutex::new(None);
    let key = (old.map(git2::Tree::id), new);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((o, n, c)) = last.as_ref() {
        if (*o, *n) == key {
            return Ok(c.clone());
        }
    }
    let c = std::sync::Arc::new(change(repo, old, new)?);
    *last = Some((key.0, key.1, c.clone()));
    Ok(c)
}

/// One file of the change.
struct FileChange {
    path: String,
    /// `+3 -1`, `binary`, `large file (2.0 MiB)`.
    stat: String,
}

/// The change from the base commit to the latest snapshot, bounded.
struct Change {
    files: Vec<FileChange>,
    /// Files past [`MAX_FILES_LISTED`] (counted, not looked at).
    more_files: usize,
    /// Files listed but past [`MAX_FILES_DIFFED`] (not in `diff`).
    not_diffed: usize,
    /// Unified diff text of the files that fit.
    diff: String,
    /// Files not in `diff`, and why.
    omitted: Vec<(String, String)>,
    /// `diff` is not byte for byte what git would print (invalid UTF-8
    /// replaced).
    inexact: bool,
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KiB", n as f64 / 1024.0)
    }
}

/// Diff the base tree against snapshot `new`: per-file stats and as much
/// of the unified diff as fits in [`MAX_DIFF_LINES`] / [`MAX_DIFF_BYTES`].
/// Changed paths come from [`crate::git::treediff`] (equal subtrees are never
/// read: O(changed paths), not O(repository)); binary, large and
/// submodule entries are named, not shown; only the first
/// [`MAX_FILES_DIFFED`] files are diffed and [`MAX_FILES_LISTED`] named.
fn change(repo: &Repository, old: Option<&git2::Tree<'_>>, new: Oid) -> Result<Change> {
    use crate::git::mode::MODE_GITLINK;
    use crate::git::treediff::Leaf;
    let new_tree = repo
        .find_commit(new)
        .and_then(|c| c.tree())
        .git_context(|| format!("read the tree of {new}"))?;
    let changes = crate::git::treediff::diff(repo, old, Some(&new_tree), &[])?;
    let odb = repo
        .odb()
        .git_context(|| "open the object database".to_owned())?;
    let size = |leaf: Option<Leaf>| -> u64 {
        leaf.filter(|l| l.mode != MODE_GITLINK)
            .and_then(|l| odb.read_header(l.oid).ok())
            .map_or(0, |(n, _)| n as u64)
    };
    let mut out = Change {
        files: Vec::new(),
        more_files: 0,
        not_diffed: 0,
        diff: String::new(),
        omitted: Vec::new(),
        inexact: false,
    };
    let mut lines = 0usize;
    for (i, c) in changes.iter().enumerate() {
        if i >= MAX_FILES_LISTED {
            out.more_files += 1;
            continue;
        }
        let path = c.path_lossy();
        let status = match (c.old, c.new) {
            (None, _) => "added",
            (_, None) => "deleted",
            _ => "modified",
        };
        if i >= MAX_FILES_DIFFED {
            // Named with what happened to them, not diffed (time).
            out.files.push(FileChange {
                path,
                stat: status.into(),
            });
            out.not_diffed += 1;
            continue;
        }
        let name = |stat: String, why: String, out: &mut Change| {
            out.files.push(FileChange {
                path: path.clone(),
                stat,
            });
            out.omitted.push((path.clone(), why));
        };
        let gitlink = |l: Option<Leaf>| l.is_some_and(|l| l.mode == MODE_GITLINK);
        if gitlink(c.old) || gitlink(c.new) {
            let id = |l: Option<Leaf>| l.map_or("none".to_owned(), |l| chain::short_id(l.oid));
            let what = format!("submodule, {} → {}", id(c.old), id(c.new));
            name("submodule".into(), what, &mut out);
            continue;
        }
        let big = size(c.old).max(size(c.new));
        if big > LARGE_FILE_BYTES {
            let what = format!("large file, {}", human_size(big));
            name(what.clone(), what, &mut out);
            continue;
        }
        let blob = |l: Option<Leaf>| l.map(|l| repo.find_blob(l.oid));
        let (old_blob, new_blob) = match (blob(c.old).transpose(), blob(c.new).transpose()) {
            (Ok(o), Ok(n)) => (o, n),
            _ => {
                name("?".into(), "could not be read".into(), &mut out);
                continue;
            }
        };
        let old_bytes = old_blob.as_ref().map_or(&[][..], |b| b.content());
        let new_bytes = new_blob.as_ref().map_or(&[][..], |b| b.content());
        let file_path = crate::snapshot::engine::bytes_path(&c.path);
        let mut opts = DiffOptions::new();
        opts.context_lines(3);
        let patch = git2::Patch::from_buffers(
            old_bytes,
            Some(file_path),
            new_bytes,
            Some(file_path),
            Some(&mut opts),
        );
        let Ok(mut patch) = patch else {
            name("?".into(), "could not be diffed".into(), &mut out);
            continue;
        };
        if patch.delta().flags().is_binary() {
            name("binary".into(), "binary".into(), &mut out);
            continue;
        }
        let (add, del) = patch.line_stats().map_or((0, 0), |(_, a, d)| (a, d));
        out.files.push(FileChange {
            path: path.clone(),
            stat: format!("+{add} -{del}"),
        });
        // libgit2's header for two buffers knows nothing of modes or of
        // added and deleted files: git's is written here, the hunks kept.
        let (body, lossy) = match patch.to_buf() {
            Ok(buf) => match String::from_utf8_lossy(&buf) {
                std::borrow::Cow::Borrowed(b) => (b.to_owned(), false),
                std::borrow::Cow::Owned(o) => (o, true),
            },
            Err(_) => (String::new(), false),
        };
        let hunks = body.find("\n@@").map_or("", |at| &body[at + 1..]);
        let text = format!(
            "{}{hunks}",
            git_header(&path, c.old, c.new, !hunks.is_empty())
        );
        let n = text.lines().count();
        if lines + n <= MAX_DIFF_LINES && out.diff.len() + text.len() <= MAX_DIFF_BYTES {
            lines += n;
            out.inexact |= lossy;
            out.diff.push_str(&text);
            if !out.diff.ends_with('\n') {
                out.diff.push('\n');
            }
        } else {
            out.omitted.push((
                path,
                format!(
                    "{n} diff lines: past the {MAX_DIFF_LINES}-line / {} KiB limit of this brief",
                    MAX_DIFF_BYTES / 1024
                ),
            ));
        }
    }
    Ok(out)
}

/// git's header of one file's diff (`diff --git`, mode lines, `index`,
/// `---` / `+++` when there are hunks), paths quoted as git quotes them.
fn git_header(
    path: &str,
    old: Option<crate::git::treediff::Leaf>,
    new: Option<crate::git::treediff::Leaf>,
    hunks: bool,
) -> String {
    let a = quote_path(&format!("a/{path}")).into_owned();
    let b = quote_path(&format!("b/{path}")).into_owned();
    let mut h = format!("diff --git {a} {b}\n");
    match (old, new) {
        (None, Some(n)) => {
            let _ = writeln!(h, "new file mode {:o}", n.mode);
        }
        (Some(o), None) => {
            let _ = writeln!(h, "deleted file mode {:o}", o.mode);
        }
        (Some(o), Some(n)) if o.mode != n.mode => {
            let _ = writeln!(h, "old mode {:o}\nnew mode {:o}", o.mode, n.mode);
        }
        _ => {}
    }
    let short = |l: Option<crate::git::treediff::Leaf>| {
        l.map_or_else(
            || "0000000".to_owned(),
            |l| l.oid.to_string()[..7].to_owned(),
        )
    };
    if old.map(|l| l.oid) != new.map(|l| l.oid) {
        let _ = write!(h, "index {}..{}", short(old), short(new));
        match (old, new) {
            (Some(o), Some(n)) if o.mode == n.mode => {
                let _ = writeln!(h, " {:o}", o.mode);
            }
            _ => h.push('\n'),
        }
    }
    if hunks {
        let from = if old.is_some() {
            a.as_str()
        } else {
            "/dev/null"
        };
        let to = if new.is_some() {
            b.as_str()
        } else {
            "/dev/null"
        };
        let _ = writeln!(h, "--- {from}\n+++ {to}");
    }
    h
}
