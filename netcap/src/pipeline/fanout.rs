//! AF_PACKET fanout: each decoder thread reads its own socket of one `PACKET_FANOUT`
//! group (the kernel spreads frames over the sockets by a symmetric flow hash), so
//! there is no capture thread, no copy hand-off between threads, and the kernel side
//! of each socket (its ring and lock) is separate too.
//!
//! ```text
//!  socket 0 ring --> worker 0: fill, decode, print, flows --+
//!  socket 1 ring --> worker 1: fill, decode, print, flows --+--> writer: merge by timestamp
//! ```
//!
//! Order: frames of one socket come nearly in timestamp order (frames stamped on two
//! CPUs can reach the ring swapped, by up to ~150 us); the writer merges the workers'
//! outputs by timestamp and sorts within `merge::REORDER_SLACK_NS` (see `merge`). For that each output carries a watermark: a
//! frame stamped at `t` sits in the kernel's open block for at most the settle time
//! (two block timeouts and some slack, `Source::settle_time`), so once a fill that
//! started at `T` has drained the ring, the socket holds no frame stamped before
//! `T - settle time`. A quiet worker sends watermark-only
//! outputs every poll timeout, so the writer never waits on it for long.
//!
//! Stop: anyone stops the run's [`Stop`] (the driver on a signal, the writer when the
//! output is gone, a worker on a socket error); each worker detaches its socket
//! (`Source::stop`), waits the settle time so the last partly filled block is handed
//! over, drains the ring and ends its stream.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crossbeam_channel::Receiver;

use super::{worker::Work, BATCH_BYTES};
use crate::{
    capture::{self, CaptureCounters, Fill, Source},
    packet::{Batch, Frame},
    stats::LiveCounters,
    stop::{End, Stop},
};

/// Longest a worker waits for its socket before it sends a watermark anyway.
const POLL: Duration = Duration::from_millis(10);

/// Counters shared by the fanout workers and the driver.
#[derive(Default)]
pub struct Shared {
    /// Frames and bytes read so far (the live statistics line).
    pub read: Arc<LiveCounters>,
    /// The interface, for messages.
    pub ifname: String,
    /// The sockets' counts while the capture runs (the live line, the statistics the
    /// `-w` files end with).
    pub counts: Option<SocketCounts>,
}

/// Each socket's counts, updated every [`PUBLISH_EVERY`] and once more when the socket
/// is drained, so the last file closed (after every socket ended) has the capture's
/// final counts; their sum goes to `publish` at each update.
pub struct SocketCounts {
    per_socket: Mutex<Vec<CaptureCounters>>,
    publish: Option<PublishFn>,
    /// Per socket, a reader of its counters from any thread, where it has one
    /// ([`SocketCounts::now`]).
    probes: Vec<Option<crate::capture::CountersProbe>>,
}

/// Receives the sum of the sockets' counts at each update.
pub type PublishFn = Box<dyn Fn(&CaptureCounters) + Send + Sync>;

/// How often a socket updates its counts: often enough for a live line every 0.25 s,
/// and a `getsockopt` each time costs nothing at that rate.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

impl SocketCounts {
    /// `publish` receives the sum over `sockets` sockets.
    pub fn new(sockets: usize, publish: Option<PublishFn>) -> Self {
        Self {
            per_socket: Mutex::new(vec![CaptureCounters::default(); sockets]),
            publish,
            probes: Vec::new(),
        }
    }

    /// Each socket's [`Source::counters_probe`](crate::capture::Source::counters_probe),
    /// in the sockets' order.
    pub fn with_probes(mut self, probes: Vec<Option<crate::capture::CountersProbe>>) -> Self {
        self.probes = probes;
        self
    }

    /// The sum over the sockets as they are now where a socket's counters can be read
    /// from here, else as of its last update: for the counts said when a second signal
    /// ends netcap, when the workers may have been blocked (on a stalled output) long
    /// since their last update.
    pub fn now(&self) -> CaptureCounters {
        let mut sum = CaptureCounters::default();
        if let Ok(all) = self.per_socket.lock() {
            for (i, last) in all.iter().enumerate() {
                match self.probes.get(i) {
                    Some(Some(probe)) => sum.add(&probe()),
                    _ => sum.add(last),
                }
            }
        }
        sum
    }

    /// The sum over the sockets, as of their last updates.
    pub fn sum(&self) -> CaptureCounters {
        let mut sum = CaptureCounters::default();
        if let Ok(all) = self.per_socket.lock() {
            for c in all.iter() {
                sum.add(c);
            }
        }
        sum
    }

    fn update(&self, socket: usize, counters: CaptureCounters) {
        if let Ok(mut all) = self.per_socket.lock() {
            if let Some(slot) = all.get_mut(socket) {
                *slot = counters;
            }
        }
        if let Some(publish) = &self.publish {
            publish(&self.sum());
        }
    }
}

/// What a fanout worker's socket did, for the summary.
pub struct SourceResult {
    pub counters: CaptureCounters,
    pub delay_us: Option<hdrhistogram::Histogram<u64>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Draining,
    Done,
}

/// One worker's socket, read as a sequence of [`Work`] items.
pub struct SocketInput {
    source: Box<dyn Source>,
    /// Which socket of the group (for [`SocketCounts`]).
    index: usize,
    last_published: Instant,
    shared: Arc<Shared>,
    stop: Stop,
    pool: Receiver<Batch>,
    /// How long the kernel may hold a frame before it is readable
    /// (`Source::settle_time`): how far the watermark trails the clock.
    lag: Duration,
    state: State,
    /// The last read stopped at the batch budget: the source may hold more, so the next
    /// read goes without waiting for the descriptor (an XDP ring's wake-up tokens are
    /// cleared at each read, and a full ring that gets no new frame sends none: a wait
    /// there cost a whole [`POLL`] per batch, ~0.4 M frames/s per worker).
    more: bool,
}

impl SocketInput {
    pub fn new(
        source: Box<dyn Source>,
        index: usize,
        shared: Arc<Shared>,
        stop: Stop,
        pool: Receiver<Batch>,
    ) -> Self {
        let lag = source.settle_time();
        Self {
            source,
            index,
            last_published: Instant::now(),
            shared,
            stop,
            pool,
            lag,
            state: State::Running,
            more: false,
        }
    }

    /// The next batch (possibly empty, carrying only a watermark); `None` once the
    /// socket is stopped and drained.
    pub fn next_work(&mut self) -> Option<Work> {
        let started = self.begin()?;
        let mut batch = self
            .pool
            .try_recv()
            .unwrap_or_else(|_| Batch::with_capacity(BATCH_BYTES + 65536, 2048));
        let fill = self.source.fill(&mut batch, BATCH_BYTES);
        let last_ts = batch
            .len()
            .checked_sub(1)
            .and_then(|i| batch.get(i))
            .map_or(0, |f| f.meta.ts_ns);
        let read = (batch.len(), batch.bytes(), last_ts);
        let watermark = self.end(fill, read, started);
        Some(Work {
            seq: 0,
            batch: Arc::new(batch),
            watermark,
        })
    }

    /// As [`SocketInput::next_work`], but hands each frame to `f` where the source holds
    /// it (the ring), with no copy into a batch: for workers that need nothing of a
    /// frame once they have decoded and printed it (no `-w`). Returns the frames handed
    /// over and the watermark; `None` once the socket is stopped and drained.
    pub fn next_visit(&mut self, f: &mut dyn FnMut(&Frame<'_>)) -> Option<(usize, u64)> {
        let started = self.begin()?;
        let (mut frames, mut bytes, mut last_ts) = (0usize, 0usize, 0u64);
        let fill = self.source.visit(&mut |frame| {
            f(frame);
            frames += 1;
            bytes += frame.data.len();
            last_ts = frame.meta.ts_ns;
            bytes < BATCH_BYTES
        });
        let watermark = self.end(fill, (frames, bytes, last_ts), started);
        Some((frames, watermark))
    }

    /// Before a read: stops the socket once the run is stopped, waits for it to be
    /// readable while running; the time the read started, or `None` once drained.
    fn begin(&mut self) -> Option<u64> {
        if self.state == State::Done {
            return None;
        }
        if self.state == State::Running && self.stop.is_stopped() {
            self.source.stop();
            std::thread::sleep(self.lag);
            self.state = State::Draining;
        }
        let started = capture::realtime_ns();
        if self.state == State::Running && !self.more {
            if let Some(fd) = self.source.fd() {
                // An error here (EINTR) only means the fill below finds nothing new.
                let _ = capture::wait_readable(fd, POLL);
            }
        }
        Some(started)
    }

    /// After a read of `(frames, bytes, the last frame's timestamp)`: counts, publishes
    /// the socket's counts when due, and returns the watermark (see the module doc).
    fn end(
        &mut self,
        fill: Result<Fill, capture::Error>,
        (frames, bytes, last_ts): (usize, usize, u64),
        started: u64,
    ) -> u64 {
        let full = bytes >= BATCH_BYTES;
        // Also when the source has more that no wake-up will announce.
        self.more = full || self.source.unannounced();
        let ended = match fill {
            Ok(Fill::Some) => self.state == State::Draining && !full,
            Ok(Fill::End) => {
                // The interface is gone: the other sockets end the same way.
                let why = capture::Error::Vanished(self.shared.ifname.clone());
                self.stop.stop(End::Failed(why.to_string()));
                true
            }
            Err(e) => {
                self.stop.stop(End::Failed(e.to_string()));
                true
            }
        };
        self.shared.read.add(frames as u64, bytes as u64);
        if let Some(counts) = &self.shared.counts {
            if ended || self.last_published.elapsed() >= PUBLISH_EVERY {
                self.last_published = Instant::now();
                counts.update(self.index, self.source.counters());
            }
        }
        if ended {
            self.state = State::Done;
            u64::MAX
        } else if full {
            // The ring may hold more: only what was read is known to be past.
            last_ts
        } else {
            started.saturating_sub(self.lag.as_nanos() as u64)
        }
    }

    pub fn result(&self) -> SourceResult {
        SourceResult {
            counters: self.source.counters(),
            delay_us: self.source.delay_us().cloned(),
        }
    }
}
