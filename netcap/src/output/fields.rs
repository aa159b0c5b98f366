//! The `fields` format: chosen fields, tab-separated, one line per frame, as tshark's
//! `-T fields -e NAME ...` prints them.
//!
//! ```text
//! $ netcap read f.pcap -F fields -e frame.number -e ip.src -e tcp.dstport
//! 1→10.0.0.1→80
//! 2→10.0.0.2→
//! ```
//!
//! (→ a tab.) The names are Wireshark's display-filter names and the values are written as
//! tshark 4.0 writes them (`eth.type` as `0x0800`, `ip.id` as `0x1c46`, `tcp.flags` as
//! `0x0012`); a field the frame does not have is empty. Each field has one value, the
//! outermost header's (tshark's `-E occurrence=f`: an ICMP error's quoted IP header and
//! an inner VLAN tag are not shown; `vlan.id` is the 802.1Q tag, `ieee8021ad.id` the 802.1ad one, as tshark names them). One deliberate difference: `tcp.seq` and `tcp.ack`
//! are the numbers in the header (tshark's `-o tcp.relative_sequence_numbers:FALSE`,
//! or its `tcp.seq_raw` and `tcp.ack_raw`, which netcap also has), since the fields of
//! one frame are written by a worker that does not see the conversation. Checked
//! against tshark by `netcap/tests/fields_tshark.rs`.
use std::ops::Range;
use std::sync::Arc;

use super::json::dns_message;
use super::{push_ipv4, push_ipv6, push_mac, push_u64, BatchText, Deferred, Printer};
use crate::decode::dns::{DnsMessage, HEADER_LEN};
use crate::decode::{Decoded, LinkHeader, Net, Transport};
use crate::packet::Frame;

macro_rules! fields {
    ($($name:literal => $var:ident,)*) => {
        /// One field `-F fields` can print (`-e NAME`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Field { $($var,)* }

        impl Field {
            /// Every field, by name.
            pub const ALL: &'static [(&'static str, Field)] = &[$(($name, Field::$var),)*];
        }
    };
}

fields! {
    "frame.number" => FrameNumber,
    "frame.time_epoch" => FrameTimeEpoch,
    "frame.len" => FrameLen,
    "frame.cap_len" => FrameCapLen,
    "eth.src" => EthSrc,
    "eth.dst" => EthDst,
    "eth.type" => EthType,
    "vlan.id" => VlanId,
    "ieee8021ad.id" => QinqId,
    "arp.opcode" => ArpOpcode,
    "arp.src.hw_mac" => ArpSrcHw,
    "arp.src.proto_ipv4" => ArpSrcIp,
    "arp.dst.hw_mac" => ArpDstHw,
    "arp.dst.proto_ipv4" => ArpDstIp,
    "ip.src" => IpSrc,
    "ip.dst" => IpDst,
    "ip.proto" => IpProto,
    "ip.ttl" => IpTtl,
    "ip.len" => IpLen,
    "ip.id" => IpId,
    "ip.hdr_len" => IpHdrLen,
    "ipv6.src" => Ipv6Src,
    "ipv6.dst" => Ipv6Dst,
    "ipv6.nxt" => Ipv6Nxt,
    "ipv6.hlim" => Ipv6Hlim,
    "ipv6.plen" => Ipv6Plen,
    "tcp.srcport" => TcpSrcPort,
    "tcp.dstport" => TcpDstPort,
    "tcp.flags" => TcpFlags,
    "tcp.seq" => TcpSeq,
    "tcp.ack" => TcpAck,
    "tcp.seq_raw" => TcpSeqRaw,
    "tcp.ack_raw" => TcpAckRaw,
    "tcp.len" => TcpLen,
    "tcp.hdr_len" => TcpHdrLen,
    "tcp.window_size_value" => TcpWindow,
    "udp.srcport" => UdpSrcPort,
    "udp.dstport" => UdpDstPort,
    "udp.length" => UdpLength,
    "icmp.type" => IcmpType,
    "icmp.code" => IcmpCode,
    "icmpv6.type" => Icmpv6Type,
    "icmpv6.code" => Icmpv6Code,
    "dns.id" => DnsId,
    "dns.flags.response" => DnsResponse,
    "dns.count.queries" => DnsQueries,
    "dns.count.answers" => DnsAnswers,
    "dns.qry.name" => DnsQryName,
    "dns.qry.type" => DnsQryType,
}

impl Field {
    /// The field named `name`, or an error that lists the names.
    pub fn parse(name: &str) -> Result<Self, String> {
        // tshark users write IPv4's fields as ipv4.*; Wireshark names them ip.*.
        let ip = name.strip_prefix("ipv4.").map(|rest| format!("ip.{rest}"));
        let name = ip.as_deref().unwrap_or(name);
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown field {name:?}; known: {}", names.join(" "))
            })
    }
}

/// The `fields` printer.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    fields: Arc<[Field]>,
    numbers: super::number::Numbers,
}

impl Fields {
    pub fn new(fields: Arc<[Field]>) -> Self {
        Self {
            fields,
            numbers: Default::default(),
        }
    }
}

impl Printer for Fields {
    fn print(&mut self, frame: &Frame<'_>, d: &Decoded, out: &mut Vec<u8>) {
        self.numbers.begin(out.len());
        let mut scratch = Vec::new();
        for (i, &f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            if f == Field::FrameNumber {
                self.numbers.here(out.len());
            } else {
                value(out, f, frame, d, &mut scratch);
            }
        }
        out.push(b'\n');
    }

    fn take_deferred(&mut self) -> Deferred {
        self.numbers.take()
    }

    fn resolve(
        &mut self,
        batch: BatchText<'_>,
        frames: Range<usize>,
        deferred: &Deferred,
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
    ) {
        self.numbers.resolve(batch, frames, deferred, out, out_ends);
    }
}

/// `0x` and `digits` lower-case hex digits, as tshark writes hex fields.
fn hex(out: &mut Vec<u8>, v: u32, digits: u32) {
    out.extend_from_slice(b"0x");
    for i in (0..digits).rev() {
        out.push(super::HEX_LOWER[((v >> (4 * i)) & 15) as usize]);
    }
}

/// Appends the value of `f`, or nothing when the frame does not have it.
fn value(out: &mut Vec<u8>, f: Field, frame: &Frame<'_>, d: &Decoded, scratch: &mut Vec<u8>) {
    use Field::*;
    let n = |out: &mut Vec<u8>, v: u64| push_u64(out, v);
    let m = &frame.meta;
    match (f, &d.net, &d.transport) {
        (FrameNumber, ..) => {}
        (FrameTimeEpoch, ..) => {
            n(out, m.ts_ns / 1_000_000_000);
            out.push(b'.');
            super::push_u64_padded(out, m.ts_ns % 1_000_000_000, 9);
        }
        (FrameLen, ..) => n(out, m.orig_len.into()),
        (FrameCapLen, ..) => n(out, frame.data.len() as u64),
        (EthSrc | EthDst | EthType, ..) => {
            if let LinkHeader::Ethernet(e) = &d.link {
                match f {
                    EthSrc => push_mac(out, &e.src, false),
                    EthDst => push_mac(out, &e.dst, false),
                    _ => hex(out, e.ethertype.into(), 4),
                }
            }
        }
        // tshark's vlan.id is 802.1Q's; an 802.1ad (QinQ) service tag is its own.
        (VlanId | QinqId, ..) => {
            let qinq = f == QinqId;
            if let Some(t) = d.vlan_tags().iter().find(|t| (t.tpid == 0x88a8) == qinq) {
                n(out, t.vid.into());
            }
        }
        (ArpOpcode, Net::Arp(a), _) => n(out, a.oper.into()),
        (ArpSrcHw, Net::Arp(a), _) if a.eth_ipv4 => push_mac(out, &a.sha, false),
        (ArpDstHw, Net::Arp(a), _) if a.eth_ipv4 => push_mac(out, &a.tha, false),
        (ArpSrcIp, Net::Arp(a), _) if a.eth_ipv4 => push_ipv4(out, a.spa),
        (ArpDstIp, Net::Arp(a), _) if a.eth_ipv4 => push_ipv4(out, a.tpa),
        (IpSrc, Net::Ipv4(ip), _) => push_ipv4(out, ip.src),
        (IpDst, Net::Ipv4(ip), _) => push_ipv4(out, ip.dst),
        (IpProto, Net::Ipv4(ip), _) => n(out, ip.protocol.into()),
        (IpTtl, Net::Ipv4(ip), _) => n(out, ip.ttl.into()),
        (IpLen, Net::Ipv4(ip), _) => n(out, ip.total_len.into()),
        (IpId, Net::Ipv4(ip), _) => hex(out, ip.ident.into(), 4),
        (IpHdrLen, Net::Ipv4(ip), _) => n(out, u64::from(ip.ihl) * 4),
        (Ipv6Src, Net::Ipv6(ip), _) => push_ipv6(out, ip.src),
        (Ipv6Dst, Net::Ipv6(ip), _) => push_ipv6(out, ip.dst),
        (Ipv6Nxt, Net::Ipv6(ip), _) => n(out, ip.next_header.into()),
        (Ipv6Hlim, Net::Ipv6(ip), _) => n(out, ip.hop_limit.into()),
        (Ipv6Plen, Net::Ipv6(ip), _) => n(out, ip.payload_len.into()),
        (TcpSrcPort, _, Transport::Tcp(t)) => n(out, t.sport.into()),
        (TcpDstPort, _, Transport::Tcp(t)) => n(out, t.dport.into()),
        // All 12 bits after the data offset, the reserved ones too, as tshark.
        (TcpFlags, _, Transport::Tcp(_)) => {
            let at = d.transport_off as usize + 12;
            if let Some(b) = frame.data.get(at..at + 2) {
                hex(out, u32::from(u16::from_be_bytes([b[0], b[1]]) & 0xfff), 4);
            }
        }
        (TcpSeq | TcpSeqRaw, _, Transport::Tcp(t)) => n(out, t.seq.into()),
        (TcpAck | TcpAckRaw, _, Transport::Tcp(t)) => n(out, t.ack.into()),
        (TcpHdrLen, _, Transport::Tcp(t)) => n(out, u64::from(t.data_offset) * 4),
        (TcpWindow, _, Transport::Tcp(t)) => n(out, t.window.into()),
        (TcpLen, _, Transport::Tcp(t)) => {
            // From the IP length, as tshark: what the segment carries, captured or not.
            let ip_end = match &d.net {
                Net::Ipv4(ip) => d.net_off as usize + ip.total_len as usize,
                Net::Ipv6(ip) => d.net_off as usize + 40 + ip.payload_len as usize,
                _ => 0,
            };
            let hdr = d.transport_off as usize + usize::from(t.data_offset) * 4;
            n(out, ip_end.saturating_sub(hdr) as u64);
        }
        (UdpSrcPort, _, Transport::Udp(u)) => n(out, u.sport.into()),
        (UdpDstPort, _, Transport::Udp(u)) => n(out, u.dport.into()),
        (UdpLength, _, Transport::Udp(u)) => n(out, u.length.into()),
        (IcmpType, _, Transport::Icmp(i)) | (Icmpv6Type, _, Transport::Icmpv6(i)) => {
            n(out, i.msg_type.into())
        }
        (IcmpCode, _, Transport::Icmp(i)) | (Icmpv6Code, _, Transport::Icmpv6(i)) => {
            n(out, i.code.into())
        }
        (DnsId | DnsResponse | DnsQueries | DnsAnswers | DnsQryName | DnsQryType, ..) => {
            dns(out, f, frame, d, scratch)
        }
        _ => {}
    }
}

/// The DNS fields (the first question's, for `dns.qry.*`).
fn dns(out: &mut Vec<u8>, f: Field, frame: &Frame<'_>, d: &Decoded, scratch: &mut Vec<u8>) {
    let Some(msg) = dns_message(frame.data, d) else {
        return;
    };
    let Some(m) = DnsMessage::new_checked(msg) else {
        return;
    };
    match f {
        Field::DnsId => hex(out, m.id().into(), 4),
        Field::DnsResponse => out.push(if m.is_response() { b'1' } else { b'0' }),
        Field::DnsQueries => push_u64(out, m.qdcount().into()),
        Field::DnsAnswers => push_u64(out, m.ancount().into()),
        Field::DnsQryName | Field::DnsQryType if m.qdcount() > 0 => {
            let Some(q) = m.question(HEADER_LEN) else {
                return;
            };
            if f == Field::DnsQryType {
                return push_u64(out, q.qtype.into());
            }
            if super::json::dns::name_text(msg, q.name, scratch).is_some() {
                if scratch.as_slice() == b"." {
                    out.extend_from_slice(b"<Root>");
                } else {
                    out.extend_from_slice(scratch);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
