//! `savepoint diff`: differences between snapshots, or a snapshot and the
//! work tree, optionally limited to paths. Also home of what `show` and
//! `log` share with it: reading `[<snap>…] [--] [<path>…]` operands the way
//! git does, and printing a tree diff (patch or `--stat`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use git2::{Diff, DiffFormat, DiffOptions, Oid, Repository, Tree};
use savepoint::snapshot::revision::{self, RevisionError};
use savepoint::workspace::{pathspec, Workspace};

use super::Ctx;
use crate::cli::output as ui;

/// Diff a snapshot against the work tree or another snapshot.
///
/// Prints a unified diff (or `--stat`).
///
/// With no snapshot, compares the latest snapshot (`@`) with the work tree
/// as it is now: what a `savepoint snap` would record. The work tree side is
/// computed like a snapshot (same ignore rules) without creating one.
///
/// Paths limit the diff to those files and directories. They are relative
/// to the current directory, like git's, and go after `--` (which may be
/// left out when the path exists and is not also a snapshot name).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  savepoint diff                   # latest snapshot → work tree\n  savepoint diff @{1h}             # an hour ago → work tree\n  savepoint diff @~3 @ --stat      # three snapshots ago → latest\n  savepoint diff -- src/           # only src/ (relative to the current directory)\n  savepoint diff \"@{/before refactor}\" -- src/parser.rs"
)]
pub struct Args {
    /// The old side (default @), then the new side (default: the work tree).
    /// A snapshot: an id, @, @~N, @{<time>}, @{/<text>} or any git revision.
    #[arg(value_name = "SNAP")]
    pub snaps: Vec<String>,

    /// Only these files or directories (relative to the current directory).
    #[arg(last = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Only list changed files with added/removed line counts.
    #[arg(long)]
    pub stat: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ws = ctx.workspace()?;
    let repo = ws.repo();
    let ops = Operands::read(ctx, &ws, &args.snaps, &args.paths, 2, "diff")?;
    let from = match ops.snaps.first() {
        Some(oid) => *oid,
        None => revision::resolve(&ws, "@")?,
    };
    let old_tree = repo.find_commit(from)?.tree()?;
    let new_tree = match ops.snaps.get(1) {
        Some(oid) => repo.find_commit(*oid)?.tree()?,
        None => repo.find_tree(savepoint::snapshot::current::tree(&ws)?)?,
    };
    print_tree_diff(ctx, repo, Some(&old_tree), &new_tree, args.stat, &ops.scope)
}

/// The operands of `diff`, `show` and `log`, read git's way: snapshot names
/// first, then paths. Everything after `--` is a path; before it, an
/// argument that names no snapshot but an existing file or directory
/// starts the paths; one that is both is ambiguous (as in git).
pub struct Operands {
    pub snaps: Vec<Oid>,
    /// Work-tree-relative paths; empty: the whole tree.
    pub scope: Vec<Vec<u8>>,
}

impl Operands {
    /// `args` are the operands before `--`, `after_dashes` those after it;
    /// at most `max_snaps` snapshots (`command` names the command in
    /// errors).
    pub fn read(
        ctx: &Ctx,
        ws: &Workspace,
        args: &[String],
        after_dashes: &[PathBuf],
        max_snaps: usize,
        command: &str,
    ) -> Result<Operands> {
        let mut snaps = Vec::new();
        let mut paths: Vec<PathBuf> = Vec::new();
        for arg in args {
            if !paths.is_empty() {
                paths.push(PathBuf::from(arg));
                continue;
            }
            let as_path = existing_path(ctx, ws, Path::new(arg));
            if snaps.len() == max_snaps {
                if as_path {
                    paths.push(PathBuf::from(arg));
                    continue;
                }
                let takes = match max_snaps {
                    0 => String::new(),
                    n => format!(
                        " (and `{command}` takes at most {})",
                        savepoint::plural(n as u64, "snapshot")
                    ),
                };
                bail!(
                    "`{arg}` is not a path in the work tree{takes}; a path that no longer exists goes after `--`: \
                     `savepoint {command} -- {arg}`"
                );
            }
            match (revision::resolve(ws, arg), as_path) {
                (Ok(_), true) => bail!(
                    "`{arg}` is both a snapshot name and a path in the work tree; \
                     write `savepoint {command} {arg} --` for the snapshot or `savepoint {command} -- {arg}` for the path"
                ),
                (Ok(oid), false) => snaps.push(oid),
                (Err(_), true) => paths.push(PathBuf::from(arg)),
                (Err(e), false) => {
                    let shorthand = !matches!(
                        revision::parse(arg, chrono::Local::now()),
                        Ok(revision::Spec::Git(_))
                    );
                    if shorthand {
                        return Err(e.into());
                    }
                    return Err(savepoint::Error::Revision {
                        spec: arg.clone(),
                        source: RevisionError::NeitherSnapshotNorPath {
                            command: command.to_string(),
                            name: arg.clone(),
                        },
                    }
                    .into());
                }
            }
        }
        paths.extend(after_dashes.iter().cloned());
        let scope = pathspec::scope(ws, &ctx.dir, &paths)?;
        Ok(Operands { snaps, scope })
    }
}

/// Does `p` (relative to the current directory) name something that exists
/// inside the work tree?
fn existing_path(ctx: &Ctx, ws: &Workspace, p: &Path) -> bool {
    std::fs::symlink_metadata(ctx.dir.join(p)).is_ok() && pathspec::resolve(ws, &ctx.dir, p).is_ok()
}

/// Print a tree-to-tree diff as a patch (or a stat), limited to `scope`
/// (empty: everything), coloured when enabled.
pub fn print_tree_diff(
    ctx: &Ctx,
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
    stat: bool,
    scope: &[Vec<u8>],
) -> Result<()> {
    // Our own walk first: it refuses trees nested deeper than git allows,
    // which libgit2's diff would take quadratic time and memory on.
    let changes = savepoint::git::treediff::diff(repo, old, Some(new), scope)?;
    let u = &ctx.ui;
    let mut out = std::io::stdout().lock();
    if changes.is_empty() {
        if stat {
            writeln!(out, " no changes")?;
        }
        return Ok(());
    }
    // libgit2 walks both trees whole (equal subtrees included): give it
    // exactly the changed paths, which its tree iterators seek to.
    let mut opts = DiffOptions::new();
    opts.show_binary(false).disable_pathspec_match(true);
    for c in &changes {
        opts.pathspec(c.path.clone());
    }
    // The diff drivers come from `.gitattributes`, which libgit2 also
    // looks up in the index — reading (and checksumming) the whole index
    // for that. The work tree's files are what git's diff reads first;
    // an empty in-memory index keeps libgit2 from loading the real one.
    repo.set_index(&mut git2::Index::new()?)?;
    let mut diff = repo.diff_tree_to_tree(old, Some(new), Some(&mut opts))?;
    diff.find_similar(None)?;
    if stat {
        return print_stat(repo, &diff, &mut out, u);
    }
    let mut io_err: Option<std::io::Error> = None;
    diff.print(DiffFormat::Patch, |_, _, line| {
        // Bytes as git prints them: content that is not UTF-8 must survive
        // (the patch has to apply with `git apply`).
        let mut text = Vec::with_capacity(line.content().len() + 1);
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        let style = match line.origin() {
            '+' | '>' => Some(ui::ADD),
            '-' | '<' => Some(ui::DEL),
            'H' => Some(ui::HUNK),
            'F' => Some(ui::BOLD),
            _ => None,
        };
        let rendered = match style {
            Some(s) if u.color => {
                let (body, nl): (&[u8], &[u8]) = text
                    .strip_suffix(b"\n")
                    .map_or((text.as_slice(), b""), |b| (b, b"\n"));
                [
                    s.render().to_string().as_bytes(),
                    body,
                    s.render_reset().to_string().as_bytes(),
                    nl,
                ]
                .concat()
            }
            _ => text,
        };
        match out.write_all(&rendered) {
            Ok(()) => true,
            Err(e) => {
                io_err = Some(e);
                false
            }
        }
    })
    .or_else(|e| if io_err.is_some() { Ok(()) } else { Err(e) })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    Ok(())
}

/// One file of a `--stat`.
enum StatLine {
    Text { added: usize, removed: usize },
    Binary { old_size: usize, new_size: usize },
}

/// `git diff --stat`'s shape: ` path | +3 -1`, ` image.png | Bin 0 -> 1234
/// bytes`, then the totals (or ` no changes`).
fn print_stat(repo: &Repository, diff: &Diff<'_>, out: &mut impl Write, u: &ui::Ui) -> Result<()> {
    let blob_size = |id: Oid| {
        (!id.is_zero())
            .then(|| repo.find_blob(id).ok().map(|b| b.size()))
            .flatten()
            .unwrap_or(0)
    };
    let mut rows: Vec<(String, StatLine)> = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let name = |f: git2::DiffFile<'_>| {
            f.path()
                .map(|p| ui::path(&p.to_string_lossy()).into_owned())
                .unwrap_or_default()
        };
        let (old, new) = (name(delta.old_file()), name(delta.new_file()));
        let path = match delta.status() {
            git2::Delta::Renamed | git2::Delta::Copied if old != new => format!("{old} => {new}"),
            git2::Delta::Deleted => old,
            _ => new,
        };
        let patch = git2::Patch::from_diff(diff, i)?;
        let binary = delta.flags().is_binary()
            || patch
                .as_ref()
                .is_some_and(|p| p.delta().flags().is_binary());
        let line = match patch.filter(|_| !binary) {
            Some(p) => {
                let (_, added, removed) = p.line_stats()?;
                StatLine::Text { added, removed }
            }
            None => StatLine::Binary {
                old_size: blob_size(delta.old_file().id()),
                new_size: blob_size(delta.new_file().id()),
            },
        };
        rows.push((path, line));
    }
    if rows.is_empty() {
        writeln!(out, " no changes")?;
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|(p, _)| p.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let (mut insertions, mut deletions) = (0, 0);
    for (path, line) in &rows {
        let counts = match line {
            StatLine::Text { added, removed } => {
                insertions += added;
                deletions += removed;
                format!(
                    "{} {}",
                    u.paint(ui::ADD, &format!("+{added}")),
                    u.paint(ui::DEL, &format!("-{removed}"))
                )
            }
            StatLine::Binary { old_size, new_size } => {
                format!("Bin {old_size} -> {new_size} bytes")
            }
        };
        writeln!(out, " {path:<width$} | {counts}")?;
    }
    // git's summary line: a zero side is left out unless both are zero.
    let mut summary = format!(" {} changed", savepoint::plural(rows.len() as u64, "file"));
    if insertions > 0 || deletions == 0 {
        summary.push_str(&format!(
            ", {insertions} insertion{}(+)",
            if insertions == 1 { "" } else { "s" }
        ));
    }
    if deletions > 0 || insertions == 0 {
        summary.push_str(&format!(
            ", {deletions} deletion{}(-)",
            if deletions == 1 { "" } else { "s" }
        ));
    }
    writeln!(out, "{summary}")?;
    Ok(())
}
