//! The `line` format: one tcpdump-like line per frame, for reading and grepping.
//!
//! ```text
//! 12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 512, options [mss 1460], length 0
//! 12:00:00.000002 IP6 fe80::1 > ff02::1: ICMP6, neighbor solicitation, who has fe80::2, length 32
//! 12:00:00.000003 vlan 5, ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46
//! 12:00:00.000004 IP 10.0.0.1.53 > 10.0.0.2.4000: UDP, length 30 [|udp]
//! ```
//!
//! The time is the UTC time of day with microseconds. VLAN tags come first as
//! `vlan ID, `. As with `tcpdump -n -S`, addresses are numeric and TCP sequence numbers
//! absolute (netcap keeps no per-connection state here); `seq A:B` shows the data range
//! of a segment that carries data. Lengths are the payload lengths the IP header
//! declares, so they do not shrink with the snap length. A frame cut short or invalid
//! ends with tcpdump's `[|layer]` marker, `layer` being one of the names of
//! [`Layer::as_str`](crate::decode::Layer::as_str). Frames with an EtherType netcap does
//! not decode print `ethertype 0xNNNN, length N`, link types it does not decode
//! `link type N, length N` (N the wire length).
//!
//! When the run has more than one interface (a pcapng file with several), each line
//! names the frame's interface and direction after the time, as `tcpdump -i any`
//! does: `veth0 In  IP ...` (the name padded to 5, the direction to 3).
use super::{push_hex_u16, push_ipv4, push_ipv6, push_mac, push_time_of_day, push_u64, Printer};
use crate::decode::arp::ArpInfo;
use crate::decode::icmp::{self, IcmpInfo};
use crate::decode::tcp::{self, TcpInfo, TcpOption, TcpOptions};
use crate::decode::{icmpv6, Decoded, Net, Transport};
use crate::packet::{Direction, Frame, InterfaceNames, LinkType};

/// The `line` printer; it keeps only the interface names.
#[derive(Clone, Debug, Default)]
pub struct Line {
    pub names: InterfaceNames,
}

impl Line {
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
        push_time_of_day(out, frame.meta.ts_ns);
        out.push(b' ');
        if self.names.several() {
            self.push_interface(frame, out);
        }
        if let LinkType::Unknown(n) = frame.meta.link {
            out.extend_from_slice(b"link type ");
            push_u64(out, n.into());
            out.extend_from_slice(b", length ");
            push_u64(out, frame.meta.orig_len.into());
            out.push(b'\n');
            return;
        }
        for tag in d.vlan_tags() {
            out.extend_from_slice(b"vlan ");
            push_u64(out, tag.vid.into());
            out.extend_from_slice(b", ");
        }
        let net_len = (frame.meta.orig_len as usize).saturating_sub(d.net_off as usize);
        match &d.net {
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
                Some(et) => out.extend_from_slice(match u16::from(et) {
                    0x0800 => b"IP",
                    0x86dd => b"IP6",
                    0x0806 => b"ARP,",
                    _ => b"ethertype",
                }),
                None => out.extend_from_slice(match frame.meta.link {
                    LinkType::Ethernet => b"ether",
                    LinkType::LinuxSll | LinkType::LinuxSll2 => b"sll",
                    LinkType::Ipv6 => b"IP6",
                    _ => b"IP",
                }),
            },
            Net::Arp(a) => arp(out, a, net_len),
            Net::Ipv4(ip) => {
                out.extend_from_slice(b"IP ");
                let hl = ip.ihl as usize * 4;
                let total = ip.total_len as usize;
                let wire = if total >= hl && hl >= 20 {
                    Some(total - hl)
                } else {
                    None
                };
                ip_body(
                    out,
                    frame,
                    d,
                    Addrs::V4(ip.src, ip.dst),
                    wire,
                    ip.is_fragment(),
                );
                if ip.frag_offset != 0 || ip.more_frags {
                    out.extend_from_slice(b" (frag ");
                    push_u64(out, ip.ident.into());
                    out.push(b'@');
                    push_u64(out, u64::from(ip.frag_offset) * 8);
                    if ip.more_frags {
                        out.push(b'+');
                    }
                    out.push(b')');
                }
            }
            Net::Ipv6(ip) => {
                out.extend_from_slice(b"IP6 ");
                let ext = (d.transport_off as usize).saturating_sub(d.net_off as usize + 40);
                let wire =
                    (ip.payload_len != 0).then(|| (ip.payload_len as usize).saturating_sub(ext));
                let frag = ip.frag.is_some_and(|f| f.offset != 0);
                ip_body(out, frame, d, Addrs::V6(ip.src, ip.dst), wire, frag);
            }
        }
        if let Some(issue) = d.issue {
            out.extend_from_slice(b" [|");
            out.extend_from_slice(issue.layer.as_str().as_bytes());
            out.push(b']');
        }
        out.push(b'\n');
    }
}

fn arp(out: &mut Vec<u8>, a: &ArpInfo, len: usize) {
    out.extend_from_slice(b"ARP, ");
    match (a.eth_ipv4, a.oper) {
        (true, 1) => {
            out.extend_from_slice(b"Request who-has ");
            push_ipv4(out, a.tpa);
            out.extend_from_slice(b" tell ");
            push_ipv4(out, a.spa);
        }
        (true, 2) => {
            out.extend_from_slice(b"Reply ");
            push_ipv4(out, a.spa);
            out.extend_from_slice(b" is-at ");
            push_mac(out, &a.sha, false);
        }
        _ => {
            out.extend_from_slice(b"hardware type ");
            push_u64(out, a.htype.into());
            out.extend_from_slice(b", protocol type 0x");
            push_hex_u16(out, a.ptype);
            out.extend_from_slice(b", op ");
            push_u64(out, a.oper.into());
        }
    }
    out.extend_from_slice(b", length ");
    push_u64(out, len as u64);
}

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
        Transport::Tcp(t) => tcp_text(out, frame.data, t, len),
        Transport::Udp(u) => {
            out.extend_from_slice(b"UDP, length ");
            push_u64(out, u64::from(u.length.saturating_sub(8)));
        }
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
        Transport::None => {
            out.extend_from_slice(b"ip-proto-");
            push_u64(out, d.ip_proto.map_or(0, u8::from).into());
            out.extend_from_slice(b", length ");
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

fn tcp_text(out: &mut Vec<u8>, data: &[u8], t: &TcpInfo, seg_len: usize) {
    let data_len = seg_len.saturating_sub(t.data_offset as usize * 4);
    out.extend_from_slice(b"Flags [");
    let mut f = [0u8; 9];
    let n = tcp::flags_str(t.flags, &mut f);
    out.extend_from_slice(if n == 0 { b"none" } else { &f[..n] });
    out.extend_from_slice(b"]");
    if data_len > 0 || t.flags & (tcp::SYN | tcp::FIN | tcp::RST) != 0 {
        out.extend_from_slice(b", seq ");
        push_u64(out, t.seq.into());
        if data_len > 0 {
            out.push(b':');
            push_u64(out, u64::from(t.seq.wrapping_add(data_len as u32)));
        }
    }
    if t.flags & tcp::ACK != 0 {
        out.extend_from_slice(b", ack ");
        push_u64(out, t.ack.into());
    }
    out.extend_from_slice(b", win ");
    push_u64(out, t.window.into());
    if t.flags & tcp::URG != 0 {
        out.extend_from_slice(b", urg ");
        push_u64(out, t.urgent.into());
    }
    let opts = t.options.slice(data);
    if !opts.is_empty() {
        out.extend_from_slice(b", options [");
        for (i, o) in TcpOptions::new(opts).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            tcp_option(out, o);
        }
        out.push(b']');
    }
    out.extend_from_slice(b", length ");
    push_u64(out, data_len as u64);
}

fn tcp_option(out: &mut Vec<u8>, o: TcpOption<'_>) {
    match o {
        TcpOption::EndOfList => out.extend_from_slice(b"eol"),
        TcpOption::NoOperation => out.extend_from_slice(b"nop"),
        TcpOption::MaxSegmentSize(m) => {
            out.extend_from_slice(b"mss ");
            push_u64(out, m.into());
        }
        TcpOption::WindowScale(w) => {
            out.extend_from_slice(b"wscale ");
            push_u64(out, w.into());
        }
        TcpOption::SackPermitted => out.extend_from_slice(b"sackOK"),
        TcpOption::Sack(blocks) => {
            out.extend_from_slice(b"sack ");
            push_u64(out, (blocks.len() / 8) as u64);
            for b in blocks.chunks_exact(8) {
                out.extend_from_slice(b" {");
                push_u64(out, u32::from_be_bytes([b[0], b[1], b[2], b[3]]).into());
                out.push(b':');
                push_u64(out, u32::from_be_bytes([b[4], b[5], b[6], b[7]]).into());
                out.push(b'}');
            }
        }
        TcpOption::Timestamps { tsval, tsecr } => {
            out.extend_from_slice(b"TS val ");
            push_u64(out, tsval.into());
            out.extend_from_slice(b" ecr ");
            push_u64(out, tsecr.into());
        }
        TcpOption::Unknown { kind, data } => {
            out.extend_from_slice(b"opt-");
            push_u64(out, kind.into());
            out.push(b':');
            for &b in data {
                out.extend_from_slice(&super::HEX_ESCAPE[b as usize][2..]);
            }
        }
        TcpOption::Malformed { kind } => {
            out.extend_from_slice(b"bad opt-");
            push_u64(out, kind.into());
        }
    }
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
        assert_eq!(
            line(LinkType::Raw, &p[..30]),
            "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: ip-proto-6, length 24 [|tcp]\n"
        );
        assert_eq!(line(LinkType::Raw, &p[..3]), "12:00:00.000001 IP [|ipv4]\n");
    }

    #[test]
    fn arp_and_unknown() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        assert_eq!(
            line(LinkType::Ethernet, &f),
            "12:00:00.000001 vlan 5, ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 28\n"
        );
        f[16] = 0x88;
        f[17] = 0xcc;
        assert_eq!(
            line(LinkType::Ethernet, &f),
            "12:00:00.000001 vlan 5, ethertype 0x88cc, length 28\n"
        );
        assert_eq!(
            line(LinkType::Unknown(147), &f),
            "12:00:00.000001 link type 147, length 46\n"
        );
    }
}
