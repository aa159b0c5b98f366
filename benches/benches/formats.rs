//! Decode and print throughput over a realistic frame mix (1,000 Ethernet frames:
//! bulk TCP data, bare ACKs padded to 60 bytes, DNS over UDP, pings, IPv6 TCP, ARP,
//! a VLAN-tagged share), each bench checking its counts.
//!
//! - `decode`: frames/s through `decode` alone.
//! - `turtle`, `turtle_ext`: bytes/s of output text (the target is >= 1 GB/s per core).
//! - `line`, `json`: frames/s, decode included.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netcap::decode::{decode, Transport};
use netcap::output::{printer, Format};
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};

const FRAMES: usize = 1_000;

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
    ];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f.resize(f.len().max(60), 0);
    f
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[
        0x1c, 0x46, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    p.extend_from_slice(l4);
    p
}

fn tcp(flags: u8, opts: &[u8], data: &[u8]) -> Vec<u8> {
    let off = (5 + opts.len() / 4) as u8;
    let mut s = vec![
        0xa9,
        0xf8,
        0x01,
        0xbb,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        9,
        off << 4,
        flags,
        0xfa,
        0xf0,
    ];
    s.extend_from_slice(&[0, 0, 0, 0]);
    s.extend_from_slice(opts);
    s.extend_from_slice(data);
    s
}

/// The mix, and how many frames carry TCP (checked by the benches).
fn frames() -> (Vec<Vec<u8>>, usize) {
    let data: Vec<u8> = (0..1460u32).map(|i| (i * 31 + 7) as u8).collect();
    let ts_opts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    let mut v = Vec::with_capacity(FRAMES);
    let mut tcp_frames = 0;
    for i in 0..FRAMES {
        let f = match i % 20 {
            0..=7 => eth(0x0800, &ipv4(6, &tcp(0x18, &ts_opts, &data[..1448]))),
            8..=12 => eth(0x0800, &ipv4(6, &tcp(0x10, &[], &[]))),
            13..=15 => {
                let mut u = vec![0x00, 0x35, 0xc0, 0x01, 0, 0, 0, 0];
                u.extend_from_slice(&data[..80]);
                let len = u.len() as u16;
                u[4..6].copy_from_slice(&len.to_be_bytes());
                eth(0x0800, &ipv4(17, &u))
            }
            16 => eth(
                0x0800,
                &ipv4(
                    1,
                    &[[8, 0, 0, 0, 0, 1, 0, 1].as_slice(), &data[..56]].concat(),
                ),
            ),
            17 => {
                let t = tcp(0x18, &[], &data[..200]);
                let mut p = vec![0x60, 0, 0, 0];
                p.extend_from_slice(&(t.len() as u16).to_be_bytes());
                p.extend_from_slice(&[6, 64]);
                p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
                p.extend_from_slice(&t);
                eth(0x86dd, &p)
            }
            18 => eth(
                0x0806,
                &[
                    0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0,
                    0, 2,
                ],
            ),
            _ => {
                let mut p = vec![0x00, 0x05, 0x08, 0x00];
                p.extend_from_slice(&ipv4(6, &tcp(0x10, &[], &data[..100])));
                eth(0x8100, &p)
            }
        };
        if matches!(i % 20, 0..=12 | 17 | 19) {
            tcp_frames += 1;
        }
        v.push(f);
    }
    (v, tcp_frames)
}

fn frame(data: &[u8], i: usize) -> Frame<'_> {
    Frame {
        meta: FrameMeta {
            ts_ns: 1_700_000_000_000_000_000 + i as u64 * 1_000,
            orig_len: data.len() as u32,
            ifindex: 1,
            direction: Direction::In,
            link: LinkType::Ethernet,
            iface: 0,
            drops: 0,
        },
        data,
    }
}

fn bench(c: &mut Criterion) {
    let (frames, tcp_frames) = frames();
    let mut g = c.benchmark_group("formats");

    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut tcp = 0;
            for (i, f) in frames.iter().enumerate() {
                let d = decode(black_box(&frame(f, i)));
                assert!(d.malformed().is_none());
                tcp += usize::from(matches!(d.transport, Transport::Tcp(_)));
            }
            assert_eq!(tcp, tcp_frames);
        })
    });

    for (name, format) in [
        ("turtle", Format::Turtle),
        ("turtle_ext", Format::TurtleExt),
    ] {
        let mut p = printer(format, &Default::default()).expect("printer");
        let mut out = Vec::with_capacity(16 << 20);
        // Returns the number of frames decoded without an issue.
        let mut render = |out: &mut Vec<u8>| {
            out.clear();
            let mut clean = 0;
            for (i, f) in frames.iter().enumerate() {
                let fr = frame(f, i);
                let d = decode(&fr);
                clean += usize::from(d.malformed().is_none());
                p.print(&fr, &d, out);
            }
            clean
        };
        assert_eq!(render(&mut out), FRAMES);
        assert_eq!(
            count_frame_headers(&out),
            FRAMES,
            "{name}: one frame header per frame"
        );
        let text_len = out.len();
        g.throughput(Throughput::Bytes(text_len as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                assert_eq!(render(black_box(&mut out)), FRAMES);
                assert_eq!(out.len(), text_len);
            })
        });
    }
    g.throughput(Throughput::Elements(FRAMES as u64));
    for (name, format) in [("line", Format::Line), ("json", Format::Json)] {
        let mut p = printer(format, &Default::default()).expect("printer");
        let mut out = Vec::with_capacity(4 << 20);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for (i, f) in frames.iter().enumerate() {
                    let fr = frame(f, i);
                    p.print(&fr, &decode(&fr), &mut out);
                }
                assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), FRAMES);
            })
        });
    }
    g.finish();
}

/// Frames in turtle text: each starts with `\nEthernet Frame:`.
fn count_frame_headers(out: &[u8]) -> usize {
    out.windows(16)
        .filter(|w| w == b"\nEthernet Frame:")
        .count()
}

criterion_group!(benches, bench);
criterion_main!(benches);
