//! Unit tests of `flow/mod.rs`.
use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn tuple(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> FlowTuple {
    FlowTuple {
        vlan: 7,
        src,
        dst,
        proto: 6,
        sport,
        dport,
    }
}

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
}

#[test]
fn key_is_the_same_both_ways() {
    let ab = tuple(v4(9), 1000, v4(1), 80);
    let ba = tuple(v4(1), 80, v4(9), 1000);
    let (k1, s1) = FlowKey::from_tuple(&ab);
    let (k2, s2) = FlowKey::from_tuple(&ba);
    assert_eq!(k1, k2);
    assert_ne!(s1, s2);
    assert_eq!((k1.lo_addr, k1.lo_port), (v4(1), 80));
    // Same address both sides: the ports decide.
    let (k3, _) = FlowKey::from_tuple(&tuple(v4(1), 9, v4(1), 8));
    assert_eq!((k3.lo_port, k3.hi_port), (8, 9));
}

#[test]
fn raw_key_agrees_with_flow_key() {
    let six = |d| IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, d));
    let cases = [
        tuple(v4(9), 1000, v4(1), 80),
        tuple(v4(1), 9, v4(1), 8),
        tuple(six(2), 546, six(1), 547),
        tuple(v4(200), 1, six(1), 2), // mixed families: V4 sorts first, as IpAddr does
        tuple(six(1), 2, v4(200), 1),
    ];
    for t in cases {
        let (raw, raw_lo) = RawKey::new(&t);
        let (key, key_lo) = FlowKey::from_tuple(&t);
        assert_eq!((raw.to_key(), raw_lo), (key, key_lo), "{t:?}");
        assert_eq!(raw.proto(), 6);
    }
}

#[test]
fn key_keeps_vlan_and_proto_apart() {
    let t = tuple(v4(1), 1, v4(2), 2);
    let (k, _) = FlowKey::from_tuple(&t);
    assert_ne!(k, FlowKey::from_tuple(&FlowTuple { vlan: 8, ..t }).0);
    assert_ne!(k, FlowKey::from_tuple(&FlowTuple { proto: 17, ..t }).0);
}

#[test]
fn hash_separates_v4_from_v6_with_the_same_bits() {
    let s = foldhash::fast::FixedState::default();
    let a = tuple(v4(1), 1, v4(2), 2);
    let six = |d| {
        IpAddr::V6(Ipv6Addr::from(u128::from(u32::from(Ipv4Addr::new(
            10, 0, 0, d,
        )))))
    };
    let b = tuple(six(1), 1, six(2), 2);
    let (ka, kb) = (FlowKey::from_tuple(&a).0, FlowKey::from_tuple(&b).0);
    assert_ne!(ka, kb);
    assert_ne!(s.hash_one(ka), s.hash_one(kb));
}

#[test]
fn shard_is_symmetric_stable_and_spread() {
    let mut counts = [0u32; 4];
    for i in 0..4000u32 {
        let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let ab = tuple(src, (i % 50000) as u16, v4(1), 443);
        let ba = tuple(v4(1), 443, src, (i % 50000) as u16);
        let s = shard_of(&ab, 4);
        assert_eq!(s, shard_of(&ba, 4));
        assert_eq!(s, shard_of(&ab, 4));
        counts[s] += 1;
    }
    // 1000 expected per shard; a working hash stays well inside +-20 %.
    assert!(
        counts.iter().all(|&c| (800..1200).contains(&c)),
        "{counts:?}"
    );
    assert_eq!(shard_of(&tuple(v4(1), 1, v4(2), 2), 1), 0);
    assert_eq!(shard_of(&tuple(v4(1), 1, v4(2), 2), 0), 0);
}

#[test]
fn state_from_flags() {
    use tcp_flags::*;
    assert_eq!(FlowState::from_flags(6, SYN | FIN, ACK), FlowState::Open);
    assert_eq!(
        FlowState::from_flags(6, FIN | ACK, FIN),
        FlowState::ClosedFin
    );
    assert_eq!(FlowState::from_flags(6, FIN, FIN | RST), FlowState::Reset);
    assert_eq!(FlowState::from_flags(6, 0, RST), FlowState::Reset);
    assert_eq!(FlowState::from_flags(17, RST, FIN), FlowState::Open);
}
