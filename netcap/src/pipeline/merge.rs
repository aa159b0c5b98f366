//! Puts the outputs of several fanout workers back into one stream in timestamp order.
//!
//! Each worker reads its own socket (AF_PACKET fanout) or CPU ring (XDP), so no one
//! numbers the frames in capture order; their kernel timestamps are the order. Each
//! output carries a watermark, a time below which the worker will send no more frames
//! (a quiet worker sends outputs with only a watermark, see `fanout`; `u64::MAX` means
//! it has ended), and a worker's own frames may run backwards by up to
//! [`REORDER_SLACK_NS`], so a frame at `t` is written when every worker's watermark or
//! latest frame has passed `t + REORDER_SLACK_NS`.
//!
//! The order written is that of the key (timestamp, stream, arrival, index in the
//! output): every frame whose time has come, smallest key first. The merge works on
//! runs, not frames: a run is a stretch of one stream's frames whose keys only grow (one
//! CPU's ring, or a socket whose frames came in stamp order, is one long run across
//! outputs; where a stream's time steps back a new run starts). The next frame to write
//! is the head of the run with the smallest head, so the writer takes the smallest run
//! from a heap of runs and hands on its frames up to the next run's head in one piece
//! (one stretch of text to copy, not one call per frame); with two streams that take
//! turns in bursts, a stretch is a burst. The heap holds as many runs as there are
//! streams, and more only while a stream's frames are out of order.
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    ops::Range,
};

use super::Output;

/// How far one socket's own timestamps may run backwards. The kernel stamps a frame on
/// the CPU that receives it, and frames of two CPUs reach one socket's ring in the
/// order their softirqs get there, not in stamp order: 146 us apart at most in 200k
/// frames from trafgen on both CPUs of the development VM. A frame is written only when
/// every stream has passed its time by this much, so the output is in timestamp order
/// at the cost of this much more delay.
pub const REORDER_SLACK_NS: u64 = 1_000_000;

/// A frame's place in the output order: timestamp, stream, output slot, index.
type Key = (u64, usize, u64, usize);

struct Stream {
    /// A time below which the worker said it will send no more frames.
    watermark: u64,
    /// The latest timestamp among the frames it sent.
    latest: u64,
    /// The run its next frames join if they do not go back in time.
    open: Option<usize>,
}

/// Frames `frames` of the output in `slot`, in key order.
struct Segment {
    slot: u64,
    frames: Range<usize>,
}

/// Frames of one stream whose keys only grow, possibly across outputs.
struct Run {
    stream: usize,
    segments: VecDeque<Segment>,
    /// The timestamp of its last frame (where a continuation must not start below).
    last_ts: u64,
    /// Its head is in the heap (it has frames).
    queued: bool,
    /// More frames may join (it is its stream's `open` run).
    open: bool,
}

pub(super) struct Merger {
    streams: Vec<Stream>,
    slack_ns: u64,
    /// Queued outputs by slot (slot `base + i` at index `i`), with the count of their
    /// frames not yet written; `None` once written.
    outputs: VecDeque<Option<(Output, usize)>>,
    base: u64,
    next_slot: u64,
    /// Runs by id; `None` for a free id (in `free`).
    runs: Vec<Option<Run>>,
    free: Vec<usize>,
    /// The head of every run that has frames: (its key, run id).
    heads: BinaryHeap<Reverse<(Key, usize)>>,
}

impl Merger {
    pub fn new(streams: usize) -> Self {
        Self::with_slack(streams, REORDER_SLACK_NS)
    }

    pub(super) fn with_slack(streams: usize, slack_ns: u64) -> Self {
        Self {
            streams: (0..streams)
                .map(|_| Stream {
                    watermark: 0,
                    latest: 0,
                    open: None,
                })
                .collect(),
            slack_ns,
            outputs: VecDeque::new(),
            base: 0,
            next_slot: 0,
            runs: Vec::new(),
            free: Vec::new(),
            heads: BinaryHeap::new(),
        }
    }

    /// Queues an output; returns it back when it holds no frames (watermark only).
    pub fn push(&mut self, out: Output) -> Option<Output> {
        let stream = out.stream;
        let Some(s) = self.streams.get_mut(stream) else {
            return Some(out);
        };
        s.watermark = s.watermark.max(out.watermark);
        let n = out.ts.len().min(out.frames);
        if n == 0 {
            return Some(out);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        // Split the output where its time steps back: each piece goes on a run.
        let mut start = 0;
        for i in 1..=n {
            if i == n || out.ts[i] < out.ts[i - 1] {
                self.append(stream, slot, start..i, &out.ts);
                start = i;
            }
        }
        if let Some(s) = self.streams.get_mut(stream) {
            s.latest = s.latest.max(out.ts[..n].iter().copied().max().unwrap_or(0));
        }
        self.outputs.push_back(Some((out, n)));
        None
    }

    /// Puts `frames` of the output in `slot` (their times never step back) on the
    /// stream's open run, or on a new one when they start before it ends.
    fn append(&mut self, stream: usize, slot: u64, frames: Range<usize>, ts: &[u64]) {
        let (first, last) = (ts[frames.start], ts[frames.end - 1]);
        let open = self.streams[stream].open;
        let run_id = match open.filter(|&id| self.run(id).is_some_and(|r| r.last_ts <= first)) {
            Some(id) => id,
            None => {
                if let Some(id) = open {
                    self.close(id);
                }
                let id = self.new_run(stream);
                self.streams[stream].open = Some(id);
                id
            }
        };
        let Some(run) = self.runs.get_mut(run_id).and_then(Option::as_mut) else {
            return;
        };
        let head = frames.start;
        run.segments.push_back(Segment { slot, frames });
        run.last_ts = last;
        if !run.queued {
            run.queued = true;
            self.heads
                .push(Reverse(((first, stream, slot, head), run_id)));
        }
    }

    fn run(&self, id: usize) -> Option<&Run> {
        self.runs.get(id).and_then(Option::as_ref)
    }

    fn new_run(&mut self, stream: usize) -> usize {
        let run = Run {
            stream,
            segments: VecDeque::new(),
            last_ts: 0,
            queued: false,
            open: true,
        };
        match self.free.pop() {
            Some(id) => {
                self.runs[id] = Some(run);
                id
            }
            None => {
                self.runs.push(Some(run));
                self.runs.len() - 1
            }
        }
    }

    /// No more frames join run `id`; it goes away now if it has none left.
    fn close(&mut self, id: usize) {
        let Some(run) = self.runs.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        run.open = false;
        if !run.queued {
            self.runs[id] = None;
            self.free.push(id);
        }
    }

    /// Treats every stream as ended (their senders are gone).
    pub fn end_all(&mut self) {
        for s in &mut self.streams {
            s.watermark = u64::MAX;
        }
    }

    /// The time up to which every frame has arrived: each stream's watermark or latest
    /// frame, whichever is later, less the slack; ended streams do not hold it back.
    fn horizon(&self) -> u64 {
        self.streams
            .iter()
            .map(|s| match s.watermark {
                u64::MAX => u64::MAX,
                w => w.max(s.latest).saturating_sub(self.slack_ns),
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Calls `emit(output, frames)` for each stretch of frames of one output that can
    /// be written now, in key order (see the module doc), and `done(output)` for each
    /// output fully written.
    pub fn drain(
        &mut self,
        mut emit: impl FnMut(&Output, Range<usize>),
        mut done: impl FnMut(Output),
    ) {
        let horizon = self.horizon();
        while let Some(&Reverse(((ts, ..), id))) = self.heads.peek() {
            if ts > horizon {
                return;
            }
            self.heads.pop();
            // This run's frames go up to the next run's head.
            let bound = self.heads.peek().map(|Reverse((key, _))| *key);
            let Some(mut run) = self.runs.get_mut(id).and_then(Option::take) else {
                continue;
            };
            let head = self.take_from(&mut run, horizon, bound, &mut emit, &mut done);
            match head {
                Some(key) => self.heads.push(Reverse((key, id))),
                None => run.queued = false,
            }
            if run.queued || run.open {
                self.runs[id] = Some(run);
            } else {
                self.free.push(id);
            }
        }
    }

    /// Writes the frames of `run` up to `horizon` and before `bound`; returns the key of
    /// its new head, if it has frames left.
    fn take_from(
        &mut self,
        run: &mut Run,
        horizon: u64,
        bound: Option<Key>,
        emit: &mut impl FnMut(&Output, Range<usize>),
        done: &mut impl FnMut(Output),
    ) -> Option<Key> {
        let stream = run.stream;
        while let Some(seg) = run.segments.front_mut() {
            let Some(entry) = usize::try_from(seg.slot - self.base)
                .ok()
                .and_then(|k| self.outputs.get_mut(k))
            else {
                run.segments.pop_front();
                continue;
            };
            let Some((out, left)) = entry.as_mut() else {
                run.segments.pop_front();
                continue;
            };
            let slot = seg.slot;
            let start = seg.frames.start;
            let mut end = start;
            while end < seg.frames.end {
                let ts = out.ts[end];
                let key = (ts, stream, slot, end);
                if ts > horizon || bound.is_some_and(|b| key > b) {
                    break;
                }
                end += 1;
            }
            if end > start {
                emit(out, start..end);
                *left -= end - start;
                seg.frames.start = end;
            }
            if *left == 0 {
                if let Some((out, _)) = entry.take() {
                    done(out);
                }
                while self.outputs.front().is_some_and(Option::is_none) {
                    self.outputs.pop_front();
                    self.base += 1;
                }
            }
            if seg.frames.is_empty() {
                run.segments.pop_front();
                continue;
            }
            // Stopped inside the segment: its next frame is the run's head.
            let i = seg.frames.start;
            let ts = self.output(slot).map_or(0, |o| o.ts[i]);
            return Some((ts, stream, slot, i));
        }
        None
    }

    fn output(&self, slot: u64) -> Option<&Output> {
        usize::try_from(slot - self.base)
            .ok()
            .and_then(|k| self.outputs.get(k))
            .and_then(Option::as_ref)
            .map(|(o, _)| o)
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
