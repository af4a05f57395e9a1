//! `savepoint squash`: the work since HEAD as one real commit.

use std::io::Write;
use std::process::Command;

use anyhow::{bail, Context, Result};
use savepoint::ops::squash::{self, SquashRequest};
use savepoint::workspace::state::StateFile;

use super::Ctx;
use crate::cli::output as ui;

/// Turn the work since HEAD into one real commit.
///
/// Takes a fresh snapshot, then commits exactly its tree (what `git add -A`
/// would commit) with HEAD as parent, moving the current branch (or, with
/// --branch, creating a new one and leaving the current branch alone). The
/// default message summarises the prompts, tools and files recorded since
/// HEAD. Your index is updated for the committed paths only, so
/// `git status` is clean afterwards without re-reading unchanged files.
/// Refuses during a rebase/merge, on a detached HEAD without --branch, and
/// when there is nothing to commit. Git hooks do not run.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint squash                       # generated message\n  savepoint squash -m \"Parser: errors carry line numbers\"\n  savepoint squash -e                    # edit the generated message\n  savepoint squash --branch wip/parser   # keep the current branch as it is"
)]
pub struct Args {
    /// The commit message (instead of the generated one).
    #[arg(short, long, value_name = "MSG", conflicts_with = "edit")]
    pub message: Option<String>,

    /// Edit the message in your editor (git's choice: GIT_EDITOR,
    /// core.editor, VISUAL, EDITOR).
    #[arg(short, long)]
    pub edit: bool,

    /// Commit on a new branch NAME (at HEAD + the work) instead.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,

    /// Print JSON: {"commit","ref","files","snapshots","index_warning"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let req = SquashRequest {
        branch: args.branch.clone(),
    };
    let prepared = squash::prepare(&ws, &req)?;
    let message = match (&args.message, args.edit) {
        (Some(m), _) => m.clone(),
        (None, true) => edit(&ws, &prepared.default_message)?,
        (None, false) => prepared.default_message.clone(),
    };
    if message.trim().is_empty() {
        bail!("empty commit message; nothing was committed");
    }
    for s in &prepared.skipped {
        eprintln!("warning: not in the commit: {}", ui::text(&s.to_string()));
    }
    let done = squash::commit(&ws, &prepared, &message)?;
    if args.json {
        super::print_json(&done)?;
    } else {
        let u = &ctx.ui;
        let branch = done.refname.trim_start_matches("refs/heads/");
        let subject = message.lines().next().unwrap_or("");
        println!(
            "[{} {}] {}",
            u.paint(ui::REF, branch),
            u.paint(ui::ID, &done.commit),
            ui::text(subject)
        );
        println!(
            " {} changed; squashed {}",
            savepoint::plural(done.files as u64, "file"),
            savepoint::plural(done.snapshots as u64, "snapshot")
        );
    }
    if let Some(w) = &done.index_warning {
        eprintln!("warning: committed, but the index could not be updated: {w}");
        eprintln!("hint: `git reset -q` brings the index in line with the new commit");
    }
    Ok(())
}

/// Let the user edit `initial` in git's editor; `#` lines are dropped.
fn edit(ws: &savepoint::workspace::Workspace, initial: &str) -> Result<String> {
    let out = savepoint::git::command::GitCmd::new(ws.git_dir(), ws.workdir())
        .args(["var", "GIT_EDITOR"])
        .output()
        .context("run `git var GIT_EDITOR`")?;
    let editor = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || editor.is_empty() {
        bail!("no editor configured (set core.editor, GIT_EDITOR, VISUAL or EDITOR), or pass -m");
    }
    let path = ws.state().ensure_file(StateFile::SquashMessage)?;
    let mut f = std::fs::File::create(&path)?;
    write!(
        f,
        "{initial}\n# Edit the commit message for `savepoint squash`. Lines starting\n# with '#' are dropped; an empty message aborts.\n"
    )?;
    drop(f);
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(&path)
        .status()
        .with_context(|| format!("run the editor `{editor}`"))?;
    if !status.success() {
        bail!("the editor `{editor}` failed ({status}); nothing was committed");
    }
    let text = std::fs::read_to_string(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned())
}
