//! The watcher as a process: the one-per-work-tree pid lock
//! (`<git-dir>/savepoint/watch.pid`), starting a detached watcher and
//! stopping a running one.
//!
//! The pid file is held with an OS lock for the watcher's whole life, so a
//! watcher killed with SIGKILL leaves nothing that blocks the next one, and
//! "is a watcher running?" is answered by the lock, never by a stale file.
//! A process is signalled only when [`lockholder`](super::lockholder)
//! proves it holds that lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::workspace::state::StateFile;
use crate::workspace::Workspace;

use super::daemon::WatchOptions;
use super::protocol::{self, Request};

pub(crate) fn pid_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchPid.path_in(state_dir)
}

/// Where a detached watcher's output goes.
pub fn log_path(state_dir: &Path) -> PathBuf {
    StateFile::WatchLog.path_in(state_dir)
}

/// Proof that this process is the work tree's watcher; released on drop or
/// process death.
#[derive(Debug)]
pub(crate) struct WatchLock {
    file: File,
}

fn open_pid_file(state_dir: &Path) -> Result<File> {
    let path = pid_path(state_dir);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut s).ok()?;
    parse_pid(&s)
}

/// A pid as the pid file holds it: only 1..=i32::MAX is a process id (0,
/// negative values and `4294967295` would make `kill` signal a process
/// group or every process the user may signal).
fn parse_pid(s: &str) -> Option<u32> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|&p| (1..=i32::MAX as u32).contains(&p))
}

impl WatchLock {
    /// Become the watcher of this work tree, or say who already is.
    pub(crate) fn acquire(ws: &Workspace) -> Result<WatchLock> {
        let state = ws.state().ensure()?;
        let mut file = open_pid_file(state)?;
        // `status` takes the lock for an instant to probe it: retry briefly.
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < Duration::from_millis(300) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::AlreadyWatching {
                        pid: read_pid(&mut file).unwrap_or(0),
                        workdir: ws.workdir().to_path_buf(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", pid_path(state), e)),
            }
        }
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        let _ = file.sync_all();
        Ok(WatchLock { file })
    }
}

impl Drop for WatchLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The pid of the running watcher of this work tree, if any.
pub fn running_pid(ws: &Workspace) -> Result<Option<u32>> {
    let state = ws.state().path();
    if !pid_path(state).exists() {
        return Ok(None);
    }
    let mut file = open_pid_file(state)?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(read_pid(&mut file).unwrap_or(0))),
        Err(TryLockError::Error(e)) => Err(Error::io("lock", pid_path(state), e)),
    }
}

/// Start a detached watcher for `ws`: `exe` (the savepoint binary) runs
/// `watch --daemon-child` in its own process group, stdin closed, output
/// appended to `watch.log` (restarted above 10 MiB, the old one kept as
/// `watch.log.1`). Returns without waiting for its start-up scan.
pub fn spawn_detached(
    ws: &Workspace,
    exe: &Path,
    opts: &WatchOptions,
) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let state = ws.state().ensure()?;
    let log = log_path(state);
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 10 * 1024 * 1024) {
        let _ = std::fs::rename(&log, log.with_extension("log.1"));
    }
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .map_err(|e| Error::io("open", &log, e))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| Error::io("open", &log, e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-C")
        .arg(ws.workdir())
        .args(["--color", "never", "watch", "--daemon-child"])
        .arg(format!("--debounce={}", opts.debounce.as_millis()))
        .arg(format!("--max-wait={}", opts.max_wait.as_millis()))
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        // Hooks run with git's variables set (maybe relative to their
        // directory); the watcher gets this workspace's, absolute, so it
        // opens the very repository and work tree found here (also one only
        // `GIT_DIR` or `core.worktree` leads to).
        .env("GIT_DIR", ws.git_dir())
        .env("GIT_WORK_TREE", ws.workdir())
        .env_remove("GIT_INDEX_FILE")
        // Its own process group: a terminal's Ctrl-C does not reach it.
        .process_group(0);
    if opts.poll {
        cmd.arg("--poll");
    }
    cmd.spawn()
        .map_err(|e| Error::io("start the watcher", exe.to_path_buf(), e))
}

/// How `stop` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// No watcher was running.
    NotRunning,
    /// The watcher with this pid finished (final snapshot taken).
    Stopped(u32),
}

/// Ask the watcher to stop (socket, else SIGTERM) and wait until it exits.
pub fn stop(ws: &Workspace, timeout: Duration) -> Result<Stopped> {
    let Some(pid) = running_pid(ws)? else {
        return Ok(Stopped::NotRunning);
    };
    let asked = matches!(protocol::send(ws, &Request::Stop), Ok(Some(r)) if r.ok);
    if !asked {
        // Signal only a process proven to hold the watch lock: the pid file
        // is just text anyone who can write the state dir may change.
        let proven = pid != 0 && super::lockholder::holds_lock(pid, &pid_path(ws.state().path()));
        if !proven {
            return Err(Error::StopUnproven {
                workdir: ws.workdir().to_path_buf(),
                pid: (pid != 0).then_some(pid),
            });
        }
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
        }
    }
    let start = Instant::now();
    loop {
        match running_pid(ws)? {
            None => return Ok(Stopped::Stopped(pid)),
            Some(_) if start.elapsed() >= timeout => {
                return Err(Error::StopTimeout {
                    pid,
                    waited: timeout,
                })
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_process_ids_are_read_from_the_pid_file() {
        assert_eq!(parse_pid("1234\n"), Some(1234));
        for bad in [
            "0",
            "4294967295",
            "-1",
            "2147483648",
            "",
            "12x",
            "99999999999",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
        assert_eq!(parse_pid("2147483647"), Some(i32::MAX as u32));
    }
}
