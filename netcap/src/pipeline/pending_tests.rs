use std::{
    io::{IoSlice, Write},
    sync::Arc,
};

use super::*;

/// An output of `lines` lines of text, `width` bytes each (the last byte a newline).
fn out(lines: usize, width: usize, tag: u8) -> Output {
    let mut text = Vec::new();
    let mut ends = Vec::new();
    for i in 0..lines {
        text.extend(std::iter::repeat_n(tag.wrapping_add(i as u8), width - 1));
        text.push(b'\n');
        ends.push(text.len() as u32);
    }
    Output {
        seq: 0,
        stream: 0,
        text,
        ends,
        ts: vec![0; lines],
        watermark: 0,
        frames: lines,
        batch: Arc::new(crate::packet::Batch::default()),
        records: Vec::new(),
        record_ends: Vec::new(),
        records_skipped: 0,
        deferred: Default::default(),
        flows: Vec::new(),
    }
}

/// Takes at most `per_call` bytes of the first slice per call, and `limit` bytes in
/// all; then fails as a pipe closed by its reader does.
struct Pipe {
    got: Vec<u8>,
    per_call: usize,
    limit: usize,
    calls: usize,
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        let room = self.limit - self.got.len();
        if room == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.per_call).min(room);
        self.got.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        // Several slices per call, as writev takes them, up to `per_call` bytes.
        self.calls += 1;
        let mut n = 0;
        for b in bufs {
            let room = (self.limit - self.got.len()).min(self.per_call - n);
            if room == 0 {
                break;
            }
            let k = b.len().min(room);
            self.got.extend_from_slice(&b[..k]);
            n += k;
            if k < b.len() {
                break;
            }
        }
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Two large outputs (held) and a small one (copied), in stretches that take turns,
/// with header text between: the queue and the bytes it must write, and where each
/// frame's text ends in them.
fn queued(held: &mut Held) -> (Pending, Vec<u8>, Vec<usize>) {
    let big = COPY_BELOW / 50 + 1;
    let a = held.hold(out(big, 50, b'a'));
    let b = held.hold(out(big, 60, b'A'));
    let c = held.hold(out(5, 40, b'0'));
    let mut p = Pending::new(Part::Text);
    p.push_copy(b"header\n", std::iter::empty());
    let (mut want, mut ends) = (b"header\n".to_vec(), Vec::new());
    let mut push = |p: &mut Pending, slot: u64, frames: Range<usize>| {
        let o = held.output(slot).expect("held");
        p.push_output(slot, o, frames.clone());
        for i in frames {
            let start = i.checked_sub(1).map_or(0, |j| o.ends[j] as usize);
            want.extend_from_slice(&o.text[start..o.ends[i] as usize]);
            ends.push(want.len());
        }
    };
    push(&mut p, a, 0..3);
    push(&mut p, b, 0..7);
    push(&mut p, c, 0..2);
    push(&mut p, a, 3..big);
    push(&mut p, c, 2..5);
    push(&mut p, b, 7..big);
    (p, want, ends)
}

#[test]
fn writes_every_piece_in_order_and_holds_only_large_outputs() {
    let mut held = Held::default();
    let (mut p, want, ends) = queued(&mut held);
    assert!(
        p.holds_outputs(),
        "the large outputs are written from their buffers"
    );
    assert_eq!(p.bytes(), want.len());
    let mut pipe = Pipe {
        got: Vec::new(),
        per_call: usize::MAX,
        limit: usize::MAX,
        calls: 0,
    };
    let (frames, result) = p.write_to(&mut pipe, &held);
    assert!(result.is_ok());
    assert_eq!(pipe.got, want, "byte for byte, in order");
    assert_eq!(frames, ends.len() as u64);
    assert_eq!(pipe.calls, 1, "one writev");
    assert!(p.is_empty() && !p.holds_outputs() && p.bytes() == 0);
}

#[test]
fn small_outputs_are_copied_and_need_not_be_held() {
    let mut held = Held::default();
    let slot = held.hold(out(10, 80, b'x'));
    let mut p = Pending::new(Part::Text);
    p.push_output(slot, held.output(slot).expect("held"), 0..4);
    p.push_output(slot, held.output(slot).expect("held"), 4..10);
    assert!(!p.holds_outputs());
    // Released before the write: the copy is all the queue needs.
    let text = held.output(slot).expect("held").text.clone();
    held.release(drop);
    let mut got = Vec::new();
    let (frames, result) = p.write_to(&mut got, &held);
    assert!(result.is_ok());
    assert_eq!((got, frames), (text, 10));
}

#[test]
fn short_writes_are_resumed_where_they_stopped() {
    let mut held = Held::default();
    let (mut p, want, ends) = queued(&mut held);
    let mut pipe = Pipe {
        got: Vec::new(),
        per_call: 777,
        limit: usize::MAX,
        calls: 0,
    };
    let (frames, result) = p.write_to(&mut pipe, &held);
    assert!(result.is_ok());
    assert_eq!(pipe.got, want);
    assert_eq!(frames, ends.len() as u64);
    assert!(pipe.calls > 1);
}

#[test]
fn a_pipe_closed_mid_write_counts_exactly_the_frames_it_took() {
    let mut held = Held::default();
    let (_, want, ends) = queued(&mut held);
    // Every place the pipe can close: inside the header, inside a line, at a line's
    // end, at a piece's end, after everything.
    let mut limits: Vec<usize> = (0..want.len()).step_by(4999).collect();
    let pieces = [3, 10, 12, 1311, 1314, ends.len() - 1];
    limits.extend(
        pieces
            .iter()
            .flat_map(|&k| [ends[k] - 1, ends[k], ends[k] + 1]),
    );
    limits.extend([0, 7, want.len() - 1, want.len()]);
    for limit in limits.into_iter().filter(|&l| l <= want.len()) {
        for per_call in [1000, usize::MAX] {
            let (mut p, ..) = queued(&mut held);
            let mut pipe = Pipe {
                got: Vec::new(),
                per_call,
                limit,
                calls: 0,
            };
            let (frames, result) = p.write_to(&mut pipe, &held);
            assert_eq!(pipe.got, want[..limit], "limit {limit}");
            let whole = ends.iter().filter(|&&e| e <= limit).count() as u64;
            assert_eq!(frames, whole, "limit {limit}, {per_call} bytes per call");
            assert_eq!(result.is_err(), limit < want.len(), "limit {limit}");
            assert!(p.is_empty(), "nothing left queued after a failed write");
        }
    }
}

#[test]
fn records_are_handed_over_as_slices() {
    let mut held = Held::default();
    let mut o = out(3, 10, b'r');
    std::mem::swap(&mut o.text, &mut o.records);
    std::mem::swap(&mut o.ends, &mut o.record_ends);
    let want = o.records.clone();
    let slot = held.hold(o);
    let mut p = Pending::new(Part::Records);
    p.push_output(slot, held.output(slot).expect("held"), 0..2);
    p.push_output(slot, held.output(slot).expect("held"), 2..3);
    let mut got = Vec::new();
    let (frames, result) = p.write_with(&held, |slices| {
        slices.iter().for_each(|s| got.extend_from_slice(s));
        Ok(())
    });
    assert!(result.is_ok());
    assert_eq!((got, frames), (want, 3));
}

#[test]
fn short_stretches_of_large_outputs_are_copied_into_one_slice() {
    let mut held = Held::default();
    let big = COPY_BELOW / 50 + 1;
    let a = held.hold(out(big, 50, b'a'));
    let b = held.hold(out(big, 60, b'A'));
    let mut p = Pending::new(Part::Text);
    let mut want = Vec::new();
    // Stretches of one and two lines, taking turns: none is held, all are one slice.
    for k in 0..100 {
        let (slot, frames) = if k % 2 == 0 {
            (a, k / 2..k / 2 + 1)
        } else {
            (b, k..k + 2)
        };
        let o = held.output(slot).expect("held");
        p.push_output(slot, o, frames.clone());
        let start = frames
            .start
            .checked_sub(1)
            .map_or(0, |j| o.ends[j] as usize);
        want.extend_from_slice(&o.text[start..o.ends[frames.end - 1] as usize]);
    }
    assert!(!p.holds_outputs(), "short stretches are copied");
    let mut pipe = Pipe {
        got: Vec::new(),
        per_call: usize::MAX,
        limit: usize::MAX,
        calls: 0,
    };
    assert_eq!(p.slices(&held).len(), 1, "one slice for all of them");
    let (frames, result) = p.write_to(&mut pipe, &held);
    assert!(result.is_ok());
    assert_eq!((pipe.got, frames, pipe.calls), (want, 150, 1));
}
