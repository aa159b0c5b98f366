//! A machine probe for benches that compare 1 and 2 busy threads on this shared 2-core
//! VM: a fixed piece of CPU work (byte-wise hashing over a buffer that stays in the
//! core's caches, branchy as a decoder is) on 1 thread, then on 2 threads at once.
//! The ratio of the two rates is what the machine gave two independent threads in that
//! minute: ~2.0x on two free cores, less when neighbours (or host SMT siblings) take
//! part of them. A 2-worker over 1-worker ratio cannot beat it. The pipeline bench
//! (`benches/readers/probe.rs`) probes with netcap's own decode; this one needs no
//! netcap library and runs beside a live bench.
use std::time::{Duration, Instant};

/// Bytes hashed per thread: ~30-60 ms on the development VM.
const WORK_BYTES: usize = 64 << 20;
/// The buffer cycled through: within L2.
const BUFFER: usize = 64 << 10;

/// One probe: threads' rate together over one thread's alone.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Probe {
    /// Bytes per second of 1 thread alone.
    pub one: f64,
    /// Bytes per second of 2 threads at once (both together).
    pub two: f64,
}

impl Probe {
    pub fn ratio(&self) -> f64 {
        self.two / self.one
    }
}

fn work() -> u64 {
    let buf: Vec<u8> = (0..BUFFER).map(|i| (i * 131 % 251) as u8).collect();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for round in 0..WORK_BYTES / BUFFER {
        for &b in &buf {
            // A data-dependent branch per byte, as a decoder's protocol switch.
            h = if b & 1 == 0 {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            } else {
                h.rotate_left(5) ^ u64::from(b) ^ round as u64
            };
        }
    }
    h
}

/// Runs the work on `threads` threads at once; the wall time.
fn timed(threads: usize) -> Duration {
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    std::hint::black_box(work())
                })
            })
            .collect();
        barrier.wait();
        let t0 = Instant::now();
        for h in handles {
            let _ = h.join();
        }
        t0.elapsed()
    })
}

/// 1 thread, then 2 at once.
pub fn run() -> Probe {
    let rate = |threads: usize| (threads * WORK_BYTES) as f64 / timed(threads).as_secs_f64();
    Probe {
        one: rate(1),
        two: rate(2),
    }
}
