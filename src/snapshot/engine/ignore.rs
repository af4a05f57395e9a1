//! Ignore rules exactly as `git add -A` applies them: per-directory
//! `.gitignore` files (deepest wins), then `$GIT_DIR/info/exclude`, then
//! `core.excludesFile` (default `$XDG_CONFIG_HOME/git/ignore`), with
//! `savepoint.exclude` globs checked first. Matching itself is the `ignore`
//! crate's gitignore implementation; this module only stacks the sources in
//! git's order. The same stack serves the full walk and incremental updates.
//! With `core.ignorecase` every pattern matches case-insensitively, as in
//! git (`DEBUG.LOG` is ignored by `*.log`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// Repository-wide exclude sources, lowest precedence last.
pub struct Excludes {
    /// `savepoint.exclude`: checked before everything else.
    extra: Option<Gitignore>,
    /// `info/exclude`, then `core.excludesFile`.
    global: Vec<Gitignore>,
    /// `core.ignorecase`.
    ignore_case: bool,
}

impl Excludes {
    pub(crate) fn load(
        repo: &git2::Repository,
        workdir: &Path,
        extra: &[String],
        ignore_case: bool,
    ) -> Excludes {
        let mut global = Vec::new();
        let info = repo.commondir().join("info").join("exclude");
        if let Some(gi) = from_file(workdir, &info, ignore_case) {
            global.push(gi);
        }
        if let Some(path) = excludes_file(repo) {
            if let Some(gi) = from_file(workdir, &path, ignore_case) {
                global.push(gi);
            }
        }
        let extra = if extra.is_empty() {
            None
        } else {
            let mut b = GitignoreBuilder::new(workdir);
            b.case_insensitive(ignore_case).ok();
            for line in extra {
                if let Err(e) = b.add_line(None, line) {
                    tracing::warn!(glob = %line, error = %e, "ignoring invalid savepoint.exclude glob");
                }
            }
            b.build().ok().filter(|g| !g.is_empty())
        };
        Excludes {
            extra,
            global,
            ignore_case,
        }
    }

    /// Whether patterns match case-insensitively (`core.ignorecase`).
    pub(crate) fn ignore_case(&self) -> bool {
        self.ignore_case
    }
}

fn from_file(root: &Path, file: &Path, ignore_case: bool) -> Option<Gitignore> {
    if !file.is_file() {
        return None;
    }
    let mut b = GitignoreBuilder::new(root);
    b.case_insensitive(ignore_case).ok();
    if let Some(e) = b.add(file) {
        tracing::warn!(file = %file.display(), error = %e, "problem reading ignore file");
    }
    b.build().ok().filter(|g| !g.is_empty())
}

/// `core.excludesFile` from any config level, else git's XDG default.
fn excludes_file(repo: &git2::Repository) -> Option<PathBuf> {
    let configured = repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.excludesFile").ok());
    configured.or_else(|| {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("git").join("ignore"))
    })
}

/// The chain of `.gitignore` matchers from a directory up to the root.
/// Directories without a `.gitignore` share their parent's node.
pub(crate) struct DirRules {
    parent: Option<Arc<DirRules>>,
    matcher: Gitignore,
    /// `core.ignorecase`, inherited from the root.
    ignore_case: bool,
}

impl DirRules {
    /// The rules for a directory whose listing contained a `.gitignore`
    /// (`has_gitignore`), given its parent's rules.
    pub(crate) fn child(parent: &Arc<DirRules>, dir: &Path, has_gitignore: bool) -> Arc<DirRules> {
        if !has_gitignore {
            return Arc::clone(parent);
        }
        let file = dir.join(".gitignore");
        // git (2.32+) never follows a symlinked in-tree `.gitignore`: it
        // warns and the file contributes no rules.
        if std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink()) {
            tracing::warn!(file = %file.display(), "not following a symlinked .gitignore (git does not either)");
            return Arc::clone(parent);
        }
        match from_file(dir, &file, parent.ignore_case) {
            Some(matcher) => Arc::new(DirRules {
                parent: Some(Arc::clone(parent)),
                matcher,
                ignore_case: parent.ignore_case,
            }),
            None => Arc::clone(parent),
        }
    }

    /// No rules: the parent of the work tree root.
    #[cfg(test)]
    pub(crate) fn empty() -> Arc<DirRules> {
        Self::root(false)
    }

    /// No rules yet, `.gitignore` files below matched case-insensitively
    /// when `ignore_case` (`core.ignorecase`).
    pub(crate) fn root(ignore_case: bool) -> Arc<DirRules> {
        Arc::new(DirRules {
            parent: None,
            matcher: Gitignore::empty(),
            ignore_case,
        })
    }

    /// Is `abs` (a path below the directory these rules belong to) ignored?
    pub(crate) fn is_ignored(
        self: &Arc<Self>,
        excludes: &Excludes,
        abs: &Path,
        is_dir: bool,
    ) -> bool {
        if let Some(extra) = &excludes.extra {
            match extra.matched(abs, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        let mut node = Some(self);
        while let Some(n) = node {
            if !n.matcher.is_empty() {
                match n.matcher.matched(abs, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
            node = n.parent.as_ref();
        }
        for g in &excludes.global {
            match g.matched(abs, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}
