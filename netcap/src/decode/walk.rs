//! The layer walk behind [`decode`]: link -> VLAN tags -> network -> transport.
//!
//! Every step takes the captured bytes and an offset, reads through a view from this
//! module's siblings, and records what it saw in the [`Decoded`]; a header that is cut
//! or impossible records an [`Issue`] and ends the walk. Offsets only grow by the length
//! of a header already checked to be present, so no slice below can panic.
use crate::packet::{Frame, LinkType};

use super::arp::ArpPacket;
use super::ethernet::{self, EthernetFrame};
use super::icmp::IcmpPacket;
use super::ipv4::{self, Ipv4Packet};
use super::ipv6::{self, ExtHeader, Ipv6Packet, MAX_EXT_HEADERS};
use super::sll::{self, SllInfo};
use super::tcp::{self, TcpPacket};
use super::udp::{self, UdpPacket};
use super::vlan::{self, VlanHeader, VlanTag};
use super::{
    be16, Decoded, EtherType, IpProtocol, Issue, IssueKind, Layer, LinkHeader, Net, Span,
    Transport, MAX_VLAN_TAGS,
};

/// Most VLAN tags walked through; a longer stack is marked invalid. Real networks use
/// two (QinQ); eight bounds the work a crafted frame can cause.
const MAX_VLAN_WALK: usize = 8;

/// Decodes one frame. Never fails, never panics, allocates nothing.
pub fn decode(frame: &Frame<'_>) -> Decoded {
    let mut d = Decoded::default();
    let data = frame.data;
    match frame.meta.link {
        LinkType::Ethernet => match EthernetFrame::new_checked(data) {
            Some(eth) => {
                d.link = LinkHeader::Ethernet(eth.info());
                ether(&mut d, data, ethernet::HEADER_LEN, eth.ethertype_raw());
            }
            None => issue(&mut d, Layer::Link, IssueKind::Truncated),
        },
        LinkType::LinuxSll => match SllInfo::parse_v1(data) {
            Some(s) => {
                d.link = LinkHeader::Sll(s);
                ether(&mut d, data, sll::V1_HEADER_LEN, s.protocol);
            }
            None => issue(&mut d, Layer::Link, IssueKind::Truncated),
        },
        LinkType::LinuxSll2 => match SllInfo::parse_v2(data) {
            Some(s) => {
                d.link = LinkHeader::Sll(s);
                ether(&mut d, data, sll::V2_HEADER_LEN, s.protocol);
            }
            None => issue(&mut d, Layer::Link, IssueKind::Truncated),
        },
        LinkType::Raw => match data.first().map(|b| b >> 4) {
            Some(4) => ipv4(&mut d, data, 0),
            Some(6) => ipv6(&mut d, data, 0),
            Some(_) => issue(&mut d, Layer::Link, IssueKind::Invalid),
            None => issue(&mut d, Layer::Link, IssueKind::Truncated),
        },
        LinkType::Ipv4 => ipv4(&mut d, data, 0),
        LinkType::Ipv6 => ipv6(&mut d, data, 0),
        LinkType::Unknown(_) => {}
    }
    d
}

/// Records the first issue only.
fn issue(d: &mut Decoded, layer: Layer, kind: IssueKind) {
    if d.issue.is_none() {
        d.issue = Some(Issue { layer, kind });
    }
}

fn tail(data: &[u8], off: usize) -> &[u8] {
    data.get(off..).unwrap_or(&[])
}

/// From an EtherType at `off`: VLAN tags, then the network layer.
fn ether(d: &mut Decoded, data: &[u8], mut off: usize, mut ethertype: u16) {
    let mut walked = 0;
    while EtherType::from(ethertype).is_vlan() {
        let Some(h) = VlanHeader::new_checked(tail(data, off)) else {
            issue(d, Layer::Vlan, IssueKind::Truncated);
            return;
        };
        // Keep the outer tags and, in the last slot, the innermost one.
        let slot = (d.vlan_count as usize).min(MAX_VLAN_TAGS - 1);
        d.vlans[slot] = VlanTag::from_header(ethertype, &h);
        d.vlan_count = (slot + 1) as u8;
        ethertype = h.ethertype_raw();
        off += vlan::HEADER_LEN;
        walked += 1;
        if walked >= MAX_VLAN_WALK {
            issue(d, Layer::Vlan, IssueKind::Invalid);
            return;
        }
    }
    let et = EtherType::from(ethertype);
    d.ethertype = Some(et);
    d.net_off = off as u32;
    match et {
        EtherType::Arp => arp(d, data, off),
        EtherType::Ipv4 => ipv4(d, data, off),
        EtherType::Ipv6 => ipv6(d, data, off),
        _ => d.payload = Span::new(off, tail(data, off).len()),
    }
}

fn arp(d: &mut Decoded, data: &[u8], off: usize) {
    let Some(p) = ArpPacket::new_checked(tail(data, off)) else {
        issue(d, Layer::Arp, IssueKind::Truncated);
        return;
    };
    d.net = Net::Arp(p.info());
    let avail = tail(data, off).len();
    if avail < p.total_len() {
        issue(d, Layer::Arp, IssueKind::Truncated);
    }
    d.payload = Span::new(off + p.total_len().min(avail), 0);
}

fn ipv4(d: &mut Decoded, data: &[u8], off: usize) {
    d.net_off = off as u32;
    let b = tail(data, off);
    let Some(ip) = Ipv4Packet::new_checked(b) else {
        issue(d, Layer::Ipv4, IssueKind::Truncated);
        return;
    };
    let info = ip.info();
    d.net = Net::Ipv4(info);
    d.ip_proto = Some(info.protocol.into());
    let hl = ip.header_len();
    if hl < ipv4::MIN_HEADER_LEN || ip.version() != 4 {
        return issue(d, Layer::Ipv4, IssueKind::Invalid);
    }
    if hl > b.len() {
        return issue(d, Layer::Ipv4, IssueKind::Truncated);
    }
    // Lax about the total length: 0 (segmentation offload) or a value shorter than the
    // header means "to the end of the capture".
    let total = info.total_len as usize;
    let end = if total >= hl {
        total.min(b.len())
    } else {
        b.len()
    };
    if info.frag_offset != 0 {
        // Not the first fragment: no transport header here.
        d.payload = Span::new(off + hl, end - hl);
        return;
    }
    transport(d, data, off + hl, off + end, info.protocol.into());
}

fn ipv6(d: &mut Decoded, data: &[u8], off: usize) {
    d.net_off = off as u32;
    let b = tail(data, off);
    let Some(ip) = Ipv6Packet::new_checked(b) else {
        issue(d, Layer::Ipv6, IssueKind::Truncated);
        return;
    };
    let mut info = ip.info();
    if ip.version() != 6 {
        d.net = Net::Ipv6(info);
        return issue(d, Layer::Ipv6, IssueKind::Invalid);
    }
    let plen = info.payload_len as usize;
    // Payload length 0 is a jumbogram or offload: to the end of the capture.
    let end = if plen == 0 {
        b.len()
    } else {
        (ipv6::HEADER_LEN + plen).min(b.len())
    };
    let mut next = ip.next_header();
    let mut pos = ipv6::HEADER_LEN;
    let mut cut = false;
    while ipv6::is_ext_header(next) && (info.ext_count as usize) < MAX_EXT_HEADERS {
        let Some(e) = ExtHeader::new_checked(next, b.get(pos..end).unwrap_or(&[])) else {
            cut = true;
            break;
        };
        info.exts[info.ext_count as usize] = next.into();
        info.ext_count += 1;
        if let Some(f) = e.fragment() {
            info.frag = Some(f);
        }
        next = e.next_header();
        pos += e.header_len();
        if pos > end {
            cut = true;
            break;
        }
    }
    d.net = Net::Ipv6(info);
    if cut {
        return issue(d, Layer::Ipv6Ext, IssueKind::Truncated);
    }
    d.ip_proto = Some(next);
    if info.frag.is_some_and(|f| f.offset != 0) {
        d.payload = Span::new(off + pos, end - pos);
        return;
    }
    transport(d, data, off + pos, off + end, next);
}

/// The transport header in `data[off..end]` (`end` is the IP payload end, capped by the
/// capture).
fn transport(d: &mut Decoded, data: &[u8], off: usize, end: usize, proto: IpProtocol) {
    let b = data.get(off..end).unwrap_or(&[]);
    d.transport_off = off as u32;
    match proto {
        IpProtocol::Tcp => {
            if b.len() >= 4 {
                d.ports = Some((be16(b, 0), be16(b, 2)));
            }
            let Some(t) = TcpPacket::new_checked(b) else {
                return issue(d, Layer::Tcp, IssueKind::Truncated);
            };
            d.transport = Transport::Tcp(t.info(off));
            let hl = t.header_len();
            if hl < tcp::MIN_HEADER_LEN {
                return issue(d, Layer::Tcp, IssueKind::Invalid);
            }
            if hl > b.len() {
                return issue(d, Layer::Tcp, IssueKind::Truncated);
            }
            d.payload = Span::new(off + hl, b.len() - hl);
        }
        IpProtocol::Udp => {
            if b.len() >= 4 {
                d.ports = Some((be16(b, 0), be16(b, 2)));
            }
            let Some(u) = UdpPacket::new_checked(b) else {
                return issue(d, Layer::Udp, IssueKind::Truncated);
            };
            d.transport = Transport::Udp(u.info());
            let len = u.len() as usize;
            let stop = if len >= udp::HEADER_LEN {
                len.min(b.len())
            } else {
                b.len()
            };
            d.payload = Span::new(off + udp::HEADER_LEN, stop - udp::HEADER_LEN);
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let layer = if proto == IpProtocol::Icmp {
                Layer::Icmp
            } else {
                Layer::Icmpv6
            };
            let Some(p) = IcmpPacket::new_checked(b) else {
                return issue(d, layer, IssueKind::Truncated);
            };
            let info = p.info();
            d.transport = if proto == IpProtocol::Icmp {
                Transport::Icmp(info)
            } else {
                Transport::Icmpv6(info)
            };
            if info.rest.is_none() {
                return issue(d, layer, IssueKind::Truncated);
            }
            d.payload = Span::new(off + 8, b.len() - 8);
        }
        _ => d.payload = Span::new(off, b.len()),
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
