//! Flow-table update rate on synthetic tuples: 100k conversations, zipf-like
//! popularity (log-uniform ranks, so a few flows carry most frames, as on real
//! links), both directions, IPv4 TCP. Each bench checks its counts.
//!
//! - `update/100k_flows`: every flow fits; the steady state of a worker shard.
//! - `update/100k_flows_10k_max`: the table holds a tenth of the flows, so misses
//!   evict the least recently updated flow (the LRU path), records are drained.
//! - `shard_of`: the symmetric shard hash the pipeline computes per frame.
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netcap::decode::FlowTuple;
use netcap::flow::{shard_of, FlowConfig, FlowTable};

const FLOWS: u32 = 100_000;
const SAMPLES: usize = 1 << 20;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// `SAMPLES` frames' tuples and the number of distinct conversations among them.
fn samples() -> (Vec<FlowTuple>, usize) {
    let mut seed = 0x853c_49e6_748f_ea9b;
    let mut seen = vec![false; FLOWS as usize];
    let ln_n = f64::from(FLOWS).ln();
    let tuples = (0..SAMPLES)
        .map(|_| {
            let r = xorshift(&mut seed);
            // exp(u ln N) - 1 for u uniform in [0,1): density ~ 1/rank.
            let u = (r >> 11) as f64 / (1u64 << 53) as f64;
            let rank = ((u * ln_n).exp() as u32).saturating_sub(1).min(FLOWS - 1);
            seen[rank as usize] = true;
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + rank * 7919 % (1 << 24)));
            let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, (rank % 251) as u8));
            let (cport, sport) = (1024 + (rank % 60000) as u16, 443);
            if r & 1 == 0 {
                FlowTuple {
                    vlan: 0,
                    src: client,
                    dst: server,
                    proto: 6,
                    sport: cport,
                    dport: sport,
                }
            } else {
                FlowTuple {
                    vlan: 0,
                    src: server,
                    dst: client,
                    proto: 6,
                    sport,
                    dport: cport,
                }
            }
        })
        .collect();
    (tuples, seen.iter().filter(|&&s| s).count())
}

fn bench(c: &mut Criterion) {
    let (tuples, distinct) = samples();
    let mut g = c.benchmark_group("flows");
    g.throughput(Throughput::Elements(SAMPLES as u64));

    let mut table = FlowTable::new(FlowConfig::default());
    let mut ts = 0u64;
    g.bench_function("update/100k_flows", |b| {
        b.iter(|| {
            let before = table.stats().frames;
            for t in &tuples {
                ts += 1_000;
                table.update(black_box(t), Some(0x10), 1500, ts);
            }
            assert_eq!(table.stats().frames - before, SAMPLES as u64);
            assert_eq!(table.len(), distinct);
        })
    });

    let cfg = FlowConfig {
        max_flows: 10_000,
        ..FlowConfig::default()
    };
    let mut small = FlowTable::new(cfg);
    let mut taken = 0u64;
    g.bench_function("update/100k_flows_10k_max", |b| {
        b.iter(|| {
            for t in &tuples {
                ts += 1_000;
                small.update(black_box(t), Some(0x10), 1500, ts);
            }
            let s = small.stats();
            assert!(small.len() <= 10_000);
            assert_eq!(
                s.created,
                s.evicted_full + s.expired + s.active_timeouts + s.live
            );
            // Every record retired so far is drained here or was counted as dropped
            // (a shard keeps at most max(max_flows, 16384) waiting), none lost.
            taken += small.take_finished().len() as u64;
            assert_eq!(taken + s.records_dropped + s.live, s.created);
        })
    });
    g.bench_function("shard_of", |b| {
        b.iter(|| {
            let mut sum = 0usize;
            for t in &tuples {
                sum += shard_of(black_box(t), 8);
            }
            assert!(sum < 8 * SAMPLES);
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
