//! Frame numbers for `-F json` (`"frame"`) and `-F fields` (`frame.number`).
//!
//! Workers decode and print in parallel, so none knows how many frames came before the
//! one it prints. The worker's printer notes where the number goes in its batch text
//! ([`Deferred::number`]) and writes nothing there; the writer's printer, which sees
//! every frame once and in output order, counts them and inserts each frame's number
//! while it copies the text out: one more copy of the text, no parsing.
use std::ops::Range;

use super::{push_u64, BatchText, Deferred};

/// A printer's side of the numbering: the worker's notes, or the writer's count.
#[derive(Clone, Debug, Default)]
pub struct Numbers {
    deferred: Deferred,
    /// Where the last frame's text started: a smaller start is a new buffer.
    last_start: usize,
    /// The writer's: frames numbered so far.
    count: u64,
}

impl Numbers {
    /// A frame's text starts at `at` of the batch text.
    pub fn begin(&mut self, at: usize) {
        if at < self.last_start {
            self.deferred = Deferred::default();
        }
        // Notes past `at` belong to a frame whose text was dropped (its printing panicked).
        self.deferred.cut(at);
        self.last_start = at;
    }

    /// The frame's number goes at `at`.
    pub fn here(&mut self, at: usize) {
        self.deferred.number(at);
    }

    /// What the worker noted since the last call.
    pub fn take(&mut self) -> Deferred {
        self.last_start = 0;
        std::mem::take(&mut self.deferred)
    }

    /// Appends the text of `frames` of a batch to `out` with their numbers inserted, and
    /// where each frame's text now ends to `out_ends`.
    pub fn resolve(
        &mut self,
        batch: BatchText<'_>,
        frames: Range<usize>,
        deferred: &Deferred,
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
    ) {
        let BatchText { text, ends } = batch;
        let holes = deferred.numbers();
        for i in frames {
            let end = ends
                .get(i)
                .map_or(text.len(), |&e| e as usize)
                .min(text.len());
            let start = i
                .checked_sub(1)
                .and_then(|j| ends.get(j))
                .map_or(0, |&e| e as usize)
                .min(end);
            self.count += 1;
            let mut pos = start;
            let first = holes.partition_point(|&h| (h as usize) < start);
            for &h in holes[first..].iter().take_while(|&&h| (h as usize) < end) {
                out.extend_from_slice(&text[pos..h as usize]);
                push_u64(out, self.count);
                pos = h as usize;
            }
            out.extend_from_slice(&text[pos..end]);
            out_ends.push(u32::try_from(out.len()).unwrap_or(u32::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_where_noted_and_count_on_across_batches() {
        let mut worker = Numbers::default();
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for body in [&b"a\n"[..], b"bb\n"] {
            worker.begin(text.len());
            text.push(b'[');
            worker.here(text.len());
            text.extend_from_slice(b"]");
            worker.here(text.len());
            text.extend_from_slice(body);
            ends.push(text.len() as u32);
        }
        let deferred = worker.take();
        let mut writer = Numbers::default();
        let (mut out, mut out_ends) = (Vec::new(), Vec::new());
        let batch = BatchText {
            text: &text,
            ends: &ends,
        };
        writer.resolve(batch, 0..2, &deferred, &mut out, &mut out_ends);
        writer.resolve(batch, 1..2, &deferred, &mut out, &mut out_ends);
        assert_eq!(out, b"[1]1a\n[2]2bb\n[3]3bb\n");
        assert_eq!(out_ends, [6, 13, 20]);
    }

    #[test]
    fn a_dropped_frame_leaves_no_note() {
        let mut worker = Numbers::default();
        let mut text = b"{".to_vec();
        worker.begin(0);
        worker.here(1);
        text.truncate(0); // the frame's printing panicked
        worker.begin(0);
        text.extend_from_slice(b"x\n");
        let deferred = worker.take();
        assert!(deferred.numbers().is_empty());
    }
}
