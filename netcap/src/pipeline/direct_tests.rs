//! Unit tests of `pipeline/direct.rs`: rounds written through (zero copy) and rounds
//! buffered give the file the frame-by-frame path gives.
use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use super::*;
use crate::{
    output::{
        pcap::{FileFormat, PcapSink},
        FrameSink,
    },
    packet::{Direction, FrameMeta, LinkType},
};

/// One byte sink behind two writers, as a file's two descriptors are.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sink(out: &Shared, through: bool) -> BoxedPcapSink {
    let format = FileFormat {
        pcapng: false,
        nano: false,
        snaplen: 1000,
    };
    let mut pcap = PcapSink::new(std::io::BufWriter::new(out.clone()), format);
    if through {
        pcap.set_through(Box::new(out.clone()));
    }
    pcap.set_link_hint(Some(LinkType::Ethernet));
    Box::new(pcap)
}

#[test]
fn rounds_through_and_buffered_make_the_same_file() {
    // Rounds of every kind: tiny (buffered), large (through), large with small frames.
    let sizes: Vec<Vec<usize>> = vec![
        vec![60, 70],
        vec![1500; 60],
        vec![64; 3],
        vec![60; 2000],
        vec![2000, 100, 1200],
        vec![9000; 10],
    ];
    let data: Vec<Vec<Vec<u8>>> = sizes
        .iter()
        .map(|r| {
            r.iter()
                .map(|&n| (0..n).map(|k| k as u8).collect())
                .collect()
        })
        .collect();
    let rounds: Vec<Vec<Frame<'_>>> = data
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .enumerate()
                .map(|(j, d)| Frame {
                    meta: FrameMeta {
                        ts_ns: 1_700_000_000_000_000_000 + (i * 10_000 + j) as u64 * 1000,
                        orig_len: d.len() as u32,
                        ifindex: 1,
                        direction: Direction::In,
                        link: LinkType::Ethernet,
                        iface: 0,
                        drops: 0,
                    },
                    data: d,
                })
                .collect()
        })
        .collect();
    let total: u64 = sizes.iter().map(|r| r.len() as u64).sum();
    let (plain, zero) = (Shared::default(), Shared::default());
    let mut a = Direct::new(Some(sink(&plain, false)));
    let mut b = Direct::new(Some(sink(&zero, true)));
    for round in &rounds {
        round.iter().for_each(|f| a.take(f));
        b.take_round(round);
    }
    let (fa, fb) = (a.finish(), b.finish());
    assert_eq!((fa.written, fb.written), (total, total));
    assert_eq!(fa.decode.bytes, fb.decode.bytes);
    let (pa, pb) = (
        plain.0.lock().map(|v| v.clone()),
        zero.0.lock().map(|v| v.clone()),
    );
    let (pa, pb) = (pa.unwrap_or_default(), pb.unwrap_or_default());
    assert!(pa.len() > 24 + 60 * 1500);
    assert!(
        pa == pb,
        "the files differ ({} and {} bytes)",
        pa.len(),
        pb.len()
    );
}
