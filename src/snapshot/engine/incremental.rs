//! Incremental snapshots: patch a previous snapshot tree for a list of
//! changed paths. Only those paths are examined (plus their ancestors' ignore
//! rules) and only the trees on their way to the root are rewritten, in one
//! batched rebuild ([`TreePatch`]: each touched directory read once and
//! written once, bottom-up): cost O(changed paths and the directories
//! holding them), not O(repository).
//! A changed path that is a directory is re-walked (new directories,
//! `mkdir -p a/b/c`, moved trees). A changed `.gitattributes` may change
//! how any file below it converts, so it means a full scan. Anything
//! unexpected falls back to a full scan, which is always correct.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use git2::Oid;

use super::ignore::DirRules;
use super::stat::Stat;
use super::tree::{self, TreePatch, TreeStats};
use super::walk::{self, Job, Worker};
use super::{bytes_path, now, Engine, TreeOutcome};
use crate::error::{GitContext, Result};
use crate::git::mode::{self, MODE_GITLINK, MODE_TREE};
use crate::git::path::parent;
use crate::workspace::Workspace;

impl Engine {
    /// [`Engine::update`] for a look, not a snapshot (the watcher answering
    /// "what is the work tree now?"): the paths that became tracked or
    /// untracked when the index was re-read stay queued for the next
    /// snapshot's update, which must look at them too.
    pub(crate) fn look(
        &mut self,
        ws: &Workspace,
        base_tree: Oid,
        paths: &[PathBuf],
    ) -> Result<TreeOutcome> {
        self.refresh_tracked(ws);
        let queued = self.index_changed.clone();
        let out = self.update(ws, base_tree, paths);
        self.index_changed = queued;
        out
    }

    /// Trust `files`, just written by this process, to hold the ids given
    /// while their stat is the one given (see [`StatCache::written`]): an
    /// [`Engine::update`] over them then reads none of them back.
    ///
    /// [`StatCache::written`]: super::cache::StatCache::written
    pub(crate) fn trust_written(&mut self, files: Vec<(Vec<u8>, super::cache::CacheEntry)>) {
        self.cache.written.extend(files);
    }

    /// The snapshot tree after `paths` changed, starting from `base_tree`
    /// (the previous snapshot's tree, taken of this same work tree). Paths
    /// may be absolute (inside the work tree) or relative to it; paths in
    /// `.git` or outside the work tree are ignored.
    pub fn update(
        &mut self,
        ws: &Workspace,
        base_tree: Oid,
        paths: &[PathBuf],
    ) -> Result<TreeOutcome> {
        let started = Instant::now();
        if !self.refresh_tracked(ws)
            || paths.iter().any(|p| {
                p.as_os_str().is_empty()
                    || p == ws.workdir()
                    || p.file_name().is_some_and(|n| n == ".gitattributes")
            })
        {
            return self.scan(ws);
        }
        let index_changed = std::mem::take(&mut self.index_changed);
        let mut paths = std::borrow::Cow::Borrowed(paths);
        let through_links = real_paths_behind_symlinks(ws.workdir(), &paths);
        if !through_links.is_empty() {
            paths.to_mut().extend(through_links);
        }
        if !index_changed.is_empty() {
            paths
                .to_mut()
                .extend(index_changed.iter().map(|r| bytes_path(r).to_path_buf()));
        }
        match self.try_update(ws, base_tree, &paths, started) {
            Ok(out) => Ok(out),
            Err(e) => {
                tracing::warn!(error = %e, "incremental update failed; doing a full scan");
                self.scan(ws)
            }
        }
    }

    fn try_update(
        &mut self,
        ws: &Workspace,
        base_tree: Oid,
        paths: &[PathBuf],
        started: Instant,
    ) -> Result<TreeOutcome> {
        let repo = ws.repo();
        let base = repo
            .find_tree(base_tree)
            .git_context(|| format!("read tree {base_tree}"))?;
        let mut rels = normalize(ws.workdir(), paths);
        rels.retain(|rel| !ws.is_in_git_dir(rel));
        let rels = widen_to_replaced_ancestors(&base, rels);
        let recorded_at = now();
        let tracked = self.tracked.as_ref().expect("refreshed");
        if tracked.ignore_case.is_some()
            && rels.iter().any(|r| {
                tracked.differs_in_case(r)
                    || case_variant_in(repo, &base, r)
                    || case_variant_on_disk(ws.workdir(), r)
            })
        {
            // core.ignorecase: a case variant of a path in the index or in
            // the snapshot; git's spelling rules need the whole picture.
            return self.scan(ws);
        }
        let mut rules_cache = std::mem::take(&mut self.rules_cache);
        let threads = self.opts.threads;
        let sink = self.object_sink(ws);
        let mut ctx = self.ctx(ws, tracked);
        ctx.objects = Some(Arc::clone(&sink));
        let mut worker = Worker::new(&ctx);
        let mut rules_memo = RulesMemo {
            dirs: HashMap::new(),
            cache: &mut rules_cache,
        };
        let mut builder = TreePatch::default();
        let mut ts = TreeStats::with_sink(Some(Arc::clone(&sink)));
        let odb = repo
            .odb()
            .git_context(|| "open object database".to_owned())?;
        // Files to hash, after the loop (a burst's on several threads).
        let mut files: Vec<(Vec<u8>, Stat)> = Vec::new();

        for rel in &rels {
            let abs = ws.workdir().join(bytes_path(rel));
            let parent = parent(rel);
            let Some((rules, parent_ignored)) =
                dir_rules(ws.workdir(), parent, &ctx, &mut rules_memo)
            else {
                // An ancestor is not a directory (or is a nested repository):
                // nothing at this path can be in the snapshot, except what
                // git keeps as indexed.
                keep_or_remove(rel, tracked, &odb, &mut ts, &mut builder)?;
                continue;
            };
            let meta = std::fs::symlink_metadata(&abs);
            let tracked_here = tracked.get(rel);
            if let Err(e) = &meta {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    // In a directory we may not search: what is tracked
                    // there keeps its indexed content, as in a full scan.
                    for t in tracked_here.into_iter().chain(tracked.below(rel)) {
                        builder.upsert(t.path, t.oid, mode::leaf(t.mode));
                    }
                    worker.out.skipped.push(super::Skipped {
                        path: parent.to_vec(),
                        reason: super::SkipReason::Unreadable {
                            error: e.to_string(),
                        },
                    });
                    continue;
                }
            }
            match meta.ok() {
                Some(m) if m.is_dir() => {
                    let ignored = parent_ignored || rules.is_ignored(ctx.excludes, &abs, true);
                    let mut out = if ignored {
                        walk::Out::default()
                    } else {
                        let job = Job {
                            rel: rel.clone(),
                            abs: abs.clone(),
                            parent_rules: Arc::clone(&rules),
                            parent_attrs: worker.attr_dir(parent),
                            parent_fd: None,
                        };
                        walk::walk(&ctx, vec![job], 1)
                    };
                    out.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
                    // Tracked entries below this directory the walk did not yield.
                    let mut extra = Worker::new(&ctx);
                    extra.out.repo_dirs = std::mem::take(&mut out.repo_dirs);
                    extra.tracked_pass(&out.entries, tracked.below(rel), &out.deferred);
                    let mut deferred = std::mem::take(&mut out.deferred);
                    deferred.append(&mut extra.out.deferred);
                    extra.resolve_deferred(deferred);
                    if let Some(t) = tracked_here.filter(|t| t.mode == MODE_GITLINK) {
                        if !out.entries.iter().any(|e| &e.path == rel)
                            && !super::fsys::is_nested_repo(&abs)
                        {
                            out.entries.push(tree::Entry {
                                path: rel.clone(),
                                mode: MODE_GITLINK,
                                oid: t.oid,
                            });
                        }
                    }
                    let mut entries = std::mem::take(&mut out.entries);
                    entries.append(&mut extra.out.entries);
                    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
                    // The rest (counters, cache updates, skips, objects,
                    // errors) joins this update's; the entries become a
                    // subtree here.
                    out.merge(extra.out);
                    worker.out.merge(out);
                    if let [only] = entries.as_slice() {
                        if &only.path == rel {
                            builder.upsert(rel, only.oid, MODE_GITLINK);
                            continue;
                        }
                    }
                    entries.retain(|e| e.path.len() > rel.len());
                    if entries.is_empty() {
                        builder.remove(rel);
                    } else {
                        let oid = tree::write_tree(&odb, &entries, rel.len() + 1, &mut ts)
                            .git_context(|| "write subtree".to_owned())?;
                        builder.upsert(rel, oid, MODE_TREE);
                    }
                }
                Some(m) if m.is_file() || m.file_type().is_symlink() => {
                    let ignored = parent_ignored || rules.is_ignored(ctx.excludes, &abs, false);
                    if !ignored || tracked_here.is_some() {
                        files.push((rel.clone(), Stat::from_metadata(&m)));
                    } else {
                        keep_or_remove(rel, tracked, &odb, &mut ts, &mut builder)?;
                    }
                }
                _ => {
                    // Gone, or a FIFO/socket/device: not in the snapshot,
                    // except what git keeps as indexed.
                    keep_or_remove(rel, tracked, &odb, &mut ts, &mut builder)?;
                }
            }
        }
        if files.len() >= super::objects::PACK_MIN {
            // A burst: its blobs and trees go into one pack.
            sink.pack_from_now();
        }
        // Files waiting for git's conversion, patched in below.
        let mut late: Vec<Vec<u8>> = Vec::new();
        for (rel, hashed) in hash_files(&mut worker, files, threads) {
            match hashed {
                Hashed::Entry(e) => builder.upsert(&rel, e.oid, mode::leaf(e.mode)),
                Hashed::Deferred => late.push(rel),
                Hashed::Nothing => keep_or_remove(&rel, tracked, &odb, &mut ts, &mut builder)?,
            }
        }
        if !late.is_empty() {
            let before = worker.out.entries.len();
            let deferred = std::mem::take(&mut worker.out.deferred);
            worker.resolve_deferred(deferred);
            let done: HashMap<&[u8], &tree::Entry> = worker.out.entries[before..]
                .iter()
                .map(|e| (e.path.as_slice(), e))
                .collect();
            for rel in &late {
                match done.get(rel.as_slice()) {
                    Some(e) => {
                        builder.upsert(rel, e.oid, mode::leaf(e.mode));
                    }
                    None => builder.remove(rel),
                }
            }
        }
        if let Some(e) = std::mem::take(&mut worker.out.store_errors)
            .into_iter()
            .next()
        {
            return Err(crate::error::Error::ObjectStore(e));
        }
        let tree = builder
            .apply(repo, &odb, &base, &mut ts)
            .git_context(|| "update snapshot tree".to_owned())?;
        let mut stats = std::mem::take(&mut worker.out.stats);
        stats.incremental = true;
        stats.trees_written += ts.new_trees();
        let mut written = std::mem::take(&mut worker.out.written);
        written.extend(ts.written);
        written.extend(super::finish_objects(&sink, &odb)?);
        let cache_updates = std::mem::take(&mut worker.out.cache);
        let skipped = std::mem::take(&mut worker.out.skipped);
        drop(worker);
        drop(rules_memo);
        self.rules_cache = rules_cache;
        self.merge_cache(&rels, cache_updates, recorded_at);
        Ok(TreeOutcome::finish(tree, skipped, stats, written, started))
    }

    /// Fold an incremental update into the stat cache: the changed paths'
    /// entries are replaced by what this update saw, in O(changed paths).
    /// Entries below a directory that was deleted linger harmlessly (an
    /// entry only counts when path and full stat match) until the next full
    /// scan replaces the whole cache.
    fn merge_cache(
        &mut self,
        rels: &[Vec<u8>],
        updates: Vec<(Vec<u8>, super::cache::CacheEntry)>,
        recorded_at: (i64, u32),
    ) {
        if rels.is_empty() {
            return;
        }
        for r in rels {
            self.cache.entries.remove(r);
        }
        // Entries that were not touched keep their old racy horizon only if
        // it is earlier; the newer one is conservative for all of them.
        self.cache.recorded_at = self.cache.recorded_at.max(recorded_at);
        self.cache.entries.extend(updates);
        self.cache_dirty = true;
        if self.autosave {
            self.save_cache();
        }
    }
}

/// Fewer files than this are hashed on the calling thread: threads only pay
/// off for a burst.
const PARALLEL_FILES: usize = 64;

/// What hashing one changed file gave.
enum Hashed {
    /// Its entry in the snapshot.
    Entry(tree::Entry),
    /// Only git can convert it: resolved with the update's other deferred
    /// files.
    Deferred,
    /// Nothing to record (vanished, unreadable, too large): what git keeps
    /// as indexed stays.
    Nothing,
}

/// Hash the changed files `files` (what `worker` would do one by one): a
/// burst's on up to `threads` threads, each with its own blob writer, in
/// contiguous shares so a directory's files stay together. Everything else
/// the hashing produced (stat-cache updates, skips, objects written,
/// deferred files) joins `worker`'s output.
fn hash_files<'a>(
    worker: &mut Worker<'a>,
    files: Vec<(Vec<u8>, Stat)>,
    threads: usize,
) -> Vec<(Vec<u8>, Hashed)> {
    fn one(w: &mut Worker<'_>, rel: Vec<u8>, stat: Stat) -> (Vec<u8>, Hashed) {
        let before = w.out.entries.len();
        let deferred_before = w.out.deferred.len();
        w.file(rel.clone(), stat);
        let hashed = if w.out.deferred.len() > deferred_before {
            Hashed::Deferred
        } else {
            match w.out.entries.get(before) {
                Some(e) => Hashed::Entry(e.clone()),
                None => Hashed::Nothing,
            }
        };
        (rel, hashed)
    }
    let threads = threads.min(files.len() / (PARALLEL_FILES / 2)).max(1);
    if files.len() < PARALLEL_FILES || threads < 2 {
        return files
            .into_iter()
            .map(|(rel, stat)| one(worker, rel, stat))
            .collect();
    }
    let ctx = worker.ctx;
    let share = files.len().div_ceil(threads);
    /// One thread's files as hashed, and everything else it produced.
    type Share = (Vec<(Vec<u8>, Hashed)>, walk::Out);
    let shares: Vec<Share> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(share)
            .map(|chunk| {
                s.spawn(move || {
                    let mut w = Worker::new(ctx);
                    let done: Vec<_> = chunk
                        .iter()
                        .map(|(rel, stat)| one(&mut w, rel.clone(), *stat))
                        .collect();
                    (done, std::mem::take(&mut w.out))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(files.len());
    for (done, produced) in shares {
        out.extend(done);
        worker.out.merge(produced);
    }
    out
}

/// Nothing usable is at `rel`: keep the index entries at or below it that
/// git leaves as indexed (skip-worktree, assume-unchanged), drop the rest.
fn keep_or_remove(
    rel: &[u8],
    tracked: &super::index::Tracked,
    odb: &git2::Odb<'_>,
    ts: &mut TreeStats,
    builder: &mut TreePatch,
) -> Result<()> {
    let kept: Vec<tree::Entry> = tracked
        .get(rel)
        .into_iter()
        .chain(tracked.below(rel))
        .filter(|t| tracked.keeps_indexed(t, || false))
        .map(|t| tree::Entry {
            path: t.path.to_vec(),
            mode: t.mode,
            oid: t.oid,
        })
        .collect();
    match kept.as_slice() {
        [] => builder.remove(rel),
        [only] if only.path == rel => {
            builder.upsert(rel, only.oid, mode::leaf(only.mode));
        }
        _ => {
            let kept: Vec<_> = kept.into_iter().filter(|e| e.path != rel).collect();
            let oid = tree::write_tree(odb, &kept, rel.len() + 1, ts)
                .git_context(|| "write subtree".to_owned())?;
            builder.upsert(rel, oid, MODE_TREE);
        }
    }
    Ok(())
}

/// Relative, `/`-separated, deduplicated paths with no path below another
/// one in the list (the ancestor's re-walk covers it). `.git` internals and
/// paths outside the work tree are dropped.
pub(crate) fn normalize(workdir: &Path, paths: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut rels: Vec<Vec<u8>> = paths
        .iter()
        .filter_map(|p| {
            let rel = if p.is_absolute() {
                p.strip_prefix(workdir).ok()?
            } else {
                p.as_path()
            };
            let mut out = Vec::new();
            for c in rel.components() {
                match c {
                    std::path::Component::Normal(n) => {
                        if n.as_bytes() == b".git" {
                            return None;
                        }
                        if !out.is_empty() {
                            out.push(b'/');
                        }
                        out.extend_from_slice(n.as_bytes());
                    }
                    std::path::Component::CurDir => {}
                    _ => return None,
                }
            }
            Some(out)
        })
        .collect();
    if rels.iter().any(|r| r.is_empty()) {
        return vec![Vec::new()];
    }
    rels.sort();
    rels.dedup();
    // Sorted, a path comes after its ancestors: keep it unless one of its
    // ancestors was kept (one look-up per ancestor, not per kept path).
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(rels.len());
    let mut kept_set: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for r in rels {
        let under_kept = r
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'/' && kept_set.contains(&r[..i]));
        if !under_kept {
            kept_set.insert(r.clone());
            kept.push(r);
        }
    }
    kept
}

/// A changed path below something that is a file (or symlink, gitlink) in
/// the base tree means that ancestor became a directory: re-walk from the
/// ancestor, so the old entry is replaced even if its removal was not
/// reported.
fn widen_to_replaced_ancestors(base: &git2::Tree<'_>, rels: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut widened = false;
    // The ancestors already looked up: a burst's paths share most of them.
    let mut trees: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    let rels: Vec<Vec<u8>> = rels
        .into_iter()
        .map(|rel| {
            let mut end = 0;
            while let Some(pos) = rel[end..].iter().position(|&b| b == b'/') {
                let anc = &rel[..end + pos];
                if !trees.contains(anc) {
                    match base.get_path(bytes_path(anc)) {
                        Ok(e) if e.kind() != Some(git2::ObjectType::Tree) => {
                            widened = true;
                            return anc.to_vec();
                        }
                        Ok(_) => {
                            trees.insert(anc.to_vec());
                        }
                        Err(_) => break,
                    }
                }
                end += pos + 1;
            }
            rel
        })
        .collect();
    if !widened {
        return rels;
    }
    let paths: Vec<PathBuf> = rels.iter().map(|r| bytes_path(r).to_path_buf()).collect();
    normalize(Path::new(""), &paths)
}

/// A path reported through a symlinked directory (`link/b.txt`, where
/// `link -> dir`; hooks pass the path the agent used) changed a file at its
/// real location (`dir/b.txt`): return those real paths when they lie
/// inside the work tree. The reported path itself stays in the list (it
/// resolves to the symlink entry).
fn real_paths_behind_symlinks(workdir: &Path, paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut real_root: Option<Option<PathBuf>> = None;
    // Paths of one burst share a few parents: resolve each parent once.
    let mut resolved: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    for p in paths {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            workdir.join(p)
        };
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            continue;
        };
        if parent == workdir || !parent.starts_with(workdir) {
            continue;
        }
        let real_parent = resolved
            .entry(parent.to_path_buf())
            .or_insert_with(|| std::fs::canonicalize(parent).ok());
        let Some(real_parent) = real_parent.as_deref() else {
            continue; // the directory is gone: nothing behind it changed
        };
        let root = real_root.get_or_insert_with(|| std::fs::canonicalize(workdir).ok());
        let Some(root) = root.as_deref() else {
            continue;
        };
        if let Ok(rel_parent) = real_parent.strip_prefix(root) {
            let real = workdir.join(rel_parent).join(name);
            if real != abs {
                out.push(real);
            }
        }
    }
    out
}

/// Does the tree hold, along `rel`, a name that differs from `rel`'s only
/// in case?
fn case_variant_in(repo: &git2::Repository, base: &git2::Tree<'_>, rel: &[u8]) -> bool {
    let mut tree = base.clone();
    for name in rel.split(|&b| b == b'/') {
        let mut next = None;
        for e in tree.iter() {
            let n = e.name_bytes();
            if n == name {
                next = Some(e.id());
            } else if n.eq_ignore_ascii_case(name) {
                return true;
            }
        }
        match next.and_then(|id| repo.find_tree(id).ok()) {
            Some(t) => tree = t,
            None => return false,
        }
    }
    false
}

/// Is there, along `rel`, a file or directory whose name differs from
/// `rel`'s only in case? On a case-sensitive file system both spellings can
/// exist side by side (`a/` and `A/`), and git folds them into one
/// directory: only a full scan sees both. (On a case-insensitive file system
/// a listing shows one spelling, and nothing is found.)
fn case_variant_on_disk(workdir: &Path, rel: &[u8]) -> bool {
    let mut dir = workdir.to_path_buf();
    for name in rel.split(|&b| b == b'/') {
        let variant = std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let n = e.file_name();
                n.as_bytes() != name && n.as_bytes().eq_ignore_ascii_case(name)
            })
        });
        if variant {
            return true;
        }
        let next = dir.join(bytes_path(name));
        if std::fs::symlink_metadata(&next).is_err() {
            return false;
        }
        dir = next;
    }
    false
}

/// Ignore rules of the directories that have a `.gitignore`, kept from one
/// update to the next (the watcher's engine lives long): compiling a large
/// `.gitignore` takes milliseconds — most of a one-file update, before this
/// cache. A rule set is reused only while its file's stat and its parent's
/// rules (by identity) are unchanged; whether the directory is still a
/// real directory is checked on every update.
#[derive(Default)]
pub(crate) struct RulesCache {
    /// The root's (empty) parent rules, for `core.ignorecase` as given.
    root: Option<(bool, Arc<DirRules>)>,
    dirs: HashMap<Vec<u8>, CachedRules>,
}

struct CachedRules {
    parent: Arc<DirRules>,
    file: Stat,
    rules: Arc<DirRules>,
}

impl RulesCache {
    fn root(&mut self, ignore_case: bool) -> Arc<DirRules> {
        match &self.root {
            Some((ic, root)) if *ic == ignore_case => Arc::clone(root),
            _ => {
                let root = DirRules::root(ignore_case);
                self.root = Some((ignore_case, Arc::clone(&root)));
                root
            }
        }
    }

    /// [`DirRules::child`], from the cache when nothing changed.
    fn child(&mut self, dir: &[u8], parent: &Arc<DirRules>, abs: &Path) -> Arc<DirRules> {
        let file = abs.join(".gitignore");
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            return DirRules::child(parent, abs, false);
        };
        // A symlink counts when it leads to a file, as in the walk
        // (`DirRules::child` then refuses it, as git does).
        let has = if meta.file_type().is_symlink() {
            file.is_file()
        } else {
            meta.is_file()
        };
        if !has {
            return DirRules::child(parent, abs, false);
        }
        let stat = Stat::from_metadata(&meta);
        if let Some(hit) = self.dirs.get(dir) {
            if hit.file == stat && Arc::ptr_eq(&hit.parent, parent) {
                return Arc::clone(&hit.rules);
            }
        }
        let rules = DirRules::child(parent, abs, true);
        let entry = CachedRules {
            parent: Arc::clone(parent),
            file: stat,
            rules: Arc::clone(&rules),
        };
        self.dirs.insert(dir.to_vec(), entry);
        rules
    }

    /// Forget every rule set (the repository-wide rules were reloaded).
    pub(crate) fn clear(&mut self) {
        *self = RulesCache::default();
    }
}

/// The rules of the directories one update looked at, and the cache
/// across updates.
struct RulesMemo<'a> {
    dirs: HashMap<Vec<u8>, (Arc<DirRules>, bool)>,
    cache: &'a mut RulesCache,
}

/// The ignore rules in effect inside directory `dir` and whether `dir`
/// itself is ignored; `None` if `dir` (or an ancestor) is not a real
/// directory or is a nested repository.
fn dir_rules(
    workdir: &Path,
    dir: &[u8],
    ctx: &walk::Ctx<'_>,
    memo: &mut RulesMemo<'_>,
) -> Option<(Arc<DirRules>, bool)> {
    if let Some(hit) = memo.dirs.get(dir) {
        return Some(hit.clone());
    }
    let abs = workdir.join(bytes_path(dir));
    let result = if dir.is_empty() {
        let root = memo.cache.root(ctx.excludes.ignore_case());
        (memo.cache.child(dir, &root, &abs), false)
    } else {
        let (parent_rules, parent_ignored) = dir_rules(workdir, parent(dir), ctx, memo)?;
        let meta = std::fs::symlink_metadata(&abs).ok()?;
        if !meta.is_dir() || super::fsys::is_nested_repo(&abs) {
            return None;
        }
        let ignored = parent_ignored || parent_rules.is_ignored(ctx.excludes, &abs, true);
        (memo.cache.child(dir, &parent_rules, &abs), ignored)
    };
    memo.dirs.insert(dir.to_vec(), result.clone());
    Some(result)
}
