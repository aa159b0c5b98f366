//! What the writer has handed on but not yet written: stretches of the workers' text
//! (or `-w` records), left where the workers built them and written with one
//! `writev` per write, not copied into a buffer first.
//!
//! A piece is a stretch of one output's buffer (by the output's slot in a [`Store`]:
//! the merger's queue, or [`Held`] for outputs written in batch order) or of the
//! writer's own buffer (text the writer made: the format's header and trailer, what
//! [`Printer::resolve`](crate::output::Printer::resolve) finished, stretches of small
//! outputs). The outputs stay with the writer until their pieces are written, then go
//! back to the workers' pool. Small outputs (under [`COPY_BELOW`] bytes) are copied
//! instead: at a low rate each output holds a frame or two, and holding many of them
//! for a write would empty the workers' pool; copying them costs what it did before.
//! Short stretches (under [`COPY_STRETCH_BELOW`]) are copied too, whatever their
//! output's size: two finely interleaved streams give stretches of a line or two.
//!
//! Counting: each piece knows where its frames end, so a write that stops part way (a
//! pipe closed by its reader) says exactly how many frames' bytes were taken.
use std::{
    collections::VecDeque,
    io::{IoSlice, Write},
    ops::Range,
};

use super::Output;
use crate::output::write_all_vectored;

/// Outputs whose buffer is smaller than this are copied into the writer's own buffer
/// rather than held until the write: at 64 KiB an output holds ~700 lines of `-F line`,
/// and the copy is a small part of what the output cost to make.
pub(super) const COPY_BELOW: usize = 64 * 1024;

/// Stretches shorter than this are copied into the writer's own buffer even from a
/// large output: where two workers' frames interleave finely (a live capture's CPUs
/// take turns frame by frame) a stretch is a line or two, and a piece of its own costs
/// more than the copy (its slice, its frame count, and the kernel's per-slice work in
/// `writev`); copied, the short stretches that follow one another are one slice.
/// 512 bytes is about seven lines of `-F line`; see docs/bench/capture-workers.md.
pub(super) const COPY_STRETCH_BELOW: usize = 512;

/// Most outputs held for a write: then the pieces are written whatever their size,
/// so the workers get buffers back (the pool has room for these).
pub(super) const HOLD_OUTPUTS: usize = 8;

/// Where the writer finds the outputs its pieces point into.
pub(super) trait Store {
    /// The output in `slot`, until it is released.
    fn output(&self, slot: u64) -> Option<&Output>;
    /// How many outputs are fully handed on and held only for their pieces.
    fn finished(&self) -> usize;
}

impl Store for super::merge::Merger {
    fn output(&self, slot: u64) -> Option<&Output> {
        super::merge::Merger::output(self, slot)
    }

    fn finished(&self) -> usize {
        super::merge::Merger::finished(self)
    }
}

/// Outputs written whole in batch order, held until their pieces are written.
#[derive(Default)]
pub(super) struct Held {
    outputs: VecDeque<Output>,
    base: u64,
}

impl Held {
    /// Holds `out`; returns its slot.
    pub(super) fn hold(&mut self, out: Output) -> u64 {
        self.outputs.push_back(out);
        self.base + self.outputs.len() as u64 - 1
    }

    /// Hands every held output to `done`.
    pub(super) fn release(&mut self, mut done: impl FnMut(Output)) {
        self.base += self.outputs.len() as u64;
        self.outputs.drain(..).for_each(&mut done);
    }
}

impl Store for Held {
    fn output(&self, slot: u64) -> Option<&Output> {
        usize::try_from(slot.checked_sub(self.base)?)
            .ok()
            .and_then(|i| self.outputs.get(i))
    }

    fn finished(&self) -> usize {
        self.outputs.len()
    }
}

/// Which of an output's buffers a [`Pending`] writes: its text, or its `-w` records.
#[derive(Clone, Copy)]
pub(super) enum Part {
    Text,
    Records,
}

impl Part {
    /// The buffer and where each frame's bytes end in it.
    fn of(self, out: &Output) -> (&[u8], &[u32]) {
        match self {
            Part::Text => (&out.text, &out.ends),
            Part::Records => (&out.records, &out.record_ends),
        }
    }
}

/// Where a piece's bytes are.
#[derive(Clone, Copy)]
enum Src {
    /// In the output of this slot.
    Output(u64),
    /// In the writer's own buffer.
    Own,
}

struct Piece {
    src: Src,
    bytes: Range<usize>,
    /// Where its frames end: indices into the output's ends, or into `own_ends`.
    ends: Range<usize>,
}

/// The pieces of one destination not yet written, in order.
pub(super) struct Pending {
    part: Part,
    pieces: Vec<Piece>,
    own: Vec<u8>,
    /// Where each frame of the own pieces ends in `own`.
    own_ends: Vec<u32>,
    bytes: usize,
    /// Pieces that point into outputs.
    refs: usize,
}

impl Pending {
    pub(super) fn new(part: Part) -> Self {
        Self {
            part,
            pieces: Vec::new(),
            own: Vec::new(),
            own_ends: Vec::new(),
            bytes: 0,
            refs: 0,
        }
    }

    /// Bytes queued.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// True while some piece points into an output (which must be kept until written).
    pub(super) fn holds_outputs(&self) -> bool {
        self.refs > 0
    }

    /// Queues frames `frames` of `out` (in `slot`), whose bytes are a stretch of its
    /// buffer: held there, or copied when the output or the stretch is small.
    pub(super) fn push_output(&mut self, slot: u64, out: &Output, frames: Range<usize>) {
        let (buf, ends) = self.part.of(out);
        let at = |k: Option<usize>| k.and_then(|k| ends.get(k)).map_or(0, |&e| e as usize);
        let start = at(frames.start.checked_sub(1));
        let end = match frames.end.checked_sub(1).and_then(|k| ends.get(k)) {
            Some(&e) => e as usize,
            None => buf.len(),
        };
        let bytes = start..end.max(start);
        if buf.len() < COPY_BELOW || bytes.len() < COPY_STRETCH_BELOW {
            let text = buf.get(bytes.clone()).unwrap_or(&[]);
            let ends = ends.get(frames).unwrap_or(&[]);
            return self.push_copy(text, ends.iter().map(|&e| e as usize - start));
        }
        self.bytes += bytes.len();
        self.refs += 1;
        self.pieces.push(Piece {
            src: Src::Output(slot),
            bytes,
            ends: frames,
        });
    }

    /// Queues a copy of `text`, whose frames end at `ends` (offsets into `text`; none
    /// for text of no frame).
    pub(super) fn push_copy(&mut self, text: &[u8], ends: impl Iterator<Item = usize>) {
        let base = self.own.len();
        self.own.extend_from_slice(text);
        let first = self.own_ends.len();
        self.own_ends.extend(ends.map(|e| (base + e) as u32));
        let bytes = base..self.own.len();
        self.bytes += bytes.len();
        let ends = first..self.own_ends.len();
        // Own pieces that follow one another are one piece.
        if let Some(last) = self.pieces.last_mut() {
            if matches!(last.src, Src::Own) && last.bytes.end == base {
                last.bytes.end = bytes.end;
                last.ends.end = ends.end;
                return;
            }
        }
        self.pieces.push(Piece {
            src: Src::Own,
            bytes,
            ends,
        });
    }

    /// The queued bytes as slices, in order.
    fn slices<'a>(&'a self, store: &'a dyn Store) -> Vec<IoSlice<'a>> {
        self.pieces
            .iter()
            .map(|p| IoSlice::new(self.bytes_of(p, store)))
            .collect()
    }

    fn bytes_of<'a>(&'a self, p: &Piece, store: &'a dyn Store) -> &'a [u8] {
        let buf = match p.src {
            Src::Own => &self.own[..],
            Src::Output(slot) => store.output(slot).map_or(&[][..], |o| self.part.of(o).0),
        };
        buf.get(p.bytes.clone()).unwrap_or(&[])
    }

    /// Where the frames of `p` end in its buffer.
    fn ends_of<'a>(&'a self, p: &Piece, store: &'a dyn Store) -> &'a [u32] {
        let ends = match p.src {
            Src::Own => &self.own_ends[..],
            Src::Output(slot) => store.output(slot).map_or(&[][..], |o| self.part.of(o).1),
        };
        ends.get(p.ends.clone()).unwrap_or(&[])
    }

    /// Writes everything queued to `out` and empties the queue; returns the frames whose
    /// bytes `out` took in full, and the error that stopped the write, if any.
    pub(super) fn write_to(
        &mut self,
        out: &mut dyn Write,
        store: &dyn Store,
    ) -> (u64, std::io::Result<()>) {
        let mut slices = self.slices(store);
        let (taken, result) = write_all_vectored(out, &mut slices);
        drop(slices);
        let frames = match result {
            Ok(()) => self.frames(store),
            Err(_) => self.frames_within(taken, store),
        };
        self.clear();
        (frames, result)
    }

    /// Hands the queued bytes to `write` as slices and empties the queue; returns the
    /// frames queued.
    pub(super) fn write_with(
        &mut self,
        store: &dyn Store,
        write: impl FnOnce(&[IoSlice<'_>]) -> std::io::Result<()>,
    ) -> (u64, std::io::Result<()>) {
        let result = write(&self.slices(store));
        let frames = self.frames(store);
        self.clear();
        (frames, result)
    }

    /// Frames of all the pieces.
    fn frames(&self, store: &dyn Store) -> u64 {
        self.pieces
            .iter()
            .map(|p| self.ends_of(p, store).len() as u64)
            .sum()
    }

    /// Frames whose bytes all lie within the first `taken` bytes of the queue.
    fn frames_within(&self, mut taken: usize, store: &dyn Store) -> u64 {
        let mut frames = 0;
        for p in &self.pieces {
            let ends = self.ends_of(p, store);
            if taken >= p.bytes.len() {
                taken -= p.bytes.len();
                frames += ends.len() as u64;
                continue;
            }
            let reached = p.bytes.start + taken;
            frames += ends.iter().take_while(|&&e| e as usize <= reached).count() as u64;
            break;
        }
        frames
    }

    /// Drops what is queued (after a write, or when the output failed).
    pub(super) fn clear(&mut self) {
        self.pieces.clear();
        self.own.clear();
        self.own_ends.clear();
        self.bytes = 0;
        self.refs = 0;
    }
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
