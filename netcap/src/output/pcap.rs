//! `-w`: writes frames to a pcap or pcapng file, or to stdout. Classic pcap has
//! microsecond timestamps by default, as tcpdump writes it (and as every reader
//! expects); `--nano` (`--time-stamp-precision nano`) writes nanoseconds.
//!
//! [`PcapSink`] is the [`FrameSink`] for both. It runs in the single ordered writer
//! stage (or on the capture thread, on the direct path), so the file holds frames in
//! capture order. Classic pcap is written by hand (16 bytes of header a record into a
//! large buffer); pcapng goes through `pcap-file`, with one interface block per source
//! interface and link type and `if_tsresol = 9` so nanosecond timestamps survive. The
//! pcapng file says what dumpcap's say: the OS, the application and the machine in
//! the section header; the interface's name, the filter and the snap length in its
//! interface block; each frame's direction (and a file's drop count, on read) in its
//! packet block's `epb_flags` (`epb_dropcount`); and at close an interface
//! statistics block per interface.
//!
//! `-C` needs to know, before a frame is written, how large the file would be were it
//! closed right after that frame: [`PcapSink::size_after`] counts the frame's block
//! with its options, a new interface's block, and the statistics blocks still to come.
use std::{borrow::Cow, io::Write, time::Duration};

use pcap_file::{
    pcapng::{
        blocks::{
            enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption},
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
            interface_statistics::{InterfaceStatisticsBlock, InterfaceStatisticsOption},
            section_header::{SectionHeaderBlock, SectionHeaderOption},
        },
        PcapNgWriter,
    },
    DataLink,
};

use super::{FileStats, FrameSink, Interface};
use crate::packet::{Direction, Frame, Interfaces, LinkType};
use records::{captured, record_header};
pub use records::{RecordFormat, RoundRecords};

#[path = "pcap_records.rs"]
mod records;

/// Magic of a pcap file with nanosecond timestamps.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Magic of a pcap file with microsecond timestamps.
const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;

/// Bytes of a pcapng block around its body: type, total length, and the length again.
const BLOCK_FRAME: u64 = 12;
/// Bytes of an option holding a 32-bit value (`epb_flags`): code, length, value.
const OPT_U32: u64 = 8;
/// Bytes of an option holding a 64-bit value (`epb_dropcount`, the ISB counts).
const OPT_U64: u64 = 12;
/// `opt_endofopt`, which ends a non-empty option list.
const OPT_END: u64 = 4;
/// An enhanced packet block without data or options: the block frame, the interface
/// id, the timestamp (8), the captured and the original length.
const EPB_FIXED: u64 = BLOCK_FRAME + 20;
/// The interface statistics block [`PcapSink::close`] writes, at its largest (with
/// `isb_osdrop`): the block frame, the interface id and timestamp (12), seven 64-bit
/// options and the end of options.
const ISB_LEN: u64 = BLOCK_FRAME + 12 + 7 * OPT_U64 + OPT_END;

/// How a `-w` file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFormat {
    pub pcapng: bool,
    /// Classic pcap with nanosecond timestamps (pcapng always has them).
    pub nano: bool,
    pub snaplen: u32,
}

enum Inner<W: Write> {
    /// Header not yet written: it needs the first frame's link type.
    Pending(W),
    Pcap {
        out: W,
        link: LinkType,
    },
    PcapNg {
        out: Box<PcapNgWriter<W>>,
        /// The interface blocks written, as (source interface, link type); a frame's
        /// interface id is its pair's index.
        ids: Vec<(u16, LinkType)>,
    },
    Failed,
}

/// The `-w` destination as the pipeline and the direct path hold it: a [`PcapSink`] to
/// a file or stdout, or any other [`FrameSink`].
pub type BoxedPcapSink = Box<dyn FrameSink>;

/// Writes frames as a pcap or pcapng file to `W`.
pub struct PcapSink<W: Write> {
    inner: Inner<W>,
    pcapng: bool,
    nano: bool,
    snaplen: u32,
    /// Frames not written because their link type differs from the pcap file's.
    skipped_link: u64,
    /// See [`FrameSink::set_link_hint`].
    link_hint: Option<LinkType>,
    /// See [`FrameSink::set_interface`].
    iface: Option<Interface>,
    /// See [`FrameSink::set_interfaces`].
    names: Option<Interfaces>,
    /// See [`FrameSink::set_stats`].
    stats: Option<FileStats>,
    /// The destination beneath `W`'s buffer, for [`FrameSink::through`].
    through: Option<Box<dyn Write + Send>>,
}

impl<W: Write> PcapSink<W> {
    pub fn new(out: W, format: FileFormat) -> Self {
        let FileFormat {
            pcapng,
            nano,
            snaplen,
        } = format;
        Self {
            inner: Inner::Pending(out),
            pcapng,
            nano,
            snaplen,
            skipped_link: 0,
            link_hint: None,
            iface: None,
            names: None,
            stats: None,
            through: None,
        }
    }

    /// The destination as [`FrameSink::through`] hands it out: what `out` writes to,
    /// without its buffer (another descriptor of the same open file, so the bytes of
    /// both go one after the other).
    pub fn set_through(&mut self, through: Box<dyn Write + Send>) {
        self.through = Some(through);
    }

    /// The destination, while the sink has not failed.
    pub fn get_ref(&self) -> Option<&W> {
        match &self.inner {
            Inner::Pending(out) | Inner::Pcap { out, .. } => Some(out),
            Inner::PcapNg { out, .. } => Some(out.get_ref()),
            Inner::Failed => None,
        }
    }

    fn start(&mut self, link: LinkType) -> std::io::Result<()> {
        let Inner::Pending(mut out) = std::mem::replace(&mut self.inner, Inner::Failed) else {
            return Ok(());
        };
        if self.pcapng {
            let w = PcapNgWriter::with_section_header(out, section_header()).map_err(to_io)?;
            self.inner = Inner::PcapNg {
                out: Box::new(w),
                ids: Vec::new(),
            };
        } else {
            let mut hdr = [0u8; 24];
            let magic = if self.nano {
                PCAP_MAGIC_NS
            } else {
                PCAP_MAGIC_US
            };
            hdr[0..4].copy_from_slice(&magic.to_le_bytes());
            hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
            hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
            hdr[16..20].copy_from_slice(&self.snaplen.to_le_bytes());
            hdr[20..24].copy_from_slice(&link.to_linktype().to_le_bytes());
            out.write_all(&hdr)?;
            self.inner = Inner::Pcap { out, link };
        }
        Ok(())
    }

    /// What the file must still take if `frame` is written and the file closed right
    /// after it: the frame's record (pcapng: its packet block with options), the
    /// interface block it would add, and the statistics blocks of every interface
    /// (counted at their largest). The header is not counted: it is written before
    /// the first frame, which a file always takes whatever its size.
    pub fn size_after(&self, frame: &Frame<'_>) -> u64 {
        let cap = captured(self.snaplen, frame.data.len()) as u64;
        let Inner::PcapNg { ids, .. } = &self.inner else {
            return 16 + cap;
        };
        let key = (frame.meta.iface, frame.meta.link);
        let new = !ids.contains(&key);
        let idb = match new {
            true => idb_len(&self.idb_options(key.0)),
            false => 0,
        };
        let isbs = match self.stats {
            Some(_) => ISB_LEN * (ids.len() as u64 + u64::from(new)),
            None => 0,
        };
        epb_len(cap, frame) + idb + isbs
    }

    /// The options of the interface block of source interface `iface`: its name (from
    /// the source's table, else the live interface's), the filter, `if_tsresol`.
    fn idb_options(&self, iface: u16) -> Vec<InterfaceDescriptionOption<'static>> {
        let from_table = self.names.as_ref().and_then(|t| {
            let names = t.names();
            names.get(usize::from(iface)).map(|n| n.to_string())
        });
        let name = from_table.or_else(|| self.iface.as_ref().map(|i| i.name.clone()));
        let mut options = Vec::new();
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            options.push(InterfaceDescriptionOption::IfName(Cow::Owned(name)));
        }
        if let Some(f) = self.iface.as_ref().and_then(|i| i.filter.as_ref()) {
            // if_filter: a first byte of 0 says the rest is a libpcap filter string.
            let mut v = vec![0u8];
            v.extend_from_slice(f.as_bytes());
            options.push(InterfaceDescriptionOption::IfFilter(Cow::Owned(v)));
        }
        options.push(InterfaceDescriptionOption::IfTsResol(9));
        options
    }

    /// The pcapng interface id of frames from `iface` with `link`, writing its
    /// interface block the first time.
    fn interface_id(&mut self, iface: u16, link: LinkType) -> std::io::Result<u32> {
        let key = (iface, link);
        let new_options = match &self.inner {
            Inner::PcapNg { ids, .. } => match ids.iter().position(|&k| k == key) {
                Some(i) => return Ok(i as u32),
                None => self.idb_options(iface),
            },
            _ => return Err(std::io::Error::other("pcapng output not started")),
        };
        let Inner::PcapNg { out, ids } = &mut self.inner else {
            return Err(std::io::Error::other("pcapng output not started"));
        };
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::from(link.to_linktype()),
            snaplen: self.snaplen,
            options: new_options,
        };
        out.write_pcapng_block(idb).map_err(to_io)?;
        ids.push(key);
        Ok(ids.len() as u32 - 1)
    }
}

/// The options of `frame`'s enhanced packet block: `epb_flags` bits 0-1 (1 inbound, 2
/// outbound; absent when not known), and `epb_dropcount` when the source gave one.
fn epb_options(frame: &Frame<'_>) -> Vec<EnhancedPacketOption<'static>> {
    let mut options = Vec::new();
    match frame.meta.direction {
        Direction::In => options.push(EnhancedPacketOption::Flags(1)),
        Direction::Out => options.push(EnhancedPacketOption::Flags(2)),
        Direction::Unknown => {}
    }
    if frame.meta.drops > 0 {
        options.push(EnhancedPacketOption::DropCount(u64::from(frame.meta.drops)));
    }
    options
}

/// Bytes of the enhanced packet block of `frame` with `cap` bytes of data, as
/// [`epb_options`] gives it options.
fn epb_len(cap: u64, frame: &Frame<'_>) -> u64 {
    let flags = match frame.meta.direction {
        Direction::In | Direction::Out => OPT_U32,
        Direction::Unknown => 0,
    };
    let drops = if frame.meta.drops > 0 { OPT_U64 } else { 0 };
    let end = if flags + drops > 0 { OPT_END } else { 0 };
    EPB_FIXED + cap.next_multiple_of(4) + flags + drops + end
}

/// Bytes of an interface description block with `options`: the block frame, link
/// type, reserved and snap length (8), the options and their end.
fn idb_len(options: &[InterfaceDescriptionOption<'_>]) -> u64 {
    let value = |o: &InterfaceDescriptionOption<'_>| -> u64 {
        match o {
            InterfaceDescriptionOption::IfName(n) => n.len() as u64,
            InterfaceDescriptionOption::IfFilter(f) => f.len() as u64,
            InterfaceDescriptionOption::IfTsResol(_) => 1,
            // Only the three above are written.
            _ => 0,
        }
    };
    let opts: u64 = options
        .iter()
        .map(|o| 4 + value(o).next_multiple_of(4))
        .sum();
    let end = if options.is_empty() { 0 } else { OPT_END };
    BLOCK_FRAME + 8 + opts + end
}

impl<W: Write + Send> FrameSink for PcapSink<W> {
    /// Writes one frame. An error means the output is gone (e.g. a closed pipe).
    fn write(&mut self, frame: &Frame<'_>) -> std::io::Result<()> {
        if matches!(self.inner, Inner::Pending(_)) {
            self.start(frame.meta.link)?;
        }
        // A record never holds more than the header's snap length (`read -s N` of a
        // file captured with a larger one): what readers expect and what tcpdump writes.
        let cap = captured(self.snaplen, frame.data.len());
        let data = frame.data.get(..cap).unwrap_or(frame.data);
        let frame = &Frame {
            meta: frame.meta,
            data,
        };
        if matches!(self.inner, Inner::PcapNg { .. }) {
            let id = self.interface_id(frame.meta.iface, frame.meta.link)?;
            let epb = EnhancedPacketBlock {
                interface_id: id,
                timestamp: Duration::from_nanos(frame.meta.ts_ns),
                original_len: frame.meta.orig_len,
                data: Cow::Borrowed(frame.data),
                options: epb_options(frame),
            };
            let Inner::PcapNg { out, .. } = &mut self.inner else {
                return Err(std::io::Error::other("pcap output failed"));
            };
            return out.write_pcapng_block(epb).map(|_| ()).map_err(to_io);
        }
        match &mut self.inner {
            Inner::Pcap { out, link } => {
                if *link != frame.meta.link {
                    self.skipped_link += 1;
                    return Ok(());
                }
                out.write_all(&record_header(self.nano, frame, frame.data.len()))?;
                out.write_all(frame.data)
            }
            Inner::PcapNg { .. } | Inner::Pending(_) | Inner::Failed => {
                Err(std::io::Error::other("pcap output failed"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let (Inner::Pending(_), Some(link)) = (&self.inner, self.link_hint) {
            self.start(link)?;
            // libpcap refuses a pcapng file without an interface block.
            if matches!(self.inner, Inner::PcapNg { .. }) {
                self.interface_id(0, link)?;
            }
        }
        match &mut self.inner {
            Inner::Pending(out) | Inner::Pcap { out, .. } => out.flush(),
            Inner::PcapNg { out, .. } => out.get_mut().flush(),
            Inner::Failed => Ok(()),
        }
    }

    fn skipped(&self) -> u64 {
        self.skipped_link
    }

    fn record_format(&self) -> Option<RecordFormat> {
        if self.pcapng {
            return None;
        }
        let link = match &self.inner {
            Inner::Pending(_) => self.link_hint?,
            Inner::Pcap { link, .. } => *link,
            Inner::PcapNg { .. } | Inner::Failed => return None,
        };
        Some(RecordFormat {
            nano: self.nano,
            snaplen: self.snaplen,
            link,
        })
    }

    fn write_records(&mut self, records: &[u8], skipped: u64) -> std::io::Result<()> {
        let link = self.record_format().map(|f| f.link);
        if let (Inner::Pending(_), Some(link)) = (&self.inner, link) {
            self.start(link)?;
        }
        self.skipped_link += skipped;
        match &mut self.inner {
            Inner::Pcap { out, .. } if !self.pcapng => out.write_all(records),
            _ => Err(std::io::Error::other("pcap output takes no records")),
        }
    }

    fn write_records_vectored(
        &mut self,
        records: &[std::io::IoSlice<'_>],
        skipped: u64,
    ) -> std::io::Result<()> {
        let link = self.record_format().map(|f| f.link);
        if let (Inner::Pending(_), Some(link)) = (&self.inner, link) {
            self.start(link)?;
        }
        self.skipped_link += skipped;
        match &mut self.inner {
            Inner::Pcap { out, .. } if !self.pcapng => {
                let mut slices = records.to_vec();
                super::write_all_vectored(out, &mut slices).1
            }
            _ => Err(std::io::Error::other("pcap output takes no records")),
        }
    }

    /// Classic pcap with a destination set by [`PcapSink::set_through`]: the header
    /// (when not yet written) and what `W` buffers go out first.
    fn through(&mut self) -> Option<std::io::Result<&mut dyn Write>> {
        let link = self.record_format()?.link;
        self.through.as_ref()?;
        if matches!(self.inner, Inner::Pending(_)) {
            if let Err(e) = self.start(link) {
                return Some(Err(e));
            }
        }
        let Inner::Pcap { out, .. } = &mut self.inner else {
            return None;
        };
        if let Err(e) = out.flush() {
            return Some(Err(e));
        }
        let through = self.through.as_deref_mut()?;
        Some(Ok(through as &mut dyn Write))
    }

    fn set_link_hint(&mut self, link: Option<LinkType>) {
        self.link_hint = link;
    }

    fn set_interface(&mut self, iface: &Interface) {
        self.iface = Some(iface.clone());
    }

    fn set_interfaces(&mut self, names: &Interfaces) {
        self.names = Some(names.clone());
    }

    fn set_stats(&mut self, stats: &FileStats) {
        self.stats = Some(stats.clone());
    }

    /// pcapng: an interface statistics block per interface, with the capture's counts
    /// so far (as dumpcap ends its files), then a flush. A file closed before the
    /// counts were first published (a live run's first second) gets a block with its
    /// end time alone: every file of a live run ends with one per interface.
    fn close(&mut self) -> std::io::Result<()> {
        self.flush()?;
        let Some(stats) = &self.stats else {
            return Ok(());
        };
        let counts = stats.latest();
        if let Inner::PcapNg { out, ids } = &mut self.inner {
            let now = crate::capture::realtime_ns();
            for id in 0..ids.len() {
                let mut options = Vec::new();
                if let Some(c) = &counts {
                    options.push(InterfaceStatisticsOption::IsbStartTime(c.start_ns));
                }
                options.push(InterfaceStatisticsOption::IsbEndTime(now));
                if let Some(c) = &counts {
                    options.extend([
                        InterfaceStatisticsOption::IsbIfRecv(c.seen),
                        InterfaceStatisticsOption::IsbIfDrop(c.lost),
                        InterfaceStatisticsOption::IsbFilterAccept(c.accepted),
                    ]);
                    if let Some(d) = c.if_dropped {
                        options.push(InterfaceStatisticsOption::IsbOsDrop(d));
                    }
                    options.push(InterfaceStatisticsOption::IsbUsrDeliv(c.delivered));
                }
                let isb = InterfaceStatisticsBlock {
                    interface_id: id as u32,
                    timestamp: now,
                    options,
                };
                out.write_pcapng_block(isb).map_err(to_io)?;
            }
            out.get_mut().flush()?;
        }
        Ok(())
    }
}

/// The section header: pcapng 1.0, with `shb_os`, `shb_userappl` and `shb_hardware`.
fn section_header() -> SectionHeaderBlock<'static> {
    let mut options = vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
        concat!("netcap ", env!("CARGO_PKG_VERSION")),
    ))];
    if let Some((os, machine)) = uname() {
        options.push(SectionHeaderOption::OS(Cow::Owned(os)));
        options.push(SectionHeaderOption::Hardware(Cow::Owned(machine)));
    }
    SectionHeaderBlock {
        options,
        ..SectionHeaderBlock::default()
    }
}

/// "Linux 6.18.0-..." and "x86_64", from uname(2) as /proc exposes it.
fn uname() -> Option<(String, String)> {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let os = format!("{} {}", read("ostype")?, read("osrelease")?);
    Some((os, std::env::consts::ARCH.to_owned()))
}

fn to_io(e: pcap_file::PcapError) -> std::io::Error {
    match e {
        pcap_file::PcapError::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
#[path = "pcap_tests.rs"]
mod tests;
