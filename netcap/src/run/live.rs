//! The two live capture loops, as steps the [`Driver`] calls:
//! - [`Single`]: one source read on this thread, its frames handed to the decoder
//!   pipeline or, when nothing needs decoding, written on the spot ([`Direct`]);
//! - [`fanout`]: every worker reads its own socket; this thread only answers signals.
//!
//! Work per wake-up is bounded ([`ROUNDS_PER_STEP`]): a ring that refills as fast as it
//! is read still lets the driver serve a signal between steps.
use std::{
    ops::ControlFlow,
    sync::Arc,
    time::{Duration, Instant},
};

use super::driver::{exit_on_second_signal, Driver, Step, Wake};
use crate::{
    capture::{self, CaptureCounters, Fill, Source},
    output::{Counts, FileStats},
    pipeline::{direct::Direct, fanout, Finished, Pipeline, PipelineConfig, BATCH_BYTES},
    stats::{LiveCounters, LiveLine, LiveSample},
    stop::{End, Stop},
};

/// Most rounds (each up to [`BATCH_BYTES`] of frames, 8 MiB in all) one step takes
/// from the ring before it yields to the driver.
const ROUNDS_PER_STEP: usize = 32;

/// Where a single source's frames go.
pub enum Sink {
    Pipeline(Pipeline),
    /// Nothing to decode; the flag is `-l` (flush after every round).
    Direct(Direct, bool),
}

/// One source and where its frames go, with what `-c` still allows.
pub struct Single {
    pub source: Box<dyn Source>,
    pub sink: Sink,
    pub left: Option<u64>,
    pub live: Arc<LiveCounters>,
    /// Where the counts go for the files' statistics, when `-w` is given.
    pub publish: Option<Publish>,
    /// The interface's own drops, for the live line.
    pub if_drops: super::IfDrops,
    pub line: LiveLine,
    /// The reader's CPU, following the busiest per-CPU ring (`--reader-cpu`).
    pub follow: super::follow::Follow,
    /// The source's counters as last noted, and when, where no other thread can read
    /// them (for the second signal's summary; set by `run`).
    pub noted: Option<(Arc<std::sync::Mutex<CaptureCounters>>, Instant)>,
    /// With `-c` on several interfaces: the frames handled from each (by
    /// `FrameMeta::iface`), to cut each interface's counts to what `-c` took.
    pub by_iface: Option<Vec<u64>>,
}

/// Publishes the capture's counts for the `-w` files ([`FileStats`]) every
/// [`PUBLISH_EVERY`] and once at the end.
pub struct Publish {
    pub stats: FileStats,
    pub start_ns: u64,
    pub if_drops: super::IfDrops,
    pub last: Instant,
}

const PUBLISH_EVERY: Duration = Duration::from_secs(1);

impl Publish {
    /// The counts of a capture whose hooks counted `kernel` and whose user-space
    /// queue dropped `dropped`.
    fn counts(&self, kernel: &CaptureCounters, dropped: u64) -> Counts {
        Counts {
            start_ns: self.start_ns,
            seen: kernel.seen,
            accepted: kernel.seen.saturating_sub(kernel.filtered),
            lost: kernel.lost_total() + dropped,
            if_dropped: self.if_drops.since_start(),
            delivered: kernel.captured.saturating_sub(dropped),
        }
    }
}

impl Single {
    /// Runs the capture until a signal, `-c`, a closed output or a failed source; then
    /// detaches the hooks and takes what the kernel had already queued.
    pub fn run(&mut self, driver: &mut Driver, tick: Duration, every: Option<Duration>) -> End {
        // The counts a second signal says: the hooks' as they are then where another
        // thread can read them, else as this thread last noted them (`drain`).
        let probe = self.source.counters_probe();
        if probe.is_none() {
            self.noted = Some((Arc::default(), Instant::now()));
        }
        let noted = self.noted.as_ref().map(|(c, _)| Arc::clone(c));
        let live = self.live.clone();
        exit_on_second_signal(move || {
            let kernel = match (&probe, &noted) {
                (Some(probe), _) => probe(),
                (None, Some(c)) => c.lock().map(|c| *c).unwrap_or_default(),
                (None, None) => CaptureCounters::default(),
            };
            (kernel, live.read().0)
        });
        let ready = self.source.fd().and_then(|fd| fd.try_clone_to_owned().ok());
        let end = match driver.run(ready, tick, every, |wake| self.step(wake)) {
            Ok(end) => end,
            Err(e) => End::Failed(e.to_string()),
        };
        self.follow.release();
        self.source.stop();
        let drain = !matches!(end, End::Count | End::OutputClosed);
        if drain {
            std::thread::sleep(self.source.settle_time());
        }
        // The hooks are detached (and what they were writing has landed): the kernel's
        // counts are final, for a second signal while the drain below waits for
        // decoders whose output nobody reads.
        self.note_counts(true);
        if drain {
            while let ControlFlow::Continue(Step::More) = self.drain() {}
        }
        self.export_kernel_flows(true);
        end
    }

    /// In-kernel flow mode: the records the hooks' flow map has ready (all of them
    /// with `all`) go to the pipeline's flow exporter.
    fn export_kernel_flows(&mut self, all: bool) {
        if let Sink::Pipeline(p) = &self.sink {
            let flows = self.source.take_flows(all);
            if let (false, Some(tx)) = (flows.is_empty(), p.flow_sender()) {
                let _ = tx.send(flows);
            }
        }
    }

    fn step(&mut self, wake: Wake) -> ControlFlow<End, Step> {
        self.export_kernel_flows(false);
        match wake {
            Wake::Ready => {}
            Wake::Progress => eprintln!("netcap: {}", self.so_far()),
            Wake::Live => {
                let sample = LiveSample {
                    handled: self.live.read(),
                    kernel: self.source.counters(),
                    queue_full: self.dropped(),
                    if_dropped: self.if_drops.since_start(),
                };
                eprintln!("netcap: {}", self.line.line(Instant::now(), &sample));
            }
            Wake::Flush => match &mut self.sink {
                Sink::Pipeline(p) => p.request_flush(),
                Sink::Direct(d, _) => d.flush(),
            },
        }
        self.drain()
    }

    /// Takes up to [`ROUNDS_PER_STEP`] rounds of frames from the source.
    fn drain(&mut self) -> ControlFlow<End, Step> {
        let mut rounds = 0;
        let (mut frames, mut bytes) = (0u64, 0u64);
        let result = loop {
            let round = match &mut self.sink {
                Sink::Pipeline(p) => {
                    to_pipeline(&mut *self.source, p, &mut self.left, &mut self.by_iface)
                }
                Sink::Direct(d, _) => {
                    to_direct(&mut *self.source, d, &mut self.left, &mut self.by_iface).map(Some)
                }
            };
            let (fill, n, b) = match round {
                Ok(Some(r)) => r,
                // The workers are behind: the driver serves signals, then this again.
                Ok(None) => break ControlFlow::Continue(Step::More),
                Err(e) => break ControlFlow::Break(End::Failed(e.to_string())),
            };
            frames += n;
            bytes += b;
            rounds += 1;
            if fill == Fill::End {
                break ControlFlow::Break(End::SourceEnded);
            }
            if self.left == Some(0) {
                break ControlFlow::Break(End::Count);
            }
            if self.closed() {
                break ControlFlow::Break(End::OutputClosed);
            }
            // A round that did not fill up emptied the ring, as far as the source
            // will announce: more that came meanwhile may bring no wake-up.
            if b < BATCH_BYTES as u64 / 2 {
                let unannounced = self.source.unannounced();
                break ControlFlow::Continue(if unannounced { Step::More } else { Step::Idle });
            }
            if rounds == ROUNDS_PER_STEP {
                break ControlFlow::Continue(Step::More);
            }
        };
        if let Sink::Direct(d, line_buffered) = &mut self.sink {
            if *line_buffered && frames > 0 {
                d.flush();
            }
            d.flush_if_due();
        }
        self.live.add(frames, bytes);
        let source = &self.source;
        self.follow.step(|| {
            let reads = source.ring_reads();
            let lost = if reads.len() > 1 {
                source.counters().lost_ring_full
            } else {
                0
            };
            (reads, lost)
        });
        self.note_counts(false);
        if self
            .publish
            .as_ref()
            .is_some_and(|p| p.last.elapsed() >= PUBLISH_EVERY)
        {
            let kernel = self.source.counters();
            self.publish(&kernel);
        }
        result
    }

    /// For a source whose counters no other thread can read: notes them for the second
    /// signal's summary every [`PUBLISH_EVERY`], or `now`.
    fn note_counts(&mut self, now: bool) {
        if let Some((noted, at)) = &mut self.noted {
            if now || at.elapsed() >= PUBLISH_EVERY {
                *at = Instant::now();
                let counters = self.source.counters();
                if let Ok(mut c) = noted.lock() {
                    *c = counters;
                }
            }
        }
    }

    /// Publishes `kernel` (with the queue drops) for the `-w` files' statistics.
    pub fn publish(&mut self, kernel: &CaptureCounters) {
        let dropped = self.dropped();
        let Some(p) = self.publish.as_mut() else {
            return;
        };
        p.last = Instant::now();
        p.stats.publish(p.counts(kernel, dropped));
    }

    /// Frames the pipeline dropped so far because its decoders had stopped.
    pub fn dropped(&self) -> u64 {
        match &self.sink {
            Sink::Pipeline(p) => p
                .dropped_queue_full
                .load(std::sync::atomic::Ordering::Relaxed),
            Sink::Direct(..) => 0,
        }
    }

    fn closed(&self) -> bool {
        match &self.sink {
            Sink::Pipeline(p) => p.output_closed(),
            Sink::Direct(d, _) => d.closed,
        }
    }

    /// The SIGUSR1 line: what the hooks counted so far.
    fn so_far(&self) -> String {
        let k = self.source.counters();
        format!(
            "{} frames seen, {} captured, {} filtered, {} lost so far; {} handled",
            k.seen,
            k.captured,
            k.filtered,
            k.lost_total(),
            self.live.read().0
        )
    }

    /// The pipeline's (or the direct path's) results, and its queue drops, counted
    /// once it has finished (a batch held at the end goes to the workers then).
    pub fn finish(self) -> (Box<dyn Source>, Finished, u64) {
        match self.sink {
            Sink::Pipeline(p) => {
                let dropped = Arc::clone(&p.dropped_queue_full);
                let finished = p.finish();
                (
                    self.source,
                    finished,
                    dropped.load(std::sync::atomic::Ordering::Relaxed),
                )
            }
            Sink::Direct(d, _) => (self.source, d.finish(), 0),
        }
    }
}

/// How long one try waits for a worker queue with room before the step yields to the
/// driver (signals, the live line) and tries again.
const QUEUE_WAIT: Duration = Duration::from_millis(10);

/// One round into the pipeline: a batch filled, cut to `-c`, handed on; `None`, with
/// nothing read, while the pipeline still holds a batch no worker queue has taken (the
/// ring keeps the frames meanwhile, see `pipeline`'s backpressure).
fn to_pipeline(
    source: &mut dyn Source,
    pipeline: &mut Pipeline,
    left: &mut Option<u64>,
    by_iface: &mut Option<Vec<u64>>,
) -> Result<Option<(Fill, u64, u64)>, capture::Error> {
    if !pipeline.pass_held(QUEUE_WAIT) {
        return Ok(None);
    }
    let mut batch = pipeline.empty_batch(BATCH_BYTES + 16384, 2048);
    let fill = source.fill(&mut batch, BATCH_BYTES)?;
    super::limit(&mut batch, left);
    if by_iface.is_some() {
        for f in batch.iter() {
            count_iface(by_iface, f.meta.iface);
        }
    }
    let (n, bytes) = (batch.len() as u64, batch.bytes() as u64);
    pipeline.offer(batch, QUEUE_WAIT);
    Ok(Some((fill, n, bytes)))
}

/// Counts a frame of interface `iface` handled, when `-c` on several interfaces asks.
fn count_iface(by_iface: &mut Option<Vec<u64>>, iface: u16) {
    if let Some(v) = by_iface {
        let i = usize::from(iface);
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        if let Some(n) = v.get_mut(i) {
            *n += 1;
        }
    }
}

/// One round on the direct path: up to a batch's worth of bytes (and `-c`'s frames),
/// with `-w` held in the ring until the round is written; the ring gets its space back
/// after each (the XDP consumer position, the AF_PACKET blocks read to their end).
fn to_direct(
    source: &mut dyn Source,
    direct: &mut Direct,
    left: &mut Option<u64>,
    by_iface: &mut Option<Vec<u64>>,
) -> Result<(Fill, u64, u64), capture::Error> {
    let (mut frames, mut bytes) = (0u64, 0u64);
    if !direct.writes() {
        // Nothing to write (`-F none` alone): frame by frame, no round to hold.
        let fill = source.visit(&mut |frame| {
            direct.take(frame);
            count_iface(by_iface, frame.meta.iface);
            frames += 1;
            bytes += frame.data.len() as u64;
            if let Some(n) = left.as_mut() {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    return false;
                }
            }
            bytes < BATCH_BYTES as u64
        })?;
        return Ok((fill, frames, bytes));
    }
    if *left == Some(0) {
        return Ok((Fill::Some, 0, 0));
    }
    let limit = capture::round::RoundLimit {
        frames: left.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        bytes: BATCH_BYTES,
    };
    let fill = source.visit_round(limit, &mut |round| {
        direct.take_round(round);
        if by_iface.is_some() {
            for f in round {
                count_iface(by_iface, f.meta.iface);
            }
        }
        frames += round.len() as u64;
        bytes += round.iter().map(|f| f.data.len() as u64).sum::<u64>();
    })?;
    if let Some(n) = left.as_mut() {
        *n = n.saturating_sub(frames);
    }
    Ok((fill, frames, bytes))
}

/// The fanout capture: the workers read their own sockets; this thread waits for a
/// signal, a closed output or a socket error, then the workers drain and end. The
/// workers publish their counts themselves (`publish`, for the `-w` files).
pub fn fanout(
    driver: &mut Driver,
    cfg: PipelineConfig,
    sources: Vec<Box<dyn Source>>,
    ifname: &str,
    (publish, if_drops): (Option<Publish>, &super::IfDrops),
    (tick, every): (Duration, Option<Duration>),
) -> (End, Finished, CaptureCounters, hdrhistogram::Histogram<u64>) {
    let stop: Stop = cfg.stop.clone();
    let publish = publish.map(|p| {
        let send = move |k: &CaptureCounters| p.stats.publish(p.counts(k, 0));
        Box::new(send) as fanout::PublishFn
    });
    let shared = Arc::new(fanout::Shared {
        ifname: ifname.to_owned(),
        counts: Some(
            fanout::SocketCounts::new(sources.len(), publish)
                .with_probes(sources.iter().map(|s| s.counters_probe()).collect()),
        ),
        ..fanout::Shared::default()
    });
    let counted = shared.clone();
    exit_on_second_signal(move || {
        let kernel = counted.counts.as_ref().map(|c| c.now()).unwrap_or_default();
        (kernel, counted.read.read().0)
    });
    let pipeline = Pipeline::start_fanout(cfg, sources, shared.clone());
    let mut line = LiveLine::default();
    let ran = driver.run(None, tick, every, |wake| {
        match wake {
            Wake::Ready => {}
            Wake::Progress => eprintln!("netcap: {} frames captured so far", shared.read.read().0),
            Wake::Live => {
                let sample = LiveSample {
                    handled: shared.read.read(),
                    kernel: shared.counts.as_ref().map(|c| c.sum()).unwrap_or_default(),
                    queue_full: 0,
                    if_dropped: if_drops.since_start(),
                };
                eprintln!("netcap: {}", line.line(Instant::now(), &sample));
            }
            Wake::Flush => pipeline.request_flush(),
        }
        ControlFlow::Continue(Step::Idle)
    });
    if let Err(e) = ran {
        stop.stop(End::Failed(e.to_string()));
    }
    stop.stop(End::Signal);
    let finished = pipeline.finish();
    let mut kernel = CaptureCounters::default();
    let mut delay = capture::delay_histogram();
    for s in &finished.sources {
        kernel.add(&s.counters);
        if let Some(d) = &s.delay_us {
            let _ = delay.add(d);
        }
    }
    (
        stop.reason().unwrap_or(End::Signal),
        finished,
        kernel,
        delay,
    )
}
