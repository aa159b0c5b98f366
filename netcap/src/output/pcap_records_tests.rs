//! Unit tests of `output/pcap_records.rs`: the zero-copy round's slices against the
//! records [`RecordFormat::push`] builds, through writers that split, cut short and
//! close.
use std::io::{IoSlice, Write};

use super::*;
use crate::packet::{Direction, FrameMeta};

/// Frames of every size class: empty, small, just under and at [`POINT_FROM`], large,
/// a GSO super-frame above the snap length; one of another link type.
fn frame_data() -> Vec<(LinkType, Vec<u8>)> {
    let sizes = [
        0usize,
        1,
        60,
        POINT_FROM - 1,
        POINT_FROM,
        1500,
        70_000,
        64,
        9000,
    ];
    let mut v: Vec<(LinkType, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let bytes = (0..n).map(|k| (k * 7 + i) as u8).collect();
            (LinkType::Ethernet, bytes)
        })
        .collect();
    v.insert(3, (LinkType::Raw, vec![0x45; 200]));
    v
}

fn frames(data: &[(LinkType, Vec<u8>)]) -> Vec<Frame<'_>> {
    data.iter()
        .enumerate()
        .map(|(i, (link, d))| Frame {
            meta: FrameMeta {
                ts_ns: 1_700_000_000_123_456_789 + i as u64 * 1_000_001,
                orig_len: d.len() as u32 + 4,
                ifindex: 1,
                direction: Direction::In,
                link: *link,
                iface: 0,
                drops: 0,
            },
            data: d,
        })
        .collect()
}

/// What the buffered path writes: each frame's record, as `RecordFormat::push`.
fn expected(format: &RecordFormat, frames: &[Frame<'_>]) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let skipped = frames.iter().filter(|f| !format.push(f, &mut out)).count();
    (out, skipped as u64)
}

/// A writer that takes at most `per_call` bytes a call, refuses more than [`IOV_MAX`]
/// slices as Linux does, and fails with `BrokenPipe` once it has taken `close_after`.
struct Limited {
    got: Vec<u8>,
    per_call: usize,
    close_after: usize,
    calls: usize,
}

impl Limited {
    fn new(per_call: usize, close_after: usize) -> Self {
        Self {
            got: Vec::new(),
            per_call,
            close_after,
            calls: 0,
        }
    }
}

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        if bufs.len() > IOV_MAX {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.calls += 1;
        let room = self.close_after - self.got.len();
        if room == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let mut n = self.per_call.min(room);
        let before = self.got.len();
        for b in bufs {
            let take = b.len().min(n);
            self.got.extend_from_slice(&b[..take]);
            n -= take;
        }
        Ok(self.got.len() - before)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_slices_are_the_records_the_buffered_path_writes() {
    let data = frame_data();
    let frames = frames(&data);
    for (nano, snaplen) in [
        (false, 0),
        (true, 0),
        (false, 9216),
        (true, 100),
        (false, 1),
    ] {
        let format = RecordFormat {
            nano,
            snaplen,
            link: LinkType::Ethernet,
        };
        let (want, skipped) = expected(&format, &frames);
        let mut r = RoundRecords::default();
        r.build(&format, &frames);
        assert_eq!(r.skipped(), skipped);
        assert_eq!(r.len() as u64, frames.len() as u64 - skipped);
        let mut out = Limited::new(usize::MAX, usize::MAX);
        let (n, result) = r.write_to(&frames, &mut out);
        assert!(result.is_ok());
        assert_eq!(n, r.len() as u64);
        assert_eq!(out.got, want, "nano {nano}, snaplen {snaplen}");
        assert_eq!(out.calls, 1);
    }
}

#[test]
fn small_frames_share_a_slice_large_ones_are_pointed_at() {
    let small = vec![9u8; POINT_FROM - 1];
    let large = vec![7u8; POINT_FROM];
    let data = vec![
        (LinkType::Ethernet, small.clone()),
        (LinkType::Ethernet, small.clone()),
        (LinkType::Ethernet, large.clone()),
        (LinkType::Ethernet, small),
        (LinkType::Ethernet, large),
    ];
    let frames = frames(&data);
    let format = RecordFormat {
        nano: false,
        snaplen: 0,
        link: LinkType::Ethernet,
    };
    let mut r = RoundRecords::default();
    r.build(&format, &frames);
    // [2 small + header][large][small + header][large]
    assert_eq!(r.slices(), 4);
    // The large frames' slices are the frames' own bytes, not copies.
    let frame_slices: Vec<*const u8> = r
        .pieces
        .iter()
        .filter_map(|&p| match p {
            Piece::Frame(..) => Some(r.bytes_of(p, &frames).as_ptr()),
            Piece::Own(..) => None,
        })
        .collect();
    assert_eq!(
        frame_slices,
        [frames[2].data.as_ptr(), frames[4].data.as_ptr()]
    );
}

#[test]
fn rounds_above_iov_max_slices_are_split_and_whole() {
    // 1,500 large frames: 3,000 slices, more than two writes' worth.
    let data: Vec<(LinkType, Vec<u8>)> = (0..1500)
        .map(|i| (LinkType::Ethernet, vec![i as u8; 200 + i % 50]))
        .collect();
    let frames = frames(&data);
    let format = RecordFormat {
        nano: true,
        snaplen: 0,
        link: LinkType::Ethernet,
    };
    let mut r = RoundRecords::default();
    r.build(&format, &frames);
    assert_eq!(r.slices(), 3000);
    let mut out = Limited::new(usize::MAX, usize::MAX);
    let (n, result) = r.write_to(&frames, &mut out);
    assert!(result.is_ok());
    assert_eq!(n, 1500);
    assert_eq!(out.got, expected(&format, &frames).0);
    assert_eq!(out.calls, 3);
}

#[test]
fn short_writes_go_on_where_they_stopped() {
    let data = frame_data();
    let frames = frames(&data);
    let format = RecordFormat {
        nano: false,
        snaplen: 0,
        link: LinkType::Ethernet,
    };
    let want = expected(&format, &frames).0;
    let mut r = RoundRecords::default();
    r.build(&format, &frames);
    for per_call in [1, 7, 16, 17, 1000, 4096] {
        let mut out = Limited::new(per_call, usize::MAX);
        let (n, result) = r.write_to(&frames, &mut out);
        assert!(result.is_ok(), "{per_call}");
        assert_eq!(n, r.len() as u64);
        assert_eq!(out.got, want, "{per_call} bytes a call");
    }
}

#[test]
fn a_pipe_closed_part_way_counts_the_records_that_reached_it() {
    let data = frame_data();
    let frames = frames(&data);
    let format = RecordFormat {
        nano: false,
        snaplen: 0,
        link: LinkType::Ethernet,
    };
    let want = expected(&format, &frames).0;
    // Where each record ends in the stream.
    let mut ends = Vec::new();
    let mut at = 0;
    for f in frames.iter().filter(|f| f.meta.link == LinkType::Ethernet) {
        at += 16 + f.data.len();
        ends.push(at);
    }
    let mut r = RoundRecords::default();
    r.build(&format, &frames);
    let mut cuts: Vec<usize> = vec![0, 1, 15, 16];
    for &e in &ends {
        cuts.extend([e - 1, e, e + 1]);
    }
    for cut in cuts.into_iter().filter(|&c| c < want.len()) {
        for per_call in [3, 100, usize::MAX] {
            let mut out = Limited::new(per_call, cut);
            let (n, result) = r.write_to(&frames, &mut out);
            let err = result.expect_err("the pipe closed");
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
            let whole = ends.iter().filter(|&&e| e <= cut).count() as u64;
            assert_eq!(n, whole, "closed after {cut} bytes, {per_call} a call");
            assert_eq!(out.got, want[..cut]);
        }
    }
}

#[test]
fn a_writer_that_takes_nothing_ends_the_write() {
    struct Zero;
    impl Write for Zero {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Ok(0)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let data = frame_data();
    let frames = frames(&data);
    let format = RecordFormat {
        nano: false,
        snaplen: 0,
        link: LinkType::Ethernet,
    };
    let mut r = RoundRecords::default();
    r.build(&format, &frames);
    let (n, result) = r.write_to(&frames, &mut Zero);
    assert_eq!(n, 0);
    assert_eq!(
        result.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WriteZero)
    );
}
