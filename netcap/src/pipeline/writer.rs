//! The writer thread: puts the workers' outputs out in capture order, their text on the
//! text output (stdout) and their frames on the `-w`
//! [`FrameSink`](crate::output::FrameSink).
//!
//! Order: outputs are written in batch-sequence order, or, with fanout, merged by
//! timestamp (see `merge`), a stretch of one output's frames at a time. Only a worker that panicked leaves a gap in the
//! sequence: what came after it is written at the end. Each batch goes back to the pool
//! once written, for the capture thread to refill.
//!
//! Writing: the stretches handed on are queued where the workers built them (`pending`)
//! and written with one `writev` once the text queued reaches the text buffer's size
//! (1 MiB into a pipe), the `-w` records 1 MiB, or [`HOLD_OUTPUTS`] outputs are held for
//! it; the outputs then go back to the workers. Nothing is copied into a buffer on the
//! way, except the text of small outputs and what the writer finishes itself.
//!
//! Flushing: with `-l`, after each wake-up's outputs (the one that woke the writer and
//! those already waiting behind it, up to [`READY_MAX`]: one write of everything merged
//! and ready, never a wait for more); when
//! [`Pipeline::request_flush`](super::Pipeline::request_flush) asks (served within
//! [`FLUSH_POLL`]); when the oldest unflushed write is [`FLUSH_AFTER`] old; and once at
//! the end. Frames count as written only once they reached their destination: with a
//! `-w` file, once a flush after them has succeeded; with text alone, once the last
//! byte of their text was taken by stdout (counted per write, so a pipe that closes
//! part way, `-F json | head -c 1000`, still counts what it read, and no more).
//!
//! Errors: the first write or flush error stops all output and stops the run (`End::OutputClosed`), so
//! the run ends; it is reported unless it is a closed pipe.
//!
//! The text format's header and trailer ([`Printer::begin`], [`Printer::finish`]) come
//! from a printer of the writer's own, written once: the header before the first
//! output, the trailer before the final flush. The same printer finishes, frame by
//! frame in the order written, what the workers' printers deferred
//! ([`Printer::resolve`]: the `line` format's relative TCP sequence numbers), since
//! this is the one place that sees every frame in capture order.
use std::{
    collections::BTreeMap,
    io::Write,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use crossbeam_channel::{Receiver, Sender};

use super::{
    flows::FlowUpdate,
    is_broken_pipe, merge,
    pending::{Held, Part, Pending, Store, HOLD_OUTPUTS},
    Output, FLUSH_AFTER, FLUSH_POLL,
};
use crate::{
    output::{self, pcap::BoxedPcapSink, Format, Printer},
    packet::Batch,
    stop::{End, Stop},
};

/// What the writer hands back when it ends.
pub(super) struct WriterResult {
    pub(super) written: u64,
    pub(super) error: Option<String>,
    pub(super) pcap_skipped: u64,
    /// The CPU time the writer's thread used.
    pub(super) cpu: std::time::Duration,
}

/// Where the writer sends buffers back for reuse.
pub(super) struct Pools {
    /// Emptied batches, for the capture thread or the fanout sockets to refill.
    pub(super) batches: Sender<Batch>,
    /// Text buffers, for the workers.
    pub(super) text: Sender<Vec<u8>>,
    /// Frame end offsets and timestamps, for the workers.
    pub(super) ends: Sender<Vec<u32>>,
    pub(super) ts: Sender<Vec<u64>>,
}

/// The `-w` records queued are written once they are this many bytes: the `-w`
/// file's buffer, which a write this large bypasses (one `writev` from the workers'
/// buffers, see `rotate::Counted`).
const RECORDS_WRITE_AT: usize = 1 << 20;

/// Text buffers larger than this are not kept for reuse (a batch's text is usually
/// about 1 MiB: four times its 256 KiB of frames).
const MAX_POOLED_TEXT: usize = 4 << 20;

impl Pools {
    /// Returns `out`'s batch and buffers to the pools (the writer is done with it).
    fn recycle(&self, out: Output) {
        if let Ok(mut batch) = Arc::try_unwrap(out.batch) {
            batch.clear();
            let _ = self.batches.try_send(batch);
        }
        for buf in [out.text, out.records] {
            if buf.capacity() > 0 && buf.capacity() <= MAX_POOLED_TEXT {
                let _ = self.text.try_send(buf);
            }
        }
        for ends in [out.ends, out.record_ends] {
            if ends.capacity() > 0 && ends.capacity() <= MAX_POOLED_TEXT / 4 {
                let _ = self.ends.try_send(ends);
            }
        }
        if out.ts.capacity() > 0 && out.ts.capacity() <= MAX_POOLED_TEXT / 8 {
            let _ = self.ts.try_send(out.ts);
        }
    }
}

/// The writer's destinations and what happened to them.
pub(super) struct Destinations {
    flush_requested: Arc<AtomicBool>,
    /// When the oldest write not yet flushed happened.
    dirty_since: Option<std::time::Instant>,
    /// Stdout, written with one `writev` per write of what is queued in `text`.
    text_out: Option<Box<dyn Write + Send>>,
    /// Text handed on and not yet written.
    text: Pending,
    /// `-w` records the workers built, handed on and not yet written, and the frames
    /// of another link type they left out.
    records: (Pending, u64),
    /// What is queued is written once it reaches this many bytes (the text buffer's
    /// size: what a buffered stdout would hold).
    write_at: usize,
    line_buffered: bool,
    pcap: Option<BoxedPcapSink>,
    /// For the text format's header and trailer, and to finish what the workers'
    /// printers deferred: workers print the frames.
    printer: Option<Box<dyn Printer>>,
    /// The finished text of one output and where its frames end (reused).
    resolved: (Vec<u8>, Vec<u32>),
    stop: Stop,
    /// Frames known to have reached the output: written before a flush that succeeded.
    written: u64,
    /// Frames written into the buffers since the last successful flush.
    unflushed: u64,
    failed: bool,
    error: Option<String>,
}

impl Destinations {
    /// `stop` stops the run when an output fails; `flush_requested` is polled and
    /// cleared.
    pub(super) fn new(
        (text_out, text_buffer): (Option<Box<dyn Write + Send>>, usize),
        line_buffered: bool,
        pcap: Option<BoxedPcapSink>,
        (format, text): (Format, &output::Options),
        stop: Stop,
        flush_requested: Arc<AtomicBool>,
    ) -> Self {
        Self {
            flush_requested,
            dirty_since: None,
            text_out,
            text: Pending::new(Part::Text),
            records: (Pending::new(Part::Records), 0),
            write_at: text_buffer.max(1),
            line_buffered,
            pcap,
            printer: output::printer_with(format, &crate::packet::Interfaces::default(), text),
            resolved: (Vec::new(), Vec::new()),
            stop,
            written: 0,
            unflushed: 0,
            failed: false,
            error: None,
        }
    }

    /// True when text is all there is: frames then count as written by their text.
    fn text_only(&self) -> bool {
        self.pcap.is_none() && self.text_out.is_some()
    }

    /// True while queued pieces point into outputs: those must not be released yet.
    pub(super) fn holds_outputs(&self) -> bool {
        self.text.holds_outputs() || self.records.0.holds_outputs()
    }

    fn dirty(&mut self) {
        if self.dirty_since.is_none() {
            self.dirty_since = Some(std::time::Instant::now());
        }
    }

    /// Writes what is queued: the text to stdout, the records to the `-w` file.
    fn write_pending(&mut self, store: &dyn Store) {
        if self.failed {
            self.text.clear();
            self.records.0.clear();
            return;
        }
        if let Some(out) = self.text_out.as_mut().filter(|_| !self.text.is_empty()) {
            let (frames, result) = self.text.write_to(out.as_mut(), store);
            if self.text_only() {
                self.written += frames;
            }
            if let Err(e) = result {
                return self.fail(e);
            }
        }
        let (records, skipped) = &mut self.records;
        if let Some(p) = self.pcap.as_mut().filter(|_| !records.is_empty()) {
            let skipped = std::mem::take(skipped);
            let (frames, result) =
                records.write_with(store, |slices| p.write_records_vectored(slices, skipped));
            match result {
                Ok(()) => self.unflushed += frames,
                Err(e) => self.fail(e),
            }
        }
    }

    /// Writes what is queued once the text is `write_at` bytes or the records
    /// [`RECORDS_WRITE_AT`], or [`HOLD_OUTPUTS`] outputs are held for it.
    pub(super) fn write_if_due(&mut self, store: &dyn Store) {
        if self.text.bytes() >= self.write_at
            || self.records.0.bytes() >= RECORDS_WRITE_AT
            || (self.holds_outputs() && store.finished() >= HOLD_OUTPUTS)
        {
            self.write_pending(store);
        }
    }

    /// Writes what is queued and flushes the text output and the `-w` file; frames
    /// count as written only then.
    fn flush_all(&mut self, store: &dyn Store) -> std::io::Result<()> {
        self.write_pending(store);
        if self.failed {
            return Ok(());
        }
        self.dirty_since = None;
        self.text_out.as_mut().map_or(Ok(()), |w| w.flush())?;
        self.pcap.as_mut().map_or(Ok(()), |p| p.flush())?;
        self.written += std::mem::take(&mut self.unflushed);
        Ok(())
    }

    /// Queues frames `frames` of `out` (in `slot` of its store): their text, finished
    /// by the writer's printer when the workers' printers deferred something, and their
    /// `-w` records (or writes their frames to the `-w` file, which builds them).
    pub(super) fn queue(&mut self, slot: u64, out: &Output, frames: std::ops::Range<usize>) {
        if self.failed || frames.is_empty() {
            return;
        }
        if self.text_out.is_some() {
            match self.printer.as_mut().filter(|_| !out.deferred.is_empty()) {
                None => self.text.push_output(slot, out, frames.clone()),
                Some(p) => {
                    let (mut text, mut ends) = std::mem::take(&mut self.resolved);
                    text.clear();
                    ends.clear();
                    let batch = output::BatchText {
                        text: &out.text,
                        ends: &out.ends,
                    };
                    p.resolve(batch, frames.clone(), &out.deferred, &mut text, &mut ends);
                    self.text.push_copy(&text, ends.iter().map(|&e| e as usize));
                    self.resolved = (text, ends);
                }
            }
        }
        if let Some(p) = self.pcap.as_mut() {
            if out.record_ends.is_empty() {
                for frame in frames.clone().filter_map(|i| out.batch.get(i)) {
                    if let Err(e) = p.write(&frame) {
                        return self.fail(e);
                    }
                }
                self.unflushed += frames.len() as u64;
            } else {
                // The worker built the records. The frames it left out are counted
                // with the output's last stretch.
                if frames.end == out.frames {
                    self.records.1 += out.records_skipped;
                }
                self.records.0.push_output(slot, out, frames);
            }
        }
        if self.text_out.is_some() || self.pcap.is_some() {
            self.dirty();
        }
    }

    /// Queues text that belongs to no frame (the format's header or trailer).
    fn queue_text(&mut self, text: &[u8]) {
        if self.failed || text.is_empty() || self.text_out.is_none() {
            return;
        }
        self.text.push_copy(text, std::iter::empty());
        self.dirty();
    }

    /// Queues the format's header, before the first output.
    fn begin(&mut self) {
        let mut text = Vec::new();
        if let Some(p) = self.printer.as_mut() {
            p.begin(&mut text);
        }
        self.queue_text(&text);
    }

    /// With `-l`, writes and flushes the text (after each wake-up's outputs).
    pub(super) fn flush_line(&mut self, store: &dyn Store) {
        if !self.line_buffered || self.failed {
            return;
        }
        self.write_pending(store);
        if let Some(Err(e)) = self
            .text_out
            .as_mut()
            .filter(|_| !self.failed)
            .map(|w| w.flush())
        {
            self.fail(e);
        }
    }

    /// Flushes everything when [`Pipeline::request_flush`](super::Pipeline::request_flush)
    /// asked for it, or when the oldest unflushed write is [`FLUSH_AFTER`] old.
    fn flush_if_requested(&mut self, store: &dyn Store) {
        let due = self.dirty_since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER);
        if !(self.flush_requested.swap(false, Ordering::Relaxed) || due) || self.failed {
            return;
        }
        if let Err(e) = self.flush_all(store) {
            self.fail(e);
        }
    }

    /// Lets the `-w` sink do its work on the clock ([`output::FrameSink::poll`]).
    fn poll(&mut self) {
        if self.failed {
            return;
        }
        if let Some(Err(e)) = self.pcap.as_mut().map(|p| p.poll()) {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        if super::is_limit_reached(&e) {
            self.written += std::mem::take(&mut self.unflushed);
        }
        self.failed = true;
        self.text.clear();
        self.records.0.clear();
        self.stop.stop(End::OutputClosed);
        if !is_broken_pipe(&e) {
            self.error = Some(format!("writing output: {e}"));
        }
    }

    /// Writes the format's trailer, flushes, and says what reached the output.
    fn finish(mut self, store: &dyn Store) -> WriterResult {
        let mut text = Vec::new();
        if let Some(p) = self.printer.as_mut() {
            p.finish(&mut text);
        }
        self.queue_text(&text);
        if !self.failed {
            let closed = self
                .flush_all(store)
                .and_then(|()| self.pcap.as_mut().map_or(Ok(()), |p| p.close()));
            if let Err(e) = closed {
                if !is_broken_pipe(&e) {
                    self.error = Some(format!("writing output: {e}"));
                }
            }
        }
        WriterResult {
            written: self.written,
            error: self.error,
            pcap_skipped: self.pcap.map_or(0, |p| p.skipped()),
            cpu: crate::capture::thread_cpu_time(),
        }
    }
}

/// Writes outputs in batch-sequence order, or (fanout, `order` given) merged by
/// timestamp, a stretch of frames at a time.
pub(super) fn writer(
    pool: Pools,
    rx: Receiver<Output>,
    mut dest: Destinations,
    order: Option<merge::Merger>,
    flows: Option<Vec<Sender<Vec<FlowUpdate>>>>,
) -> WriterResult {
    dest.begin();
    // Batches handed out round robin: the flow updates go to their shards from here, in
    // batch order, so each shard sees its flows' frames in capture order (TCP health
    // depends on it).
    let forward = |out: &mut Output| {
        if let Some(txs) = &flows {
            for (updates, tx) in std::mem::take(&mut out.flows).into_iter().zip(txs) {
                if !updates.is_empty() {
                    let _ = tx.send(updates);
                }
            }
        }
    };
    let done = |out: Output| pool.recycle(out);
    let Some(mut merger) = order else {
        let mut pending: BTreeMap<u64, Output> = BTreeMap::new();
        let mut held = Held::default();
        let mut next = 0u64;
        let write = |mut out: Output, dest: &mut Destinations, held: &mut Held| {
            forward(&mut out);
            let frames = out.frames;
            let slot = held.hold(out);
            if let Some(out) = held.output(slot) {
                dest.queue(slot, out, 0..frames);
            }
            dest.write_if_due(held);
            if !dest.holds_outputs() {
                held.release(done);
            }
        };
        while let Some(got) = next_output(&rx, &mut dest, &held) {
            for out in got.into_iter().chain(ready(&rx)) {
                pending.insert(out.seq, out);
                while let Some(out) = pending.remove(&next) {
                    next += 1;
                    write(out, &mut dest, &mut held);
                }
            }
            dest.flush_line(&held);
            if !dest.holds_outputs() {
                held.release(done);
            }
        }
        // Only a worker that panicked leaves a gap: write what came after it.
        for (_, out) in std::mem::take(&mut pending) {
            write(out, &mut dest, &mut held);
        }
        return dest.finish(&held);
    };
    while let Some(got) = next_output(&rx, &mut dest, &merger) {
        let Some(out) = got else { continue };
        for out in std::iter::once(out).chain(ready(&rx)) {
            if let Some(empty) = merger.push(out) {
                done(empty);
            }
            merger.drain(|slot, o, frames| dest.queue(slot, o, frames));
            dest.write_if_due(&merger);
            if !dest.holds_outputs() {
                merger.release(done);
            }
        }
        dest.flush_line(&merger);
        if !dest.holds_outputs() {
            merger.release(done);
        }
    }
    merger.end_all();
    merger.drain(|slot, o, frames| dest.queue(slot, o, frames));
    dest.finish(&merger)
}

/// Most outputs the writer takes at one wake-up before it writes (with `-l`, flushes):
/// the outputs the workers had already sent, as many as may be held for a write.
const READY_MAX: usize = HOLD_OUTPUTS;

/// The outputs already waiting after the one a wake-up brought, up to [`READY_MAX`]
/// less that one: taken before the write, so that with `-l` what is ready goes out in
/// one write, not one per output, and nothing waits for more traffic.
fn ready(rx: &Receiver<Output>) -> impl Iterator<Item = Output> + '_ {
    std::iter::from_fn(|| rx.try_recv().ok()).take(READY_MAX - 1)
}

/// The next output for the writer: `Some(None)` when none came within [`FLUSH_POLL`]
/// (a flush request is served then), `None` when every worker is done.
fn next_output(
    rx: &Receiver<Output>,
    dest: &mut Destinations,
    store: &dyn Store,
) -> Option<Option<Output>> {
    dest.flush_if_requested(store);
    dest.poll();
    match rx.recv_timeout(FLUSH_POLL) {
        Ok(out) => Some(Some(out)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Some(None),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
