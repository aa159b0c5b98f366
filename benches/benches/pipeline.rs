//! The whole decoder pipeline (hand-off, decode, flow update, ordered writer) on
//! header-sized records, with 1 and 2 workers: frames/s and the 1 -> 2 worker scaling.
//!
//! Frames are 64-byte Ethernet/IPv4/UDP or TCP headers over 10,000 flows, in batches of
//! 256 KiB as the capture loop builds them. Output format `none`, flows on: this is the
//! per-frame work every capture pays. Each iteration checks that every frame was
//! decoded and counted in a flow.
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netcap::output::Format;
use netcap::packet::{Batch, Direction, FrameMeta, LinkType};
use netcap::pipeline::{Pipeline, PipelineConfig};

const FRAMES_PER_BATCH: usize = 4096;
const BATCHES: usize = 64;

fn frame(i: usize) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    let tcp = i.is_multiple_of(3);
    f[23] = if tcp { 6 } else { 17 };
    let flow = (i * 7919) % 10_000;
    f[26..30].copy_from_slice(&[10, 0, (flow >> 8) as u8, flow as u8]);
    f[30..34].copy_from_slice(&[10, 1, 0, 1]);
    f[34..36].copy_from_slice(&(1024 + (flow % 20_000) as u16).to_be_bytes());
    f[36..38].copy_from_slice(&443u16.to_be_bytes());
    if tcp {
        f[46] = 0x50;
        f[47] = 0x10;
    } else {
        f[38..40].copy_from_slice(&30u16.to_be_bytes());
    }
    f
}

fn batches() -> Vec<Batch> {
    (0..BATCHES)
        .map(|b| {
            let mut batch = Batch::with_capacity(FRAMES_PER_BATCH * 64, FRAMES_PER_BATCH);
            for i in 0..FRAMES_PER_BATCH {
                let n = b * FRAMES_PER_BATCH + i;
                let meta = FrameMeta {
                    ts_ns: 1_700_000_000_000_000_000 + n as u64 * 1000,
                    orig_len: 64,
                    ifindex: 1,
                    direction: Direction::In,
                    link: LinkType::Ethernet,
                    iface: 0,
                    drops: 0,
                };
                batch.push(meta, &frame(n));
            }
            batch
        })
        .collect()
}

fn run(workers: usize, input: &[Batch]) -> Duration {
    let mut copies: Vec<Batch> = input
        .iter()
        .map(|b| {
            let mut c = Batch::with_capacity(b.bytes(), b.len());
            b.iter().for_each(|f| c.push(f.meta, f.data));
            c
        })
        .collect();
    let t0 = Instant::now();
    let mut p = Pipeline::start(PipelineConfig {
        workers,
        format: Format::None,
        text: Default::default(),
        flows: true,
        flow_cfg: Default::default(),
        flow_export: None,
        wall_clock: false,
        text_out: None,
        text_buffer: 0,
        line_buffered: false,
        pcap: None,
        stop: Default::default(),
        interfaces: Default::default(),
    });
    for b in copies.drain(..) {
        p.submit(b, true);
    }
    let done = p.finish();
    let took = t0.elapsed();
    let total = (FRAMES_PER_BATCH * BATCHES) as u64;
    assert_eq!(done.decode.decoded, total, "every frame decoded");
    let flows = netcap::flow::FlowStats::sum(&done.flows);
    assert_eq!(flows.frames, total, "every frame counted in a flow");
    took
}

/// CPU time (user + system) of the whole process so far.
fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the buffer it is given.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn bench(c: &mut Criterion) {
    let input = batches();
    // Wall time on a shared, loaded machine understates the rate; CPU time per frame
    // says what the work costs. Printed beside criterion's figures.
    for workers in [1usize, 2] {
        let (cpu0, mut wall) = (cpu_time(), Duration::ZERO);
        for _ in 0..5 {
            wall += run(workers, &input);
        }
        let cpu = cpu_time() - cpu0;
        let frames = 5.0 * (FRAMES_PER_BATCH * BATCHES) as f64;
        eprintln!(
            "pipeline {workers} worker(s): {:.0} ns CPU per frame ({:.1} M frames per CPU-second), {:.2} M frames/s wall",
            cpu.as_nanos() as f64 / frames,
            frames / cpu.as_secs_f64() / 1e6,
            frames / wall.as_secs_f64() / 1e6,
        );
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements((FRAMES_PER_BATCH * BATCHES) as u64));
    g.sample_size(10);
    for workers in [1usize, 2] {
        g.bench_function(format!("decode_flows_{workers}_workers"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(workers, &input)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
