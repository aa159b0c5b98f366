//! The capture floors (`netcap::capture::capture_floor`, the programs `kbench
//! attach-capture-floor` attaches for the live benches) do what their figures claim:
//! each variant loads on both hooks, runs once per frame (bpf_stats), and the record
//! variants hand every frame to the reader, which counts exactly the frames sent and,
//! with a file, writes them as pcap records that tshark reads back with the frames'
//! lengths and whose bytes are the frames' first 64. Privileged (veth), a second or so.

mod common;
#[path = "common/tshark.rs"]
mod tshark;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use netcap::capture::{
    bpf_sys,
    capture_floor::{CaptureFloor, Variant, SNAP},
    capture_floor_reader::{self, Tally},
};
use netcap::filter::ebpf::Hook;

/// Frame lengths sent, in turn: below, at and above the 64-byte snap length.
const SIZES: [usize; 5] = [60, 64, 65, 128, 1514];
const FRAMES: usize = 2000;

/// Numbered frames (all distinct in their first 60 bytes), the sizes taken in turn.
fn frames() -> Vec<Vec<u8>> {
    let by_size: Vec<Vec<Vec<u8>>> = SIZES
        .iter()
        .map(|&size| common::numbered_frames(FRAMES, size))
        .collect();
    (0..FRAMES)
        .map(|i| by_size[i % SIZES.len()][i].clone())
        .collect()
}

/// Frames per send: 500 records of 80 bytes fit a 64 KiB ring, which the test's frames
/// wrap two and a half times.
const CHUNK: usize = 500;
/// Ring bytes per CPU.
const RING: u32 = 1 << 16;

/// Attaches `floor`, sends the frames [`CHUNK`] at a time, waiting after each until
/// the reader has read them all, detaches; returns the program's run count over the
/// blast and what the reader (if any) did.
fn blast(
    floor: &CaptureFloor,
    veth: &common::VethPair,
    frames: &[Vec<u8>],
    pcap: Option<&Path>,
) -> (u64, Option<Tally>) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = (floor.variant == Variant::Record).then(|| {
        let file = pcap.map(|p| std::fs::File::create(p).expect("pcap file"));
        capture_floor_reader::spawn(floor, file, stop.clone()).expect("reader starts")
    });
    let runs = || bpf_sys::prog_stats(floor.prog()).expect("prog stats").2;
    let before = runs();
    let link = floor.attach(veth.host_ifindex).expect("floor attaches");
    let mut sent = 0;
    for chunk in frames.chunks(CHUNK) {
        common::send_frames(&veth.ns, &veth.ns_if, chunk);
        sent += chunk.len() as u64;
        let Some(r) = &reader else { continue };
        // Not a time limit on the reader: a guard against a hang.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while r.read_so_far() < sent && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    drop(link);
    let ran = runs() - before;
    stop.store(true, Ordering::Release);
    let tally = reader.map(|r| r.join().expect("reader"));
    (ran, tally)
}

/// `(frame length, captured length, first bytes)` of each record of a classic pcap
/// file (microsecond, native byte order, as the reader writes it).
fn pcap_records(path: &Path) -> Vec<(u32, u32, Vec<u8>)> {
    let data = std::fs::read(path).expect("pcap readable");
    let word = |at: usize| u32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), 0xa1b2_c3d4, "pcap magic");
    assert_eq!(word(16), SNAP, "snap length");
    let mut at = 24;
    let mut out = Vec::new();
    while at < data.len() {
        let (cap, len) = (word(at + 8), word(at + 12));
        out.push((len, cap, data[at + 16..at + 16 + cap as usize].to_vec()));
        at += 16 + cap as usize;
    }
    out
}

#[test]
fn every_frame_reaches_the_reader() {
    common::needs_privileges!();
    let _stats = bpf_sys::enable_stats().expect("BPF_ENABLE_STATS");
    let veth = common::VethPair::new();
    let frames = frames();
    let dir = std::env::temp_dir().join(format!("capfloor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for hook in [Hook::Xdp, Hook::Tc] {
        let clock = CaptureFloor::new(hook, Variant::Clock, RING).expect("clock floor loads");
        let (ran, tally) = blast(&clock, &veth, &frames, None);
        assert_eq!((ran, tally), (FRAMES as u64, None), "{hook:?} clock floor");

        let counting = CaptureFloor::new(hook, Variant::Record, RING).expect("floor loads");
        let (ran, tally) = blast(&counting, &veth, &frames, None);
        let tally = tally.expect("a reader");
        assert_eq!(ran, FRAMES as u64, "{hook:?} record floor runs");
        assert_eq!(
            (tally.read, tally.lost_full, tally.lost_copy, tally.written),
            (FRAMES as u64, 0, 0, 0),
            "{hook:?} counting reader"
        );

        let pcap = dir.join(format!("{hook:?}.pcap"));
        let writing = CaptureFloor::new(hook, Variant::Record, RING).expect("floor loads");
        let (ran, tally) = blast(&writing, &veth, &frames, Some(&pcap));
        let tally = tally.expect("a reader");
        assert_eq!(ran, FRAMES as u64, "{hook:?} record floor runs");
        assert_eq!(
            (tally.read, tally.lost_full + tally.lost_copy),
            (FRAMES as u64, 0),
            "{hook:?} pcap reader"
        );
        let file_len = std::fs::metadata(&pcap).expect("pcap written").len();
        assert_eq!(tally.written, file_len, "{hook:?} bytes written");

        // tshark's reading: every frame, its length whole, cut at the snap length.
        let mut want: Vec<String> = frames
            .iter()
            .map(|f| format!("{}\t{}", f.len(), f.len().min(SNAP as usize)))
            .collect();
        let mut got: Vec<String> = tshark::fields(&pcap, None, &["frame.len", "frame.cap_len"])
            .lines()
            .map(str::to_owned)
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{hook:?}: tshark's lengths");

        // The bytes: each record is the first bytes of a frame sent (numbered frames:
        // all distinct).
        let mut want: Vec<(u32, u32, Vec<u8>)> = frames
            .iter()
            .map(|f| {
                let cap = f.len().min(SNAP as usize);
                (f.len() as u32, cap as u32, f[..cap].to_vec())
            })
            .collect();
        let mut got = pcap_records(&pcap);
        want.sort();
        got.sort();
        assert!(got == want, "{hook:?}: the records' bytes differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
