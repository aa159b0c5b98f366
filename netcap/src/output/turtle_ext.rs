//! The `turtle-ext` format: the `turtle` layout, extended past the seed's IPv4-only
//! decoding. For a plain Ethernet/IPv4 frame its output is the `turtle` output, byte for
//! byte; it adds these lines (tabs as in `turtle`, `P` values byte-swapped like the
//! seed's Ethernet `Protocol`):
//!
//! ```text
//! VLAN tag (after the Ethernet line, one block per tag, outermost first):
//! \t - VLAN Tag:
//! \t\t - Priority: 0, DEI: 0, ID: 5, Protocol: 8
//! ARP:
//! \t - ARP Packet:
//! \t\t - Hardware Type: 1, Protocol Type: 2048, Operation: 1
//! \t\t - Sender MAC: 02:00:00:00:00:01, Sender IP: 10.0.0.1        (Ethernet/IPv4 ARP only)
//! \t\t - Target MAC: 00:00:00:00:00:00, Target IP: 10.0.0.2
//! IPv6:
//! \t - IPv6 Packet:
//! \t\t - Version: 6, Traffic Class: 0, Flow Label: 0, Hop Limit: 64
//! \t\t - Next Header: 0, Source: fe80::1, Target: ff02::1
//! \t\t - Extension Header: 0, Length: 8                    (one per extension header)
//! then, by the last next header: the TCP / UDP sections of `turtle`, an ICMPv6 section
//! (the ICMP section titled `ICMPv6 Packet:`), a non-first fragment or another protocol
//! as `\t - Data:` with a DATA_TAB_2 block.
//! ```
//!
//! Other link types start with their own title instead of `Ethernet Frame:`:
//! `Linux Cooked Frame:` with `\t - Packet Type: In, Address: 00:11:22:33:44:55,
//! Protocol: 8` for Linux SLL v1/v2, and `Raw IP Frame:` for raw IPv4/IPv6 links, then
//! the same sections. Unknown link types print `turtle`'s "not decoded" line.
//!
//! Data blocks run to the end of the captured frame, as in `turtle`. Headers cut short
//! print `turtle`'s truncation line, with `<HEADER>` also one of `VLAN` (4), `ARP` (8,
//! plus the address lines only when all 28 bytes are there), `IPv6` (40), `IPv6
//! extension` (2, or 8 for a fragment header), `ICMPv6` (4), and `Linux SLL` (16 or 20).
use super::turtle::{
    data_block, ethernet_lines, icmp_section, ipv4_section, not_ethernet, tcp_section, truncated,
    udp_section, DATA_TAB_2, TAB_1, TAB_2,
};
use super::{push_ipv4, push_ipv6, push_mac, push_u64, Printer};
use crate::decode::arp::ArpPacket;
use crate::decode::ipv6::{self, ExtHeader, Ipv6Packet, MAX_EXT_HEADERS};
use crate::decode::sll::{self, SllInfo};
use crate::decode::vlan::{self, VlanHeader};
use crate::decode::{Decoded, EtherType, IpProtocol};
use crate::packet::{Frame, LinkType};

/// Most VLAN tags printed; the decoder's bound.
const MAX_VLAN_TAGS: usize = 8;

/// The `turtle-ext` printer (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct TurtleExt;

impl Printer for TurtleExt {
    fn print(&mut self, frame: &Frame<'_>, _decoded: &Decoded, out: &mut Vec<u8>) {
        let data = frame.data;
        match frame.meta.link {
            LinkType::Ethernet => {
                if let Some(eth) = ethernet_lines(out, data) {
                    ethertype_sections(out, eth.ethertype_raw(), eth.payload());
                }
            }
            LinkType::LinuxSll | LinkType::LinuxSll2 => {
                out.extend_from_slice(b"\nLinux Cooked Frame:\n");
                let (info, len) = if frame.meta.link == LinkType::LinuxSll {
                    (SllInfo::parse_v1(data), sll::V1_HEADER_LEN)
                } else {
                    (SllInfo::parse_v2(data), sll::V2_HEADER_LEN)
                };
                let Some(s) = info else {
                    return truncated(out, "Linux SLL", len, data.len());
                };
                out.extend_from_slice(TAB_1);
                out.extend_from_slice(b"Packet Type: ");
                out.extend_from_slice(s.packet_type_str().as_bytes());
                out.extend_from_slice(b", Address: ");
                push_mac(out, s.address(), true);
                out.extend_from_slice(b", Protocol: ");
                push_u64(out, s.protocol.swap_bytes().into());
                out.push(b'\n');
                ethertype_sections(out, s.protocol, &data[len..]);
            }
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
                out.extend_from_slice(b"\nRaw IP Frame:\n");
                match data.first().map(|b| b >> 4) {
                    Some(6) => ipv6_section(out, data),
                    _ => ipv4_section(out, data),
                }
            }
            LinkType::Unknown(_) => not_ethernet(out, frame.meta.link),
        }
    }
}

/// VLAN tags, then the network layer named by the innermost EtherType.
fn ethertype_sections(out: &mut Vec<u8>, mut ethertype: u16, mut rest: &[u8]) {
    let mut tags = 0;
    while EtherType::from(ethertype).is_vlan() && tags < MAX_VLAN_TAGS {
        let Some(h) = VlanHeader::new_checked(rest) else {
            return truncated(out, "VLAN", vlan::HEADER_LEN, rest.len());
        };
        out.extend_from_slice(TAB_1);
        out.extend_from_slice(b"VLAN Tag:\n");
        out.extend_from_slice(TAB_2);
        out.extend_from_slice(b"Priority: ");
        push_u64(out, h.pcp().into());
        out.extend_from_slice(if h.dei() { b", DEI: 1" } else { b", DEI: 0" });
        out.extend_from_slice(b", ID: ");
        push_u64(out, h.vid().into());
        out.extend_from_slice(b", Protocol: ");
        push_u64(out, h.ethertype_raw().swap_bytes().into());
        out.push(b'\n');
        ethertype = h.ethertype_raw();
        rest = h.payload();
        tags += 1;
    }
    match EtherType::from(ethertype) {
        EtherType::Ipv4 => ipv4_section(out, rest),
        EtherType::Ipv6 => ipv6_section(out, rest),
        EtherType::Arp => arp_section(out, rest),
        _ => {}
    }
}

fn arp_section(out: &mut Vec<u8>, b: &[u8]) {
    let Some(p) = ArpPacket::new_checked(b) else {
        return truncated(out, "ARP", 8, b.len());
    };
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"ARP Packet:\n");
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Hardware Type: ");
    push_u64(out, p.hardware_type().into());
    out.extend_from_slice(b", Protocol Type: ");
    push_u64(out, p.protocol_type().into());
    out.extend_from_slice(b", Operation: ");
    push_u64(out, p.operation().into());
    out.push(b'\n');
    let info = p.info();
    if info.eth_ipv4 {
        for (what, mac, ip) in [
            (&b"Sender"[..], info.sha, info.spa),
            (&b"Target"[..], info.tha, info.tpa),
        ] {
            out.extend_from_slice(TAB_2);
            out.extend_from_slice(what);
            out.extend_from_slice(b" MAC: ");
            push_mac(out, &mac, true);
            out.extend_from_slice(b", ");
            out.extend_from_slice(what);
            out.extend_from_slice(b" IP: ");
            push_ipv4(out, ip);
            out.push(b'\n');
        }
    } else if p.is_eth_ipv4() {
        truncated(out, "ARP", p.total_len(), b.len());
    }
}

fn ipv6_section(out: &mut Vec<u8>, b: &[u8]) {
    let Some(p) = Ipv6Packet::new_checked(b) else {
        return truncated(out, "IPv6", ipv6::HEADER_LEN, b.len());
    };
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"IPv6 Packet:\n");
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Version: ");
    push_u64(out, p.version().into());
    out.extend_from_slice(b", Traffic Class: ");
    push_u64(out, p.traffic_class().into());
    out.extend_from_slice(b", Flow Label: ");
    push_u64(out, p.flow_label().into());
    out.extend_from_slice(b", Hop Limit: ");
    push_u64(out, p.hop_limit().into());
    out.push(b'\n');
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Next Header: ");
    push_u64(out, p.next_header_raw().into());
    out.extend_from_slice(b", Source: ");
    push_ipv6(out, p.src_addr());
    out.extend_from_slice(b", Target: ");
    push_ipv6(out, p.dst_addr());
    out.push(b'\n');
    let mut next = p.next_header();
    let mut rest = &b[ipv6::HEADER_LEN..];
    let mut later_fragment = false;
    let mut walked = 0;
    while ipv6::is_ext_header(next) && walked < MAX_EXT_HEADERS {
        let Some(e) = ExtHeader::new_checked(next, rest) else {
            let need = if next == IpProtocol::Ipv6Frag {
                ipv6::FRAG_HEADER_LEN
            } else {
                2
            };
            return truncated(out, "IPv6 extension", need, rest.len());
        };
        out.extend_from_slice(TAB_2);
        out.extend_from_slice(b"Extension Header: ");
        push_u64(out, u8::from(next).into());
        out.extend_from_slice(b", Length: ");
        push_u64(out, e.header_len() as u64);
        out.push(b'\n');
        if e.fragment().is_some_and(|f| f.offset != 0) {
            later_fragment = true;
        }
        let Some(after) = rest.get(e.header_len()..) else {
            return truncated(out, "IPv6 extension", e.header_len(), rest.len());
        };
        next = e.next_header();
        rest = after;
        walked += 1;
    }
    match next {
        _ if later_fragment => other_data(out, rest),
        IpProtocol::Tcp => tcp_section(out, rest),
        IpProtocol::Udp => udp_section(out, rest),
        IpProtocol::Icmpv6 => icmp_section(out, rest, "ICMPv6"),
        _ => other_data(out, rest),
    }
}

fn other_data(out: &mut Vec<u8>, rest: &[u8]) {
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"Data:\n");
    data_block(out, DATA_TAB_2, rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::turtle::Turtle;

    fn print(p: &mut dyn Printer, link: LinkType, data: &[u8]) -> String {
        crate::output::render(p, link, 0, data)
    }

    #[test]
    fn ipv4_frames_print_as_turtle() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2, 0, 53, 0, 53, 0, 8, 0, 0, 0, 0]);
        let e = print(&mut TurtleExt, LinkType::Ethernet, &f);
        assert_eq!(e, print(&mut Turtle, LinkType::Ethernet, &f));
    }

    #[test]
    fn vlan_arp() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        let e = print(&mut TurtleExt, LinkType::Ethernet, &f);
        assert!(e.contains("\t - VLAN Tag:\n\t\t - Priority: 0, DEI: 0, ID: 5, Protocol: 1544\n"));
        assert!(e.contains("\t\t - Sender MAC: 02:00:00:00:00:01, Sender IP: 10.0.0.1\n"));
        assert!(e.ends_with("\t\t - Target MAC: 00:00:00:00:00:00, Target IP: 10.0.0.2\n"));
        let cut = print(&mut TurtleExt, LinkType::Ethernet, &f[..30]);
        assert!(cut.ends_with("\t ! truncated: ARP header needs 28 bytes, 12 captured\n"));
    }

    #[test]
    fn raw_ipv6_icmpv6() {
        let mut p = vec![0x60, 0, 0, 0, 0, 8, 58, 255];
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[128, 0, 0, 1, 0, 7, 0, 9]);
        let e = print(&mut TurtleExt, LinkType::Raw, &p);
        assert!(e.starts_with("\nRaw IP Frame:\n\t - IPv6 Packet:\n"));
        assert!(e.contains("Source: fe80::1, Target: ff02::1\n\t - ICMPv6 Packet:\n"));
        assert!(e.ends_with("\t\t\t   \\x00\\x07\\x00\\x09\n"));
        for n in 0..44 {
            let e = print(&mut TurtleExt, LinkType::Raw, &p[..n]);
            assert!(e.contains("! truncated"), "{n}: {e}");
        }
    }
}
