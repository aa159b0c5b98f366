//! The `json` format: JSON Lines, one object per frame, with every decoded field.
//!
//! Serialisation is written by hand (no `serde` per frame): numbers through the lookup
//! tables in [`output`](super), strings through [`push_str`], which escapes `"`, `\`
//! and control characters, so every line parses with `jq`.
//!
//! The frame number is the one thing a worker cannot know (frames are decoded in
//! parallel): the worker notes where it goes and the writer, which sees the frames in
//! order, inserts it ([`super::number`]).
//!
//! # Schema
//!
//! This table is the schema; the README copies it. Keys appear in this order; objects
//! for layers that were not decoded are left out.
//!
//! | key | type | meaning |
//! | --- | --- | --- |
//! | `frame` | integer | the frame's number in the output, from 1 (frames a filter dropped are not counted) |
//! | `ts` | string | capture time, RFC 3339 in UTC with nanoseconds: `2023-11-14T22:13:20.000001000Z` |
//! | `ts_ns` | integer | the same in nanoseconds since the UNIX epoch (exact: `jq` rounds numbers above 2^53, so compare it as a string, `tostring`, or use `ts`) |
//! | `src`, `dst` | string | the IPv4 or IPv6 addresses (outermost IP header), when there is one |
//! | `sport`, `dport` | integer | TCP or UDP ports, when there are (also from a header cut after them) |
//! | `len` | integer | length on the wire |
//! | `caplen` | integer | bytes captured |
//! | `ifindex` | integer | interface index, 0 when unknown |
//! | `ifname` | string | the interface's name, when known (live captures, pcapng `if_name`) |
//! | `dir` | string | `in`, `out` or `unknown` |
//! | `drops` | integer | frames lost just before this one, when the source says (pcapng `epb_dropcount`); absent when 0 |
//! | `link` | string | `ethernet`, `raw`, `linux_sll`, `linux_sll2`, `ipv4`, `ipv6`, `unknown` |
//! | `linktype` | integer | pcap `LINKTYPE_*` number |
//! | `eth` | object | `src`, `dst` (`aa:bb:..`), `type` (outer EtherType / length field) |
//! | `sll` | object | `version`, `pkttype`, `hatype`, `addr`, `protocol`, `ifindex` |
//! | `vlan` | array | per tag, outermost first: `tpid`, `id`, `pcp`, `dei` (bool) |
//! | `ethertype` | integer | EtherType of the network layer (after VLAN tags) |
//! | `arp` | object | `htype`, `ptype`, `hlen`, `plen`, `op`; `sha`, `spa`, `tha`, `tpa` for Ethernet/IPv4 |
//! | `ipv4` | object | `ihl`, `tos`, `total_len`, `id`, `df`, `mf` (bools), `frag_off` (8-byte units), `ttl`, `proto`, `checksum`, `src`, `dst` |
//! | `ipv6` | object | `tc`, `flow`, `payload_len`, `next_header`, `hop_limit`, `src`, `dst`, `ext` (extension header kinds), `frag` (`offset`, `mf`, `id`) when fragmented |
//! | `proto` | integer | transport protocol number, after IPv6 extension headers |
//! | `tcp` | object | `sport`, `dport`, `seq`, `ack` (absolute), `off` (data offset, words), `flags` (tcpdump letters: `S`, `S.`, ...), `flags_int`, `win`, `checksum`, `urg`, `options` |
//! | `udp` | object | `sport`, `dport`, `len`, `checksum` |
//! | `icmp`, `icmpv6` | object | `type`, `code`, `checksum`; `id`, `seq` for echo; `target` for ICMPv6 neighbor discovery |
//! | `dns` | object | DNS on UDP or TCP port 53 and mDNS on UDP 5353 (as `-F line` decodes it): see below |
//! | `payload_len` | integer | captured bytes after the last decoded header (IP padding excluded) |
//! | `payload` | string | those bytes, in hex or base64, with `--json-payload hex\|base64` only |
//! | `truncated` | string or null | first layer cut short by the capture (see [`Layer::as_str`]) |
//! | `invalid` | string or null | first layer with an impossible field (IHL < 5, ...) |
//!
//! TCP `options` is an array of objects with a `kind`: `eol`, `nop`, `mss` (`value`),
//! `wscale` (`value`), `sack_perm`, `sack` (`blocks`: `[[left, right], ...]`), `ts`
//! (`val`, `ecr`), `unknown` (`num`, `len`), `malformed` (`num`).
//!
//! `dns`: `id`, `response` (bool), `opcode`, `rcode` (the header's 4 bits), `flags`
//! (array of the set ones among `aa`, `tc`, `rd`, `ra`, `ad`, `cd`), `qdcount`,
//! `ancount`, `nscount`, `arcount`, `questions` (`name`, `type`, `class`), `answers`
//! (`name`, `type`, `class`, `ttl`, and `data` for A, AAAA, NS, CNAME, PTR and DNAME
//! records), and `truncated: true` when the capture ends before the questions and
//! answers do. Names are written as tcpdump writes them, without the final dot (the
//! root as `.`); types and classes by name (`A`, `IN`), else `TypeN`, `(Class N)`.
pub(crate) mod dns;
pub(crate) use dns::message as dns_message;
mod text;
pub(crate) use text::{push_payload, push_rfc3339};

use std::ops::Range;

use super::{push_ipv4, push_ipv6, push_mac, push_u64, BatchText, Deferred, Printer};
use crate::decode::{
    icmp::IcmpInfo, icmpv6, Decoded, IssueKind, Layer, LinkHeader, Net, Transport,
};
use crate::packet::{Frame, InterfaceNames, LinkType};

/// How the bytes after the last decoded header are written (`--json-payload`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Payload {
    /// Not at all (the default): only `payload_len`.
    #[default]
    #[value(skip)]
    None,
    /// Lower-case hex, two digits per byte.
    Hex,
    /// Standard base64 (RFC 4648, with padding).
    Base64,
}

/// The `json` printer: the interface names and options; a worker's notes where frame
/// numbers go, the writer's counts the frames.
#[derive(Clone, Debug, Default)]
pub struct Json {
    pub names: InterfaceNames,
    pub payload: Payload,
    numbers: super::number::Numbers,
}

impl Json {
    pub fn new(names: InterfaceNames, payload: Payload) -> Self {
        Self {
            names,
            payload,
            numbers: Default::default(),
        }
    }
}

/// Appends `s` as a JSON string, escaping what JSON requires.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&super::HEX_ESCAPE[b as usize][2..]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// `,"name":` as one byte string, made at compile time.
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

// After `k!`, which it uses.
mod tcp;
use tcp::tcp_obj;

/// `,"name":` for a name chosen at run time.
fn key(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
}

#[inline]
fn num(out: &mut Vec<u8>, key: &[u8], v: u64) {
    out.extend_from_slice(key);
    push_u64(out, v);
}

#[inline]
fn boolean(out: &mut Vec<u8>, key: &[u8], v: bool) {
    out.extend_from_slice(key);
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn link_name(link: LinkType) -> &'static str {
    match link {
        LinkType::Ethernet => "ethernet",
        LinkType::Raw => "raw",
        LinkType::LinuxSll => "linux_sll",
        LinkType::LinuxSll2 => "linux_sll2",
        LinkType::Ipv4 => "ipv4",
        LinkType::Ipv6 => "ipv6",
        LinkType::Unknown(_) => "unknown",
    }
}

impl Printer for Json {
    fn print(&mut self, frame: &Frame<'_>, d: &Decoded, out: &mut Vec<u8>) {
        let m = &frame.meta;
        self.numbers.begin(out.len());
        out.extend_from_slice(b"{\"frame\":");
        self.numbers.here(out.len());
        out.extend_from_slice(b",\"ts\":\"");
        push_rfc3339(out, m.ts_ns);
        out.push(b'"');
        num(out, k!("ts_ns"), m.ts_ns);
        top_level(out, d);
        num(out, k!("len"), m.orig_len.into());
        num(out, k!("caplen"), frame.data.len() as u64);
        num(out, k!("ifindex"), m.ifindex.into());
        if let Some(name) = self.names.name(m.iface) {
            out.extend_from_slice(k!("ifname"));
            push_str(out, name);
        }
        out.extend_from_slice(k!("dir"));
        push_str(out, m.direction.as_str());
        if m.drops > 0 {
            num(out, k!("drops"), m.drops.into());
        }
        out.extend_from_slice(k!("link"));
        push_str(out, link_name(m.link));
        num(out, k!("linktype"), m.link.to_linktype().into());
        match &d.link {
            LinkHeader::Ethernet(e) => {
                out.extend_from_slice(b",\"eth\":{\"src\":\"");
                push_mac(out, &e.src, false);
                out.extend_from_slice(b"\",\"dst\":\"");
                push_mac(out, &e.dst, false);
                out.push(b'"');
                num(out, k!("type"), e.ethertype.into());
                out.push(b'}');
            }
            LinkHeader::Sll(s) => {
                out.extend_from_slice(b",\"sll\":{\"version\":");
                push_u64(out, s.version.into());
                num(out, k!("pkttype"), s.packet_type.into());
                num(out, k!("hatype"), s.hatype.into());
                out.extend_from_slice(b",\"addr\":\"");
                push_mac(out, s.address(), false);
                out.push(b'"');
                num(out, k!("protocol"), s.protocol.into());
                num(out, k!("ifindex"), s.ifindex.into());
                out.push(b'}');
            }
            LinkHeader::None => {}
        }
        if !d.vlan_tags().is_empty() {
            out.extend_from_slice(b",\"vlan\":[");
            for (i, t) in d.vlan_tags().iter().enumerate() {
                out.extend_from_slice(if i == 0 {
                    b"{\"tpid\":"
                } else {
                    b",{\"tpid\":"
                });
                push_u64(out, t.tpid.into());
                num(out, k!("id"), t.vid.into());
                num(out, k!("pcp"), t.pcp.into());
                boolean(out, k!("dei"), t.dei);
                out.push(b'}');
            }
            out.push(b']');
        }
        if let Some(et) = d.ethertype {
            num(out, k!("ethertype"), u16::from(et).into());
        }
        net(out, d);
        if let Some(p) = d.ip_proto {
            num(out, k!("proto"), u8::from(p).into());
        }
        transport(out, frame.data, d);
        if let Some(msg) = dns::message(frame.data, d) {
            dns::object(out, msg);
        }
        num(out, k!("payload_len"), d.payload.len.into());
        if self.payload != Payload::None {
            out.extend_from_slice(k!("payload"));
            out.push(b'"');
            push_payload(out, d.payload.slice(frame.data), self.payload);
            out.push(b'"');
        }
        for (name, kind) in [
            (&b"truncated"[..], IssueKind::Truncated),
            (b"invalid", IssueKind::Invalid),
        ] {
            key(out, name);
            match d.issue {
                Some(i) if i.kind == kind => push_str(out, layer_name(i.layer)),
                _ => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b"}\n");
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

/// `src`, `dst`, `sport`, `dport` where the frame has them.
fn top_level(out: &mut Vec<u8>, d: &Decoded) {
    match &d.net {
        Net::Ipv4(ip) => {
            out.extend_from_slice(b",\"src\":\"");
            push_ipv4(out, ip.src);
            out.extend_from_slice(b"\",\"dst\":\"");
            push_ipv4(out, ip.dst);
            out.push(b'"');
        }
        Net::Ipv6(ip) => {
            out.extend_from_slice(b",\"src\":\"");
            push_ipv6(out, ip.src);
            out.extend_from_slice(b"\",\"dst\":\"");
            push_ipv6(out, ip.dst);
            out.push(b'"');
        }
        Net::None | Net::Arp(_) => return,
    }
    if let Some((sport, dport)) = d.ports {
        num(out, k!("sport"), sport.into());
        num(out, k!("dport"), dport.into());
    }
}

fn layer_name(l: Layer) -> &'static str {
    l.as_str()
}

fn net(out: &mut Vec<u8>, d: &Decoded) {
    match &d.net {
        Net::None => {}
        Net::Arp(a) => {
            out.extend_from_slice(b",\"arp\":{\"htype\":");
            push_u64(out, a.htype.into());
            num(out, k!("ptype"), a.ptype.into());
            num(out, k!("hlen"), a.hlen.into());
            num(out, k!("plen"), a.plen.into());
            num(out, k!("op"), a.oper.into());
            if a.eth_ipv4 {
                for (k, mac, ip) in [(&b"sha"[..], a.sha, a.spa), (b"tha", a.tha, a.tpa)] {
                    key(out, k);
                    out.push(b'"');
                    push_mac(out, &mac, false);
                    out.push(b'"');
                    key(out, if k == b"sha" { b"spa" } else { b"tpa" });
                    out.push(b'"');
                    push_ipv4(out, ip);
                    out.push(b'"');
                }
            }
            out.push(b'}');
        }
        Net::Ipv4(ip) => {
            out.extend_from_slice(b",\"ipv4\":{\"ihl\":");
            push_u64(out, ip.ihl.into());
            num(out, k!("tos"), ip.tos.into());
            num(out, k!("total_len"), ip.total_len.into());
            num(out, k!("id"), ip.ident.into());
            boolean(out, k!("df"), ip.dont_frag);
            boolean(out, k!("mf"), ip.more_frags);
            num(out, k!("frag_off"), ip.frag_offset.into());
            num(out, k!("ttl"), ip.ttl.into());
            num(out, k!("proto"), ip.protocol.into());
            num(out, k!("checksum"), ip.checksum.into());
            out.extend_from_slice(b",\"src\":\"");
            push_ipv4(out, ip.src);
            out.extend_from_slice(b"\",\"dst\":\"");
            push_ipv4(out, ip.dst);
            out.extend_from_slice(b"\"}");
        }
        Net::Ipv6(ip) => {
            out.extend_from_slice(b",\"ipv6\":{\"tc\":");
            push_u64(out, ip.traffic_class.into());
            num(out, k!("flow"), ip.flow_label.into());
            num(out, k!("payload_len"), ip.payload_len.into());
            num(out, k!("next_header"), ip.next_header.into());
            num(out, k!("hop_limit"), ip.hop_limit.into());
            out.extend_from_slice(b",\"src\":\"");
            push_ipv6(out, ip.src);
            out.extend_from_slice(b"\",\"dst\":\"");
            push_ipv6(out, ip.dst);
            out.extend_from_slice(b"\",\"ext\":[");
            for (i, &e) in ip.ext_headers().iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_u64(out, e.into());
            }
            out.push(b']');
            if let Some(f) = ip.frag {
                out.extend_from_slice(b",\"frag\":{\"offset\":");
                push_u64(out, f.offset.into());
                boolean(out, k!("mf"), f.more_frags);
                num(out, k!("id"), f.ident.into());
                out.push(b'}');
            }
            out.push(b'}');
        }
    }
}

fn transport(out: &mut Vec<u8>, data: &[u8], d: &Decoded) {
    match &d.transport {
        Transport::None => {}
        Transport::Tcp(t) => tcp_obj(out, data, t),
        Transport::Udp(u) => {
            out.extend_from_slice(b",\"udp\":{\"sport\":");
            push_u64(out, u.sport.into());
            num(out, k!("dport"), u.dport.into());
            num(out, k!("len"), u.length.into());
            num(out, k!("checksum"), u.checksum.into());
            out.push(b'}');
        }
        Transport::Icmp(i) => icmp_obj(
            out,
            b",\"icmp\":{\"type\":",
            i,
            matches!(i.msg_type, 0 | 8),
            None,
        ),
        Transport::Icmpv6(i) => {
            let body = (d.transport_off as usize).min(data.len());
            let target = icmpv6::nd_target(i.msg_type, &data[body..]);
            icmp_obj(
                out,
                b",\"icmpv6\":{\"type\":",
                i,
                matches!(i.msg_type, 128 | 129),
                target,
            );
        }
    }
}

fn icmp_obj(
    out: &mut Vec<u8>,
    open: &[u8],
    i: &IcmpInfo,
    echo: bool,
    target: Option<std::net::Ipv6Addr>,
) {
    out.extend_from_slice(open);
    push_u64(out, i.msg_type.into());
    num(out, k!("code"), i.code.into());
    num(out, k!("checksum"), i.checksum.into());
    if let (true, Some((id, seq))) = (echo, i.echo_id_seq()) {
        num(out, k!("id"), id.into());
        num(out, k!("seq"), seq.into());
    }
    if let Some(t) = target {
        out.extend_from_slice(b",\"target\":\"");
        push_ipv6(out, t);
        out.push(b'"');
    }
    out.push(b'}');
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
