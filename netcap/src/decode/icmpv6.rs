//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages (RFC 4861) netcap names.
//!
//! The header layout is ICMP's; this file holds the ICMPv6 numbers and the view of the
//! neighbor solicitation / advertisement target address.
use std::net::Ipv6Addr;

use super::array;

pub const DEST_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;

mod field {
    /// Target address of a neighbor solicitation / advertisement.
    pub const ND_TARGET: usize = 8;
}

/// The target address of a neighbor solicitation or advertisement, when captured.
pub fn nd_target(msg_type: u8, icmp: &[u8]) -> Option<Ipv6Addr> {
    let is_nd = msg_type == NEIGHBOR_SOLICIT || msg_type == NEIGHBOR_ADVERT;
    (is_nd && icmp.len() >= field::ND_TARGET + 16)
        .then(|| Ipv6Addr::from(array::<16>(icmp, field::ND_TARGET)))
}

/// tcpdump-like name of an ICMPv6 type, `None` for the rarer ones.
pub fn type_name(msg_type: u8) -> Option<&'static str> {
    Some(match msg_type {
        DEST_UNREACHABLE => "destination unreachable",
        PACKET_TOO_BIG => "packet too big",
        TIME_EXCEEDED => "time exceeded in-transit",
        PARAM_PROBLEM => "parameter problem",
        ECHO_REQUEST => "echo request",
        ECHO_REPLY => "echo reply",
        130 => "multicast listener query",
        131 => "multicast listener report",
        132 => "multicast listener done",
        ROUTER_SOLICIT => "router solicitation",
        ROUTER_ADVERT => "router advertisement",
        NEIGHBOR_SOLICIT => "neighbor solicitation",
        NEIGHBOR_ADVERT => "neighbor advertisement",
        137 => "redirect",
        143 => "multicast listener report v2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbor_solicitation_target() {
        let mut b = [0u8; 24];
        b[0] = NEIGHBOR_SOLICIT;
        b[8] = 0xfe;
        b[9] = 0x80;
        b[23] = 2;
        let t = nd_target(NEIGHBOR_SOLICIT, &b).expect("valid test data");
        assert_eq!(t, "fe80::2".parse::<Ipv6Addr>().expect("valid test data"));
        assert_eq!(nd_target(ECHO_REQUEST, &b), None);
        assert_eq!(nd_target(NEIGHBOR_SOLICIT, &b[..23]), None);
        assert_eq!(type_name(135), Some("neighbor solicitation"));
        assert_eq!(type_name(250), None);
    }
}
