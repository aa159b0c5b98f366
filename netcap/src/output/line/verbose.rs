//! `-v` for the line format, as tcpdump 4.99's `-v` prints the network layer:
//!
//! ```text
//! IP (tos 0x0, ttl 64, id 57925, offset 0, flags [DF], proto TCP (6), length 60)
//!     10.0.0.1.1234 > 10.0.0.2.80: Flags [S], cksum 0x1c46 (correct), seq 1, ...
//! IP6 (flowlabel 0x12345, hlim 64, next-header UDP (17) payload length: 40) ...
//! ```
//!
//! The IPv4 header in parentheses (`ip_print`: its options, and `bad cksum` when the
//! header's checksum is wrong), then a new line and four spaces before the rest; the
//! IPv6 header (`ip6_print`) on the same line. The transport checksums tcpdump checks
//! with one `-v` are here too: TCP's (`cksum 0x.... (correct)`, `(incorrect ->
//! 0x....)`), UDP's over IPv6 (`[udp sum ok] `), ICMP's when wrong. Each is checked
//! over the bytes as captured, when the whole segment is there, as tcpdump does.
use std::net::Ipv4Addr;

use crate::decode::ipv4::Ipv4Packet;
use crate::output::{push_ipv4, push_u64, HEX_LOWER};

/// `%x` (at least `width` digits).
pub(super) fn push_hex(out: &mut Vec<u8>, n: u32, width: usize) {
    let digits = (32 - n.leading_zeros())
        .div_ceil(4)
        .max(width as u32)
        .max(1);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[((n >> (4 * i)) & 15) as usize]);
    }
}

/// The one's complement sum of `data` as big-endian 16-bit words (an odd last byte
/// padded with zero), added to `acc`, not yet folded.
pub(super) fn ones_sum(data: &[u8], mut acc: u64) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// tcpdump's `in_cksum`: the complement of the folded sum; 0 when the data (with its
/// checksum field) is correct.
pub(super) fn in_cksum(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// tcpdump's `in_cksum_shouldbe`: the checksum field's right value, from the field
/// (`stored`) and the computed sum over everything.
pub(super) fn shouldbe(stored: u16, computed: u16) -> u16 {
    let mut s = u32::from(stored) + u32::from(computed);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The addresses of a transport checksum's pseudo-header: the source, and the final
/// destination (the last hop of a source route, as tcpdump's `ip_finddst` and
/// `ip6_finddst` take it).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pseudo {
    pub(super) src: [u8; 16],
    pub(super) dst: [u8; 16],
    pub(super) v6: bool,
}

impl Pseudo {
    /// The checksum over the pseudo-header and `data` (the whole segment): 0 when right.
    pub(super) fn check(&self, proto: u8, data: &[u8]) -> u16 {
        let n = if self.v6 { 16 } else { 4 };
        let mut acc = ones_sum(&self.src[..n], 0);
        acc = ones_sum(&self.dst[..n], acc);
        acc += u64::from(proto) + data.len() as u64;
        in_cksum(ones_sum(data, acc))
    }

    /// An IPv4 packet's (`ip` from its first byte, as captured).
    pub(super) fn v4(ip: &[u8]) -> Option<Self> {
        let p = Ipv4Packet::new_checked(ip)?;
        let mut s = Self {
            src: [0; 16],
            dst: [0; 16],
            v6: false,
        };
        s.src[..4].copy_from_slice(&p.src_addr().octets());
        let hlen = p.header_len().min(ip.len());
        let dst = ipv4_final_dst(ip.get(20..hlen).unwrap_or(&[])).unwrap_or(p.dst_addr());
        s.dst[..4].copy_from_slice(&dst.octets());
        Some(s)
    }

    /// An IPv6 packet's (`ip` from its first byte, as captured).
    pub(super) fn v6(ip: &[u8]) -> Option<Self> {
        let mut s = Self {
            src: ip.get(8..24)?.try_into().ok()?,
            dst: ip.get(24..40)?.try_into().ok()?,
            v6: true,
        };
        if let Some(d) = ipv6_final_dst(ip) {
            s.dst = d;
        }
        Some(s)
    }
}

/// The last address of a loose or strict source route among IPv4 options.
fn ipv4_final_dst(mut opts: &[u8]) -> Option<Ipv4Addr> {
    while let Some(&kind) = opts.first() {
        let len = match kind {
            0 => return None,
            1 => 1,
            _ => *opts.get(1)? as usize,
        };
        if len < 2 && kind != 1 {
            return None;
        }
        let opt = opts.get(..len)?;
        if matches!(kind, 131 | 137) && len >= 7 {
            let a = &opt[len - 4..];
            return Some(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        }
        opts = &opts[len..];
    }
    None
}

/// The final destination of an IPv6 routing header (type 0: its last address; type
/// 4, segment routing: its first segment), past hop-by-hop, destination options and
/// fragment headers, as tcpdump's `ip6_finddst`.
fn ipv6_final_dst(ip: &[u8]) -> Option<[u8; 16]> {
    let mut nh = *ip.get(6)?;
    let mut at = 40;
    loop {
        let h = ip.get(at..)?;
        match nh {
            0 | 60 | 62 | 135 => {
                at += (*h.get(1)? as usize + 1) * 8;
                nh = *h.first()?;
            }
            44 => {
                at += 8;
                nh = *h.first()?;
            }
            43 => {
                let (len, kind) = (*h.get(1)? as usize, *h.get(2)?);
                if len % 2 == 1 {
                    return None;
                }
                let addr = match kind {
                    0 if len >= 2 => h.get(8 + (len / 2 - 1) * 16..8 + (len / 2) * 16)?,
                    4 => h.get(8..24)?,
                    _ => return None,
                };
                return addr.try_into().ok();
            }
            _ => return None,
        }
    }
}

/// tcpdump's `ipproto_values`: the names `-v` gives IP protocols.
pub(super) fn proto_name(p: u8) -> &'static str {
    match p {
        0 => "Options",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        8 => "EGP",
        9 => "IGRP",
        17 => "UDP",
        33 => "DCCP",
        41 => "IPv6",
        43 => "Routing",
        44 => "Fragment",
        46 => "RSVP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        55 => "Mobile IP",
        58 => "ICMPv6",
        62 => "Mobile IP (old)",
        88 => "EIGRP",
        89 => "OSPF",
        103 => "PIM",
        108 => "Compressed IP",
        112 => "VRRP",
        113 => "PGM",
        132 => "SCTP",
        135 => "Mobility",
        143 => "Ethernet",
        _ => "unknown",
    }
}

/// How the IPv4 header's text ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum V4 {
    /// `(...)` and the new line written: the rest follows.
    Done,
    /// An option cut short by the capture (` [truncated-option]`): the caller writes
    /// `SRC > DST: ` and the ` [|ip]` mark.
    OptionCut,
    /// The capture ended inside the options where tcpdump reads a byte it must have:
    /// the line ends with ` [|ip]` (written).
    Cut,
}

/// The IPv4 header as `ip_print` with `-v` writes it after `IP `: `ip` from the
/// header's first byte, as captured and cut at the packet's total length; at least
/// 20 bytes, and the header length at least 20 (the caller checked both).
pub(super) fn ipv4(out: &mut Vec<u8>, ip: &[u8]) -> V4 {
    let Some(p) = Ipv4Packet::new_checked(ip) else {
        return V4::Cut;
    };
    let tos = p.tos();
    out.extend_from_slice(b"(tos 0x");
    push_hex(out, tos.into(), 1);
    out.extend_from_slice(match tos & 3 {
        1 => b",ECT(1)",
        2 => b",ECT(0)",
        3 => b",CE",
        _ => b"",
    });
    if p.ttl() >= 1 {
        out.extend_from_slice(b", ttl ");
        push_u64(out, p.ttl().into());
    }
    out.extend_from_slice(b", id ");
    push_u64(out, p.ident().into());
    out.extend_from_slice(b", offset ");
    push_u64(out, u64::from(p.frag_offset()) * 8);
    out.extend_from_slice(b", flags [");
    let off = u16::from_be_bytes([ip[6], ip[7]]);
    let mut sep = false;
    for (bit, name) in [(0x2000, "+"), (0x4000, "DF"), (0x8000, "rsvd")] {
        if off & bit != 0 {
            if sep {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(name.as_bytes());
            sep = true;
        }
    }
    if !sep {
        out.extend_from_slice(b"none");
    }
    out.extend_from_slice(b"], proto ");
    let proto = p.protocol_raw();
    out.extend_from_slice(proto_name(proto).as_bytes());
    out.extend_from_slice(b" (");
    push_u64(out, proto.into());
    out.extend_from_slice(b"), length ");
    push_u64(out, p.total_len().into());
    let hlen = p.header_len();
    let mut end = V4::Done;
    if hlen > 20 {
        out.extend_from_slice(b", options (");
        match super::ipopt::print(
            out,
            ip.get(20..hlen.min(ip.len())).unwrap_or(&[]),
            hlen - 20,
        ) {
            Ok(()) => {}
            Err(super::ipopt::Cut::Option) => {
                out.extend_from_slice(b" [truncated-option]");
                end = V4::OptionCut;
            }
            Err(super::ipopt::Cut::Packet) => {
                out.extend_from_slice(b" [|ip]");
                return V4::Cut;
            }
        }
        out.push(b')');
    }
    if let Some(header) = ip.get(..hlen) {
        let sum = in_cksum(ones_sum(header, 0));
        if sum != 0 {
            let stored = p.checksum();
            out.extend_from_slice(b", bad cksum ");
            push_hex(out, stored.into(), 1);
            out.extend_from_slice(b" (->");
            push_hex(out, shouldbe(stored, sum).into(), 1);
            out.extend_from_slice(b")!");
        }
    }
    out.extend_from_slice(b")\n    ");
    end
}

/// `-v`'s IPv4 header for [`super::Line`]: `header` the packet as captured (cut at its
/// total length), `a` its addresses. The transport's checksum pseudo-header (`None`
/// in a fragment, where tcpdump checks none), or `None` when the line is finished.
pub(super) fn ipv4_line(
    out: &mut Vec<u8>,
    header: &[u8],
    a: super::Addrs,
    more_frags: bool,
) -> Option<Option<Pseudo>> {
    match ipv4(out, header) {
        V4::Done => Some(Pseudo::v4(header).filter(|_| !more_frags)),
        V4::OptionCut => {
            super::addr(out, a, true, None);
            out.extend_from_slice(b" > ");
            super::addr(out, a, false, None);
            out.extend_from_slice(b":  [|ip]");
            None
        }
        V4::Cut => None,
    }
}

/// The IPv6 header as `ip6_print` with `-v` writes it after `IP6 `: `ip` from the
/// header's first byte (40 bytes or more).
pub(super) fn ipv6(out: &mut Vec<u8>, ip: &[u8]) {
    let Some(h) = ip.get(..40) else {
        return;
    };
    let flow = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    out.push(b'(');
    if flow & 0x0ff0_0000 != 0 {
        out.extend_from_slice(b"class 0x");
        push_hex(out, (flow & 0x0ff0_0000) >> 20, 2);
        out.extend_from_slice(b", ");
    }
    if flow & 0x000f_ffff != 0 {
        out.extend_from_slice(b"flowlabel 0x");
        push_hex(out, flow & 0x000f_ffff, 5);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(b"hlim ");
    push_u64(out, h[7].into());
    out.extend_from_slice(b", next-header ");
    out.extend_from_slice(proto_name(h[6]).as_bytes());
    out.extend_from_slice(b" (");
    push_u64(out, h[6].into());
    out.extend_from_slice(b") payload length: ");
    push_u64(out, u16::from_be_bytes([h[4], h[5]]).into());
    out.extend_from_slice(b") ");
}

/// One IPv6 hop-by-hop or destination option under `-v` (`ip6_opt_process`), `o`
/// from its type byte to its end: `(pad1)`, `(padn)`, `(rtalert: 0x0000) `,
/// `(homeaddr: ADDR)`, `(opt_type 0x.. len=N)`. (Jumbo payloads are the caller's.)
pub(super) fn ip6_option(out: &mut Vec<u8>, o: &[u8]) {
    match o {
        [0, ..] => out.extend_from_slice(b"(pad1)"),
        [1, ..] => out.extend_from_slice(b"(padn)"),
        [5, _, a, b, ..] => {
            out.extend_from_slice(b"(rtalert: 0x");
            push_hex(out, u16::from_be_bytes([*a, *b]).into(), 4);
            out.extend_from_slice(b") ");
        }
        [0xc9, _, rest @ ..] if rest.len() >= 16 => {
            out.extend_from_slice(b"(homeaddr: ");
            let mut a = [0u8; 16];
            a.copy_from_slice(&rest[..16]);
            crate::output::push_ipv6(out, a.into());
            out.push(b')');
        }
        [kind, len, ..] => {
            out.extend_from_slice(b"(opt_type 0x");
            push_hex(out, (*kind).into(), 2);
            out.extend_from_slice(b": len=");
            push_u64(out, (*len).into());
            out.push(b')');
        }
        _ => {}
    }
}

/// TCP's checksum over `seg` (from its first byte to the IP packet's captured end),
/// when there is a pseudo-header (`-v`, no fragment) and the whole segment (`wire`
/// bytes) was captured: 0 when right.
pub(super) fn tcp_sum(p: Option<Pseudo>, seg: Option<&[u8]>, wire: Option<usize>) -> Option<u16> {
    let seg = seg?;
    Some(p?.check(6, seg.get(..wire.unwrap_or(seg.len()))?))
}

/// TCP's `, cksum 0x1234 (correct)` or `(incorrect -> 0x5678)`.
pub(super) fn tcp_cksum(out: &mut Vec<u8>, stored: u16, computed: u16) {
    out.extend_from_slice(b", cksum 0x");
    push_hex(out, stored.into(), 4);
    if computed == 0 {
        out.extend_from_slice(b" (correct)");
    } else {
        out.extend_from_slice(b" (incorrect -> 0x");
        push_hex(out, shouldbe(stored, computed).into(), 4);
        out.push(b')');
    }
}

/// UDP's `[udp sum ok] ` or `[bad udp cksum 0x1234 -> 0x5678!] `.
pub(super) fn udp_cksum(out: &mut Vec<u8>, stored: u16, computed: u16) {
    if computed == 0 {
        out.extend_from_slice(b"[udp sum ok] ");
    } else {
        out.extend_from_slice(b"[bad udp cksum 0x");
        push_hex(out, stored.into(), 4);
        out.extend_from_slice(b" -> 0x");
        push_hex(out, shouldbe(stored, computed).into(), 4);
        out.extend_from_slice(b"!] ");
    }
}

/// A reset's data as `print_tcp_rst_data`: ` [RST text]` (`[!RST` when the capture
/// cut it, `[RST+` past 30 bytes), the bytes as `fn_print_char` shows them.
pub(super) fn rst_data(out: &mut Vec<u8>, data: &[u8], length: usize) {
    const MAX: usize = 30;
    out.extend_from_slice(if data.len() >= length {
        b" [RST"
    } else {
        b" [!RST"
    });
    if length > MAX {
        out.push(b'+');
    }
    out.push(b' ');
    for &c in data.iter().take(length.min(MAX)) {
        push_char(out, c);
    }
    out.push(b']');
}

/// tcpdump's `fn_print_char`: `M-` for the high bit, `^` for a control character.
pub(super) fn push_char(out: &mut Vec<u8>, mut c: u8) {
    if c & 0x80 != 0 {
        c &= 0x7f;
        out.extend_from_slice(b"M-");
    }
    if !(0x20..=0x7e).contains(&c) {
        c ^= 0x40;
        out.push(b'^');
    }
    out.push(c);
}

/// An IPv4 address from 4 bytes.
pub(super) fn push_v4(out: &mut Vec<u8>, a: &[u8]) {
    if let [a, b, c, d, ..] = *a {
        push_ipv4(out, Ipv4Addr::new(a, b, c, d));
    }
}

#[cfg(test)]
#[path = "verbose_tests.rs"]
mod tests;
