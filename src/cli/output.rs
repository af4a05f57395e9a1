//! Terminal presentation for the binary: colour decisions (`--color`,
//! `NO_COLOR`, terminal detection), styles, relative times, the error line
//! with its hint, and the progress line for long scans. stdout is data,
//! stderr is status.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, FixedOffset, Utc};

use crate::cli::ColorChoice;

/// Output settings shared by all commands.
pub struct Ui {
    pub color: bool,
}

impl Ui {
    pub fn new(choice: ColorChoice) -> Ui {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::stdout().is_terminal() && no_color_unset(),
        };
        Ui { color }
    }

    /// Wrap `text` in `style` when colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }
}

pub const ID: Style = AnsiColor::Yellow.on_default();
pub const DIM: Style = Style::new().dimmed();
pub const TRIGGER: Style = AnsiColor::Cyan.on_default();
pub const REF: Style = AnsiColor::Green.on_default();
pub const ADD: Style = AnsiColor::Green.on_default();
pub const DEL: Style = AnsiColor::Red.on_default();
pub const HUNK: Style = AnsiColor::Cyan.on_default();
pub const BOLD: Style = Style::new().bold();

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Colour for stderr (logs, errors).
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && no_color_unset()
}

pub use savepoint::plural;

/// `3 minutes ago`, `2 days ago`.
pub fn relative_age(t: &DateTime<FixedOffset>) -> String {
    let secs = (Utc::now().timestamp() - t.timestamp()).max(0);
    let (n, unit) = match secs {
        0..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        86_400..=2_591_999 => (secs / 86_400, "day"),
        2_592_000..=31_535_999 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// Was this error a closed stdout (`savepoint log | head`)? Not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One line `error: …`, plus `hint: …` lines when we know a next step.
pub fn print_error(e: &anyhow::Error) {
    let color = stderr_color();
    let label = if color {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    eprintln!("{label}: {}", message(e));
    if let Some(hint) = hint_for(e) {
        let label = if color {
            "\x1b[1;36mhint\x1b[0m"
        } else {
            "hint"
        };
        eprintln!("{label}: {hint}");
    }
}

/// The error and its causes on one line, `outer: cause: cause`. Library
/// errors name their cause in their own message *and* return it as their
/// source (so a log line with `{e}` says everything); a cause already in
/// the line is not repeated (anyhow's `{:#}` would print it twice).
fn message(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

fn hint_for(e: &anyhow::Error) -> Option<String> {
    use savepoint::Error as E;
    let err = e
        .chain()
        .find_map(|c| c.downcast_ref::<savepoint::Error>())?;
    Some(match err {
        E::NotARepository { .. } => "run inside a git work tree, or pass -C <path>".into(),
        E::BareRepository { .. } => {
            "savepoint snapshots a work tree; run it in a checkout (see `git worktree add`)".into()
        }
        E::Config { key, .. } => format!(
            "fix it with `git config {key} <value>` or remove it with `git config --unset {key}`"
        ),
        E::LockTimeout { .. } => "another snapshot is in progress; try again in a moment".into(),
        E::Revision { .. } => "list snapshots with `savepoint log`".into(),
        E::RefMoved { .. } => "something else updated the shadow ref; run the command again".into(),
        E::UnsafePath { .. } => "that snapshot was not made by savepoint from this work tree; nothing was written".into(),
        E::PathspecNoMatch { .. } => "paths are relative to the current directory; see the snapshot's files with `savepoint show <snap> --stat`".into(),
        E::InvalidSettings { .. } => {
            "fix the file (or move it away), then run the command again".into()
        }
        E::ObjectStore { .. } => "check free disk space and write permission on .git/objects; nothing was recorded".into(),
        E::AlreadyWatching { .. } => {
            "see it with `savepoint status`; stop it with `savepoint stop`".into()
        }
        E::StopTimeout { pid, .. } => format!(
            "it may be finishing a large scan; `kill {pid}` ends it at once (snapshots are atomic, nothing is lost)"
        ),
        E::WorkTreeGone { .. } => {
            "the watcher stopped; snapshots already taken are safe in the repository".into()
        }
        _ => return None,
    })
}

/// A progress line on stderr for scans that take longer than a second.
/// Silent when stderr is not a terminal. Stops when dropped.
pub struct Progress {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(
        counter: Arc<savepoint::snapshot::engine::ScanProgress>,
        what: &'static str,
    ) -> Progress {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handle = std::io::stderr().is_terminal().then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut shown = false;
                let mut waited = Duration::ZERO;
                let tick = Duration::from_millis(100);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited >= Duration::from_secs(1) {
                        eprint!(
                            "\r\x1b[2K{what}: {} files, {} read…",
                            counter.files.load(Ordering::Relaxed),
                            human_bytes(counter.bytes.load(Ordering::Relaxed))
                        );
                        shown = true;
                    }
                }
                if shown {
                    eprint!("\r\x1b[2K");
                }
            })
        });
        Progress { stop, handle }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// `512 B`, `3.4 MiB`, `1.2 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Untrusted text (a prompt, a session id, a fetched commit message) for
/// one line of terminal output: control characters are shown as escapes,
/// so the text cannot clear the screen, retitle the terminal, move the
/// cursor or add lines. `--json` output is never passed through this.
pub fn text(s: &str) -> Cow<'_, str> {
    savepoint::text::escape_controls(s)
}

/// A path for terminal output, quoted like git's `quote_path` when needed.
pub fn path(s: &str) -> Cow<'_, str> {
    savepoint::text::quote_path(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e: anyhow::Error = savepoint::Error::Io {
            action: "read",
            path: "x".into(),
            source: io,
        }
        .into();
        assert_eq!(super::message(&e), "read x: disk on fire");
        let e = e.context("snapshot");
        assert_eq!(super::message(&e), "snapshot: read x: disk on fire");
        let e = anyhow::anyhow!("outer").context("top");
        assert_eq!(super::message(&e), "top: outer");
    }

    #[test]
    fn byte_counts_read_like_people_write_them() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(9 << 20), "9.0 MiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }
}
