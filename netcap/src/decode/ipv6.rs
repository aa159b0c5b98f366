//! IPv6 header (RFC 8200) and the extension headers netcap walks: hop-by-hop options,
//! routing, fragment, destination options and AH (RFC 4302).
use std::net::Ipv6Addr;

use super::{array, be16, be32, IpProtocol};

pub const HEADER_LEN: usize = 40;
/// Length of the fragment extension header.
pub const FRAG_HEADER_LEN: usize = 8;

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: usize = 8;
    pub const DST_ADDR: usize = 24;

    pub mod ext {
        pub const NXT_HDR: usize = 0;
        pub const LENGTH: usize = 1;
        pub const FRAG_OFF: usize = 2;
        pub const FRAG_IDENT: usize = 4;
    }
}

/// A view over an IPv6 packet whose 40-byte header is present.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= HEADER_LEN).then_some(Self { buf })
    }

    fn word0(&self) -> u32 {
        be32(self.buf, field::VER_TC_FLOW)
    }
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.buf, field::LENGTH)
    }
    pub fn next_header_raw(&self) -> u8 {
        self.buf[field::NXT_HDR]
    }
    pub fn next_header(&self) -> IpProtocol {
        self.next_header_raw().into()
    }
    pub fn hop_limit(&self) -> u8 {
        self.buf[field::HOP_LIMIT]
    }
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buf, field::SRC_ADDR))
    }
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buf, field::DST_ADDR))
    }

    /// The decoded fixed header, with no extension headers walked yet.
    pub fn info(&self) -> Ipv6Info {
        Ipv6Info {
            traffic_class: self.traffic_class(),
            flow_label: self.flow_label(),
            payload_len: self.payload_len(),
            next_header: self.next_header_raw(),
            hop_limit: self.hop_limit(),
            src: self.src_addr(),
            dst: self.dst_addr(),
            exts: [0; MAX_EXT_HEADERS],
            ext_count: 0,
            frag: None,
        }
    }
}

/// True for the next-header values that [`ExtHeader`] walks.
pub fn is_ext_header(proto: IpProtocol) -> bool {
    matches!(
        proto,
        IpProtocol::HopByHop
            | IpProtocol::Ipv6Route
            | IpProtocol::Ipv6Frag
            | IpProtocol::Ipv6Opts
            | IpProtocol::Ah
    )
}

/// A view over one extension header of kind `kind`, whose first 2 bytes are present.
#[derive(Clone, Copy, Debug)]
pub struct ExtHeader<'a> {
    kind: IpProtocol,
    buf: &'a [u8],
}

impl<'a> ExtHeader<'a> {
    /// `None` when fewer than 2 bytes (8 for a fragment header) are present.
    pub fn new_checked(kind: IpProtocol, buf: &'a [u8]) -> Option<Self> {
        let min = if kind == IpProtocol::Ipv6Frag {
            FRAG_HEADER_LEN
        } else {
            2
        };
        (buf.len() >= min).then_some(Self { kind, buf })
    }

    pub fn next_header(&self) -> IpProtocol {
        self.buf[field::ext::NXT_HDR].into()
    }

    /// Length of this header in bytes, from its length field.
    pub fn header_len(&self) -> usize {
        let n = self.buf[field::ext::LENGTH] as usize;
        match self.kind {
            IpProtocol::Ipv6Frag => FRAG_HEADER_LEN,
            IpProtocol::Ah => (n + 2) * 4,
            _ => (n + 1) * 8,
        }
    }

    /// The fragment fields, for a fragment header.
    pub fn fragment(&self) -> Option<Ipv6Frag> {
        (self.kind == IpProtocol::Ipv6Frag).then(|| {
            let off = be16(self.buf, field::ext::FRAG_OFF);
            Ipv6Frag {
                offset: off >> 3,
                more_frags: off & 1 != 0,
                ident: be32(self.buf, field::ext::FRAG_IDENT),
            }
        })
    }
}

/// Most extension header kinds kept per packet; the walk stops after this many.
pub const MAX_EXT_HEADERS: usize = 8;

/// The fragment header fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv6Frag {
    /// In 8-byte units.
    pub offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

/// The decoded IPv6 header and extension header chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Info {
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: u16,
    /// The next-header field of the fixed header.
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Kinds of the extension headers walked, in order; `ext_count` are valid.
    pub exts: [u8; MAX_EXT_HEADERS],
    pub ext_count: u8,
    pub frag: Option<Ipv6Frag>,
}

impl Ipv6Info {
    pub fn ext_headers(&self) -> &[u8] {
        &self.exts[..(self.ext_count as usize).min(MAX_EXT_HEADERS)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER: [u8; 48] = [
        0x61, 0x23, 0x45, 0x67, 0x00, 0x08, 0x2c, 0x40, // ver, tc, flow, len, frag, hop
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, //
        17, 0, 0x00, 0xa9, 0xde, 0xad, 0xbe, 0xef, // fragment: offset 21, M, id
    ];

    #[test]
    fn fields() {
        let p = Ipv6Packet::new_checked(&HEADER).expect("valid test data");
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0x12);
        assert_eq!(p.flow_label(), 0x34567);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), IpProtocol::Ipv6Frag);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(
            p.src_addr(),
            "fe80::1".parse::<Ipv6Addr>().expect("valid test data")
        );
        assert_eq!(
            p.dst_addr(),
            "ff02::2".parse::<Ipv6Addr>().expect("valid test data")
        );
        assert!(Ipv6Packet::new_checked(&HEADER[..39]).is_none());
    }

    #[test]
    fn fragment_header() {
        let e =
            ExtHeader::new_checked(IpProtocol::Ipv6Frag, &HEADER[40..]).expect("valid test data");
        assert_eq!(e.next_header(), IpProtocol::Udp);
        assert_eq!(e.header_len(), 8);
        let f = e.fragment().expect("valid test data");
        assert_eq!((f.offset, f.more_frags, f.ident), (21, true, 0xdeadbeef));
        assert!(ExtHeader::new_checked(IpProtocol::Ipv6Frag, &HEADER[40..47]).is_none());
    }

    #[test]
    fn option_header_lengths() {
        let hbh = [58, 0, 1, 4, 0, 0, 0, 0];
        let e = ExtHeader::new_checked(IpProtocol::HopByHop, &hbh).expect("valid test data");
        assert_eq!(e.header_len(), 8);
        assert_eq!(e.next_header(), IpProtocol::Icmpv6);
        assert!(e.fragment().is_none());
        let ah = [6, 4, 0, 0];
        let e = ExtHeader::new_checked(IpProtocol::Ah, &ah).expect("valid test data");
        assert_eq!(e.header_len(), 24);
        assert!(is_ext_header(IpProtocol::Ipv6Opts));
        assert!(!is_ext_header(IpProtocol::Tcp));
    }
}
