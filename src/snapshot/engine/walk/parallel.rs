//! The parallel walk: directories are a shared LIFO work queue served by
//! one thread per core, each with its own [`Worker`]; each thread sorts
//! its share of the entries, and the shares are merged at the end. A
//! panic in one thread stops the others and reaches the caller.

use std::sync::{Condvar, Mutex};

use super::out::merge_sorted;
use super::{Ctx, Job, Out, Worker};

/// Walk from `roots` with `threads` threads; the entries come out sorted
/// by path, everything else unsorted.
pub(crate) fn walk(ctx: &Ctx<'_>, roots: Vec<Job>, threads: usize) -> Out {
    walk_with(ctx, roots, threads, false)
}

/// [`walk`], files whose leaf is their index entry's recorded in
/// [`Out::clean`] rather than as entries (see [`super::leaves`]).
pub(crate) fn walk_leaves(ctx: &Ctx<'_>, roots: Vec<Job>, threads: usize) -> Out {
    walk_with(ctx, roots, threads, true)
}

fn walk_with(ctx: &Ctx<'_>, roots: Vec<Job>, threads: usize, index_refs: bool) -> Out {
    struct Queue {
        jobs: Vec<Job>,
        busy: usize,
        /// A thread panicked: the others stop instead of waiting forever
        /// for its directory, and the panic is re-raised after the join.
        failed: bool,
    }
    let queue = Mutex::new(Queue {
        jobs: roots,
        busy: 0,
        failed: false,
    });
    let cv = Condvar::new();
    let mut total = Out::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut worker = Worker::new(ctx);
                    worker.index_refs = index_refs;
                    loop {
                        let job = {
                            let mut q = queue.lock().expect("walk queue poisoned");
                            loop {
                                if q.failed {
                                    break None;
                                }
                                if let Some(job) = q.jobs.pop() {
                                    q.busy += 1;
                                    break Some(job);
                                }
                                if q.busy == 0 {
                                    break None;
                                }
                                q = cv.wait(q).expect("walk queue poisoned");
                            }
                        };
                        let Some(job) = job else {
                            cv.notify_all();
                            break;
                        };
                        let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            worker.dir(job)
                        }));
                        let subdirs = match listed {
                            Ok(subdirs) => subdirs,
                            Err(panic) => {
                                let mut q = queue.lock().expect("walk queue poisoned");
                                q.failed = true;
                                q.busy -= 1;
                                drop(q);
                                cv.notify_all();
                                std::panic::resume_unwind(panic);
                            }
                        };
                        let mut q = queue.lock().expect("walk queue poisoned");
                        q.busy -= 1;
                        let wake = !subdirs.is_empty() || q.busy == 0;
                        q.jobs.extend(subdirs);
                        drop(q);
                        if wake {
                            cv.notify_all();
                        }
                    }
                    // Sort this share here, in parallel with the others:
                    // descending, for `merge_sorted` to take from the end.
                    worker
                        .out
                        .entries
                        .sort_unstable_by(|a, b| b.path.cmp(&a.path));
                    // The growth slack goes back before the merge allocates
                    // the whole list.
                    worker.out.entries.shrink_to_fit();
                    worker.out
                })
            })
            .collect();
        let mut runs = Vec::new();
        for h in handles {
            match h.join() {
                Ok(mut out) => {
                    runs.push(std::mem::take(&mut out.entries));
                    total.merge(out);
                }
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        total.entries = merge_sorted(runs);
    });
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::engine::attr::AttrRules;
    use crate::snapshot::engine::cache::StatCache;
    use crate::snapshot::engine::ignore::{DirRules, Excludes};
    use crate::snapshot::engine::index::Tracked;
    use crate::snapshot::engine::walk::dir::PANIC_AT_ALL;
    use std::sync::Arc;

    /// A panic in one walker thread reaches the caller; the other threads
    /// do not wait forever for the panicked thread's directory.
    #[test]
    fn a_panicking_walker_thread_propagates_instead_of_deadlocking() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..64 {
            std::fs::create_dir_all(dir.path().join(format!("d{i}/sub"))).unwrap();
            std::fs::write(dir.path().join(format!("d{i}/sub/f")), "x").unwrap();
        }
        *PANIC_AT_ALL.lock().unwrap() = Some(b"d7".to_vec());
        let root = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let tracked = Tracked::default();
            let cache = StatCache::default();
            let repo_dir = tempfile::tempdir().unwrap();
            git2::Repository::init(repo_dir.path()).unwrap();
            let excludes = Excludes::load(
                &git2::Repository::open(repo_dir.path()).unwrap(),
                &root,
                &[],
                false,
            );
            let git_dir = repo_dir.path().join(".git");
            let repo = git2::Repository::open(repo_dir.path()).unwrap();
            let attrs = AttrRules::load(&repo, &git_dir, &root);
            let ctx = Ctx {
                workdir: &root,
                git_dir: &git_dir,
                tracked: &tracked,
                cache: &cache,
                dircache: None,
                excludes: &excludes,
                filemode: true,
                symlinks: true,
                git_dirs_inside: &[],
                state_dir: &git_dir,
                attrs: &attrs,
                max_file_size: u64::MAX,
                progress: None,
                observer: None,
                objects: None,
            };
            let job = Job {
                rel: Vec::new(),
                abs: root.clone(),
                parent_rules: DirRules::empty(),
                parent_attrs: Arc::clone(attrs.root()),
                parent_fd: None,
            };
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| walk(&ctx, vec![job], 4)));
            let _ = tx.send(r.is_err());
        });
        let panicked = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the walk deadlocked after a thread panicked");
        *PANIC_AT_ALL.lock().unwrap() = None;
        assert!(panicked, "the panic was swallowed");
    }
}
