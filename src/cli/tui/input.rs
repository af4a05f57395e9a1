//! The timeline's input: crossterm's events, read on a thread of their
//! own, and whether the terminal is still there, asked of the terminal by
//! the event loop itself.
//!
//! Why not `event::poll` in the loop: crossterm's reader (0.29, its mio
//! source) leaves its read loop only when a read would block. Once the
//! terminal is gone — the tmux server killed, the SSH connection dropped —
//! every read of the tty returns end-of-file (or EIO) at once, and
//! `event::poll` never returns: a core spins, and the loop never gets to
//! see the SIGTERM or SIGHUP flag. Here the loop waits on a channel with a
//! timeout instead, so it always gets control back, and asks the tty with
//! `poll(2)` whether it hung up; a reader thread caught in crossterm at
//! that moment ends with the process.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use anyhow::Result;
use ratatui::crossterm::event::{self, Event};

/// What the next wait brought.
#[derive(Debug)]
pub enum Next {
    /// A key, mouse or resize event.
    Event(Event),
    /// Nothing within the wait.
    Idle,
    /// The terminal hung up (or its input was closed): nobody is there to
    /// read the screen or type a key.
    Gone,
}

/// The terminal's events, as they come.
pub struct Input {
    events: Receiver<std::io::Result<Event>>,
}

impl Input {
    /// Start reading the terminal's events.
    pub fn start() -> Result<Input> {
        let (send, events) = mpsc::channel();
        std::thread::Builder::new()
            .name("ui-input".into())
            .spawn(move || loop {
                let read = event::read();
                let failed = read.is_err();
                if send.send(read).is_err() || failed {
                    return;
                }
            })?;
        Ok(Input { events })
    }

    /// Wait at most `wait` for an event; [`Next::Gone`] as soon as the
    /// terminal is.
    pub fn next(&self, wait: Duration) -> Result<Next> {
        if terminal_gone() {
            return Ok(Next::Gone);
        }
        match self.events.recv_timeout(wait) {
            Ok(read) => classify(read),
            Err(RecvTimeoutError::Timeout) => Ok(Next::Idle),
            Err(RecvTimeoutError::Disconnected) => Ok(Next::Gone),
        }
    }

    /// An event already read (none: [`Next::Idle`]), without waiting.
    pub fn ready(&self) -> Result<Next> {
        match self.events.try_recv() {
            Ok(read) => classify(read),
            Err(TryRecvError::Empty) => Ok(Next::Idle),
            Err(TryRecvError::Disconnected) => Ok(Next::Gone),
        }
    }
}

/// A reader's error is the terminal going away if the terminal says so,
/// else an error.
fn classify(read: std::io::Result<Event>) -> Result<Next> {
    match read {
        Ok(e) => Ok(Next::Event(e)),
        Err(_) if terminal_gone() => Ok(Next::Gone),
        Err(e) => Err(anyhow::Error::from(e).context("read the terminal's input")),
    }
}

/// Has the terminal hung up? `poll(2)` on standard input (the tty
/// crossterm reads): a hung-up tty reports POLLHUP (reads give
/// end-of-file or EIO from then on), a closed descriptor POLLNVAL.
pub fn terminal_gone() -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let stdin = std::io::stdin();
    // No events asked for: HUP, ERR and NVAL are reported regardless.
    let mut fds = [PollFd::new(&stdin, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&now)) {
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL),
        Err(rustix::io::Errno::INTR) => false,
        Err(_) => true,
    }
}
