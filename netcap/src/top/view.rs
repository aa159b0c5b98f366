//! Drawing one `netcap top` screen with ratatui, from the numbers the loop keeps
//! ([`Status`]) and the rows of the [`Model`]; nothing here reads a clock or a source.
//!
//! ```text
//!  ┌ netcap top ───────────────────────────────────────────────┐
//!  │ backend and mode, the filter                               │  totals
//!  │ frames/s and bit/s in and out, live flows                  │
//!  │ seen, captured, filtered, lost by cause, interface drops   │
//!  └────────────────────────────────────────────────────────────┘
//!  ┌ frames/s, last 60 s ───────────────────────────────────────┐
//!  │ ▁▂▃▅▇█                                                     │  sparkline
//!  └────────────────────────────────────────────────────────────┘
//!  ┌ flows (or hosts), sorted by ... ───────────────────────────┐
//!  │ PROTO A B PKTS BYTES A>B B>A STATE                         │  as many rows
//!  └────────────────────────────────────────────────────────────┘  as fit
//!   keys, or the filter being typed
//! ```
use ratatui::{
    layout::{Alignment, Constraint, Layout},
    style::{Modifier, Style, Stylize},
    text::Line,
    widgets::{Block, Cell, Paragraph, Row, Sparkline, Table},
    Frame,
};

use super::keys::Ui;
use super::model::{endpoint, Model, SortBy, View};
use crate::{capture::CaptureCounters, flow::proto_name};

/// Frames and bits per second over the last second, by direction. Frames whose
/// direction the source does not know count as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bits_in: u64,
    pub bits_out: u64,
}

/// The loop's numbers for one screen.
pub struct Status<'a> {
    /// What `capture::open` opened: backend, mode, interface.
    pub description: &'a str,
    pub expr: Option<&'a str>,
    pub rates: Rates,
    /// The source's counters since the start.
    pub counters: CaptureCounters,
    /// What the interface itself dropped since the start, when it counts drops. (No
    /// queue-full losses: top decodes on the thread that reads, with no queue between.)
    pub if_dropped: Option<u64>,
    pub live_flows: u64,
    /// Frames per second, oldest first.
    pub history: &'a [u64],
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, s: &Status<'_>, model: &Model, ui: &Ui) {
    let [head, spark, table, foot] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(totals(s, ui), head);
    let peak = s.history.iter().copied().max().unwrap_or(0);
    let spark_title = format!(" frames/s, last {} s (peak {}) ", s.history.len(), si(peak));
    f.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(spark_title))
            .data(s.history)
            .cyan(),
        spark,
    );
    // Borders and the header row take three lines.
    let fit = usize::from(table.height.saturating_sub(3));
    f.render_widget(rows(model, fit), table);
    f.render_widget(footer(model, ui), foot);
}

fn totals<'a>(s: &Status<'a>, ui: &Ui) -> Paragraph<'a> {
    let r = s.rates;
    let k = s.counters;
    let mut first = vec![s.description.to_owned().into()];
    first.push(format!("   filter: {}", s.expr.unwrap_or("none")).into());
    if ui.paused {
        first.push("   PAUSED".bold().reversed());
    }
    let lines = vec![
        Line::from(first),
        Line::from(format!(
            "frames/s {} (in {}, out {})   in {}bit/s   out {}bit/s   live flows {}",
            si(r.frames_in + r.frames_out),
            si(r.frames_in),
            si(r.frames_out),
            si(r.bits_in),
            si(r.bits_out),
            s.live_flows,
        )),
        Line::from(losses(&k, s.if_dropped)),
    ];
    Paragraph::new(lines).block(Block::bordered().title(" netcap top ".bold()))
}

/// The counts line: every loss by cause, in the words of the summary and the live
/// line, the interface's drops when it counts them, and the filter's errors when
/// there are any (they are rare, and the line has to fit 100 columns).
fn losses(k: &CaptureCounters, if_dropped: Option<u64>) -> String {
    let mut line = format!(
        "seen {}  captured {}  filtered {}  lost {} (ring full {}, copy failed {})",
        k.seen,
        k.captured,
        k.filtered,
        k.lost_total(),
        k.lost_ring_full,
        k.lost_copy,
    );
    if let Some(n) = if_dropped {
        line.push_str(&format!("  dropped by interface {n}"));
    }
    if k.filter_error > 0 {
        line.push_str(&format!("  filter errors {}", k.filter_error));
    }
    line
}

/// The flows or hosts table, `fit` rows at most.
fn rows(model: &Model, fit: usize) -> Table<'static> {
    let by = model.sort;
    let mark = |name: &str, col: SortBy| {
        let text = if col == by {
            format!("{name}▼")
        } else {
            name.to_owned()
        };
        Cell::from(text)
    };
    let num = |v: String| Cell::from(Line::from(v).alignment(Alignment::Right));
    let (header, body, widths): (Vec<Cell>, Vec<Row>, Vec<Constraint>) = match model.view {
        View::Flows => {
            let header = vec![
                Cell::from("PROTO"),
                mark("A", SortBy::Address),
                Cell::from("B"),
                mark("PKTS", SortBy::Packets),
                mark("BYTES", SortBy::Bytes),
                mark("A>B bit/s", SortBy::Rate),
                mark("B>A bit/s", SortBy::Rate),
                Cell::from("STATE"),
            ];
            let body = model
                .top_flows(fit)
                .into_iter()
                .map(|r| {
                    let proto =
                        proto_name(r.proto).map_or_else(|| r.proto.to_string(), String::from);
                    Row::new(vec![
                        Cell::from(proto),
                        Cell::from(endpoint(r.a.0, r.a.1)),
                        Cell::from(endpoint(r.b.0, r.b.1)),
                        num(r.packets.to_string()),
                        num(bytes(r.bytes)),
                        num(si(r.rate_ab)),
                        num(si(r.rate_ba)),
                        Cell::from(r.state.map_or("", |s| s.as_str())),
                    ])
                })
                .collect();
            let widths = vec![
                Constraint::Length(6),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(7),
            ];
            (header, body, widths)
        }
        View::Hosts => {
            let header = vec![
                mark("HOST", SortBy::Address),
                Cell::from(Line::from("FLOWS").alignment(Alignment::Right)),
                mark("PKTS", SortBy::Packets),
                mark("BYTES", SortBy::Bytes),
                mark("OUT bit/s", SortBy::Rate),
                mark("IN bit/s", SortBy::Rate),
            ];
            let body = model
                .top_hosts(fit)
                .into_iter()
                .map(|h| {
                    Row::new(vec![
                        Cell::from(h.addr.to_string()),
                        num(h.flows.to_string()),
                        num(h.packets.to_string()),
                        num(bytes(h.bytes)),
                        num(si(h.rate_out)),
                        num(si(h.rate_in)),
                    ])
                })
                .collect();
            let widths = vec![
                Constraint::Fill(1),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(11),
                Constraint::Length(11),
            ];
            (header, body, widths)
        }
    };
    let (matched, total) = model.counts();
    let what = match model.view {
        View::Flows => "flows",
        View::Hosts => "hosts",
    };
    let title = format!(" {what} by {}: {matched} of {total} ", model.sort.as_str());
    Table::new(body, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title))
}

fn footer(model: &Model, ui: &Ui) -> Paragraph<'static> {
    if ui.editing {
        return Paragraph::new(format!(
            "filter: {}_   (Enter keeps it, Esc clears it)",
            model.filter()
        ))
        .reversed();
    }
    let filter = match model.filter() {
        "" => String::new(),
        f => format!("   filter \"{f}\" (Esc clears)"),
    };
    Paragraph::new(format!(
        "q quit  s sort ({})  1-4 rate/bytes/packets/address  p pause  / filter  h {}{filter}",
        model.sort.as_str(),
        match model.view {
            View::Flows => "hosts",
            View::Hosts => "flows",
        },
    ))
}

/// `v` with an SI prefix (k, M, G, T) and three significant digits or so.
pub fn si(v: u64) -> String {
    const PREFIXES: [(u64, &str); 4] = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    for (scale, p) in PREFIXES {
        if v >= scale {
            return format!("{:.1}{p}", v as f64 / scale as f64);
        }
    }
    v.to_string()
}

/// Bytes, in binary units past 1 KiB.
pub fn bytes(v: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (scale, u) in UNITS {
        if v >= scale {
            return format!("{:.1} {u}", v as f64 / scale as f64);
        }
    }
    format!("{v} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(si(0), "0");
        assert_eq!(si(999), "999");
        assert_eq!(si(1_500), "1.5k");
        assert_eq!(si(12_340_000), "12.3M");
        assert_eq!(si(u64::MAX), "18446744.1T");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn the_counts_line_has_every_loss_the_interface_s_too() {
        let k = CaptureCounters {
            seen: 100,
            captured: 90,
            lost_ring_full: 7,
            lost_copy: 3,
            ..CaptureCounters::default()
        };
        assert_eq!(
            losses(&k, Some(12)),
            "seen 100  captured 90  filtered 0  lost 10 (ring full 7, copy failed 3)  \
             dropped by interface 12"
        );
        assert!(!losses(&k, None).contains("interface"));
        let k = CaptureCounters {
            filter_error: 2,
            ..k
        };
        assert!(losses(&k, None).ends_with("copy failed 3)  filter errors 2"));
    }
}
