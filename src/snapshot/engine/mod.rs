//! The snapshot engine: computes the tree `git add -A && git write-tree`
//! would produce for a work tree, without touching the user's index.
//!
//! Where is the snapshot tree built? Here: [`Engine::scan`] does a full,
//! stat-cached parallel walk (`walk`), [`Engine::update`] patches a
//! previous snapshot tree for a list of changed paths in O(changed paths)
//! (`incremental`). Ignore rules live in `ignore`, attributes and the
//! content conversions they select in `attr`, stat fingerprints and
//! the index view in `stat` / [`index`], the on-disk stat cache in
//! `cache`, the last one-shot scan's directory listings in `dircache`,
//! object writing in `blob` and `tree`, where new objects go (loose, or
//! one pack for many) in `objects`. [`index`] reads every
//! index format git writes (v2–v4, split, sparse); only an index it does not
//! know (a future version, an unknown mandatory extension) goes to the git
//! CLI through `fallback`.

pub(crate) mod attr;
pub(crate) mod blob;
pub(crate) mod cache;
pub(crate) mod dircache;
pub(crate) mod fallback;
pub(crate) mod fsys;
pub(crate) mod ignore;
pub(crate) mod incremental;
pub mod index;
pub(crate) mod objects;
pub(crate) mod stat;
pub(crate) mod tree;
pub(crate) mod walk;

use std::fmt;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use git2::Oid;
use serde::Serialize;

use crate::error::{GitContext, Result};
use crate::workspace::config::Config;
use crate::workspace::Workspace;
use attr::AttrRules;
use cache::StatCache;
use ignore::{DirRules, Excludes};
use index::Tracked;
use tree::TreeStats;
use walk::{Ctx, Job, Worker};

/// What the engine needs from configuration.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Untracked files above this many bytes are left out.
    pub max_file_size: u64,
    /// Extra ignore globs (`savepoint.exclude`).
    pub exclude: Vec<String>,
    /// Walker threads (default: available cores).
    pub threads: usize,
}

impl ScanOptions {
    pub fn from_config(cfg: &Config) -> Self {
        ScanOptions {
            max_file_size: cfg.max_file_size,
            exclude: cfg.exclude.clone(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(1, 8),
        }
    }
}

/// Why a path was left out of (or frozen in) a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// An untracked file above `savepoint.maxFileSize`.
    TooLarge { size: u64, limit: u64 },
    /// Could not be read; a tracked file keeps its indexed content.
    Unreadable { error: String },
    /// A nested repository with no commit checked out.
    NoSubmoduleCommit,
    /// git could not convert it (a required clean filter failed, an
    /// unknown `working-tree-encoding`): never stored raw; a tracked file
    /// keeps its indexed content.
    FilterFailed { error: String },
}

/// A skipped path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: Vec<u8>,
    pub reason: SkipReason,
}

impl Skipped {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path_lossy();
        match &self.reason {
            SkipReason::TooLarge { size, limit } => write!(
                f,
                "{p} ({} > savepoint.maxFileSize {})",
                human_size(*size),
                human_size(*limit)
            ),
            SkipReason::Unreadable { error } => write!(f, "{p} (unreadable: {error})"),
            SkipReason::NoSubmoduleCommit => {
                write!(f, "{p} (nested repository has no commit checked out)")
            }
            SkipReason::FilterFailed { error } => write!(f, "{p} (not converted: {error})"),
        }
    }
}

/// Bytes as `12.3 MiB`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Counters describing the work a scan did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScanStats {
    pub files: u64,
    pub dirs: u64,
    pub from_index: u64,
    pub from_cache: u64,
    pub hashed: u64,
    pub hashed_bytes: u64,
    pub trees_written: u64,
    pub incremental: bool,
    pub used_git_cli: bool,
    pub elapsed_ms: u64,
}

impl ScanStats {
    fn add(&mut self, o: &ScanStats) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.from_index += o.from_index;
        self.from_cache += o.from_cache;
        self.hashed += o.hashed;
        self.hashed_bytes += o.hashed_bytes;
        self.trees_written += o.trees_written;
    }
}

/// The result of computing a snapshot tree.
#[derive(Debug, Clone)]
pub struct TreeOutcome {
    pub tree: Oid,
    pub skipped: Vec<Skipped>,
    pub stats: ScanStats,
    /// Loose objects this computation may have written: they must be
    /// flushed to disk before a ref points at them (see
    /// `crate::fs::durable`). Objects it packed are not here: the pack was
    /// flushed before the outcome was returned (see [`objects`]).
    pub written: Vec<Oid>,
}

impl TreeOutcome {
    /// Assemble an outcome: skipped paths sorted, elapsed time recorded.
    fn finish(
        tree: Oid,
        mut skipped: Vec<Skipped>,
        mut stats: ScanStats,
        written: Vec<Oid>,
        started: Instant,
    ) -> Self {
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        stats.elapsed_ms = started.elapsed().as_millis() as u64;
        TreeOutcome {
            tree,
            skipped,
            stats,
            written,
        }
    }
}

/// How far a scan has got: files examined, bytes read and hashed (updated
/// while a large file streams in, so a progress line never stands still).
#[derive(Debug, Default)]
pub struct ScanProgress {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

/// A reusable snapshot engine for one work tree. The watcher keeps one
/// alive (the index view and stat cache stay in memory); a one-shot `snap`
/// builds one, scans once and drops it.
pub struct Engine {
    opts: ScanOptions,
    tracked: Option<Tracked>,
    cache: StatCache,
    cache_path: std::path::PathBuf,
    state_dir: std::path::PathBuf,
    excludes: Excludes,
    filemode: bool,
    symlinks: bool,
    attrs: AttrRules,
    index_modes: IndexModes,
    progress: Option<Arc<ScanProgress>>,
    /// Paths that became tracked or untracked when the index was last
    /// re-read (`git add -f`, `git rm --cached`): an incremental update must
    /// look at them although no work-tree file changed.
    index_changed: Vec<Vec<u8>>,
    /// Save the stat cache after every update (one-shot commands). The
    /// watcher turns this off and saves now and then with
    /// [`Engine::save_cache`]: the cache is only an optimisation.
    autosave: bool,
    cache_dirty: bool,
    /// Compiled `.gitignore` rules kept between incremental updates.
    rules_cache: incremental::RulesCache,
    /// The directory listings of the last full scan, for one-shot engines
    /// (loaded by the first full scan; the watcher keeps none).
    dircache: Option<dircache::DirCache>,
    /// Told about each directory full scans list (see
    /// [`Engine::set_observer`]).
    observer: Option<Arc<dyn walk::DirObserver>>,
}

impl Engine {
    pub fn new(ws: &Workspace, opts: ScanOptions) -> Result<Engine> {
        let state = ws.state().ensure()?;
        let cache_path = StatCache::path_in(state);
        let repo = ws.repo();
        let cfg = repo.config().git_context(|| "read git config".to_owned())?;
        let filemode = cfg.get_bool("core.fileMode").unwrap_or(true);
        let symlinks = cfg.get_bool("core.symlinks").unwrap_or(true);
        Ok(Engine {
            index_modes: IndexModes::read(&cfg),
            excludes: Excludes::load(
                repo,
                ws.workdir(),
                &opts.exclude,
                IndexModes::read(&cfg).ignore_case,
            ),
            attrs: AttrRules::load(repo, ws.git_dir(), ws.workdir()),
            cache: StatCache::load(&cache_path),
            cache_path,
            state_dir: state.to_path_buf(),
            tracked: None,
            filemode,
            symlinks,
            opts,
            progress: None,
            index_changed: Vec::new(),
            autosave: true,
            cache_dirty: false,
            rules_cache: incremental::RulesCache::default(),
            dircache: None,
            observer: None,
        })
    }

    /// Counters the engine advances as it works, for progress UIs.
    pub fn set_progress(&mut self, counter: Arc<ScanProgress>) {
        self.progress = Some(counter);
    }

    /// Save the stat cache after each snapshot (default) or only when
    /// [`Engine::save_cache`] is called.
    pub(crate) fn set_autosave(&mut self, on: bool) {
        self.autosave = on;
    }

    /// Tell `observer` about each directory the full scans' walks list,
    /// right before listing it, until it is taken away (`None`). Scans
    /// that do not walk (an index only git can read) tell it nothing.
    pub(crate) fn set_observer(&mut self, observer: Option<Arc<dyn walk::DirObserver>>) {
        self.observer = observer;
    }

    /// Write the stat cache to disk if it changed since the last save.
    pub(crate) fn save_cache(&mut self) {
        if self.cache_dirty {
            self.cache.save(&self.cache_path);
            self.cache_dirty = false;
        }
    }

    /// Re-read the repository-wide ignore rules (`info/exclude`,
    /// `core.excludesFile`, `savepoint.exclude`) and attribute sources
    /// with the config that drives conversions. Every full scan does this.
    pub(crate) fn reload_rules(&mut self, ws: &Workspace) {
        if let Ok(cfg) = ws.repo().config() {
            let modes = IndexModes::read(&cfg);
            if modes != self.index_modes {
                self.index_modes = modes;
                if let Some(t) = &mut self.tracked {
                    modes.apply(t);
                }
            }
        }
        self.excludes = Excludes::load(
            ws.repo(),
            ws.workdir(),
            &self.opts.exclude,
            self.index_modes.ignore_case,
        );
        self.attrs = AttrRules::load(ws.repo(), ws.git_dir(), ws.workdir());
        self.rules_cache.clear();
    }

    /// The repository-wide exclude rules as of the last full scan.
    pub(crate) fn excludes(&self) -> &Excludes {
        &self.excludes
    }

    /// The index view as last loaded (see [`Engine::refresh_tracked`]).
    pub(crate) fn tracked(&self) -> Option<&Tracked> {
        self.tracked.as_ref()
    }

    /// (Re)load the index view when the index file changed since last time.
    /// `false` means this index cannot be read directly (a format this
    /// version does not know; snapshots then go through the git command
    /// line).
    pub(crate) fn refresh_tracked(&mut self, ws: &Workspace) -> bool {
        let path = ws.index_path();
        let current = std::fs::metadata(&path)
            .ok()
            .map(|m| stat::Stat::from_metadata(&m));
        if let Some(t) = &self.tracked {
            if t.index_stat == current {
                return true;
            }
        }
        // The old view goes before the new one is read (at a million
        // files each is ~73 MB): only its outline stays, for the paths
        // that changed.
        let old = self.tracked.take().map(|t| t.outline());
        match Tracked::load(&path, ws.repo()) {
            Ok(mut t) => {
                self.index_modes.apply(&mut t);
                if let Some(old) = &old {
                    self.index_changed.extend(index::added_or_removed(old, &t));
                }
                self.tracked = Some(t);
                true
            }
            Err(why) => {
                tracing::warn!(reason = %why, "cannot read this index format; using `git add -A` in a temporary index (savepoint.maxFileSize and savepoint.exclude do not apply)");
                self.tracked = None;
                false
            }
        }
    }

    /// Re-read the index if git replaced it, and return the paths that
    /// became tracked or untracked since the view was last loaded. They stay
    /// queued for the next [`Engine::update`] as well.
    pub(crate) fn refresh_index_changes(&mut self, ws: &Workspace) -> Vec<Vec<u8>> {
        let before = self.index_changed.len();
        self.refresh_tracked(ws);
        self.index_changed
            .get(before..)
            .unwrap_or_default()
            .to_vec()
    }

    /// Where one computation's new objects go (see [`objects`]).
    fn object_sink(&self, ws: &Workspace) -> Arc<objects::ObjectSink> {
        Arc::new(objects::ObjectSink::new(&ws.common_dir().join("objects")))
    }

    fn ctx<'a>(&'a self, ws: &'a Workspace, tracked: &'a Tracked) -> Ctx<'a> {
        Ctx {
            workdir: ws.workdir(),
            git_dir: ws.git_dir(),
            git_dirs_inside: ws.git_dirs_inside(),
            state_dir: &self.state_dir,
            tracked,
            cache: &self.cache,
            dircache: None,
            excludes: &self.excludes,
            filemode: self.filemode,
            symlinks: self.symlinks,
            attrs: &self.attrs,
            max_file_size: self.opts.max_file_size,
            progress: self.progress.as_deref(),
            observer: None,
            objects: None,
        }
    }

    /// Full scan of the work tree. Re-reads the repository-wide ignore and
    /// attribute settings, so a rescan is the way to pick up their changes.
    pub fn scan(&mut self, ws: &Workspace) -> Result<TreeOutcome> {
        let started = Instant::now();
        self.reload_rules(ws);
        let readable = self.refresh_tracked(ws);
        // A full scan looks at every path anyway.
        self.index_changed.clear();
        if !readable {
            return fallback::scan_with_git_cli(ws, started);
        }
        let recorded_at = now();
        if self.autosave && self.dircache.is_none() {
            self.dircache = Some(dircache::DirCache::load(&dircache::DirCache::path_in(
                &self.state_dir,
            )));
        }
        let tracked = self.tracked.as_ref().expect("refreshed");
        let sink = self.object_sink(ws);
        if self.cache.entries.is_empty() {
            // No stat cache: a first snapshot, hashing everything.
            sink.pack_from_now();
        }
        let mut ctx = self.ctx(ws, tracked);
        ctx.objects = Some(Arc::clone(&sink));
        if self.autosave {
            ctx.dircache = self.dircache.as_ref();
        }
        ctx.observer = self.observer.as_deref();
        let root = Job {
            rel: Vec::new(),
            abs: ws.workdir().to_path_buf(),
            parent_rules: DirRules::root(self.excludes.ignore_case()),
            parent_attrs: std::sync::Arc::clone(self.attrs.root()),
            parent_fd: None,
        };
        // Entries sorted by path (each walker thread sorts its share), and
        // the clean tracked files by their index entry's number.
        let mut out = walk::walk_leaves(&ctx, vec![root], self.opts.threads);
        let leaves = numbered(walk::ScanLeaves::new(
            tracked,
            std::mem::take(&mut out.entries),
            std::mem::take(&mut out.clean),
        ))?;
        let mut worker = Worker::new(&ctx);
        worker.out.repo_dirs = std::mem::take(&mut out.repo_dirs);
        worker.tracked_pass_over(&leaves, tracked.entries(), &out.deferred);
        // Files only git can convert: one batch for the whole scan.
        let mut deferred = std::mem::take(&mut out.deferred);
        deferred.append(&mut worker.out.deferred);
        worker.resolve_deferred(deferred);
        let mut extra = worker.out;
        let mut tail = std::mem::take(&mut extra.entries);
        tail.sort_by(|a, b| a.path.cmp(&b.path));
        let leaves = numbered(leaves.add(tail))?;
        out.merge(extra);
        // core.ignorecase respells paths: a list of entries of its own.
        let leaves = match tracked.ignore_case {
            Some(_) => Err(index::apply_case_folding(leaves.into_entries(), tracked)),
            None => Ok(leaves),
        };
        if let Some(e) = std::mem::take(&mut out.store_errors).into_iter().next() {
            return Err(crate::error::Error::ObjectStore(e));
        }
        let walk::Out {
            mut stats,
            skipped,
            cache: new_cache,
            mut written,
            dirs,
            dirs_listed,
            ..
        } = out;

        let odb = ws
            .repo()
            .odb()
            .git_context(|| "open object database".to_owned())?;
        let mut ts = TreeStats::with_sink(Some(Arc::clone(&sink)));
        let threads = self.opts.threads;
        let tree = match &leaves {
            Ok(leaves) => tree::write_tree_parallel(ws.git_dir(), &odb, leaves, threads, &mut ts),
            Err(folded) => {
                tree::write_tree_parallel(ws.git_dir(), &odb, &folded[..], threads, &mut ts)
            }
        }
        .git_context(|| "write snapshot tree".to_owned())?;
        stats.trees_written = ts.new_trees();
        written.extend(ts.written);
        written.extend(finish_objects(&sink, &odb)?);

        self.store_cache(
            new_cache.into_iter().collect(),
            recorded_at,
            stats.hashed > 0,
        );
        self.store_dircache(dirs, dirs_listed, recorded_at);
        Ok(TreeOutcome::finish(tree, skipped, stats, written, started))
    }

    /// Replace the directory cache with the listings of a full scan, saved
    /// when a directory was listed afresh or went away.
    fn store_dircache(
        &mut self,
        dirs: Vec<(Vec<u8>, dircache::CachedDir)>,
        listed: u64,
        recorded_at: (i64, u32),
    ) {
        let Some(old) = &self.dircache else {
            return;
        };
        let changed = listed > 0 || dirs.len() != old.dirs.len();
        let new = dircache::DirCache {
            dirs: dirs.into_iter().collect(),
            recorded_at,
        };
        if changed {
            new.save(&dircache::DirCache::path_in(&self.state_dir));
        }
        self.dircache = Some(new);
    }

    /// Replace the stat cache with the entries seen by a full scan.
    fn store_cache(
        &mut self,
        entries: std::collections::HashMap<Vec<u8>, cache::CacheEntry>,
        recorded_at: (i64, u32),
        hashed: bool,
    ) {
        let changed = hashed || entries.len() != self.cache.entries.len();
        self.cache = StatCache {
            entries,
            recorded_at,
            written: std::mem::take(&mut self.cache.written),
        };
        self.cache_dirty |= changed;
        if self.autosave {
            self.save_cache();
        }
    }
}

/// The git settings that change how index entries are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexModes {
    /// `core.sparseCheckout` without `sparse.expectFilesOutsideOfPatterns`.
    sparse_checkout: bool,
    /// `core.ignorecase`.
    ignore_case: bool,
}

impl IndexModes {
    fn read(cfg: &git2::Config) -> IndexModes {
        let flag = |key: &str| cfg.get_bool(key).unwrap_or(false);
        IndexModes {
            sparse_checkout: flag("core.sparseCheckout")
                && !flag("sparse.expectFilesOutsideOfPatterns"),
            ignore_case: flag("core.ignorecase"),
        }
    }

    fn apply(self, t: &mut Tracked) {
        t.sparse_checkout = self.sparse_checkout;
        if t.ignore_case.is_some() != self.ignore_case {
            t.set_ignore_case(self.ignore_case);
        }
    }
}

/// A full scan's list of leaves, unless there were too many to number
/// (see [`walk::ScanLeaves`]).
fn numbered<T>(leaves: Option<T>) -> Result<T> {
    leaves
        .ok_or_else(|| git2::Error::from_str("more than 2^31 paths"))
        .git_context(|| "list the snapshot's paths".to_owned())
}

/// Wall-clock now as (seconds, nanoseconds) since the epoch.
fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// Path bytes → `Path` (unix).
pub(crate) fn bytes_path(b: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(b))
}

/// Put a computation's kept objects in the store: its pack (if it made
/// one) is durable and visible to every reader from here on, before any ref
/// can point at it; the loose objects written instead are returned, to be
/// flushed.
fn finish_objects(sink: &objects::ObjectSink, odb: &git2::Odb<'_>) -> Result<Vec<Oid>> {
    sink.finish(odb).map_err(crate::error::Error::ObjectStore)
}
