//! The one way savepoint runs the `git` command line.
//!
//! git itself defines some answers (clean/smudge filters, transports, the
//! reftable ref store, which work tree a `GIT_DIR` means), so a few
//! operations shell out. Every such call goes through [`GitCmd`], which pins
//! the repository explicitly (`GIT_DIR`, `GIT_WORK_TREE`), drops inherited
//! variables that would silently redirect git elsewhere (`GIT_INDEX_FILE`,
//! `GIT_OBJECT_DIRECTORY`, …), keeps git's own hooks from calling back into
//! savepoint (`SAVEPOINT_NO_HOOKS`), never lets git prompt, and turns a
//! failure into an [`Error::GitCli`] carrying git's own words.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// Environment variables that change which repository, index or object
/// store git uses. A builder removes them all and sets only what it means.
const REDIRECTING_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_QUARANTINE_PATH",
];

/// A `git` invocation under construction.
#[derive(Debug)]
pub struct GitCmd {
    cmd: Command,
    /// The arguments as the user would type them, for error messages.
    shown: Vec<OsString>,
}

impl GitCmd {
    /// git for the repository whose git dir is `git_dir` and whose work
    /// tree is `workdir` (run from the work tree's top).
    pub fn new(git_dir: &Path, workdir: &Path) -> GitCmd {
        let mut g = GitCmd::bare_env();
        g.cmd
            .current_dir(workdir)
            .env("GIT_DIR", git_dir)
            .env("GIT_WORK_TREE", workdir);
        g
    }

    /// git in `dir` with the caller's discovery environment left as it is
    /// (`GIT_DIR`, `GIT_WORK_TREE`, …): for asking git which repository
    /// the user means.
    pub fn discovering(dir: &Path) -> GitCmd {
        let mut g = GitCmd {
            cmd: Command::new("git"),
            shown: Vec::new(),
        };
        g.cmd
            .current_dir(dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("SAVEPOINT_NO_HOOKS", "1")
            .stdin(Stdio::null());
        g
    }

    fn bare_env() -> GitCmd {
        let mut cmd = Command::new("git");
        for var in REDIRECTING_ENV {
            cmd.env_remove(var);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("SAVEPOINT_NO_HOOKS", "1")
            .stdin(Stdio::null());
        GitCmd {
            cmd,
            shown: Vec::new(),
        }
    }

    /// Use `index` as the index file (a private copy: never the user's).
    pub fn index_file(mut self, index: &Path) -> GitCmd {
        self.cmd.env("GIT_INDEX_FILE", index);
        self
    }

    /// `-c key=value` before the subcommand.
    pub fn config(mut self, key: &str, value: &str) -> GitCmd {
        self.cmd.arg("-c").arg(format!("{key}={value}"));
        self
    }

    /// One argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> GitCmd {
        self.shown.push(a.as_ref().to_owned());
        self.cmd.arg(a);
        self
    }

    /// Several arguments.
    pub fn args<I, S>(mut self, args: I) -> GitCmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Set one environment variable for git.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> GitCmd {
        self.cmd.env(key, value);
        self
    }

    /// The arguments as one line, for messages.
    pub fn display(&self) -> String {
        crate::text::args_line(&self.shown)
    }

    /// Run to completion; any exit status is returned, not judged.
    pub fn output(mut self) -> Result<Output> {
        let shown = self.display();
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| spawn_error(&shown, e))
    }

    /// Run with `input` on stdin; any exit status is returned, not judged.
    pub fn output_with_input(mut self, input: &[u8]) -> Result<Output> {
        let shown = self.display();
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&shown, e))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Write from another thread: git may fill its stdout pipe before it
        // has read all of its input.
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let r = stdin.write_all(&input);
            drop(stdin);
            r
        });
        let out = child
            .wait_with_output()
            .map_err(|e| spawn_error(&shown, e))?;
        match writer.join() {
            Ok(Ok(())) => {}
            // git exiting early closes the pipe: its status says why.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Ok(Err(e)) => return Err(spawn_error(&shown, e)),
            Err(_) => {
                return Err(spawn_error(
                    &shown,
                    std::io::Error::other("writer panicked"),
                ))
            }
        }
        Ok(out)
    }

    /// Run; succeed only on exit 0, returning stdout bytes.
    pub fn run(self) -> Result<Vec<u8>> {
        let shown = self.display();
        let out = self.output()?;
        check(&shown, out)
    }

    /// [`GitCmd::run`] with `input` on stdin.
    pub fn run_with_input(self, input: &[u8]) -> Result<Vec<u8>> {
        let shown = self.display();
        let out = self.output_with_input(input)?;
        check(&shown, out)
    }

    /// [`GitCmd::run`], stdout as trimmed text.
    pub fn run_text(self) -> Result<String> {
        let out = self.run()?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// The underlying command, for the rare caller that must stream.
    pub fn into_command(self) -> Command {
        self.cmd
    }
}

fn check(shown: &str, out: Output) -> Result<Vec<u8>> {
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(Error::GitCli {
            args: shown.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn spawn_error(shown: &str, e: std::io::Error) -> Error {
    Error::GitCli {
        args: shown.to_owned(),
        stderr: format!("cannot run git: {e}"),
    }
}

/// A path git printed (relative to `base` unless absolute).
pub fn path_from_output(base: &Path, line: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(OsStr::from_bytes(line));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
