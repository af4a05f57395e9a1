//! Repository access: finding the work tree, its git dirs, what HEAD is, and
//! where savepoint keeps its private state. Everything that asks "where am I
//! and on which branch" goes through [`Workspace`].

pub mod config;
pub mod lock;
pub mod pathspec;
pub mod state;

use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository, RepositoryState};

use crate::error::{Error, GitContext, Result};
use crate::git::command::GitCmd;
use crate::git::refs::HeadRef;

/// What HEAD points at in this work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// On a branch; `commit` is `None` while the branch is unborn.
    Branch { name: String, commit: Option<Oid> },
    /// Detached at a commit.
    Detached { commit: Oid },
}

impl Head {
    /// The commit HEAD resolves to, if any.
    pub fn commit(&self) -> Option<Oid> {
        match self {
            Head::Branch { commit, .. } => *commit,
            Head::Detached { commit } => Some(*commit),
        }
    }
}

/// An opened repository with a work tree: the unit savepoint operates on.
/// The work tree it names is the one git would use; every other handle on
/// the repository ([`reopen`]) is given that work tree explicitly.
pub struct Workspace {
    repo: Repository,
    workdir: PathBuf,
    /// Git dirs (this work tree's and the common one) that lie inside the
    /// work tree under a name other than `.git`: relative, `/`-separated.
    git_dirs_inside: Vec<Vec<u8>>,
    state: state::StateDir,
    /// `savepoint.*` configuration, read on first use.
    config: std::cell::OnceCell<config::Config>,
}

/// Variables with which git's caller names the repository or work tree.
const LOCATING_ENV: &[&str] = &["GIT_DIR", "GIT_WORK_TREE"];

impl Workspace {
    /// Find the repository containing `path` (like `git -C path`).
    ///
    /// The common case (a `.git` directory or a linked work tree, no
    /// locating variables) is libgit2's discovery, in-process. When
    /// `GIT_DIR` / `GIT_WORK_TREE` are set, or the git dir found does not
    /// belong to the directory libgit2 took for the work tree (a `.git`
    /// file from `--separate-git-dir`, `core.worktree`), git itself says
    /// which git dir and work tree it would use: one `git rev-parse`.
    pub fn discover(path: &Path) -> Result<Self> {
        crate::git::libgit2_init::init();
        if LOCATING_ENV
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
            && !env_names_dot_git(path)
        {
            return Self::discover_with_git(path);
        }
        let repo = match Repository::discover(path) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(Error::NotARepository {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                // libgit2 cannot open it; a SHA-256 repository deserves a
                // clear word of its own rather than libgit2's.
                return match Self::discover_with_git(path) {
                    Ok(ws) => Ok(ws),
                    Err(unsupported @ Error::UnsupportedObjectFormat { .. }) => Err(unsupported),
                    Err(_) => {
                        Err(e).git_context(|| format!("open repository at {}", path.display()))
                    }
                };
            }
        };
        if !repo.is_bare() && !libgit2_workdir_is_right(&repo) {
            return Self::discover_with_git(path);
        }
        Self::from_repository(repo)
    }

    /// Ask git which git dir and work tree `path` means (honouring
    /// `GIT_DIR`, `GIT_WORK_TREE`, `core.worktree`, `.git` files), refuse
    /// object formats libgit2 cannot read, and open that.
    fn discover_with_git(path: &Path) -> Result<Self> {
        let out = GitCmd::discovering(path)
            .args([
                "rev-parse",
                "--show-object-format",
                "--absolute-git-dir",
                "--show-toplevel",
            ])
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        let (format, git_dir, top) = (lines.next(), lines.next(), lines.next());
        if let Some(format) = format.filter(|f| *f != "sha1") {
            return Err(Error::UnsupportedObjectFormat {
                format: match format {
                    "sha256" => "SHA-256".to_owned(),
                    other => other.to_owned(),
                },
                path: git_dir.map_or_else(|| path.to_path_buf(), PathBuf::from),
            });
        }
        let (Some(git_dir), Some(top)) = (git_dir, top) else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(match git_dir {
                Some(git_dir) => Error::BareRepository {
                    path: PathBuf::from(git_dir),
                },
                None if stderr.contains("not a git repository") => Error::NotARepository {
                    path: path.to_path_buf(),
                },
                None => Error::GitCli {
                    args: "rev-parse --absolute-git-dir --show-toplevel".into(),
                    stderr: stderr.trim().to_owned(),
                },
            });
        };
        let repo = reopen(Path::new(git_dir), Path::new(top))
            .git_context(|| format!("open repository at {git_dir}"))?;
        Self::from_repository(repo)
    }

    /// Open the repository at `git_dir` with `workdir` as its work tree (a
    /// second handle on a workspace already found, e.g. for another thread).
    pub fn open(git_dir: &Path, workdir: &Path) -> Result<Self> {
        let repo = reopen(git_dir, workdir)
            .git_context(|| format!("open repository at {}", git_dir.display()))?;
        Self::from_repository(repo)
    }

    /// Wrap an already opened repository; fails for bare repositories.
    pub fn from_repository(repo: Repository) -> Result<Self> {
        let workdir = match repo.workdir() {
            Some(dir) if !repo.is_bare() => dir.to_path_buf(),
            _ => {
                return Err(Error::BareRepository {
                    path: repo.path().to_path_buf(),
                })
            }
        };
        // Normalise away a trailing slash so joins and prefixes behave.
        let workdir = workdir.components().collect::<PathBuf>();
        let git_dirs_inside = git_dirs_inside(&workdir, &[repo.path(), repo.commondir()]);
        let state = state::StateDir::new(repo.path());
        Ok(Workspace {
            repo,
            workdir,
            git_dirs_inside,
            state,
            config: std::cell::OnceCell::new(),
        })
    }

    /// The underlying libgit2 repository.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Root of the work tree.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// This work tree's git dir (`.git`, or `.git/worktrees/<name>`).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    /// The git dir shared by all work trees (objects, refs).
    pub fn common_dir(&self) -> &Path {
        self.repo.commondir()
    }

    /// Git dirs that lie inside the work tree under a name other than
    /// `.git` (relative, `/`-separated): never walked, never written.
    pub fn git_dirs_inside(&self) -> &[Vec<u8>] {
        &self.git_dirs_inside
    }

    /// Is the relative path `rel` a git dir inside the work tree, or below
    /// one?
    pub fn is_in_git_dir(&self, rel: &[u8]) -> bool {
        in_git_dirs(&self.git_dirs_inside, rel)
    }

    /// The user's index file for this work tree.
    pub fn index_path(&self) -> PathBuf {
        self.git_dir().join("index")
    }

    /// `<git-dir>/savepoint/`: this work tree's private state.
    pub fn state(&self) -> &state::StateDir {
        &self.state
    }

    /// The `savepoint.*` configuration, read from git config once per
    /// workspace (errors name the offending key).
    pub fn config(&self) -> Result<&config::Config> {
        if let Some(cfg) = self.config.get() {
            return Ok(cfg);
        }
        let cfg = config::Config::load(&self.repo)?;
        Ok(self.config.get_or_init(|| cfg))
    }

    /// Replace the configuration (command-line flags that override it,
    /// tests); later [`Workspace::config`] calls return `cfg`.
    pub fn set_config(&mut self, cfg: config::Config) {
        self.config = std::cell::OnceCell::from(cfg);
    }

    /// `main` for the main work tree, else the linked work tree's name.
    pub fn worktree_name(&self) -> String {
        if self.repo.is_worktree() {
            self.git_dir()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "worktree".to_owned())
        } else {
            "main".to_owned()
        }
    }

    /// Read HEAD without touching it.
    pub fn head(&self) -> Result<Head> {
        match crate::git::refs::head(&self.repo)? {
            HeadRef::Symbolic(target) => {
                let commit = match crate::git::refs::resolve(&self.repo, &target)? {
                    Some(oid) => Some(self.peel_to_commit(oid)?),
                    None => None,
                };
                let name = target
                    .strip_prefix("refs/heads/")
                    .unwrap_or(&target)
                    .to_owned();
                Ok(Head::Branch { name, commit })
            }
            HeadRef::Direct(oid) => Ok(Head::Detached {
                commit: self.peel_to_commit(oid)?,
            }),
        }
    }

    fn peel_to_commit(&self, oid: Oid) -> Result<Oid> {
        let obj = self
            .repo
            .find_object(oid, None)
            .git_context(|| format!("read object {oid}"))?;
        let commit = obj
            .peel_to_commit()
            .git_context(|| format!("peel {oid} to a commit"))?;
        Ok(commit.id())
    }

    /// The shadow ref that snapshots of the current HEAD go to.
    pub fn chain_ref(&self) -> Result<String> {
        Ok(self.chain_ref_for(&self.head()?))
    }

    /// The shadow ref for snapshots taken while HEAD is `head` (read HEAD
    /// once and derive both from it: a second read may see a checkout that
    /// happened in between).
    pub fn chain_ref_for(&self, head: &Head) -> String {
        match head {
            // Linked work trees keep their own chains, so two work trees on
            // one branch (`git worktree add -f`) never share one.
            Head::Branch { name, .. } if self.repo.is_worktree() => {
                crate::snapshot::chain::worktree_branch_ref(&self.worktree_name(), name)
            }
            Head::Branch { name, .. } => crate::snapshot::chain::branch_ref(name),
            Head::Detached { .. } => crate::snapshot::chain::detached_ref(&self.worktree_name()),
        }
    }

    /// An operation in progress (rebase, merge, …), named for messages.
    pub fn operation_in_progress(&self) -> Option<&'static str> {
        match self.repo.state() {
            RepositoryState::Clean => None,
            RepositoryState::Merge => Some("merge"),
            RepositoryState::Revert | RepositoryState::RevertSequence => Some("revert"),
            RepositoryState::CherryPick | RepositoryState::CherryPickSequence => {
                Some("cherry-pick")
            }
            RepositoryState::Bisect => Some("bisect"),
            RepositoryState::Rebase
            | RepositoryState::RebaseInteractive
            | RepositoryState::RebaseMerge => Some("rebase"),
            RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => Some("am"),
        }
    }
}

/// Open the repository whose git dir is `git_dir` once more (another
/// thread's handle, say) with `workdir` as its work tree: libgit2 on its
/// own would take the git dir's parent for a separate git dir.
pub fn reopen(git_dir: &Path, workdir: &Path) -> std::result::Result<Repository, git2::Error> {
    crate::git::libgit2_init::init();
    let repo = Repository::open(git_dir)?;
    repo.set_workdir(workdir, false)?;
    Ok(repo)
}

/// Did libgit2 find the work tree git would use? Yes when the work tree's
/// `.git` (a directory, or a `gitdir:` file) is the git dir it opened, and
/// for linked work trees (whose git dir names its work tree). Otherwise —
/// a `--separate-git-dir` repository, whose work tree libgit2 takes to be
/// the git dir's parent, or `core.worktree` — git is asked.
fn libgit2_workdir_is_right(repo: &Repository) -> bool {
    if repo.is_worktree() {
        return true;
    }
    repo.workdir()
        .and_then(dot_git_target)
        .is_some_and(|target| same_file(&target, repo.path()))
}

/// The git dir that `dir/.git` names: the directory itself, or the target
/// of a `gitdir:` file.
fn dot_git_target(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).ok()?;
    if meta.is_dir() {
        return Some(dot_git);
    }
    if !meta.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let target = text.trim_end().strip_prefix("gitdir: ")?;
    Some(dir.join(target))
}

/// `GIT_DIR` alone, naming the `.git` of `path` itself — what git exports
/// to every hook it runs from the top of a work tree. git's answer is then
/// the one discovery finds, so no `git rev-parse` is needed.
fn env_names_dot_git(path: &Path) -> bool {
    if std::env::var_os("GIT_WORK_TREE").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    let Some(git_dir) = std::env::var_os("GIT_DIR").filter(|v| !v.is_empty()) else {
        return false;
    };
    dot_git_target(path).is_some_and(|target| same_file(&target, &path.join(git_dir)))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Which of `dirs` lie inside `workdir` under a name other than the top
/// `.git` (which the walk skips by name anyway).
/// Is the relative path `rel` one of `git_dirs` (relative, as
/// [`Workspace::git_dirs_inside`] lists them) or below one?
pub(crate) fn in_git_dirs(git_dirs: &[Vec<u8>], rel: &[u8]) -> bool {
    // Never empty: the work tree's root is no git dir.
    git_dirs
        .iter()
        .any(|d| crate::git::path::is_at_or_under(rel, d))
}

fn git_dirs_inside(workdir: &Path, dirs: &[&Path]) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let plain = workdir.join(".git");
    if dirs.iter().all(|d| d.components().eq(plain.components())) {
        return Vec::new();
    }
    let Ok(top) = std::fs::canonicalize(workdir) else {
        return Vec::new();
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    for d in dirs {
        let Ok(d) = std::fs::canonicalize(d) else {
            continue;
        };
        if let Ok(rel) = d.strip_prefix(&top) {
            let rel = rel.as_os_str().as_bytes().to_vec();
            if !rel.is_empty() && rel != b".git" && !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}
