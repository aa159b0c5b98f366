//! Linux "cooked" capture headers: `LINKTYPE_LINUX_SLL` (v1, 16 bytes) and
//! `LINKTYPE_LINUX_SLL2` (v2, 20 bytes), as libpcap writes them.
use super::{array, be16, be32};

/// v1: packet type, ARPHRD type, address length, 8 address bytes, protocol.
pub const V1_HEADER_LEN: usize = 16;
/// v2: protocol, reserved, ifindex, ARPHRD type, packet type, address length, address.
pub const V2_HEADER_LEN: usize = 20;

mod field {
    pub mod v1 {
        pub const PACKET_TYPE: usize = 0;
        pub const HATYPE: usize = 2;
        pub const HALEN: usize = 4;
        pub const ADDR: usize = 6;
        pub const PROTOCOL: usize = 14;
    }
    pub mod v2 {
        pub const PROTOCOL: usize = 0;
        pub const IFINDEX: usize = 4;
        pub const HATYPE: usize = 8;
        pub const PACKET_TYPE: usize = 10;
        pub const HALEN: usize = 11;
        pub const ADDR: usize = 12;
    }
}

/// The decoded cooked header of either version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SllInfo {
    /// 1 or 2.
    pub version: u8,
    /// 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us.
    pub packet_type: u16,
    /// ARPHRD_* type of the device.
    pub hatype: u16,
    /// Valid bytes of `addr` (at most 8 are kept).
    pub addr_len: u8,
    pub addr: [u8; 8],
    /// The protocol field: an EtherType for most devices.
    pub protocol: u16,
    /// Interface index (v2 only, 0 for v1).
    pub ifindex: u32,
}

impl SllInfo {
    /// The valid link-layer address bytes.
    pub fn address(&self) -> &[u8] {
        &self.addr[..(self.addr_len as usize).min(8)]
    }

    /// Reads a v1 header; `None` if shorter than [`V1_HEADER_LEN`].
    pub fn parse_v1(b: &[u8]) -> Option<Self> {
        use field::v1::*;
        (b.len() >= V1_HEADER_LEN).then(|| Self {
            version: 1,
            packet_type: be16(b, PACKET_TYPE),
            hatype: be16(b, HATYPE),
            addr_len: be16(b, HALEN).min(8) as u8,
            addr: array(b, ADDR),
            protocol: be16(b, PROTOCOL),
            ifindex: 0,
        })
    }

    /// Reads a v2 header; `None` if shorter than [`V2_HEADER_LEN`].
    pub fn parse_v2(b: &[u8]) -> Option<Self> {
        use field::v2::*;
        (b.len() >= V2_HEADER_LEN).then(|| Self {
            version: 2,
            packet_type: u16::from(b[PACKET_TYPE]),
            hatype: be16(b, HATYPE),
            addr_len: b[HALEN].min(8),
            addr: array(b, ADDR),
            protocol: be16(b, PROTOCOL),
            ifindex: be32(b, IFINDEX),
        })
    }

    /// Name of the packet type, as tcpdump prints it.
    pub fn packet_type_str(&self) -> &'static str {
        match self.packet_type {
            0 => "In",
            1 => "B",
            2 => "M",
            3 => "P",
            4 => "Out",
            _ => "?",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1() {
        let b = [
            0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00, 0x45,
        ];
        let s = SllInfo::parse_v1(&b).expect("valid test data");
        assert_eq!(s.packet_type, 4);
        assert_eq!(s.packet_type_str(), "Out");
        assert_eq!(s.hatype, 1);
        assert_eq!(s.address(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(s.protocol, 0x0800);
        assert!(SllInfo::parse_v1(&b[..15]).is_none());
    }

    #[test]
    fn v2() {
        let b = [
            0x86, 0xdd, 0, 0, 0, 0, 0, 7, 0x00, 0x01, 0x00, 0x06, 1, 2, 3, 4, 5, 6, 0, 0, 0x60,
        ];
        let s = SllInfo::parse_v2(&b).expect("valid test data");
        assert_eq!(s.protocol, 0x86dd);
        assert_eq!(s.ifindex, 7);
        assert_eq!(s.packet_type, 0);
        assert_eq!(s.address(), &[1, 2, 3, 4, 5, 6]);
        assert!(SllInfo::parse_v2(&b[..19]).is_none());
    }
}
