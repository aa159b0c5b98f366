//! ICMP for IPv4 (RFC 792). The same 4-byte layout (type, code, checksum) and the
//! 4-byte "rest of header" serve ICMPv6 too; see [`icmpv6`](super::icmpv6) for its names.
use super::{be16, be32};

/// Type, code, checksum.
pub const MIN_HEADER_LEN: usize = 4;
/// With the 4-byte rest of header (identifier and sequence for echo).
pub const HEADER_LEN: usize = 8;

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const REDIRECT: u8 = 5;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const REST: usize = 4;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
}

/// A view over an ICMP or ICMPv6 message whose first 4 bytes are present.
#[derive(Clone, Copy, Debug)]
pub struct IcmpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> IcmpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= MIN_HEADER_LEN).then_some(Self { buf })
    }

    pub fn msg_type(&self) -> u8 {
        self.buf[field::TYPE]
    }
    pub fn msg_code(&self) -> u8 {
        self.buf[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, field::CHECKSUM)
    }
    /// The rest-of-header word, when captured.
    pub fn rest_of_header(&self) -> Option<u32> {
        (self.buf.len() >= HEADER_LEN).then(|| be32(self.buf, field::REST))
    }
    /// Echo identifier, when captured.
    pub fn echo_ident(&self) -> Option<u16> {
        (self.buf.len() >= HEADER_LEN).then(|| be16(self.buf, field::ECHO_IDENT))
    }
    /// Echo sequence number, when captured.
    pub fn echo_seq_no(&self) -> Option<u16> {
        (self.buf.len() >= HEADER_LEN).then(|| be16(self.buf, field::ECHO_SEQNO))
    }
    /// Everything after type, code and checksum (what the turtle format prints).
    pub fn data(&self) -> &'a [u8] {
        &self.buf[MIN_HEADER_LEN..]
    }

    pub fn info(&self) -> IcmpInfo {
        IcmpInfo {
            msg_type: self.msg_type(),
            code: self.msg_code(),
            checksum: self.checksum(),
            rest: self.rest_of_header(),
        }
    }
}

/// A decoded ICMP or ICMPv6 header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IcmpInfo {
    pub msg_type: u8,
    pub code: u8,
    pub checksum: u16,
    /// The rest-of-header word, when captured.
    pub rest: Option<u32>,
}

impl IcmpInfo {
    /// Identifier and sequence number, read from the rest of header.
    pub fn echo_id_seq(&self) -> Option<(u16, u16)> {
        self.rest.map(|r| ((r >> 16) as u16, r as u16))
    }
}

/// tcpdump-like name of an ICMPv4 type/code, `None` for the rarer ones.
pub fn type_name(msg_type: u8, code: u8) -> Option<&'static str> {
    Some(match (msg_type, code) {
        (ECHO_REPLY, _) => "echo reply",
        (ECHO_REQUEST, _) => "echo request",
        (DEST_UNREACHABLE, 0) => "net unreachable",
        (DEST_UNREACHABLE, 1) => "host unreachable",
        (DEST_UNREACHABLE, 2) => "protocol unreachable",
        (DEST_UNREACHABLE, 3) => "port unreachable",
        (DEST_UNREACHABLE, 4) => "need to frag",
        (DEST_UNREACHABLE, _) => "unreachable",
        (REDIRECT, _) => "redirect",
        (TIME_EXCEEDED, 0) => "time exceeded in-transit",
        (TIME_EXCEEDED, _) => "ip reassembly time exceeded",
        (13, _) => "time stamp request",
        (14, _) => "time stamp reply",
        (9, _) => "router advertisement",
        (10, _) => "router solicitation",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request() {
        let b = [8, 0, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x02, 0xaa];
        let p = IcmpPacket::new_checked(&b).expect("valid test data");
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0xf7fd);
        assert_eq!(p.echo_ident(), Some(1));
        assert_eq!(p.echo_seq_no(), Some(2));
        assert_eq!(p.data(), &[0, 1, 0, 2, 0xaa]);
        assert_eq!(p.info().echo_id_seq(), Some((1, 2)));
        assert_eq!(type_name(8, 0), Some("echo request"));
    }

    #[test]
    fn short() {
        let p = IcmpPacket::new_checked(&[3, 3, 0, 0, 1]).expect("valid test data");
        assert_eq!(p.rest_of_header(), None);
        assert!(IcmpPacket::new_checked(&[3, 3, 0]).is_none());
    }
}
