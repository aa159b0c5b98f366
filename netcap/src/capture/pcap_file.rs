//! Capture files as a [`Source`]: classic pcap and pcapng, both read by hand, laxly,
//! as libpcap reads them (pcapng in [`super::pcapng_read`]).
//!
//! Classic pcap is read here rather than with `pcap-file` because that crate refuses
//! records whose captured length exceeds the file's snap length or the original
//! length, which tcpdump reads; the format is 16 bytes a record, and the hot path of
//! `netcap read` wants one buffered copy. Memory stays bounded: a record may claim at
//! most [`MAX_RECORD`] bytes (libpcap's own limit); a larger claim ends the file with
//! a message, as does a record cut short by the end of the file. A record longer than
//! the header's snap length is cut to it, as libpcap's `pcap_next_packet` cuts it
//! (a snap length of 0 or above [`MAX_RECORD`] counts as [`MAX_RECORD`]).
use std::{
    fs::File,
    io::{self, BufReader, Read},
    os::fd::BorrowedFd,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use super::{
    pcapng_read::{self, read_full, units_to_ns, Next},
    CaptureCounters, Error, Fill, Source,
};
use crate::packet::{Batch, Direction, Frame, FrameMeta, Interfaces, LinkType};

/// Largest record accepted: libpcap's `MAXIMUM_SNAPLEN` (256 KiB).
pub const MAX_RECORD: u32 = 262_144;

/// Most frames one `fill` adds to a batch. Bytes alone do not bound a batch: records
/// with a captured length of 0 add none, and a file of them (a header and then zeros)
/// would grow one batch, 32 bytes of slot per record, without end. 16,384 slots is
/// more than a full batch of minimum-size frames holds.
pub const MAX_FRAMES_PER_FILL: usize = 16_384;
const PCAPNG_MAGIC: u32 = 0x0A0D_0D0A;

enum Format {
    Pcap {
        swapped: bool,
        nanos: bool,
        link: LinkType,
        /// The header's snap length: no record's data is longer.
        snaplen: u32,
    },
    PcapNg(Box<pcapng_read::Reader>),
}

pub struct FileSource {
    name: String,
    input: Option<Box<dyn Read + Send>>,
    format: Option<Format>,
    frames: u64,
    done: bool,
    /// A batch `visit` read but did not hand out completely, and the next frame.
    unvisited: Option<(Batch, usize)>,
    /// Set when the file ended abnormally (cut short, a bad record or block, a read
    /// error): the run then exits with status 1, as tcpdump does.
    faulted: std::cell::Cell<bool>,
    /// The file's interfaces: one without a name for classic pcap, the interface
    /// blocks of pcapng as they are read.
    interfaces: Interfaces,
    /// Bytes taken from the file so far, and its size when it has one (progress).
    read: Arc<AtomicU64>,
    size: Option<u64>,
}

/// The file under the read buffer, counting the bytes taken from it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl FileSource {
    /// Opens `path` (`-` = stdin) and reads its header.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let name = path.display().to_string();
        let read = Arc::new(AtomicU64::new(0));
        let (input, size): (Box<dyn Read + Send>, _) = if name == "-" {
            let inner = Counting {
                inner: io::stdin(),
                read: read.clone(),
            };
            (Box::new(BufReader::with_capacity(1 << 20, inner)), None)
        } else {
            let f = File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
            let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            let inner = Counting {
                inner: f,
                read: read.clone(),
            };
            (Box::new(BufReader::with_capacity(1 << 20, inner)), size)
        };
        let mut source = Self::from_reader(name, input)?;
        (source.read, source.size) = (read, size);
        Ok(source)
    }

    /// Bytes read from the file so far, and its size when known (not for stdin).
    pub fn progress(&self) -> (u64, Option<u64>) {
        (self.read.load(Ordering::Relaxed), self.size)
    }

    pub fn from_reader(name: String, mut input: Box<dyn Read + Send>) -> Result<Self, Error> {
        let interfaces = Interfaces::default();
        let mut magic = [0u8; 4];
        input
            .read_exact(&mut magic)
            .map_err(|e| Error::io(format!("{name}: reading the file header"), e))?;
        let le = u32::from_le_bytes(magic);
        let (format, input) = match le {
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1 => {
                let swapped = matches!(le, 0xd4c3_b2a1 | 0x4d3c_b2a1);
                let nanos = matches!(le, 0xa1b2_3c4d | 0x4d3c_b2a1);
                let mut rest = [0u8; 20];
                input
                    .read_exact(&mut rest)
                    .map_err(|e| Error::io(format!("{name}: reading the pcap header"), e))?;
                let field = |b: &[u8]| {
                    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    if swapped {
                        v.swap_bytes()
                    } else {
                        v
                    }
                };
                // The link type is the low 16 bits (the high bits hold FCS flags).
                let link = LinkType::from_linktype(field(&rest[16..20]) & 0xffff);
                let snaplen = match field(&rest[12..16]) {
                    0 => MAX_RECORD,
                    n => n.min(MAX_RECORD),
                };
                interfaces.add("");
                (
                    Format::Pcap {
                        swapped,
                        nanos,
                        link,
                        snaplen,
                    },
                    Some(input),
                )
            }
            PCAPNG_MAGIC => {
                let chained: Box<dyn Read + Send> = Box::new(io::Cursor::new(magic).chain(input));
                let reader = pcapng_read::Reader::new(chained, interfaces.clone());
                (Format::PcapNg(Box::new(reader)), None)
            }
            _ => {
                return Err(Error::BadFile(format!(
                    "{name}: not a pcap or pcapng file (magic {:02x}{:02x}{:02x}{:02x})",
                    magic[0], magic[1], magic[2], magic[3]
                )))
            }
        };
        Ok(Self {
            name,
            input,
            format: Some(format),
            frames: 0,
            done: false,
            unvisited: None,
            faulted: std::cell::Cell::new(false),
            interfaces,
            read: Arc::default(),
            size: None,
        })
    }

    /// The file's interfaces, for the printers (names grow as pcapng is read).
    pub fn interfaces(&self) -> Interfaces {
        self.interfaces.clone()
    }

    /// The statistics the file holds (pcapng interface statistics blocks read so far:
    /// the last one of each interface).
    pub fn file_stats(&self) -> &[pcapng_read::IfStats] {
        match &self.format {
            Some(Format::PcapNg(r)) => r.stats(),
            _ => &[],
        }
    }

    /// The link type of a classic pcap file (pcapng has one per interface).
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.format {
            Some(Format::Pcap { link, .. }) => Some(*link),
            _ => None,
        }
    }

    /// True once the file ended abnormally (see [`FileSource::warn`]).
    pub fn faulted(&self) -> bool {
        self.faulted.get()
    }

    fn warn(&self, what: &str) {
        self.faulted.set(true);
        eprintln!(
            "netcap: {}: {what}; stopping after {} frames",
            self.name, self.frames
        );
    }

    fn fill_pcap(&mut self, batch: &mut Batch, max_bytes: usize) -> Fill {
        let Some(Format::Pcap {
            swapped,
            nanos,
            link,
            snaplen,
        }) = self.format
        else {
            return Fill::End;
        };
        let Some(input) = self.input.as_mut() else {
            return Fill::End;
        };
        let mut scratch = Vec::new();
        while batch.bytes() < max_bytes && batch.len() < MAX_FRAMES_PER_FILL {
            let mut hdr = [0u8; 16];
            match read_full(input, &mut hdr) {
                Ok(0) => return Fill::End,
                Ok(16) => {}
                Ok(n) => {
                    let msg = format!("truncated record header ({n} of 16 bytes)");
                    self.warn(&msg);
                    return Fill::End;
                }
                Err(e) => {
                    self.warn(&format!("read error: {e}"));
                    return Fill::End;
                }
            }
            let word = |i: usize| {
                let v = u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
                if swapped {
                    v.swap_bytes()
                } else {
                    v
                }
            };
            let (secs, frac, incl, orig) = (word(0), word(4), word(8), word(12));
            if incl > MAX_RECORD {
                self.warn(&format!("record claims {incl} bytes (limit {MAX_RECORD})"));
                return Fill::End;
            }
            scratch.resize(incl as usize, 0);
            match read_full(input, &mut scratch) {
                Ok(n) if n == incl as usize => {}
                Ok(n) => {
                    self.warn(&format!("record cut short: {n} of {incl} bytes present"));
                    return Fill::End;
                }
                Err(e) => {
                    self.warn(&format!("read error: {e}"));
                    return Fill::End;
                }
            }
            let frac_ns = if nanos {
                u64::from(frac)
            } else {
                u64::from(frac) * 1000
            };
            // What libpcap hands tcpdump: at most the snap length.
            let incl = incl.min(snaplen);
            let meta = FrameMeta {
                ts_ns: u64::from(secs) * 1_000_000_000 + frac_ns,
                // The length the file gives, even 0 or below the captured length:
                // `-F line` prints tcpdump's `[Invalid header: ...]` for those.
                orig_len: orig,
                ifindex: 0,
                direction: Direction::Unknown,
                link,
                iface: 0,
                drops: 0,
            };
            batch.push(meta, &scratch[..incl as usize]);
            self.frames += 1;
        }
        Fill::Some
    }

    fn fill_pcapng(&mut self, batch: &mut Batch, max_bytes: usize) -> Fill {
        let Some(Format::PcapNg(reader)) = self.format.as_mut() else {
            return Fill::End;
        };
        let mut warning = None;
        let mut ended = false;
        while batch.bytes() < max_bytes && batch.len() < MAX_FRAMES_PER_FILL {
            let p = match reader.next_block() {
                Ok(Next::Packet(p)) => p,
                Ok(Next::Other) => continue,
                Ok(Next::End) => {
                    ended = true;
                    break;
                }
                Err(e) => {
                    warning = Some(e);
                    ended = true;
                    break;
                }
            };
            let Some(iface) = p.iface else {
                warning = Some(format!("packet for undeclared interface {}", p.interface));
                ended = true;
                break;
            };
            let meta = FrameMeta {
                ts_ns: units_to_ns(p.ts_units, iface.tsresol),
                orig_len: p.orig_len,
                ifindex: 0,
                direction: p.direction,
                link: iface.link,
                iface: iface.id,
                drops: p.drops,
            };
            batch.push(meta, p.data);
            self.frames += 1;
        }
        if let Some(w) = warning {
            self.warn(&w);
        }
        if ended {
            Fill::End
        } else {
            Fill::Some
        }
    }
}

impl Source for FileSource {
    /// Reads up to one batch's worth of frames (256 KiB) and passes them to `f`; what
    /// `f` did not take waits for the next call.
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        let (mut batch, mut next) = self.unvisited.take().unwrap_or_default();
        let mut fill = Fill::Some;
        if next >= batch.len() {
            batch.clear();
            next = 0;
            fill = self.fill(&mut batch, 256 * 1024)?;
        }
        while let Some(frame) = batch.get(next) {
            next += 1;
            if !f(&frame) {
                break;
            }
        }
        if next < batch.len() {
            self.unvisited = Some((batch, next));
            return Ok(Fill::Some);
        }
        Ok(fill)
    }

    fn fill(&mut self, batch: &mut Batch, max_bytes: usize) -> Result<Fill, Error> {
        if self.done {
            return Ok(Fill::End);
        }
        let fill = match self.format {
            Some(Format::Pcap { .. }) => self.fill_pcap(batch, max_bytes),
            Some(Format::PcapNg(_)) => self.fill_pcapng(batch, max_bytes),
            None => Fill::End,
        };
        self.done = fill == Fill::End;
        Ok(fill)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn link(&self) -> Option<LinkType> {
        self.link_type()
    }

    fn counters(&self) -> CaptureCounters {
        CaptureCounters {
            seen: self.frames,
            captured: self.frames,
            ..CaptureCounters::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(records: &[(&[u8], u32)]) -> Vec<u8> {
        let mut f = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        for (i, (data, orig)) in records.iter().enumerate() {
            for v in [i as u32, 7, data.len() as u32, *orig] {
                f.extend_from_slice(&v.to_le_bytes());
            }
            f.extend_from_slice(data);
        }
        f
    }

    #[test]
    fn visit_keeps_what_the_callback_did_not_take() {
        let data: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 20]).collect();
        let records: Vec<(&[u8], u32)> = data.iter().map(|d| (d.as_slice(), 20)).collect();
        let mut src =
            FileSource::from_reader("t".into(), Box::new(io::Cursor::new(pcap(&records))))
                .expect("opens");
        let mut got = Vec::new();
        // Take one frame per call: every frame must still come, once, in order.
        for _ in 0..20 {
            let fill = src
                .visit(&mut |f| {
                    got.push(f.data[0]);
                    false
                })
                .expect("visit");
            if fill == Fill::End {
                break;
            }
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    fn read_all(bytes: Vec<u8>) -> Vec<(FrameMeta, Vec<u8>)> {
        let mut src =
            FileSource::from_reader("t".into(), Box::new(io::Cursor::new(bytes))).expect("opens");
        let mut out = Vec::new();
        loop {
            let mut b = Batch::default();
            let fill = src.fill(&mut b, 1 << 20).expect("fill");
            out.extend(b.iter().map(|f| (f.meta, f.data.to_vec())));
            if fill == Fill::End {
                return out;
            }
        }
    }

    #[test]
    fn reads_records_with_time_and_lengths() {
        let got = read_all(pcap(&[(&[1, 2, 3], 60), (&[], 0)]));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.ts_ns, 7_000);
        assert_eq!(got[0].0.orig_len, 60);
        assert_eq!(got[0].1, vec![1, 2, 3]);
        assert_eq!(got[1].0.ts_ns, 1_000_007_000);
        assert_eq!(got[0].0.link, LinkType::Ethernet);
    }

    #[test]
    fn a_cut_record_ends_the_file_after_the_complete_ones() {
        let mut f = pcap(&[(&[1, 2, 3, 4], 4), (&[5, 6, 7, 8], 4)]);
        f.truncate(f.len() - 2);
        assert_eq!(read_all(f).len(), 1);
    }

    #[test]
    fn a_lying_length_is_refused_without_allocating_it() {
        let mut f = pcap(&[(&[1], 1)]);
        let at = 24 + 8;
        f[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_all(f).len(), 0);
    }

    #[test]
    fn a_record_past_the_snap_length_is_cut_to_it() {
        // mptcp-dss-oobr.pcap: snap length 73, a record of 74 bytes.
        let mut f = pcap(&[(&[1, 2, 3, 4], 4), (&[5, 6], 9)]);
        f[16..20].copy_from_slice(&3u32.to_le_bytes());
        let got = read_all(f);
        assert_eq!(got[0].1, vec![1, 2, 3]);
        assert_eq!(got[0].0.orig_len, 4);
        assert_eq!(got[1].1, vec![5, 6]);
        assert_eq!(got[1].0.orig_len, 9);
        // A snap length of 0 limits nothing.
        let mut f = pcap(&[(&[1, 2, 3, 4], 4)]);
        f[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(read_all(f)[0].1, vec![1, 2, 3, 4]);
    }

    #[test]
    fn garbage_is_not_a_capture_file() {
        let r = FileSource::from_reader("t".into(), Box::new(io::Cursor::new(vec![0u8; 64])));
        assert!(r.is_err());
    }
}
