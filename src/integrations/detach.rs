//! Starting a process that must outlive the client that started its
//! parent — the hook's worker. Clients end a hook by signalling its process
//! group, and some its whole process tree, a few milliseconds after they
//! started it. The child gets a process group of its own and starts with
//! SIGTERM, SIGHUP and SIGINT *ignored*: set between `fork` and `exec`
//! (an ignored signal stays ignored across `exec`; a handler would not),
//! so there is no moment in which one of them could end it. std's
//! `Command` cannot ask for that, hence the crate's second and last piece
//! of `unsafe` (the first is [`crate::git::libgit2_init`]): one `sigaction`
//! call per signal in the child, which is async-signal-safe.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// The signals a client's "stop" sends.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT];

/// Spawn `cmd` in a process group of its own with the stop signals ignored.
pub fn spawn_immune(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before `exec` and only
    // calls `sigaction`, which is async-signal-safe; it touches no memory
    // of the parent but a zeroed, stack-local `sigaction` value.
    unsafe {
        cmd.pre_exec(|| {
            for sig in STOP_SIGNALS {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_IGN;
                if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_child_starts_with_the_stop_signals_ignored() {
        // A non-interactive shell cannot undo a signal ignored when it
        // started (POSIX), so it outlives sending itself TERM, HUP and INT
        // only if they were ignored from the start. (Portable: no /proc.)
        let out = super::spawn_immune(
            std::process::Command::new("sh")
                .args([
                    "-c",
                    "kill -TERM $$; kill -HUP $$; kill -INT $$; echo alive",
                ])
                .stdout(std::process::Stdio::piped()),
        )
        .unwrap()
        .wait_with_output()
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "alive\n",
            "the shell died: {:?}",
            out.status
        );
    }
}
