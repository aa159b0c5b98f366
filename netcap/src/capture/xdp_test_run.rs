//! `BPF_PROG_TEST_RUN` tests of the XDP program's copy and accounting logic: the real
//! program in the real kernel, fed crafted buffers, without any interface.
//!
//! They need root (loading BPF), so they run under `cargo xtask test`, which sets
//! `NETCAP_PRIVILEGED_TESTS=1`; elsewhere they print that they were skipped.
use aya::{
    maps::{MapData, PerCpuArray},
    programs::{ProgramError, TestRun, TestRunOptions, Xdp},
    Ebpf, EbpfLoader,
};
use netcap_common::{Counter, RecordHeader, DIR_IN};

use super::{
    cpu_ring::CpuRing,
    rings::{Plan, RingSet},
    xdp::EBPF_OBJECT,
};

const XDP_PASS: u32 = 2;

fn privileged() -> bool {
    let on = std::env::var_os("NETCAP_PRIVILEGED_TESTS").is_some_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
    }
    on
}

/// Loads the program with the given snap length and ring size (in all, shared by the
/// per-CPU rings); returns the object (program inside) plus the rings and counters.
fn load(snaplen: u32, ring_bytes: u32) -> (Ebpf, RingSet, PerCpuArray<MapData, u64>) {
    let (ebpf, rings, counters) = load_rings(snaplen, ring_bytes);
    (ebpf, RingSet::new(rings).expect("a ring set"), counters)
}

/// As [`load`], with the per-CPU rings apart (index = CPU on a machine of at most
/// `MAX_RINGS` CPUs).
fn load_rings(snaplen: u32, ring_bytes: u32) -> (Ebpf, Vec<CpuRing>, PerCpuArray<MapData, u64>) {
    assert!(
        !EBPF_OBJECT.is_empty(),
        "built without the eBPF object: use cargo xtask test"
    );
    let wakeup = u64::from(ring_bytes / 16);
    let filter_len = 0u32;
    let plan = Plan::new(ring_bytes, snaplen).expect("a ring plan");
    let mut ebpf = plan
        .load(
            EBPF_OBJECT,
            EbpfLoader::new()
                .override_global("WAKEUP_BYTES", &wakeup, true)
                .override_global("FILTER_LEN", &filter_len, false),
        )
        .expect("loading the eBPF object");
    let rings = plan.create(&mut ebpf).expect("creating the rings");
    let prog: &mut Xdp = ebpf
        .program_mut("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("an XDP program");
    prog.load().expect("verifier accepts netcap_xdp");
    let counters =
        PerCpuArray::try_from(ebpf.take_map("COUNTERS").expect("COUNTERS")).expect("per-CPU");
    (ebpf, rings, counters)
}

fn run(ebpf: &Ebpf, frame: &[u8]) -> Result<u32, ProgramError> {
    let prog: &Xdp = ebpf
        .program("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("XDP");
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.repeat = 1;
    prog.test_run(opts).map(|r| r.return_value)
}

fn counter(c: &PerCpuArray<MapData, u64>, which: Counter) -> u64 {
    c.get(&(which as u32), 0).expect("counter").iter().sum()
}

fn records(ring: &mut RingSet) -> Vec<(RecordHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let ts = |rec: &[u8]| u64::from_ne_bytes(rec[..8].try_into().expect("8 bytes"));
    ring.visit(ts, |item| {
        let hdr_len = size_of::<RecordHeader>();
        assert!(item.len() >= hdr_len, "record shorter than its header");
        // SAFETY: at least hdr_len bytes; RecordHeader is plain old data.
        let hdr = unsafe { item.as_ptr().cast::<RecordHeader>().read_unaligned() };
        let data = item[hdr_len..hdr_len + hdr.cap_len as usize].to_vec();
        out.push((hdr, data));
        true
    });
    out
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn frames_of_every_size_are_copied_whole_and_counted() {
    if !privileged() {
        return;
    }
    let (ebpf, mut ring, counters) = load(netcap_common::MAX_SNAPLEN, 1 << 20);
    // Lengths with every remainder mod 8 (records are padded to 8), small and large.
    let sizes = [
        14usize, 60, 61, 62, 63, 64, 65, 66, 67, 127, 513, 1535, 3000,
    ];
    for (i, &len) in sizes.iter().enumerate() {
        assert_eq!(
            run(&ebpf, &frame(len, i as u8)).expect("test run"),
            XDP_PASS
        );
    }
    let recs = records(&mut ring);
    assert_eq!(recs.len(), sizes.len());
    for (i, ((hdr, data), &len)) in recs.iter().zip(&sizes).enumerate() {
        assert_eq!(hdr.frame_len as usize, len);
        assert_eq!(hdr.cap_len as usize, len);
        assert_eq!(hdr.direction, DIR_IN);
        assert!(hdr.ts_ns > 0);
        assert_eq!(data, &frame(len, i as u8), "bytes of frame {i}");
    }
    assert_eq!(
        netcap_common::seen(|c| counter(&counters, c)),
        sizes.len() as u64
    );
    assert_eq!(counter(&counters, Counter::Captured), sizes.len() as u64);
    assert_eq!(counter(&counters, Counter::LostRingFull), 0);
    assert_eq!(counter(&counters, Counter::LostCopy), 0);
}

#[test]
fn the_snap_length_cuts_the_copy_but_not_the_length() {
    if !privileged() {
        return;
    }
    let (ebpf, mut ring, _counters) = load(64, 1 << 20);
    for len in [60usize, 64, 65, 1500] {
        run(&ebpf, &frame(len, 7)).expect("test run");
    }
    let got: Vec<(u32, u32, usize)> = records(&mut ring)
        .iter()
        .map(|(h, d)| (h.frame_len, h.cap_len, d.len()))
        .collect();
    assert_eq!(
        got,
        vec![(60, 60, 60), (64, 64, 64), (65, 64, 64), (1500, 64, 64)]
    );
}

#[test]
fn a_full_ring_counts_every_frame_it_could_not_take() {
    if !privileged() {
        return;
    }
    // One page of data per CPU and nobody reading: a 1500-byte frame takes 1528 bytes
    // (header, data, padding), so exactly two fit in CPU 0's ring.
    let (ebpf, mut ring, counters) = load(netcap_common::MAX_SNAPLEN, 4096);
    let sent = 50u64;
    pin(Some(0));
    for i in 0..sent {
        assert_eq!(
            run(&ebpf, &frame(1500, i as u8)).expect("test run"),
            XDP_PASS
        );
    }
    pin(None);
    let seen = netcap_common::seen(|c| counter(&counters, c));
    let captured = counter(&counters, Counter::Captured);
    let full = counter(&counters, Counter::LostRingFull);
    assert_eq!(seen, sent);
    assert_eq!(
        (captured, full),
        (2, sent - 2),
        "two records fit, the rest are counted"
    );
    assert_eq!(
        seen,
        captured + full + counter(&counters, Counter::LostCopy)
    );
    assert_eq!(
        records(&mut ring).len() as u64,
        captured,
        "every captured frame is in the ring"
    );
}

/// Moves this thread to `cpu` (`None`: back to every CPU).
fn pin(cpu: Option<usize>) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity get a
    // valid set of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        match cpu {
            Some(c) => libc::CPU_SET(c, &mut set),
            None => (0..libc::CPU_SETSIZE as usize).for_each(|c| libc::CPU_SET(c, &mut set)),
        }
        let rc = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(rc, 0, "sched_setaffinity({cpu:?})");
    }
}

#[test]
fn each_cpu_writes_its_own_ring_and_one_reader_merges_them_by_time() {
    if !privileged() {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let (ebpf, rings, counters) = load_rings(netcap_common::MAX_SNAPLEN, 1 << 20);
    // Frames of lengths 60, 61, ... sent alternately from CPU 0 and CPU 1.
    let sent = 12usize;
    for i in 0..sent {
        pin(Some(i % 2));
        run(&ebpf, &frame(60 + i, i as u8)).expect("test run");
    }
    pin(None);
    let mut set = RingSet::new(rings).expect("a ring set");
    let recs = records(&mut set);
    let lens: Vec<usize> = recs.iter().map(|(h, _)| h.frame_len as usize).collect();
    assert_eq!(
        lens,
        (60..60 + sent).collect::<Vec<_>>(),
        "merged in sending order"
    );
    assert!(recs.windows(2).all(|w| w[0].0.ts_ns <= w[1].0.ts_ns));
    for (i, (_, data)) in recs.iter().enumerate() {
        assert_eq!(data, &frame(60 + i, i as u8), "bytes of frame {i}");
    }
    // Each CPU counted its own half.
    let per_cpu = counters
        .get(&(Counter::Captured as u32), 0)
        .expect("counter");
    assert_eq!((per_cpu[0], per_cpu[1]), (6, 6));
}

#[test]
fn the_rings_of_two_cpus_are_apart() {
    if !privileged() {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let (ebpf, mut rings, _counters) = load_rings(netcap_common::MAX_SNAPLEN, 1 << 20);
    for (cpu, n) in [(0usize, 3usize), (1, 5)] {
        pin(Some(cpu));
        for i in 0..n {
            run(&ebpf, &frame(100 + cpu, i as u8)).expect("test run");
        }
    }
    pin(None);
    let count = |ring: &mut CpuRing| {
        let mut lens = Vec::new();
        ring.drain(|rec| {
            lens.push(rec.len());
            true
        });
        lens.len()
    };
    assert_eq!(count(&mut rings[0]), 3, "CPU 0's ring");
    assert_eq!(count(&mut rings[1]), 5, "CPU 1's ring");
}

/// Sends `frames` on CPU 0 through a ring of one page per CPU, reading after every
/// `batch` frames; returns the records read and how many of them ran past the end of
/// the data area into the slack.
fn through_a_small_ring(frames: &[Vec<u8>], batch: usize) -> (Vec<(RecordHeader, Vec<u8>)>, usize) {
    let (ebpf, mut rings, counters) = load_rings(netcap_common::MAX_SNAPLEN, 8192);
    let size = rings[0].data_size();
    let mut got = Vec::new();
    let mut crossed = 0;
    pin(Some(0));
    for chunk in frames.chunks(batch) {
        for f in chunk {
            run(&ebpf, f).expect("test run");
        }
        let ring = &mut rings[0];
        while let Some(rec) = ring.peek() {
            // CPU 0's ring is the first element: the offset is the data area's + 4096.
            let start = rec.0 - netcap_common::ring::DATA as usize;
            crossed += usize::from(start + rec.1 > size);
            let bytes = ring.record(rec);
            // SAFETY: at least a header's bytes (peek checks); plain old data.
            let hdr = unsafe { bytes.as_ptr().cast::<RecordHeader>().read_unaligned() };
            got.push((hdr, bytes[size_of::<RecordHeader>()..].to_vec()));
            ring.consume(rec.1);
        }
        ring.publish();
    }
    pin(None);
    let n = frames.len() as u64;
    assert_eq!(netcap_common::seen(|c| counter(&counters, c)), n);
    assert_eq!(counter(&counters, Counter::Captured), got.len() as u64);
    (got, crossed)
}

#[test]
fn records_wrap_around_the_ring_through_the_slack_byte_identical() {
    if !privileged() {
        return;
    }
    // Lengths that do not divide the ring: record starts drift over every offset.
    let frames: Vec<Vec<u8>> = (0..300usize)
        .map(|i| frame(60 + (i * 37) % 1400, i as u8))
        .collect();
    let (got, crossed) = through_a_small_ring(&frames, 2);
    assert_eq!(
        got.len(),
        frames.len(),
        "a reader that keeps up loses nothing"
    );
    assert!(
        crossed > 10,
        "records ran into the slack only {crossed} times"
    );
    for (i, ((hdr, data), sent)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(hdr.frame_len as usize, sent.len(), "length of frame {i}");
        assert_eq!(data, sent, "bytes of frame {i}");
    }
}

#[test]
fn a_full_ring_then_read_takes_frames_again_and_counts_each_loss() {
    if !privileged() {
        return;
    }
    // Five 1000-byte frames per read (1024 bytes of ring each): four fit, one is lost.
    let frames: Vec<Vec<u8>> = (0..100usize).map(|i| frame(1000, i as u8)).collect();
    let (ebpf_got, _) = through_a_small_ring(&frames, 5);
    assert_eq!(ebpf_got.len(), 80);
    // The frames kept are the first four of every five, in order.
    for (k, (_, data)) in ebpf_got.iter().enumerate() {
        let i = k / 4 * 5 + k % 4;
        assert_eq!(data, &frames[i], "record {k} is frame {i}");
    }
}

#[test]
fn big_frames_through_xdp_frags_are_copied_whole() {
    if !privileged() {
        return;
    }
    // Above a page, BPF_PROG_TEST_RUN hands a `frags` program a multi-buffer frame
    // (Linux 5.18): the copy reads across the fragments.
    let (ebpf, mut ring, counters) = load(netcap_common::MAX_SNAPLEN, 4 << 20);
    let sizes = [4000usize, 9000, 65_535];
    for (i, &len) in sizes.iter().enumerate() {
        run(&ebpf, &frame(len, i as u8)).expect("test run");
    }
    let recs = records(&mut ring);
    assert_eq!(recs.len(), sizes.len());
    for (i, ((hdr, data), &len)) in recs.iter().zip(&sizes).enumerate() {
        assert_eq!((hdr.frame_len as usize, hdr.cap_len as usize), (len, len));
        assert_eq!(data, &frame(len, i as u8), "bytes of frame {i}");
    }
    assert_eq!(counter(&counters, Counter::LostCopy), 0);
}

/// True when `fd` is readable now.
fn readable(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
fn the_reader_is_woken_when_the_unread_bytes_cross_the_threshold() {
    if !privileged() {
        return;
    }
    // 512 KiB per CPU, wake-ups at 1/16 of the total: 65,536 unread bytes. A 1000-byte
    // frame takes 1024 bytes of ring: the 64th crosses the threshold.
    let (ebpf, mut rings, _counters) = load_rings(netcap_common::MAX_SNAPLEN, 1 << 20);
    pin(Some(0));
    for i in 0..63 {
        run(&ebpf, &frame(1000, i)).expect("test run");
    }
    fn fd(r: &CpuRing) -> std::os::fd::BorrowedFd<'_> {
        r.fd().expect("CPU 0 has a wake-up ring")
    }
    assert!(!readable(fd(&rings[0])), "woken below the threshold");
    run(&ebpf, &frame(1000, 63)).expect("test run");
    assert!(readable(fd(&rings[0])), "not woken at the threshold");
    // Reading throws the token away; the next crossing wakes again.
    assert_eq!(rings[0].drain(|_| true), 64);
    assert!(!readable(fd(&rings[0])));
    for i in 0..64 {
        run(&ebpf, &frame(1000, i)).expect("test run");
    }
    pin(None);
    assert!(readable(fd(&rings[0])), "not woken at the second crossing");
}
