//! The parallel work-tree walk. Directories are a shared LIFO work queue
//! served by one thread per core; each thread lists a directory, applies the
//! ignore rules, stats files and resolves their blob ids (index → stat cache
//! → hash). Nested repositories become gitlinks; `.git` is never entered;
//! symlinks are recorded, never followed (so loops cannot happen). Each
//! directory's `.gitattributes` is layered like its `.gitignore`; files git
//! would run through a clean filter (or encoding, `ident`) are collected as
//! [`Deferred`] and hashed by git in one batch after the walk
//! ([`Worker::resolve_deferred`]). A [`DirObserver`] (the watcher's) is
//! told about each directory right before it is listed.
//!
//! The parts: [`parallel`] (the shared queue and its threads), [`dir`]
//! (listing one directory), [`file`] (what one file becomes: an index or
//! cache hit, a skip, a deferred file, or a hashed blob), [`worker`] (a
//! thread's state: blob writer, attribute chains, directories opened
//! beneath the root), [`deferred`] (the git batch), [`tracked`] (index
//! entries the walk did not reach), [`out`] (what a walk produced, and
//! merging it), [`leaves`] (a full scan's list, naming clean tracked files
//! by their index entry) and [`observe`] (who else is told what the walk
//! lists).

mod deferred;
mod dir;
mod file;
mod leaves;
mod observe;
mod out;
mod parallel;
mod tracked;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::attr::{AttrDir, AttrRules};
use super::cache::StatCache;
use super::ignore::{DirRules, Excludes};
use super::index::Tracked;

pub(crate) use deferred::Deferred;
pub(crate) use leaves::ScanLeaves;
pub(crate) use observe::{DirObserver, Listed};
pub(crate) use out::{merge_into, Out};
pub(crate) use parallel::{walk, walk_leaves};
pub(crate) use worker::Worker;

/// Read-only inputs shared by all walker threads.
pub(crate) struct Ctx<'a> {
    pub workdir: &'a Path,
    pub git_dir: &'a Path,
    /// Git dirs inside the work tree under another name: never entered.
    pub git_dirs_inside: &'a [Vec<u8>],
    /// savepoint's private state dir (for a throwaway index).
    pub state_dir: &'a Path,
    pub tracked: &'a Tracked,
    pub cache: &'a StatCache,
    /// Listings of directories whose stat did not change since the last
    /// full scan (one-shot scans only; `None`: list every directory).
    pub dircache: Option<&'a super::dircache::DirCache>,
    pub excludes: &'a Excludes,
    pub filemode: bool,
    /// `core.symlinks`: when false, a tracked symlink checked out as a
    /// plain file keeps its symlink mode (git's `ce_mode_from_stat`).
    pub symlinks: bool,
    pub attrs: &'a AttrRules,
    pub max_file_size: u64,
    pub progress: Option<&'a super::ScanProgress>,
    /// Told about each directory right before it is listed (full scans of
    /// the watcher: see [`DirObserver`]).
    pub observer: Option<&'a dyn DirObserver>,
    /// Where new objects go (`None`: loose objects).
    pub objects: Option<Arc<super::objects::ObjectSink>>,
}

/// A directory to list: its relative path, absolute path and the ignore
/// and attribute rules of its parent (its own `.gitignore` and
/// `.gitattributes` are added when it is listed).
pub(crate) struct Job {
    pub rel: Vec<u8>,
    pub abs: PathBuf,
    pub parent_rules: Arc<DirRules>,
    pub parent_attrs: Arc<AttrDir>,
    /// The parent directory, held open: the job's directory is opened
    /// relative to it without following a symlink, so a directory swapped
    /// for a symlink mid-walk can never lead outside the work tree. `None`
    /// for a start directory (opened by walking down from the root).
    pub parent_fd: Option<Arc<std::os::fd::OwnedFd>>,
}
