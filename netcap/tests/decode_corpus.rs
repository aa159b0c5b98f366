//! Robustness over real captures: decode and print every frame of tcpdump's test suite
//! (`shared/corpus/tcpdump-tests`, next to the repository) with every format; nothing
//! may panic. Files are read with pcap-file, pcap and pcapng; a record the reader
//! rejects ends that file. Skipped, with a message, when the corpus is not there.
use std::fs;
use std::panic;
use std::path::Path;

use netcap::decode::decode;
use netcap::output::{printer, Format};
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::TsResolution;

type Frames = Vec<(FrameMeta, Vec<u8>)>;

fn meta(ts_ns: u64, orig_len: u32, link: LinkType) -> FrameMeta {
    FrameMeta {
        ts_ns,
        orig_len,
        ifindex: 0,
        direction: Direction::Unknown,
        link,
        iface: 0,
        drops: 0,
    }
}

fn read_pcap(bytes: &[u8]) -> Frames {
    let mut frames = Vec::new();
    let Ok(mut r) = PcapReader::new(bytes) else {
        return frames;
    };
    let header = r.header();
    let link = LinkType::from_linktype(u32::from(header.datalink));
    let frac = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };
    while let Some(Ok(p)) = r.next_raw_packet() {
        let ts = u64::from(p.ts_sec) * 1_000_000_000 + u64::from(p.ts_frac) * frac;
        frames.push((meta(ts, p.orig_len, link), p.data.into_owned()));
    }
    frames
}

fn read_pcapng(bytes: &[u8]) -> Frames {
    let mut frames = Vec::new();
    let Ok(mut r) = PcapNgReader::new(bytes) else {
        return frames;
    };
    let mut links = Vec::new();
    while let Some(Ok(block)) = r.next_block() {
        let link_of =
            |links: &Vec<LinkType>, i: usize| links.get(i).copied().unwrap_or(LinkType::Ethernet);
        match block {
            Block::InterfaceDescription(idb) => {
                links.push(LinkType::from_linktype(u32::from(idb.linktype)))
            }
            Block::EnhancedPacket(p) => {
                let m = meta(
                    p.timestamp.as_nanos() as u64,
                    p.original_len,
                    link_of(&links, p.interface_id as usize),
                );
                frames.push((m, p.data.into_owned()));
            }
            Block::SimplePacket(p) => frames.push((
                meta(0, p.original_len, link_of(&links, 0)),
                p.data.into_owned(),
            )),
            Block::Packet(p) => {
                let m = meta(
                    p.timestamp,
                    p.original_len,
                    link_of(&links, p.interface_id as usize),
                );
                frames.push((m, p.data.into_owned()));
            }
            _ => {}
        }
    }
    frames
}

/// Every printer, plus each frame under every link type: the decoders must survive
/// bytes that were never meant for them.
fn exercise(frames: &Frames) -> usize {
    let mut printers: Vec<_> = [
        Format::Turtle,
        Format::TurtleExt,
        Format::Line,
        Format::Json,
    ]
    .into_iter()
    .filter_map(|f| printer(f, &Default::default()))
    .collect();
    let mut out = Vec::new();
    let links = [
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
    ];
    for (m, data) in frames {
        for link in std::iter::once(m.link).chain(links) {
            let frame = Frame {
                meta: FrameMeta { link, ..*m },
                data,
            };
            let d = decode(&frame);
            let _ = (d.flow_tuple(), d.tcp_flags(), d.malformed());
            for p in &mut printers {
                out.clear();
                p.print(&frame, &d, &mut out);
                assert!(!out.is_empty() && out.ends_with(b"\n"));
            }
        }
    }
    frames.len()
}

#[test]
fn every_corpus_frame_decodes_and_prints() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let Ok(entries) = fs::read_dir(&dir) else {
        eprintln!("skipped: {} not found", dir.display());
        return;
    };
    let (mut files, mut frames, mut reader_panics) = (0, 0, 0);
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(bytes) = fs::read(&path) else { continue };
        // The reader is a dependency: a panic inside it is counted, not ours to fail on.
        let read = panic::catch_unwind(|| {
            if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
                read_pcapng(&bytes)
            } else {
                read_pcap(&bytes)
            }
        });
        let Ok(f) = read else {
            reader_panics += 1;
            continue;
        };
        files += 1;
        frames += exercise(&f);
    }
    eprintln!("{files} files, {frames} frames decoded and printed; {reader_panics} reader panics");
    assert!(files > 0);
}
