//! The terminal while the timeline runs: raw mode, the alternate screen,
//! mouse reporting and a hidden cursor — and every one of them undone on
//! the way out, whichever way that is: `q` ([`Terminal::leave`]), an error
//! or an early return (`Drop`), a panic (a hook that restores the terminal
//! before the panic message is printed), SIGTERM or SIGHUP (a flag the
//! event loop checks, so the way out is the ordinary one), the terminal
//! hanging up ([`super::input`]; what can still be undone is).

use std::io::{stdout, BufWriter, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

use anyhow::Result;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};

/// Is the terminal taken over (and not given back yet)? One flag for the
/// panic hook, `Drop` and [`Terminal::leave`]: restoring twice would leave
/// the alternate screen twice, and the second time the terminal moves the
/// cursor back over what was printed in between (a panic's message).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Room for a whole frame (even a large screen with a colour change in
/// every cell), so a frame reaches the terminal in one write.
const FRAME_BUFFER: usize = 1 << 20;

/// The timeline's terminal; restored when dropped.
pub struct Terminal {
    /// Buffered: stdout itself writes whatever it holds every 1 KiB, so a
    /// frame would reach the terminal in pieces, and a terminal (or an SSH
    /// connection, or `tmux capture-pane`) would show half-drawn screens.
    inner: ratatui::Terminal<CrosstermBackend<BufWriter<Stdout>>>,
}

impl Terminal {
    /// Take over the terminal.
    pub fn enter() -> Result<Terminal> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                let out = BufWriter::with_capacity(FRAME_BUFFER, stdout());
                Ok(ratatui::Terminal::new(CrosstermBackend::new(out))?)
            });
        let mut inner = match entered {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        let _ = inner.hide_cursor();
        let _ = inner.clear();
        Ok(Terminal { inner })
    }

    pub fn size(&self) -> Result<ratatui::layout::Size> {
        Ok(self.inner.size()?)
    }

    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame<'_>)) -> Result<()> {
        self.inner.draw(f)?;
        Ok(())
    }

    /// Give the terminal back as it was.
    pub fn leave(&mut self) {
        restore();
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Undo everything [`Terminal::enter`] did, once (each step on its own:
/// one that fails does not keep the others from running).
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = stdout();
    let _ = execute!(out, DisableMouseCapture);
    let _ = execute!(out, LeaveAlternateScreen);
    let _ = execute!(out, ratatui::crossterm::cursor::Show);
    let _ = disable_raw_mode();
}

/// A panic restores the terminal first, so its message is readable and
/// the shell usable.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// SIGTERM, SIGHUP (the terminal or SSH connection went away) and SIGINT
/// set the returned flag instead of killing the process: the event loop
/// sees it within 100 ms and leaves the ordinary way, restoring the
/// terminal. A second one of them, with the flag already set, has the
/// signal's default effect: the process ends whatever it is doing.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGHUP, SIGINT] {
        // Registered first, so it runs before the flag is set.
        flag::register_conditional_default(signal, Arc::clone(&stop))?;
        flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}
