//! Repository access: finding the work tree, its git dirs, what HEAD is, and
//! where savepoint keeps its private state. Everything that asks "where am I
//! and on which branch" goes through [`Workspace`].

use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository, RepositoryState};

use crate::error::{Error, GitContext, Result};

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
pub struct Workspace {
    repo: Repository,
    workdir: PathBuf,
}

impl Workspace {
    /// Find the repository containing `path` (like `git -C path`).
    pub fn discover(path: &Path) -> Result<Self> {
        let repo = match Repository::discover(path) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(Error::NotARepository {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                return Err(e).git_context(|| format!("open repository at {}", path.display()))
            }
        };
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
        Ok(Workspace { repo, workdir })
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

    /// The user's index file for this work tree.
    pub fn index_path(&self) -> PathBuf {
        self.git_dir().join("index")
    }

    /// `<git-dir>/savepoint/`: private, disposable state (stat cache, lock).
    pub fn state_dir(&self) -> PathBuf {
        self.git_dir().join("savepoint")
    }

    /// Create the state dir if needed and return it.
    pub fn ensure_state_dir(&self) -> Result<PathBuf> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dir = self.state_dir();
        // 0700: it holds prompts, logs and the watcher's socket.
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {
                if m.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::io("restrict the state dir", &dir, e))?;
                }
            }
            _ => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| Error::io("create state dir", &dir, e))?,
        }
        Ok(dir)
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
        let head_ref = self
            .repo
            .find_reference("HEAD")
            .git_context(|| "read HEAD".to_owned())?;
        if let Some(target) = head_ref.symbolic_target_bytes() {
            let target = String::from_utf8_lossy(target).into_owned();
            let commit = match self.repo.refname_to_id(&target) {
                Ok(oid) => Some(self.peel_to_commit(oid)?),
                Err(e) if e.code() == ErrorCode::NotFound => None,
                Err(e) => return Err(e).git_context(|| format!("resolve {target}")),
            };
            let name = target
                .strip_prefix("refs/heads/")
                .unwrap_or(&target)
                .to_owned();
            Ok(Head::Branch { name, commit })
        } else {
            let oid = head_ref.target().ok_or_else(|| Error::Revision {
                spec: "HEAD".into(),
                reason: "HEAD is neither symbolic nor a commit id".into(),
            })?;
            Ok(Head::Detached {
                commit: self.peel_to_commit(oid)?,
            })
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
        Ok(match self.head()? {
            Head::Branch { name, .. } => crate::chain::branch_ref(&name),
            Head::Detached { .. } => crate::chain::detached_ref(&self.worktree_name()),
        })
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
