//! Relative TCP sequence numbers, as `tcpdump -n` prints them, on a parallel pipeline.
//!
//! # tcpdump's rule (`tcp_print` in print-tcp.c, 4.99)
//!
//! Only segments with ACK set take part (and only without `-S`). Both directions of a
//! conversation share one entry, keyed by addresses and ports in a fixed order (the
//! lower port first; equal ports, the lower address); `rev` says the segment goes the
//! other way. The first ACK segment of a conversation, and every SYN-ACK, (re)sets the
//! entry: its sender's base is its `seq`, the peer's base its `ack - 1`, and its own
//! numbers print absolute. Later segments print `seq` (both ends of `seq A:B`) minus
//! their sender's base and `ack` minus the peer's. SACK blocks are relative to the
//! peer's base from the first ACK segment on, the one that set the entry included. A
//! SYN without ACK, a RST without ACK, and any segment under `-S` print absolute.
//!
//! # Why the writer finishes the numbers
//!
//! The bases are the numbers of the first segment *in capture order*, and decoding is
//! parallel: batches go round-robin to the workers, so the frames of one connection are
//! printed by different workers, in any order. The writer is the one stage that sees
//! every frame in capture order (batch sequence order, or the fanout merge's timestamp
//! order). So the worker's printer writes each number absolute and notes, per TCP line,
//! the conversation key, the flags and where each number's digits are in the batch
//! text ([`Deferred`]); the writer's own printer replays the notes in output order,
//! keeps the bases ([`Bases`]) and rewrites the digits that change while it copies the
//! text out. The worker keeps all the decoding and formatting; the writer's extra work
//! per TCP line is one hash lookup on a 37-byte key and a few short copies.
//!
//! The same holds for `-ttt` and `-ttttt`, the time since the previous or the first
//! frame: the worker leaves a hole of fixed width where the line starts
//! ([`super::time::SPAN_HOLE`]) and notes the frame's time; the writer fills it in.
//!
//! Memory: tcpdump keeps every conversation for the whole run. The writer keeps at most
//! [`MAX_CONVERSATIONS`] and forgets them all when a new one would exceed that: a
//! conversation it forgot prints absolute numbers on its next ACK segment and relative
//! ones after it, as tcpdump does for a conversation it joins midway.
use std::collections::HashMap;
use std::ops::Range;

use crate::output::{push_u64, BatchText};

/// Most conversations whose bases the writer keeps: 1M entries are about 80 MB, far
/// more than a capture that can be read line by line has open at once.
pub const MAX_CONVERSATIONS: usize = 1 << 20;

/// A conversation, both directions: addresses and ports in tcpdump's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnKey {
    /// IPv4 addresses fill the first 4 bytes of each half.
    addrs: [u8; 32],
    /// The first address's port in the high half.
    ports: u32,
    v6: bool,
}

impl ConnKey {
    /// The key of a segment `src:sport -> dst:dport` (addresses of 4 or 16 bytes), and
    /// whether the segment goes in the reverse direction of the key.
    pub fn new(src: &[u8], dst: &[u8], sport: u16, dport: u16) -> (Self, bool) {
        let rev = sport > dport || (sport == dport && src > dst);
        let (a, b, pa, pb) = if rev {
            (dst, src, dport, sport)
        } else {
            (src, dst, sport, dport)
        };
        let mut addrs = [0u8; 32];
        let n = a.len().min(16);
        addrs[..n].copy_from_slice(&a[..n]);
        let m = b.len().min(16);
        addrs[16..16 + m].copy_from_slice(&b[..m]);
        let key = Self {
            addrs,
            ports: u32::from(pa) << 16 | u32::from(pb),
            v6: src.len() == 16,
        };
        (key, rev)
    }
}

impl std::hash::Hash for ConnKey {
    /// Five words: a third of what the derived hash (bytes one by one) costs.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for w in self.addrs.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h.write_u64(u64::from_ne_bytes(b));
        }
        h.write_u64(u64::from(self.ports) | u64::from(self.v6) << 32);
    }
}

/// What a number is relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The segment's own sequence space (`seq A:B`).
    Seq,
    /// The peer's sequence space (`ack`).
    Ack,
    /// The peer's, also on the segment that sets the bases (SACK blocks).
    Sack,
}

/// One number printed absolute, at `at..at + len` in the batch text.
#[derive(Clone, Copy, Debug)]
struct Num {
    at: u32,
    len: u8,
    value: u32,
    kind: Kind,
}

/// One TCP line with ACK set.
#[derive(Clone, Copy, Debug)]
struct SeqLine {
    /// Where the frame's text starts in the batch text: its numbers come after.
    at: u32,
    key: ConnKey,
    rev: bool,
    syn: bool,
    seq: u32,
    ack: u32,
    /// End of this line's numbers in `nums` (they start where the line before ends).
    nums_end: u32,
}

/// What the printers of one batch left for the writer: the TCP lines whose numbers
/// depend on earlier frames. Empty for the other formats and under `-S`.
#[derive(Clone, Debug, Default)]
pub struct Deferred {
    lines: Vec<SeqLine>,
    nums: Vec<Num>,
    /// `-ttt`, `-ttttt`: where each frame's time goes ([`super::time::SPAN_HOLE`] is
    /// there) and the frame's time stamp.
    times: Vec<(u32, u64)>,
    /// `-F json`, `-F fields`: where each frame's number goes in the batch text
    /// ([`super::super::number`] inserts it).
    numbers: Vec<u32>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.times.is_empty() && self.numbers.is_empty()
    }

    /// Notes that the frame number goes at `at` of the text (inserted, nothing
    /// replaced).
    pub(crate) fn number(&mut self, at: usize) {
        if let Ok(at) = u32::try_from(at) {
            self.numbers.push(at);
        }
    }

    /// Where frame numbers go, in text order.
    pub(crate) fn numbers(&self) -> &[u32] {
        &self.numbers
    }

    /// Notes the time of a frame whose text starts with a time hole at `at`.
    pub(super) fn time(&mut self, at: usize, ts_ns: u64) {
        if let Ok(at) = u32::try_from(at) {
            self.times.push((at, ts_ns));
        }
    }

    /// Drops what was noted about text at or after `len`: a buffer cut back (the
    /// worker drops the text of a frame whose printing panicked) or a new one.
    pub(crate) fn cut(&mut self, len: usize) {
        while self.lines.last().is_some_and(|l| l.at as usize >= len) {
            self.lines.pop();
        }
        while self.times.last().is_some_and(|t| t.0 as usize >= len) {
            self.times.pop();
        }
        while self.numbers.last().is_some_and(|&n| n as usize >= len) {
            self.numbers.pop();
        }
        self.begin_line();
    }

    /// Drops the numbers of a line that was never ended (its printing panicked).
    pub(super) fn begin_line(&mut self) {
        let nums = self.lines.last().map_or(0, |l| l.nums_end as usize);
        self.nums.truncate(nums);
    }

    /// Notes a number just printed at `at..end` of the text.
    pub(super) fn num(&mut self, at: usize, end: usize, value: u32, kind: Kind) {
        if let (Ok(at), Ok(len)) = (u32::try_from(at), u8::try_from(end - at)) {
            self.nums.push(Num {
                at,
                len,
                value,
                kind,
            });
        }
    }

    /// Ends the line of a frame whose text starts at `at`: the numbers noted since the
    /// last line belong to it.
    pub(super) fn line(
        &mut self,
        at: usize,
        key: ConnKey,
        rev: bool,
        syn: bool,
        seq: u32,
        ack: u32,
    ) {
        let Ok(at) = u32::try_from(at) else { return };
        self.lines.push(SeqLine {
            at,
            key,
            rev,
            syn,
            seq,
            ack,
            nums_end: self.nums.len() as u32,
        });
    }
}

/// The bases of one conversation: those of the key's first and second address.
#[derive(Clone, Copy, Debug)]
struct Base {
    first: u32,
    second: u32,
}

/// The writer's side: every conversation's bases, in capture order, and the time the
/// `-ttt` and `-ttttt` differences are taken from.
#[derive(Debug, Default)]
pub struct Bases {
    map: HashMap<ConnKey, Base, foldhash::fast::RandomState>,
    /// The conversation looked up last: consecutive segments are often of one.
    last: Option<(ConnKey, Base)>,
    /// The previous frame's time (`-ttt`) or the first's (`-ttttt`), in microseconds.
    time_ref: Option<u64>,
    /// `-ttt`: the reference moves to every frame.
    time_follows: bool,
}

/// Copies a batch's text out, replacing ranges on the way, and says where each frame's
/// text ends in the output.
struct Splice<'a> {
    text: &'a [u8],
    /// Where the frames' text ends in `text`.
    end: usize,
    frame_ends: &'a [u32],
    next_end: usize,
    /// Everything before this is copied.
    pos: usize,
}

impl Splice<'_> {
    /// Records the ends of the frames up to `upto`: a frame end at `e >= pos` lands at
    /// `out.len() + e - pos` once the text up to it is copied unchanged.
    fn ends(&mut self, upto: usize, out: &[u8], out_ends: &mut Vec<u32>) {
        while let Some(&e) = self
            .frame_ends
            .get(self.next_end)
            .filter(|&&e| e as usize <= upto)
        {
            let at = out.len() + (e as usize).saturating_sub(self.pos);
            out_ends.push(u32::try_from(at).unwrap_or(u32::MAX));
            self.next_end += 1;
        }
    }

    /// Replaces `text[at..at + len]` with what `f` writes; ranges that do not fit
    /// (a printer bug) are left as printed.
    fn replace(
        &mut self,
        (at, len): (usize, usize),
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
        f: impl FnOnce(&mut Vec<u8>),
    ) {
        if at < self.pos || at + len > self.end {
            return;
        }
        self.ends(at, out, out_ends);
        out.extend_from_slice(&self.text[self.pos..at]);
        f(out);
        self.pos = at + len;
    }

    /// Copies the rest.
    fn finish(mut self, out: &mut Vec<u8>, out_ends: &mut Vec<u32>, frames: usize) {
        self.ends(self.end, out, out_ends);
        out.extend_from_slice(&self.text[self.pos..self.end]);
        // Frames whose end lies outside the text (none, unless the ends are wrong).
        while out_ends.len() < frames {
            out_ends.push(u32::try_from(out.len()).unwrap_or(u32::MAX));
        }
    }
}

impl Bases {
    /// Appends the text of `frames` of a batch to `out`, the numbers `deferred` noted
    /// made relative, and where each frame's text now ends in `out` to `out_ends`.
    /// Offsets that do not fit (a printer bug) leave the text as printed.
    pub fn resolve(
        &mut self,
        batch: BatchText<'_>,
        frames: Range<usize>,
        deferred: &Deferred,
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
    ) {
        let BatchText { text, ends } = batch;
        let Some(last) = frames.end.checked_sub(1) else {
            return;
        };
        let end = ends
            .get(last)
            .map_or(text.len(), |&e| e as usize)
            .min(text.len());
        let begin = frames
            .start
            .checked_sub(1)
            .and_then(|j| ends.get(j))
            .map_or(0, |&e| e as usize)
            .min(end);
        let mut splice = Splice {
            text,
            end,
            frame_ends: ends.get(frames.clone()).unwrap_or(&[]),
            next_end: 0,
            pos: begin,
        };
        let mut times = deferred
            .times
            .iter()
            .skip(deferred.times.partition_point(|t| (t.0 as usize) < begin));
        let mut time = times.next();
        let first = deferred.lines.partition_point(|l| (l.at as usize) < begin);
        let mut nums_start = first
            .checked_sub(1)
            .and_then(|j| deferred.lines.get(j))
            .map_or(0, |l| l.nums_end as usize);
        let lines = deferred.lines.get(first..).unwrap_or(&[]);
        for line in lines.iter().map(Some).chain([None]) {
            let line_at = line.map_or(end, |l| l.at as usize);
            // The times of the frames up to this line's (its own comes first).
            while let Some(&(at, ts)) = time.filter(|t| (t.0 as usize) <= line_at.min(end)) {
                let hole = (at as usize, super::time::SPAN_HOLE.len());
                let (negative, micros) = self.span(ts);
                splice.replace(hole, out, out_ends, |o| {
                    super::time::push_span(o, negative, micros)
                });
                time = times.next();
            }
            let Some(line) = line.filter(|_| line_at < end) else {
                break;
            };
            let nums = deferred
                .nums
                .get(nums_start..line.nums_end as usize)
                .unwrap_or(&[]);
            nums_start = line.nums_end as usize;
            let (own, peer, relative) = self.bases(line);
            for n in nums {
                let base = match n.kind {
                    Kind::Seq if relative => own,
                    Kind::Ack if relative => peer,
                    Kind::Sack => peer,
                    Kind::Seq | Kind::Ack => 0,
                };
                if base != 0 {
                    let at = (n.at as usize, n.len as usize);
                    let v = n.value.wrapping_sub(base);
                    splice.replace(at, out, out_ends, |o| push_u64(o, v.into()));
                }
            }
        }
        splice.finish(out, out_ends, frames.len());
    }

    /// The writer's time for `-ttt` (`follows`) or `-ttttt`.
    pub fn with_time_reference(follows: bool) -> Self {
        Self {
            time_follows: follows,
            ..Self::default()
        }
    }

    /// A frame's time against the reference: whether it is earlier, and by how many
    /// microseconds (tcpdump subtracts microsecond time stamps).
    fn span(&mut self, ts_ns: u64) -> (bool, u64) {
        let us = ts_ns / 1_000;
        let reference = *self.time_ref.get_or_insert(us);
        if self.time_follows {
            self.time_ref = Some(us);
        }
        (us < reference, us.abs_diff(reference))
    }

    /// The segment's own base, its peer's, and whether its `seq` and `ack` print
    /// relative (false on the segment that sets the bases).
    fn bases(&mut self, l: &SeqLine) -> (u32, u32, bool) {
        let found = match self.last {
            _ if l.syn => None,
            Some((k, b)) if k == l.key => Some(b),
            _ => self.map.get(&l.key).copied(),
        };
        let (b, relative) = match found {
            Some(b) => (b, true),
            None => {
                let (own, peer) = (l.seq, l.ack.wrapping_sub(1));
                let b = if l.rev {
                    Base {
                        first: peer,
                        second: own,
                    }
                } else {
                    Base {
                        first: own,
                        second: peer,
                    }
                };
                if self.map.len() >= MAX_CONVERSATIONS && !self.map.contains_key(&l.key) {
                    self.map.clear();
                }
                self.map.insert(l.key, b);
                (b, false)
            }
        };
        self.last = Some((l.key, b));
        if l.rev {
            (b.second, b.first, relative)
        } else {
            (b.first, b.second, relative)
        }
    }
}

#[cfg(test)]
#[path = "seq_tests.rs"]
mod tests;
