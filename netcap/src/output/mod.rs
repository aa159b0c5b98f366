//! Output: text formats, and the destinations of captured frames (`-w`).
//!
//! Each text format is one [`Printer`]; adding a format touches one file plus the
//! [`Format`] list here. Printers run in the decoder workers: they append the text of
//! one frame to a buffer, and a single writer puts the buffers on stdout in capture
//! order.
//!
//! Each destination of captured frames is one [`FrameSink`] (pcap and pcapng, in
//! [`pcap`]); the pipeline's writer and the direct path hold one without knowing which.
//!
//! The helpers at the bottom of this file write numbers and addresses straight into the
//! output buffer from lookup tables: the formats aim at about 1 GB/s of text per core,
//! which rules out `format!` (and `write!`'s formatting machinery) per field.
pub mod fields;
pub mod ipfix;
pub mod json;
pub mod line;
pub mod number;
pub mod pcap;
pub mod rotate;
pub mod turtle;
pub mod turtle_ext;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

pub use line::Deferred;

use crate::{
    decode::Decoded,
    packet::{Frame, InterfaceNames, Interfaces, LinkType},
};

/// Appends the text for one frame to a buffer.
pub trait Printer: Send {
    fn print(&mut self, frame: &Frame<'_>, decoded: &Decoded, out: &mut Vec<u8>);

    /// Takes what `print` left for the writer since the last call: text that depends
    /// on the frames before it in capture order, which a worker does not see (the
    /// `line` format's relative TCP sequence numbers). Empty for the formats whose
    /// text is final.
    fn take_deferred(&mut self) -> Deferred {
        Deferred::default()
    }

    /// Called by the writer on its own printer, in capture order, for the outputs
    /// whose `deferred` is not empty: appends the text of `frames` of one worker's
    /// batch to `out`, with what was deferred finished, and where each frame's text now
    /// ends in `out` to `out_ends`.
    fn resolve(
        &mut self,
        batch: BatchText<'_>,
        frames: Range<usize>,
        _deferred: &Deferred,
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
    ) {
        for i in frames {
            let start = i.checked_sub(1).and_then(|j| batch.ends.get(j)).copied();
            let end = batch.ends.get(i).copied();
            let text = match (start, end) {
                (s, Some(e)) => batch.text.get(s.unwrap_or(0) as usize..e as usize),
                _ => None,
            };
            out.extend_from_slice(text.unwrap_or(&[]));
            out_ends.push(u32::try_from(out.len()).unwrap_or(u32::MAX));
        }
    }

    /// Appends the text that goes before the first frame, for a format that needs a
    /// header. The writer calls it once per run, on a printer of its own (not a
    /// worker's), and writes it before any frame's text. None of the current formats
    /// has one.
    fn begin(&mut self, _out: &mut Vec<u8>) {}

    /// Appends the text that goes after the last frame, for a format that needs a
    /// trailer. The writer calls it once per run, after every frame's text and before
    /// its final flush. None of the current formats has one.
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// The text one worker printed for a batch, and where each frame's text ends in it.
#[derive(Clone, Copy, Debug)]
pub struct BatchText<'a> {
    pub text: &'a [u8],
    pub ends: &'a [u32],
}

/// A destination for captured frames (the `-w` file): pcap and pcapng now, file
/// rotation later. Frames arrive in capture order; an error from `write` or `flush`
/// means the destination is gone (e.g. a closed pipe) and ends the run.
pub trait FrameSink: Send {
    /// Writes one frame (into a buffer: it reaches the destination on `flush`).
    fn write(&mut self, frame: &Frame<'_>) -> std::io::Result<()>;

    /// Puts everything written so far on the destination.
    fn flush(&mut self) -> std::io::Result<()>;

    /// Called at least every [`FLUSH_POLL`](crate::pipeline::FLUSH_POLL) while the run
    /// goes, frames or not: for work on the clock (`-G` rotation).
    fn poll(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// Frames not written because their link type differs from the file's.
    fn skipped(&self) -> u64;

    /// The source's link type, when it has one: the file header takes it when a flush
    /// comes before the first frame (`-l`, or a run that captured nothing), so the file
    /// is valid and empty, as tcpdump writes it.
    fn set_link_hint(&mut self, link: Option<LinkType>);

    /// The interface the frames come from and the filter they passed, for the files'
    /// metadata (pcapng `if_name`, `if_filter`); live captures only.
    fn set_interface(&mut self, _iface: &Interface) {}

    /// The source's interfaces, by [`FrameMeta::iface`](crate::packet::FrameMeta):
    /// `netcap read` of a pcapng file with several. A pcapng file then gets one
    /// interface block per source interface, named as in the source (the table grows
    /// as the source is read, before its frames arrive here).
    fn set_interfaces(&mut self, _names: &Interfaces) {}

    /// Where the capture's counts are published while it runs, for the statistics a
    /// file ends with (pcapng's interface statistics block).
    fn set_stats(&mut self, _stats: &FileStats) {}

    /// Ends the output: what the format puts last (pcapng statistics), then a flush.
    fn close(&mut self) -> std::io::Result<()> {
        self.flush()
    }

    /// The records this sink would write, when each frame becomes one record of its own
    /// and nothing else (classic pcap, no rotation, the link type known), so that the
    /// decoder workers can build them ([`pcap::RecordFormat::push`]) and the writer hand
    /// whole stretches to [`FrameSink::write_records`]. `None` otherwise.
    fn record_format(&self) -> Option<pcap::RecordFormat> {
        None
    }

    /// Writes `records`, built as [`FrameSink::record_format`] said; `skipped` frames of
    /// another link type were left out of them.
    fn write_records(&mut self, _records: &[u8], _skipped: u64) -> std::io::Result<()> {
        Err(std::io::Error::other(
            "this -w output takes no prebuilt records",
        ))
    }

    /// For the direct path's zero-copy rounds: the destination itself, past the sink's
    /// buffer (emptied onto it first, so what is written there comes after everything
    /// written so far), to take records built as [`FrameSink::record_format`] says.
    /// `None` when the sink has none; then frames go through [`FrameSink::write`].
    fn through(&mut self) -> Option<std::io::Result<&mut dyn std::io::Write>> {
        None
    }

    /// As [`FrameSink::write_records`], the records in pieces, in order (one `writev`
    /// where the sink can: the writer holds them in the workers' buffers).
    fn write_records_vectored(
        &mut self,
        records: &[std::io::IoSlice<'_>],
        skipped: u64,
    ) -> std::io::Result<()> {
        let mut skipped = Some(skipped);
        for piece in records {
            self.write_records(piece, skipped.take().unwrap_or(0))?;
        }
        match skipped {
            Some(n) if n > 0 => self.write_records(&[], n),
            _ => Ok(()),
        }
    }
}

/// Writes all of `slices` to `out`, as few `write_vectored` calls as it takes; returns
/// the bytes taken and the error that stopped it, if any.
pub(crate) fn write_all_vectored(
    out: &mut dyn std::io::Write,
    mut slices: &mut [std::io::IoSlice<'_>],
) -> (usize, std::io::Result<()>) {
    std::io::IoSlice::advance_slices(&mut slices, 0);
    let mut taken = 0;
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return (taken, Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                taken += n;
                std::io::IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (taken, Err(e)),
        }
    }
    (taken, Ok(()))
}

/// The counts of a live capture so far, as a pcapng interface statistics block holds
/// them; the run publishes them (every second, and once more when the hooks are
/// detached), and each file closed takes the latest. `None` until first published.
#[derive(Clone, Debug, Default)]
pub struct FileStats(std::sync::Arc<std::sync::Mutex<Option<Counts>>>);

/// See [`FileStats`]; every count is since the capture began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub start_ns: u64,
    /// Frames the hooks saw (isb_ifrecv).
    pub seen: u64,
    /// Frames the filter took (isb_filteraccept).
    pub accepted: u64,
    /// Frames netcap lost: kernel ring, copy, user-space queue (isb_ifdrop).
    pub lost: u64,
    /// Frames the interface itself dropped (isb_osdrop), when it counts them.
    pub if_dropped: Option<u64>,
    /// Frames delivered to netcap (isb_usrdeliv).
    pub delivered: u64,
}

impl FileStats {
    pub fn publish(&self, counts: Counts) {
        if let Ok(mut c) = self.0.lock() {
            *c = Some(counts);
        }
    }

    pub fn latest(&self) -> Option<Counts> {
        self.0.lock().ok().and_then(|c| *c)
    }
}

/// What a capture file says about the interface its frames came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// The filter expression, as the user wrote it.
    pub filter: Option<String>,
}

/// Creates (or truncates) a `-w` file with the process umask. Never through a symbolic
/// link: one planted in a world-writable directory (`/tmp`) would make root write
/// wherever it points.
pub fn create_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::new(e.kind(), "it is a symbolic link, which -w does not follow")
            } else {
                e
            }
        })
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
    /// Chosen fields (`-e NAME`, Wireshark's names), tab-separated, one line per
    /// frame, as `tshark -T fields`.
    Fields,
    /// Print nothing. A live capture then only counts (and writes -w) without
    /// decoding, unless flow statistics are asked for; files are still decoded.
    None,
}

/// A fresh printer for `format`, or `None` for [`Format::None`]; `interfaces` are the
/// run's, for the formats that name them.
pub fn printer(format: Format, interfaces: &Interfaces) -> Option<Box<dyn Printer>> {
    printer_with(format, interfaces, &Options::default())
}

/// What shapes the text formats, besides the format itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// tcpdump's printing flags, for `line`.
    pub line: line::Options,
    /// `--json-payload`, for `json`.
    pub json_payload: json::Payload,
    /// `-e NAME ...`, for `fields`.
    pub fields: Vec<fields::Field>,
}

/// [`printer`], with the options of the text formats.
pub fn printer_with(
    format: Format,
    interfaces: &Interfaces,
    options: &Options,
) -> Option<Box<dyn Printer>> {
    let names = InterfaceNames::new(interfaces.clone());
    match format {
        Format::Turtle => Some(Box::new(turtle::Turtle)),
        Format::TurtleExt => Some(Box::new(turtle_ext::TurtleExt)),
        Format::Line => Some(Box::new(line::Line::new(names, options.line))),
        Format::Json => Some(Box::new(json::Json::new(names, options.json_payload))),
        Format::Fields => Some(Box::new(fields::Fields::new(
            options.fields.as_slice().into(),
        ))),
        Format::None => None,
    }
}

/// `\xNN` (lower-case hex) for every byte value.
pub(crate) static HEX_ESCAPE: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [b'\\', b'x', HEX_LOWER[i >> 4], HEX_LOWER[i & 15]];
        i += 1;
    }
    t
};

pub(crate) const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
pub(crate) const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Decimal text of 0..=255 (up to 3 digits, length in the last byte).
static DEC_U8: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (h, te, o) = ((i / 100) as u8, ((i / 10) % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            [b'0' + h, b'0' + te, b'0' + o, 3]
        } else if i >= 10 {
            [b'0' + te, b'0' + o, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        i += 1;
    }
    t
};

/// Two-digit pairs "00".."99", for integer printing.
static DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `n` in decimal.
///
/// Short variable-length copies compile to a `memmove` call; the number is built in a
/// fixed-size buffer, copied whole (a couple of stores) and the tail cut off instead.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let len = out.len();
    if n < 256 {
        let d = &DEC_U8[n as usize];
        out.extend_from_slice(&d[..3]);
        out.truncate(len + d[3] as usize);
        return;
    }
    let digits = n.ilog10() as usize + 1;
    let mut buf = [0u8; 20];
    let (mut i, mut n) = (digits, n);
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        buf[..2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        buf[0] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf);
    out.truncate(len + digits);
}

/// Appends `n` in decimal, zero-padded to `width` digits (`width` <= 20).
pub(crate) fn push_u64_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let w = width.min(20).max(digits);
    let mut buf = [b'0'; 20];
    let mut i = w;
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let len = out.len();
    out.extend_from_slice(&buf);
    out.truncate(len + w);
}

/// Appends a MAC address as `AA:BB:CC:DD:EE:FF` (`upper`) or `aa:bb:...`.
#[inline]
pub(crate) fn push_mac(out: &mut Vec<u8>, mac: &[u8], upper: bool) {
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    if let Ok(m) = <&[u8; 6]>::try_from(mac) {
        let mut buf = [b':'; 17];
        for (i, &b) in m.iter().enumerate() {
            buf[3 * i] = digits[(b >> 4) as usize];
            buf[3 * i + 1] = digits[(b & 15) as usize];
        }
        return out.extend_from_slice(&buf);
    }
    for (i, &b) in mac.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(&[digits[(b >> 4) as usize], digits[(b & 15) as usize]]);
    }
}

/// Appends a dotted quad (built in a fixed buffer, see [`push_u64`]).
#[inline]
pub(crate) fn push_ipv4(out: &mut Vec<u8>, addr: Ipv4Addr) {
    let mut buf = [0u8; 16];
    let mut o = 0;
    for (i, b) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            buf[o] = b'.';
            o += 1;
        }
        let d = &DEC_U8[b as usize];
        buf[o..o + 3].copy_from_slice(&d[..3]);
        o += d[3] as usize;
    }
    let len = out.len();
    out.extend_from_slice(&buf);
    out.truncate(len + o);
}

/// Appends `n` in lower-case hex without leading zeros.
pub(crate) fn push_hex_u16(out: &mut Vec<u8>, n: u16) {
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let d = (n >> shift) & 15;
        if d != 0 || started || shift == 0 {
            out.push(HEX_LOWER[d as usize]);
            started = true;
        }
    }
}

/// Appends an IPv6 address in RFC 5952 form, as `std`'s `Display` writes it (longest
/// run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`).
pub(crate) fn push_ipv6(out: &mut Vec<u8>, addr: Ipv6Addr) {
    if let Some(v4) = addr.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        return push_ipv4(out, v4);
    }
    let g = addr.segments();
    // Longest run of zero groups (first one wins a tie), if at least 2 long.
    let (mut best_start, mut best_len, mut cur_start, mut cur_len) = (0, 0, 0, 0);
    for (i, &v) in g.iter().enumerate() {
        if v == 0 {
            if cur_len == 0 {
                cur_start = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                best_start = cur_start;
                best_len = cur_len;
            }
        } else {
            cur_len = 0;
        }
    }
    if best_len < 2 {
        best_len = 0;
        best_start = 8;
    }
    let mut i = 0;
    while i < 8 {
        if i == best_start {
            out.extend_from_slice(b"::");
            i += best_len;
            continue;
        }
        if i > 0 && i != best_start + best_len {
            out.push(b':');
        }
        push_hex_u16(out, g[i]);
        i += 1;
    }
}

/// Test helper: the text `printer` writes for one frame of `link` captured at `ts_ns`.
#[cfg(test)]
pub(crate) fn render(
    printer: &mut dyn Printer,
    link: crate::packet::LinkType,
    ts_ns: u64,
    data: &[u8],
) -> String {
    let frame = Frame {
        meta: crate::packet::FrameMeta {
            ts_ns,
            orig_len: data.len() as u32,
            ifindex: 0,
            direction: crate::packet::Direction::Unknown,
            link,
            iface: 0,
            drops: 0,
        },
        data,
    };
    let mut out = Vec::new();
    printer.print(&frame, &crate::decode::decode(&frame), &mut out);
    String::from_utf8(out).expect("printers write UTF-8")
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
