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
//! (one stretch of text to write, not one call per frame); with two streams that take
//! turns in bursts, a stretch is a burst. The heap holds as many runs as there are
//! streams, and more only while a stream's frames are out of order; with a few runs
//! (2-4 streams in order, the common case) it is a short list scanned for its smallest
//! head ([`Heads`]), which costs less than a binary heap's sift per stretch. With a
//! few runs each of a different stream (CPUs' rings in order, the XDP path's usual
//! state) the writer takes turns between them without taking heads out of the list
//! and putting them back ([`Merger::take_turns`]): with finely interleaved streams,
//! stretches of a frame or two, that was most of the writer's time.
//!
//! Outputs fully handed on stay queued until [`Merger::release`]: the writer writes
//! their stretches straight from the outputs' buffers (`pending`), after the drain.
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

/// A run's head in [`Heads`]: its key and the run's id.
type Head = (Key, usize);

/// Most runs [`Heads`] keeps as a plain list; more go into a binary heap (a stream
/// whose frames step back often makes many short runs at once).
const FEW_HEADS: usize = 8;

/// Most runs [`Merger::take_turns`] takes turns among (a scan of their heads per
/// stretch); with more, each stretch goes through the heap. A run per stream: up to 32
/// CPUs' rings read by as many workers.
const TURNS_AMONG: usize = 32;

/// The heads of the runs that have frames, smallest first out: a list scanned in full
/// while it holds at most [`FEW_HEADS`] (two streams: two entries, one compare), a
/// binary heap above that.
enum Heads {
    Few(Vec<Head>),
    Many(BinaryHeap<Reverse<Head>>),
}

impl Heads {
    fn push(&mut self, head: Head) {
        match self {
            Heads::Few(v) if v.len() < FEW_HEADS => v.push(head),
            Heads::Few(v) => {
                let heap = v.drain(..).chain([head]).map(Reverse).collect();
                *self = Heads::Many(heap);
            }
            Heads::Many(h) => h.push(Reverse(head)),
        }
    }

    /// Takes the smallest head if its time is not past `horizon`; returns it with the
    /// key of the next smallest (the bound of the taken run's stretch). One pass over a
    /// short list finds both: with two streams, one compare.
    fn pop_until(&mut self, horizon: u64) -> Option<(Head, Option<Key>)> {
        match self {
            Heads::Few(v) => {
                let (mut first, mut second): (usize, Option<usize>) = (0, None);
                for i in 1..v.len() {
                    if v[i] < v[first] {
                        second = Some(first);
                        first = i;
                    } else if second.is_none_or(|j| v[i] < v[j]) {
                        second = Some(i);
                    }
                }
                let head = *v.get(first)?;
                if head.0 .0 > horizon {
                    return None;
                }
                let next = second.map(|j| v[j].0);
                v.swap_remove(first);
                Some((head, next))
            }
            Heads::Many(h) => {
                let &Reverse(head) = h.peek()?;
                if head.0 .0 > horizon {
                    return None;
                }
                h.pop();
                let next = h.peek().map(|Reverse((key, _))| *key);
                if h.len() <= FEW_HEADS / 2 {
                    *self = Heads::Few(h.drain().map(|Reverse(head)| head).collect());
                }
                Some((head, next))
            }
        }
    }
}

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
    /// frames not yet handed on; `None` once released.
    outputs: VecDeque<Option<(Output, usize)>>,
    /// Outputs whose frames were all handed on, not yet released.
    finished: usize,
    base: u64,
    next_slot: u64,
    /// Runs by id; `None` for a free id (in `free`).
    runs: Vec<Option<Run>>,
    free: Vec<usize>,
    /// The head of every run that has frames: (its key, run id).
    heads: Heads,
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
            finished: 0,
            base: 0,
            next_slot: 0,
            runs: Vec::new(),
            free: Vec::new(),
            heads: Heads::Few(Vec::with_capacity(FEW_HEADS)),
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
        // Split the output where its time steps back: each piece goes on a run. A
        // piece's last frame is its latest.
        let ts = &out.ts[..n];
        let (mut start, mut latest) = (0, 0);
        while start < n {
            let len = ts[start..]
                .windows(2)
                .position(|w| w[1] < w[0])
                .map_or(n - start, |i| i + 1);
            let piece = start..start + len;
            latest = latest.max(ts[piece.end - 1]);
            self.append(stream, slot, piece, ts);
            start += len;
        }
        if let Some(s) = self.streams.get_mut(stream) {
            s.latest = s.latest.max(latest);
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
            self.heads.push(((first, stream, slot, head), run_id));
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

    /// Calls `emit(slot, output, frames)` for each stretch of frames of one output that
    /// can be written now, in key order (see the module doc). Outputs whose frames have
    /// all been handed on stay queued (the stretches point into them) until
    /// [`Merger::release`].
    pub fn drain(&mut self, mut emit: impl FnMut(u64, &Output, Range<usize>)) {
        let horizon = self.horizon();
        // The run with the smallest head; its frames go up to the next run's head.
        while let Some(((_, id), bound)) = self.heads.pop_until(horizon) {
            if bound.is_some() && self.take_turns(id, horizon, &mut emit) {
                continue;
            }
            let Some(mut run) = self.runs.get_mut(id).and_then(Option::take) else {
                continue;
            };
            let head = self.take_from(&mut run, horizon, bound, &mut emit);
            match head {
                Some(key) => self.heads.push((key, id)),
                None => run.queued = false,
            }
            if run.queued || run.open {
                self.runs[id] = Some(run);
            } else {
                self.free.push(id);
            }
        }
    }

    /// With up to [`TURNS_AMONG`] runs queued, each of a different stream (two or more
    /// CPUs' rings in order: the XDP path's usual state), hands on their frames taking turns: a
    /// stretch of the run with the smallest head up to the next smallest head, then a
    /// stretch of that one, until one run's current output or the horizon ends it,
    /// without putting heads back and taking them out again between stretches (with
    /// finely interleaved streams, stretches of a frame or two, that bookkeeping was
    /// most of the writer's time). `first` has just been taken from the heads as the
    /// smallest; the others are the heads' entries. Returns false, having changed
    /// nothing, when that is not the case or no frame could be handed on.
    fn take_turns(
        &mut self,
        first: usize,
        horizon: u64,
        emit: &mut impl FnMut(u64, &Output, Range<usize>),
    ) -> bool {
        let others: Vec<usize> = match &self.heads {
            Heads::Few(v) => v.iter().map(|h| h.1).collect(),
            Heads::Many(h) if h.len() < TURNS_AMONG => h.iter().map(|Reverse(h)| h.1).collect(),
            Heads::Many(_) => return false,
        };
        // Each run's (id, output, slot, frames, stream), `first` at 0.
        let mut sides = Vec::with_capacity(others.len() + 1);
        for id in std::iter::once(first).chain(others) {
            let Some(run) = self.run(id) else {
                return false;
            };
            let Some(seg) = run.segments.front().filter(|s| !s.frames.is_empty()) else {
                return false;
            };
            let Some(out) = self.output(seg.slot) else {
                return false;
            };
            if sides.iter().any(|&(_, _, _, _, s)| s == run.stream) {
                return false;
            }
            sides.push((id, out, seg.slot, seg.frames.clone(), run.stream));
        }
        if sides.len() < 2 {
            return false;
        }
        let mut pos: Vec<usize> = sides.iter().map(|side| side.3.start).collect();
        // Each side's head: (time, stream), its key against the others'.
        let mut head: Vec<(u64, usize)> = sides
            .iter()
            .zip(&pos)
            .map(|(side, &p)| (side.1.ts[p], side.4))
            .collect();
        let mut c = 0;
        loop {
            // The smallest head of the others: this side's frames go while their key
            // is smaller ((time, stream), since the streams differ).
            let o = if head.len() == 2 {
                1 - c
            } else {
                (0..head.len())
                    .filter(|&i| i != c)
                    .min_by_key(|&i| head[i])
                    .unwrap_or(c)
            };
            let (other, other_stream) = head[o];
            let (_, out, slot, ref frames, stream) = sides[c];
            let last = if stream < other_stream {
                Some(other)
            } else {
                other.checked_sub(1)
            };
            let Some(last) = last.map(|t| t.min(horizon)) else {
                break;
            };
            let ts = &out.ts;
            let end = first_not(pos[c]..frames.end, |k| ts[k] <= last);
            if end == pos[c] {
                break;
            }
            emit(slot, out, pos[c]..end);
            pos[c] = end;
            if end == frames.end || ts[end] > horizon {
                break;
            }
            head[c].0 = ts[end];
            // Its next frame comes after the other's head, the smallest now.
            c = o;
        }
        let moved: Vec<(usize, u64, usize, usize)> = sides
            .iter()
            .zip(&pos)
            .map(|(&(id, _, slot, ref frames, _), &p)| (id, slot, p, p - frames.start))
            .collect();
        if moved.iter().all(|m| m.3 == 0) {
            return false;
        }
        // Account for what was handed on, then put every run's head back.
        match &mut self.heads {
            Heads::Few(v) => v.clear(),
            Heads::Many(_) => self.heads = Heads::Few(Vec::with_capacity(FEW_HEADS)),
        }
        for (id, slot, p, n) in moved {
            if let Some((_, left)) = usize::try_from(slot - self.base)
                .ok()
                .and_then(|i| self.outputs.get_mut(i))
                .and_then(Option::as_mut)
            {
                *left -= n;
                if n > 0 && *left == 0 {
                    self.finished += 1;
                }
            }
            let Some(mut run) = self.runs.get_mut(id).and_then(Option::take) else {
                continue;
            };
            if let Some(seg) = run.segments.front_mut() {
                seg.frames.start = p;
            }
            match self.head_of(&mut run) {
                Some(key) => self.heads.push((key, id)),
                None => run.queued = false,
            }
            if run.queued || run.open {
                self.runs[id] = Some(run);
            } else {
                self.free.push(id);
            }
        }
        true
    }

    /// The key of `run`'s next frame, dropping its empty segments and those whose
    /// output is gone; `None` when it has no frames.
    fn head_of(&self, run: &mut Run) -> Option<Key> {
        while let Some(seg) = run.segments.front() {
            if let Some(out) = self.output(seg.slot).filter(|_| !seg.frames.is_empty()) {
                let i = seg.frames.start;
                return Some((out.ts[i], run.stream, seg.slot, i));
            }
            run.segments.pop_front();
        }
        None
    }

    /// Outputs whose frames were all handed on and that are still queued.
    pub fn finished(&self) -> usize {
        self.finished
    }

    /// Calls `done(output)` for each output whose frames were all handed on: the
    /// stretches of them are written.
    pub fn release(&mut self, mut done: impl FnMut(Output)) {
        if self.finished == 0 {
            return;
        }
        for entry in &mut self.outputs {
            if entry.as_ref().is_some_and(|(_, left)| *left == 0) {
                if let Some((out, _)) = entry.take() {
                    done(out);
                }
            }
        }
        self.finished = 0;
        while self.outputs.front().is_some_and(Option::is_none) {
            self.outputs.pop_front();
            self.base += 1;
        }
    }

    /// Writes the frames of `run` up to `horizon` and before `bound`; returns the key of
    /// its new head, if it has frames left.
    fn take_from(
        &mut self,
        run: &mut Run,
        horizon: u64,
        bound: Option<Key>,
        emit: &mut impl FnMut(u64, &Output, Range<usize>),
    ) -> Option<Key> {
        let stream = run.stream;
        while let Some(seg) = run.segments.front_mut() {
            let Some((out, left)) = usize::try_from(seg.slot - self.base)
                .ok()
                .and_then(|k| self.outputs.get_mut(k))
                .and_then(Option::as_mut)
            else {
                run.segments.pop_front();
                continue;
            };
            let slot = seg.slot;
            let start = seg.frames.start;
            // The segment's keys only grow: its frames up to the horizon and the bound
            // are a prefix, found by galloping (short stretches, two streams' frames
            // finely interleaved, cost a compare or two).
            let ts = &out.ts;
            let end = first_not(seg.frames.clone(), |i| {
                ts[i] <= horizon && bound.is_none_or(|b| (ts[i], stream, slot, i) <= b)
            });
            if end > start {
                emit(slot, out, start..end);
                *left -= end - start;
                seg.frames.start = end;
                if *left == 0 {
                    self.finished += 1;
                }
            }
            if seg.frames.is_empty() {
                run.segments.pop_front();
                continue;
            }
            // Stopped inside the segment: its next frame is the run's head.
            let i = seg.frames.start;
            let ts = out.ts[i];
            return Some((ts, stream, slot, i));
        }
        None
    }

    /// The output queued in `slot`, until it is released.
    pub fn output(&self, slot: u64) -> Option<&Output> {
        usize::try_from(slot - self.base)
            .ok()
            .and_then(|k| self.outputs.get(k))
            .and_then(Option::as_ref)
            .map(|(o, _)| o)
    }
}

/// The first index of `range` where `holds` is false (`range.end` if none), for a
/// `holds` that is true on a prefix of `range` and false after it. Gallops from the
/// start (0, 1, 3, 7, ... past it), then bisects the last step: a prefix of `k` costs
/// about 2 log2 k calls, so a short one costs one or two whatever the range's length.
fn first_not(range: Range<usize>, holds: impl Fn(usize) -> bool) -> usize {
    // Probes at start, start + 1, start + 3, start + 7, ...
    let (mut lo, mut probe, mut gap) = (range.start, range.start, 1usize);
    let mut hi = loop {
        if probe >= range.end {
            break range.end;
        }
        if !holds(probe) {
            break probe;
        }
        lo = probe + 1;
        probe = probe.saturating_add(gap);
        gap = gap.saturating_mul(2);
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
