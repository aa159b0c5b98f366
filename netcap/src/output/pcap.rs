//! `-w`: writes frames to a pcap or pcapng file, or to stdout. Classic pcap has
//! microsecond timestamps by default, as tcpdump writes it (and as every reader
//! expects); `--nano` (`--time-stamp-precision nano`) writes nanoseconds.
//!
//! [`PcapSink`] is the [`FrameSink`] for both. It runs in the single ordered writer
//! stage (or on the capture thread, on the direct path), so the file holds frames in
//! capture order. Classic pcap is written by hand (16 bytes of header a record into a
//! large buffer); pcapng goes through `pcap-file`, with one interface block per link
//! type and `if_tsresol = 9` so nanosecond timestamps survive. The pcapng file says
//! what dumpcap's say: the OS, the application and the machine in the section header;
//! the interface's name, the filter and the snap length in its interface block; and
//! each frame's direction in its packet block's `epb_flags`.
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
use crate::packet::{Direction, Frame, LinkType};

/// Magic of a pcap file with nanosecond timestamps.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Magic of a pcap file with microsecond timestamps.
const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;

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
        links: Vec<LinkType>,
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
    /// See [`FrameSink::set_stats`].
    stats: Option<FileStats>,
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
            stats: None,
        }
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
                links: Vec::new(),
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
}

impl<W: Write + Send> FrameSink for PcapSink<W> {
    /// Writes one frame. An error means the output is gone (e.g. a closed pipe).
    fn write(&mut self, frame: &Frame<'_>) -> std::io::Result<()> {
        if matches!(self.inner, Inner::Pending(_)) {
            self.start(frame.meta.link)?;
        }
        // A record never holds more than the header's snap length (`read -s N` of a
        // file captured with a larger one): what readers expect and what tcpdump writes.
        let cap = match self.snaplen {
            0 => usize::MAX,
            n => n as usize,
        };
        let data = frame.data.get(..cap).unwrap_or(frame.data);
        let frame = &Frame {
            meta: frame.meta,
            data,
        };
        match &mut self.inner {
            Inner::Pcap { out, link } => {
                if *link != frame.meta.link {
                    self.skipped_link += 1;
                    return Ok(());
                }
                let secs = (frame.meta.ts_ns / 1_000_000_000) as u32;
                let nanos = (frame.meta.ts_ns % 1_000_000_000) as u32;
                let frac = if self.nano { nanos } else { nanos / 1000 };
                let mut rec = [0u8; 16];
                rec[0..4].copy_from_slice(&secs.to_le_bytes());
                rec[4..8].copy_from_slice(&frac.to_le_bytes());
                rec[8..12].copy_from_slice(&(frame.data.len() as u32).to_le_bytes());
                rec[12..16].copy_from_slice(&frame.meta.orig_len.to_le_bytes());
                out.write_all(&rec)?;
                out.write_all(frame.data)
            }
            Inner::PcapNg { out, links } => {
                let id = interface_id(out, links, frame.meta.link, self.snaplen, &self.iface)?;
                // epb_flags bits 0-1: 1 inbound, 2 outbound (0: not known).
                let options = match frame.meta.direction {
                    Direction::In => vec![EnhancedPacketOption::Flags(1)],
                    Direction::Out => vec![EnhancedPacketOption::Flags(2)],
                    Direction::Unknown => Vec::new(),
                };
                let epb = EnhancedPacketBlock {
                    interface_id: id as u32,
                    timestamp: Duration::from_nanos(frame.meta.ts_ns),
                    original_len: frame.meta.orig_len,
                    data: Cow::Borrowed(frame.data),
                    options,
                };
                out.write_pcapng_block(epb).map(|_| ()).map_err(to_io)
            }
            Inner::Pending(_) | Inner::Failed => Err(std::io::Error::other("pcap output failed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let (Inner::Pending(_), Some(link)) = (&self.inner, self.link_hint) {
            self.start(link)?;
            // libpcap refuses a pcapng file without an interface block.
            if let Inner::PcapNg { out, links } = &mut self.inner {
                interface_id(out, links, link, self.snaplen, &self.iface)?;
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

    fn set_link_hint(&mut self, link: Option<LinkType>) {
        self.link_hint = link;
    }

    fn set_interface(&mut self, iface: &Interface) {
        self.iface = Some(iface.clone());
    }

    fn set_stats(&mut self, stats: &FileStats) {
        self.stats = Some(stats.clone());
    }

    /// pcapng: an interface statistics block per interface, with the capture's counts
    /// so far (as dumpcap ends its files), then a flush.
    fn close(&mut self) -> std::io::Result<()> {
        self.flush()?;
        let counts = self.stats.as_ref().and_then(FileStats::latest);
        if let (Inner::PcapNg { out, links }, Some(c)) = (&mut self.inner, counts) {
            let now = crate::capture::realtime_ns();
            for id in 0..links.len() {
                let mut options = vec![
                    InterfaceStatisticsOption::IsbStartTime(c.start_ns),
                    InterfaceStatisticsOption::IsbEndTime(now),
                    InterfaceStatisticsOption::IsbIfRecv(c.seen),
                    InterfaceStatisticsOption::IsbIfDrop(c.lost),
                    InterfaceStatisticsOption::IsbFilterAccept(c.accepted),
                ];
                if let Some(d) = c.if_dropped {
                    options.push(InterfaceStatisticsOption::IsbOsDrop(d));
                }
                options.push(InterfaceStatisticsOption::IsbUsrDeliv(c.delivered));
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

/// The pcapng interface id for `link`, writing its interface block the first time.
fn interface_id<W: Write>(
    out: &mut PcapNgWriter<W>,
    links: &mut Vec<LinkType>,
    link: LinkType,
    snaplen: u32,
    iface: &Option<Interface>,
) -> std::io::Result<usize> {
    if let Some(i) = links.iter().position(|&l| l == link) {
        return Ok(i);
    }
    let mut options = Vec::new();
    if let Some(iface) = iface {
        options.push(InterfaceDescriptionOption::IfName(Cow::Owned(
            iface.name.clone(),
        )));
        if let Some(f) = &iface.filter {
            // if_filter: a first byte of 0 says the rest is a libpcap filter string.
            let mut v = vec![0u8];
            v.extend_from_slice(f.as_bytes());
            options.push(InterfaceDescriptionOption::IfFilter(Cow::Owned(v)));
        }
    }
    options.push(InterfaceDescriptionOption::IfTsResol(9));
    let idb = InterfaceDescriptionBlock {
        linktype: DataLink::from(link.to_linktype()),
        snaplen,
        options,
    };
    out.write_pcapng_block(idb).map_err(to_io)?;
    links.push(link);
    Ok(links.len() - 1)
}

fn to_io(e: pcap_file::PcapError) -> std::io::Error {
    match e {
        pcap_file::PcapError::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        capture::{pcap_file::FileSource, Fill, Source},
        packet::{Batch, Direction, FrameMeta},
    };

    fn round_trip(pcapng: bool, nano: bool) {
        let frames: Vec<(u64, Vec<u8>)> = vec![
            (1_700_000_000_123_456_789, vec![1, 2, 3, 4]),
            (1_700_000_001_000_000_001, vec![]),
        ];
        let format = FileFormat {
            pcapng,
            nano,
            snaplen: 9216,
        };
        let mut sink = PcapSink::new(Vec::new(), format);
        for (ts, data) in &frames {
            let meta = FrameMeta {
                ts_ns: *ts,
                orig_len: 100,
                ifindex: 1,
                direction: Direction::In,
                link: LinkType::Ethernet,
                iface: 0,
                drops: 0,
            };
            sink.write(&Frame { meta, data }).expect("writes");
        }
        // Microseconds are cut, as libpcap cuts them.
        let want: Vec<(u64, Vec<u8>)> = frames
            .iter()
            .map(|(ts, d)| match pcapng || nano {
                true => (*ts, d.clone()),
                false => (ts - ts % 1000, d.clone()),
            })
            .collect();
        match sink.inner {
            Inner::Pcap { out, .. } => check(out, &want),
            Inner::PcapNg { out, .. } => check(out.into_inner(), &want),
            _ => panic!("writer state"),
        }
    }

    fn check(bytes: Vec<u8>, frames: &[(u64, Vec<u8>)]) {
        let mut src = FileSource::from_reader("t".into(), Box::new(std::io::Cursor::new(bytes)))
            .expect("reads back");
        let mut b = Batch::default();
        while src.fill(&mut b, 1 << 20).expect("fill") != Fill::End {}
        let got: Vec<_> = b.iter().map(|f| (f.meta.ts_ns, f.data.to_vec())).collect();
        assert_eq!(got, frames);
        assert!(b
            .iter()
            .all(|f| f.meta.orig_len == 100 && f.meta.link == LinkType::Ethernet));
    }

    #[test]
    fn pcap_round_trip_keeps_nanoseconds_and_lengths() {
        round_trip(false, true);
    }

    #[test]
    fn pcap_round_trip_keeps_microseconds_and_lengths() {
        round_trip(false, false);
    }

    #[test]
    fn pcapng_round_trip_keeps_nanoseconds_and_lengths() {
        round_trip(true, false);
    }
}
