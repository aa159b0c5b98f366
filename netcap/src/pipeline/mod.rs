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
//! - Live capture hands a batch on with [`Pipeline::offer`]: when no worker queue takes
//!   it within a short wait the pipeline holds it, and the capture thread reads no
//!   more frames until it has gone ([`Pipeline::pass_held`]), serving signals between
//!   tries. The kernel's ring fills meanwhile and the kernel counts what it could not
//!   hold (ring full, the socket's drops), as on the direct path, which leaves records
//!   in the ring until they are written. (Until 2026-12 a batch no queue could take
//!   was dropped after the copy: the capture thread copied frames only to lose them,
//!   and on a 2-core machine that copying took the CPU the worker needed. Draining
//!   full XDP rings with 1 worker decoded 5.1 M frames/s that way, 8.5 M holding.)
//!   Files (`netcap read`) block in [`Pipeline::submit`], so nothing is lost. Frames
//!   are counted in `dropped_queue_full` only when the workers are gone.
//! - Workers block on the writer (bounded), so a slow stdout fills the worker queues and
//!   then holds the capture thread as above (files: blocks `submit`), never as
//!   unbounded memory.
//! - Flow updates for another worker's shard go over an unbounded channel, but each
//!   worker drains its flow channel before taking a new batch, so what is in flight is
//!   bounded by the batches in flight.
//!
//! Shutdown: dropping the job senders lets workers finish their queues; each then drops
//! its flow senders and drains its own flow channel until every worker has done so (so
//! every cross-shard update has arrived), and hands its table and counters back; the
//! writer ends when all workers are gone. A worker that panics drops its senders while
//! unwinding, so the others still finish; its lost batch is skipped by the writer.
//!
//! Where the parts are: this file holds the hand-off ([`Pipeline`]); `worker` the
//! decoder threads; `writer` the writer thread (order, flushing, output errors);
//! [`fanout`] the workers that read their own AF_PACKET sockets, and `merge` the
//! writer's timestamp merge of their outputs; [`direct`] the path with no pipeline at
//! all, for captures that need no decoding.
use std::{
    collections::BTreeMap,
    io::Write,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use crossbeam_channel::{
    bounded, unbounded, Receiver, SendError, SendTimeoutError, Sender, TrySendError,
};
use flows::FlowUpdate;

pub mod direct;
pub mod export;
pub mod fanout;
mod flows;
mod merge;
mod pending;
mod worker;
mod writer;

use crate::{
    flow::{FlowConfig, FlowTable},
    output::{self, pcap::BoxedPcapSink, Format},
    packet::Batch,
    stop::{End, Stop},
};
use worker::{Input, Job, WorkerCtx, WorkerResult};
use writer::{Destinations, WriterResult};

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
    /// What the flow exporter did (`--flows`, `--flows-json`); `None` when flows were
    /// not counted.
    pub exported: Option<export::Exported>,
    /// Frames handed to the writer (after `-c`).
    pub written: u64,
    /// The output error that ended the run early, if any (a closed pipe is not one).
    pub write_error: Option<String>,
    /// Frames `-w` could not write because their link type differs from the file's.
    pub pcap_skipped: u64,
    /// With fanout, what each worker's socket did (empty otherwise).
    pub sources: Vec<fanout::SourceResult>,
    /// The CPU time each of the pipeline's threads used (workers, then the writer).
    pub threads: Vec<ThreadCpu>,
}

/// The CPU time (user and system) one pipeline thread used, for benches and reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ThreadCpu {
    pub name: String,
    pub cpu: std::time::Duration,
}

pub struct PipelineConfig {
    pub workers: usize,
    pub format: Format,
    /// What shapes the text formats (tcpdump's printing flags, JSON payload, fields).
    pub text: output::Options,
    pub flows: bool,
    /// The flow table's limits and timeouts (all shards together).
    pub flow_cfg: FlowConfig,
    /// Where flow records go as they end; with flows counted there is one.
    pub flow_export: Option<export::Exporter>,
    /// Expire flows by the wall clock too (a live capture).
    pub wall_clock: bool,
    /// Text output (stdout, unbuffered), when the format prints something.
    pub text_out: Option<Box<dyn Write + Send>>,
    /// The text output's buffer, in bytes.
    pub text_buffer: usize,
    /// Flush the text output after every batch (`-l`).
    pub line_buffered: bool,
    pub pcap: Option<BoxedPcapSink>,
    /// The run's stop handle: the writer stops the run when the output is gone.
    pub stop: Stop,
    /// The run's interfaces, which the frames name (`FrameMeta::iface`).
    pub interfaces: crate::packet::Interfaces,
}

/// What a worker hands the writer for one batch: the frames' text and the batch itself
/// (for the `-w` file, and to go back to the pool).
struct Output {
    seq: u64,
    /// The worker it came from (fanout: the stream the writer merges).
    stream: usize,
    text: Vec<u8>,
    /// Where each frame's text ends in `text` (with a printer, or fanout).
    ends: Vec<u32>,
    /// Fanout only: each frame's timestamp, which the writer merges by.
    ts: Vec<u64>,
    watermark: u64,
    /// The frames this output is for (`batch` is empty when the worker decoded them in
    /// its source: see `worker`).
    frames: usize,
    batch: Arc<Batch>,
    /// The `-w` records the worker built (`FrameSink::record_format`), where `batch`
    /// is empty; where each frame's record ends; frames of another link type left out.
    records: Vec<u8>,
    record_ends: Vec<u32>,
    records_skipped: u64,
    /// What the printer left for the writer to finish in capture order.
    deferred: output::Deferred,
    /// Flow updates of the batch, per shard, when the writer forwards them (see
    /// [`worker`]'s module doc: batches handed out round robin).
    flows: Vec<Vec<FlowUpdate>>,
}

pub struct Pipeline {
    jobs: Vec<Sender<Job>>,
    next: usize,
    seq: u64,
    workers: Vec<JoinHandle<WorkerResult>>,
    writer: Option<JoinHandle<WriterResult>>,
    /// Stopped by the writer when stdout or the file is gone.
    stop: Stop,
    /// Frames of batches no worker could take: the workers had ended (a panic).
    pub dropped_queue_full: Arc<AtomicU64>,
    /// The batch [`Pipeline::offer`] could not hand on yet.
    held: Option<Batch>,
    /// Emptied batches coming back from the writer.
    pool: Receiver<Batch>,
    /// Set by [`Pipeline::request_flush`]; the writer flushes and clears it.
    flush_requested: Arc<AtomicBool>,
    flow_export: Option<export::Exporter>,
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
    ) -> Self {
        let (pool_tx, pool_rx) = bounded::<Batch>(POOL_BATCHES);
        let inputs = sockets
            .into_iter()
            .enumerate()
            .map(|(index, source)| {
                Input::Socket(Box::new(fanout::SocketInput::new(
                    source,
                    index,
                    shared.clone(),
                    cfg.stop.clone(),
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
        // Fanout with a plain classic -w file: the workers build its records.
        let records = cfg
            .pcap
            .as_ref()
            .and_then(|p| p.record_format())
            .filter(|_| merge);
        // As many text (and record) buffers as can be on their way to the writer or held
        // by it for a write: the pool keeps no more memory than the queues held.
        let per_output = if records.is_some() { 2 } else { 1 };
        let pooled = per_output * (n * QUEUE_PER_WORKER + pending::HOLD_OUTPUTS);
        let (text_tx, text_rx) = bounded::<Vec<u8>>(pooled);
        // And their frames' end offsets and timestamps: allocating them afresh per
        // output cost page faults and frees in the workers (~2% of a fanout worker).
        let (ends_tx, ends_rx) = bounded::<Vec<u32>>(pooled);
        let (ts_tx, ts_rx) = bounded::<Vec<u64>>(pooled);
        let flow_channels: Vec<_> = (0..n).map(|_| unbounded::<Vec<FlowUpdate>>()).collect();
        let flow_txs: Vec<Sender<Vec<FlowUpdate>>> =
            flow_channels.iter().map(|(tx, _)| tx.clone()).collect();
        let flow_cfg = cfg.flow_cfg.per_shard(n);
        let flow_out = cfg.flow_export.as_ref().map(export::Exporter::sender);
        let mut workers = Vec::with_capacity(n);
        for (me, ((_, flow_rx), input)) in flow_channels.into_iter().zip(inputs).enumerate() {
            let ctx = WorkerCtx {
                me,
                shards: n,
                merge,
                flow_rx,
                // Round robin: the writer forwards the updates in capture order.
                flow_txs: if merge { flow_txs.clone() } else { Vec::new() },
                out: out_tx.clone(),
                text_pool: text_rx.clone(),
                ends_pool: ends_rx.clone(),
                ts_pool: ts_rx.clone(),
                printer: output::printer_with(cfg.format, &cfg.interfaces, &cfg.text),
                flows: cfg.flows.then(|| FlowTable::new(flow_cfg)),
                flow_out: flow_out.clone(),
                wall_clock: cfg.wall_clock,
                keep_frames: cfg.pcap.is_some() && records.is_none(),
                records,
            };
            let handle = std::thread::Builder::new()
                .name(format!("netcap-worker-{me}"))
                .spawn(move || ctx.run(input))
                .expect("spawning a worker thread");
            workers.push(handle);
        }
        drop(out_tx);
        // Round robin: the writer holds the shards' senders (see `worker`).
        let forward = (!merge && cfg.flows).then(|| flow_txs.clone());
        drop(flow_txs);
        drop(flow_out);
        let flow_export = cfg.flow_export;
        let stop = cfg.stop.clone();
        let flush_requested = Arc::new(AtomicBool::new(false));
        let dest = Destinations::new(
            (cfg.text_out, cfg.text_buffer),
            cfg.line_buffered,
            cfg.pcap,
            (cfg.format, &cfg.text),
            cfg.stop,
            flush_requested.clone(),
        );
        let order = merge.then(|| merge::Merger::new(n));
        let writer = std::thread::Builder::new()
            .name("netcap-writer".into())
            .spawn(move || {
                let pools = writer::Pools {
                    batches: pool_tx,
                    text: text_tx,
                    ends: ends_tx,
                    ts: ts_tx,
                };
                writer::writer(pools, out_rx, dest, order, forward)
            })
            .expect("spawning the writer thread");
        Self {
            jobs,
            next: 0,
            seq: 0,
            workers,
            writer: Some(writer),
            pool: pool_rx,
            stop,
            dropped_queue_full: Arc::new(AtomicU64::new(0)),
            held: None,
            flush_requested,
            flow_export,
        }
    }

    /// Where flow records made outside the workers go (in-kernel flow mode): the same
    /// exporter as the workers' records.
    pub fn flow_sender(&self) -> Option<crossbeam_channel::Sender<Vec<crate::flow::Flow>>> {
        self.flow_export.as_ref().map(export::Exporter::sender)
    }

    /// True once the writer found stdout or the `-w` file gone.
    pub fn output_closed(&self) -> bool {
        self.stop.reason() == Some(End::OutputClosed)
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

    /// Hands a batch to a worker, waiting as long as it takes (files: nothing is lost).
    pub fn submit(&mut self, batch: Batch, block: bool) {
        let wait = if block { Wait::Forever } else { Wait::No };
        if let Err(batch) = self.hand_on(batch, wait) {
            self.dropped_queue_full
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }

    /// Live capture's hand-off: `batch` goes to the first worker queue with room,
    /// waiting up to `wait` for one; returns false when none took it, and then holds
    /// it: the caller reads no more frames until [`Pipeline::pass_held`] has handed it
    /// on (see the module doc). Call only when nothing is held.
    pub fn offer(&mut self, batch: Batch, wait: std::time::Duration) -> bool {
        match self.hand_on(batch, Wait::For(wait)) {
            Ok(()) => true,
            Err(batch) => {
                self.held = Some(batch);
                false
            }
        }
    }

    /// Hands on the batch [`Pipeline::offer`] held, waiting up to `wait`; true when
    /// nothing is held any more.
    pub fn pass_held(&mut self, wait: std::time::Duration) -> bool {
        match self.held.take() {
            None => true,
            Some(batch) => self.offer(batch, wait),
        }
    }

    /// Puts `batch` on a worker queue as [`hand_on_to`] does; gives it back when none
    /// took it. A batch when every worker is gone counts as dropped.
    fn hand_on(&mut self, batch: Batch, wait: Wait) -> Result<(), Batch> {
        if batch.is_empty() {
            return Ok(());
        }
        let frames = batch.len() as u64;
        let job = Job::Batch(self.seq, Arc::new(batch));
        let back = match hand_on_to(&self.jobs, self.next, job, wait) {
            Handed::To(w) => {
                self.next = (w + 1) % self.jobs.len();
                self.seq += 1;
                return Ok(());
            }
            Handed::Back(job) => job,
            Handed::Gone => {
                self.dropped_queue_full.fetch_add(frames, Ordering::Relaxed);
                return Ok(());
            }
        };
        // Not taken: the batch back (the job holds its only reference).
        let Job::Batch(_, batch) = back;
        match Arc::try_unwrap(batch) {
            Ok(batch) => Err(batch),
            Err(_) => {
                self.dropped_queue_full.fetch_add(frames, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Waits for every queued batch to be decoded and written; returns the results.
    pub fn finish(mut self) -> Finished {
        if let Some(batch) = self.held.take() {
            self.submit(batch, true);
        }
        self.jobs.clear();
        let mut decode = DecodeStats::default();
        let mut sizes = size_histogram();
        let mut flows = Vec::new();
        let mut sources = Vec::new();
        let mut threads = Vec::new();
        for (i, w) in self.workers.drain(..).enumerate() {
            if let Ok(r) = w.join() {
                threads.push(ThreadCpu {
                    name: format!("worker-{i}"),
                    cpu: r.cpu,
                });
                decode.merge(r.stats);
                let _ = sizes.add(&r.sizes);
                flows.extend(r.flows);
                sources.extend(r.source);
            }
        }
        // The flows still open end here, oldest first: they go the way of every
        // record, and the tables keep their counters for the report.
        let exported = self
            .flow_export
            .take()
            .map(|exporter| exporter.finish(crate::flow::FlowStats::merge(&mut flows)));
        let wr = self.writer.take().and_then(|w| w.join().ok());
        if let Some(r) = &wr {
            threads.push(ThreadCpu {
                name: "writer".into(),
                cpu: r.cpu,
            });
        }
        let (written, write_error, pcap_skipped) = wr
            .map_or((0, Some("writer thread panicked".into()), 0), |r| {
                (r.written, r.error, r.pcap_skipped)
            });
        Finished {
            decode,
            decoded_frames: true,
            frame_sizes: sizes,
            flows,
            exported,
            written,
            write_error,
            pcap_skipped,
            sources,
            threads,
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

/// True for an output error that is a normal end of the run, not a fault: a closed
/// pipe (`| head`), or `-G` with `-W` having written its files.
fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe || is_limit_reached(e)
}

/// True when `-G` with `-W` has written its files: the last one was closed whole before
/// this error, so the frames written into it count as written.
fn is_limit_reached(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<crate::output::rotate::LimitReached>())
}

/// Batches kept for reuse. Their buffers are a few hundred KiB: allocating a fresh one
/// per batch costs page faults (zeroed pages) on every hand-off at high rates.
const POOL_BATCHES: usize = 64;

/// Longest written output stays in netcap's buffers: the writer (and the direct path)
/// flushes when its oldest unflushed write is this old. It bounds what a reader of a
/// quiet capture waits for, and lets a closed pipe (`-w - | head -c 100`) be noticed
/// within about a second instead of when a 1 MiB buffer fills, hours later at a low
/// rate. One flush a second costs nothing measurable.
pub const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Longest the writer waits for output before it looks at a flush request.
pub const FLUSH_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// How long [`Pipeline::hand_on`] waits for a full worker queue.
#[derive(Clone, Copy)]
enum Wait {
    No,
    For(std::time::Duration),
    Forever,
}

/// What [`hand_on_to`] did with a job.
enum Handed {
    /// Worker `.0` took it.
    To(usize),
    /// Every live queue was full (and stayed so for the wait): the job back.
    Back(Job),
    /// Every worker is gone.
    Gone,
}

/// Puts `job` on the first queue with room among `jobs`, trying them round robin from
/// `next`; when all are full, waits as `wait` says on the first full one. Queues whose
/// worker is gone are passed over, never waited on: with one worker dead, the others
/// still get the wait (and the batch held rather than dropped).
fn hand_on_to(jobs: &[Sender<Job>], next: usize, mut job: Job, wait: Wait) -> Handed {
    let n = jobs.len();
    // Each pass hands the job on, gives it back, or finds one more worker gone (its
    // queue disconnected while it was waited on): at most n + 1 passes.
    loop {
        let mut full = None;
        for i in 0..n {
            let w = (next + i) % n;
            match jobs[w].try_send(job) {
                Ok(()) => return Handed::To(w),
                Err(TrySendError::Full(j)) => {
                    full.get_or_insert(w);
                    job = j;
                }
                Err(TrySendError::Disconnected(j)) => job = j,
            }
        }
        let Some((w, tx)) = full.and_then(|w| jobs.get(w).map(|tx| (w, tx))) else {
            return Handed::Gone;
        };
        match wait {
            Wait::No => return Handed::Back(job),
            Wait::Forever => match tx.send(job) {
                Ok(()) => return Handed::To(w),
                Err(SendError(j)) => job = j,
            },
            Wait::For(d) => match tx.send_timeout(job, d) {
                Ok(()) => return Handed::To(w),
                Err(SendTimeoutError::Timeout(j)) => return Handed::Back(j),
                Err(SendTimeoutError::Disconnected(j)) => job = j,
            },
        }
    }
}

#[cfg(test)]
#[path = "handoff_tests.rs"]
mod handoff_tests;
