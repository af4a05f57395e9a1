//! `savepoint ui`: the interactive timeline (ratatui over crossterm).
//!
//! The shape is ratatui's own: an [`app::App`] state struct, events turned
//! into state changes by [`app::App::handle`], what the state needs read by
//! [`app::App::sync`], and a pure [`render::render`] of the state — so the
//! behaviour is tested on a `TestBackend` screen without a terminal, and
//! the real thing in tmux. [`terminal`] owns the terminal: raw mode, the
//! alternate screen and mouse reporting on the way in, all of it undone on
//! the way out — `q`, an error, a panic, SIGTERM or SIGHUP alike; the
//! loop never waits inside crossterm's reader, so a terminal that hangs up
//! ([`input`]) or a signal ends it within 100 ms.
//!
//! Nothing is read up front beyond the first page of the chain and the
//! selected snapshot's changed files: rows are read page by page as the
//! list scrolls ([`timeline`]), only the selected snapshot is diffed
//! ([`detail`]), and the chain tips are compared twice a second to put new
//! snapshots on top.

pub mod app;
pub mod detail;
pub mod filter;
pub mod input;
pub mod keys;
pub mod render;
pub mod terminal;
pub mod timeline;

#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use savepoint::workspace::Workspace;

use input::Next;

/// How often the chain tips are looked at.
const TICK: Duration = Duration::from_millis(500);
/// Longest wait for input: a SIGTERM, a SIGHUP or a terminal that hung up
/// is noticed within this.
const WAIT: Duration = Duration::from_millis(100);

/// Run the timeline until `q`, a signal or the terminal going away; the
/// terminal is restored in every case (as far as it is still there).
pub fn run(ws: Workspace, all: bool, color: bool) -> Result<()> {
    let mut app = app::App::open(ws, all, color)?;
    let stop = terminal::stop_on_signals()?;
    let mut term = terminal::Terminal::enter()?;
    let input = input::Input::start()?;
    let size = term.size()?;
    app.resize(size.width, size.height);
    let mut last_tick = Instant::now();
    let result = (|| -> Result<()> {
        loop {
            app.sync();
            term.draw(|f| render::render(&app, f))?;
            #[cfg(debug_assertions)]
            if std::env::var_os("SAVEPOINT_UI_TEST_PANIC").is_some() {
                // The tests' way to check the panic hook restores the terminal.
                panic!("SAVEPOINT_UI_TEST_PANIC is set");
            }
            if app.quit || stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let wait = if app.busy {
                Duration::ZERO
            } else {
                TICK.saturating_sub(last_tick.elapsed()).min(WAIT)
            };
            let mut next = input.next(wait)?;
            // Everything already typed before the next (costly) sync.
            while let Next::Event(e) = next {
                app.handle(e);
                next = if app.quit { Next::Idle } else { input.ready()? };
            }
            if let Next::Gone = next {
                return Ok(());
            }
            if last_tick.elapsed() >= TICK {
                app.tick();
                last_tick = Instant::now();
            }
        }
    })();
    term.leave();
    match result {
        // Drawing on a terminal that hung up fails; nobody is there to be
        // told, and going away was the right answer.
        Err(_) if input::terminal_gone() => Ok(()),
        r => r,
    }
}
