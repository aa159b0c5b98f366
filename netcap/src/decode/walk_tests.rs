//! Whole-frame tests of the layer walk, with literal frames.
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::packet::{Direction, FrameMeta};

fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
    Frame {
        meta: FrameMeta {
            ts_ns: 0,
            orig_len: data.len() as u32,
            ifindex: 0,
            direction: Direction::Unknown,
            link,
            iface: 0,
            drops: 0,
        },
        data,
    }
}

/// Ethernet / IPv4 / TCP SYN+ACK with MSS option and 2 bytes of data, then 4 bytes of
/// Ethernet padding.
static ETH_TCP: [u8; 66] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00, //
    0x45, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, //
    10, 0, 0, 1, 10, 0, 0, 2, //
    0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0x02, 0x00, 0, 0, 0, 0, //
    0x02, 0x04, 0x05, 0xb4, b'h', b'i', 0, 0, 0, 0, 0, 0,
];

#[test]
fn ethernet_ipv4_tcp() {
    let d = decode(&frame(LinkType::Ethernet, &ETH_TCP));
    assert_eq!(d.issue, None);
    assert_eq!(d.ethertype, Some(EtherType::Ipv4));
    let Transport::Tcp(t) = d.transport else {
        panic!("not tcp: {d:?}")
    };
    assert_eq!((t.sport, t.dport, t.seq, t.ack), (1234, 80, 1, 2));
    assert_eq!(d.tcp_flags(), Some(0x12));
    assert_eq!(t.options.slice(&ETH_TCP), &[2, 4, 5, 0xb4]);
    // Payload stops at the IP total length: padding is not payload.
    assert_eq!(d.payload.slice(&ETH_TCP), b"hi");
    let ft = d.flow_tuple().expect("valid test data");
    assert_eq!(ft.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!((ft.proto, ft.sport, ft.dport, ft.vlan), (6, 1234, 80, 0));
}

#[test]
fn every_prefix_decodes_without_panic_and_records_the_cut() {
    for n in 0..ETH_TCP.len() {
        let d = decode(&frame(LinkType::Ethernet, &ETH_TCP[..n]));
        if n < 14 + 20 + 24 {
            assert!(d.malformed().is_some(), "prefix {n}: {d:?}");
        }
    }
    let d = decode(&frame(LinkType::Ethernet, &ETH_TCP[..10]));
    assert_eq!(d.malformed(), Some(Layer::Link));
    let d = decode(&frame(LinkType::Ethernet, &ETH_TCP[..30]));
    assert_eq!(d.malformed(), Some(Layer::Ipv4));
    let d = decode(&frame(LinkType::Ethernet, &ETH_TCP[..40]));
    assert_eq!(d.malformed(), Some(Layer::Tcp));
    assert_eq!(d.flow_tuple().map(|f| f.dport), Some(80));
}

#[test]
fn stacked_vlans_then_arp() {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x20, 0x05, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    let d = decode(&frame(LinkType::Ethernet, &f));
    assert_eq!(d.issue, None);
    let tags = d.vlan_tags();
    assert_eq!(tags.len(), 2);
    assert_eq!((tags[0].tpid, tags[0].vid), (0x88a8, 100));
    assert_eq!((tags[1].tpid, tags[1].vid, tags[1].pcp), (0x8100, 5, 1));
    assert_eq!(d.inner_vlan(), 5);
    let Net::Arp(a) = d.net else { panic!("{d:?}") };
    assert_eq!(a.tpa, Ipv4Addr::new(10, 0, 0, 2));
    assert!(d.flow_tuple().is_none());
}

#[test]
fn ipv6_hop_by_hop_icmpv6_over_sll2() {
    let mut f = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, 0, 1]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16]);
    f.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]); // hop-by-hop, router alert
    f.extend_from_slice(&[128, 0, 0x12, 0x34, 0, 7, 0, 9]); // echo request
    let d = decode(&frame(LinkType::LinuxSll2, &f));
    assert_eq!(d.issue, None);
    let Net::Ipv6(ip) = d.net else {
        panic!("{d:?}")
    };
    assert_eq!(ip.ext_headers(), &[0]);
    assert_eq!(d.ip_proto, Some(IpProtocol::Icmpv6));
    let Transport::Icmpv6(i) = d.transport else {
        panic!("{d:?}")
    };
    assert_eq!(i.echo_id_seq(), Some((7, 9)));
    assert!(matches!(d.link, LinkHeader::Sll(s) if s.ifindex == 3));
    for n in 0..f.len() {
        let d = decode(&frame(LinkType::LinuxSll2, &f[..n]));
        assert!(d.malformed().is_some(), "prefix {n}");
    }
}

#[test]
fn raw_ipv4_udp_and_fragments() {
    let mut p = vec![
        0x45, 0, 0, 30, 0, 1, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    p.extend_from_slice(&[0, 53, 0x30, 0x39, 0, 10, 0, 0, 0xab, 0xcd]);
    let d = decode(&frame(LinkType::Raw, &p));
    assert_eq!(d.issue, None);
    assert!(matches!(d.transport, Transport::Udp(u) if u.length == 10));
    assert_eq!(d.payload.len, 2);
    p[6] = 0x00;
    p[7] = 0x10; // offset 16 * 8: not the first fragment
    let d = decode(&frame(LinkType::Ipv4, &p));
    assert!(matches!(d.transport, Transport::None));
    assert_eq!(d.payload.len, 10);
    assert_eq!(d.flow_tuple().map(|f| (f.proto, f.sport)), Some((17, 0)));
}

#[test]
fn odd_headers_are_invalid_not_fatal() {
    let mut f = ETH_TCP;
    f[14] = 0x43; // IHL 3
    let d = decode(&frame(LinkType::Ethernet, &f));
    assert_eq!(
        d.issue,
        Some(Issue {
            layer: Layer::Ipv4,
            kind: IssueKind::Invalid
        })
    );
    let mut f = ETH_TCP;
    f[46] = 0x20; // TCP data offset 2
    let d = decode(&frame(LinkType::Ethernet, &f));
    assert_eq!(d.malformed(), Some(Layer::Tcp));
    assert_eq!(d.tcp_flags(), Some(0x12));
    let d = decode(&frame(LinkType::Raw, &[0x11, 0x22]));
    assert_eq!(d.malformed(), Some(Layer::Link));
    let d = decode(&frame(LinkType::Unknown(147), &[1, 2, 3]));
    assert_eq!(d.malformed(), None);
}

#[test]
fn deep_vlan_stack_is_bounded() {
    let mut f = vec![0u8; 12];
    for _ in 0..20 {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let d = decode(&frame(LinkType::Ethernet, &f));
    assert_eq!(d.malformed(), Some(Layer::Vlan));
    assert_eq!(d.vlan_tags().len(), MAX_VLAN_TAGS);
}
