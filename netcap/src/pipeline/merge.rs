//! Puts the outputs of several fanout workers back into one stream in timestamp order.
//!
//! Each worker reads its own AF_PACKET socket, so no one numbers the frames in capture
//! order; their kernel timestamps are the order. A worker's own frames come in
//! timestamp order. With every worker's next frame at hand, the earliest is next. When
//! a worker has nothing queued, the writer must know that it will send nothing earlier
//! than the candidate: each output carries a watermark, a time below which the worker
//! will send no more frames (a quiet worker sends outputs with only a watermark, see
//! `fanout`). `u64::MAX` means the worker has ended.
use std::collections::VecDeque;

use super::Output;

struct Stream {
    queue: VecDeque<Output>,
    /// Frames of the front output already written.
    pos: usize,
    watermark: u64,
}

impl Stream {
    fn head_ts(&self) -> Option<u64> {
        let front = self.queue.front()?;
        front.batch.get(self.pos).map(|f| f.meta.ts_ns)
    }
}

pub(super) struct Merger {
    streams: Vec<Stream>,
}

impl Merger {
    pub fn new(streams: usize) -> Self {
        Self {
            streams: (0..streams)
                .map(|_| Stream {
                    queue: VecDeque::new(),
                    pos: 0,
                    watermark: 0,
                })
                .collect(),
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
        s.queue.push_back(out);
        None
    }

    /// Treats every stream as ended (their senders are gone).
    pub fn end_all(&mut self) {
        for s in &mut self.streams {
            s.watermark = u64::MAX;
        }
    }

    /// Calls `emit(output, frame index)` for each frame that can be written now, in
    /// timestamp order, and `done(output)` for each output fully written.
    pub fn drain(&mut self, mut emit: impl FnMut(&Output, usize), mut done: impl FnMut(Output)) {
        loop {
            let Some((best, ts)) = self
                .streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, s.head_ts()?)))
                .min_by_key(|&(i, ts)| (ts, i))
            else {
                return;
            };
            // Another stream with nothing queued might still send something earlier.
            let blocked = self
                .streams
                .iter()
                .any(|s| s.queue.is_empty() && s.watermark < ts);
            if blocked {
                return;
            }
            let s = &mut self.streams[best];
            let Some(front) = s.queue.front() else {
                return;
            };
            emit(front, s.pos);
            s.pos += 1;
            if s.pos >= front.batch.len() {
                s.pos = 0;
                if let Some(out) = s.queue.pop_front() {
                    done(out);
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
        let mut m = Merger::new(2);
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
        let mut m = Merger::new(3);
        m.push(out(0, &[5, 9], 0));
        m.push(out(2, &[1, 7], 0));
        assert_eq!(written(&mut m), Vec::<u64>::new());
        m.end_all();
        assert_eq!(written(&mut m), vec![1, 5, 7, 9]);
    }

    #[test]
    fn equal_timestamps_keep_stream_order_and_outputs_are_returned() {
        let mut m = Merger::new(2);
        m.push(out(1, &[3], u64::MAX));
        m.push(out(0, &[3], u64::MAX));
        let (mut got, mut done) = (Vec::new(), 0);
        m.drain(|o, _| got.push(o.stream), |_| done += 1);
        assert_eq!(got, vec![0, 1]);
        assert_eq!(done, 2);
    }
}
