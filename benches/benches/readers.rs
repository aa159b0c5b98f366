//! The XDP backend's decode path with 1 and 2 workers, without the kernel: frames as two
//! CPUs' rings hold them (runs of [`BURST`] frames per CPU, timestamps interleaved),
//! fed to the pipeline the way `netcap capture --backend xdp -F line --workers N` feeds
//! it (`run::live`, `capture::xdp`):
//!
//! - 1 worker: one source reads both rings, taking the older head each time (as
//!   `capture::rings::RingSet` does); the capture thread (here the bench's own thread)
//!   fills batches of `BATCH_BYTES` and submits them to `Pipeline::start`, whose one
//!   worker decodes and prints and whose writer writes them in batch order.
//! - 2 workers: `Pipeline::start_fanout` with one source per ring; each worker reads its
//!   own ring, decodes and prints, and the writer merges the two streams by timestamp.
//!
//! Output `-F line` into a sink, as the live bench's `netcap xdp generic -F line, N
//! worker(s)` rows. Each run checks that every frame was decoded. Printed on stderr:
//! frames per second of the wall clock (median), and the CPU time per frame of every
//! thread (the capture thread, each worker, the writer): on a shared machine the wall
//! clock says more about the neighbours than about the code, while the busiest thread's
//! CPU time per frame (the critical path) bounds what the configuration can reach with
//! a core per thread.
//!
//! Not modelled: the ring reads themselves (a copy from the mmap'd ring into the batch
//! is modelled by the copy from memory), and a drained ring's wait (a fanout worker
//! polls its ring's descriptor; here a ring drained before the other sleeps 100 us at
//! a time, and the run ends as soon as both are drained: until 2026-12-07 every
//! drained ring slept 1 ms, which put a millisecond that is not decoding on the end of
//! every 2-worker run, about 4 % of its time).
//!
//! Also per run, a machine probe (`readers/probe.rs`): the workers' decode and print on
//! 1 thread, then on 2 at once, without the pipeline: the ceiling of the 2-worker ratio
//! this machine allows in the same minute. CPU time of threads not named (the bench's
//! own thread while 2 workers run) is `others`.
//!
//! `NETCAP_READERS_BURST=N` deals the frames in bursts of N instead of [`BURST`];
//! `NETCAP_READERS_RINGS=K` to K rings instead of 2 (see [`rings`]).
//! `NETCAP_READERS_ONLY=1` (or `2`) runs that configuration 20 times and nothing else:
//! for `perf record`. `NETCAP_READERS_W=1` adds a `-w` sink (classic pcap into
//! `io::sink`, `NETCAP_READERS_NG=1` for pcapng): the writer builds those records.
use std::{
    os::fd::BorrowedFd,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netcap::capture::{process_cpu_time, thread_cpu_time, CaptureCounters, Error, Fill, Source};
use netcap::output::Format;
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};
use netcap::pipeline::{fanout, Pipeline, PipelineConfig, BATCH_BYTES};
use netcap::stop::{End, Stop};

#[path = "readers/probe.rs"]
mod probe;

/// Frames in all, and per run of one CPU's frames.
const FRAMES: usize = 400_000;
const BURST: usize = 32;

/// The burst length: [`BURST`], or `NETCAP_READERS_BURST` (short bursts model a live
/// capture whose two CPUs' frames interleave finely: short merged stretches).
fn burst() -> usize {
    std::env::var("NETCAP_READERS_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(BURST)
}
/// The CPUs' rings the frames are dealt to: 2, or `NETCAP_READERS_RINGS` (with
/// `NETCAP_READERS_ONLY=2`: that many workers, one ring each, and the writer merging
/// that many streams, as on a machine with that many CPUs).
fn rings() -> usize {
    std::env::var("NETCAP_READERS_RINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n >= 2)
        .unwrap_or(2)
}

/// Interleaved runs of each configuration.
const RUNS: usize = 5;

/// A 64-byte UDP/IPv4 frame of flow `flow` (10,000 flows), as trafgen sends.
pub(crate) fn frame(n: usize) -> [u8; 64] {
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

/// One CPU's ring: its frames in its own (timestamp) order, and how far it was read.
/// The frames are shared with the bench's thread, which frees them after the run: a
/// worker dropping its source would otherwise count the generator's free (~14 MB,
/// munmap: ~3 ns per frame) as its own work, which the 1-worker run does not.
struct Ring {
    frames: Arc<Vec<(u64, [u8; 64])>>,
    next: usize,
}

impl Ring {
    fn head(&self) -> Option<u64> {
        self.frames.get(self.next).map(|(ts, _)| *ts)
    }

    /// Hands the next frame to `f`; `None` when the ring is drained.
    fn take(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Option<bool> {
        let (ts, data) = self.frames.get(self.next)?;
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
        Some(f(&Frame { meta, data }))
    }
}

/// The rings one source reads: several are merged by their heads' timestamps, as
/// `RingSet::visit` does. With `end`, the last of the sources sharing it to find
/// itself drained stops the run (2 workers: the driver thread then only waits); the
/// flag says this one has counted itself drained.
struct Rings(Vec<Ring>, Option<Arc<DrainedEnd>>, bool);

/// Stops a fanout run once every one of its sources is drained.
struct DrainedEnd {
    stop: Stop,
    left: AtomicUsize,
}

impl Source for Rings {
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        if self.0.iter().all(|r| r.head().is_none()) {
            if let Some(end) = &self.1 {
                if !self.2 {
                    self.2 = true;
                    if end.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        end.stop.stop(End::Signal);
                    }
                }
                // The run is over: the worker ends now, as a live one would once its
                // last frame is read (a wait here would count in the run's time).
                if end.stop.is_stopped() {
                    return Ok(Fill::Some);
                }
            }
            // Drained while the other ring is still read: a reader waits for its ring
            // to become readable (short: the wait is over when the run ends).
            std::thread::sleep(Duration::from_micros(100));
        }
        loop {
            let oldest = self
                .0
                .iter_mut()
                .filter(|r| r.head().is_some())
                .min_by_key(|r| r.head());
            match oldest.and_then(|r| r.take(f)) {
                Some(true) => {}
                _ => return Ok(Fill::Some),
            }
        }
    }
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    fn counters(&self) -> CaptureCounters {
        CaptureCounters::default()
    }
}

/// The frames dealt to [`rings`] CPUs' rings (with two, CPU `c` took bursts `c, c + 2,
/// ...`), as
/// `readers` sources read them: one source per ring, or one for both.
fn sources(readers: usize) -> Vec<Rings> {
    let t0 = 1_700_000_000_000_000_000u64;
    let k = rings();
    let mut dealt: Vec<Vec<(u64, [u8; 64])>> = vec![Vec::new(); k];
    let burst = burst();
    for n in 0..FRAMES {
        dealt[(n / burst) % k].push((t0 + n as u64 * 700, frame(n)));
    }
    let rings: Vec<Ring> = dealt
        .into_iter()
        .map(|frames| Ring {
            frames: Arc::new(frames),
            next: 0,
        })
        .collect();
    if readers == 1 {
        vec![Rings(rings, None, false)]
    } else {
        rings
            .into_iter()
            .map(|r| Rings(vec![r], None, false))
            .collect()
    }
}

fn config(workers: usize, stop: &Stop) -> PipelineConfig {
    PipelineConfig {
        workers,
        format: Format::Line,
        text: Default::default(),
        flows: false,
        flow_cfg: Default::default(),
        flow_export: None,
        wall_clock: false,
        text_out: Some(Box::new(std::io::sink())),
        text_buffer: 1 << 20,
        line_buffered: false,
        pcap: std::env::var_os("NETCAP_READERS_W").map(|_| {
            let mut sink = Box::new(netcap::output::pcap::PcapSink::new(
                std::io::BufWriter::with_capacity(1 << 20, std::io::sink()),
                netcap::output::pcap::FileFormat {
                    pcapng: std::env::var_os("NETCAP_READERS_NG").is_some(),
                    nano: false,
                    snaplen: 262_144,
                },
            )) as netcap::output::pcap::BoxedPcapSink;
            // As a live capture tells it (`Outputs::set_source`).
            sink.set_link_hint(Some(LinkType::Ethernet));
            sink
        }),
        stop: stop.clone(),
        interfaces: Default::default(),
    }
}

/// One run: its wall time and the CPU time of each thread (by name); `others` is
/// the rest of the process's CPU time over the run (the bench's own thread while it
/// waits for 2 workers, thread start and end).
struct Run {
    wall: Duration,
    threads: Vec<(String, Duration)>,
}

impl Run {
    /// Adds the `others` entry: the process's CPU time since `cpu0` less the named
    /// threads'.
    fn with_others(mut self, cpu0: Duration) -> Self {
        let named: Duration = self.threads.iter().map(|(_, d)| *d).sum();
        let others = process_cpu_time()
            .saturating_sub(cpu0)
            .saturating_sub(named);
        self.threads.push(("others".to_string(), others));
        self
    }
}

/// 1 worker: the capture thread (this one) fills batches from both rings and submits
/// them, as `run::live`'s single-source loop does (blocking here, so that nothing is
/// dropped: the bench measures capacity).
fn run_single() -> Run {
    let mut source = sources(1).pop().expect("one source");
    let stop = Stop::default();
    let t0 = Instant::now();
    let process0 = process_cpu_time();
    let cpu0 = thread_cpu_time();
    let mut p = Pipeline::start(config(1, &stop));
    let mut read = 0;
    while read < FRAMES {
        let mut batch = p.empty_batch(BATCH_BYTES + 16384, 2048);
        let fill = source.fill(&mut batch, BATCH_BYTES);
        assert!(matches!(fill, Ok(Fill::Some)));
        read += batch.len();
        p.submit(batch, true);
    }
    let capture = thread_cpu_time() - cpu0;
    let done = p.finish();
    let wall = t0.elapsed();
    assert_eq!(done.decode.decoded, FRAMES as u64, "every frame decoded");
    let mut threads = vec![("capture".to_string(), capture)];
    threads.extend(done.threads.into_iter().map(|t| (t.name, t.cpu)));
    Run { wall, threads }.with_others(process0)
}

/// 2 workers (or one per ring, see [`rings`]): each reads its own ring
/// (`Pipeline::start_fanout`).
fn run_fanout() -> Run {
    let workers = rings();
    let stop = Stop::default();
    let end = Arc::new(DrainedEnd {
        stop: stop.clone(),
        left: AtomicUsize::new(workers),
    });
    let rings = sources(2);
    // Freed here after the run, not by the workers (see `Ring`).
    let frames: Vec<_> = rings
        .iter()
        .flat_map(|s| s.0.iter().map(|r| r.frames.clone()))
        .collect();
    let sources = rings
        .into_iter()
        .map(|mut s| {
            s.1 = Some(end.clone());
            Box::new(s) as Box<dyn Source>
        })
        .collect();
    let shared = Arc::new(fanout::Shared {
        ifname: "bench".into(),
        ..fanout::Shared::default()
    });
    let t0 = Instant::now();
    let process0 = process_cpu_time();
    // The sources stop the run when both are drained (`DrainedEnd`); the workers then
    // drain and end, and `finish` waits for them.
    let p = Pipeline::start_fanout(config(workers, &stop), sources, shared.clone());
    let done = p.finish();
    assert_eq!(shared.read.read().0, FRAMES as u64, "every frame read");
    let wall = t0.elapsed();
    assert_eq!(done.decode.decoded, FRAMES as u64, "every frame decoded");
    let threads = done.threads.into_iter().map(|t| (t.name, t.cpu)).collect();
    let run = Run { wall, threads }.with_others(process0);
    drop(frames);
    run
}

fn run(workers: usize) -> Run {
    if workers == 1 {
        run_single()
    } else {
        run_fanout()
    }
}

/// The runs of one configuration, summed up on stderr; returns the median frames/s
/// and the busiest thread's CPU ns per frame.
fn report(workers: usize, runs: &[Run]) -> (f64, f64) {
    let mut fps: Vec<f64> = runs
        .iter()
        .map(|r| FRAMES as f64 / r.wall.as_secs_f64())
        .collect();
    fps.sort_by(f64::total_cmp);
    let median = fps[fps.len() / 2];
    let per_frame = |d: Duration| d.as_nanos() as f64 / (runs.len() * FRAMES) as f64;
    let mut names: Vec<String> = Vec::new();
    for (name, _) in runs.iter().flat_map(|r| &r.threads) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let each: Vec<(String, f64)> = names
        .into_iter()
        .map(|name| {
            let cpu = runs
                .iter()
                .flat_map(|r| &r.threads)
                .filter(|(n, _)| *n == name)
                .map(|(_, d)| *d)
                .sum();
            (name, per_frame(cpu))
        })
        .collect();
    let total: f64 = each.iter().map(|(_, ns)| ns).sum();
    // "others" is not one thread: it cannot be the critical path.
    let busiest = each
        .iter()
        .filter(|(name, _)| name != "others")
        .map(|(_, ns)| *ns)
        .fold(0.0, f64::max);
    let threads: Vec<String> = each
        .iter()
        .map(|(name, ns)| format!("{name} {ns:.0}"))
        .collect();
    eprintln!(
        "xdp readers, -F line, {workers} worker(s): {:.2} M frames/s wall (median of {}); \
         CPU ns per frame: {} (threads: {total:.0} in all, busiest {busiest:.0})",
        median / 1e6,
        runs.len(),
        threads.join(", "),
    );
    (median, busiest)
}

fn bench(c: &mut Criterion) {
    if let Some(only) = std::env::var("NETCAP_READERS_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let runs: Vec<Run> = (0..20).map(|_| run(only)).collect();
        report(if only == 1 { 1 } else { rings() }, &runs);
        return;
    }
    // Interleaved, RUNS times each, with the machine probe.
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    let mut probes: [Vec<probe::Probe>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for workers in [1usize, 2] {
            runs[workers - 1].push(run(workers));
            probes[workers - 1].push(probe::run(workers));
        }
    }
    let (one, one_busiest) = report(1, &runs[0]);
    let (two, two_busiest) = report(2, &runs[1]);
    eprintln!(
        "xdp readers: 2 workers / 1 worker = {:.2}x frames/s (wall); busiest thread's CPU \
         per frame 1 worker / 2 workers = {:.2}x",
        two / one,
        one_busiest / two_busiest,
    );
    probe::report(&probes[0], &probes[1]);
    let mut g = c.benchmark_group("xdp_readers");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.sample_size(10);
    for workers in [1usize, 2] {
        g.bench_function(format!("line_{workers}_workers"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(workers).wall).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
