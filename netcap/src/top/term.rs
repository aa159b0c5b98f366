//! The terminal while `netcap top` owns it: raw mode, the alternate screen and a
//! hidden cursor, taken by [`Screen::enter`] and given back exactly once, whichever
//! way the program ends: [`Screen`]'s `Drop` on a return (`q`, Ctrl-C, a signal, an
//! error), and a panic hook for a panic, which runs before the unwinding drops the
//! capture, so the panic message lands on the restored screen rather than the
//! alternate one that is about to vanish.
use std::{
    io::{self, Stdout},
    sync::{
        atomic::{AtomicBool, Ordering},
        Once,
    },
};

use crossterm::{
    cursor::{Hide, Show},
    execute,
    terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen},
};
use ratatui::{backend::CrosstermBackend, Terminal};

/// True while the terminal is in the screen's state, so that the panic hook and
/// `Drop` restore it once between them (and the hook, which stays installed for the
/// life of the process, does nothing after a clean exit).
static ACTIVE: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// The terminal in full-screen mode; dropping it restores the terminal.
pub struct Screen {
    pub terminal: Term,
}

impl Screen {
    /// Takes the terminal. On failure whatever was already changed is undone.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = enable_raw_mode()
            .and_then(|()| execute!(io::stdout(), EnterAlternateScreen, Hide))
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(terminal) => Ok(Self { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor and ends raw mode, if the screen
/// holds the terminal. Errors are ignored: a closed terminal (SIGHUP) has nothing to
/// restore, and the capture must still be detached after it.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

/// Chains a hook in front of the current one that restores the terminal first.
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
