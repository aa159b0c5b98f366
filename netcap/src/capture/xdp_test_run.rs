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
    ringbuf::BatchRing,
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
fn load_rings(snaplen: u32, ring_bytes: u32) -> (Ebpf, Vec<BatchRing>, PerCpuArray<MapData, u64>) {
    assert!(
        !EBPF_OBJECT.is_empty(),
        "built without the eBPF object: use cargo xtask test"
    );
    let wakeup = u64::from(ring_bytes / 16);
    let filter_len = 0u32;
    let mut ebpf = EbpfLoader::new()
        .override_global("SNAPLEN", &snaplen, true)
        .override_global("WAKEUP_BYTES", &wakeup, true)
        .override_global("FILTER_LEN", &filter_len, false)
        .load(EBPF_OBJECT)
        .expect("loading the eBPF object");
    let plan = Plan::new(ring_bytes).expect("a ring plan");
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
fn every_size_class_is_copied_whole_and_counted() {
    if !privileged() {
        return;
    }
    let (ebpf, mut ring, counters) = load(netcap_common::MAX_SNAPLEN, 1 << 20);
    // Around every size-class boundary (128, 512, 1536) and a large one.
    let sizes = [
        14usize, 60, 127, 128, 129, 511, 512, 513, 1535, 1536, 1537, 3000,
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
    assert_eq!(counter(&counters, Counter::Seen), sizes.len() as u64);
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
    // One page of ring and nobody reading: it fills after two 1536-class records.
    let (ebpf, mut ring, counters) = load(netcap_common::MAX_SNAPLEN, 4096);
    let sent = 50u64;
    for i in 0..sent {
        assert_eq!(
            run(&ebpf, &frame(1500, i as u8)).expect("test run"),
            XDP_PASS
        );
    }
    let seen = counter(&counters, Counter::Seen);
    let captured = counter(&counters, Counter::Captured);
    let full = counter(&counters, Counter::LostRingFull);
    assert_eq!(seen, sent);
    assert!(full > 0, "the ring must have filled");
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
    let count = |ring: &mut BatchRing| {
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
