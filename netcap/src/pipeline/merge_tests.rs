use std::{cmp::Reverse, collections::BinaryHeap, sync::Arc};

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
        ts: ts.to_vec(),
        watermark,
        frames: ts.len(),
        batch: Arc::new(batch),
        records: Vec::new(),
        record_ends: Vec::new(),
        records_skipped: 0,
        deferred: Default::default(),
        flows: Vec::new(),
    }
}

/// What a drain writes: (stream, timestamp) per frame, and the outputs finished.
fn drained(m: &mut Merger) -> (Vec<(usize, u64)>, usize) {
    let (mut got, mut done) = (Vec::new(), 0);
    m.drain(|_, o, frames| got.extend(frames.map(|i| (o.stream, o.ts[i]))));
    let finished = m.finished();
    m.release(|_| done += 1);
    assert_eq!(finished, done, "finished() counts what release() returns");
    (got, done)
}

fn written(m: &mut Merger) -> Vec<u64> {
    drained(m).0.into_iter().map(|(_, t)| t).collect()
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
    let (got, done) = drained(&mut m);
    assert_eq!(got, vec![(0, 3), (1, 3)]);
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

#[test]
fn bursts_are_handed_on_in_one_piece() {
    let mut m = Merger::with_slack(2, 0);
    m.push(out(0, &[1, 2, 3, 7, 8, 9], u64::MAX));
    m.push(out(1, &[4, 5, 6, 10, 11], u64::MAX));
    let mut stretches = Vec::new();
    m.drain(|_, o, frames| stretches.push((o.stream, frames)));
    assert_eq!(
        stretches,
        vec![(0, 0..3), (1, 0..3), (0, 3..6), (1, 3..5)],
        "one call per burst, not per frame"
    );
}

#[test]
fn a_run_goes_on_across_outputs() {
    let mut m = Merger::with_slack(2, 0);
    m.push(out(0, &[1, 2], 0));
    m.push(out(0, &[3, 4], 0));
    m.push(out(1, &[10], u64::MAX));
    let (got, done) = drained(&mut m);
    assert_eq!(got, vec![(0, 1), (0, 2), (0, 3), (0, 4)]);
    assert_eq!(done, 2);
    m.end_all();
    assert_eq!(drained(&mut m), (vec![(1, 10)], 1));
}

/// The order the merge must give, as the writer had it before it merged runs: every
/// queued frame in one heap by (timestamp, stream, arrival, index), written while it
/// is not past the horizon.
struct Reference {
    streams: Vec<(u64, u64)>,
    slack: u64,
    slot: u64,
    frames: BinaryHeap<Reverse<(u64, usize, u64, usize)>>,
}

impl Reference {
    fn push(&mut self, stream: usize, ts: &[u64], watermark: u64) {
        let s = &mut self.streams[stream];
        s.0 = s.0.max(watermark);
        if ts.is_empty() {
            return;
        }
        for (i, &t) in ts.iter().enumerate() {
            s.1 = s.1.max(t);
            self.frames.push(Reverse((t, stream, self.slot, i)));
        }
        self.slot += 1;
    }

    fn drain(&mut self) -> Vec<(usize, u64)> {
        let horizon = self
            .streams
            .iter()
            .map(|&(w, l)| match w {
                u64::MAX => u64::MAX,
                w => w.max(l).saturating_sub(self.slack),
            })
            .min()
            .unwrap_or(u64::MAX);
        let mut got = Vec::new();
        while let Some(&Reverse((t, s, _, _))) = self.frames.peek() {
            if t > horizon {
                break;
            }
            self.frames.pop();
            got.push((s, t));
        }
        got
    }
}

/// A small xorshift generator: the test is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn same_order_as_a_heap_of_every_frame() {
    same_order_as_the_reference(0x9e37_79b9_7f4a_7c15, 3, 6, 5);
}

/// Streams whose time steps back every other frame make more runs at once than
/// [`FEW_HEADS`]: the heads move to a binary heap and back, and the order stays.
#[test]
fn same_order_with_many_runs_at_once() {
    same_order_as_the_reference(0x2545_f491_4f6c_dd1d, 4, 24, 2);
}

/// Streams in order whose frames interleave finely, with ties, in outputs of up to 63
/// frames: the turns the merge takes between runs (`Merger::take_turns`), two of them,
/// up to six, and up to twelve (more than the list holds: from the heap).
#[test]
fn same_order_with_streams_taking_turns() {
    same_order_as_the_reference(0x5851_f42d_4c95_7f2d, 2, 64, u64::MAX);
    same_order_as_the_reference(0x1405_7b7e_f767_814f, 6, 64, u64::MAX);
    same_order_as_the_reference(0x9e6c_63d0_676a_9a99, 12, 64, u64::MAX);
}

/// 300 random cases of 1 to `max_streams` streams, outputs of up to `max_frames - 1`
/// frames, a frame stepping back in time one time in `back_every`: the merge writes
/// what [`Reference`] does, in its order.
fn same_order_as_the_reference(seed: u64, max_streams: usize, max_frames: u64, back_every: u64) {
    let mut rng = Rng(seed);
    for case in 0..300 {
        let streams = 1 + (case % max_streams);
        let slack = rng.next(4) * 5;
        let mut m = Merger::with_slack(streams, slack);
        let mut r = Reference {
            streams: vec![(0, 0); streams],
            slack,
            slot: 0,
            frames: BinaryHeap::new(),
        };
        let mut clock = vec![0u64; streams];
        let (mut got, mut want) = (Vec::new(), Vec::new());
        let mut outputs = 0;
        let mut done = 0;
        for _ in 0..40 {
            let s = rng.next(streams as u64) as usize;
            let n = rng.next(max_frames) as usize;
            // Mostly forward in time, sometimes back by up to the slack, with ties.
            let ts: Vec<u64> = (0..n)
                .map(|_| {
                    clock[s] += rng.next(4);
                    if rng.next(back_every) == 0 {
                        clock[s].saturating_sub(rng.next(slack + 1))
                    } else {
                        clock[s]
                    }
                })
                .collect();
            let watermark = if rng.next(4) == 0 { clock[s] } else { 0 };
            r.push(s, &ts, watermark);
            if m.push(out(s, &ts, watermark)).is_none() {
                outputs += 1;
            }
            want.extend(r.drain());
            let (g, d) = drained(&mut m);
            got.extend(g);
            done += d;
            assert_eq!(got, want, "case {case}");
        }
        m.end_all();
        r.streams.iter_mut().for_each(|s| s.0 = u64::MAX);
        let (g, d) = drained(&mut m);
        got.extend(g);
        want.extend(r.drain());
        assert_eq!(got, want, "case {case}, at the end");
        assert_eq!(done + d, outputs, "case {case}: every output returned");
    }
}

#[test]
fn first_not_finds_every_prefix_length() {
    for start in [0usize, 3] {
        for len in 0..70 {
            let range = start..start + len;
            for k in 0..=len {
                let calls = std::cell::Cell::new(0);
                let got = first_not(range.clone(), |i| {
                    calls.set(calls.get() + 1);
                    assert!(range.contains(&i), "probed {i} outside {range:?}");
                    i < start + k
                });
                assert_eq!(got, start + k, "range {range:?}, prefix {k}");
                if k <= 1 && len > 1 {
                    assert!(calls.get() <= 2, "prefix {k} took {} probes", calls.get());
                }
            }
        }
    }
}
