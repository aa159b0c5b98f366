//! Unit tests of the flow table, driven by `FlowTuple`s directly (no decoder).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::flow::tcp_flags::{ACK, FIN, RST, SYN};
use crate::packet::{Direction, FrameMeta, LinkType};

const S: u64 = 1_000_000_000;

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
}

fn tcp(src: u8, sport: u16, dst: u8, dport: u16) -> FlowTuple {
    FlowTuple {
        vlan: 0,
        src: v4(src),
        dst: v4(dst),
        proto: 6,
        sport,
        dport,
    }
}

fn rev(t: &FlowTuple) -> FlowTuple {
    FlowTuple {
        src: t.dst,
        dst: t.src,
        sport: t.dport,
        dport: t.sport,
        ..*t
    }
}

fn small(max_flows: usize) -> FlowTable {
    FlowTable::new(FlowConfig {
        max_flows,
        ..FlowConfig::default()
    })
}

#[test]
fn counts_both_directions_into_one_flow_with_first_sender_as_a() {
    let mut t = small(10);
    // The client has the higher address: A must still be the client.
    let c2s = tcp(9, 40000, 1, 80);
    t.update(&c2s, Some(SYN), 74, 10);
    t.update(&rev(&c2s), Some(SYN | ACK), 74, 5); // out of order: first_ns follows it
    t.update(&c2s, Some(ACK), 66, 30);
    t.update(&c2s, Some(ACK), 1514, 20);
    assert_eq!(t.len(), 1);
    let flows = FlowStats::merge(std::slice::from_mut(&mut t));
    let [f] = flows.as_slice() else {
        panic!("{flows:?}")
    };
    assert_eq!(
        (f.a_addr, f.a_port, f.b_addr, f.b_port),
        (v4(9), 40000, v4(1), 80)
    );
    assert_eq!((f.packets_ab, f.packets_ba), (3, 1));
    assert_eq!((f.bytes_ab, f.bytes_ba), (74 + 66 + 1514, 74));
    assert_eq!((f.first_ns, f.last_ns), (5, 30));
    assert_eq!(f.tcp_flags, SYN | ACK);
    assert_eq!(f.state, FlowState::Open);
    assert!(!f.evicted);
    assert_eq!(
        t.stats(),
        FlowStats {
            frames: 4,
            created: 1,
            ..FlowStats::default()
        }
    );
}

#[test]
fn vlan_and_family_separate_flows() {
    let mut t = small(10);
    let a = tcp(1, 1, 2, 2);
    t.update(&a, None, 60, 1);
    t.update(&FlowTuple { vlan: 5, ..a }, None, 60, 1);
    let six = |d| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d));
    t.update(
        &FlowTuple {
            src: six(1),
            dst: six(2),
            ..a
        },
        None,
        60,
        1,
    );
    t.update(&FlowTuple { proto: 17, ..a }, None, 60, 1);
    assert_eq!(t.len(), 4);
}

#[test]
fn states_fin_both_ways_and_reset() {
    let mut t = small(10);
    let a = tcp(1, 1000, 2, 80);
    t.update(&a, Some(FIN | ACK), 60, 1);
    t.update(&a, Some(ACK), 60, 2);
    let b = tcp(1, 1001, 2, 80);
    t.update(&b, Some(FIN | ACK), 60, 1);
    t.update(&rev(&b), Some(FIN | ACK), 60, 2);
    let c = tcp(1, 1002, 2, 80);
    t.update(&c, Some(SYN), 60, 1);
    t.update(&rev(&c), Some(RST | ACK), 60, 2);
    let flows = FlowStats::merge(std::slice::from_mut(&mut t));
    let state = |port| flows.iter().find(|f| f.a_port == port).map(|f| f.state);
    assert_eq!(
        state(1000),
        Some(FlowState::Open),
        "one FIN is a half-close"
    );
    assert_eq!(state(1001), Some(FlowState::ClosedFin));
    assert_eq!(state(1002), Some(FlowState::Reset));
}

#[test]
fn full_table_evicts_least_recently_updated() {
    let mut t = small(3);
    for p in 1..=3 {
        t.update(&tcp(1, p, 2, 80), None, 100, u64::from(p));
    }
    t.update(&tcp(1, 1, 2, 80), None, 100, 4); // 2 is now the oldest
    t.update(&tcp(1, 4, 2, 80), None, 100, 5);
    assert_eq!(t.len(), 3);
    let [gone] = t.finished() else {
        panic!("{:?}", t.finished())
    };
    assert_eq!((gone.a_port, gone.evicted, gone.packets_ab), (2, true, 1));
    assert_eq!(t.stats().evicted_full, 1);
}

#[test]
fn full_table_evicts_closed_flows_first() {
    let mut t = small(3);
    let old = tcp(1, 1, 2, 80);
    t.update(&old, Some(SYN), 60, 1);
    let closing = tcp(1, 2, 2, 80);
    t.update(&closing, Some(SYN), 60, 2);
    t.update(&rev(&closing), Some(RST), 60, 3);
    t.update(&tcp(1, 3, 2, 80), Some(SYN), 60, 4);
    t.update(&tcp(1, 4, 2, 80), Some(SYN), 60, 5);
    let [gone] = t.finished() else {
        panic!("{:?}", t.finished())
    };
    assert_eq!((gone.a_port, gone.state), (2, FlowState::Reset));
    // No closed flow left: the LRU one goes next.
    t.update(&tcp(1, 5, 2, 80), Some(SYN), 60, 6);
    assert_eq!(t.finished().last().map(|f| f.a_port), Some(1));
}

#[test]
fn idle_and_closed_flows_expire_on_their_timeouts() {
    let cfg = FlowConfig {
        max_flows: 100,
        ..FlowConfig::default()
    }
    .with_idle(60 * S);
    let cfg = FlowConfig {
        fin_ns: 5 * S,
        ..cfg
    };
    let mut t = FlowTable::new(cfg);
    let idle = tcp(1, 1, 2, 80);
    t.update(&idle, Some(SYN), 60, 0);
    let done = tcp(1, 2, 2, 80);
    t.update(&done, Some(FIN), 60, 0);
    t.update(&rev(&done), Some(FIN), 60, S);
    // 10 s later a new flow arrives: only the closed one is past its timeout.
    t.update(&tcp(1, 3, 2, 80), None, 60, 11 * S);
    assert_eq!(
        t.finished().iter().map(|f| f.a_port).collect::<Vec<_>>(),
        vec![2]
    );
    // At 100 s both open flows are idle past 60 s.
    assert_eq!(t.expire(100 * S), 2);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 3);
    assert!(t.finished().iter().all(|f| f.evicted));
    // A later frame of an expired conversation starts a new record.
    t.update(&idle, Some(ACK), 60, 101 * S);
    let flows = FlowStats::merge(std::slice::from_mut(&mut t));
    assert_eq!(flows.iter().filter(|f| f.a_port == 1).count(), 2);
    assert_eq!(flows.iter().map(Flow::packets).sum::<u64>(), 5);
}

#[test]
fn update_frame_counts_frames_without_a_tuple_as_untracked() {
    let mut t = small(10);
    let meta = FrameMeta {
        ts_ns: 1,
        orig_len: 60,
        ifindex: 0,
        direction: Direction::Unknown,
        link: LinkType::Ethernet,
        iface: 0,
        drops: 0,
    };
    let frame = Frame {
        meta,
        data: &[0; 60],
    };
    assert!(!t.update_frame(&frame, &Decoded::default()));
    assert_eq!(t.stats().untracked, 1);
    assert!(t.is_empty());
}

/// A tiny deterministic generator, so the test needs no `rand`.
fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn churn_keeps_the_bound_and_loses_no_frame() {
    let shards = 3;
    let cfg = FlowConfig {
        max_flows: 50,
        ..FlowConfig::default()
    }
    .with_idle(2 * S);
    let cfg = FlowConfig {
        fin_ns: S / 2,
        rst_ns: S / 2,
        ..cfg
    };
    let mut tables: Vec<_> = (0..shards)
        .map(|_| FlowTable::new(cfg.per_shard(shards)))
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = 0;
    for i in 0..20_000u64 {
        let r = xorshift(&mut seed);
        let mut tuple = tcp((r % 7) as u8, (r >> 8) as u16 % 30, 200, 443);
        if r & (1 << 40) != 0 {
            tuple = rev(&tuple);
        }
        let flags = [SYN, ACK, FIN, RST][(r >> 20) as usize % 4];
        let len = 60 + (r >> 32) as u32 % 1400;
        bytes += u64::from(len);
        let shard = &mut tables[super::super::shard_of(&tuple, shards)];
        shard.update(&tuple, Some(flags), len, i * 10_000_000 + i / 2000 * 3 * S);
        assert!(shard.len() <= 17);
    }
    let stats = FlowStats::sum(&tables);
    let flows = FlowStats::merge(&mut tables);
    assert_eq!(stats.frames, 20_000);
    assert_eq!(flows.len() as u64, stats.created);
    assert_eq!(
        stats.created,
        stats.expired + stats.evicted_full + stats.live
    );
    assert!(stats.evicted_full > 0 && stats.expired > 0, "{stats:?}");
    assert_eq!(flows.iter().map(Flow::packets).sum::<u64>(), 20_000);
    assert_eq!(flows.iter().map(Flow::bytes).sum::<u64>(), bytes);
    assert_eq!(
        flows.iter().filter(|f| !f.evicted).count() as u64,
        stats.live
    );
    assert!(flows.windows(2).all(|w| w[0].first_ns <= w[1].first_ns));
    assert!(tables.iter().all(FlowTable::is_empty));
}

#[test]
fn lazy_moves_keep_the_tail_exact() {
    let mut t = small(100);
    for p in 0..100 {
        t.update(&tcp(1, p, 2, 80), None, 60, 1);
    }
    // The older half is hit again, the newer half (some in the front quarter) not.
    for p in 0..50 {
        t.update(&tcp(1, p, 2, 80), None, 60, 2);
    }
    for p in 100..150 {
        t.update(&tcp(1, p, 2, 80), None, 60, 3);
    }
    let mut gone: Vec<u16> = t.finished().iter().map(|f| f.a_port).collect();
    gone.sort_unstable();
    assert_eq!(gone, (50..100).collect::<Vec<_>>());
}

#[test]
fn a_flood_of_new_flows_keeps_the_finished_list_bounded_and_counts_what_it_drops() {
    let mut t = small(10);
    let n = FINISHED_FLOOR as u64 + 5_000;
    for i in 0..n {
        let tuple = tcp((i % 200) as u8, (i / 200) as u16, 1, 80);
        t.update(&tuple, None, 60, i);
    }
    let stats = t.stats();
    assert_eq!(stats.created, n);
    assert_eq!(t.len(), 10);
    assert_eq!(t.finished().len(), FINISHED_FLOOR);
    assert_eq!(stats.records_dropped, n - 10 - FINISHED_FLOOR as u64);
    assert_eq!(stats.frames, n);
}

#[test]
fn live_shows_the_flows_without_taking_them() {
    let mut t = small(10);
    let ab = tcp(1, 1000, 2, 80);
    t.update(&ab, Some(SYN), 60, S);
    t.update(&rev(&ab), Some(SYN | ACK), 70, 2 * S);
    t.update(&tcp(3, 53, 4, 53), None, 100, 3 * S);
    let mut live: Vec<Flow> = t.live().collect();
    live.sort_by_key(|f| f.first_ns);
    assert_eq!(live.len(), 2);
    let f = live[0];
    assert_eq!((f.a_addr, f.a_port, f.b_port), (v4(1), 1000, 80));
    assert_eq!(
        (f.packets_ab, f.packets_ba, f.bytes_ab, f.bytes_ba),
        (1, 1, 60, 70)
    );
    assert!(!f.evicted);
    // Still in the table: a later update adds to the same record.
    assert_eq!(t.len(), 2);
    t.update(&ab, Some(ACK), 60, 4 * S);
    let f = t.live().find(|f| f.a_port == 1000).expect("still live");
    assert_eq!(f.packets_ab, 2);
}

fn udp(sport: u16) -> FlowTuple {
    FlowTuple {
        proto: 17,
        ..tcp(1, sport, 2, 53)
    }
}

/// Each kind of flow ends on its own idle timeout with its reason, softflowd's
/// defaults: open TCP 3600 s, after a FIN 300 s, after a RST 120 s, UDP 300 s.
#[test]
fn each_kind_of_flow_has_its_idle_timeout_and_end_reason() {
    let mut t = small(100);
    t.update(&tcp(1, 1, 2, 80), Some(ACK), 60, 0);
    t.update(&tcp(1, 2, 2, 80), Some(FIN | ACK), 60, 0);
    t.update(&tcp(1, 3, 2, 80), Some(RST), 60, 0);
    t.update(&udp(4), None, 60, 0);
    let ended = |t: &FlowTable| {
        let mut v: Vec<_> = t.finished().iter().map(|f| (f.a_port, f.end)).collect();
        v.sort_unstable();
        v
    };
    t.expire(120 * S);
    assert!(
        t.finished().is_empty(),
        "nothing is past its timeout at 120 s"
    );
    t.expire(121 * S);
    assert_eq!(ended(&t), vec![(3, EndReason::EndOfFlow)]);
    t.expire(301 * S);
    assert_eq!(
        ended(&t),
        vec![
            (2, EndReason::EndOfFlow),
            (3, EndReason::EndOfFlow),
            (4, EndReason::Idle)
        ]
    );
    t.expire(3601 * S);
    assert_eq!(ended(&t).first(), Some(&(1, EndReason::Idle)));
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 4);
}

/// A long flow's record ends at the active timeout and the conversation goes on in a
/// new record, whether `expire` ran in between or not: the records are the same.
#[test]
fn the_active_timeout_splits_a_long_flow_the_same_way_with_or_without_expire() {
    let cfg = FlowConfig {
        max_flows: 10,
        active_ns: 10 * S,
        ..FlowConfig::default()
    };
    let run = |expire_between: bool| {
        let mut t = FlowTable::new(cfg);
        for s in 0..25 {
            if expire_between {
                t.expire(s * S);
            }
            t.update(&rev(&udp(9)), None, 100, s * S);
        }
        t.flush();
        t.take_finished()
            .into_iter()
            .map(|f| (f.first_ns / S, f.last_ns / S, f.packets_ab, f.end, f.a_port))
            .collect::<Vec<_>>()
    };
    let plain = run(false);
    assert_eq!(
        plain,
        vec![
            (0, 10, 11, EndReason::Active, 53),
            (11, 21, 11, EndReason::Active, 53),
            (22, 24, 3, EndReason::Forced, 53),
        ]
    );
    assert_eq!(run(true), plain);
}

/// A frame after a gap longer than the idle timeout starts a new record even when
/// nothing expired the old one in between (a replay gives the same records).
#[test]
fn a_frame_after_the_idle_timeout_starts_a_new_record() {
    let mut t = FlowTable::new(FlowConfig::default().with_idle(5 * S));
    t.update(&udp(7), None, 60, 0);
    t.update(&udp(7), None, 60, 6 * S);
    let f = t.finished();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].end, f[0].packets_ab), (EndReason::Idle, 1));
    assert_eq!(t.len(), 1);
}

/// A full table gives up a reset flow first, then one after a FIN, then the least
/// recently seen open flow, each record saying it was for lack of room.
#[test]
fn a_full_table_says_lack_of_resources() {
    let mut t = small(3);
    t.update(&udp(1), None, 60, 1);
    t.update(&tcp(1, 2, 2, 80), Some(FIN), 60, 2);
    t.update(&tcp(1, 3, 2, 80), Some(RST), 60, 3);
    for (i, port) in [10u16, 11, 12].into_iter().enumerate() {
        t.update(&udp(port), None, 60, 4 + i as u64);
    }
    let gone: Vec<_> = t.finished().iter().map(|f| (f.a_port, f.end)).collect();
    assert_eq!(
        gone,
        vec![
            (3, EndReason::LackOfResources),
            (2, EndReason::LackOfResources),
            (1, EndReason::LackOfResources)
        ]
    );
}

/// IP bytes (not frame bytes), the first frame's TOS, and each side's MAC address.
#[test]
fn records_keep_ip_bytes_tos_and_mac_addresses() {
    let mut t = small(10);
    let mut f = FlowFrame::basic(udp(5), None, 60, 1);
    f.ip_len = 28;
    f.tos = 0xb8;
    f.src_mac = [2, 0, 0, 0, 0, 1];
    f.dst_mac = [2, 0, 0, 0, 0, 2];
    t.update_with(&f);
    let mut back = FlowFrame::basic(rev(&udp(5)), None, 74, 2);
    back.ip_len = 42;
    back.tos = 0;
    t.update_with(&back);
    t.flush();
    let r = &t.finished()[0];
    assert_eq!((r.bytes_ab, r.bytes_ba), (60, 74));
    assert_eq!((r.ip_bytes_ab, r.ip_bytes_ba), (28, 42));
    assert_eq!(r.tos, 0xb8);
    assert_eq!((r.a_mac, r.b_mac), ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]));
}
