//! TCP header (RFC 9293) and its options (RFC 7323, RFC 2018).
//!
//! The view needs the 20-byte fixed header. `turtle` does not use it: the seed's format
//! unpacks only the first 14 bytes, whatever the data offset says, so
//! `output::turtle::tcp_section` reads those offsets itself.
use super::{be16, be32, Span};

/// The fixed header, without options.
pub const MIN_HEADER_LEN: usize = 20;

pub const FIN: u16 = 0x001;
pub const SYN: u16 = 0x002;
pub const RST: u16 = 0x004;
pub const PSH: u16 = 0x008;
pub const ACK: u16 = 0x010;
pub const URG: u16 = 0x020;
pub const ECE: u16 = 0x040;
pub const CWR: u16 = 0x080;
pub const NS: u16 = 0x100;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ_NUM: usize = 4;
    pub const ACK_NUM: usize = 8;
    pub const FLAGS: usize = 12;
    pub const WIN_SIZE: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// A view over a TCP segment; `new_checked` needs the 20-byte fixed header.
#[derive(Clone, Copy, Debug)]
pub struct TcpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> TcpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= MIN_HEADER_LEN).then_some(Self { buf })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buf, field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, field::DST_PORT)
    }
    pub fn seq_number(&self) -> u32 {
        be32(self.buf, field::SEQ_NUM)
    }
    pub fn ack_number(&self) -> u32 {
        be32(self.buf, field::ACK_NUM)
    }
    /// Data offset in 32-bit words, as on the wire (may be under 5).
    pub fn data_offset(&self) -> u8 {
        self.buf[field::FLAGS] >> 4
    }
    /// Header length in bytes (`data_offset * 4`).
    pub fn header_len(&self) -> usize {
        self.data_offset() as usize * 4
    }
    /// The nine flag bits (NS .. FIN), see the constants in this module.
    pub fn flags(&self) -> u16 {
        be16(self.buf, field::FLAGS) & 0x01ff
    }
    pub fn window_len(&self) -> u16 {
        be16(self.buf, field::WIN_SIZE)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, field::CHECKSUM)
    }
    pub fn urgent_at(&self) -> u16 {
        be16(self.buf, field::URGENT)
    }
    /// The captured option bytes.
    pub fn options(&self) -> &'a [u8] {
        let end = self.header_len().min(self.buf.len());
        self.buf.get(MIN_HEADER_LEN..end).unwrap_or(&[])
    }

    /// The decoded header; `base` is the offset of this segment in the frame, used to
    /// place the options span.
    pub fn info(&self, base: usize) -> TcpInfo {
        TcpInfo {
            sport: self.src_port(),
            dport: self.dst_port(),
            seq: self.seq_number(),
            ack: self.ack_number(),
            data_offset: self.data_offset(),
            flags: self.flags(),
            window: self.window_len(),
            checksum: self.checksum(),
            urgent: self.urgent_at(),
            options: Span::new(base + MIN_HEADER_LEN, self.options().len()),
        }
    }
}

/// The decoded TCP header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub data_offset: u8,
    pub flags: u16,
    pub window: u16,
    pub checksum: u16,
    pub urgent: u16,
    /// Where the captured options are in the frame.
    pub options: Span,
}

/// Writes the flags as tcpdump does (`S`, `S.`, `FP.`, ...): F S R P U E W for
/// FIN SYN RST PSH URG ECE CWR, `.` for ACK, `N` for NS. Returns the length used.
pub fn flags_str(flags: u16, out: &mut [u8; 9]) -> usize {
    const ORDER: [(u16, u8); 9] = [
        (FIN, b'F'),
        (SYN, b'S'),
        (RST, b'R'),
        (PSH, b'P'),
        (URG, b'U'),
        (ECE, b'E'),
        (CWR, b'W'),
        (NS, b'N'),
        (ACK, b'.'),
    ];
    let mut n = 0;
    for (bit, c) in ORDER {
        if flags & bit != 0 {
            out[n] = c;
            n += 1;
        }
    }
    n
}

/// One TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOperation,
    MaxSegmentSize(u16),
    WindowScale(u8),
    SackPermitted,
    /// The raw left/right edge pairs.
    Sack(&'a [u8]),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
    /// A length byte that is missing, under 2 or past the end: iteration stops here.
    Malformed {
        kind: u8,
    },
}

/// Iterates the options in a TCP header's option bytes; stops after the end-of-list
/// option or a malformed one.
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    buf: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = TcpOption<'a>;

    fn next(&mut self) -> Option<TcpOption<'a>> {
        let (&kind, rest) = self.buf.split_first()?;
        match kind {
            0 => {
                self.buf = &[];
                return Some(TcpOption::EndOfList);
            }
            1 => {
                self.buf = rest;
                return Some(TcpOption::NoOperation);
            }
            _ => {}
        }
        let len = match rest.first() {
            Some(&l) if l >= 2 && l as usize <= self.buf.len() => l as usize,
            _ => {
                self.buf = &[];
                return Some(TcpOption::Malformed { kind });
            }
        };
        let data = &self.buf[2..len];
        self.buf = &self.buf[len..];
        Some(match (kind, data.len()) {
            (2, 2) => TcpOption::MaxSegmentSize(be16(data, 0)),
            (3, 1) => TcpOption::WindowScale(data[0]),
            (4, 0) => TcpOption::SackPermitted,
            (5, n) if n % 8 == 0 => TcpOption::Sack(data),
            (8, 8) => TcpOption::Timestamps {
                tsval: be32(data, 0),
                tsecr: be32(data, 4),
            },
            _ => TcpOption::Unknown { kind, data },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SYN_SEGMENT: [u8; 40] = [
        0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        0xa0, 0x02, 0x02, 0x00, 0x12, 0x34, 0x00, 0x00, //
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, //
        0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn fields() {
        let t = TcpPacket::new_checked(&SYN_SEGMENT).expect("valid test data");
        assert_eq!(t.src_port(), 1234);
        assert_eq!(t.dst_port(), 80);
        assert_eq!(t.seq_number(), 1);
        assert_eq!(t.ack_number(), 0);
        assert_eq!(t.data_offset(), 10);
        assert_eq!(t.header_len(), 40);
        assert_eq!(t.flags(), SYN);
        assert_eq!(t.window_len(), 512);
        assert_eq!(t.checksum(), 0x1234);
        assert_eq!(t.options().len(), 20);
        assert_eq!(t.info(34).options, Span::new(54, 20));
    }

    #[test]
    fn options() {
        let t = TcpPacket::new_checked(&SYN_SEGMENT).expect("valid test data");
        let opts: Vec<_> = TcpOptions::new(t.options()).collect();
        assert_eq!(
            opts,
            vec![
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { tsval: 1, tsecr: 0 },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn malformed_options_stop() {
        let opts: Vec<_> = TcpOptions::new(&[1, 2, 9, 0xff]).collect();
        assert_eq!(
            opts,
            vec![TcpOption::NoOperation, TcpOption::Malformed { kind: 2 }]
        );
        let opts: Vec<_> = TcpOptions::new(&[2, 1]).collect();
        assert_eq!(opts, vec![TcpOption::Malformed { kind: 2 }]);
        assert_eq!(TcpOptions::new(&[0, 1, 1]).count(), 1);
    }

    #[test]
    fn flag_letters() {
        let mut b = [0u8; 9];
        let n = flags_str(SYN | ACK, &mut b);
        assert_eq!(&b[..n], b"S.");
        let n = flags_str(FIN | PSH | ACK, &mut b);
        assert_eq!(&b[..n], b"FP.");
        assert_eq!(flags_str(0, &mut b), 0);
    }
}
