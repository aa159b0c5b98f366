//! The machine probe: what two threads of the workers' own work (decode and print
//! `-F line` of the bench's frames, no pipeline, no hand-off, no shared data) get from
//! this machine at once, against one alone. On a machine with two free cores each
//! thread of the pair costs what one alone costs and together they do 2x the frames per
//! second; on a shared VM (host SMT siblings, neighbours' load) they do less, and the
//! pipeline's 2-worker ratio cannot beat what the probe reaches in the same minute.
use std::time::{Duration, Instant};

use netcap::capture::thread_cpu_time;
use netcap::output::{self, Format};
use netcap::packet::{Direction, Frame, FrameMeta, Interfaces, LinkType};

/// Frames each probe thread decodes and prints.
const FRAMES: usize = 400_000;
/// Distinct frames cycled through (as many ports and flows as a burst of the bench's).
const DISTINCT: usize = 256;

/// One probe: wall time and each thread's CPU time.
pub struct Probe {
    threads: usize,
    wall: Duration,
    cpu: Vec<Duration>,
}

/// Decodes and prints [`FRAMES`] frames; returns the thread's CPU time.
fn work() -> Duration {
    let frames: Vec<[u8; 64]> = (0..DISTINCT).map(super::frame).collect();
    let mut printer =
        output::printer_with(Format::Line, &Interfaces::default(), &Default::default())
            .expect("-F line prints");
    let mut text = Vec::with_capacity(1 << 20);
    let cpu0 = thread_cpu_time();
    let mut bytes = 0usize;
    for n in 0..FRAMES {
        let meta = FrameMeta {
            ts_ns: 1_700_000_000_000_000_000 + n as u64 * 700,
            orig_len: 64,
            ifindex: 1,
            direction: Direction::In,
            link: LinkType::Ethernet,
            iface: 0,
            drops: 0,
        };
        let frame = Frame {
            meta,
            data: &frames[n % DISTINCT],
        };
        let d = netcap::decode::decode(&frame);
        printer.print(&frame, &d, &mut text);
        if text.len() > (1 << 20) - 4096 {
            bytes += text.len();
            text.clear();
        }
    }
    bytes += text.len();
    assert!(bytes >= FRAMES * 40, "every frame printed a line");
    thread_cpu_time() - cpu0
}

/// Runs the work on `threads` threads at once.
pub fn run(threads: usize) -> Probe {
    let barrier = std::sync::Barrier::new(threads + 1);
    let (wall, cpu) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    work()
                })
            })
            .collect();
        barrier.wait();
        let t0 = Instant::now();
        let cpu: Vec<Duration> = handles
            .into_iter()
            .map(|h| h.join().expect("probe thread"))
            .collect();
        (t0.elapsed(), cpu)
    });
    Probe { threads, wall, cpu }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints the probes of 1 and 2 threads: CPU ns per frame of each thread, frames per
/// second of the wall clock, and the 2-thread / 1-thread ratio of both.
pub fn report(one: &[Probe], two: &[Probe]) {
    let line = |probes: &[Probe]| {
        let threads = probes.first().map_or(1, |p| p.threads);
        let fps = median(
            probes
                .iter()
                .map(|p| (FRAMES * threads) as f64 / p.wall.as_secs_f64())
                .collect(),
        );
        let cpu = median(
            probes
                .iter()
                .map(|p| {
                    let sum: Duration = p.cpu.iter().sum();
                    sum.as_nanos() as f64 / (FRAMES * threads) as f64
                })
                .collect(),
        );
        (fps, cpu)
    };
    let (fps1, cpu1) = line(one);
    let (fps2, cpu2) = line(two);
    eprintln!(
        "machine probe (decode + print -F line alone, no pipeline; medians of {}): 1 thread \
         {:.2} M frames/s, {cpu1:.0} CPU ns/frame; 2 threads at once {:.2} M frames/s, \
         {cpu2:.0} CPU ns/frame each: {:.2}x frames/s (wall), a thread costs {:.2}x as much \
         beside another",
        one.len(),
        fps1 / 1e6,
        fps2 / 1e6,
        fps2 / fps1,
        cpu2 / cpu1,
    );
}
