//! `git-savepoint`: lets `git savepoint …` run savepoint. It executes the
//! `savepoint` binary installed next to it (as `cargo install` does), else
//! the one on PATH, with the same arguments.
#![forbid(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("savepoint")))
        .filter(|p| p.is_file());
    let program = sibling.unwrap_or_else(|| "savepoint".into());
    let err = Command::new(&program)
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("error: cannot run {}: {err}", program.display());
    eprintln!("hint: install savepoint with `cargo install --path .` (it installs both binaries)");
    ExitCode::from(1)
}
