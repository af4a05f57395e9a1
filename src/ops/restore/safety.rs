//! Paths a restore must never write: anything that could leave the work
//! tree or reach a git dir (`..`, absolute paths, `.git` in every spelling
//! a file system folds to it, symbolic links named like the dotfiles git
//! reads, git dirs inside the work tree under another name). A crafted or
//! fetched tree with such a path is refused whole, before anything is
//! written.

use super::plan::Plan;
use crate::error::{Error, Result};
use crate::git::mode::{MODE_FILE, MODE_LINK};
use crate::workspace::Workspace;

/// Why a snapshot path cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathProblem {
    /// It could write outside the work tree or into `.git`: the whole
    /// restore is refused before anything is written (a crafted tree).
    Escapes(&'static str),
    /// This platform cannot create such a name: only that path is left out.
    NotHere(&'static str),
}

/// Classify a tree path whose leaf has `mode`. Whole-restore refusals
/// ([`PathProblem::Escapes`], a crafted tree): absolute or empty paths,
/// empty, `.` or `..` components; `.git` in any case and in every spelling
/// a file system folds to it — NTFS (`.git.`, `.git `, `git~1`,
/// `.git::$INDEX_ALLOCATION`) and HFS+ (ignorable code points such as
/// U+200C inside `.git`), as git's `core.protectNTFS`/`core.protectHFS`
/// refuse them (checked with `gix-validate`, on every platform); and a
/// symbolic link named `.gitmodules`, `.gitattributes`, `.gitignore` or
/// `.mailmap` (in the same spellings), which git's `verify_path` refuses
/// because git reads these files from the work tree. Left out alone
/// ([`PathProblem::NotHere`]): a NUL byte, which Unix cannot name. A
/// backslash is an ordinary character on Unix (git allows it there) and is
/// restored.
pub(super) fn classify_path(path: &[u8], mode: u32) -> Option<PathProblem> {
    use gix_validate::path::component::{Error as Invalid, Mode, Options};
    use PathProblem::{Escapes, NotHere};
    if path.is_empty() || path.starts_with(b"/") {
        return Some(Escapes("absolute or empty path"));
    }
    let opts = Options {
        // Windows-only names (`con`, `a:b`, a trailing dot) are fine here.
        protect_windows: false,
        protect_hfs: true,
        protect_ntfs: true,
    };
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    for (i, comp) in comps.iter().enumerate() {
        let link = i + 1 == comps.len() && mode == MODE_LINK;
        match *comp {
            b"" => return Some(Escapes("empty path component")),
            b"." | b".." => return Some(Escapes("`.` or `..` component")),
            _ => {}
        }
        match gix_validate::path::component((*comp).into(), link.then_some(Mode::Symlink), opts) {
            Ok(_) => {}
            Err(Invalid::DotGitDir) => {
                return Some(Escapes(
                    "`.git` component (in some case or spelling a file system folds to `.git`)",
                ))
            }
            Err(Invalid::SymlinkedGitModules) => {
                return Some(Escapes(
                    "`.gitmodules` is a symbolic link (git refuses such trees)",
                ))
            }
            Err(Invalid::Relative) => return Some(Escapes("`.` or `..` component")),
            Err(_) => return Some(Escapes("invalid path component")),
        }
        if link && is_git_dotfile(comp) {
            return Some(Escapes(
                "`.gitattributes`, `.gitignore` or `.mailmap` is a symbolic link (git refuses such trees)",
            ));
        }
    }
    if path.contains(&0) {
        return Some(NotHere("a NUL byte cannot be part of a file name here"));
    }
    None
}

/// `.gitattributes`, `.gitignore` or `.mailmap` as a file system may spell
/// it (git's `is_hfs_dot*`/`is_ntfs_dot*`; `gix-validate` covers only
/// `.gitmodules`): any case; HFS+ ignorable code points anywhere; NTFS
/// trailing dots and spaces or an `:alternate-stream`; NTFS 8.3 short names
/// (`gitign~1`, or git's hashed `gi250a~1`).
fn is_git_dotfile(comp: &[u8]) -> bool {
    const NAMES: [(&str, &str); 3] = [
        ("gitattributes", "gi7d29"),
        ("gitignore", "gi250a"),
        ("mailmap", "maba30"),
    ];
    NAMES
        .iter()
        .any(|(name, short)| is_hfs_dot(comp, name) || is_ntfs_dot(comp, name, short))
}

/// HFS+ ignores these code points when it compares names.
const HFS_IGNORABLE: &[char] = &[
    '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
    '\u{202e}', '\u{206a}', '\u{206b}', '\u{206c}', '\u{206d}', '\u{206e}', '\u{206f}', '\u{feff}',
];

fn is_hfs_dot(comp: &[u8], name: &str) -> bool {
    let text = String::from_utf8_lossy(comp);
    let mut chars = text.chars().filter(|c| !HFS_IGNORABLE.contains(c));
    chars.next() == Some('.') && chars.map(|c| c.to_ascii_lowercase()).eq(name.chars())
}

fn is_ntfs_dot(comp: &[u8], name: &str, short: &str) -> bool {
    // What NTFS drops or treats as a stream after the name.
    let done = |rest: &[u8]| {
        rest.iter()
            .find(|&&b| b != b' ' && b != b'.')
            .is_none_or(|&b| b == b':')
    };
    let name = name.as_bytes();
    if comp.first() == Some(&b'.') {
        let end = 1 + name.len();
        return comp.len() >= end && comp[1..end].eq_ignore_ascii_case(name) && done(&comp[end..]);
    }
    // `gitign~1` … `gitign~4`.
    if comp.len() >= 8
        && comp[..6].eq_ignore_ascii_case(&name[..6])
        && comp[6] == b'~'
        && (b'1'..=b'4').contains(&comp[7])
    {
        return done(&comp[8..]);
    }
    // Later collisions: a prefix of the hashed short name, `~`, digits.
    let short = short.as_bytes();
    let mut saw_tilde = false;
    let mut pos = 0;
    while pos < 8 {
        let Some(&b) = comp.get(pos) else {
            return false;
        };
        if saw_tilde {
            if !b.is_ascii_digit() {
                return false;
            }
        } else if b == b'~' {
            saw_tilde = true;
            pos += 1;
            if !comp.get(pos).is_some_and(|b| (b'1'..=b'9').contains(b)) {
                return false;
            }
        } else if pos >= 6 || b & 0x80 != 0 || !b.eq_ignore_ascii_case(&short[pos]) {
            return false;
        }
        pos += 1;
    }
    done(&comp[pos..])
}

pub(super) fn unsafe_path(path: &[u8], reason: &'static str) -> Error {
    Error::UnsafePath {
        path: String::from_utf8_lossy(path).into_owned(),
        reason,
    }
}

/// Refuse a path that could write outside the work tree or into `.git`, or
/// that this platform cannot name (see [`classify_path`]).
pub(super) fn check_path(path: &[u8]) -> Result<()> {
    match classify_path(path, MODE_FILE) {
        None => Ok(()),
        Some(PathProblem::Escapes(r) | PathProblem::NotHere(r)) => Err(unsafe_path(path, r)),
    }
}

/// Refuse a plan that touches a git dir lying inside the work tree under
/// another name than `.git` (`core.worktree`, `--separate-git-dir` into
/// the tree): [`check_path`] catches `.git` itself.
pub(super) fn refuse_git_dirs(ws: &Workspace, plan: &Plan) -> Result<()> {
    match plan.steps.iter().find(|s| ws.is_in_git_dir(&s.change.path)) {
        Some(step) => Err(Error::UnsafePath {
            path: step.change.path_lossy(),
            reason: "it is inside the repository's git dir",
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::mode::MODE_EXEC;

    fn escapes(path: &[u8], mode: u32) -> bool {
        matches!(classify_path(path, mode), Some(PathProblem::Escapes(_)))
    }

    #[test]
    fn git_dir_spellings_escape_in_any_position() {
        for name in [
            &b".git"[..],
            b".GIT",
            b".Git.",
            b".git ",
            b".git . .",
            b"git~1",
            b"GIT~1",
            b".git::$INDEX_ALLOCATION",
            b".git:stream",
            ".g\u{200c}it".as_bytes(),
            "\u{200d}.git".as_bytes(),
            ".gi\u{feff}t".as_bytes(),
            ".GI\u{206f}T".as_bytes(),
        ] {
            for path in [name.to_vec(), [b"a/", name, b"/x"].concat()] {
                for mode in [MODE_FILE, MODE_LINK] {
                    assert!(
                        escapes(&path, mode),
                        "{:?} was accepted",
                        String::from_utf8_lossy(&path)
                    );
                }
            }
        }
        // Look-alikes that are ordinary names.
        for ok in [
            &b".gitx"[..],
            b"git",
            b"git~2",
            b".git~1",
            b"x.git",
            b"a\\b",
            b"con",
            b"a:b",
        ] {
            assert_eq!(classify_path(ok, MODE_FILE), None, "{ok:?}");
        }
    }

    #[test]
    fn symlinked_git_dotfiles_escape_but_regular_ones_do_not() {
        for name in [
            &b".gitmodules"[..],
            b".GITMODULES",
            b".gitmodules.",
            b"gitmod~1",
            b".gitattributes",
            b".GitAttributes ",
            b"gitatt~1",
            b"gi7d29~1",
            b".gitignore",
            b".gitignore:stream",
            b"gitign~2",
            b"gi250a~9",
            b".mailmap",
            "\u{200c}.gitignore".as_bytes(),
            ".gitattrib\u{200e}utes".as_bytes(),
        ] {
            for path in [name.to_vec(), [b"sub/dir/", name].concat()] {
                assert!(
                    escapes(&path, MODE_LINK),
                    "symlink {:?} was accepted",
                    String::from_utf8_lossy(&path)
                );
                assert_eq!(classify_path(&path, MODE_FILE), None, "{path:?}");
                assert_eq!(classify_path(&path, MODE_EXEC), None, "{path:?}");
            }
        }
        // As a directory on the way it is only a name.
        assert_eq!(classify_path(b".gitignore/x", MODE_LINK), None);
        assert_eq!(classify_path(b".gitignores", MODE_LINK), None);
        assert_eq!(classify_path(b"gitignore", MODE_LINK), None);
    }
}
