//! The snapshot lock, `<git-dir>/savepoint/lock`: serialises every process
//! that moves a shadow ref of this work tree (watcher, hooks, `snap`,
//! `restore`). It is an OS advisory lock (`flock`) on the file, so a process
//! killed with SIGKILL releases it automatically: a stale lock can never
//! block. The holder's pid is written into the file for error messages.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A held lock; released on drop (or process death).
#[derive(Debug)]
pub struct SnapshotLock {
    file: File,
    path: PathBuf,
}

impl SnapshotLock {
    /// Take the lock in `state_dir`, waiting at most `timeout`.
    pub fn acquire(state_dir: &Path, timeout: Duration) -> Result<SnapshotLock> {
        let path = super::state::StateFile::Lock.path_in(state_dir);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if start.elapsed() >= timeout {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = match holder.trim() {
                            "" => "unknown pid".to_owned(),
                            pid => format!("pid {pid}"),
                        };
                        return Err(Error::LockTimeout { path, holder });
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
        // Record who holds it (best effort; only used in messages).
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        Ok(SnapshotLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SnapshotLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_times_out_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let a = SnapshotLock::acquire(dir.path(), Duration::from_secs(1)).unwrap();
        let err = SnapshotLock::acquire(dir.path(), Duration::from_millis(30)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(a);
        SnapshotLock::acquire(dir.path(), Duration::from_millis(30)).unwrap();
    }
}
