//! What the right-hand panes show for the selected snapshot: the files it
//! changed against a base (its previous snapshot, the work tree, or HEAD),
//! their line counts, and one file's diff or content. Only the selected
//! snapshot is ever diffed; counts are computed for the files on screen;
//! big diffs and files are cut ([`MAX_LINES`], [`MAX_BLOB`]).

use anyhow::Result;
use git2::{Oid, Repository, Tree};
use savepoint::git::mode::{MODE_GITLINK, MODE_LINK};
use savepoint::git::treediff::{self, Leaf};
use savepoint::snapshot::chain;

/// Lines of one diff or file shown at most.
pub const MAX_LINES: usize = 5_000;
/// Blobs larger than this are not diffed nor shown.
pub const MAX_BLOB: usize = 8 << 20;
/// Files listed at most for one snapshot.
pub const MAX_FILES: usize = 20_000;

/// What the selected snapshot is compared with (`d` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Its previous snapshot: what this snapshot changed.
    Previous,
    /// The work tree now: what changed since (snapshot → work tree).
    WorkTree,
    /// HEAD's commit: what the snapshot holds beyond it (HEAD → snapshot).
    Head,
}

impl Base {
    pub fn next(self) -> Base {
        match self {
            Base::Previous => Base::WorkTree,
            Base::WorkTree => Base::Head,
            Base::Head => Base::Previous,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Base::Previous => "vs previous snapshot",
            Base::WorkTree => "vs work tree",
            Base::Head => "vs HEAD",
        }
    }
}

/// Line counts of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Lines {
        added: usize,
        removed: usize,
    },
    Binary,
    Large,
    Symlink,
    Submodule,
    /// Only the exec bit changed.
    Mode,
}

impl Stat {
    pub fn text(self) -> String {
        match self {
            Stat::Lines { added, removed } => format!("+{added} -{removed}"),
            Stat::Binary => "binary".into(),
            Stat::Large => "large".into(),
            Stat::Symlink => "symlink".into(),
            Stat::Submodule => "submodule".into(),
            Stat::Mode => "mode".into(),
        }
    }
}

/// One changed file.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub path: Vec<u8>,
    /// `A`, `M`, `D`, `T` (type or mode).
    pub status: char,
    pub old: Option<Leaf>,
    pub new: Option<Leaf>,
    /// Computed when the row is first on screen.
    pub stat: Option<Stat>,
}

impl FileEntry {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// The selected snapshot against its base.
#[derive(Debug, Clone)]
pub struct Detail {
    pub oid: Oid,
    pub base: Base,
    /// `previous 3f9c2a1b7d4e`, `HEAD then, 1a2b…` (a chain's first
    /// snapshot), `the work tree now`, `HEAD 1a2b3c4d5e6f`, `nothing …`.
    pub base_name: String,
    pub files: Vec<FileEntry>,
    /// More files changed than listed.
    pub more_files: usize,
}

/// The kinds of lines in the diff pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Added,
    Removed,
    Context,
    Hunk,
    /// A note (binary, large, cut).
    Note,
}

/// The bottom-right pane's text: one file's diff, or its content.
#[derive(Debug, Clone)]
pub struct FileText {
    pub path: String,
    pub content: bool,
    pub lines: Vec<(LineKind, String)>,
}

/// The trees a diff compares, by base: `(old, new)`, `None` for the empty
/// tree. `worktree` is the work tree's tree (scanned by the caller).
pub fn sides<'r>(
    repo: &'r Repository,
    oid: Oid,
    base: Base,
    head: Option<Oid>,
    worktree: Option<Oid>,
) -> Result<(Option<Tree<'r>>, Option<Tree<'r>>, String)> {
    let commit = repo.find_commit(oid)?;
    let tree = commit.tree()?;
    Ok(match base {
        Base::Previous => match commit.parent(0) {
            Ok(p) => {
                let name = if chain::is_snapshot(&p) {
                    format!("previous {}", chain::short_id(p.id()))
                } else {
                    format!("HEAD then, {}", chain::short_id(p.id()))
                };
                (Some(p.tree()?), Some(tree), name)
            }
            Err(_) => (None, Some(tree), "nothing (no commit yet)".into()),
        },
        Base::WorkTree => {
            let wt = worktree.map(|t| repo.find_tree(t)).transpose()?;
            (Some(tree), wt, "the work tree now".into())
        }
        Base::Head => match head {
            Some(h) => (
                Some(repo.find_commit(h)?.tree()?),
                Some(tree),
                format!("HEAD {}", chain::short_id(h)),
            ),
            None => (None, Some(tree), "HEAD (unborn: no files)".into()),
        },
    })
}

/// The files changed between the sides of `base`.
pub fn detail(
    repo: &Repository,
    oid: Oid,
    base: Base,
    head: Option<Oid>,
    worktree: Option<Oid>,
) -> Result<Detail> {
    let (old, new, base_name) = sides(repo, oid, base, head, worktree)?;
    let changes = treediff::diff(repo, old.as_ref(), new.as_ref(), &[])?;
    let more_files = changes.len().saturating_sub(MAX_FILES);
    let files = changes
        .into_iter()
        .take(MAX_FILES)
        .map(|c| {
            let status = match (c.old, c.new) {
                (None, _) => 'A',
                (_, None) => 'D',
                (Some(o), Some(n)) if o.mode != n.mode => 'T',
                _ => 'M',
            };
            FileEntry {
                path: c.path,
                status,
                old: c.old,
                new: c.new,
                stat: None,
            }
        })
        .collect();
    Ok(Detail {
        oid,
        base,
        base_name,
        files,
        more_files,
    })
}

fn blob_size(repo: &Repository, leaf: Option<Leaf>) -> Option<usize> {
    let leaf = leaf?;
    repo.odb().ok()?.read_header(leaf.oid).ok().map(|(s, _)| s)
}

/// Line counts for one file (never reading a blob over [`MAX_BLOB`]).
pub fn stat(repo: &Repository, f: &FileEntry) -> Stat {
    let modes = [f.old, f.new];
    if modes.iter().flatten().any(|l| l.mode == MODE_GITLINK) {
        return Stat::Submodule;
    }
    if modes.iter().flatten().any(|l| l.mode == MODE_LINK) {
        return Stat::Symlink;
    }
    if let (Some(o), Some(n)) = (f.old, f.new) {
        if o.oid == n.oid {
            return Stat::Mode;
        }
    }
    if [f.old, f.new]
        .iter()
        .any(|l| blob_size(repo, *l).is_some_and(|s| s > MAX_BLOB))
    {
        return Stat::Large;
    }
    let blob = |l: Option<Leaf>| l.and_then(|l| repo.find_blob(l.oid).ok());
    let (old, new) = (blob(f.old), blob(f.new));
    if old.as_ref().is_some_and(|b| b.is_binary()) || new.as_ref().is_some_and(|b| b.is_binary()) {
        return Stat::Binary;
    }
    let bytes = |b: &Option<git2::Blob<'_>>| b.as_ref().map_or(&[][..], |b| b.content()).to_vec();
    match git2::Patch::from_buffers(&bytes(&old), None, &bytes(&new), None, None)
        .and_then(|p| p.line_stats())
    {
        Ok((_, added, removed)) => Stat::Lines { added, removed },
        Err(_) => Stat::Binary,
    }
}

/// Text for the screen: tabs as spaces, control characters escaped.
fn screen_text(s: &str) -> String {
    crate::cli::output::text(&s.replace('\t', "    ")).into_owned()
}

/// One file's unified diff (3 lines of context), cut at [`MAX_LINES`].
pub fn file_diff(repo: &Repository, f: &FileEntry) -> FileText {
    let path = f.path_lossy();
    let mut lines = Vec::new();
    let note = |t: String| vec![(LineKind::Note, t)];
    let text = |lines| FileText {
        path: path.clone(),
        content: false,
        lines,
    };
    match stat(repo, f) {
        Stat::Submodule => {
            let id = |l: Option<Leaf>| l.map_or("none".into(), |l| chain::short_id(l.oid));
            return text(note(format!(
                "submodule: commit {} → {}",
                id(f.old),
                id(f.new)
            )));
        }
        large @ (Stat::Large | Stat::Binary) => {
            let (kind, tail) = match large {
                Stat::Large => ("large", ": not shown"),
                _ => ("binary", ""),
            };
            let size = |l| blob_size(repo, l).unwrap_or(0);
            return text(note(format!(
                "{kind} file ({} → {} bytes){tail}",
                size(f.old),
                size(f.new)
            )));
        }
        Stat::Mode => {
            return text(note(format!(
                "mode {:o} → {:o}",
                f.old.map_or(0, |l| l.mode),
                f.new.map_or(0, |l| l.mode)
            )))
        }
        _ => {}
    }
    let blob = |l: Option<Leaf>| l.and_then(|l| repo.find_blob(l.oid).ok());
    let (old, new) = (blob(f.old), blob(f.new));
    let bytes = |b: &Option<git2::Blob<'_>>| b.as_ref().map_or(&[][..], |b| b.content()).to_vec();
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(3);
    let (ob, nb) = (bytes(&old), bytes(&new));
    let patch = match git2::Patch::from_buffers(&ob, None, &nb, None, Some(&mut opts)) {
        Ok(p) => p,
        Err(e) => return text(note(format!("cannot diff: {}", e.message()))),
    };
    if f.old.is_none() {
        lines.push((LineKind::Note, "new file".to_owned()));
    } else if f.new.is_none() {
        lines.push((LineKind::Note, "deleted file".to_owned()));
    }
    let mut cut = false;
    'hunks: for h in 0..patch.num_hunks() {
        let Ok((hunk, n)) = patch.hunk(h) else { break };
        lines.push((
            LineKind::Hunk,
            String::from_utf8_lossy(hunk.header()).trim_end().to_owned(),
        ));
        for l in 0..n {
            if lines.len() >= MAX_LINES {
                cut = true;
                break 'hunks;
            }
            let Ok(line) = patch.line_in_hunk(h, l) else {
                continue;
            };
            let kind = match line.origin() {
                '+' => LineKind::Added,
                '-' => LineKind::Removed,
                ' ' => LineKind::Context,
                _ => LineKind::Note,
            };
            let body = String::from_utf8_lossy(line.content());
            let body = body.trim_end_matches(['\n', '\r']);
            let sign = match kind {
                LineKind::Added => "+",
                LineKind::Removed => "-",
                LineKind::Context => " ",
                _ => "",
            };
            lines.push((kind, format!("{sign}{}", screen_text(body))));
        }
    }
    if cut {
        lines.push((
            LineKind::Note,
            format!("… cut at {MAX_LINES} lines (`savepoint diff` shows it all)"),
        ));
    }
    if lines.is_empty() {
        lines.push((LineKind::Note, "no textual change".into()));
    }
    text(lines)
}

/// One file's content on the new side (the old one when it was deleted),
/// cut at [`MAX_LINES`].
pub fn file_content(repo: &Repository, f: &FileEntry, at: &str) -> FileText {
    let path = f.path_lossy();
    let (leaf, note) = match (f.new, f.old) {
        (Some(n), _) => (n, None),
        (None, Some(o)) => (
            o,
            Some(format!("deleted here; as it was before ({at} removes it)")),
        ),
        (None, None) => {
            return FileText {
                path,
                content: true,
                lines: vec![(LineKind::Note, "no content".into())],
            }
        }
    };
    let mut lines: Vec<(LineKind, String)> =
        note.into_iter().map(|n| (LineKind::Note, n)).collect();
    let size = blob_size(repo, Some(leaf)).unwrap_or(0);
    if leaf.mode == MODE_GITLINK {
        lines.push((
            LineKind::Note,
            format!("submodule at commit {}", chain::short_id(leaf.oid)),
        ));
    } else if size > MAX_BLOB {
        lines.push((
            LineKind::Note,
            format!("large file ({size} bytes): not shown"),
        ));
    } else if let Ok(blob) = repo.find_blob(leaf.oid) {
        if leaf.mode == MODE_LINK {
            lines.push((
                LineKind::Note,
                format!(
                    "symbolic link → {}",
                    screen_text(&String::from_utf8_lossy(blob.content()))
                ),
            ));
        } else if blob.is_binary() {
            lines.push((LineKind::Note, format!("binary file ({size} bytes)")));
        } else {
            let text = String::from_utf8_lossy(blob.content());
            for (i, l) in text.lines().enumerate() {
                if i >= MAX_LINES {
                    lines.push((LineKind::Note, format!("… cut at {MAX_LINES} lines")));
                    break;
                }
                lines.push((
                    LineKind::Context,
                    format!("{:>5}  {}", i + 1, screen_text(l)),
                ));
            }
            if text.is_empty() {
                lines.push((LineKind::Note, "empty file".into()));
            }
        }
    }
    FileText {
        path,
        content: true,
        lines,
    }
}
