//! A decoder worker: takes batches (from the capture thread, or from its own fanout
//! socket), decodes each frame, prints its text, updates its flow-table shard, and hands
//! one [`Output`] per batch to the writer.
//!
//! Per batch, a worker first applies the flow updates sent for its shard, then
//! decodes. Where its updates go depends on how batches arrive. Handed out round robin
//! by the capture thread, one conversation's frames land on every worker, and only the
//! writer sees batches in capture order: the worker puts every update (its own shard's
//! too) in its [`Output`], and the writer forwards them to the shards in batch order,
//! so each shard updates a flow in capture order (TCP health counts reordering and
//! retransmissions from that order). Read from a fanout socket, all of a conversation's
//! frames come through one socket (the kernel's fanout hash is symmetric): the worker
//! updates its own shard at once and sends the rest straight to their owners, in its
//! socket's order. A frame the decoder or printer panics on loses its text and flow update and is
//! counted in [`DecodeStats::panicked`]; the worker goes on with the next frame.
//!
//! Flows end while the capture runs: about once a second ([`EXPIRE_EVERY`]) a worker
//! retires its shard's timed-out flows (by the wall clock on a live capture, so a quiet
//! link still ends them; by the frames' time in a file) and sends every retired record
//! to the flow exporter ([`super::export`]).
//!
//! Where a fanout worker's frames are decoded: when the writer needs nothing of the
//! frames themselves (no `-w`), in place, as its source holds them (the XDP per-CPU
//! ring, the AF_PACKET block: `SocketInput::next_visit`), so the only copy is the text;
//! with `-w` it copies them into a batch that rides with its output to the writer.
//!
//! End: when its input ends, the worker drops its flow senders and drains its own flow
//! channel until every worker has done so (so every cross-shard update has arrived), and
//! hands its table and counters back. A fanout worker's stream end is sent to the
//! merging writer on drop ([`StreamEnd`]), so also when the worker panicked.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{fanout, flows::FlowUpdate, DecodeStats, Output, SizeCounts, BATCH_BYTES};
use crate::{
    decode::{self, Layer},
    flow::{Flow, FlowTable},
    output,
    packet::{Batch, Frame},
};

/// A batch handed over by the capture thread, with its sequence number.
pub(super) enum Job {
    Batch(u64, Arc<Batch>),
}

/// One batch for a worker: numbered by the capture thread (`seq`), or carrying a
/// watermark when the worker reads its own fanout socket.
pub struct Work {
    pub(super) seq: u64,
    pub(super) batch: Arc<Batch>,
    pub(super) watermark: u64,
}

/// Where a worker's batches come from.
pub(super) enum Input {
    /// Handed over by the capture thread.
    Jobs(Receiver<Job>),
    /// Read from the worker's own fanout socket.
    Socket(Box<fanout::SocketInput>),
}

/// How often a worker retires timed-out flows: timeouts are whole seconds, so a
/// record ends at most a second after its timeout.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

enum Next {
    Work(Work),
    /// Nothing came for [`EXPIRE_EVERY`] (a quiet link).
    Idle,
    End,
}

impl Input {
    fn next(&mut self) -> Next {
        match self {
            Input::Jobs(rx) => match rx.recv_timeout(EXPIRE_EVERY) {
                Ok(Job::Batch(seq, batch)) => Next::Work(Work {
                    seq,
                    batch,
                    watermark: 0,
                }),
                Err(RecvTimeoutError::Timeout) => Next::Idle,
                Err(RecvTimeoutError::Disconnected) => Next::End,
            },
            // A fanout socket returns (maybe an empty batch) at every poll timeout.
            Input::Socket(s) => s.next_work().map_or(Next::End, Next::Work),
        }
    }
}

/// What a worker hands back when it ends.
pub(super) struct WorkerResult {
    pub(super) stats: DecodeStats,
    pub(super) sizes: hdrhistogram::Histogram<u64>,
    pub(super) flows: Option<FlowTable>,
    pub(super) source: Option<fanout::SourceResult>,
    /// The CPU time this worker's thread used.
    pub(super) cpu: Duration,
}

/// One worker: its shard number and its ends of the channels.
pub(super) struct WorkerCtx {
    /// This worker's shard (and, with fanout, its stream).
    pub(super) me: usize,
    pub(super) shards: usize,
    /// Record where each frame's text ends (the writer merges by timestamp).
    pub(super) merge: bool,
    pub(super) flow_rx: Receiver<Vec<FlowUpdate>>,
    /// One sender per shard, this worker's own included.
    pub(super) flow_txs: Vec<Sender<Vec<FlowUpdate>>>,
    pub(super) out: Sender<Output>,
    /// Text buffers the writer is done with, for reuse.
    pub(super) text_pool: Receiver<Vec<u8>>,
    /// Frame end offsets and timestamps the writer is done with, for reuse.
    pub(super) ends_pool: Receiver<Vec<u32>>,
    pub(super) ts_pool: Receiver<Vec<u64>>,
    pub(super) printer: Option<Box<dyn output::Printer>>,
    pub(super) flows: Option<FlowTable>,
    /// Where retired flow records go while the run goes on.
    pub(super) flow_out: Option<Sender<Vec<Flow>>>,
    /// Expire flows by the wall clock (live), not only by the frames' time (files).
    pub(super) wall_clock: bool,
    /// The writer needs the frames themselves (`-w`): a fanout worker copies them into
    /// a batch that goes with its output, instead of decoding them in its source.
    pub(super) keep_frames: bool,
    /// The `-w` records to build, with `keep_frames` off (see `FrameSink::record_format`).
    pub(super) records: Option<output::pcap::RecordFormat>,
}

/// A worker's running counts, and its flow updates not yet sent.
struct Counts {
    stats: DecodeStats,
    sizes: SizeCounts,
    malformed: [u64; LAYERS.len()],
    outbox: Vec<Vec<FlowUpdate>>,
}

impl WorkerCtx {
    /// Decodes every batch of `input`, then drains the flow channel (see the module doc).
    pub(super) fn run(mut self, mut input: Input) -> WorkerResult {
        let end = StreamEnd {
            out: self.out.clone(),
            stream: self.me,
            merge: self.merge,
        };
        // Round robin: updates ride with the batch to the writer (module doc).
        let via_writer = !self.merge;
        let mut acc = Counts {
            stats: DecodeStats::default(),
            sizes: SizeCounts::new(),
            malformed: [0u64; LAYERS.len()],
            outbox: vec![Vec::new(); self.shards],
        };
        let mut expired_at = Instant::now();
        // Where each frame's text ends: for the fanout merge, and for the writer to
        // count the frames whose text reached stdout.
        let keep_ends = self.merge || self.printer.is_some();
        loop {
            let mut text;
            let mut ends = if keep_ends {
                self.ends_buffer()
            } else {
                Vec::new()
            };
            let mut ts = if self.merge {
                self.ts_buffer()
            } else {
                Vec::new()
            };
            let (mut records, mut record_ends, mut records_skipped) = (Vec::new(), Vec::new(), 0);
            // A fanout worker whose frames no one needs after it (no `-w`) decodes them
            // where its source holds them; otherwise it takes (or fills) a batch.
            let (seq, batch, frames, watermark) = match &mut input {
                Input::Socket(s) if !self.keep_frames => {
                    self.apply_remote_flows();
                    text = self.text_buffer(BATCH_BYTES * 4);
                    // As many frames as a batch of minimum-size frames holds.
                    ends.reserve(if keep_ends { BATCH_BYTES / 64 } else { 0 });
                    ts.reserve(if self.merge { BATCH_BYTES / 64 } else { 0 });
                    let format = self.records;
                    if format.is_some() {
                        records = self.record_buffer();
                        record_ends = self.ends_buffer();
                        record_ends.reserve(BATCH_BYTES / 64);
                    }
                    let mut one = |frame: &Frame<'_>| {
                        if self.merge {
                            ts.push(frame.meta.ts_ns);
                        }
                        if let Some(f) = &format {
                            if !f.push(frame, &mut records) {
                                records_skipped += 1;
                            }
                            record_ends.push(records.len() as u32);
                        }
                        self.one(frame, &mut text, &mut acc);
                        if keep_ends {
                            ends.push(text.len() as u32);
                        }
                    };
                    match s.next_visit(&mut one) {
                        Some((frames, watermark)) => (0, None, frames, watermark),
                        None => break,
                    }
                }
                _ => match input.next() {
                    Next::Work(Work {
                        seq,
                        batch,
                        watermark,
                    }) => {
                        self.apply_remote_flows();
                        text = self.text_buffer(batch.bytes() * 4);
                        ends.reserve(if keep_ends { batch.len() } else { 0 });
                        ts.reserve(if self.merge { batch.len() } else { 0 });
                        for frame in batch.iter() {
                            if self.merge {
                                ts.push(frame.meta.ts_ns);
                            }
                            self.one(&frame, &mut text, &mut acc);
                            if keep_ends {
                                ends.push(text.len() as u32);
                            }
                        }
                        let frames = batch.len();
                        (seq, Some(batch), frames, watermark)
                    }
                    Next::Idle => {
                        self.apply_remote_flows();
                        self.export_flows(&mut expired_at);
                        continue;
                    }
                    Next::End => break,
                },
            };
            let mut flows = Vec::new();
            if via_writer {
                if acc.outbox.iter().any(|u| !u.is_empty()) {
                    flows = std::mem::replace(&mut acc.outbox, vec![Vec::new(); self.shards]);
                }
            } else {
                for (shard, updates) in acc.outbox.iter_mut().enumerate() {
                    if !updates.is_empty() {
                        let _ = self.flow_txs[shard].send(std::mem::take(updates));
                    }
                }
            }
            self.export_flows(&mut expired_at);
            let deferred = self
                .printer
                .as_mut()
                .map(|p| p.take_deferred())
                .unwrap_or_default();
            let out = Output {
                seq,
                stream: self.me,
                text,
                ends,
                ts,
                watermark,
                frames,
                batch: batch.unwrap_or_default(),
                records,
                record_ends,
                records_skipped,
                deferred,
                flows,
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
        // The channel ends once every sender is gone: the other workers' after their
        // last cross-shard update, or the writer's after the last batch. The writer
        // ends when every worker has let go of its output channel, so this worker's
        // goes first.
        self.flow_txs.clear();
        drop(end);
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.out, closed));
        while let Ok(updates) = self.flow_rx.recv() {
            if let Some(table) = self.flows.as_mut() {
                for u in &updates {
                    table.update_with(u);
                }
            }
        }
        let Counts {
            mut stats,
            sizes,
            malformed,
            outbox: _,
        } = acc;
        for (i, n) in malformed.iter().enumerate() {
            if *n > 0 {
                stats
                    .malformed
                    .insert(format!("{:?}", LAYERS[i]).to_lowercase(), *n);
            }
        }
        WorkerResult {
            stats,
            sizes: sizes.histogram(),
            flows: self.flows,
            source,
            cpu: crate::capture::thread_cpu_time(),
        }
    }

    /// An empty buffer for a batch's text, with room for `bytes` (a recycled one when
    /// the writer has returned one: a fresh buffer of a MiB costs page faults).
    fn text_buffer(&self, bytes: usize) -> Vec<u8> {
        if self.printer.is_none() {
            return Vec::new();
        }
        let mut text = self.text_pool.try_recv().unwrap_or_default();
        text.clear();
        text.reserve(bytes);
        text
    }

    /// An empty vector for a batch's frame end offsets (a recycled one if any).
    fn ends_buffer(&self) -> Vec<u32> {
        let mut ends = self.ends_pool.try_recv().unwrap_or_default();
        ends.clear();
        ends
    }

    /// An empty vector for a batch's timestamps (a recycled one if any).
    fn ts_buffer(&self) -> Vec<u64> {
        let mut ts = self.ts_pool.try_recv().unwrap_or_default();
        ts.clear();
        ts
    }

    /// An empty buffer for a batch's `-w` records (a recycled one when the writer has
    /// returned one), with room for a batch of minimum-size frames.
    fn record_buffer(&self) -> Vec<u8> {
        let mut records = self.text_pool.try_recv().unwrap_or_default();
        records.clear();
        records.reserve(BATCH_BYTES + (BATCH_BYTES / 64) * 16 + 65536);
        records
    }

    /// Counts, decodes and prints one frame. A decoder bug on one odd frame must not end
    /// the capture: the frame loses its text and flow update, is counted, and the run
    /// goes on.
    #[inline]
    fn one(&mut self, frame: &Frame<'_>, text: &mut Vec<u8>, acc: &mut Counts) {
        acc.stats.bytes += frame.data.len() as u64;
        acc.stats.wire_bytes += u64::from(frame.meta.orig_len);
        acc.sizes.add(frame.data.len());
        let start = text.len();
        let Counts {
            malformed, outbox, ..
        } = acc;
        let one = std::panic::AssertUnwindSafe(|| self.decode_one(frame, text, malformed, outbox));
        match std::panic::catch_unwind(one) {
            Ok(()) => acc.stats.decoded += 1,
            Err(_) => {
                text.truncate(start);
                acc.stats.panicked += 1;
            }
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
        if let Some((table, update)) = self
            .flows
            .as_mut()
            .and_then(|t| Some((t, FlowUpdate::new(frame, &d)?)))
        {
            let shard = crate::flow::shard_of(&update.tuple, self.shards);
            if shard == self.me && self.merge {
                table.update_with(&update);
            } else {
                outbox[shard].push(update);
            }
        }
    }

    /// Retires timed-out flows once per [`EXPIRE_EVERY`], and sends the retired
    /// records (timeouts, a full table) to the exporter.
    fn export_flows(&mut self, expired_at: &mut Instant) {
        let (Some(table), Some(tx)) = (self.flows.as_mut(), &self.flow_out) else {
            return;
        };
        if expired_at.elapsed() >= EXPIRE_EVERY {
            *expired_at = Instant::now();
            let now = if self.wall_clock {
                crate::capture::realtime_ns()
            } else {
                0
            };
            table.expire(now);
        }
        if !table.finished().is_empty() {
            let _ = tx.send(table.take_finished());
        }
    }

    fn apply_remote_flows(&mut self) {
        while let Ok(updates) = self.flow_rx.try_recv() {
            if let Some(table) = self.flows.as_mut() {
                for u in &updates {
                    table.update_with(u);
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
                ts: Vec::new(),
                watermark: u64::MAX,
                frames: 0,
                batch: Arc::new(Batch::default()),
                records: Vec::new(),
                record_ends: Vec::new(),
                records_skipped: 0,
                deferred: output::Deferred::default(),
                flows: Vec::new(),
            });
        }
    }
}
