//! One lock for every shadow-ref write in a repository, and a safe answer
//! to the `<ref>.lock` file a killed writer leaves behind.
//!
//! The snapshot lock ([`crate::workspace::lock`]) is per work tree, but
//! shadow refs live in the common git dir, shared by every work tree, and
//! git itself takes `<ref>.lock` files there too (`git pack-refs` during
//! `gc --auto` locks each loose ref it packs). So savepoint never deletes a
//! ref lock it merely finds: that would defeat the compare-and-swap of
//! whichever process holds it. Instead:
//!
//! - every savepoint process updating a shadow ref holds
//!   `<common-dir>/savepoint/refs.lock` (`flock`, released by the kernel
//!   when the process dies) and writes its *intent* into it first: pid,
//!   ref, time;
//! - it finishes by taking its intent out again. An intent found by the
//!   next holder is therefore from a writer that died mid-update; it is
//!   carried forward by every later holder (whatever ref that one
//!   updates) while the dead writer's `<ref>.lock` is still there — a
//!   snapshot's shadow-ref update between a killed `squash` and the next
//!   one must not forget who left `refs/heads/<branch>.lock`;
//! - a `<ref>.lock` in the way is waited for (git's own
//!   `core.filesRefLockTimeout` idea), and removed only when it is that
//!   dead writer's: same ref, created no later than shortly after the
//!   intent, and old enough that no live git would still hold it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::workspace::state::{StateDir, StateFile};

/// How long a `<ref>.lock` held by someone else is waited for.
const WAIT_FOR_REF_LOCK: Duration = Duration::from_secs(2);
/// A dead writer's `<ref>.lock` was created at most this long after its
/// intent was written.
const INTENT_SLACK: Duration = Duration::from_secs(2);
/// No git process holds a ref lock this long; a younger one may be live.
const MIN_STALE_AGE: Duration = Duration::from_secs(1);
/// Waiting for another savepoint process's ref update (milliseconds each).
const HOLD_TIMEOUT: Duration = Duration::from_secs(30);
/// Dead writers' intents carried forward at most (the most recent).
const MAX_ORPHANS: usize = 16;

/// A dead writer's intent: which ref it was updating, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intent {
    pub pid: u32,
    pub refname: String,
    /// Milliseconds since the epoch.
    pub at_ms: u128,
}

impl Intent {
    /// Every intent in the lock file, one per line.
    fn parse_all(text: &str) -> Vec<Intent> {
        text.lines().filter_map(Intent::parse).collect()
    }

    fn parse(line: &str) -> Option<Intent> {
        let mut it = line.trim().splitn(3, ' ');
        let pid = it.next()?.parse().ok()?;
        let at_ms = it.next()?.parse().ok()?;
        let refname = it.next()?.to_owned();
        Some(Intent {
            pid,
            refname,
            at_ms,
        })
    }

    fn line(&self) -> String {
        format!("{} {} {}\n", self.pid, self.at_ms, self.refname)
    }
}

/// The repository-wide shadow-ref lock, held while one ref is updated.
pub(crate) struct RefLock {
    file: File,
    common_dir: PathBuf,
    refname: String,
    /// What writers that died holding the lock meant to do, oldest first.
    orphans: Vec<Intent>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl RefLock {
    /// Take the lock for an update of `refname` and record the intent.
    pub(crate) fn acquire(common_dir: &Path, refname: &str) -> Result<RefLock> {
        let state = StateDir::new(common_dir);
        let path = state.ensure_file(StateFile::RefsLock)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let start = Instant::now();
        let mut delay = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < HOLD_TIMEOUT => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::LockTimeout {
                        path,
                        holder: "another savepoint process updating a ref".to_owned(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        let mut lock = RefLock {
            file,
            common_dir: common_dir.to_path_buf(),
            refname: refname.to_owned(),
            orphans: Intent::parse_all(&previous),
        };
        let own = Intent {
            pid: std::process::id(),
            at_ms: now_ms(),
            refname: refname.to_owned(),
        };
        lock.write_intents(Some(&own))
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(lock)
    }

    /// Rewrite the lock file: the dead writers' intents still standing,
    /// then `own` (this holder's, while it updates).
    fn write_intents(&mut self, own: Option<&Intent>) -> std::io::Result<()> {
        let skip = self.orphans.len().saturating_sub(MAX_ORPHANS);
        let text: String = self.orphans[skip..]
            .iter()
            .chain(own)
            .map(Intent::line)
            .collect();
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())
    }

    /// Run `update` (one attempt at the ref write; `Ok(false)` when a
    /// `<ref>.lock` is in the way), waiting for another holder of the ref
    /// lock and removing it only when a dead savepoint writer left it.
    pub(crate) fn update_with<E>(
        &mut self,
        mut update: impl FnMut() -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        let deadline = Instant::now() + WAIT_FOR_REF_LOCK;
        let mut delay = Duration::from_millis(2);
        let mut removed = false;
        loop {
            if update()? {
                return Ok(true);
            }
            if !removed && self.remove_if_orphaned() {
                removed = true;
                continue;
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// The path of the ref's own lock file (files backend).
    pub(crate) fn ref_lock_path(&self) -> PathBuf {
        self.common_dir.join(format!("{}.lock", self.refname))
    }

    /// Remove the `<ref>.lock` if it is a dead writer's (see the module
    /// docs); whether it did.
    fn remove_if_orphaned(&mut self) -> bool {
        let Some(at) = self.orphans.iter().rposition(|o| o.refname == self.refname) else {
            return false;
        };
        let orphan = &self.orphans[at];
        let path = self.ref_lock_path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return false;
        };
        let Ok(created) = meta.modified() else {
            return false;
        };
        let created_ms = created
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let age = created.elapsed().unwrap_or_default();
        let from_orphan = created_ms <= orphan.at_ms + INTENT_SLACK.as_millis();
        if !meta.is_file() || !from_orphan || age < MIN_STALE_AGE {
            return false;
        }
        tracing::info!(
            lock = %path.display(),
            pid = orphan.pid,
            "removing the ref lock a killed savepoint process left"
        );
        let removed = std::fs::remove_file(&path).is_ok();
        if removed {
            self.orphans.retain(|o| o.refname != self.refname);
        }
        removed
    }
}

impl Drop for RefLock {
    fn drop(&mut self) {
        // Done: this holder's intent goes; a dead writer's stays while
        // the `<ref>.lock` it may have left is there.
        let common = &self.common_dir;
        self.orphans.retain(|o| {
            std::fs::symlink_metadata(common.join(format!("{}.lock", o.refname))).is_ok()
        });
        let _ = self.write_intents(None);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "refs/savepoint/heads/main";

    fn lock_file(common: &Path) -> PathBuf {
        let p = common.join(format!("{REF}.lock"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "").unwrap();
        p
    }

    fn age(path: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    fn plant_intent(common: &Path, refname: &str, secs_ago: u64) {
        let dir = common.join("savepoint");
        std::fs::create_dir_all(&dir).unwrap();
        let at = now_ms() - u128::from(secs_ago) * 1000;
        std::fs::write(dir.join("refs.lock"), format!("4242 {at} {refname}\n")).unwrap();
    }

    /// The update sees a lock while the file exists.
    fn attempt(path: &Path) -> impl FnMut() -> std::result::Result<bool, ()> + '_ {
        move || Ok(!path.exists())
    }

    #[test]
    fn a_lock_someone_else_holds_is_never_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // No intent recorded: the lock is a live git's (e.g. pack-refs).
        let p = lock_file(tmp.path());
        age(&p, 3600);
        let mut lock = RefLock::acquire(tmp.path(), REF).unwrap();
        assert!(!lock.update_with(attempt(&p)).unwrap());
        assert!(
            p.exists(),
            "a lock without a dead writer's intent is not ours"
        );
    }

    #[test]
    fn a_dead_writers_lock_is_removed_and_the_update_goes_through() {
        let tmp = tempfile::tempdir().unwrap();
        plant_intent(tmp.path(), REF, 60);
        let p = lock_file(tmp.path());
        age(&p, 59);
        let mut lock = RefLock::acquire(tmp.path(), REF).unwrap();
        assert!(lock.update_with(attempt(&p)).unwrap());
        assert!(!p.exists());
    }

    #[test]
    fn a_lock_younger_than_the_dead_writers_intent_is_someone_elses() {
        let tmp = tempfile::tempdir().unwrap();
        // The writer died an hour ago; the lock was taken a minute ago
        // (another process, after the death).
        plant_intent(tmp.path(), REF, 3600);
        let p = lock_file(tmp.path());
        age(&p, 60);
        let mut lock = RefLock::acquire(tmp.path(), REF).unwrap();
        assert!(!lock.update_with(attempt(&p)).unwrap());
        assert!(p.exists());
    }

    #[test]
    fn a_dead_writer_of_another_ref_proves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        plant_intent(tmp.path(), "refs/savepoint/heads/other", 60);
        let p = lock_file(tmp.path());
        age(&p, 59);
        let mut lock = RefLock::acquire(tmp.path(), REF).unwrap();
        assert!(!lock.update_with(attempt(&p)).unwrap());
        assert!(p.exists());
    }

    #[test]
    fn a_finished_writer_leaves_no_intent() {
        let tmp = tempfile::tempdir().unwrap();
        drop(RefLock::acquire(tmp.path(), REF).unwrap());
        let lock = RefLock::acquire(tmp.path(), REF).unwrap();
        assert_eq!(lock.orphans, []);
        drop(lock);
        let text = std::fs::read_to_string(tmp.path().join("savepoint/refs.lock")).unwrap();
        assert_eq!(text, "");
    }

    /// A `squash` killed while it held `refs/heads/main.lock`, then a
    /// snapshot (another ref) before the next `squash`: the dead writer's
    /// intent outlives the snapshot's update, and the next squash removes
    /// the lock it left. Once the lock is gone, the intent goes too.
    #[test]
    fn a_dead_writers_intent_survives_updates_of_other_refs() {
        const BRANCH: &str = "refs/heads/main";
        let tmp = tempfile::tempdir().unwrap();
        plant_intent(tmp.path(), BRANCH, 60);
        let p = tmp.path().join(format!("{BRANCH}.lock"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "").unwrap();
        age(&p, 59);
        for _ in 0..2 {
            let mut shadow = RefLock::acquire(tmp.path(), REF).unwrap();
            assert!(shadow.update_with(|| Ok::<_, ()>(true)).unwrap());
        }
        let mut squash = RefLock::acquire(tmp.path(), BRANCH).unwrap();
        assert!(squash.update_with(attempt(&p)).unwrap());
        assert!(!p.exists());
        drop(squash);
        let text = std::fs::read_to_string(tmp.path().join("savepoint/refs.lock")).unwrap();
        assert_eq!(text, "");
    }
}
