//! Text output formats. Each format is one [`Printer`]; adding a format touches one file
//! plus the [`Format`] list here.
//!
//! Printers run in the decoder workers: they append the text of one frame to a buffer,
//! and a single writer puts the buffers on stdout in capture order.
pub mod json;
pub mod line;
pub mod pcap;
pub mod turtle;

use crate::{decode::Decoded, packet::Frame};

/// Appends the text for one frame to a buffer.
pub trait Printer: Send {
    fn print(&mut self, frame: &Frame<'_>, decoded: &Decoded, out: &mut Vec<u8>);
}

/// The `-F` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The seed's turtle sniffer, byte for byte.
    Turtle,
    /// Turtle layout extended to VLAN, ARP, IPv6 and ICMPv6.
    TurtleExt,
    /// One tcpdump-like line per frame.
    Line,
    /// JSON Lines, one object per frame.
    Json,
    /// Decode and count only.
    None,
}

/// A fresh printer for `format`, or `None` for [`Format::None`].
pub fn printer(format: Format) -> Option<Box<dyn Printer>> {
    match format {
        Format::None => None,
        _ => None,
    }
}
