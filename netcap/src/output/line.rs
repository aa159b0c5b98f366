//! The `line` format: one line per frame, as `tcpdump -n` (4.99) prints it.
//!
//! ```text
//! 12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 512, options [mss 1460], length 0
//! 12:00:00.000002 IP6 fe80::1 > ff02::1: ICMP6, neighbor solicitation, who has fe80::2, length 32
//! 12:00:00.000003 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46
//! 12:00:00.000004 IP 10.0.0.1.53 > 10.0.0.2.4000: 43981+ A? example.com. (29)
//! ```
//!
//! Each layer follows its tcpdump printer without `-v`, down to the complaints and the
//! `[|proto]` marks where the capture ends: ARP (`arp_print`, with its hex dump for an
//! unknown operation, [`dump`]), IPv4 (`ip_print`: `bad-hlen`, `bad-len`,
//! `truncated-ip - N bytes missing!`, a later fragment as `SRC > DST: ip-proto-N`),
//! TCP ([`tcp`]), UDP (`udp_print`) and DNS ([`dns`], [`edns`]). The time is the local
//! time of day with microseconds ([`time`]: `TZ` respected). As with `tcpdump -n`,
//! addresses are numeric, link-layer headers (and VLAN tags) are not shown, and TCP
//! sequence numbers are relative to the first seen in each direction of a
//! conversation; the writer finishes them in capture order ([`seq`] says how and why).
//!
//! Where netcap decodes less than tcpdump, it says so in its own words: an EtherType
//! it does not decode prints `ethertype 0xNNNN, length N`, a link type `link type N,
//! length N` (N the wire length), an IP protocol ` ip-proto-N LEN` (tcpdump's words
//! for a protocol it does not know either); ICMP and ICMPv6 print their type names.
//!
//! tcpdump's printing flags are [`Options`]: the `-t` family ([`time`]), `-S`, `-e`
//! ([`link`]) and the dumps `-x`, `-X`, `-A` ([`dump`]).
//!
//! When the run has more than one interface (a pcapng file with several), each line
//! names the frame's interface and direction after the time, as `tcpdump -i any`
//! does: `veth0 In  IP ...` (the name padded to 5, the direction to 3).
mod dns;
mod dump;
mod edns;
mod link;
mod seq;
mod tcp;
mod time;

use std::ops::Range;

pub use seq::Deferred;
pub use time::TimeFormat;

/// tcpdump's printing flags that the line format follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-t` given 0 to 5 times.
    pub time: TimeFormat,
    /// `-S`: absolute TCP sequence numbers.
    pub absolute: bool,
    /// `-e`: the Ethernet header (addresses, EtherTypes, VLAN tags) before the rest.
    pub link_header: bool,
    /// `-x`, `-xx`, `-X`, `-XX`, `-A`, `-AA`: the frame's bytes after its line.
    pub dump: Dump,
}

/// Which bytes follow each line, and how (tcpdump's `-x`, `-X`, `-A`; given twice,
/// from the link-layer header on, else from the network layer on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dump {
    #[default]
    None,
    /// `-x`: hex.
    Hex { link: bool },
    /// `-X`: hex and ASCII.
    HexAscii { link: bool },
    /// `-A`: ASCII.
    Ascii { link: bool },
}

use super::{push_ipv4, push_ipv6, push_mac, push_u64, BatchText, Printer};
use crate::decode::icmp::{self, IcmpInfo};
use crate::decode::{icmpv6, Decoded, EtherType, IpProtocol, Layer, Net, Transport};
use crate::packet::{Direction, Frame, InterfaceNames, LinkType};

/// The `line` printer. A worker's notes the numbers the writer finishes; the writer's
/// keeps the conversations' sequence number bases.
#[derive(Debug)]
pub struct Line {
    pub names: InterfaceNames,
    options: Options,
    /// What this printer noted for the writer since the last `take_deferred`.
    deferred: Deferred,
    /// The output's length after the last frame: a shorter output is a new buffer, and
    /// the notes about the old one are dropped.
    text_len: usize,
    /// The writer's: the bases of every conversation so far.
    bases: seq::Bases,
    /// The time of day in the run's time zone.
    clock: time::LocalClock,
}

/// UTC, tcpdump's defaults; the run's printers take the system's time zone
/// ([`Line::new`]).
impl Default for Line {
    fn default() -> Self {
        Self::with_time_zone(InterfaceNames::default(), jiff::tz::TimeZone::UTC)
    }
}

impl Line {
    /// A printer in the system's time zone (`TZ`, else `/etc/localtime`), as tcpdump.
    pub fn new(names: InterfaceNames, options: Options) -> Self {
        let mut line = Self::with_time_zone(names, jiff::tz::TimeZone::system());
        line.set_options(options);
        line
    }

    pub fn with_time_zone(names: InterfaceNames, tz: jiff::tz::TimeZone) -> Self {
        Self {
            names,
            options: Options::default(),
            deferred: Deferred::default(),
            text_len: 0,
            bases: seq::Bases::default(),
            clock: time::LocalClock::new(tz),
        }
    }

    pub fn set_options(&mut self, options: Options) {
        self.options = options;
        if options.time.relative() {
            self.bases = seq::Bases::with_time_reference(options.time == TimeFormat::Delta);
        }
    }

    /// The time a line starts with, and its space.
    fn push_time(&mut self, out: &mut Vec<u8>, ts_ns: u64, line_at: usize) {
        match self.options.time {
            TimeFormat::Local => self.clock.push(out, ts_ns),
            TimeFormat::None => return,
            TimeFormat::Unix => time::push_unix(out, ts_ns),
            TimeFormat::LocalDate => self.clock.push_with_date(out, ts_ns),
            TimeFormat::Delta | TimeFormat::SinceFirst => {
                out.extend_from_slice(time::SPAN_HOLE);
                self.deferred.time(line_at, ts_ns);
            }
        }
        out.push(b' ');
    }

    /// tcpdump's complaint about a record's lengths, printed instead of the frame.
    fn invalid_header(&self, frame: &Frame<'_>, out: &mut Vec<u8>) -> bool {
        const MAX: u32 = 262_144;
        let (caplen, len) = (frame.data.len() as u64, u64::from(frame.meta.orig_len));
        let mut complaints: Vec<String> = Vec::new();
        if caplen == 0 {
            complaints.push("caplen==0".into());
        }
        if len == 0 {
            complaints.push(" len==0".into());
        } else if len < caplen {
            complaints.push(format!(" len({len}) < caplen({caplen})"));
        }
        if caplen > u64::from(MAX) {
            complaints.push(format!(" caplen({caplen}) > {MAX}"));
        }
        if len > u64::from(MAX) {
            complaints.push(format!(" len({len}) > {MAX}"));
        }
        if complaints.is_empty() {
            return false;
        }
        out.extend_from_slice(b"[Invalid header:");
        for (i, c) in complaints.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let c = if i == 0 && c == "caplen==0" {
                " caplen==0"
            } else {
                c
            };
            out.extend_from_slice(c.as_bytes());
        }
        out.extend_from_slice(b"]\n");
        true
    }

    /// `NAME  Dir ` as tcpdump's `sll2_if_print` writes it (`?` for what is unknown).
    fn push_interface(&mut self, frame: &Frame<'_>, out: &mut Vec<u8>) {
        let name = self.names.name(frame.meta.iface).unwrap_or("?");
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + 5usize.saturating_sub(name.len()), b' ');
        out.extend_from_slice(match frame.meta.direction {
            Direction::In => b" In  ",
            Direction::Out => b" Out ",
            Direction::Unknown => b" ?   ",
        });
    }
}

impl Printer for Line {
    fn print(&mut self, frame: &Frame<'_>, d: &Decoded, out: &mut Vec<u8>) {
        if out.len() < self.text_len {
            self.deferred = Deferred::default();
        }
        self.deferred.cut(out.len());
        let line_at = out.len();
        self.line(frame, d, out, line_at);
        self.text_len = out.len();
    }

    fn take_deferred(&mut self) -> Deferred {
        std::mem::take(&mut self.deferred)
    }

    fn resolve(
        &mut self,
        batch: BatchText<'_>,
        frames: Range<usize>,
        deferred: &Deferred,
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
    ) {
        self.bases.resolve(batch, frames, deferred, out, out_ends);
    }
}

impl Line {
    fn line(&mut self, frame: &Frame<'_>, d: &Decoded, out: &mut Vec<u8>, line_at: usize) {
        if self.invalid_header(frame, out) {
            return;
        }
        self.push_time(out, frame.meta.ts_ns, line_at);
        if self.names.several() {
            self.push_interface(frame, out);
        }
        if let LinkType::Unknown(n) = frame.meta.link {
            out.extend_from_slice(b"link type ");
            push_u64(out, n.into());
            out.extend_from_slice(b", length ");
            push_u64(out, frame.meta.orig_len.into());
            self.dump(out, frame, 0);
            out.push(b'\n');
            return;
        }
        // With -e, the Ethernet header; the network layer then leaves out its name.
        let bare = self.options.link_header
            && match frame.meta.link {
                LinkType::Ethernet => link::ethernet(out, frame),
                LinkType::LinuxSll => link::sll(out, frame, false),
                LinkType::LinuxSll2 => link::sll(out, frame, true),
                _ => false,
            };
        let net_len = (frame.meta.orig_len as usize).saturating_sub(d.net_off as usize);
        let mut marked = false;
        let version = frame.data.first().map(|b| b >> 4);
        let raw = frame.meta.link == LinkType::Raw;
        let is_ipv4 = d.ethertype == Some(EtherType::Ipv4)
            || frame.meta.link == LinkType::Ipv4
            || (raw && version == Some(4));
        match &d.net {
            _ if raw && !matches!(version, Some(4) | Some(6) | None) => {
                out.extend_from_slice(b"unknown ip ");
                push_u64(out, version.unwrap_or(0).into());
                marked = true;
            }
            _ if d.ethertype == Some(EtherType::Arp) => {
                let bytes = frame.data.get(d.net_off as usize..).unwrap_or(&[]);
                arp(out, bytes, net_len, bare);
                marked = true;
            }
            _ if is_ipv4 => marked = self.ipv4(out, frame, d, (net_len, line_at), bare),
            Net::None => match d.ethertype {
                Some(et) if d.issue.is_none() => {
                    out.extend_from_slice(b"ethertype 0x");
                    let et = u16::from(et);
                    for shift in [12, 8, 4, 0] {
                        out.push(super::HEX_LOWER[((et >> shift) & 15) as usize]);
                    }
                    out.extend_from_slice(b", length ");
                    push_u64(out, net_len as u64);
                }
                // A header cut short before anything tcpdump prints: only its mark.
                Some(_) | None => {}
            },
            Net::Arp(_) | Net::Ipv4(_) => {}
            Net::Ipv6(ip) => {
                if !bare {
                    out.extend_from_slice(b"IP6 ");
                }
                let ext = (d.transport_off as usize).saturating_sub(d.net_off as usize + 40);
                let plen = ip.payload_len as usize;
                let ipv = Ip {
                    addrs: Addrs::V6(ip.src, ip.dst),
                    wire: (plen != 0).then(|| plen.saturating_sub(ext)),
                    cap_end: if plen != 0 {
                        (d.net_off as usize + 40 + plen).min(frame.data.len())
                    } else {
                        frame.data.len()
                    },
                    frag: ip.frag.is_some_and(|f| f.offset != 0),
                    more_frags: ip.frag.is_some_and(|f| f.more_frags),
                    line_at,
                };
                marked = self.ip_body(out, frame, d, &ipv);
            }
        }
        if let (Some(issue), false) = (d.issue, marked) {
            out.extend_from_slice(b" [|");
            out.extend_from_slice(mark_name(issue.layer, frame.meta.link).as_bytes());
            out.push(b']');
        }
        self.dump(out, frame, d.net_off as usize);
        out.push(b'\n');
    }

    /// `-x`, `-X`, `-A`: the frame's bytes from `net_off` (or all of them).
    fn dump(&self, out: &mut Vec<u8>, frame: &Frame<'_>, net_off: usize) {
        let from = |link: bool| if link { 0 } else { net_off };
        match self.options.dump {
            Dump::None => {}
            Dump::Hex { link } => {
                dump::hex(out, b"\n\t", frame.data.get(from(link)..).unwrap_or(&[]), 0)
            }
            Dump::HexAscii { link } => {
                dump::hex_ascii(out, b"\n\t", frame.data.get(from(link)..).unwrap_or(&[]), 0)
            }
            Dump::Ascii { link } => dump::ascii(out, frame.data.get(from(link)..).unwrap_or(&[])),
        }
    }

    /// An IPv4 packet as tcpdump's `ip_print` without `-v`: its complaints about the
    /// header (`bad-hlen`, `bad-len`, `truncated-ip - N bytes missing!`), a later
    /// fragment as `SRC > DST: ip-proto-N`, else the transport. `length` is what the
    /// link layer carries. Returns true when it wrote the truncation mark itself.
    fn ipv4(
        &mut self,
        out: &mut Vec<u8>,
        frame: &Frame<'_>,
        d: &Decoded,
        (length, line_at): (usize, usize),
        bare: bool,
    ) -> bool {
        let off = d.net_off as usize;
        let b = frame.data.get(off..).unwrap_or(&[]);
        match b.first().map(|v| v >> 4) {
            Some(4) => {}
            Some(6) => {
                out.extend_from_slice(b"IP6, wrong link-layer encapsulation (invalid)");
                return true;
            }
            Some(v) => {
                out.extend_from_slice(b"IP");
                push_u64(out, v.into());
                out.extend_from_slice(b" (invalid)");
                return true;
            }
            None => {
                out.extend_from_slice(b" [|ip]");
                return true;
            }
        }
        if !bare {
            out.extend_from_slice(b"IP ");
        }
        let Net::Ipv4(ip) = &d.net else {
            out.extend_from_slice(b" [|ip]");
            return true;
        };
        if length < 20 {
            out.extend_from_slice(b"truncated-ip ");
            push_u64(out, length as u64);
            return true;
        }
        let hlen = ip.ihl as usize * 4;
        if hlen < 20 {
            out.extend_from_slice(b"bad-hlen ");
            push_u64(out, hlen as u64);
            return true;
        }
        let len = ip.total_len as usize;
        if length < len {
            out.extend_from_slice(b"truncated-ip - ");
            push_u64(out, (len - length) as u64);
            out.extend_from_slice(b" bytes missing! ");
        }
        if len < hlen {
            out.extend_from_slice(b"bad-len ");
            push_u64(out, len as u64);
            return true;
        }
        let a = Addrs::V4(ip.src, ip.dst);
        if ip.frag_offset != 0 {
            addr(out, a, true, None);
            out.extend_from_slice(b" > ");
            addr(out, a, false, None);
            out.extend_from_slice(b": ip-proto-");
            push_u64(out, ip.protocol.into());
            return true;
        }
        let ipv = Ip {
            addrs: a,
            wire: Some(len - hlen),
            cap_end: (off + len).min(frame.data.len()),
            frag: false,
            more_frags: ip.more_frags,
            line_at,
        };
        self.ip_body(out, frame, d, &ipv)
    }

    /// `SRC > DST: what`; returns true when it wrote the truncation mark itself.
    fn ip_body(&mut self, out: &mut Vec<u8>, frame: &Frame<'_>, d: &Decoded, ip: &Ip) -> bool {
        let a = ip.addrs;
        let ports = if ip.frag { None } else { d.ports };
        let ip_whole = d
            .issue
            .is_none_or(|i| matches!(i.layer, Layer::Tcp | Layer::Udp));
        if !ip.frag && ip_whole && d.ip_proto == Some(IpProtocol::Tcp) {
            let Some((sport, dport)) = ports else {
                addr(out, a, true, None);
                out.extend_from_slice(b" > ");
                addr(out, a, false, None);
                out.extend_from_slice(b": [|tcp]");
                return true;
            };
            addr(out, a, true, Some(sport));
            out.extend_from_slice(b" > ");
            addr(out, a, false, Some(dport));
            out.extend_from_slice(b": ");
            let start = (d.transport_off as usize).min(ip.cap_end);
            let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
            let n = match a {
                Addrs::V4(s, t) => {
                    src[..4].copy_from_slice(&s.octets());
                    dst[..4].copy_from_slice(&t.octets());
                    4
                }
                Addrs::V6(s, t) => {
                    src = s.octets();
                    dst = t.octets();
                    16
                }
            };
            let seg = tcp::Segment {
                bytes: frame.data.get(start..ip.cap_end).unwrap_or(&[]),
                length: ip.wire.map_or(ip.cap_end - start, |w| w) as u32,
                src: &src[..n],
                dst: &dst[..n],
                line_at: ip.line_at,
                relative: !self.options.absolute,
            };
            if tcp::segment(out, &mut self.deferred, &seg) == tcp::End::Truncated {
                out.extend_from_slice(b" [|tcp]");
            }
            return true;
        }
        if !ip.frag && ip_whole && d.ip_proto == Some(IpProtocol::Udp) {
            let start = (d.transport_off as usize).min(ip.cap_end);
            let bytes = frame.data.get(start..ip.cap_end).unwrap_or(&[]);
            udp(out, a, bytes, ip.wire.unwrap_or(bytes.len()), ip.more_frags);
            return true;
        }
        ip_body(out, frame, d, a, ip.wire, ip.frag);
        false
    }
}

/// A UDP datagram as tcpdump's `udp_print`: `SRC.PORT > DST.PORT: ` and the length,
/// or the DNS summary on port 53 (and multicast DNS on 5353). `bytes` is the datagram
/// as captured, `length` the IP payload length, `first_fragment` an IP fragment with
/// more to come. Ends with its own truncation mark.
fn udp(out: &mut Vec<u8>, a: Addrs, bytes: &[u8], length: usize, first_fragment: bool) {
    let be16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(sport), Some(dport)) = (be16(0), be16(2)) else {
        addr(out, a, true, None);
        out.extend_from_slice(b" > ");
        addr(out, a, false, None);
        out.extend_from_slice(b":  [|udp]");
        return;
    };
    addr(out, a, true, Some(sport));
    out.extend_from_slice(b" > ");
    addr(out, a, false, Some(dport));
    out.extend_from_slice(b": ");
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
    if sport == 53 || dport == 53 {
        return dns::message(out, payload, length, false);
    }
    if sport == 5353 || dport == 5353 {
        return dns::message(out, payload, length, true);
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

/// The IP layer of a frame, for the transport's text.
struct Ip {
    addrs: Addrs,
    /// The IP payload length after extension headers, from the IP header when sane.
    wire: Option<usize>,
    /// Where the IP packet's captured bytes end in the frame.
    cap_end: usize,
    /// A fragment without the transport header (IPv4: any fragment).
    frag: bool,
    /// More fragments follow (IPv4's MF bit; IPv6's M flag).
    more_frags: bool,
    /// Where the frame's text starts in the output.
    line_at: usize,
}

/// An ARP packet as tcpdump's `arp_print` without `-v`; `b` from its first byte as
/// captured, `length` what the link layer carries.
fn arp(out: &mut Vec<u8>, b: &[u8], length: usize, bare: bool) {
    let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    if b.len() < 8 {
        return out.extend_from_slice(b" [|arp]");
    }
    let (hrd, pro, hln, pln, op) = (be16(0), be16(2), b[4] as usize, b[5] as usize, be16(6));
    let Some(addrs) = b.get(8..8 + 2 * hln + 2 * pln) else {
        return out.extend_from_slice(b" [|arp]");
    };
    if !bare {
        out.extend_from_slice(b"ARP, ");
    }
    if (pro != 0x0800 && pro != 0x1000) || pln != 4 || hln == 0 {
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
        match link::ethertype_name(pro) {
            Some(name) => out.extend_from_slice(name.as_bytes()),
            None => {
                out.extend_from_slice(b"Unknown Protocol (0x");
                for shift in [12, 8, 4, 0] {
                    out.push(super::HEX_LOWER[((pro >> shift) & 15) as usize]);
                }
                out.push(b')');
            }
        }
        out.extend_from_slice(b" (len ");
        push_u64(out, pln as u64);
        out.push(b')');
    } else {
        let (sha, rest) = addrs.split_at(hln);
        let (spa, rest) = rest.split_at(4);
        let (tha, tpa) = rest.split_at(hln);
        let ip = |a: &[u8]| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]);
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
                push_ipv4(out, ip(tpa));
                if tha.iter().any(|&x| x != 0) {
                    out.extend_from_slice(b" (");
                    push_mac(out, tha, false);
                    out.push(b')');
                }
                out.extend_from_slice(b" tell ");
                push_ipv4(out, ip(spa));
            }
            2 => {
                push_ipv4(out, ip(spa));
                out.extend_from_slice(b" is-at ");
                push_mac(out, sha, false);
            }
            3 | 8 => {
                out.extend_from_slice(b"who-is ");
                push_mac(out, tha, false);
                out.extend_from_slice(b" tell ");
                push_mac(out, sha, false);
            }
            4 => {
                push_mac(out, tha, false);
                out.extend_from_slice(b" at ");
                push_ipv4(out, ip(tpa));
            }
            9 => {
                push_mac(out, sha, false);
                out.extend_from_slice(b" at ");
                push_ipv4(out, ip(spa));
            }
            // tcpdump's default printer: the packet in hex and ASCII.
            _ => return dump::hex_ascii(out, b"\n\t", b, 0),
        }
    }
    out.extend_from_slice(b", length ");
    push_u64(out, length as u64);
}

/// tcpdump's name of a layer in its `[|name]` truncation mark.
fn mark_name(layer: Layer, link: LinkType) -> &'static str {
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
const ARP_OPS: [(u16, &str); 7] = [
    (1, "Request"),
    (2, "Reply"),
    (3, "Reverse Request"),
    (4, "Reverse Reply"),
    (8, "Inverse Request"),
    (9, "Inverse Reply"),
    (10, "NACK Reply"),
];

/// tcpdump's `arphrd_values`.
const ARP_HARDWARE: [(u16, &str); 8] = [
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
enum Addrs {
    V4(std::net::Ipv4Addr, std::net::Ipv4Addr),
    V6(std::net::Ipv6Addr, std::net::Ipv6Addr),
}

fn addr(out: &mut Vec<u8>, a: Addrs, src: bool, port: Option<u16>) {
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
fn ip_body(
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
        // TCP has its own printer (see `Line::ip_body`).
        Transport::Tcp(_) => {}
        // UDP has its own printer (see `Line::ip_body`).
        Transport::Udp(_) => {}
        Transport::Icmp(i) => {
            out.extend_from_slice(b"ICMP ");
            icmp_text(out, i, icmp::type_name(i.msg_type, i.code), len);
        }
        Transport::Icmpv6(i) => {
            out.extend_from_slice(b"ICMP6, ");
            let body = d.payload.off.saturating_sub(8) as usize;
            match icmpv6::nd_target(i.msg_type, frame.data.get(body..).unwrap_or(&[])) {
                Some(t) => {
                    let ns = i.msg_type == icmpv6::NEIGHBOR_SOLICIT;
                    out.extend_from_slice(if ns {
                        b"neighbor solicitation, who has "
                    } else {
                        b"neighbor advertisement, tgt is "
                    });
                    push_ipv6(out, t);
                    out.extend_from_slice(b", length ");
                    push_u64(out, len as u64);
                }
                None => icmp_text(out, i, icmpv6::type_name(i.msg_type), len),
            }
        }
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

fn icmp_text(out: &mut Vec<u8>, i: &IcmpInfo, name: Option<&str>, len: usize) {
    match name {
        Some(n) => out.extend_from_slice(n.as_bytes()),
        None => {
            out.extend_from_slice(b"type ");
            push_u64(out, i.msg_type.into());
            out.extend_from_slice(b" code ");
            push_u64(out, i.code.into());
        }
    }
    let echo = matches!(i.msg_type, 0 | 8 | 128 | 129);
    if let (true, Some((id, seq))) = (echo, i.echo_id_seq()) {
        out.extend_from_slice(b", id ");
        push_u64(out, id.into());
        out.extend_from_slice(b", seq ");
        push_u64(out, seq.into());
    }
    out.extend_from_slice(b", length ");
    push_u64(out, len as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(link: LinkType, data: &[u8]) -> String {
        crate::output::render(&mut Line::default(), link, 43_200_000_001_000, data)
    }

    #[test]
    fn tcp_syn() {
        let mut p = vec![
            0x45, 0, 0, 44, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 2, 0]);
        p.extend_from_slice(&[0, 0, 0, 0, 2, 4, 5, 0xb4]);
        assert_eq!(
            line(LinkType::Raw, &p),
            "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 512, \
             options [mss 1460], length 0\n"
        );
        // Cut frames (the wire length too: the IP header says more).
        assert_eq!(
            line(LinkType::Raw, &p[..30]),
            "12:00:00.000001 IP truncated-ip - 14 bytes missing! 10.0.0.1.1234 > 10.0.0.2.80:  \
             [|tcp]\n"
        );
        assert_eq!(
            line(LinkType::Raw, &p[..22]),
            "12:00:00.000001 IP truncated-ip - 22 bytes missing! 10.0.0.1 > 10.0.0.2: [|tcp]\n"
        );
        assert_eq!(line(LinkType::Raw, &p[..3]), "12:00:00.000001 IP  [|ip]\n");
        p[3] = 10;
        assert_eq!(line(LinkType::Raw, &p), "12:00:00.000001 IP bad-len 10\n");
        p[0] = 0x44;
        assert_eq!(line(LinkType::Raw, &p), "12:00:00.000001 IP bad-hlen 16\n");
        p[0] = 0x55;
        assert_eq!(line(LinkType::Raw, &p), "12:00:00.000001 unknown ip 5\n");
    }

    /// An IPv4 TCP segment `10.0.0.1:1234 -> 10.0.0.2:80` (or back) with `flags`,
    /// `options` and `data` bytes of payload.
    fn segment(back: bool, flags: u8, seq: u32, ack: u32, options: &[u8], data: usize) -> Vec<u8> {
        let hl = 20 + options.len();
        let total = (20 + hl + data) as u16;
        let (a, b) = if back { (2, 1) } else { (1, 2) };
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, a, 10, 0, 0, b,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        let ports: [u8; 4] = if back {
            [0, 80, 4, 0xd2]
        } else {
            [4, 0xd2, 0, 80]
        };
        p.extend_from_slice(&ports);
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[(hl as u8 / 4) << 4, flags, 2, 0, 0, 0, 0, 0]);
        p.extend_from_slice(options);
        p.resize(p.len() + data, 0);
        p
    }

    #[test]
    fn tcp_options_as_tcpdump_names_and_cuts_them() {
        let ts = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        let p = segment(false, 0x18, 5, 6, &ts, 0);
        let tail = |s: String| s.split_once("win 512, ").map(|(_, t)| t.to_owned());
        assert_eq!(
            tail(line(LinkType::Raw, &p)).as_deref(),
            Some("options [nop,nop,TS val 7 ecr 9], length 0\n")
        );
        // A timestamp option cut by the snap length.
        assert_eq!(
            tail(line(LinkType::Raw, &p[..p.len() - 3])).as_deref(),
            Some("options [nop,nop,TS [|tcp]>\n")
        );
        // A length past the header, and an unknown kind.
        let p = segment(false, 0x10, 5, 6, &[30, 9, 0, 0], 0);
        assert_eq!(
            tail(line(LinkType::Raw, &p)).as_deref(),
            Some("options [[bad opt]\n")
        );
        let p = segment(false, 0x10, 5, 6, &[99, 4, 0xab, 0xcd], 0);
        assert_eq!(
            tail(line(LinkType::Raw, &p)).as_deref(),
            Some("options [unknown-99 0xabcd], length 0\n")
        );
        assert!(line(LinkType::Raw, &segment(false, 0xd1, 5, 6, &[], 0)).contains("Flags [F.EW]"));
    }

    #[test]
    fn sequence_numbers_relative_in_the_order_the_writer_sees() {
        // Two workers print alternate frames; the writer resolves them in capture order.
        let frames = [
            segment(false, 0x02, 1000, 0, &[], 0),
            segment(true, 0x12, 7000, 1001, &[], 0),
            segment(false, 0x10, 1001, 7001, &[], 0),
            segment(false, 0x18, 1001, 7001, &[], 100),
            // A SACK block in the peer's sequence space.
            segment(
                true,
                0x10,
                7001,
                1101,
                &[1, 1, 5, 10, 0, 0, 4, 0x4d, 0, 0, 4, 0x51],
                0,
            ),
        ];
        let mut workers = [Line::default(), Line::default()];
        let mut writer = Line::default();
        let mut texts = [Vec::new(), Vec::new()];
        let mut at = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let frame = Frame {
                meta: crate::packet::FrameMeta {
                    ts_ns: 0,
                    orig_len: f.len() as u32,
                    ifindex: 0,
                    direction: Direction::Unknown,
                    link: LinkType::Raw,
                    iface: 0,
                    drops: 0,
                },
                data: f,
            };
            let start = texts[i % 2].len();
            workers[i % 2].print(&frame, &crate::decode::decode(&frame), &mut texts[i % 2]);
            at.push((i % 2, start..texts[i % 2].len()));
        }
        let deferred = [workers[0].take_deferred(), workers[1].take_deferred()];
        let ends: Vec<Vec<u32>> = (0..2)
            .map(|w| {
                at.iter()
                    .filter(|(x, _)| *x == w)
                    .map(|(_, r)| r.end as u32)
                    .collect()
            })
            .collect();
        let (mut out, mut out_ends) = (Vec::new(), Vec::new());
        let mut index = [0, 0];
        for (w, _) in at {
            let batch = BatchText {
                text: &texts[w],
                ends: &ends[w],
            };
            writer.resolve(
                batch,
                index[w]..index[w] + 1,
                &deferred[w],
                &mut out,
                &mut out_ends,
            );
            index[w] += 1;
        }
        let text = String::from_utf8(out).expect("ascii");
        let got: Vec<&str> = text
            .lines()
            .map(|l| l.split_once(": ").map_or("", |(_, t)| t))
            .map(|t| t.split_once(", win").map_or(t, |(h, _)| h))
            .collect();
        assert_eq!(
            got,
            [
                "Flags [S], seq 1000",
                "Flags [S.], seq 7000, ack 1001",
                "Flags [.], ack 1",
                "Flags [P.], seq 1:101, ack 1",
                "Flags [.], ack 101",
            ]
        );
        assert!(
            text.ends_with("options [nop,nop,sack 1 {101:105}], length 0\n"),
            "{text}"
        );
    }

    #[test]
    fn arp_and_unknown() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        assert_eq!(
            line(LinkType::Ethernet, &f),
            "12:00:00.000001 ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 28\n"
        );
        f[16] = 0x88;
        f[17] = 0xcc;
        assert_eq!(
            line(LinkType::Ethernet, &f),
            "12:00:00.000001 ethertype 0x88cc, length 28\n"
        );
        assert_eq!(
            line(LinkType::Unknown(147), &f),
            "12:00:00.000001 link type 147, length 46\n"
        );
    }
}
