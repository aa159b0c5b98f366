//! ARP (RFC 826). Addresses are decoded for the Ethernet/IPv4 case (hardware length 6,
//! protocol length 4); other sizes keep only the fixed fields.
use std::net::Ipv4Addr;

use super::{array, be16};

/// The fixed part: hardware type .. operation.
pub const FIXED_LEN: usize = 8;
/// Fixed part plus two Ethernet and two IPv4 addresses.
pub const ETH_IPV4_LEN: usize = 28;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// A view over an ARP packet whose fixed part is present.
#[derive(Clone, Copy, Debug)]
pub struct ArpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> ArpPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= FIXED_LEN).then_some(Self { buf })
    }

    pub fn hardware_type(&self) -> u16 {
        be16(self.buf, field::HTYPE)
    }
    pub fn protocol_type(&self) -> u16 {
        be16(self.buf, field::PTYPE)
    }
    pub fn hardware_len(&self) -> u8 {
        self.buf[field::HLEN]
    }
    pub fn protocol_len(&self) -> u8 {
        self.buf[field::PLEN]
    }
    pub fn operation(&self) -> u16 {
        be16(self.buf, field::OPER)
    }

    /// True when the addresses are Ethernet and IPv4 sized.
    pub fn is_eth_ipv4(&self) -> bool {
        self.hardware_len() == 6 && self.protocol_len() == 4
    }

    /// Bytes the whole packet needs, from its length fields.
    pub fn total_len(&self) -> usize {
        FIXED_LEN + 2 * (self.hardware_len() as usize + self.protocol_len() as usize)
    }

    /// The decoded packet; addresses are zero unless Ethernet/IPv4 and fully captured.
    pub fn info(&self) -> ArpInfo {
        let mut info = ArpInfo {
            htype: self.hardware_type(),
            ptype: self.protocol_type(),
            hlen: self.hardware_len(),
            plen: self.protocol_len(),
            oper: self.operation(),
            ..ArpInfo::default()
        };
        if self.is_eth_ipv4() && self.buf.len() >= ETH_IPV4_LEN {
            info.eth_ipv4 = true;
            info.sha = array(self.buf, field::SHA);
            info.spa = Ipv4Addr::from(array::<4>(self.buf, field::SPA));
            info.tha = array(self.buf, field::THA);
            info.tpa = Ipv4Addr::from(array::<4>(self.buf, field::TPA));
        }
        info
    }
}

/// The decoded ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpInfo {
    pub htype: u16,
    pub ptype: u16,
    pub hlen: u8,
    pub plen: u8,
    /// 1 request, 2 reply (3/4 RARP).
    pub oper: u16,
    /// True when the four addresses below were decoded.
    pub eth_ipv4: bool,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl Default for ArpInfo {
    fn default() -> Self {
        Self {
            htype: 0,
            ptype: 0,
            hlen: 0,
            plen: 0,
            oper: 0,
            eth_ipv4: false,
            sha: [0; 6],
            spa: Ipv4Addr::UNSPECIFIED,
            tha: [0; 6],
            tpa: Ipv4Addr::UNSPECIFIED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // fixed
        0x02, 0, 0, 0, 0, 1, 10, 0, 0, 1, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 0, 2, // target
    ];

    #[test]
    fn request() {
        let p = ArpPacket::new_checked(&REQUEST).expect("valid test data");
        assert_eq!(p.total_len(), 28);
        let i = p.info();
        assert!(i.eth_ipv4);
        assert_eq!(i.oper, 1);
        assert_eq!(i.sha, [2, 0, 0, 0, 0, 1]);
        assert_eq!(i.spa, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(i.tpa, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn cut_addresses_stay_zero() {
        let i = ArpPacket::new_checked(&REQUEST[..20])
            .expect("valid test data")
            .info();
        assert!(!i.eth_ipv4);
        assert_eq!(i.oper, 1);
        assert!(ArpPacket::new_checked(&REQUEST[..7]).is_none());
    }
}
