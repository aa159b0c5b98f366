//! Puts the outputs of several fanout workers back into one stream in timestamp order.
//!
//! Each worker reads its own AF_PACKET socket, so no one numbers the frames in capture
//! order; their kernel timestamps are the order. Every queued frame of every worker
//! sits in one min-heap by timestamp; the earliest is written once no worker can still
//! send an earlier one. Each output carries a watermark, a time below which the worker
//! will send no more frames (a quiet worker sends outputs with only a watermark, see
//! `fanout`; `u64::MAX` means it has ended), and a worker's own frames may run
//! backwards by up to [`REORDER_SLACK_NS`], so a frame at `t` is written when every
//! worker's watermark or latest frame has passed `t + REORDER_SLACK_NS`.
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
};

use super::Output;

/// How far one socket's own timestamps may run backwards. The kernel stamps a frame on
/// the CPU that receives it, and frames of two CPUs reach one socket's ring in the
/// order their softirqs get there, not in stamp order: 146 us apart at most in 200k
/// frames from trafgen on both CPUs of the development VM. A frame is written only when
/// every stream has passed its time by this much, so the output is in timestamp order
/// at the cost of this much more delay.
pub const REORDER_SLACK_NS: u64 = 1_000_000;

struct Stream {
    /// A time below which the worker said it will send no more frames.
    watermark: u64,
    /// The latest timestamp among the frames it sent.
    latest: u64,
}

pub(super) struct Merger {
    streams: Vec<Stream>,
    slack_ns: u64,
    /// Queued outputs by slot (slot `base + i` at index `i`), with the count of their
    /// frames not yet written; `None` once written.
    outputs: VecDeque<Option<(Output, usize)>>,
    base: u64,
    next_slot: u64,
    /// Every queued frame: (timestamp, stream, slot, index in the output).
    frames: BinaryHeap<Reverse<(u64, usize, u64, usize)>>,
}

impl Merger {
    pub fn new(streams: usize) -> Self {
        Self::with_slack(streams, REORDER_SLACK_NS)
    }

    fn with_slack(streams: usize, slack_ns: u64) -> Self {
        Self {
            streams: (0..streams)
                .map(|_| Stream {
                    watermark: 0,
                    latest: 0,
                })
                .collect(),
            slack_ns,
            outputs: VecDeque::new(),
            base: 0,
            next_slot: 0,
            frames: BinaryHeap::new(),
        }
    }

    /// Queues an output; returns it back when it holds no frames (watermark only).
    pub fn push(&mut self, out: Output) -> Option<Output> {
        let Some(s) = self.streams.get_mut(out.stream) else {
            return Some(out);
        };
        s.watermark = s.watermark.max(out.watermark);
        if out.batch.is_empty() {
            return Some(out);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        for (i, f) in out.batch.iter().enumerate() {
            s.latest = s.latest.max(f.meta.ts_ns);
            self.frames
                .push(Reverse((f.meta.ts_ns, out.stream, slot, i)));
        }
        let n = out.batch.len();
        self.outputs.push_back(Some((out, n)));
        None
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

    /// Calls `emit(output, frame index)` for each frame that can be written now, in
    /// timestamp order (ties: stream order, then arrival), and `done(output)` for each
    /// output fully written.
    pub fn drain(&mut self, mut emit: impl FnMut(&Output, usize), mut done: impl FnMut(Output)) {
        let horizon = self.horizon();
        while let Some(&Reverse((ts, _, slot, i))) = self.frames.peek() {
            if ts > horizon {
                return;
            }
            self.frames.pop();
            let Some(entry) = usize::try_from(slot - self.base)
                .ok()
                .and_then(|k| self.outputs.get_mut(k))
            else {
                continue;
            };
            let Some((out, left)) = entry.as_mut() else {
                continue;
            };
            emit(out, i);
            *left -= 1;
            if *left == 0 {
                if let Some((out, _)) = entry.take() {
                    done(out);
                }
                while self.outputs.front().is_some_and(Option::is_none) {
                    self.outputs.pop_front();
                    self.base += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::packet::{Batch, Direction, FrameMeta, LinkType};

    fn out(stream: usize, ts: &[u64], watermark: u64) -> Output {
        let mut batch = Batch::default();
        for &t in ts {
            let meta = FrameMeta {
                ts_ns: t,
                orig_len: 1,
                ifindex: 0,
                direction: Direction::In,
                link: LinkType::Ethernet,
                iface: 0,
                drops: 0,
            };
            batch.push(meta, &[t as u8]);
        }
        Output {
            seq: 0,
            stream,
            text: Vec::new(),
            ends: Vec::new(),
            watermark,
            batch: Arc::new(batch),
            deferred: Default::default(),
            flows: Vec::new(),
        }
    }

    fn written(m: &mut Merger) -> Vec<u64> {
        let mut got = Vec::new();
        m.drain(
            |o, i| got.push(o.batch.get(i).map_or(0, |f| f.meta.ts_ns)),
            |_| {},
        );
        got
    }

    #[test]
    fn interleaves_by_timestamp_and_waits_for_quiet_streams() {
        let mut m = Merger::with_slack(2, 0);
        assert!(m.push(out(0, &[1, 4, 6], 0)).is_none());
        // Stream 1 has said nothing yet: it might still send a frame at time 0.
        assert_eq!(written(&mut m), Vec::<u64>::new());
        assert!(m.push(out(1, &[2, 3], 0)).is_none());
        // 1, 2, 3 can go; 4 must wait until stream 1 says it has nothing before 4.
        assert_eq!(written(&mut m), vec![1, 2, 3]);
        assert!(m.push(out(1, &[], 5)).is_some());
        assert_eq!(written(&mut m), vec![4]);
        assert!(m.push(out(1, &[], u64::MAX)).is_some());
        assert_eq!(written(&mut m), vec![6]);
    }

    #[test]
    fn everything_comes_out_once_all_streams_end() {
        let mut m = Merger::with_slack(3, 0);
        m.push(out(0, &[5, 9], 0));
        m.push(out(2, &[1, 7], 0));
        assert_eq!(written(&mut m), Vec::<u64>::new());
        m.end_all();
        assert_eq!(written(&mut m), vec![1, 5, 7, 9]);
    }

    #[test]
    fn equal_timestamps_keep_stream_order_and_outputs_are_returned() {
        let mut m = Merger::with_slack(2, 0);
        m.push(out(1, &[3], u64::MAX));
        m.push(out(0, &[3], u64::MAX));
        let (mut got, mut done) = (Vec::new(), 0);
        m.drain(|o, _| got.push(o.stream), |_| done += 1);
        assert_eq!(got, vec![0, 1]);
        assert_eq!(done, 2);
    }

    #[test]
    fn frames_of_one_stream_out_of_order_come_out_sorted_within_the_slack() {
        // Stream 0's ring holds 10, then 5 (two CPUs); stream 1 has reached 30.
        let mut m = Merger::with_slack(2, 10);
        m.push(out(0, &[10, 5], 0));
        m.push(out(1, &[30], 0));
        // Stream 0 has only reached 10: a frame down to 0 may still come from it.
        assert_eq!(written(&mut m), Vec::<u64>::new());
        m.push(out(0, &[8, 25], 0));
        // Stream 0 reached 25: everything up to 15 is complete.
        assert_eq!(written(&mut m), vec![5, 8, 10]);
        m.end_all();
        assert_eq!(written(&mut m), vec![25, 30]);
    }
}
