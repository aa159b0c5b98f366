//! The `line` format's per-protocol pieces below the frame's own dispatch: UDP and
//! its applications, ARP, the IP addresses and ports, the IP body, ICMP text, and
//! tcpdump's truncation marks.
use super::*;

/// A UDP datagram as tcpdump's `udp_print`: `SRC.PORT > DST.PORT: ` and the length,
/// or the DNS summary on port 53 (and multicast DNS on 5353). `bytes` is the datagram
/// as captured, `length` the IP payload length, `first_fragment` an IP fragment with
/// more to come; `ports_only` when the addresses were printed before IPv6 extension
/// headers. Ends with its own truncation mark.
/// With `-v` (`verbose`), the checksum over IPv6 (`check`) first, NTP and DHCP in full;
/// with `-q` (`quick`), the length alone.
pub(super) fn udp(
    out: &mut Vec<u8>,
    a: Addrs,
    bytes: &[u8],
    (length, first_fragment): (usize, bool),
    (ports_only, quick, (verbose, check)): (bool, bool, (bool, Option<super::verbose::Pseudo>)),
) {
    let be16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(sport), Some(dport)) = (be16(0), be16(2)) else {
        if !ports_only {
            addr(out, a, true, None);
            out.extend_from_slice(b" > ");
            addr(out, a, false, None);
            out.extend_from_slice(b": ");
        }
        out.extend_from_slice(b" [|udp]");
        return;
    };
    ports(out, a, (sport, dport), ports_only);
    if length < 8 {
        out.extend_from_slice(b"truncated-udp ");
        return push_u64(out, length as u64);
    }
    let Some(mut ulen) = be16(4).map(usize::from) else {
        return out.extend_from_slice(b" [|udp]");
    };
    if ulen == 0 && length > 65535 {
        ulen = length;
    }
    if ulen < 8 {
        out.extend_from_slice(b"truncated-udplength ");
        return push_u64(out, ulen as u64);
    }
    let ulen = ulen - 8;
    let length = (length - 8).min(ulen);
    let Some(payload) = bytes.get(8..) else {
        return out.extend_from_slice(b" [|udp]");
    };
    if let (Some(p), Some(whole)) = (check.filter(|p| p.v6), bytes.get(..length + 8)) {
        let stored = be16(6).unwrap_or(0);
        super::verbose::udp_cksum(out, stored, p.check(17, whole));
    }
    // With -q (`quick`), no application's summary: only the length.
    if !quick && super::app::udp(out, (sport, dport), payload, length, verbose) {
        return;
    }
    if !quick && (sport == 53 || dport == 53) {
        return dns::message(out, payload, length, false, verbose);
    }
    if !quick && (sport == 5353 || dport == 5353) {
        return dns::message(out, payload, length, true, verbose);
    }
    if ulen > length && !first_fragment {
        out.extend_from_slice(b"UDP, bad length ");
        push_u64(out, ulen as u64);
        out.extend_from_slice(b" > ");
        push_u64(out, length as u64);
    } else {
        out.extend_from_slice(b"UDP, length ");
        push_u64(out, ulen as u64);
    }
}

/// `SRC.SPORT > DST.DPORT: `, or `SPORT > DPORT: ` after IPv6 extension headers.
pub(super) fn ports(out: &mut Vec<u8>, a: Addrs, (sport, dport): (u16, u16), ports_only: bool) {
    if ports_only {
        push_u64(out, sport.into());
        out.extend_from_slice(b" > ");
        push_u64(out, dport.into());
    } else {
        addr(out, a, true, Some(sport));
        out.extend_from_slice(b" > ");
        addr(out, a, false, Some(dport));
    }
    out.extend_from_slice(b": ");
}

/// The IP layer of a frame, for the transport's text.
#[derive(Clone, Copy)]
pub(super) struct Ip {
    pub(super) addrs: Addrs,
    /// The IP payload length after extension headers, from the IP header when sane.
    pub(super) wire: Option<usize>,
    /// Where the IP packet's captured bytes end in the frame.
    pub(super) cap_end: usize,
    /// A fragment without the transport header (IPv4: any fragment).
    pub(super) frag: bool,
    /// More fragments follow (IPv4's MF bit; IPv6's M flag).
    pub(super) more_frags: bool,
    /// Where the frame's text starts in the output.
    pub(super) line_at: usize,
    /// Where the transport header starts in the frame.
    pub(super) at: usize,
    /// The transport's IP protocol number.
    pub(super) proto: u8,
    /// The IP layer was read whole (no complaint that ends its text).
    pub(super) whole: bool,
    /// The addresses are out already (IPv6 extension headers came first): TCP and UDP
    /// print their ports alone.
    pub(super) ports_only: bool,
    /// IPv6 (ICMP then needs IPv4, and ICMPv6 IPv6).
    pub(super) v6: bool,
    /// With `-v`, outside fragments: the pseudo-header of the transport's checksum.
    pub(super) check: Option<super::verbose::Pseudo>,
}

/// An ARP packet as tcpdump's `arp_print`; `b` from its first byte as captured,
/// `length` what the link layer carries. With `-v` (`verbose`) the hardware and
/// protocol types and lengths always come first, and the addresses follow them even
/// when they are not Ethernet and IPv4 ones.
pub(super) fn arp(out: &mut Vec<u8>, b: &[u8], length: usize, bare: bool, verbose: bool) {
    let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    if b.len() < 8 {
        return out.extend_from_slice(b" [|arp]");
    }
    let (hrd, pro, hln, pln, op) = (be16(0), be16(2), b[4] as usize, b[5] as usize, be16(6));
    if hrd == 19 {
        return atm_arp(out, b, length, bare, verbose);
    }
    let Some(addrs) = b.get(8..8 + 2 * hln + 2 * pln) else {
        return out.extend_from_slice(b" [|arp]");
    };
    if !bare {
        out.extend_from_slice(b"ARP, ");
    }
    let ipv4 = pro == 0x0800 || pro == 0x1000;
    if !ipv4 || pln != 4 || hln == 0 || verbose {
        arp_types(out, hrd, hln, pro, pln);
        if !verbose {
            out.extend_from_slice(b", length ");
            return push_u64(out, length as u64);
        }
        out.extend_from_slice(b", ");
    }
    let (sha, rest) = addrs.split_at(hln);
    let (spa, rest) = rest.split_at(pln);
    let (tha, tpa) = rest.split_at(hln);
    let ip = |out: &mut Vec<u8>, a: &[u8]| match a {
        _ if !ipv4 => out.extend_from_slice(b"<wrong proto type>"),
        [a, b, c, d] => push_ipv4(out, std::net::Ipv4Addr::new(*a, *b, *c, *d)),
        _ => out.extend_from_slice(b"<wrong len>"),
    };
    let mac = |out: &mut Vec<u8>, a: &[u8]| {
        if a.is_empty() {
            out.extend_from_slice(b"<empty>");
        } else {
            push_mac(out, a, false);
        }
    };
    match ARP_OPS.iter().find(|(n, _)| *n == op) {
        Some((_, name)) => out.extend_from_slice(name.as_bytes()),
        None => {
            out.extend_from_slice(b"Unknown (");
            push_u64(out, op.into());
            out.push(b')');
        }
    }
    out.push(b' ');
    match op {
        1 => {
            out.extend_from_slice(b"who-has ");
            ip(out, tpa);
            if tha.iter().any(|&x| x != 0) {
                out.extend_from_slice(b" (");
                mac(out, tha);
                out.push(b')');
            }
            out.extend_from_slice(b" tell ");
            ip(out, spa);
        }
        2 => {
            ip(out, spa);
            out.extend_from_slice(b" is-at ");
            mac(out, sha);
        }
        3 | 8 => {
            out.extend_from_slice(b"who-is ");
            mac(out, tha);
            out.extend_from_slice(b" tell ");
            mac(out, sha);
        }
        4 => {
            mac(out, tha);
            out.extend_from_slice(b" at ");
            ip(out, tpa);
        }
        9 => {
            mac(out, sha);
            out.extend_from_slice(b" at ");
            ip(out, spa);
        }
        // tcpdump's default printer: the packet in hex and ASCII.
        _ => return dump::hex_ascii(out, b"\n\t", b, 0),
    }
    out.extend_from_slice(b", length ");
    push_u64(out, length as u64);
}

/// `Ethernet (len 6), IPv4 (len 4)`: ARP's hardware and protocol types and lengths.
fn arp_types(out: &mut Vec<u8>, hrd: u16, hln: usize, pro: u16, pln: usize) {
    match ARP_HARDWARE.iter().find(|(n, _)| *n == hrd) {
        Some((_, name)) => out.extend_from_slice(name.as_bytes()),
        None => {
            out.extend_from_slice(b"Unknown Hardware (");
            push_u64(out, hrd.into());
            out.push(b')');
        }
    }
    out.extend_from_slice(b" (len ");
    push_u64(out, hln as u64);
    out.extend_from_slice(b"), ");
    push_arp_protocol(out, pro);
    out.extend_from_slice(b" (len ");
    push_u64(out, pln as u64);
    out.push(b')');
}

/// An ARP packet's protocol type as tcpdump names it (`IPv4`, `Unknown Protocol (0x..)`).
fn push_arp_protocol(out: &mut Vec<u8>, pro: u16) {
    match link::ethertype_name(pro) {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => {
            out.extend_from_slice(b"Unknown Protocol (0x");
            for shift in [12, 8, 4, 0] {
                out.push(crate::output::HEX_LOWER[((pro >> shift) & 15) as usize]);
            }
            out.push(b')');
        }
    }
}

/// An ATM ARP packet (RFC 2225, hardware type 19) as tcpdump's `atmarp_print`: ATM
/// numbers and subaddresses of their own lengths instead of hardware addresses.
fn atm_arp(out: &mut Vec<u8>, b: &[u8], length: usize, bare: bool, verbose: bool) {
    const MARK: &[u8] = b" [|arp]";
    if b.len() < 12 {
        return out.extend_from_slice(MARK);
    }
    let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let (pro, op) = (be16(2), be16(6));
    let len = |at: usize| usize::from(b[at] & 0x3f);
    let (shtl, sstl, spln, thtl, tstl, tpln) = (
        len(4),
        len(5),
        usize::from(b[8]),
        len(9),
        len(10),
        usize::from(b[11]),
    );
    let sha = 12;
    let ssa = sha + shtl;
    let spa = ssa + sstl;
    let tha = spa + spln;
    let tsa = tha + thtl;
    let tpa = tsa + tstl;
    if b.len() < tpa + tpln {
        return out.extend_from_slice(MARK);
    }
    if !bare {
        out.extend_from_slice(b"ARP, ");
    }
    let ip_lengths = (pro == 0x0800 || pro == 0x1000) && spln == 4 && tpln == 4;
    if !ip_lengths || verbose {
        out.extend_from_slice(b"ATM, ");
        push_arp_protocol(out, pro);
        out.extend_from_slice(b" (len ");
        push_u64(out, spln as u64);
        out.push(b'/');
        push_u64(out, tpln as u64);
        out.push(b')');
    }
    if ip_lengths || verbose {
        if verbose {
            out.extend_from_slice(b", ");
        }
        // A protocol address, or tcpdump's complaint about its type or length.
        let ip = |out: &mut Vec<u8>, at: usize, n: usize, wrong: &[u8]| {
            if pro != 0x0800 && pro != 0x1000 {
                out.extend_from_slice(b"<wrong proto type>");
            } else if n != 4 {
                out.extend_from_slice(wrong);
            } else {
                push_ipv4(
                    out,
                    std::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]),
                );
            }
        };
        let tp = |out: &mut Vec<u8>| ip(out, tpa, tpln, b"<wrong tplen>");
        let sp = |out: &mut Vec<u8>| ip(out, spa, spln, b"<wrong splen>");
        // An ATM number and its subaddress, in hex.
        let atm = |out: &mut Vec<u8>, at: usize, n: usize, sub: usize, m: usize| {
            if n == 0 {
                return out.extend_from_slice(b"<No address>");
            }
            push_mac(out, &b[at..at + n], false);
            if m != 0 {
                out.push(b',');
                push_mac(out, &b[sub..sub + m], false);
            }
        };
        match ARP_OPS.iter().find(|(n, _)| *n == op) {
            Some((_, name)) => out.extend_from_slice(name.as_bytes()),
            None => {
                out.extend_from_slice(b"Unknown (");
                push_u64(out, op.into());
                out.push(b')');
            }
        }
        out.push(b' ');
        match op {
            1 => {
                out.extend_from_slice(b"who-has ");
                tp(out);
                if thtl != 0 {
                    out.extend_from_slice(b" (");
                    atm(out, tha, thtl, tsa, tstl);
                    out.push(b')');
                }
                out.extend_from_slice(b" tell ");
                sp(out);
            }
            2 => {
                sp(out);
                out.extend_from_slice(b" is-at ");
                atm(out, sha, shtl, ssa, sstl);
            }
            8 => {
                out.extend_from_slice(b"who-is ");
                atm(out, tha, thtl, tsa, tstl);
                out.extend_from_slice(b" tell ");
                atm(out, sha, shtl, ssa, sstl);
            }
            9 => {
                atm(out, sha, shtl, ssa, sstl);
                out.extend_from_slice(b"at ");
                sp(out);
            }
            10 => {
                out.extend_from_slice(b"for ");
                sp(out);
            }
            _ => return dump::hex_ascii(out, b"\n\t", b, 0),
        }
    }
    out.extend_from_slice(b", length ");
    push_u64(out, length as u64);
}

/// tcpdump's name of a layer in its `[|name]` truncation mark.
pub(super) fn mark_name(layer: Layer, link: LinkType) -> &'static str {
    match layer {
        Layer::Link if matches!(link, LinkType::LinuxSll) => "sll",
        Layer::Link if matches!(link, LinkType::LinuxSll2) => "sll2",
        Layer::Link => "ether",
        Layer::Vlan => "vlan",
        Layer::Arp => "arp",
        Layer::Ipv4 => "ip",
        Layer::Ipv6 | Layer::Ipv6Ext => "ip6",
        Layer::Icmp => "icmp",
        Layer::Icmpv6 => "icmp6",
        Layer::Tcp => "tcp",
        Layer::Udp => "udp",
    }
}

/// tcpdump's `arpop_values`.
pub(super) const ARP_OPS: [(u16, &str); 7] = [
    (1, "Request"),
    (2, "Reply"),
    (3, "Reverse Request"),
    (4, "Reverse Reply"),
    (8, "Inverse Request"),
    (9, "Inverse Reply"),
    (10, "NACK Reply"),
];

/// tcpdump's `arphrd_values`.
pub(super) const ARP_HARDWARE: [(u16, &str); 8] = [
    (1, "Ethernet"),
    (6, "TokenRing"),
    (7, "ArcNet"),
    (15, "FrameRelay"),
    (23, "Strip"),
    (24, "IEEE 1394"),
    (19, "ATM"),
    (32, "InfiniBand"),
];

#[derive(Clone, Copy)]
pub(super) enum Addrs {
    V4(std::net::Ipv4Addr, std::net::Ipv4Addr),
    V6(std::net::Ipv6Addr, std::net::Ipv6Addr),
}

pub(super) fn addr(out: &mut Vec<u8>, a: Addrs, src: bool, port: Option<u16>) {
    match (a, src) {
        (Addrs::V4(s, _), true) => push_ipv4(out, s),
        (Addrs::V4(_, t), false) => push_ipv4(out, t),
        (Addrs::V6(s, _), true) => push_ipv6(out, s),
        (Addrs::V6(_, t), false) => push_ipv6(out, t),
    }
    if let Some(p) = port {
        out.push(b'.');
        push_u64(out, p.into());
    }
}

/// `SRC > DST: what`. `wire` is the IP payload length after extension headers, from
/// the IP header when it is sane.
pub(super) fn ip_body(
    out: &mut Vec<u8>,
    frame: &Frame<'_>,
    d: &Decoded,
    a: Addrs,
    wire: Option<usize>,
    frag: bool,
) {
    let ports = if frag { None } else { d.ports };
    addr(out, a, true, ports.map(|p| p.0));
    out.extend_from_slice(b" > ");
    addr(out, a, false, ports.map(|p| p.1));
    out.extend_from_slice(b": ");
    let captured = frame.data.len().saturating_sub(d.transport_off as usize);
    let len = wire.unwrap_or(captured);
    match &d.transport {
        // TCP has its own printer (see `Line::ip_body`, in transport.rs).
        Transport::Tcp(_) => {}
        // UDP has its own printer (see `Line::ip_body`, in transport.rs).
        Transport::Udp(_) => {}
        // ICMP and ICMPv6 have their own printers (see `Line::ip_body`, in transport.rs).
        Transport::Icmp(_) | Transport::Icmpv6(_) => {}
        // A transport header cut short: tcpdump's mark follows the addresses.
        Transport::None
            if d.issue.is_some_and(|i| {
                matches!(
                    i.layer,
                    Layer::Icmp | Layer::Icmpv6 | Layer::Tcp | Layer::Udp
                )
            }) => {}
        Transport::None => {
            out.extend_from_slice(b" ip-proto-");
            push_u64(out, d.ip_proto.map_or(0, u8::from).into());
            out.push(b' ');
            push_u64(out, len as u64);
        }
    }
}
