//! Rounds: frames handed on all at once, left where the source keeps them (the
//! kernel's ring) until the consumer is done with them ([`super::Source::visit_round`]).
//!
//! Why: the direct path's `-w` writes a round's frames with `writev` straight from the
//! kernel's memory instead of copying every frame into a buffer first; for that the
//! frames must stay put until the write has returned, so the ring space (the
//! `TPACKET_V3` block, the per-CPU ring's consumer position) goes back to the kernel
//! only after the consumer returns.

use crate::packet::{Batch, Frame};

/// What one round may hold: at most `frames` frames, and frames until their bytes
/// reach `bytes` (the frame that crosses it included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundLimit {
    pub frames: usize,
    pub bytes: usize,
}

impl RoundLimit {
    /// True while a round of `frames` frames and `bytes` bytes may take another.
    #[inline]
    pub fn more(&self, frames: usize, bytes: usize) -> bool {
        frames < self.frames && bytes < self.bytes
    }
}

/// The vector a source puts a round's frames in, its allocation kept from round to
/// round (a round of 64-byte frames holds thousands, and a fresh vector that large
/// each round would cost an allocation and its page faults).
#[derive(Default)]
pub struct RoundFrames(Vec<Frame<'static>>);

impl RoundFrames {
    /// An empty vector for the frames of one round (borrowing the source's memory).
    pub fn take<'a>(&mut self) -> Vec<Frame<'a>> {
        std::mem::take(&mut self.0)
    }

    /// Keeps the allocation of a round's vector for the next round.
    pub fn give_back(&mut self, mut frames: Vec<Frame<'_>>) {
        frames.clear();
        // An empty vector of the same layout: collected in place, no allocation.
        #[expect(
            clippy::unnecessary_filter_map,
            reason = "the map changes the frames' lifetime, which `filter` cannot"
        )]
        let empty = frames.into_iter().filter_map(|_| None).collect();
        self.0 = empty;
    }
}

/// [`super::Source::visit_round`] for a source whose frames do not stay put: the round
/// is copied into a batch first.
pub fn copied(
    source: &mut (impl super::Source + ?Sized),
    limit: RoundLimit,
    f: &mut dyn FnMut(&[Frame<'_>]),
) -> Result<super::Fill, super::Error> {
    let mut batch = Batch::with_capacity(0, 0);
    let fill = source.visit(&mut |frame| {
        batch.push(frame.meta, frame.data);
        limit.more(batch.len(), batch.bytes())
    })?;
    let frames: Vec<Frame<'_>> = batch.iter().collect();
    if !frames.is_empty() {
        f(&frames);
    }
    Ok(fill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Direction, FrameMeta, LinkType};

    #[test]
    fn the_allocation_is_kept_between_rounds() {
        let mut keep = RoundFrames::default();
        let bytes = [1u8; 100];
        let mut v = keep.take();
        v.extend((0..1000).map(|_| Frame {
            meta: FrameMeta {
                ts_ns: 0,
                orig_len: 100,
                ifindex: 0,
                direction: Direction::Unknown,
                link: LinkType::Ethernet,
                iface: 0,
                drops: 0,
            },
            data: &bytes[..],
        }));
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        keep.give_back(v);
        let v: Vec<Frame<'_>> = keep.take();
        assert!(v.is_empty());
        assert_eq!((v.as_ptr() as usize, v.capacity()), (ptr, cap));
    }

    #[test]
    fn a_limit_counts_frames_and_bytes() {
        let l = RoundLimit {
            frames: 3,
            bytes: 100,
        };
        assert!(l.more(2, 99));
        assert!(!l.more(3, 0));
        assert!(!l.more(0, 100));
    }
}
