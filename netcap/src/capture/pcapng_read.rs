//! A lax pcapng reader (draft-ietf-opsawg-pcapng), as tcpdump and tshark read files.
//!
//! Written here rather than taken from `pcap-file` 2 because that crate refuses files
//! tcpdump and tshark read (a section header whose options lack the end-of-options
//! marker: `ospf-sr.pcapng` in tcpdump's own tests), and drops what netcap shows: the
//! direction in `epb_flags`. Only what a reader of packets needs is parsed: section
//! headers (byte order), interface descriptions (link type, `if_name`, `if_tsresol`),
//! enhanced, simple and obsolete packet blocks (with their direction and drop count),
//! and interface statistics blocks. Every other block is skipped by its length.
//!
//! Memory is bounded: a block may claim at most [`MAX_BLOCK`] bytes; a larger claim, a
//! length that is not a multiple of 4 or a block cut short ends the file with a message.
use std::io::{self, Read};

use crate::packet::{Direction, Interfaces, LinkType};

/// Largest block accepted: a packet of libpcap's largest snap length with headroom
/// for options (Wireshark's limit is 16 MiB; no real packet block is near it).
pub const MAX_BLOCK: u32 = 16 << 20;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const OBSOLETE_PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const ISB: u32 = 0x0000_0005;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// One interface of the current section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    pub link: LinkType,
    /// `if_tsresol` (default 6: microseconds).
    pub tsresol: u8,
    /// Its index in the run's [`Interfaces`], where its `if_name` is.
    pub id: u16,
}

/// What the file's last interface statistics block said of one interface (absent
/// options are `None`), as `capinfos` and Wireshark's capture properties show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfStats {
    /// The interface, as an index in the run's [`Interfaces`].
    pub id: u16,
    /// The block's own timestamp, and `isb_starttime` / `isb_endtime`, in ns.
    pub ts_ns: u64,
    pub start_ns: Option<u64>,
    pub end_ns: Option<u64>,
    pub ifrecv: Option<u64>,
    pub ifdrop: Option<u64>,
    pub filteraccept: Option<u64>,
    pub osdrop: Option<u64>,
    pub usrdeliv: Option<u64>,
}

/// A packet read from the file.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub interface: u32,
    /// The interface's description; `None` when the section declared no such one.
    pub iface: Option<Interface>,
    /// Timestamp in the interface's units (`if_tsresol`).
    pub ts_units: u64,
    pub orig_len: u32,
    pub direction: Direction,
    /// Frames lost before this one (`epb_dropcount`, or the obsolete block's field).
    pub drops: u32,
    pub data: &'a [u8],
}

pub struct Reader {
    input: Box<dyn Read + Send>,
    big_endian: bool,
    /// The interfaces of the current section.
    interfaces: Vec<Interface>,
    /// Every interface of the file, across sections.
    table: Interfaces,
    /// The last statistics block of each interface that had one, by id.
    stats: Vec<IfStats>,
    body: Vec<u8>,
}

/// What [`Reader::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    Packet(Packet<'a>),
    /// A block that carries no packet (headers, statistics, name resolution, ...).
    Other,
    End,
}

impl Reader {
    /// `input` is positioned at the start of the first section header block; each
    /// interface description met is added to `table`.
    pub fn new(input: Box<dyn Read + Send>, table: Interfaces) -> Self {
        Self {
            input,
            big_endian: false,
            interfaces: Vec::new(),
            table,
            stats: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// The last statistics block read for each interface that had one.
    pub fn stats(&self) -> &[IfStats] {
        &self.stats
    }

    fn dword(&self, b: &[u8]) -> Option<u64> {
        let b = b.get(..8)?;
        let (hi, lo) = (
            u64::from(self.word(&b[0..4])),
            u64::from(self.word(&b[4..8])),
        );
        Some((hi << 32) | lo)
    }

    /// A 64-bit count option: pcapng writes it in the section's byte order, whole.
    fn count(&self, b: &[u8]) -> Option<u64> {
        let b: [u8; 8] = b.get(..8)?.try_into().ok()?;
        Some(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    fn word(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    fn half(&self, b: &[u8]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        }
    }

    /// Reads the next block. `Err` carries the message for a file that ends abnormally.
    pub fn next_block(&mut self) -> Result<Next<'_>, String> {
        let mut head = [0u8; 8];
        match read_full(&mut *self.input, &mut head) {
            Ok(0) => return Ok(Next::End),
            Ok(8) => {}
            Ok(n) => return Err(format!("truncated block header ({n} of 8 bytes)")),
            Err(e) => return Err(format!("read error: {e}")),
        }
        let raw_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if raw_type == SHB {
            // The byte order of this and every later block comes from the magic.
            let mut magic = [0u8; 4];
            match read_full(&mut *self.input, &mut magic) {
                Ok(4) => {}
                Ok(_) => return Err("truncated section header".into()),
                Err(e) => return Err(format!("read error: {e}")),
            }
            self.big_endian = match u32::from_le_bytes(magic) {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => return Err(format!("section header with byte-order magic {m:#010x}")),
            };
            self.interfaces.clear();
            let len = self.word(&head[4..8]);
            self.read_body(len, 4)?;
            return Ok(Next::Other);
        }
        let block_type = self.word(&head[0..4]);
        let len = self.word(&head[4..8]);
        self.read_body(len, 0)?;
        let body = &self.body;
        match block_type {
            IDB if body.len() >= 8 => {
                let link = LinkType::from_linktype(u32::from(self.half(&body[0..2])));
                let (mut tsresol, mut name) = (6, String::new());
                for (code, v) in self.options(&body[8..]) {
                    match code {
                        2 => name = String::from_utf8_lossy(v).trim_end_matches('\0').into(),
                        9 if !v.is_empty() => tsresol = v[0],
                        _ => {}
                    }
                }
                let id = self.table.add(&name);
                self.interfaces.push(Interface { link, tsresol, id });
                Ok(Next::Other)
            }
            ISB if body.len() >= 12 => {
                let Some(iface) = self.interfaces.get(self.word(&body[0..4]) as usize) else {
                    return Ok(Next::Other);
                };
                let ns = |units: Option<u64>| units.map(|u| units_to_ns(u, iface.tsresol));
                let mut st = IfStats {
                    id: iface.id,
                    ts_ns: units_to_ns(self.dword(&body[4..12]).unwrap_or(0), iface.tsresol),
                    ..IfStats::default()
                };
                for (code, v) in self.options(&body[12..]) {
                    match code {
                        2 => st.start_ns = ns(self.dword(v)),
                        3 => st.end_ns = ns(self.dword(v)),
                        4 => st.ifrecv = self.count(v),
                        5 => st.ifdrop = self.count(v),
                        6 => st.filteraccept = self.count(v),
                        7 => st.osdrop = self.count(v),
                        8 => st.usrdeliv = self.count(v),
                        _ => {}
                    }
                }
                match self.stats.iter_mut().find(|s| s.id == st.id) {
                    Some(old) => *old = st,
                    None => self.stats.push(st),
                }
                Ok(Next::Other)
            }
            // The enhanced packet block and the obsolete packet block share a layout
            // but for the interface field (32 bits; 16 bits and a drop count) and name
            // their flags option (epb_flags, pack_flags) with the same code and bits.
            EPB | OBSOLETE_PB if body.len() >= 20 => {
                let (interface, mut drops) = if block_type == EPB {
                    (self.word(&body[0..4]), 0)
                } else {
                    (
                        u32::from(self.half(&body[0..2])),
                        u32::from(self.half(&body[2..4])),
                    )
                };
                let ts =
                    (u64::from(self.word(&body[4..8])) << 32) | u64::from(self.word(&body[8..12]));
                let cap = self.word(&body[12..16]) as usize;
                let orig_len = self.word(&body[16..20]);
                let data = body
                    .get(20..20 + cap)
                    .ok_or_else(|| format!("packet block claims {cap} bytes it does not hold"))?;
                let opts = body.get(20 + cap.next_multiple_of(4)..).unwrap_or(&[]);
                let mut flags = None;
                for (code, v) in self.options(opts) {
                    match code {
                        2 if v.len() >= 4 => flags = Some(self.word(v)),
                        4 => {
                            let n = self.count(v).unwrap_or(0);
                            drops = u32::try_from(n).unwrap_or(u32::MAX);
                        }
                        _ => {}
                    }
                }
                let direction = match flags.map(|f| f & 3) {
                    Some(1) => Direction::In,
                    Some(2) => Direction::Out,
                    _ => Direction::Unknown,
                };
                Ok(Next::Packet(Packet {
                    interface,
                    iface: self.interfaces.get(interface as usize).copied(),
                    ts_units: ts,
                    orig_len,
                    direction,
                    drops,
                    data,
                }))
            }
            SPB if body.len() >= 4 => {
                let orig_len = self.word(&body[0..4]);
                let cap = (orig_len as usize).min(body.len() - 4);
                Ok(Next::Packet(Packet {
                    interface: 0,
                    iface: self.interfaces.first().copied(),
                    ts_units: 0,
                    orig_len,
                    direction: Direction::Unknown,
                    drops: 0,
                    data: &body[4..4 + cap],
                }))
            }
            IDB | ISB | EPB | SPB | OBSOLETE_PB => Err(format!(
                "block of type {block_type} too short ({} bytes)",
                body.len()
            )),
            _ => Ok(Next::Other),
        }
    }

    /// Reads the rest of a block of `total` bytes, of which `8 + already` were read,
    /// into `self.body` (without the trailing length).
    fn read_body(&mut self, total: u32, already: usize) -> Result<(), String> {
        if total < 12 + already as u32 || !total.is_multiple_of(4) || total > MAX_BLOCK {
            return Err(format!("bad block length {total}"));
        }
        let rest = total as usize - 8 - already;
        self.body.resize(rest, 0);
        match read_full(&mut *self.input, &mut self.body) {
            Ok(n) if n == rest => {}
            Ok(n) => return Err(format!("block cut short: {n} of {rest} bytes present")),
            Err(e) => return Err(format!("read error: {e}")),
        }
        // The trailing copy of the length is not checked: tcpdump does not either.
        self.body.truncate(rest - 4);
        Ok(())
    }

    /// The options in `b` as (code, value); stops at end-of-options, at the end of the
    /// block (the marker is optional, as for tcpdump), or at an option cut short.
    fn options<'b>(&'b self, mut b: &'b [u8]) -> impl Iterator<Item = (u16, &'b [u8])> + 'b {
        std::iter::from_fn(move || {
            if b.len() < 4 {
                return None;
            }
            let code = self.half(&b[0..2]);
            let len = usize::from(self.half(&b[2..4]));
            if code == 0 {
                return None;
            }
            let value = b.get(4..4 + len)?;
            b = b.get(4 + len.next_multiple_of(4)..).unwrap_or(&[]);
            Some((code, value))
        })
    }
}

/// Converts pcapng timestamp units to nanoseconds: `if_tsresol` is a power of 10, or
/// of 2 when its top bit is set.
pub fn units_to_ns(units: u64, resol: u8) -> u64 {
    let (base2, exp) = (resol & 0x80 != 0, u32::from(resol & 0x7f));
    if base2 {
        let exp = exp.min(63);
        ((u128::from(units) * 1_000_000_000) >> exp) as u64
    } else if exp <= 9 {
        units.saturating_mul(10u64.pow(9 - exp))
    } else {
        units / 10u64.pow((exp - 9).min(19))
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
pub fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.resize(8 + body.len().next_multiple_of(4), 0);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    fn file(shb_options: &[u8], epb_flags: Option<u32>) -> Vec<u8> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        shb.extend_from_slice(shb_options);
        let mut idb = vec![1, 0, 0, 0, 0, 0, 4, 0];
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        let mut epb = Vec::new();
        for v in [0u32, 0, 1_500_000_000, 4, 60] {
            epb.extend_from_slice(&v.to_le_bytes());
        }
        epb.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        if let Some(f) = epb_flags {
            epb.extend_from_slice(&[2, 0, 4, 0]);
            epb.extend_from_slice(&f.to_le_bytes());
            epb.extend_from_slice(&[0, 0, 0, 0]);
        }
        [block(SHB, &shb), block(IDB, &idb), block(EPB, &epb)].concat()
    }

    fn first_packet(bytes: Vec<u8>) -> (Vec<Interface>, u64, u32, Direction, Vec<u8>) {
        let mut r = Reader::new(Box::new(io::Cursor::new(bytes)), Interfaces::default());
        loop {
            match r.next_block().expect("readable") {
                Next::Packet(p) => {
                    let (ts, len, dir, data) =
                        (p.ts_units, p.orig_len, p.direction, p.data.to_vec());
                    return (r.interfaces().to_vec(), ts, len, dir, data);
                }
                Next::Other => {}
                Next::End => panic!("no packet"),
            }
        }
    }

    #[test]
    fn reads_a_section_whose_options_lack_the_end_marker_and_the_direction_flag() {
        // shb_userappl "x" with no opt_endofopt after it, as in ospf-sr.pcapng.
        let (ifaces, ts, len, dir, data) =
            first_packet(file(&[4, 0, 1, 0, b'x', 0, 0, 0], Some(1)));
        assert_eq!(
            ifaces,
            [Interface {
                link: LinkType::from_linktype(1),
                tsresol: 9,
                id: 0,
            }]
        );
        assert_eq!((ts, len, dir), (1_500_000_000, 60, Direction::In));
        assert_eq!(data, [0xaa, 0xbb, 0xcc, 0xdd]);
        let (.., dir, _) = first_packet(file(&[], Some(2)));
        assert_eq!(dir, Direction::Out);
        let (.., dir, _) = first_packet(file(&[], None));
        assert_eq!(dir, Direction::Unknown);
    }

    #[test]
    fn bad_lengths_end_the_file_with_a_message() {
        let mut bytes = file(&[], None);
        bytes.truncate(bytes.len() - 6);
        let mut r = Reader::new(Box::new(io::Cursor::new(bytes)), Interfaces::default());
        let mut err = None;
        for _ in 0..4 {
            match r.next_block() {
                Ok(Next::End) => break,
                Ok(_) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(err.is_some_and(|e| e.contains("cut short")));
        let mut huge = file(&[], None);
        huge[4..8].copy_from_slice(&(MAX_BLOCK + 4).to_le_bytes());
        let mut r = Reader::new(Box::new(io::Cursor::new(huge)), Interfaces::default());
        assert!(r.next_block().is_err());
    }

    #[test]
    fn pcapng_resolutions() {
        assert_eq!(units_to_ns(5, 6), 5_000);
        assert_eq!(units_to_ns(5, 9), 5);
        assert_eq!(units_to_ns(1 << 10, 0x80 | 10), 1_000_000_000);
    }
}
