//! `savepoint ui`: the interactive timeline (ratatui over crossterm).
//!
//! The shape is ratatui's own: an [`app::App`] state struct, events turned
//! into state changes by [`app::App::handle`], what the state needs read by
//! [`app::App::sync`], and a pure [`render::render`] of the state — so the
//! behaviour is tested on a `TestBackend` screen without a terminal, and
//! the real thing in tmux. [`terminal`] owns the terminal: raw mode, the
//! alternate screen and mouse reporting on the way in, all of it undone on
//! the way out — `q`, an error, a panic, SIGTERM or SIGHUP alike.
//!
//! Nothing is read up front beyond the first page of the chain and the
//! selected snapshot's changed files: rows are read page by page as the
//! list scrolls ([`timeline`]), only the selected snapshot is diffed
//! ([`detail`]), and the chain tips are compared twice a second to put new
//! snapshots on top.

pub mod app;
pub mod detail;
pub mod filter;
pub mod keys;
pub mod render;
pub mod terminal;
pub mod timeline;

#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::crossterm::event;
use savepoint::workspace::Workspace;

/// How often the chain tips are looked at.
const TICK: Duration = Duration::from_millis(500);
/// Longest wait for input: a SIGTERM is noticed within this.
const WAIT: Duration = Duration::from_millis(100);

/// Run the timeline until `q` (or a signal); the terminal is restored in
/// every case.
pub fn run(ws: Workspace, all: bool, color: bool) -> Result<()> {
    let mut app = app::App::open(ws, all, color)?;
    let stop = terminal::stop_on_signals()?;
    let mut term = terminal::Terminal::enter()?;
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
            if event::poll(wait)? {
                // Everything already typed before the next (costly) sync.
                app.handle(event::read()?);
                while !app.quit && event::poll(Duration::ZERO)? {
                    app.handle(event::read()?);
                }
            }
            if last_tick.elapsed() >= TICK {
                app.tick();
                last_tick = Instant::now();
            }
        }
    })();
    term.leave();
    result
}
