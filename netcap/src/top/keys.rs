//! What each key does in `netcap top`, apart from the terminal: a key event in, the
//! model and the screen's state changed, and whether to redraw or quit out.
//!
//! | key | does |
//! | --- | --- |
//! | `q`, Ctrl-C | quit (in raw mode Ctrl-C is a key, not SIGINT) |
//! | `s` | the next sort column; `1`..`4` pick one ([`SortBy::ALL`]) |
//! | `p` | pause: the screen keeps its numbers (capture and counting go on) |
//! | `/` | type a filter (applied as it is typed); Enter keeps it, Esc clears it |
//! | `h` | hosts view / flows view |
//! | Esc | clears the filter |
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::model::{Model, SortBy, View};

/// The screen's own state, beside the model's choices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ui {
    pub paused: bool,
    /// The filter is being typed (`/`): keys go into it.
    pub editing: bool,
}

/// What a key asks of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing changed.
    Same,
    /// Draw again now.
    Redraw,
    Quit,
}

/// Applies `key` to the screen state and the model.
pub fn apply(key: KeyEvent, ui: &mut Ui, model: &mut Model) -> Outcome {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c' | 'C')) {
        return Outcome::Quit;
    }
    if ui.editing {
        let mut text = model.filter().to_owned();
        match key.code {
            KeyCode::Enter => ui.editing = false,
            KeyCode::Esc => {
                ui.editing = false;
                text.clear();
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if !ctrl => text.push(c),
            _ => return Outcome::Same,
        }
        model.set_filter(&text);
        return Outcome::Redraw;
    }
    match key.code {
        KeyCode::Char('q' | 'Q') => return Outcome::Quit,
        KeyCode::Char('s') => model.sort = model.sort.next(),
        KeyCode::Char(c @ '1'..='9') => match SortBy::from_digit(c) {
            Some(s) => model.sort = s,
            None => return Outcome::Same,
        },
        KeyCode::Char('p') => ui.paused = !ui.paused,
        KeyCode::Char('/') => ui.editing = true,
        KeyCode::Char('h') => {
            model.view = match model.view {
                View::Flows => View::Hosts,
                View::Hosts => View::Flows,
            }
        }
        KeyCode::Esc => model.set_filter(""),
        _ => return Outcome::Same,
    }
    Outcome::Redraw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(ui: &mut Ui, m: &mut Model, keys: &str) {
        for c in keys.chars() {
            apply(key(KeyCode::Char(c)), ui, m);
        }
    }

    #[test]
    fn quit_on_q_and_on_ctrl_c_even_while_typing_a_filter() {
        let (mut ui, mut m) = (Ui::default(), Model::default());
        assert_eq!(
            apply(key(KeyCode::Char('q')), &mut ui, &mut m),
            Outcome::Quit
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(apply(ctrl_c, &mut ui, &mut m), Outcome::Quit);
        ui.editing = true;
        assert_eq!(apply(ctrl_c, &mut ui, &mut m), Outcome::Quit);
        // While typing, q is part of the filter.
        assert_eq!(
            apply(key(KeyCode::Char('q')), &mut ui, &mut m),
            Outcome::Redraw
        );
        assert_eq!(m.filter(), "q");
    }

    #[test]
    fn sort_pause_and_view_keys() {
        let (mut ui, mut m) = (Ui::default(), Model::default());
        typed(&mut ui, &mut m, "s");
        assert_eq!(m.sort, SortBy::Bytes);
        typed(&mut ui, &mut m, "3");
        assert_eq!(m.sort, SortBy::Packets);
        assert_eq!(
            apply(key(KeyCode::Char('9')), &mut ui, &mut m),
            Outcome::Same
        );
        assert_eq!(m.sort, SortBy::Packets);
        typed(&mut ui, &mut m, "p");
        assert!(ui.paused);
        typed(&mut ui, &mut m, "hp");
        assert_eq!((m.view, ui.paused), (View::Hosts, false));
        typed(&mut ui, &mut m, "h");
        assert_eq!(m.view, View::Flows);
        assert_eq!(
            apply(key(KeyCode::Char('x')), &mut ui, &mut m),
            Outcome::Same
        );
    }

    #[test]
    fn slash_types_a_filter_enter_keeps_it_esc_clears_it() {
        let (mut ui, mut m) = (Ui::default(), Model::default());
        typed(&mut ui, &mut m, "/udp 5x");
        assert!(ui.editing);
        apply(key(KeyCode::Backspace), &mut ui, &mut m);
        assert_eq!(m.filter(), "udp 5");
        apply(key(KeyCode::Enter), &mut ui, &mut m);
        assert!(!ui.editing);
        assert_eq!(m.filter(), "udp 5");
        // Keys act again once the filter is kept.
        typed(&mut ui, &mut m, "s");
        assert_eq!(m.sort, SortBy::Bytes);
        typed(&mut ui, &mut m, "/x");
        apply(key(KeyCode::Esc), &mut ui, &mut m);
        assert_eq!((ui.editing, m.filter()), (false, ""));
        // Esc outside the prompt clears a kept filter too.
        typed(&mut ui, &mut m, "/tcp");
        apply(key(KeyCode::Enter), &mut ui, &mut m);
        apply(key(KeyCode::Esc), &mut ui, &mut m);
        assert_eq!(m.filter(), "");
    }
}
