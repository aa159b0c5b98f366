//! IPv4 header (RFC 791).
//!
//! The view reads the 20-byte fixed header and nothing else: it does not reject an
//! IHL under 5, a wrong version or a bad checksum, because the `turtle` format prints
//! such headers as the seed program reads them. [`decode`](super::decode) is the place
//! that judges them.
use std::net::Ipv4Addr;

use super::{array, be16, IpProtocol};

/// The fixed header, without options.
pub const MIN_HEADER_LEN: usize = 20;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC_ADDR: usize = 12;
    pub const DST_ADDR: usize = 16;
}

/// A view over an IPv4 packet whose 20-byte fixed header is present.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= MIN_HEADER_LEN).then_some(Self { buf })
    }

    pub fn version(&self) -> u8 {
        self.buf[field::VER_IHL] >> 4
    }
    /// Internet header length in 32-bit words, as on the wire (may be under 5).
    pub fn ihl(&self) -> u8 {
        self.buf[field::VER_IHL] & 0x0f
    }
    /// Header length in bytes (`ihl * 4`).
    pub fn header_len(&self) -> usize {
        self.ihl() as usize * 4
    }
    /// DSCP and ECN together (the old type-of-service byte).
    pub fn tos(&self) -> u8 {
        self.buf[field::DSCP_ECN]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buf, field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buf, field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.buf, field::FLG_OFF) & 0x4000 != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buf, field::FLG_OFF) & 0x2000 != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf, field::FLG_OFF) & 0x1fff
    }
    pub fn ttl(&self) -> u8 {
        self.buf[field::TTL]
    }
    pub fn protocol_raw(&self) -> u8 {
        self.buf[field::PROTOCOL]
    }
    pub fn protocol(&self) -> IpProtocol {
        self.protocol_raw().into()
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, field::CHECKSUM)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf, field::SRC_ADDR))
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf, field::DST_ADDR))
    }
    /// The captured option bytes (empty when IHL <= 5).
    pub fn options(&self) -> &'a [u8] {
        let end = self.header_len().min(self.buf.len());
        self.buf.get(MIN_HEADER_LEN..end).unwrap_or(&[])
    }

    pub fn info(&self) -> Ipv4Info {
        Ipv4Info {
            ihl: self.ihl(),
            tos: self.tos(),
            total_len: self.total_len(),
            ident: self.ident(),
            dont_frag: self.dont_frag(),
            more_frags: self.more_frags(),
            frag_offset: self.frag_offset(),
            ttl: self.ttl(),
            protocol: self.protocol_raw(),
            checksum: self.checksum(),
            src: self.src_addr(),
            dst: self.dst_addr(),
        }
    }
}

/// The decoded IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    pub ihl: u8,
    pub tos: u8,
    pub total_len: u16,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In 8-byte units.
    pub frag_offset: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Ipv4Info {
    /// True for any fragment (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER: [u8; 24] = [
        0x46, 0x10, 0x00, 0x30, 0x12, 0x34, 0x20, 0x05, 0x40, 0x06, 0xab, 0xcd, //
        192, 168, 1, 1, 10, 0, 0, 2, 0x01, 0x01, 0x01, 0x00,
    ];

    #[test]
    fn fields() {
        let p = Ipv4Packet::new_checked(&HEADER).expect("valid test data");
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 6);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.tos(), 0x10);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 5);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Tcp);
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.info().is_fragment());
    }

    #[test]
    fn lax_header_length() {
        let mut h = HEADER;
        h[0] = 0x42; // IHL 2: read, not rejected
        let p = Ipv4Packet::new_checked(&h).expect("valid test data");
        assert_eq!(p.header_len(), 8);
        assert!(p.options().is_empty());
        h[0] = 0x4f; // IHL 15 but only 24 bytes captured
        let p = Ipv4Packet::new_checked(&h).expect("valid test data");
        assert_eq!(p.options().len(), 4);
        assert!(Ipv4Packet::new_checked(&HEADER[..19]).is_none());
    }
}
