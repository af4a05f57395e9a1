//! Git hooks: installing savepoint's hook scripts next to the user's own,
//! removing them again byte for byte, and reporting what is installed.
//!
//! A hook that already exists is never overwritten: it is renamed to
//! `<name>.savepoint-chained` and savepoint's wrapper (the template in
//! `hooks/git-hook.sh`) runs it first with the same arguments and stdin,
//! keeping its exit status. Uninstall deletes the wrapper and renames the
//! original back. The hooks directory is git's own answer
//! (`git rev-parse --git-path hooks`), so `core.hooksPath` and linked work
//! trees are honoured.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// The wrapper template, `@HOOK@` standing for the hook's name.
pub(crate) const TEMPLATE: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/hooks/git-hook.sh"));

/// The hooks savepoint installs: commit boundaries, branch switches, merges
/// and rewrites (amend, rebase) record a snapshot after the fact; a rebase
/// records one before it starts.
pub const HOOKS: &[&str] = &[
    "post-commit",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "pre-rebase",
];

const CHAINED_SUFFIX: &str = ".savepoint-chained";

/// The marker line that identifies savepoint's wrapper for `name`.
fn marker(name: &str) -> String {
    format!("# savepoint-hook: {name}")
}

/// The wrapper script for one hook.
pub(crate) fn script(name: &str) -> String {
    TEMPLATE.replace("@HOOK@", name)
}

/// The directory git runs hooks from for this work tree.
pub fn hooks_dir(ws: &Workspace) -> Result<PathBuf> {
    let out = crate::git::command::GitCmd::new(ws.git_dir(), ws.workdir())
        .args(["rev-parse", "--git-path", "hooks"])
        .output()?;
    if !out.status.success() {
        return Err(Error::GitCli {
            args: "rev-parse --git-path hooks".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(if p.is_absolute() {
        p
    } else {
        ws.workdir().join(p)
    })
}

/// The state of one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookState {
    /// savepoint's wrapper, alone.
    Installed,
    /// savepoint's wrapper, running the user's previous hook first.
    InstalledChained,
    /// No hook.
    Absent,
    /// The user's own hook, without savepoint.
    Foreign,
}

/// Per-hook state, for `hooks status`.
#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    pub name: String,
    pub path: PathBuf,
    pub state: HookState,
}

fn is_ours(path: &Path, name: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.lines().any(|l| l == marker(name)))
}

fn state_of(dir: &Path, name: &str) -> HookState {
    let path = dir.join(name);
    let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
    if std::fs::symlink_metadata(&path).is_err() {
        HookState::Absent
    } else if !is_ours(&path, name) {
        HookState::Foreign
    } else if std::fs::symlink_metadata(chained).is_ok() {
        HookState::InstalledChained
    } else {
        HookState::Installed
    }
}

/// What is installed where.
pub fn status(ws: &Workspace) -> Result<Vec<HookStatus>> {
    let dir = hooks_dir(ws)?;
    Ok(HOOKS
        .iter()
        .map(|name| HookStatus {
            name: (*name).to_owned(),
            path: dir.join(name),
            state: state_of(&dir, name),
        })
        .collect())
}

/// Install every hook; returns the ones that changed. Idempotent.
pub fn install(ws: &Workspace) -> Result<Vec<HookStatus>> {
    let dir = hooks_dir(ws)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let mut changed = Vec::new();
    for name in HOOKS {
        let path = dir.join(name);
        let state = match state_of(&dir, name) {
            HookState::Installed | HookState::InstalledChained => continue,
            HookState::Foreign => {
                let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
                if std::fs::symlink_metadata(&chained).is_ok() {
                    return Err(Error::io(
                        "cannot chain the existing hook: a file is in the way at",
                        chained,
                        std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                    ));
                }
                std::fs::rename(&path, &chained).map_err(|e| Error::io("rename", &path, e))?;
                HookState::InstalledChained
            }
            HookState::Absent => HookState::Installed,
        };
        crate::fs::atomic::write_with_mode(&path, script(name).as_bytes(), 0o755)
            .map_err(|e| Error::io("install", &path, e))?;
        changed.push(HookStatus {
            name: (*name).to_owned(),
            path,
            state,
        });
    }
    Ok(changed)
}

/// Remove savepoint's wrappers and put chained hooks back; returns the hooks
/// that changed.
pub fn uninstall(ws: &Workspace) -> Result<Vec<HookStatus>> {
    let dir = hooks_dir(ws)?;
    let mut changed = Vec::new();
    for name in HOOKS {
        let path = dir.join(name);
        let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
        let state = state_of(&dir, name);
        match state {
            HookState::Installed | HookState::InstalledChained => {
                std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            }
            HookState::Absent | HookState::Foreign => continue,
        }
        if state == HookState::InstalledChained {
            std::fs::rename(&chained, &path).map_err(|e| Error::io("restore", &chained, e))?;
        }
        changed.push(HookStatus {
            name: (*name).to_owned(),
            path,
            state,
        });
    }
    Ok(changed)
}
