//! Running and timing processes: a whole process, start to exit, with its
//! peak RSS (wait4's rusage), under a timeout that kills it and says so. A
//! failed or timed-out command is an `Err` with its message, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Per-command timeout (`--timeout SECS`).
static TIMEOUT: OnceLock<Duration> = OnceLock::new();
/// Environment every process of the run gets: a HOME of its own (no user
/// git config; `savepoint.statusUrl none` so a StopFailure hook asks no
/// status page over the network).
static HOME: OnceLock<PathBuf> = OnceLock::new();

pub fn init(timeout: Duration, home: PathBuf) {
    let _ = std::fs::create_dir_all(&home);
    let _ = std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = bench\n\temail = bench@example.com\n[savepoint]\n\tstatusUrl = none\n\
         [safe]\n\tdirectory = *\n",
    );
    let _ = TIMEOUT.set(timeout);
    let _ = HOME.set(home);
}

fn env(c: &mut Command) {
    if let Some(home) = HOME.get() {
        c.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"));
    }
    c.env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
}

pub fn git(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(args).current_dir(dir);
    env(&mut c);
    c
}

pub fn tool(bin: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).current_dir(dir);
    env(&mut c);
    c
}

pub fn sh(dir: &Path, script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]).current_dir(dir);
    env(&mut c);
    c
}

/// Runs a setup command that must succeed (generation, cleanup).
pub fn run_ok(c: Command) {
    if let Err(e) = measure(c, None) {
        panic!("{e}");
    }
}

/// Like `run_ok`, but a failure is returned.
pub fn run(c: Command) -> Result<(), String> {
    measure(c, None).map(|_| ())
}

/// stdout of a command that must succeed.
pub fn output(mut c: Command) -> Result<String, String> {
    let out = c
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{c:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{c:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One timed process.
#[derive(Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    /// Peak resident set of the process itself (ru_maxrss), KiB.
    pub max_rss_kib: u64,
}

/// Times `c` as a whole process (spawn to exit), stdin fed from `input`.
/// Stdout is discarded; stderr kept for the failure message.
pub fn measure(mut c: Command, input: Option<&[u8]>) -> Result<Sample, String> {
    let timeout = TIMEOUT.get().copied().unwrap_or(Duration::from_secs(900));
    let err_file = tempfile::tempfile().map_err(|e| e.to_string())?;
    c.stdout(Stdio::null())
        .stderr(err_file.try_clone().map_err(|e| e.to_string())?)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let what = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let t = Instant::now();
    let mut child = c.spawn().map_err(|e| format!("{what}: {e}"))?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        let _ = stdin.write_all(data);
    }
    let pid = child.id() as libc::pid_t;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(timeout).is_err() {
            // SAFETY: plain kill(2); the child is not reaped before the main
            // thread's wait4 returns, which happens only after this.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        } else {
            false
        }
    });
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: waits for our own child; pointers to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = t.elapsed();
    let _ = done_tx.send(());
    let killed = watchdog.join().unwrap_or(false);
    // The child is reaped: std's Child must not wait for it again.
    std::mem::forget(child);
    if r != pid {
        return Err(format!(
            "{what}: wait4: {}",
            std::io::Error::last_os_error()
        ));
    }
    if killed {
        return Err(format!(
            "{what}: timed out after {} s (--timeout), killed",
            timeout.as_secs()
        ));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let mut err = String::new();
        let mut f = err_file;
        use std::io::Seek;
        let _ = f.seek(std::io::SeekFrom::Start(0));
        let _ = f.take(4000).read_to_string(&mut err);
        let code = if libc::WIFEXITED(status) {
            format!("exit {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        return Err(format!("{what} failed ({code}): {}", err.trim()));
    }
    Ok(Sample {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
    })
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

/// Waits until `cond` holds, or fails after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let t = Instant::now();
    while !cond() {
        if t.elapsed() > limit {
            return Err(format!("timed out after {} s: {what}", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
