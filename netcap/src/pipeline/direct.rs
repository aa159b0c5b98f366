//! The direct path, for live captures that need no decoding (`-F none` without flow
//! statistics, which includes a plain `-w FILE`): frames are counted and written to the
//! `-w` file on the capture thread, straight from the kernel's ring.
//!
//! Why a second path: the pipeline's cost per frame is a copy into a batch, two thread
//! hand-offs and a decode. With nothing to print and no flows to count, none of that
//! buys anything, and it is what made netcap use more CPU per frame than
//! `tcpdump -w /dev/null`, which does exactly this: read the ring, write the record.
//! Frames are not decoded here, so `decoded` is 0 and no malformed counts exist.

use super::{is_broken_pipe, DecodeStats, Finished, SizeCounts};
use crate::{output::pcap::BoxedPcapSink, packet::Frame};

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
        }
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
