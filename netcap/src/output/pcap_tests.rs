//! Unit tests of `output/pcap.rs`.
use super::*;
use crate::{
    capture::{pcap_file::FileSource, Fill, Source},
    packet::{Batch, Direction, FrameMeta},
};

fn round_trip(pcapng: bool, nano: bool) {
    let frames: Vec<(u64, Vec<u8>)> = vec![
        (1_700_000_000_123_456_789, vec![1, 2, 3, 4]),
        (1_700_000_001_000_000_001, vec![]),
    ];
    let format = FileFormat {
        pcapng,
        nano,
        snaplen: 9216,
    };
    let mut sink = PcapSink::new(Vec::new(), format);
    for (ts, data) in &frames {
        let meta = FrameMeta {
            ts_ns: *ts,
            orig_len: 100,
            ifindex: 1,
            direction: Direction::In,
            link: LinkType::Ethernet,
            iface: 0,
            drops: 0,
        };
        sink.write(&Frame { meta, data }).expect("writes");
    }
    // Microseconds are cut, as libpcap cuts them.
    let want: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .map(|(ts, d)| match pcapng || nano {
            true => (*ts, d.clone()),
            false => (ts - ts % 1000, d.clone()),
        })
        .collect();
    match sink.inner {
        Inner::Pcap { out, .. } => check(out, &want),
        Inner::PcapNg { out, .. } => check(out.into_inner(), &want),
        _ => panic!("writer state"),
    }
}

fn check(bytes: Vec<u8>, frames: &[(u64, Vec<u8>)]) {
    let mut src = FileSource::from_reader("t".into(), Box::new(std::io::Cursor::new(bytes)))
        .expect("reads back");
    let mut b = Batch::default();
    while src.fill(&mut b, 1 << 20).expect("fill") != Fill::End {}
    let got: Vec<_> = b.iter().map(|f| (f.meta.ts_ns, f.data.to_vec())).collect();
    assert_eq!(got, frames);
    assert!(b
        .iter()
        .all(|f| f.meta.orig_len == 100 && f.meta.link == LinkType::Ethernet));
}

#[test]
fn pcap_round_trip_keeps_nanoseconds_and_lengths() {
    round_trip(false, true);
}

#[test]
fn pcap_round_trip_keeps_microseconds_and_lengths() {
    round_trip(false, false);
}

#[test]
fn pcapng_round_trip_keeps_nanoseconds_and_lengths() {
    round_trip(true, false);
}
/// `size_after` is exact for packet and interface blocks (every option a frame
/// can bring) and counts the statistics blocks `close` writes at their size.
#[test]
fn size_after_counts_every_byte_a_frame_and_the_close_add() {
    let format = FileFormat {
        pcapng: true,
        nano: false,
        snaplen: 9216,
    };
    let mut sink = PcapSink::new(Vec::new(), format);
    sink.set_interface(&Interface {
        name: "veth-x".into(),
        filter: Some("udp and port 9".into()),
    });
    let names = Interfaces::default();
    names.add("eth0");
    names.add("wlan0");
    sink.set_interfaces(&names);
    let stats = FileStats::default();
    stats.publish(crate::output::Counts {
        if_dropped: Some(3),
        ..Default::default()
    });
    sink.set_stats(&stats);
    let len = |s: &PcapSink<Vec<u8>>| s.get_ref().map_or(0, |v| v.len() as u64);
    let mut isbs = 0;
    for (i, (direction, drops, iface, size)) in [
        (Direction::In, 0, 0, 61),
        (Direction::Out, 7, 0, 64),
        (Direction::Unknown, 0, 1, 3),
        (Direction::Unknown, 2, 1, 0),
        (Direction::In, 0, 1, 1500),
    ]
    .into_iter()
    .enumerate()
    {
        let data = vec![0u8; size];
        let meta = FrameMeta {
            ts_ns: 1_700_000_000_000_000_000 + i as u64,
            orig_len: size as u32,
            ifindex: 0,
            direction,
            link: LinkType::Ethernet,
            iface,
            drops,
        };
        let frame = Frame { meta, data: &data };
        if i == 0 {
            // The header comes with the first frame; size_after leaves it out.
            sink.start(LinkType::Ethernet).expect("header");
        }
        let (before, after) = (len(&sink), sink.size_after(&frame));
        sink.write(&frame).expect("writes");
        if let Inner::PcapNg { ids, .. } = &sink.inner {
            isbs = ISB_LEN * ids.len() as u64;
        }
        assert_eq!(len(&sink) + isbs, before + after, "frame {i}");
    }
    let before = len(&sink);
    sink.close().expect("closes");
    assert_eq!(len(&sink), before + isbs, "two statistics blocks");
    assert_eq!(isbs, 2 * ISB_LEN);
}

/// The records the workers build (`record_format`, `RecordFormat::push`, written with
/// `write_records`) make the same file as `write` frame by frame, snap length cut and
/// nanoseconds included; a frame of another link type is left out and counted.
#[test]
fn prebuilt_records_make_the_same_file_as_write() {
    for nano in [false, true] {
        let format = FileFormat {
            pcapng: false,
            nano,
            snaplen: 6,
        };
        let frames: Vec<(u64, LinkType, Vec<u8>)> = vec![
            (
                1_700_000_000_123_456_789,
                LinkType::Ethernet,
                vec![1, 2, 3, 4],
            ),
            (1_700_000_001_000_000_001, LinkType::Ethernet, vec![9; 10]),
            (1_700_000_002_000_000_000, LinkType::Raw, vec![5, 6]),
            (1_700_000_003_999_999_999, LinkType::Ethernet, vec![]),
        ];
        let meta = |ts: u64, link: LinkType| FrameMeta {
            ts_ns: ts,
            orig_len: 100,
            ifindex: 1,
            direction: Direction::In,
            link,
            iface: 0,
            drops: 0,
        };
        let mut by_frame = PcapSink::new(Vec::new(), format);
        by_frame.set_link_hint(Some(LinkType::Ethernet));
        let mut by_records = PcapSink::new(Vec::new(), format);
        by_records.set_link_hint(Some(LinkType::Ethernet));
        let rf = by_records
            .record_format()
            .expect("classic pcap takes records");
        let mut records = Vec::new();
        let mut skipped = 0;
        for (ts, link, data) in &frames {
            let frame = Frame {
                meta: meta(*ts, *link),
                data,
            };
            by_frame.write(&frame).expect("writes");
            if !rf.push(&frame, &mut records) {
                skipped += 1;
            }
        }
        by_records
            .write_records(&records, skipped)
            .expect("writes records");
        assert_eq!(by_records.skipped(), 1);
        assert_eq!(by_frame.skipped(), 1);
        assert_eq!(by_records.get_ref(), by_frame.get_ref(), "nano {nano}");
    }
    let ng = PcapSink::new(
        Vec::new(),
        FileFormat {
            pcapng: true,
            nano: false,
            snaplen: 0,
        },
    );
    assert!(
        ng.record_format().is_none(),
        "pcapng writes blocks, not records"
    );
}
