//! The decoder pipeline: a bounded hand-off of [`Batch`]es to N worker threads, which
//! decode, update their flow-table shard and format text; and one writer thread, which
//! puts the text (and the `-w` file) out in capture order.
//!
//! ```text
//!  submit(batch) --round robin, bounded--> worker i: decode, print, flows
//!                                             |  flow updates for other shards
//!                                             +--> worker j (unbounded, see below)
//!                                             v
//!                         writer: reorder by batch sequence -> stdout, pcap
//! ```
//!
//! Backpressure, written down:
//! - Live capture never blocks in [`Pipeline::submit`]: when every worker queue is full
//!   the batch is dropped and its frames are counted in `dropped_queue_full`.
//!   Files (`netcap read`) block instead, so nothing is lost.
//! - Workers block on the writer (bounded), so a slow stdout fills the worker queues and
//!   then shows up as counted drops, never as unbounded memory.
//! - Flow updates for another worker's shard go over an unbounded channel, but each
//!   worker drains its flow channel before taking a new batch, so what is in flight is
//!   bounded by the batches in flight.
//!
//! Shutdown: dropping the job senders lets workers finish their queues; each then drops
//! its flow senders and drains its own flow channel until every worker has done so (so
//! every cross-shard update has arrived), and hands its table and counters back; the
//! writer ends when all workers are gone. A worker that panics drops its senders while
//! unwinding, so the others still finish; its lost batch is skipped by the writer.
use std::{
    collections::BTreeMap,
    io::Write,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};
use flows::FlowUpdate;

pub mod direct;
pub mod fanout;
mod flows;
mod merge;

use crate::{
    decode::{self, Layer},
    flow::{FlowConfig, FlowTable},
    output::{self, pcap::BoxedPcapSink, Format},
    packet::Batch,
};

/// Most frame bytes put in one batch: large enough to amortise a hand-off, small
/// enough (with 8 batches queued per worker) to keep queued memory at a few MiB.
pub const BATCH_BYTES: usize = 256 * 1024;

/// Batches queued per worker. With batches of up to 256 KiB this bounds the queued
/// frame data at about 2 MiB per worker, while absorbing a few ms of bursts.
const QUEUE_PER_WORKER: usize = 8;

/// Counters of the decoding stage (summed over workers).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DecodeStats {
    /// Frames decoded.
    pub decoded: u64,
    /// Frame bytes decoded (captured length).
    pub bytes: u64,
    /// Frame bytes on the wire (original length).
    pub wire_bytes: u64,
    /// Frames whose decoding stopped at a truncated or invalid header, by layer.
    pub malformed: BTreeMap<String, u64>,
    /// Frames the decoder or printer panicked on (a bug): counted, not printed.
    pub panicked: u64,
}

impl DecodeStats {
    fn merge(&mut self, other: DecodeStats) {
        let DecodeStats {
            decoded,
            bytes,
            wire_bytes,
            malformed,
            panicked,
        } = other;
        self.decoded += decoded;
        self.panicked += panicked;
        self.bytes += bytes;
        self.wire_bytes += wire_bytes;
        for (k, v) in malformed {
            *self.malformed.entry(k).or_default() += v;
        }
    }
}

/// What the pipeline hands back when it is finished.
pub struct Finished {
    pub decode: DecodeStats,
    /// False when frames were not decoded at all (the direct path, see [`direct`]).
    pub decoded_frames: bool,
    /// Frame sizes (captured length) histogram.
    pub frame_sizes: hdrhistogram::Histogram<u64>,
    pub flows: Vec<FlowTable>,
    /// Frames handed to the writer (after `-c`).
    pub written: u64,
    /// The output error that ended the run early, if any (a closed pipe is not one).
    pub write_error: Option<String>,
    /// Frames `-w` could not write because their link type differs from the file's.
    pub pcap_skipped: u64,
    /// With fanout, what each worker's socket did (empty otherwise).
    pub sources: Vec<fanout::SourceResult>,
}

pub struct PipelineConfig {
    pub workers: usize,
    pub format: Format,
    pub flows: bool,
    pub max_flows: usize,
    /// Text output (stdout), when the format prints something.
    pub text_out: Option<Box<dyn Write + Send>>,
    /// Flush the text output after every batch (`-l`).
    pub line_buffered: bool,
    pub pcap: Option<BoxedPcapSink>,
}

enum Job {
    Batch(u64, Arc<Batch>),
}

/// One batch for a worker: numbered by the capture thread (`seq`), or carrying a
/// watermark when the worker reads its own fanout socket.
pub struct Work {
    seq: u64,
    batch: Arc<Batch>,
    watermark: u64,
}

/// Where a worker's batches come from.
enum Input {
    /// Handed over by the capture thread.
    Jobs(Receiver<Job>),
    /// Read from the worker's own fanout socket.
    Socket(Box<fanout::SocketInput>),
}

impl Input {
    fn next(&mut self) -> Option<Work> {
        match self {
            Input::Jobs(rx) => rx.recv().ok().map(|Job::Batch(seq, batch)| Work {
                seq,
                batch,
                watermark: 0,
            }),
            Input::Socket(s) => s.next_work(),
        }
    }
}

struct Output {
    seq: u64,
    /// The worker it came from (fanout: the stream the writer merges).
    stream: usize,
    text: Vec<u8>,
    /// Fanout only: where each frame's text ends in `text`.
    ends: Vec<u32>,
    watermark: u64,
    batch: Arc<Batch>,
}

struct WorkerResult {
    stats: DecodeStats,
    sizes: hdrhistogram::Histogram<u64>,
    flows: Option<FlowTable>,
    source: Option<fanout::SourceResult>,
}

pub struct Pipeline {
    jobs: Vec<Sender<Job>>,
    next: usize,
    seq: u64,
    workers: Vec<JoinHandle<WorkerResult>>,
    writer: Option<JoinHandle<WriterResult>>,
    /// Set by the writer when stdout or the file is gone: the run should end.
    pub output_closed: Arc<AtomicBool>,
    /// Frames dropped because every worker queue was full.
    pub dropped_queue_full: Arc<AtomicU64>,
    /// Emptied batches coming back from the writer.
    pool: Receiver<Batch>,
    /// Set by [`Pipeline::request_flush`]; the writer flushes and clears it.
    flush_requested: Arc<AtomicBool>,
}

struct WriterResult {
    written: u64,
    error: Option<String>,
    pcap_skipped: u64,
}

impl Pipeline {
    /// Workers fed by [`Pipeline::submit`].
    pub fn start(cfg: PipelineConfig) -> Self {
        let n = cfg.workers.max(1);
        let (pool_tx, pool_rx) = bounded::<Batch>(POOL_BATCHES);
        let mut jobs = Vec::with_capacity(n);
        let inputs = (0..n)
            .map(|_| {
                let (tx, rx) = bounded::<Job>(QUEUE_PER_WORKER);
                jobs.push(tx);
                Input::Jobs(rx)
            })
            .collect();
        Self::start_with(cfg, inputs, jobs, (pool_tx, pool_rx), false)
    }

    /// One worker per fanout socket, each reading its own; `cfg.workers` is ignored.
    pub fn start_fanout(
        cfg: PipelineConfig,
        sockets: Vec<Box<dyn crate::capture::Source>>,
        shared: Arc<fanout::Shared>,
        recheck: Option<crate::filter::Filter>,
    ) -> Self {
        let (pool_tx, pool_rx) = bounded::<Batch>(POOL_BATCHES);
        let inputs = sockets
            .into_iter()
            .map(|source| {
                Input::Socket(Box::new(fanout::SocketInput::new(
                    source,
                    shared.clone(),
                    recheck.clone(),
                    pool_rx.clone(),
                )))
            })
            .collect();
        Self::start_with(cfg, inputs, Vec::new(), (pool_tx, pool_rx), true)
    }

    fn start_with(
        cfg: PipelineConfig,
        inputs: Vec<Input>,
        jobs: Vec<Sender<Job>>,
        (pool_tx, pool_rx): (Sender<Batch>, Receiver<Batch>),
        merge: bool,
    ) -> Self {
        let n = inputs.len().max(1);
        let (out_tx, out_rx) = bounded::<Output>(n * QUEUE_PER_WORKER);
        let output_closed = Arc::new(AtomicBool::new(false));
        let flow_channels: Vec<_> = (0..n).map(|_| unbounded::<Vec<FlowUpdate>>()).collect();
        let flow_txs: Vec<Sender<Vec<FlowUpdate>>> =
            flow_channels.iter().map(|(tx, _)| tx.clone()).collect();
        let flow_cfg = FlowConfig {
            max_flows: cfg.max_flows,
            ..FlowConfig::default()
        }
        .per_shard(n);
        let mut workers = Vec::with_capacity(n);
        for (me, ((_, flow_rx), input)) in flow_channels.into_iter().zip(inputs).enumerate() {
            let ctx = WorkerCtx {
                me,
                shards: n,
                merge,
                flow_rx,
                flow_txs: flow_txs.clone(),
                out: out_tx.clone(),
                printer: output::printer(cfg.format),
                flows: cfg.flows.then(|| FlowTable::new(flow_cfg)),
            };
            let handle = std::thread::Builder::new()
                .name(format!("netcap-worker-{me}"))
                .spawn(move || ctx.run(input))
                .expect("spawning a worker thread");
            workers.push(handle);
        }
        drop(out_tx);
        drop(flow_txs);
        let closed = output_closed.clone();
        let flush_requested = Arc::new(AtomicBool::new(false));
        let sink = Sink {
            flush_requested: flush_requested.clone(),
            dirty_since: None,
            text_out: cfg.text_out,
            line_buffered: cfg.line_buffered,
            pcap: cfg.pcap,
            closed,
            written: 0,
            unflushed: 0,
            failed: false,
            error: None,
        };
        let order = merge.then(|| merge::Merger::new(n));
        let writer = std::thread::Builder::new()
            .name("netcap-writer".into())
            .spawn(move || writer(pool_tx, out_rx, sink, order))
            .expect("spawning the writer thread");
        Self {
            jobs,
            next: 0,
            seq: 0,
            workers,
            writer: Some(writer),
            pool: pool_rx,
            output_closed,
            dropped_queue_full: Arc::new(AtomicU64::new(0)),
            flush_requested,
        }
    }

    /// Asks the writer to flush the text output and the `-w` file (SIGUSR2); it does
    /// within [`FLUSH_POLL`].
    pub fn request_flush(&self) {
        self.flush_requested.store(true, Ordering::Relaxed);
    }

    /// An empty batch to fill: a recycled one when the writer has returned one.
    pub fn empty_batch(&self, bytes: usize, frames: usize) -> Batch {
        self.pool
            .try_recv()
            .unwrap_or_else(|_| Batch::with_capacity(bytes, frames))
    }

    /// Hands a batch to a worker. With `block == false` (live capture) a batch that no
    /// queue can take is dropped and counted; with `block == true` (files) it waits.
    pub fn submit(&mut self, batch: Batch, block: bool) {
        if batch.is_empty() {
            return;
        }
        let frames = batch.len() as u64;
        let mut job = Job::Batch(self.seq, Arc::new(batch));
        let n = self.jobs.len();
        for i in 0..n {
            let w = (self.next + i) % n;
            match self.jobs[w].try_send(job) {
                Ok(()) => {
                    self.next = (w + 1) % n;
                    self.seq += 1;
                    return;
                }
                Err(TrySendError::Full(j)) | Err(TrySendError::Disconnected(j)) => job = j,
            }
        }
        if block {
            let w = self.next;
            if self.jobs[w].send(job).is_ok() {
                self.next = (w + 1) % n;
                self.seq += 1;
                return;
            }
        }
        self.dropped_queue_full.fetch_add(frames, Ordering::Relaxed);
    }

    /// Waits for every queued batch to be decoded and written; returns the results.
    pub fn finish(mut self) -> Finished {
        self.jobs.clear();
        let mut decode = DecodeStats::default();
        let mut sizes = size_histogram();
        let mut flows = Vec::new();
        let mut sources = Vec::new();
        for w in self.workers.drain(..) {
            if let Ok(r) = w.join() {
                decode.merge(r.stats);
                let _ = sizes.add(&r.sizes);
                flows.extend(r.flows);
                sources.extend(r.source);
            }
        }
        let wr = self.writer.take().and_then(|w| w.join().ok());
        let (written, write_error, pcap_skipped) = wr
            .map_or((0, Some("writer thread panicked".into()), 0), |r| {
                (r.written, r.error, r.pcap_skipped)
            });
        Finished {
            decode,
            decoded_frames: true,
            frame_sizes: sizes,
            flows,
            written,
            write_error,
            pcap_skipped,
            sources,
        }
    }
}

/// Exact counts kept for lengths below this (the largest jumbo snap length is 9216);
/// longer frames (files only) share the last slot.
const SIZE_COUNTS: usize = 16 * 1024;

fn size_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 1 << 20, 2)
        .unwrap_or_else(|_| hdrhistogram::Histogram::new(2).expect("2 significant digits is valid"))
}

/// Frame sizes counted per exact length (one increment on the hot path), turned into a
/// histogram once, at the end.
struct SizeCounts(Vec<u64>);

impl SizeCounts {
    fn new() -> Self {
        Self(vec![0; SIZE_COUNTS])
    }

    #[inline]
    fn add(&mut self, len: usize) {
        self.0[len.min(SIZE_COUNTS - 1)] += 1;
    }

    fn histogram(&self) -> hdrhistogram::Histogram<u64> {
        let mut sizes = size_histogram();
        for (len, &n) in self.0.iter().enumerate().filter(|(_, n)| **n > 0) {
            let _ = sizes.record_n(len.max(1) as u64, n);
        }
        sizes
    }
}

struct WorkerCtx {
    me: usize,
    shards: usize,
    /// Record where each frame's text ends (the writer merges by timestamp).
    merge: bool,
    flow_rx: Receiver<Vec<FlowUpdate>>,
    flow_txs: Vec<Sender<Vec<FlowUpdate>>>,
    out: Sender<Output>,
    printer: Option<Box<dyn output::Printer>>,
    flows: Option<FlowTable>,
}

impl WorkerCtx {
    fn run(mut self, mut input: Input) -> WorkerResult {
        let _end = StreamEnd {
            out: self.out.clone(),
            stream: self.me,
            merge: self.merge,
        };
        let mut stats = DecodeStats::default();
        let mut size_counts = SizeCounts::new();
        let mut outbox: Vec<Vec<FlowUpdate>> = vec![Vec::new(); self.shards];
        let mut malformed = [0u64; LAYERS.len()];
        while let Some(Work {
            seq,
            batch,
            watermark,
        }) = input.next()
        {
            self.apply_remote_flows();
            let mut text = Vec::with_capacity(if self.printer.is_some() {
                batch.bytes() * 4
            } else {
                0
            });
            let mut ends = Vec::with_capacity(if self.merge { batch.len() } else { 0 });
            for frame in batch.iter() {
                stats.bytes += frame.data.len() as u64;
                stats.wire_bytes += u64::from(frame.meta.orig_len);
                size_counts.add(frame.data.len());
                // A decoder bug on one odd frame must not end the capture: the frame
                // loses its text and flow update, is counted, and the run goes on.
                let start = text.len();
                let one = std::panic::AssertUnwindSafe(|| {
                    self.decode_one(&frame, &mut text, &mut malformed, &mut outbox)
                });
                match std::panic::catch_unwind(one) {
                    Ok(()) => stats.decoded += 1,
                    Err(_) => {
                        text.truncate(start);
                        stats.panicked += 1;
                    }
                }
                if self.merge {
                    ends.push(text.len() as u32);
                }
            }
            for (shard, updates) in outbox.iter_mut().enumerate() {
                if !updates.is_empty() {
                    let _ = self.flow_txs[shard].send(std::mem::take(updates));
                }
            }
            let out = Output {
                seq,
                stream: self.me,
                text,
                ends,
                watermark,
                batch,
            };
            if self.out.send(out).is_err() {
                break;
            }
        }
        let source = match &input {
            Input::Socket(s) => Some(s.result()),
            Input::Jobs(_) => None,
        };
        drop(input);
        // The channel ends once every worker has dropped its senders: after their last
        // cross-shard update.
        self.flow_txs.clear();
        while let Ok(updates) = self.flow_rx.recv() {
            if let Some(table) = self.flows.as_mut() {
                for u in &updates {
                    u.apply(table);
                }
            }
        }
        for (i, n) in malformed.iter().enumerate() {
            if *n > 0 {
                stats
                    .malformed
                    .insert(format!("{:?}", LAYERS[i]).to_lowercase(), *n);
            }
        }
        WorkerResult {
            stats,
            sizes: size_counts.histogram(),
            flows: self.flows,
            source,
        }
    }

    /// Decodes one frame, prints it into `text` and updates (or routes) its flow.
    #[inline]
    fn decode_one(
        &mut self,
        frame: &crate::packet::Frame<'_>,
        text: &mut Vec<u8>,
        malformed: &mut [u64; LAYERS.len()],
        outbox: &mut [Vec<FlowUpdate>],
    ) {
        let d = decode::decode(frame);
        if let Some(layer) = d.malformed() {
            malformed[layer_index(layer)] += 1;
        }
        if let Some(p) = self.printer.as_mut() {
            p.print(frame, &d, text);
        }
        if let Some((table, tuple)) = self.flows.as_mut().and_then(|t| Some((t, d.flow_tuple()?))) {
            let update = FlowUpdate {
                tuple,
                tcp_flags: d.tcp_flags(),
                wire_len: frame.meta.orig_len,
                ts_ns: frame.meta.ts_ns,
            };
            let shard = crate::flow::shard_of(&tuple, self.shards);
            if shard == self.me {
                update.apply(table);
            } else {
                outbox[shard].push(update);
            }
        }
    }

    fn apply_remote_flows(&mut self) {
        while let Ok(updates) = self.flow_rx.try_recv() {
            if let Some(table) = self.flows.as_mut() {
                for u in &updates {
                    u.apply(table);
                }
            }
        }
    }
}

const LAYERS: [Layer; 10] = [
    Layer::Link,
    Layer::Vlan,
    Layer::Arp,
    Layer::Ipv4,
    Layer::Ipv6,
    Layer::Ipv6Ext,
    Layer::Icmp,
    Layer::Icmpv6,
    Layer::Tcp,
    Layer::Udp,
];

fn layer_index(layer: Layer) -> usize {
    LAYERS.iter().position(|&l| l == layer).unwrap_or(0)
}

fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Batches kept for reuse. Their buffers are a few hundred KiB: allocating a fresh one
/// per batch costs page faults (zeroed pages) on every hand-off at high rates.
const POOL_BATCHES: usize = 64;

/// Returns `out`'s batch to the pool once the writer is done with it (on drop).
fn recycled(out: Output, pool: &Sender<Batch>) -> Recycle<'_> {
    Recycle {
        out: Some(out),
        pool,
    }
}

struct Recycle<'a> {
    out: Option<Output>,
    pool: &'a Sender<Batch>,
}

impl std::ops::Deref for Recycle<'_> {
    type Target = Output;
    fn deref(&self) -> &Output {
        self.out.as_ref().expect("present until drop")
    }
}

impl Drop for Recycle<'_> {
    fn drop(&mut self) {
        if let Some(out) = self.out.take() {
            if let Ok(mut batch) = Arc::try_unwrap(out.batch) {
                batch.clear();
                let _ = self.pool.try_send(batch);
            }
        }
    }
}

/// Tells the merging writer that a fanout worker's stream has ended, also when the
/// worker panicked (on drop): otherwise the writer would wait for it forever.
struct StreamEnd {
    out: Sender<Output>,
    stream: usize,
    merge: bool,
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if self.merge {
            let _ = self.out.send(Output {
                seq: 0,
                stream: self.stream,
                text: Vec::new(),
                ends: Vec::new(),
                watermark: u64::MAX,
                batch: Arc::new(Batch::default()),
            });
        }
    }
}

/// Longest written output stays in netcap's buffers: the writer (and the direct path)
/// flushes when its oldest unflushed write is this old. It bounds what a reader of a
/// quiet capture waits for, and lets a closed pipe (`-w - | head -c 100`) be noticed
/// within about a second instead of when a 1 MiB buffer fills, hours later at a low
/// rate. One flush a second costs nothing measurable.
pub const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Longest the writer waits for output before it looks at a flush request.
pub const FLUSH_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The writer's destinations and what happened to them.
struct Sink {
    flush_requested: Arc<AtomicBool>,
    /// When the oldest write not yet flushed happened.
    dirty_since: Option<std::time::Instant>,
    text_out: Option<Box<dyn Write + Send>>,
    line_buffered: bool,
    pcap: Option<BoxedPcapSink>,
    closed: Arc<AtomicBool>,
    /// Frames known to have reached the output: written before a flush that succeeded.
    written: u64,
    /// Frames written into the buffers since the last successful flush.
    unflushed: u64,
    failed: bool,
    error: Option<String>,
}

impl Sink {
    /// Flushes the text output and the `-w` file; frames count as written only then.
    fn flush_all(&mut self) -> std::io::Result<()> {
        self.dirty_since = None;
        self.text_out.as_mut().map_or(Ok(()), |w| w.flush())?;
        self.pcap.as_mut().map_or(Ok(()), |p| p.flush())?;
        self.written += std::mem::take(&mut self.unflushed);
        Ok(())
    }

    /// Writes `text` and then `frames` of `out` to the pcap file.
    fn write(&mut self, text: &[u8], out: &Output, frames: std::ops::Range<usize>) {
        if self.failed {
            return;
        }
        let mut result = Ok(());
        if let Some(w) = self.text_out.as_mut() {
            result = w.write_all(text);
        }
        if let (Ok(()), Some(p)) = (&result, self.pcap.as_mut()) {
            for frame in frames.clone().filter_map(|i| out.batch.get(i)) {
                result = p.write(&frame);
                if result.is_err() {
                    break;
                }
            }
        }
        match result {
            Ok(()) => {
                self.unflushed += frames.len() as u64;
                if self.dirty_since.is_none() {
                    self.dirty_since = Some(std::time::Instant::now());
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// Flushes after each output with `-l`.
    fn flush_line(&mut self) {
        if self.line_buffered && !self.failed {
            match self.text_out.as_mut().map(|w| w.flush()) {
                Some(Err(e)) => self.fail(e),
                // Without a -w file the text is all there is to reach its destination.
                Some(Ok(())) if self.pcap.is_none() => {
                    self.written += std::mem::take(&mut self.unflushed);
                }
                _ => {}
            }
        }
    }

    /// Flushes everything when [`Pipeline::request_flush`] asked for it, or when the
    /// oldest unflushed write is [`FLUSH_AFTER`] old.
    fn flush_if_requested(&mut self) {
        let due = self.dirty_since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER);
        if !(self.flush_requested.swap(false, Ordering::Relaxed) || due) || self.failed {
            return;
        }
        if let Err(e) = self.flush_all() {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        self.failed = true;
        self.closed.store(true, Ordering::Relaxed);
        if !is_broken_pipe(&e) {
            self.error = Some(format!("writing output: {e}"));
        }
    }

    fn finish(mut self) -> WriterResult {
        if !self.failed {
            if let Err(e) = self.flush_all() {
                if !is_broken_pipe(&e) {
                    self.error = Some(format!("writing output: {e}"));
                }
            }
        }
        WriterResult {
            written: self.written,
            error: self.error,
            pcap_skipped: self.pcap.map_or(0, |p| p.skipped()),
        }
    }
}

/// Writes outputs in batch-sequence order, or (fanout, `order` given) merged by
/// timestamp, frame by frame.
fn writer(
    pool: Sender<Batch>,
    rx: Receiver<Output>,
    mut sink: Sink,
    order: Option<merge::Merger>,
) -> WriterResult {
    let Some(mut merger) = order else {
        let mut pending: BTreeMap<u64, Output> = BTreeMap::new();
        let mut next = 0u64;
        while let Some(got) = next_output(&rx, &mut sink) {
            let Some(out) = got else { continue };
            pending.insert(out.seq, out);
            while let Some(out) = pending.remove(&next) {
                next += 1;
                let out = recycled(out, &pool);
                sink.write(&out.text, &out, 0..out.batch.len());
                sink.flush_line();
            }
        }
        // Only a worker that panicked leaves a gap: write what came after it.
        for (_, out) in std::mem::take(&mut pending) {
            let out = recycled(out, &pool);
            sink.write(&out.text, &out, 0..out.batch.len());
        }
        return sink.finish();
    };
    let done = |out: Output| drop(recycled(out, &pool));
    while let Some(got) = next_output(&rx, &mut sink) {
        let Some(out) = got else { continue };
        if let Some(empty) = merger.push(out) {
            done(empty);
        }
        merger.drain(|o, i| write_frame(&mut sink, o, i), done);
        sink.flush_line();
    }
    merger.end_all();
    merger.drain(|o, i| write_frame(&mut sink, o, i), done);
    sink.finish()
}

/// The next output for the writer: `Some(None)` when none came within [`FLUSH_POLL`]
/// (a flush request is served then), `None` when every worker is done.
fn next_output(rx: &Receiver<Output>, sink: &mut Sink) -> Option<Option<Output>> {
    sink.flush_if_requested();
    match rx.recv_timeout(FLUSH_POLL) {
        Ok(out) => Some(Some(out)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Some(None),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
    }
}

/// Writes frame `i` of a fanout output: its text (from `ends`) and its pcap record.
fn write_frame(sink: &mut Sink, out: &Output, i: usize) {
    let start = i
        .checked_sub(1)
        .and_then(|j| out.ends.get(j))
        .map_or(0, |&e| e as usize);
    let text = out
        .ends
        .get(i)
        .and_then(|&end| out.text.get(start..end as usize))
        .unwrap_or(&[]);
    sink.write(text, out, i..i + 1);
}
