//! The hand-off brief: markdown describing the unsquashed work of the
//! current chain — repository, branch, base commit, the session's prompts
//! in order, files changed, the latest snapshot, anything skipped, and the
//! exact commands to restore or squash — for another assistant or a person
//! to continue. Headings are stable (`## Repository`, `## What the session
//! was doing`, `## Files changed`, `## Skipped`, `## How to continue`) so
//! tools can parse the brief.

use crate::text::{code_span, escape_controls as esc, fence_for, quote_path};
use std::fmt::Write as _;

use git2::{DiffOptions, Oid, Repository};

use crate::chain::{self, SnapshotInfo};
use crate::error::{GitContext, Result};
use crate::repo::{Head, Workspace};

/// Snapshots looked at when collecting the session's prompts.
const MAX_SNAPSHOTS: usize = 500;

/// The snapshots of the current chain taken on the current HEAD (the work
/// not yet committed), oldest first.
pub fn unsquashed(ws: &Workspace) -> Result<Vec<SnapshotInfo>> {
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

/// Write the brief for the current state of `ws`.
pub fn brief(ws: &Workspace) -> Result<String> {
    let repo = ws.repo();
    let refname = ws.chain_ref()?;
    let head = ws.head()?;
    let snaps = unsquashed(ws)?;
    let tip = chain::tip(repo, &refname)?;
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
                esc(&summary)
            );
        }
        None => {
            let _ = writeln!(w, "- Base commit: none yet (unborn branch)");
        }
    }
    let _ = writeln!(w, "- Snapshot chain: {}", code_span(&refname));
    match tip {
        Some(t) => {
            let info = chain::info(repo, t, &refname)?;
            let _ = writeln!(
                w,
                "- Latest snapshot: `{}` ({}, trigger {})",
                info.id,
                info.time,
                code_span(&info.trigger)
            );
        }
        None => {
            let _ = writeln!(w, "- Latest snapshot: none");
        }
    }
    let _ = writeln!(w, "- Snapshots since the base commit: {}\n", snaps.len());

    let _ = writeln!(w, "## What the session was doing\n");
    let mut last: Option<&str> = None;
    let mut n = 0;
    for s in &snaps {
        let Some(p) = s.prompt.as_deref() else {
            continue;
        };
        if last == Some(p) {
            continue;
        }
        last = Some(p);
        n += 1;
        let session = s
            .session
            .as_deref()
            .map(|x| format!(" (session {})", code_span(x)))
            .unwrap_or_default();
        let by = s
            .agent
            .as_deref()
            .map(|a| format!(" [{}]", esc(a)))
            .unwrap_or_default();
        let _ = writeln!(w, "{n}. {} — {}{session}{by}", s.time, esc(p));
    }
    if n == 0 {
        let _ = writeln!(w, "No prompts were recorded.");
    }
    let tools: Vec<&str> = {
        let mut t: Vec<&str> = snaps.iter().filter_map(|s| s.tool.as_deref()).collect();
        t.sort_unstable();
        t.dedup();
        t
    };
    if !tools.is_empty() {
        let tools: Vec<_> = tools.iter().map(|t| esc(t)).collect();
        let _ = writeln!(w, "\nTools used: {}.", tools.join(", "));
    }
    let agents = crate::squash::agents_in_order(&snaps);
    if !agents.is_empty() {
        let agents: Vec<_> = agents.iter().map(|a| esc(a)).collect();
        let _ = writeln!(w, "\nAssistants that worked on it: {}.", agents.join(", "));
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Files changed\n");
    let base_tree = head
        .commit()
        .map(|c| repo.find_commit(c).and_then(|c| c.tree()))
        .transpose()
        .git_context(|| "read HEAD's tree".to_owned())?;
    let stats = match (tip, snaps.is_empty()) {
        (Some(t), false) => line_stats(repo, base_tree.as_ref(), t)?,
        _ => Vec::new(),
    };
    if stats.is_empty() {
        let _ = writeln!(w, "None since the base commit.");
    } else {
        // File names are quoted (no newline can end the block) and the
        // fence is longer than any backtick run in them.
        let lines: String = stats
            .iter()
            .map(|(path, add, del)| format!("{} | +{add} -{del}\n", quote_path(path)))
            .collect();
        let fence = fence_for(&lines);
        let _ = writeln!(
            w,
            "Base commit → latest snapshot:\n\n{fence}\n{lines}{fence}"
        );
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
        for s in skipped {
            let _ = writeln!(w, "- {}", esc(s));
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## How to continue\n");
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
    Ok(md)
}

/// Files changed from `old` to commit `new`'s tree with line counts.
fn line_stats(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: Oid,
) -> Result<Vec<(String, usize, usize)>> {
    let new_tree = repo
        .find_commit(new)
        .and_then(|c| c.tree())
        .git_context(|| format!("read the tree of {new}"))?;
    let mut opts = DiffOptions::new();
    let diff = repo
        .diff_tree_to_tree(old, Some(&new_tree), Some(&mut opts))
        .git_context(|| "diff the work".to_owned())?;
    Ok(diff_line_stats(&diff))
}

/// Per file of a diff: path, lines added, lines removed.
pub fn diff_line_stats(diff: &git2::Diff<'_>) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (add, del) = git2::Patch::from_diff(diff, i)
            .ok()
            .flatten()
            .and_then(|p| p.line_stats().ok())
            .map_or((0, 0), |(_, a, d)| (a, d));
        out.push((path, add, del));
    }
    out
}
