//! UDP header (RFC 768).
use super::be16;

pub const HEADER_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A view over a UDP datagram whose 8-byte header is present.
#[derive(Clone, Copy, Debug)]
pub struct UdpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= HEADER_LEN).then_some(Self { buf })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buf, field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, field::DST_PORT)
    }
    /// The length field: header plus data, in bytes.
    pub fn len(&self) -> u16 {
        be16(self.buf, field::LENGTH)
    }
    /// True when the length field says zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, field::CHECKSUM)
    }
    /// Everything after the header, to the end of the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }

    pub fn info(&self) -> UdpInfo {
        UdpInfo {
            sport: self.src_port(),
            dport: self.dst_port(),
            length: self.len(),
            checksum: self.checksum(),
        }
    }
}

/// The decoded UDP header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpInfo {
    pub sport: u16,
    pub dport: u16,
    pub length: u16,
    pub checksum: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let b = [0x00, 0x35, 0xc0, 0x01, 0x00, 0x0a, 0x12, 0x34, 0xde, 0xad];
        let u = UdpPacket::new_checked(&b).expect("valid test data");
        assert_eq!(u.src_port(), 53);
        assert_eq!(u.dst_port(), 0xc001);
        assert_eq!(u.len(), 10);
        assert_eq!(u.checksum(), 0x1234);
        assert_eq!(u.payload(), &[0xde, 0xad]);
        assert!(UdpPacket::new_checked(&b[..7]).is_none());
    }
}
