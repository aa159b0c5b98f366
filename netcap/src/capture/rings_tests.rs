use super::Plan;
use netcap_common::{ring, MAX_RINGS};

#[test]
fn one_ring_per_cpu_sharing_the_buffer() {
    let p = Plan::for_cpus(2, 16 << 20, 1500);
    assert_eq!((p.cpus, p.rings, p.bytes_each), (2, 2, 8 << 20));
    // A share that is not a power of two rounds down; never below a page.
    let p = Plan::for_cpus(3, 16 << 20, 1500);
    assert_eq!((p.rings, p.bytes_each), (3, 4 << 20));
    let p = Plan::for_cpus(8, 4096, 1500);
    assert_eq!(p.bytes_each, 4096);
    // More CPUs than wake-up slots: a capture ring each, MAX_RINGS wake-up rings.
    let p = Plan::for_cpus(200, 1 << 30, 1500);
    assert_eq!((p.cpus, p.rings), (200, MAX_RINGS as usize));
    // One CPU never gets more than the verifier's variable-offset limit allows.
    let p = Plan::for_cpus(1, 1 << 30, 1500);
    assert_eq!(p.bytes_each, 1 << 28);
}

#[test]
fn a_ring_element_holds_its_data_and_one_largest_record_of_slack() {
    let p = Plan::for_cpus(2, 1 << 20, 262_144);
    // Control page, 512 KiB of data, 24 + 262,144 bytes of slack, to the next page.
    assert_eq!(p.value_size(), 4096 + (512 << 10) + (65 << 12));
    assert_eq!(p.mask, (512 << 10) - 1);
    let p = Plan::for_cpus(2, 8192, 100);
    assert_eq!(p.value_size(), 4096 + 4096 + 4096);
    assert!(p.value_size() >= u64::from(ring::DATA) + 4096 + 24 + 100);
}

#[test]
fn every_ring_and_every_cpu_goes_to_exactly_one_source() {
    for cpus in [1usize, 2, 3, 7, 64, 65, 200] {
        let p = Plan::for_cpus(cpus, 1 << 30, 1500);
        for sources in [1usize, 2, 3, 5, 300] {
            let dealt = p.deal((0..cpus).collect(), sources);
            assert_eq!(
                dealt.len(),
                sources.min(p.rings),
                "{cpus} cpus, {sources} sources"
            );
            let mut rings: Vec<usize> = dealt.iter().flat_map(|(r, _)| r.clone()).collect();
            rings.sort_unstable();
            assert_eq!(rings, (0..cpus).collect::<Vec<_>>());
            // A source reads the rings of exactly the CPUs it reports, and the CPU's
            // wake-up slot (a ring below MAX_RINGS) is among its rings.
            for (rings, cpu_list) in &dealt {
                assert_eq!(rings, cpu_list);
                for &cpu in cpu_list {
                    assert!(rings.contains(&(cpu % MAX_RINGS as usize)), "cpu {cpu}");
                }
            }
        }
    }
}

/// Rings laid out as the kernel's `RING` map, in a file mapped as the map is: records
/// are written through the file (`write_at`), which the shared mapping sees.
struct FileRings {
    file: std::fs::File,
    value_size: u64,
    mask: u64,
    prod: Vec<u64>,
}

impl FileRings {
    fn new(n: usize, size: u32) -> (Self, Vec<super::CpuRing>) {
        use std::os::fd::AsFd;
        let value_size = ring::value_size(size, 256);
        let path = std::env::temp_dir().join(format!(
            "netcap-rings-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("temp file");
        let _ = std::fs::remove_file(&path);
        file.set_len(value_size * n as u64).expect("set_len");
        let mem = std::sync::Arc::new(
            super::super::cpu_ring::RingMemory::map(file.as_fd(), (value_size * n as u64) as usize)
                .expect("mmap"),
        );
        let mask = u64::from(size) - 1;
        let rings = (0..n)
            .map(|i| {
                super::CpuRing::new(mem.clone(), i, value_size as usize, mask, None).expect("ring")
            })
            .collect();
        let me = Self {
            file,
            value_size,
            mask,
            prod: vec![0; n],
        };
        (me, rings)
    }

    /// Appends a record of `ts` with `len` bytes of `fill` to ring `i` and publishes it.
    fn put(&mut self, i: usize, ts: u64, len: u32, fill: u8) {
        use std::os::unix::fs::FileExt;
        let base = self.value_size * i as u64;
        let pos = self.prod[i];
        let mut rec = Vec::new();
        rec.extend_from_slice(&ts.to_ne_bytes());
        rec.extend_from_slice(&1u32.to_ne_bytes()); // ifindex
        rec.extend_from_slice(&len.to_ne_bytes()); // frame_len
        rec.extend_from_slice(&len.to_ne_bytes()); // cap_len
        rec.extend_from_slice(&[0; 4]); // direction, pad
        rec.extend(std::iter::repeat_n(fill, len as usize));
        let at = base + u64::from(ring::DATA) + (pos & self.mask);
        self.file.write_all_at(&rec, at).expect("record");
        self.prod[i] = pos + u64::from(netcap_common::record_span(len));
        self.file
            .write_all_at(&self.prod[i].to_ne_bytes(), base + ring::PRODUCER as u64)
            .expect("producer");
    }
}

fn ts_of(rec: &[u8]) -> u64 {
    rec.first_chunk::<8>().map_or(0, |b| u64::from_ne_bytes(*b))
}

/// What `visit_held` passed on: (ring, timestamp, first data byte).
fn visit_all(set: &mut super::RingSet, stop_after: usize) -> Vec<(usize, u64, u8)> {
    let mut seen = Vec::new();
    set.visit_held(ts_of, |place, rec| {
        seen.push((place.ring, ts_of(rec), rec.get(24).copied().unwrap_or(0)));
        seen.len() < stop_after
    });
    set.release();
    seen
}

#[test]
fn several_rings_are_read_oldest_first_and_one_ring_alone_in_its_order() {
    let (mut w, rings) = FileRings::new(2, 8192);
    let mut set = super::RingSet::new(rings).expect("set");
    // Interleaved: the merge takes the oldest head each time.
    for (i, ts) in [
        (0, 10),
        (1, 11),
        (0, 12),
        (0, 13),
        (1, 14),
        (1, 15),
        (0, 16),
    ] {
        w.put(i, ts, 40, ts as u8);
    }
    let got = visit_all(&mut set, usize::MAX);
    let ts: Vec<u64> = got.iter().map(|g| g.1).collect();
    assert_eq!(ts, [10, 11, 12, 13, 14, 15, 16]);
    assert!(got.iter().all(|g| g.2 == g.1 as u8), "{got:?}");
    // Ring 1 alone (ring 0 empty): every record once, in ring order, even out of time
    // order (a ring's order is the kernel's, which user space never reorders).
    for ts in [30, 31, 29, 32] {
        w.put(1, ts, 100, ts as u8);
    }
    let got = visit_all(&mut set, usize::MAX);
    assert_eq!(got, [(1, 30, 30), (1, 31, 31), (1, 29, 29), (1, 32, 32)]);
    // Ring 1 runs on alone once ring 0 is empty, and stopping part way keeps the rest.
    for (i, ts) in [(0, 40), (1, 41), (1, 42), (1, 43), (1, 44)] {
        w.put(i, ts, 8, ts as u8);
    }
    let got = visit_all(&mut set, 3);
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [40, 41, 42]);
    let got = visit_all(&mut set, usize::MAX);
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [43, 44]);
    assert!(visit_all(&mut set, usize::MAX).is_empty());
}

#[test]
fn records_are_read_across_the_ring_end_many_times_over() {
    let (mut w, rings) = FileRings::new(2, 4096);
    let mut set = super::RingSet::new(rings).expect("set");
    let mut ts = 0u64;
    for round in 0..50u64 {
        // Two rings, then one: spans that do not divide the ring, so records start at
        // every offset and run into the slack.
        let mut want = Vec::new();
        for k in 0..7u64 {
            ts += 1;
            let i = if round % 2 == 0 { (k % 2) as usize } else { 1 };
            w.put(i, ts, 100 + (k as u32 * 37) % 150, ts as u8);
            want.push(ts);
        }
        let got = visit_all(&mut set, usize::MAX);
        assert_eq!(
            got.iter().map(|g| g.1).collect::<Vec<_>>(),
            want,
            "round {round}"
        );
        assert!(got.iter().all(|g| g.2 == g.1 as u8));
    }
}

/// Records the kernel writes while the reader handles a round are still unread once
/// it hands the space back: `unread_at_least` sees them, so the reader goes on without
/// the wake-up the hooks will not send for them (the ring was already past the
/// threshold, counted from the consumer position handed back before).
#[test]
fn records_written_during_a_round_are_seen_as_unread_after_it() {
    let (mut w, rings) = FileRings::new(2, 8192);
    let mut set = super::RingSet::new(rings).expect("set");
    assert!(!set.unread_at_least(1));
    w.put(0, 1, 40, 1);
    w.put(1, 2, 40, 2);
    let mut seen = 0;
    set.visit_held(ts_of, |_, _| {
        seen += 1;
        true
    });
    // While the round is handled, before the space is handed back.
    w.put(1, 3, 200, 3);
    set.release();
    assert_eq!(seen, 2);
    let span = u64::from(netcap_common::record_span(200));
    assert!(set.unread_at_least(span));
    assert!(!set.unread_at_least(span + 1));
    assert_eq!(visit_all(&mut set, usize::MAX), [(1, 3, 3)]);
    assert!(!set.unread_at_least(1));
}

/// A ring found empty is looked at again while the others are read: a record written
/// into it during the round comes out within `LOOK_AGAIN` records of its place in time,
/// not after everything the other ring held (the whole round, up to 256 KiB of
/// records, until 2026-12-07).
#[test]
fn a_ring_written_during_a_round_is_merged_in_within_a_few_records() {
    let (mut w, rings) = FileRings::new(2, 8192);
    let mut set = super::RingSet::new(rings).expect("set");
    w.put(0, 1, 16, 1);
    for ts in (2..=80).step_by(2) {
        w.put(1, ts, 16, ts as u8);
    }
    let mut got = Vec::new();
    set.visit_held(ts_of, |_, rec| {
        let ts = ts_of(rec);
        got.push(ts);
        if ts == 2 {
            // Ring 0 was empty when last looked at; CPU 0 writes an older record.
            w.put(0, 5, 16, 5);
        }
        true
    });
    set.release();
    let mut want = vec![1];
    want.extend((2..=30).step_by(2));
    want.push(5);
    want.extend((32..=80).step_by(2));
    assert_eq!(got, want);
    assert_eq!(super::LOOK_AGAIN, 16, "the expected order assumes it");
}
