//! Ethernet II header (IEEE 802.3 with an EtherType / length field).
use super::{array, be16, EtherType};

/// Length of the header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

mod field {
    pub const DESTINATION: usize = 0;
    pub const SOURCE: usize = 6;
    pub const ETHERTYPE: usize = 12;
}

/// A view over an Ethernet II frame whose 14-byte header is present.
#[derive(Clone, Copy, Debug)]
pub struct EthernetFrame<'a> {
    buf: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// `None` when the buffer is shorter than the header.
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= HEADER_LEN).then_some(Self { buf })
    }

    pub fn destination(&self) -> [u8; 6] {
        array(self.buf, field::DESTINATION)
    }

    pub fn source(&self) -> [u8; 6] {
        array(self.buf, field::SOURCE)
    }

    /// The EtherType / length field as on the wire (big-endian).
    pub fn ethertype_raw(&self) -> u16 {
        be16(self.buf, field::ETHERTYPE)
    }

    pub fn ethertype(&self) -> EtherType {
        self.ethertype_raw().into()
    }

    /// Everything after the header, to the end of the capture (padding included).
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }

    pub fn info(&self) -> EthernetInfo {
        EthernetInfo {
            dst: self.destination(),
            src: self.source(),
            ethertype: self.ethertype_raw(),
        }
    }
}

/// The decoded Ethernet header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EthernetInfo {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// The outer EtherType field as on the wire (may be a VLAN TPID or an 802.3 length).
    pub ethertype: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    static FRAME: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // ARP
        0xaa, 0xbb,
    ];

    #[test]
    fn fields() {
        let f = EthernetFrame::new_checked(&FRAME).expect("valid test data");
        assert_eq!(f.destination(), [0xff; 6]);
        assert_eq!(f.source(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn short_is_none() {
        assert!(EthernetFrame::new_checked(&FRAME[..13]).is_none());
        assert!(EthernetFrame::new_checked(&FRAME[..14]).is_some());
    }
}
