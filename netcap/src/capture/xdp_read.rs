//! Reading an [`XdpSource`]'s rings: frames one by one ([`Source::visit`]) or as a
//! round held in the rings until its consumer returns ([`Source::visit_round`]).
use netcap_common::{RecordHeader, DIR_OUT};

use super::{monotonic_ns, XdpSource};
use crate::{
    capture::{
        rings::Place,
        round::{RoundFrames, RoundLimit},
        Error, Fill,
    },
    packet::{Direction, Frame, FrameMeta, LinkType},
};

/// What a round keeps from one to the next: the records' places and the frames'
/// vector (their allocations).
#[derive(Default)]
pub(super) struct RoundState {
    places: Vec<Place>,
    frames: RoundFrames,
}

/// The timestamp of a ring record (0 for one too short to hold a header).
fn record_ts(rec: &[u8]) -> u64 {
    rec.first_chunk::<8>().map_or(0, |b| u64::from_ne_bytes(*b))
}

/// Parses one ring record; `None` if it is shorter than its header says.
fn parse_record(rec: &[u8]) -> Option<(RecordHeader, &[u8])> {
    let head = rec.get(..size_of::<RecordHeader>())?;
    // SAFETY: `head` has exactly size_of::<RecordHeader>() bytes, RecordHeader is
    // plain-old-data (any bit pattern is valid) and read_unaligned needs no alignment.
    let hdr = unsafe { head.as_ptr().cast::<RecordHeader>().read_unaligned() };
    let data = rec.get(size_of::<RecordHeader>()..)?;
    let data = data.get(..hdr.cap_len as usize)?;
    Some((hdr, data))
}

/// The frame of a record's header and bytes, with the clocks' offset applied.
#[inline]
fn frame<'a>(hdr: &RecordHeader, data: &'a [u8], mono_to_real_ns: i64) -> Frame<'a> {
    Frame {
        meta: FrameMeta {
            ts_ns: (hdr.ts_ns as i64 + mono_to_real_ns) as u64,
            orig_len: hdr.frame_len,
            ifindex: hdr.ifindex,
            direction: if hdr.direction == DIR_OUT {
                Direction::Out
            } else {
                Direction::In
            },
            link: LinkType::Ethernet,
            iface: 0,
            drops: 0,
        },
        data,
    }
}

impl XdpSource {
    pub(super) fn read_each(
        &mut self,
        f: &mut dyn FnMut(&Frame<'_>) -> bool,
    ) -> Result<Fill, Error> {
        let now = monotonic_ns();
        let Self {
            rings,
            mono_to_real_ns,
            delay_us,
            delay_seq,
            ..
        } = self;
        rings.visit(record_ts, |rec| {
            // A record the kernel wrote is never malformed; if one were, skipping it is
            // the safe reading (the kernel counted it as captured, so it shows as a
            // difference between `captured` and the frames user space handled).
            let Some((hdr, data)) = parse_record(rec) else {
                return true;
            };
            super::super::sample_delay(delay_us, delay_seq, now.saturating_sub(hdr.ts_ns) / 1000);
            f(&frame(&hdr, data, *mono_to_real_ns))
        });
        self.check_iface()
    }

    /// One round: the records are taken from the rings (merged by timestamp), handed
    /// to `f` together, and their space published back to the kernel after `f` returns.
    pub(super) fn read_round(
        &mut self,
        limit: RoundLimit,
        f: &mut dyn FnMut(&[Frame<'_>]),
    ) -> Result<Fill, Error> {
        let now = monotonic_ns();
        let Self {
            rings,
            mono_to_real_ns,
            delay_us,
            delay_seq,
            round,
            ..
        } = self;
        let mut places = std::mem::take(&mut round.places);
        places.clear();
        let mut bytes = 0usize;
        rings.visit_held(record_ts, |place, rec| {
            places.push(place);
            bytes += rec.len().saturating_sub(size_of::<RecordHeader>());
            limit.more(places.len(), bytes)
        });
        let mut frames = round.frames.take();
        for &place in &places {
            // As in `read_each`: a malformed record is skipped.
            let Some((hdr, data)) = parse_record(rings.record(place)) else {
                continue;
            };
            super::super::sample_delay(delay_us, delay_seq, now.saturating_sub(hdr.ts_ns) / 1000);
            frames.push(frame(&hdr, data, *mono_to_real_ns));
        }
        if !frames.is_empty() {
            f(&frames);
        }
        round.frames.give_back(frames);
        round.places = places;
        rings.release();
        self.check_iface()
    }
}
