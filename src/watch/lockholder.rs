//! Which process holds the watcher's pid lock? `savepoint stop` signals a
//! process only when this proves it is the watcher: the pid file's text
//! alone is not trusted (anyone who can write the state dir can change it).
//!
//! Linux answers exactly through `/proc/locks` (the `flock` holder's pid
//! and the locked file's device and inode). Elsewhere the process's command
//! line must be a savepoint watcher's.

use std::path::Path;

/// Does process `pid` hold the `flock` on `pid_file`?
pub(crate) fn holds_lock(pid: u32, pid_file: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(pid_file) else {
            return false;
        };
        let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
            return false;
        };
        let dev = meta.dev();
        let id = (rustix::fs::major(dev), rustix::fs::minor(dev), meta.ino());
        locks.lines().any(|l| flock_line_matches(l, pid, id))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid_file;
        let out = std::process::Command::new("ps")
            .args(["-o", "command=", "-p", &pid.to_string()])
            .stdin(std::process::Stdio::null())
            .output();
        out.is_ok_and(|o| {
            let cmd = String::from_utf8_lossy(&o.stdout);
            o.status.success() && cmd.contains("savepoint") && cmd.contains("watch")
        })
    }
}

/// One `/proc/locks` line: `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`
/// (waiters are marked `->` and hold nothing).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn flock_line_matches(line: &str, pid: u32, (major, minor, ino): (u32, u32, u64)) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(1) != Some(&"FLOCK") || fields.contains(&"->") {
        return false;
    }
    let (Some(holder), Some(file)) = (fields.get(4), fields.get(5)) else {
        return false;
    };
    if holder.parse::<u32>().ok() != Some(pid) {
        return false;
    }
    let mut parts = file.split(':');
    let (Some(ma), Some(mi), Some(i)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    u32::from_str_radix(ma, 16).ok() == Some(major)
        && u32::from_str_radix(mi, 16).ok() == Some(minor)
        && i.parse::<u64>().ok() == Some(ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_matched_by_pid_device_and_inode() {
        let id = (0xfd, 0x01, 5678);
        assert!(flock_line_matches(
            "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF",
            1234,
            id
        ));
        assert!(!flock_line_matches(
            "1: FLOCK  ADVISORY  WRITE 1235 fd:01:5678 0 EOF",
            1234,
            id
        ));
        assert!(!flock_line_matches(
            "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5679 0 EOF",
            1234,
            id
        ));
        assert!(!flock_line_matches(
            "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF",
            1234,
            id
        ));
        assert!(!flock_line_matches(
            "1: -> FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF",
            1234,
            id
        ));
    }

    #[test]
    fn this_process_holding_a_flock_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.pid");
        let f = std::fs::File::create(&path).unwrap();
        assert!(!holds_lock(std::process::id(), &path));
        f.lock().unwrap();
        #[cfg(target_os = "linux")]
        assert!(holds_lock(std::process::id(), &path));
        assert!(!holds_lock(1, &path));
    }
}
