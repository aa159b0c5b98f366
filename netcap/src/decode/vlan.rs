//! IEEE 802.1Q / 802.1ad VLAN tag: the 4 bytes after a TPID (0x8100, 0x88a8, 0x9100).
//!
//! The view starts at the Tag Control Information, right after the TPID that announced
//! it, so a stack of tags is walked by repeating: read TPID, view the next 4 bytes.
use super::{be16, EtherType};

/// TCI plus the encapsulated EtherType.
pub const HEADER_LEN: usize = 4;

mod field {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
}

/// A view over one VLAN tag (TCI, inner EtherType).
#[derive(Clone, Copy, Debug)]
pub struct VlanHeader<'a> {
    buf: &'a [u8],
}

impl<'a> VlanHeader<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= HEADER_LEN).then_some(Self { buf })
    }

    pub fn tci(&self) -> u16 {
        be16(self.buf, field::TCI)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    pub fn ethertype_raw(&self) -> u16 {
        be16(self.buf, field::ETHERTYPE)
    }

    pub fn ethertype(&self) -> EtherType {
        self.ethertype_raw().into()
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

/// One decoded tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VlanTag {
    /// The TPID that announced the tag (0x8100, 0x88a8, 0x9100).
    pub tpid: u16,
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
    /// The EtherType that follows the tag.
    pub ethertype: u16,
}

impl VlanTag {
    pub fn from_header(tpid: u16, h: &VlanHeader<'_>) -> Self {
        Self {
            tpid,
            pcp: h.pcp(),
            dei: h.dei(),
            vid: h.vid(),
            ethertype: h.ethertype_raw(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tci_fields() {
        // PCP 5, DEI 1, VID 0x123, then IPv4.
        let b = [0xb1, 0x23, 0x08, 0x00, 0x45];
        let h = VlanHeader::new_checked(&b).expect("valid test data");
        assert_eq!(h.pcp(), 5);
        assert!(h.dei());
        assert_eq!(h.vid(), 0x123);
        assert_eq!(h.ethertype(), EtherType::Ipv4);
        assert_eq!(h.payload(), &[0x45]);
        let t = VlanTag::from_header(0x8100, &h);
        assert_eq!((t.tpid, t.vid, t.ethertype), (0x8100, 0x123, 0x0800));
    }

    #[test]
    fn short_is_none() {
        assert!(VlanHeader::new_checked(&[0, 1, 2]).is_none());
    }
}
