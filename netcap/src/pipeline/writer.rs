//! The writer thread: puts the workers' outputs out in capture order, their text on the
//! text output (stdout) and their frames on the `-w`
//! [`FrameSink`](crate::output::FrameSink).
//!
//! Order: outputs are written in batch-sequence order, or, with fanout, merged by
//! timestamp (see `merge`), a stretch of one output's frames at a time. Only a worker that panicked leaves a gap in the
//! sequence: what came after it is written at the end. Each batch goes back to the pool
//! once written, for the capture thread to refill.
//!
//! Flushing: after every output with `-l`; when
//! [`Pipeline::request_flush`](super::Pipeline::request_flush) asks (served within
//! [`FLUSH_POLL`]); when the oldest unflushed write is [`FLUSH_AFTER`] old; and once at
//! the end. Frames count as written only once they reached their destination: with a
//! `-w` file, once a flush after them has succeeded; with text alone, once the last
//! byte of their text was taken by stdout (counted under the buffer, so a pipe that
//! closes before a flush, `-F json | head -c 1000`, still counts what it read).
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
    collections::{BTreeMap, VecDeque},
    io::{BufWriter, Write},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use crossbeam_channel::{Receiver, Sender};

use super::{flows::FlowUpdate, is_broken_pipe, merge, Output, FLUSH_AFTER, FLUSH_POLL};
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
}

/// Text buffers larger than this are not kept for reuse (a batch's text is usually
/// about 1 MiB: four times its 256 KiB of frames).
const MAX_POOLED_TEXT: usize = 4 << 20;

/// Returns `out`'s batch and text to the pools once the writer is done with it (on
/// drop).
fn recycled(out: Output, pools: &Pools) -> Recycle<'_> {
    Recycle {
        out: Some(out),
        pools,
    }
}

struct Recycle<'a> {
    out: Option<Output>,
    pools: &'a Pools,
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
                let _ = self.pools.batches.try_send(batch);
            }
            for buf in [out.text, out.records] {
                if buf.capacity() > 0 && buf.capacity() <= MAX_POOLED_TEXT {
                    let _ = self.pools.text.try_send(buf);
                }
            }
        }
    }
}

/// Stdout under the text buffer: counts the bytes it took.
struct Reached {
    out: Box<dyn Write + Send>,
    bytes: u64,
}

impl Write for Reached {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The writer's destinations and what happened to them.
pub(super) struct Destinations {
    flush_requested: Arc<AtomicBool>,
    /// When the oldest write not yet flushed happened.
    dirty_since: Option<std::time::Instant>,
    text_out: Option<BufWriter<Reached>>,
    /// Bytes of text put into the buffer so far.
    text_put: u64,
    /// Text alone: where the text of each frame not yet known to have reached stdout
    /// ends, in bytes since the start (at most a buffer's worth of frames).
    text_ends: VecDeque<u64>,
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
            text_out: text_out
                .map(|out| BufWriter::with_capacity(text_buffer, Reached { out, bytes: 0 })),
            text_put: 0,
            text_ends: VecDeque::new(),
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

    /// Flushes the text output and the `-w` file; frames count as written only then.
    fn flush_all(&mut self) -> std::io::Result<()> {
        self.dirty_since = None;
        self.text_out.as_mut().map_or(Ok(()), |w| w.flush())?;
        self.pcap.as_mut().map_or(Ok(()), |p| p.flush())?;
        self.written += std::mem::take(&mut self.unflushed);
        self.count_reached();
        Ok(())
    }

    /// True when text is all there is: frames then count as written by their text.
    fn text_only(&self) -> bool {
        self.pcap.is_none() && self.text_out.is_some()
    }

    /// Text alone: counts as written the frames whose text stdout has taken.
    fn count_reached(&mut self) {
        let Some(reached) = self.text_out.as_ref().map(|w| w.get_ref().bytes) else {
            return;
        };
        while self.text_ends.front().is_some_and(|&end| end <= reached) {
            self.text_ends.pop_front();
            self.written += 1;
        }
    }

    /// Writes `text`, the text of `frames` of `out` (frame `k` of them ending at
    /// `ends[k] - base` of `text`), and then those frames to the pcap file.
    fn write(
        &mut self,
        (text, ends, base): (&[u8], &[u32], u32),
        out: &Output,
        frames: std::ops::Range<usize>,
    ) {
        if self.failed {
            return;
        }
        let text_only = self.text_only();
        if text_only {
            let put = self.text_put;
            let all = put + text.len() as u64;
            let at = |k: usize| {
                ends.get(k)
                    .map_or(all, |&e| put + u64::from(e.saturating_sub(base)))
            };
            self.text_ends.extend((0..frames.len()).map(at));
        }
        self.text_put += text.len() as u64;
        let mut result = Ok(());
        if let Some(w) = self.text_out.as_mut() {
            result = w.write_all(text);
        }
        if text_only {
            self.count_reached();
        }
        if let (Ok(()), Some(p)) = (&result, self.pcap.as_mut()) {
            if out.record_ends.is_empty() {
                for frame in frames.clone().filter_map(|i| out.batch.get(i)) {
                    result = p.write(&frame);
                    if result.is_err() {
                        break;
                    }
                }
            } else {
                // The worker built the records: the stretch's are one slice. The frames
                // it left out are counted with the output's last stretch.
                let at = |k: Option<usize>| {
                    k.and_then(|k| out.record_ends.get(k))
                        .map_or(0, |&e| e as usize)
                };
                let (start, end) = (
                    at(frames.start.checked_sub(1)),
                    at(frames.end.checked_sub(1)),
                );
                let skipped = if frames.end == out.frames {
                    out.records_skipped
                } else {
                    0
                };
                let records = out.records.get(start..end).unwrap_or(&[]);
                result = p.write_records(records, skipped);
            }
        }
        match result {
            Ok(()) if text_only => {
                if self.dirty_since.is_none() {
                    self.dirty_since = Some(std::time::Instant::now());
                }
            }
            // With neither text nor a file, nothing is written.
            Ok(()) if self.pcap.is_none() => {}
            Ok(()) => {
                self.unflushed += frames.len() as u64;
                if self.dirty_since.is_none() {
                    self.dirty_since = Some(std::time::Instant::now());
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// Writes `frames` of `out` (all of them, or a stretch with fanout), their text
    /// finished by the writer's printer when the workers' printers deferred something.
    fn write_output(&mut self, out: &Output, frames: std::ops::Range<usize>) {
        if frames.is_empty() {
            return;
        }
        if out.deferred.is_empty() || self.printer.is_none() {
            let start = frames
                .start
                .checked_sub(1)
                .and_then(|j| out.ends.get(j))
                .map_or(0, |&e| e as usize);
            let end = out
                .ends
                .get(frames.end - 1)
                .map_or(out.text.len(), |&e| e as usize);
            let text = out.text.get(start..end).unwrap_or(&[]);
            let ends = out.ends.get(frames.clone()).unwrap_or(&[]);
            return self.write((text, ends, start as u32), out, frames);
        }
        let (mut text, mut ends) = std::mem::take(&mut self.resolved);
        text.clear();
        ends.clear();
        if let Some(p) = self.printer.as_mut() {
            let batch = output::BatchText {
                text: &out.text,
                ends: &out.ends,
            };
            p.resolve(batch, frames.clone(), &out.deferred, &mut text, &mut ends);
        }
        self.write((&text, &ends, 0), out, frames);
        self.resolved = (text, ends);
    }

    /// Writes text that belongs to no frame (the format's header or trailer).
    fn write_text(&mut self, text: &[u8]) {
        if self.failed || text.is_empty() {
            return;
        }
        match self.text_out.as_mut().map(|w| w.write_all(text)) {
            Some(Err(e)) => self.fail(e),
            Some(Ok(())) if self.dirty_since.is_none() => {
                self.dirty_since = Some(std::time::Instant::now());
            }
            _ => {}
        }
    }

    /// Writes the format's header, before the first output.
    fn begin(&mut self) {
        let mut text = Vec::new();
        if let Some(p) = self.printer.as_mut() {
            p.begin(&mut text);
        }
        self.write_text(&text);
    }

    /// Flushes after each output with `-l`.
    fn flush_line(&mut self) {
        if self.line_buffered && !self.failed {
            match self.text_out.as_mut().map(|w| w.flush()) {
                Some(Err(e)) => self.fail(e),
                Some(Ok(())) => self.count_reached(),
                _ => {}
            }
        }
    }

    /// Flushes everything when [`Pipeline::request_flush`](super::Pipeline::request_flush)
    /// asked for it, or when the oldest unflushed write is [`FLUSH_AFTER`] old.
    fn flush_if_requested(&mut self) {
        let due = self.dirty_since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER);
        if !(self.flush_requested.swap(false, Ordering::Relaxed) || due) || self.failed {
            return;
        }
        if let Err(e) = self.flush_all() {
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
        self.count_reached();
        self.failed = true;
        self.stop.stop(End::OutputClosed);
        if !is_broken_pipe(&e) {
            self.error = Some(format!("writing output: {e}"));
        }
    }

    /// Writes the format's trailer, flushes, and says what reached the output.
    fn finish(mut self) -> WriterResult {
        let mut text = Vec::new();
        if let Some(p) = self.printer.as_mut() {
            p.finish(&mut text);
        }
        self.write_text(&text);
        if !self.failed {
            let closed = self
                .flush_all()
                .and_then(|()| self.pcap.as_mut().map_or(Ok(()), |p| p.close()));
            if let Err(e) = closed {
                self.count_reached();
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
    let Some(mut merger) = order else {
        let mut pending: BTreeMap<u64, Output> = BTreeMap::new();
        let mut next = 0u64;
        while let Some(got) = next_output(&rx, &mut dest) {
            let Some(out) = got else { continue };
            pending.insert(out.seq, out);
            while let Some(mut out) = pending.remove(&next) {
                next += 1;
                forward(&mut out);
                let out = recycled(out, &pool);
                dest.write_output(&out, 0..out.frames);
                dest.flush_line();
            }
        }
        // Only a worker that panicked leaves a gap: write what came after it.
        for (_, mut out) in std::mem::take(&mut pending) {
            forward(&mut out);
            let out = recycled(out, &pool);
            dest.write_output(&out, 0..out.frames);
        }
        return dest.finish();
    };
    let done = |out: Output| drop(recycled(out, &pool));
    while let Some(got) = next_output(&rx, &mut dest) {
        let Some(out) = got else { continue };
        if let Some(empty) = merger.push(out) {
            done(empty);
        }
        merger.drain(|o, frames| dest.write_output(o, frames), done);
        dest.flush_line();
    }
    merger.end_all();
    merger.drain(|o, frames| dest.write_output(o, frames), done);
    dest.finish()
}

/// The next output for the writer: `Some(None)` when none came within [`FLUSH_POLL`]
/// (a flush request is served then), `None` when every worker is done.
fn next_output(rx: &Receiver<Output>, dest: &mut Destinations) -> Option<Option<Output>> {
    dest.flush_if_requested();
    dest.poll();
    match rx.recv_timeout(FLUSH_POLL) {
        Ok(out) => Some(Some(out)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Some(None),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
    }
}
