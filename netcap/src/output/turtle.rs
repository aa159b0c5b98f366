//! The `turtle` format: the seed's "turtle sniffer" dump, byte for byte.
//!
//! The layout is specified in `shared/spec/turtle-format.md`; the oracle is
//! `shared/reference/turtle_reference.py`, and `tests/golden.rs` compares this printer
//! with outputs it made. The seed's quirks are kept on purpose:
//!
//! - the EtherType is printed byte-swapped (`socket.htons`), so IPv4 shows `8`, and only
//!   EtherType 0x0800 is decoded further;
//! - data blocks run from the start of the layer's payload to the end of the *captured*
//!   frame, so Ethernet padding shows up as data;
//! - the IPv4 header length and TCP data offset slice the data as Python does: an IHL
//!   of 2 puts the payload at byte 8 of the IP header, an offset past the end gives an
//!   empty payload;
//! - data is `\xNN` text cut at 74 characters, through escapes; an empty payload prints
//!   one empty line.
//!
//! # Where the seed crashes
//!
//! The seed program raises on frames too short for the header it parses. netcap prints
//! the lines it could, then one line of this exact form, and goes on with the next frame:
//!
//! ```text
//! \t ! truncated: <HEADER> header needs <N> bytes, <M> captured
//! ```
//!
//! (a tab, a space, `!`, a space, ...), where `<HEADER>` is `Ethernet` (N = 14), `IPv4`
//! (20), `ICMP` (4), `TCP` (14: the seed reads only ports .. flags) or `UDP` (8), and
//! `<M>` is the number of bytes the seed's slicing left for that header. A frame cut
//! inside the Ethernet header prints `Ethernet Frame:` and then this line.
//!
//! # Other link types
//!
//! The seed reads Ethernet only. A frame of another link type prints an empty line and
//!
//! ```text
//! \t ! not decoded: link type <N> is not Ethernet
//! ```
//!
//! where `<N>` is the pcap `LINKTYPE_*` number. `turtle-ext` decodes those links.
use super::{push_ipv4, push_mac, push_u64, Printer, HEX_ESCAPE};
use crate::decode::{ethernet::EthernetFrame, icmp::IcmpPacket, ipv4::Ipv4Packet, Decoded};
use crate::packet::{Frame, LinkType};

pub(crate) const TAB_1: &[u8] = b"\t - ";
pub(crate) const TAB_2: &[u8] = b"\t\t - ";
pub(crate) const TAB_3: &[u8] = b"\t\t\t - ";
pub(crate) const DATA_TAB_2: &[u8] = b"\t\t   ";
pub(crate) const DATA_TAB_3: &[u8] = b"\t\t\t   ";

/// Characters of `\xNN` text per data line: `80 - len(prefix)` rounded down to even,
/// which is 74 for both data prefixes.
const DATA_WIDTH: usize = 74;
/// Input bytes that fill exactly two data lines (2 * 74 / 4).
const PAIR_BYTES: usize = 37;

/// The seed's header sizes (what its `struct.unpack` calls need).
const ETH_NEED: usize = 14;
const IPV4_NEED: usize = 20;
const ICMP_NEED: usize = 4;
const TCP_NEED: usize = 14;
const UDP_NEED: usize = 8;

/// The `turtle` printer (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct Turtle;

impl Printer for Turtle {
    fn print(&mut self, frame: &Frame<'_>, _decoded: &Decoded, out: &mut Vec<u8>) {
        if frame.meta.link != LinkType::Ethernet {
            return not_ethernet(out, frame.meta.link);
        }
        let Some(eth) = ethernet_lines(out, frame.data) else {
            return;
        };
        if eth.ethertype_raw() == 0x0800 {
            ipv4_section(out, eth.payload());
        }
    }
}

/// The marker line for a frame of a link type the format does not decode.
pub(crate) fn not_ethernet(out: &mut Vec<u8>, link: LinkType) {
    out.extend_from_slice(b"\n\t ! not decoded: link type ");
    push_u64(out, link.to_linktype().into());
    out.extend_from_slice(b" is not Ethernet\n");
}

/// The marker line for a header the seed would have crashed on.
pub(crate) fn truncated(out: &mut Vec<u8>, header: &str, need: usize, got: usize) {
    out.extend_from_slice(b"\t ! truncated: ");
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(b" header needs ");
    push_u64(out, need as u64);
    out.extend_from_slice(b" bytes, ");
    push_u64(out, got as u64);
    out.extend_from_slice(b" captured\n");
}

/// `\nEthernet Frame:` and the address line; `None` (after the marker) when cut short.
pub(crate) fn ethernet_lines<'a>(out: &mut Vec<u8>, data: &'a [u8]) -> Option<EthernetFrame<'a>> {
    out.extend_from_slice(b"\nEthernet Frame:\n");
    let Some(eth) = EthernetFrame::new_checked(data) else {
        truncated(out, "Ethernet", ETH_NEED, data.len());
        return None;
    };
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"Destination: ");
    push_mac(out, &eth.destination(), true);
    out.extend_from_slice(b", Source: ");
    push_mac(out, &eth.source(), true);
    out.extend_from_slice(b", Protocol: ");
    push_u64(out, eth.ethertype_raw().swap_bytes().into());
    out.push(b'\n');
    Some(eth)
}

/// The IPv4 section and what follows it, with the seed's slicing.
pub(crate) fn ipv4_section(out: &mut Vec<u8>, ip: &[u8]) {
    let Some(p) = Ipv4Packet::new_checked(ip) else {
        return truncated(out, "IPv4", IPV4_NEED, ip.len());
    };
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"IPv4 Packet:\n");
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Version: ");
    push_u64(out, p.version().into());
    out.extend_from_slice(b", Header Length: ");
    push_u64(out, p.header_len() as u64);
    out.extend_from_slice(b", TTL: ");
    push_u64(out, p.ttl().into());
    out.push(b'\n');
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Protocol: ");
    push_u64(out, p.protocol_raw().into());
    out.extend_from_slice(b", Source: ");
    push_ipv4(out, p.src_addr());
    out.extend_from_slice(b", Target: ");
    push_ipv4(out, p.dst_addr());
    out.push(b'\n');
    // Python's `data[header_len:]`: any IHL, empty when past the end.
    let rest = ip.get(p.header_len()..).unwrap_or(&[]);
    match p.protocol_raw() {
        1 => icmp_section(out, rest, "ICMP"),
        6 => tcp_section(out, rest),
        17 => udp_section(out, rest),
        _ => {
            out.extend_from_slice(TAB_1);
            out.extend_from_slice(b"Data:\n");
            data_block(out, DATA_TAB_2, rest);
        }
    }
}

/// The ICMP section (`name` is `ICMP`, or `ICMPv6` in `turtle-ext`).
pub(crate) fn icmp_section(out: &mut Vec<u8>, seg: &[u8], name: &str) {
    let Some(p) = IcmpPacket::new_checked(seg) else {
        return truncated(out, name, ICMP_NEED, seg.len());
    };
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b" Packet:\n");
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Type: ");
    push_u64(out, p.msg_type().into());
    out.extend_from_slice(b", Code: ");
    push_u64(out, p.msg_code().into());
    out.extend_from_slice(b", Checksum: ");
    push_u64(out, p.checksum().into());
    out.push(b'\n');
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Data:\n");
    data_block(out, DATA_TAB_3, p.data());
}

/// The TCP section, reading only the 14 bytes the seed unpacks.
pub(crate) fn tcp_section(out: &mut Vec<u8>, seg: &[u8]) {
    if seg.len() < TCP_NEED {
        return truncated(out, "TCP", TCP_NEED, seg.len());
    }
    let be16 = |o: usize| u16::from_be_bytes([seg[o], seg[o + 1]]);
    let be32 = |o: usize| u32::from_be_bytes([seg[o], seg[o + 1], seg[o + 2], seg[o + 3]]);
    let orf = be16(12);
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"TCP Segment:\n");
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Source Port: ");
    push_u64(out, be16(0).into());
    out.extend_from_slice(b", Destination Port: ");
    push_u64(out, be16(2).into());
    out.push(b'\n');
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Sequence: ");
    push_u64(out, be32(4).into());
    out.extend_from_slice(b", Acknowledgment: ");
    push_u64(out, be32(8).into());
    out.push(b'\n');
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Flags:\n");
    out.extend_from_slice(TAB_3);
    let bit = |n: u16| if orf & (1 << n) != 0 { b'1' } else { b'0' };
    out.extend_from_slice(&[
        b'U',
        b'R',
        b'G',
        b':',
        b' ',
        bit(5),
        b',',
        b' ', //
        b'A',
        b'C',
        b'K',
        b':',
        b' ',
        bit(4),
        b',',
        b' ', //
        b'P',
        b'S',
        b'H',
        b':',
        b' ',
        bit(3),
        b',',
        b' ', //
        b'R',
        b'S',
        b'T',
        b':',
        b' ',
        bit(2),
        b',',
        b' ', //
        b'S',
        b'Y',
        b'N',
        b':',
        b' ',
        bit(1),
        b',',
        b' ', //
        b'F',
        b'I',
        b'N',
        b':',
        b' ',
        bit(0),
        b'\n',
    ]);
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Data:\n");
    let offset = (orf >> 12) as usize * 4;
    data_block(out, DATA_TAB_3, seg.get(offset..).unwrap_or(&[]));
}

/// The UDP section.
pub(crate) fn udp_section(out: &mut Vec<u8>, seg: &[u8]) {
    if seg.len() < UDP_NEED {
        return truncated(out, "UDP", UDP_NEED, seg.len());
    }
    let be16 = |o: usize| u16::from_be_bytes([seg[o], seg[o + 1]]);
    out.extend_from_slice(TAB_1);
    out.extend_from_slice(b"UDP Segment:\n");
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Source Port: ");
    push_u64(out, be16(0).into());
    out.extend_from_slice(b", Destination Port: ");
    push_u64(out, be16(2).into());
    out.extend_from_slice(b", Length: ");
    push_u64(out, be16(4).into());
    out.push(b'\n');
    out.extend_from_slice(TAB_2);
    out.extend_from_slice(b"Data:\n");
    data_block(out, DATA_TAB_3, &seg[UDP_NEED..]);
}

/// Writes `data` as `\xNN` text in lines of [`DATA_WIDTH`] characters, each after
/// `prefix`; an empty `data` writes one empty line (Python's `print('')`).
///
/// The output size is known up front, so the buffer grows once and is filled in place;
/// 37 input bytes make exactly two lines, the second starting mid-escape.
pub(crate) fn data_block(out: &mut Vec<u8>, prefix: &[u8], data: &[u8]) {
    if data.is_empty() {
        out.push(b'\n');
        return;
    }
    let p = prefix.len();
    let chars = data.len() * 4;
    let lines = chars.div_ceil(DATA_WIDTH);
    let start = out.len();
    out.resize(start + chars + lines * (p + 1), 0);
    let dst = &mut out[start..];
    let pair_len = 2 * (p + DATA_WIDTH + 1);
    let mut src = data.chunks_exact(PAIR_BYTES);
    let mut dsts = dst.chunks_exact_mut(pair_len);
    for (s, d) in (&mut src).zip(&mut dsts) {
        // Line 1: prefix, 18 escapes, the first half of escape 19.
        let (line1, line2) = d.split_at_mut(p + DATA_WIDTH + 1);
        line1[..p].copy_from_slice(prefix);
        escape_into(&mut line1[p..p + 72], &s[..18]);
        let mid = &HEX_ESCAPE[s[18] as usize];
        line1[p + 72..].copy_from_slice(&[mid[0], mid[1], b'\n']);
        // Line 2: prefix, the second half of escape 19, 18 escapes.
        line2[..p].copy_from_slice(prefix);
        line2[p..p + 2].copy_from_slice(&mid[2..]);
        escape_into(&mut line2[p + 2..p + 74], &s[19..]);
        line2[p + 74] = b'\n';
    }
    let rest = src.remainder();
    if rest.is_empty() {
        return;
    }
    // Fewer than 37 bytes left: escape them on the stack and cut the text.
    let mut text = [0u8; 4 * PAIR_BYTES];
    escape_into(&mut text[..4 * rest.len()], rest);
    let d = dsts.into_remainder();
    let mut o = 0;
    for line in text[..4 * rest.len()].chunks(DATA_WIDTH) {
        d[o..o + p].copy_from_slice(prefix);
        o += p;
        d[o..o + line.len()].copy_from_slice(line);
        o += line.len();
        d[o] = b'\n';
        o += 1;
    }
}

/// Writes the 4-byte escape of each byte of `src` into `dst` (4 times as long).
#[inline(always)]
fn escape_into(dst: &mut [u8], src: &[u8]) {
    for (d, &b) in dst.chunks_exact_mut(4).zip(src) {
        d.copy_from_slice(&HEX_ESCAPE[b as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's `format_multi_line`, written the slow and obvious way.
    fn naive_block(prefix: &[u8], data: &[u8]) -> Vec<u8> {
        let text: Vec<u8> = data.iter().flat_map(|b| HEX_ESCAPE[*b as usize]).collect();
        let mut out = Vec::new();
        for line in text.chunks(DATA_WIDTH) {
            out.extend_from_slice(prefix);
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        if text.is_empty() {
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn data_block_matches_naive_cutting_for_every_length() {
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for n in 0..data.len() {
            for prefix in [DATA_TAB_2, DATA_TAB_3] {
                let mut out = b"x".to_vec();
                data_block(&mut out, prefix, &data[..n]);
                assert_eq!(out[1..], naive_block(prefix, &data[..n])[..], "n={n}");
            }
        }
    }

    #[test]
    fn data_lines_cut_through_escapes() {
        let mut out = Vec::new();
        data_block(&mut out, DATA_TAB_3, &[0x4e; 19]);
        let text = String::from_utf8(out).expect("ascii");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("\\x4e\\x"));
        assert_eq!(lines[1], "\t\t\t   4e");
    }

    fn print(link: LinkType, data: &[u8]) -> String {
        crate::output::render(&mut Turtle, link, 0, data)
    }

    #[test]
    fn truncation_lines() {
        assert_eq!(
            print(LinkType::Ethernet, &[1, 2, 3]),
            "\nEthernet Frame:\n\t ! truncated: Ethernet header needs 14 bytes, 3 captured\n"
        );
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0]);
        assert!(print(LinkType::Ethernet, &f)
            .ends_with("Protocol: 8\n\t ! truncated: IPv4 header needs 20 bytes, 7 captured\n"));
        f.resize(14 + 20, 0);
        f[14 + 9] = 6;
        f.extend_from_slice(&[0; 13]);
        assert!(print(LinkType::Ethernet, &f)
            .ends_with("\t ! truncated: TCP header needs 14 bytes, 13 captured\n"));
        assert_eq!(
            print(LinkType::LinuxSll, &f),
            "\n\t ! not decoded: link type 113 is not Ethernet\n"
        );
    }
}
