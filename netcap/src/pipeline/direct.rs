//! The direct path, for live captures that need no decoding (`-F none` without flow
//! statistics, which includes a plain `-w FILE`): frames are counted and written to the
//! `-w` file on the capture thread, straight from the kernel's ring.
//!
//! Why a second path: the pipeline's cost per frame is a copy into a batch, two thread
//! hand-offs and a decode. With nothing to print and no flows to count, none of that
//! buys anything, and it is what made netcap use more CPU per frame than
//! `tcpdump -w /dev/null`, which does exactly this: read the ring, write the record.
//! Frames are not decoded here, so `decoded` is 0 and no malformed counts exist.
//!
//! Zero copy: the frames come in rounds ([`Source::visit_round`]) that stay in the
//! kernel's ring until [`Direct::take_round`] returns. A round of at least
//! [`THROUGH_FROM`] bytes of a plain classic pcap `-w` (a file, `/dev/null`, `-w -`; not
//! `-C`/`-G`, not pcapng) is written with `writev` straight from there, past the sink's
//! buffer ([`FrameSink::through`]): 16-byte record headers (and frames under
//! [`POINT_FROM`] bytes) from a small buffer, the other frames' bytes from the ring, so
//! user space copies no frame; `-w /dev/null` then costs no copy at all, a file the
//! kernel's one copy into the page cache (which `tcpdump -w` pays too). Smaller rounds
//! (a trickle) are copied into the sink's buffer, flushed as [`super::FLUSH_AFTER`] and
//! `-l` say, so a quiet link costs no system call per frame.
//!
//! [`Source::visit_round`]: crate::capture::Source::visit_round
//! [`FrameSink::through`]: crate::output::FrameSink::through
//! [`POINT_FROM`]: crate::output::pcap::POINT_FROM

use super::{is_broken_pipe, DecodeStats, Finished, SizeCounts};
use crate::{
    output::pcap::{BoxedPcapSink, RoundRecords},
    packet::Frame,
};

/// Rounds whose records take at least this many bytes are written past the sink's
/// buffer, straight from the ring: one `writev` (or a few) per 64 KiB or more, never a
/// system call per frame; smaller ones are copied into the buffer.
pub const THROUGH_FROM: usize = 64 * 1024;

pub struct Direct {
    pcap: Option<BoxedPcapSink>,
    stats: DecodeStats,
    sizes: SizeCounts,
    /// Frames known to have reached the `-w` output (before a successful flush).
    written: u64,
    /// Frames written into its buffer since the last successful flush.
    unflushed: u64,
    /// Set once the output failed: nothing more is written and the run should end.
    pub closed: bool,
    error: Option<String>,
    /// When the oldest write not yet flushed happened (see [`super::FLUSH_AFTER`]).
    dirty_since: Option<std::time::Instant>,
    /// A round's records, for the zero-copy write (its buffers kept between rounds).
    records: RoundRecords,
}

impl Direct {
    pub fn new(pcap: Option<BoxedPcapSink>) -> Self {
        Self {
            pcap,
            stats: DecodeStats::default(),
            sizes: SizeCounts::new(),
            written: 0,
            unflushed: 0,
            closed: false,
            error: None,
            dirty_since: None,
            records: RoundRecords::default(),
        }
    }

    /// True while frames are written to a `-w` output (rounds are for that alone).
    pub fn writes(&self) -> bool {
        self.pcap.is_some() && !self.closed
    }

    /// Takes one round of frames, held where the source keeps them until this
    /// returns: written past the sink's buffer when the round is large enough and the
    /// sink has a way through, else frame by frame into its buffer.
    pub fn take_round(&mut self, frames: &[Frame<'_>]) {
        if !self.write_through(frames) {
            for frame in frames {
                self.take(frame);
            }
            return;
        }
        for frame in frames {
            self.stats.bytes += frame.data.len() as u64;
            self.stats.wire_bytes += u64::from(frame.meta.orig_len);
            self.sizes.add(frame.data.len());
        }
    }

    /// The zero-copy write of a round (see the module doc); false, with nothing done,
    /// when it is not for this round.
    fn write_through(&mut self, frames: &[Frame<'_>]) -> bool {
        let Some(pcap) = self.pcap.as_mut().filter(|_| !self.closed) else {
            return false;
        };
        let bytes: usize = frames.iter().map(|f| 16 + f.data.len()).sum();
        if bytes < THROUGH_FROM {
            return false;
        }
        let Some(format) = pcap.record_format() else {
            return false;
        };
        self.records.build(&format, frames);
        let (written, result) = match pcap.through() {
            None => return false,
            Some(Err(e)) => (None, Err(e)),
            Some(Ok(out)) => {
                let (n, result) = self.records.write_to(frames, out);
                (Some(n), result)
            }
        };
        if self.records.skipped() > 0 {
            // Only counted: no bytes for them.
            let _ = pcap.write_records(&[], self.records.skipped());
        }
        if let Some(n) = written {
            // The way through emptied the buffer first.
            self.written += std::mem::take(&mut self.unflushed) + n;
            self.dirty_since = None;
        }
        if let Err(e) = result {
            self.fail(e);
        }
        true
    }

    /// Takes one frame: counts it and writes it to the `-w` file.
    #[inline]
    pub fn take(&mut self, frame: &Frame<'_>) {
        self.stats.bytes += frame.data.len() as u64;
        self.stats.wire_bytes += u64::from(frame.meta.orig_len);
        self.sizes.add(frame.data.len());
        if self.closed {
            return;
        }
        if let Some(p) = self.pcap.as_mut() {
            if let Err(e) = p.write(frame) {
                self.fail(e);
                return;
            }
        }
        if self.pcap.is_none() {
            self.written += 1;
        } else {
            self.unflushed += 1;
        }
        if self.dirty_since.is_none() && self.pcap.is_some() {
            self.dirty_since = Some(std::time::Instant::now());
        }
    }

    /// Flushes when the oldest unflushed write is [`super::FLUSH_AFTER`] old, and lets
    /// the `-w` sink do its work on the clock (called on every wake-up).
    pub fn flush_if_due(&mut self) {
        if !self.closed {
            if let Some(Err(e)) = self.pcap.as_mut().map(|p| p.poll()) {
                self.fail(e);
            }
        }
        if self
            .dirty_since
            .is_some_and(|t| t.elapsed() >= super::FLUSH_AFTER)
        {
            self.flush();
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        if super::is_limit_reached(&e) {
            self.written += std::mem::take(&mut self.unflushed);
        }
        self.closed = true;
        if !is_broken_pipe(&e) {
            self.error = Some(format!("writing output: {e}"));
        }
    }

    /// Flushes the `-w` output (`-l`, or a quiet moment).
    pub fn flush(&mut self) {
        self.dirty_since = None;
        if self.closed {
            return;
        }
        match self.pcap.as_mut().map(|p| p.flush()) {
            Some(Err(e)) => self.fail(e),
            Some(Ok(())) => self.written += std::mem::take(&mut self.unflushed),
            None => {}
        }
    }

    pub fn finish(mut self) -> Finished {
        self.flush();
        if !self.closed {
            if let Some(Err(e)) = self.pcap.as_mut().map(|p| p.close()) {
                self.fail(e);
            }
        }
        Finished {
            decode: self.stats,
            decoded_frames: false,
            frame_sizes: self.sizes.histogram(),
            flows: Vec::new(),
            exported: None,
            written: self.written,
            write_error: self.error,
            pcap_skipped: self.pcap.map_or(0, |p| p.skipped()),
            sources: Vec::new(),
            threads: Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
