//! Classic pcap records built outside the sink: by the decoder workers
//! ([`RecordFormat::push`]), and for the direct path's zero-copy `-w`
//! ([`RoundRecords`]): a round's records as pieces for `writev`, the larger frames'
//! bytes left where the source keeps them (the kernel's ring) and only their 16-byte
//! headers built here.
use std::io::{IoSlice, Write};

use crate::output::write_all_vectored;
use crate::packet::{Frame, LinkType};

/// Classic pcap records as a [`PcapSink`](super::PcapSink) writes them: a 16-byte
/// header (seconds, micro- or nanoseconds, captured and original length) and the frame
/// cut to the snap length. What [`FrameSink::record_format`](super::FrameSink) hands
/// the decoder workers and the direct path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordFormat {
    pub nano: bool,
    pub snaplen: u32,
    /// The file's link type: frames of another are not written.
    pub link: LinkType,
}

impl RecordFormat {
    /// Appends `frame`'s record to `out`; false (nothing appended) when its link type
    /// is not the file's.
    #[inline]
    pub fn push(&self, frame: &Frame<'_>, out: &mut Vec<u8>) -> bool {
        if frame.meta.link != self.link {
            return false;
        }
        let cap = captured(self.snaplen, frame.data.len());
        let data = frame.data.get(..cap).unwrap_or(frame.data);
        out.extend_from_slice(&record_header(self.nano, frame, data.len()));
        out.extend_from_slice(data);
        true
    }
}

/// The 16-byte header of a classic pcap record of `frame` holding `cap` bytes.
#[inline]
pub(super) fn record_header(nano: bool, frame: &Frame<'_>, cap: usize) -> [u8; 16] {
    let secs = (frame.meta.ts_ns / 1_000_000_000) as u32;
    let nanos = (frame.meta.ts_ns % 1_000_000_000) as u32;
    let frac = if nano { nanos } else { nanos / 1000 };
    let mut rec = [0u8; 16];
    rec[0..4].copy_from_slice(&secs.to_le_bytes());
    rec[4..8].copy_from_slice(&frac.to_le_bytes());
    rec[8..12].copy_from_slice(&(cap as u32).to_le_bytes());
    rec[12..16].copy_from_slice(&frame.meta.orig_len.to_le_bytes());
    rec
}

/// Bytes of a frame's data a record holds under snap length `snaplen` (0: all).
pub(super) fn captured(snaplen: u32, len: usize) -> usize {
    match snaplen {
        0 => len,
        n => len.min(n as usize),
    }
}

/// Most slices one `writev` takes on Linux (`IOV_MAX`, `UIO_MAXIOV`); more fail with
/// `EINVAL`.
pub const IOV_MAX: usize = 1024;

/// Frames with fewer bytes than this are copied next to their header rather than
/// written from where they are. A slice of its own costs the kernel a few tens of ns
/// (one more segment to import and walk), as much as copying some hundred bytes here;
/// and many small frames in one copied stretch are one slice.
pub const POINT_FROM: usize = 128;

/// A piece of a round's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// Bytes `start..end` of the builder's own buffer (headers, small frames).
    Own(usize, usize),
    /// The first `len` bytes of the round's frame `index`.
    Frame(usize, usize),
}

/// The records of one round of frames, as slices for `writev`: each frame's header,
/// and the frames under [`POINT_FROM`] bytes, in a buffer of its own; the other
/// frames' bytes where they are. Built by [`RoundRecords::build`] and written by
/// [`RoundRecords::write_to`] with the same frames.
#[derive(Debug, Default)]
pub struct RoundRecords {
    own: Vec<u8>,
    pieces: Vec<Piece>,
    /// Where each record ends, in bytes from the round's first record.
    ends: Vec<u64>,
    /// Frames left out: their link type is not the file's.
    skipped: u64,
}

impl RoundRecords {
    /// The records of `frames` in `format` (frames of another link type are left out).
    pub fn build(&mut self, format: &RecordFormat, frames: &[Frame<'_>]) {
        let Self {
            own,
            pieces,
            ends,
            skipped,
        } = self;
        own.clear();
        pieces.clear();
        ends.clear();
        *skipped = 0;
        let (mut total, mut start) = (0u64, 0usize);
        for (index, frame) in frames.iter().enumerate() {
            if frame.meta.link != format.link {
                *skipped += 1;
                continue;
            }
            let cap = captured(format.snaplen, frame.data.len()).min(frame.data.len());
            own.extend_from_slice(&record_header(format.nano, frame, cap));
            if cap < POINT_FROM {
                own.extend_from_slice(frame.data.get(..cap).unwrap_or(&[]));
            } else {
                pieces.push(Piece::Own(start, own.len()));
                pieces.push(Piece::Frame(index, cap));
                start = own.len();
            }
            total += 16 + cap as u64;
            ends.push(total);
        }
        if start < own.len() {
            pieces.push(Piece::Own(start, own.len()));
        }
    }

    /// Records built.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Frames the last build left out (another link type).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Slices the records take (each at most [`IOV_MAX`] to a `writev`).
    pub fn slices(&self) -> usize {
        self.pieces.len()
    }

    fn bytes_of<'a>(&'a self, piece: Piece, frames: &[Frame<'a>]) -> &'a [u8] {
        match piece {
            Piece::Own(start, end) => self.own.get(start..end).unwrap_or(&[]),
            Piece::Frame(index, len) => frames
                .get(index)
                .and_then(|f| f.data.get(..len))
                .unwrap_or(&[]),
        }
    }

    /// Writes the records to `out`, [`IOV_MAX`] slices a `writev` at most, going on
    /// where a short write stopped; `frames` are the ones [`RoundRecords::build`] was
    /// given. Returns the records `out` took whole (all of them, or those before the
    /// error: a pipe closed part way counts exactly what reached it) and the error.
    pub fn write_to(
        &self,
        frames: &[Frame<'_>],
        out: &mut dyn Write,
    ) -> (u64, std::io::Result<()>) {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(self.pieces.len().min(IOV_MAX));
        let mut taken = 0u64;
        for chunk in self.pieces.chunks(IOV_MAX) {
            slices.clear();
            slices.extend(
                chunk
                    .iter()
                    .map(|&p| IoSlice::new(self.bytes_of(p, frames))),
            );
            let (n, result) = write_all_vectored(out, &mut slices);
            taken += n as u64;
            if let Err(e) = result {
                return (self.records_within(taken), Err(e));
            }
        }
        (self.ends.len() as u64, Ok(()))
    }

    /// Records whose bytes all lie within the first `taken`.
    fn records_within(&self, taken: u64) -> u64 {
        self.ends.partition_point(|&end| end <= taken) as u64
    }
}

#[cfg(test)]
#[path = "pcap_records_tests.rs"]
mod tests;
