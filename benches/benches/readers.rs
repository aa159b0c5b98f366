//! The XDP backend's decode path with 1 and 2 workers, without the kernel: frames as two
//! CPUs' rings hold them (runs of [`BURST`] frames per CPU, timestamps interleaved), fed
//! through `Pipeline::start_fanout` as the per-CPU readers feed it (`capture::xdp`: with
//! 2 workers each reads one CPU's ring and the writer merges by timestamp; with 1, one
//! source hands over every frame in order). Output `-F line` into a sink, as the live
//! bench's `netcap xdp generic -F line, N worker(s)` rows. Frames per second (wall and
//! per CPU-second) and the 2-worker/1-worker ratio go to stderr; each run checks that
//! every frame was decoded.
//!
//! Not modelled: the ring reads themselves (a copy from the mmap'd ring into the batch
//! is modelled by the copy from memory) and the 1-worker source's merge of two rings.
use std::{
    os::fd::BorrowedFd,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netcap::capture::{CaptureCounters, Error, Fill, Source};
use netcap::output::Format;
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};
use netcap::pipeline::{fanout, Pipeline, PipelineConfig};
use netcap::stop::End;

/// Frames in all, and per run of one CPU's frames.
const FRAMES: usize = 400_000;
const BURST: usize = 32;

/// A 64-byte UDP/IPv4 frame of flow `flow` (10,000 flows), as trafgen sends.
fn frame(n: usize) -> [u8; 64] {
    let mut f = [0u8; 64];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 250, 0, 2]);
    f[30..34].copy_from_slice(&[10, 250, 0, 1]);
    let flow = (n * 7919) % 10_000;
    f[34..36].copy_from_slice(&(1024 + flow as u16).to_be_bytes());
    f[36..38].copy_from_slice(&(9 + (n % 32) as u16).to_be_bytes());
    f[38..40].copy_from_slice(&30u16.to_be_bytes());
    f
}

/// One ring's frames (timestamps in its own order), handed out as a reader would.
struct Ring {
    frames: Vec<(u64, [u8; 64])>,
    next: usize,
}

impl Source for Ring {
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        if self.next == self.frames.len() {
            // Drained: a reader waits for its ring to become readable.
            std::thread::sleep(Duration::from_millis(1));
        }
        while let Some((ts, data)) = self.frames.get(self.next) {
            self.next += 1;
            let meta = FrameMeta {
                ts_ns: *ts,
                orig_len: 64,
                ifindex: 1,
                direction: Direction::In,
                link: LinkType::Ethernet,
                iface: 0,
                drops: 0,
            };
            if !f(&Frame { meta, data }) {
                break;
            }
        }
        Ok(Fill::Some)
    }
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    fn counters(&self) -> CaptureCounters {
        CaptureCounters::default()
    }
}

/// The frames dealt to `readers` rings: CPU `c` took bursts `c, c + 2, ...`; with one
/// reader, all of them in timestamp order.
fn rings(readers: usize) -> Vec<Box<dyn Source>> {
    let t0 = 1_700_000_000_000_000_000u64;
    let mut rings: Vec<Ring> = (0..readers)
        .map(|_| Ring {
            frames: Vec::new(),
            next: 0,
        })
        .collect();
    for n in 0..FRAMES {
        let cpu = (n / BURST) % 2 % readers;
        rings[cpu].frames.push((t0 + n as u64 * 700, frame(n)));
    }
    rings
        .into_iter()
        .map(|r| Box::new(r) as Box<dyn Source>)
        .collect()
}

fn run(readers: usize) -> Duration {
    let sources = rings(readers);
    let shared = Arc::new(fanout::Shared {
        ifname: "bench".into(),
        ..fanout::Shared::default()
    });
    let stop = netcap::stop::Stop::default();
    let t0 = Instant::now();
    let p = Pipeline::start_fanout(
        PipelineConfig {
            workers: readers,
            format: Format::Line,
            text: Default::default(),
            flows: false,
            flow_cfg: Default::default(),
            flow_export: None,
            wall_clock: false,
            text_out: Some(Box::new(std::io::sink())),
            text_buffer: 1 << 20,
            line_buffered: false,
            pcap: None,
            stop: stop.clone(),
            interfaces: Default::default(),
        },
        sources,
        shared.clone(),
    );
    while shared.read.read().0 < FRAMES as u64 {
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.stop(End::Signal);
    let done = p.finish();
    let took = t0.elapsed();
    assert_eq!(done.decode.decoded, FRAMES as u64, "every frame decoded");
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
    // Interleaved, 5 times each: frames/s of the wall clock, and per CPU-second.
    let mut wall = [Vec::new(), Vec::new()];
    let mut cpu = [Duration::ZERO; 2];
    for _ in 0..5 {
        for readers in [1usize, 2] {
            let c0 = cpu_time();
            wall[readers - 1].push(FRAMES as f64 / run(readers).as_secs_f64());
            cpu[readers - 1] += cpu_time() - c0;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (one, two) = (median(&mut wall[0]), median(&mut wall[1]));
    for (i, w) in [one, two].iter().enumerate() {
        eprintln!(
            "xdp readers -> fanout pipeline, -F line, {} worker(s): {:.2} M frames/s wall \
             (median of 5), {:.0} ns CPU per frame",
            i + 1,
            w / 1e6,
            cpu[i].as_nanos() as f64 / (5 * FRAMES) as f64,
        );
    }
    eprintln!(
        "xdp readers: 2 workers / 1 worker = {:.2}x frames/s",
        two / one
    );
    let mut g = c.benchmark_group("xdp_readers");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.sample_size(10);
    for readers in [1usize, 2] {
        g.bench_function(format!("line_{readers}_workers"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(readers)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
