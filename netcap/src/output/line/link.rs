//! `-e`: the Ethernet header as tcpdump's `ether_print` writes it before the rest:
//!
//! ```text
//! 00:1b:21:3c:4d:5e > 02:aa:bb:cc:dd:ee, ethertype 802.1Q (0x8100), length 64: vlan 5, p 0, ethertype IPv4 (0x0800), 10.0.0.1 > ...
//! ```
//!
//! and Linux cooked captures' as `sll_print` and `sll2_print` write them (` In
//! 00:00:00:00:00:00 ethertype IPv4 (0x0800), length 68: `). The network layer then
//! leaves out its own name (`IP`, `IP6`, `ARP,`), as tcpdump's printers do under `-e`.
//! Raw IP links have no header to show.
use crate::output::{push_mac, push_u64, HEX_LOWER};
use crate::packet::Frame;

/// tcpdump's `ethertype_values` (print-ether.c), first match wins as in its `tok2str`.
const ETHERTYPES: [(u16, &str); 54] = [
    (0x0800, "IPv4"),
    (0x8847, "MPLS unicast"),
    (0x8848, "MPLS multicast"),
    (0x86dd, "IPv6"),
    (0x8100, "802.1Q"),
    (0x9100, "802.1Q-9100"),
    (0x88a8, "802.1Q-QinQ"),
    (0x9200, "802.1Q-9200"),
    (0x88e5, "802.1AE MACsec"),
    (0x9100, "VMAN"),
    (0x0200, "PUP"),
    (0x0806, "ARP"),
    (0x8035, "Reverse ARP"),
    (0x0600, "NS"),
    (0x0500, "Sprite"),
    (0x1000, "Trail"),
    (0x6001, "MOP DL"),
    (0x6002, "MOP RC"),
    (0x6003, "DN"),
    (0x6004, "LAT"),
    (0x6007, "SCA"),
    (0x6558, "TEB"),
    (0x8038, "Lanbridge"),
    (0x803c, "DEC DNS"),
    (0x803e, "DEC DTS"),
    (0x805b, "VEXP"),
    (0x805c, "VPROD"),
    (0x809b, "Appletalk"),
    (0x80f3, "Appletalk ARP"),
    (0x8137, "IPX"),
    (0x880b, "PPP"),
    (0x8808, "MPCP"),
    (0x8809, "Slow Protocols"),
    (0x8863, "PPPoE D"),
    (0x8864, "PPPoE S"),
    (0x888e, "EAPOL"),
    (0x8899, "Realtek protocols"),
    (0x886f, "MS NLB heartbeat"),
    (0x8870, "Jumbo"),
    (0x894f, "NSH"),
    (0x9000, "Loopback"),
    (0xfefe, "OSI"),
    (0x00fe, "GRE-OSI"),
    (0xabcd, "CFM (old)"),
    (0x8902, "CFM"),
    (0x893a, "IEEE1905.1"),
    (0x88cc, "LLDP"),
    (0x88ca, "TIPC"),
    (0x0707, "GeoNet (old)"),
    (0x8947, "GeoNet"),
    (0x1111, "CALM FAST"),
    (0x88a2, "AoE"),
    (0x88f7, "PTP"),
    (0xd28b, "Arista Vendor Specific Protocol"),
];

/// tcpdump's name of an EtherType.
pub(super) fn ethertype_name(t: u16) -> Option<&'static str> {
    ETHERTYPES.iter().find(|(n, _)| *n == t).map(|(_, s)| *s)
}

/// The VLAN tag protocol identifiers tcpdump follows.
const VLAN_TPIDS: [u16; 4] = [0x8100, 0x9100, 0x9200, 0x88a8];

/// Largest value of the length/type field that is a length (IEEE 802.3).
const MAX_LENGTH: u16 = 1500;

/// Appends the Ethernet header of `frame` (`SRC > DST, ethertype NAME (0xNNNN),
/// length N: ` and each VLAN tag; with `-q`, `quick`, the last EtherType's name
/// alone); false when the header is cut short (nothing
/// written: the line then ends with the truncation mark).
pub(super) fn ethernet(out: &mut Vec<u8>, frame: &Frame<'_>, quick: bool) -> bool {
    let b = frame.data;
    if b.len() < 14 {
        return false;
    }
    let be16 = |at: usize| b.get(at..at + 2).map(|v| u16::from_be_bytes([v[0], v[1]]));
    push_mac(out, &b[6..12], false);
    out.extend_from_slice(b" > ");
    push_mac(out, &b[..6], false);
    out.extend_from_slice(b", ");
    // The frame's length follows the first EtherType, a comma the others.
    let mut length_printed = false;
    let mut length = |out: &mut Vec<u8>| {
        if std::mem::replace(&mut length_printed, true) {
            out.extend_from_slice(b", ");
        } else {
            out.extend_from_slice(b", length ");
            push_u64(out, frame.meta.orig_len.into());
            out.extend_from_slice(b": ");
        }
    };
    let name = if quick {
        super::quick::ethertype
    } else {
        ethertype
    };
    let mut at = 12;
    let mut t = be16(at).unwrap_or(0);
    while VLAN_TPIDS.contains(&t) {
        let (Some(tci), Some(next)) = (be16(at + 2), be16(at + 4)) else {
            return true;
        };
        name(out, t);
        length(out);
        out.extend_from_slice(b"vlan ");
        push_u64(out, (tci & 0x0fff).into());
        out.extend_from_slice(b", p ");
        push_u64(out, (tci >> 13).into());
        if tci & 0x1000 != 0 {
            out.extend_from_slice(b", DEI");
        }
        out.extend_from_slice(b", ");
        t = next;
        at += 4;
    }
    if t <= MAX_LENGTH {
        out.extend_from_slice(b"802.3");
    } else {
        name(out, t);
    }
    length(out);
    true
}

/// Appends the Linux cooked capture header (v1, or v2 with `v2`) of `frame` (with
/// `-q`, `quick`, without the protocol and length); false when it is cut short.
pub(super) fn sll(out: &mut Vec<u8>, frame: &Frame<'_>, v2: bool, quick: bool) -> bool {
    let b = frame.data;
    let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    // (address length, address, protocol) offsets.
    let (halen, addr, proto) = if v2 {
        if b.len() < 20 {
            return false;
        }
        out.extend_from_slice(b"ifindex ");
        push_u64(out, u32::from_be_bytes([b[4], b[5], b[6], b[7]]).into());
        out.push(b' ');
        (u16::from(b[11]), 12, 0)
    } else {
        if b.len() < 16 {
            return false;
        }
        let kind: &[u8] = match be16(0) {
            0 => b" In",
            1 => b"  B",
            2 => b"  M",
            3 => b"  P",
            4 => b"Out",
            _ => b"  ?",
        };
        out.extend_from_slice(kind);
        out.push(b' ');
        (be16(4), 6, 14)
    };
    if halen == 6 {
        push_mac(out, &b[addr..addr + 6], false);
        out.push(b' ');
    }
    // tcpdump's `-q`: the direction and address only.
    if quick {
        return true;
    }
    match be16(proto) {
        1 => out.extend_from_slice(b"802.3"),
        4 => out.extend_from_slice(b"802.2"),
        t if t <= MAX_LENGTH => {
            out.extend_from_slice(b"ethertype Unknown (0x");
            hex4(out, t);
            out.push(b')');
        }
        t => ethertype(out, t),
    }
    out.extend_from_slice(b", length ");
    push_u64(out, frame.meta.orig_len.into());
    out.extend_from_slice(b": ");
    true
}

fn hex4(out: &mut Vec<u8>, t: u16) {
    for shift in [12, 8, 4, 0] {
        out.push(HEX_LOWER[((t >> shift) & 15) as usize]);
    }
}

/// `ethertype NAME (0xNNNN)`.
fn ethertype(out: &mut Vec<u8>, t: u16) {
    out.extend_from_slice(b"ethertype ");
    out.extend_from_slice(ethertype_name(t).unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b" (0x");
    hex4(out, t);
    out.push(b')');
}
