//! `BPF_PROG_TEST_RUN` tests of in-kernel flow mode: the real XDP program with
//! `FLOW_MODE` on, fed crafted UDP frames, its `FLOWS` table read back through the
//! same memory mapping the capture uses. Exact counts are asserted; the per-frame cost of a
//! lookup hit and of an insert is printed (never asserted), which is how the map's
//! design was chosen (README, "Flows counted in the kernel").
//!
//! Privileged like `xdp_test_run` (`cargo xtask test`, `NETCAP_PRIVILEGED_TESTS=1`).
//! Print the costs with
//! `NETCAP_PRIVILEGED_TESTS=1 cargo test --release -p netcap --lib flows_test_run -- --nocapture`.
use std::os::fd::AsFd;

use aya::{
    maps::{Map, MapData, PerCpuArray},
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf, EbpfLoader,
};
use netcap_common::Counter;

use super::{flow_slots::SlotMap, xdp::EBPF_OBJECT};

fn privileged() -> bool {
    let on = std::env::var_os("NETCAP_PRIVILEGED_TESTS").is_some_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
    }
    on
}

/// The eBPF object: the one built in, or `NETCAP_TEST_EBPF_OBJ`'s file (to try a
/// rebuilt kernel program against this test binary without rebuilding it).
fn object() -> Vec<u8> {
    if let Some(path) = std::env::var_os("NETCAP_TEST_EBPF_OBJ") {
        return std::fs::read(&path).expect("reading NETCAP_TEST_EBPF_OBJ");
    }
    assert!(
        !EBPF_OBJECT.is_empty(),
        "built without the eBPF object: use cargo xtask test"
    );
    EBPF_OBJECT.to_vec()
}

/// Moves this thread to the CPU it is on: every test run then counts into that CPU's
/// region of the table, so the counts below do not depend on the scheduler.
fn pin() {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = usize::try_from(unsafe { libc::sched_getcpu() }).expect("sched_getcpu");
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it (cpu <
    // CPU_SETSIZE) and sched_setaffinity(0) reads it, for this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(rc, 0, "sched_setaffinity({cpu})");
    }
}

/// The program in flow mode with a table of `entries` slots per CPU (a power of two);
/// the counters taken out. The calling thread is pinned to its CPU ([`pin`]).
fn load(entries: u32) -> (Ebpf, PerCpuArray<MapData, u64>) {
    assert!(entries.is_power_of_two());
    pin();
    let cpus = aya::util::nr_cpus().expect("possible CPUs") as u32;
    let (snaplen, wakeup, filter_len, flow_mode) = (256u32, 1u64 << 16, 0u32, 1u32);
    // The per-CPU rings, for the frames the flow map cannot take.
    let plan = super::rings::Plan::new(1 << 20, snaplen).expect("a ring plan");
    let mut ebpf = plan
        .load(
            &object(),
            EbpfLoader::new()
                .override_global("WAKEUP_BYTES", &wakeup, true)
                .override_global("FILTER_LEN", &filter_len, false)
                .override_global("FLOW_MODE", &flow_mode, true)
                .override_global("FLOW_MASK", &(entries - 1), true)
                .override_global("FLOW_HOT_MASK", &(entries - 1), true)
                .map_max_entries("FLOWS", entries * cpus),
        )
        .expect("loading the eBPF object");
    plan.create(&mut ebpf).expect("creating the rings");
    let prog: &mut Xdp = ebpf
        .program_mut("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("an XDP program");
    if let Err(e) = prog.load() {
        panic!("the verifier refuses netcap_xdp in flow mode: {e:#?}");
    }
    let counters =
        PerCpuArray::try_from(ebpf.take_map("COUNTERS").expect("COUNTERS")).expect("per-CPU");
    (ebpf, counters)
}

/// Runs the program `repeat` times on `frame`; the kernel's average ns per run.
fn run(ebpf: &Ebpf, frame: &[u8], repeat: u32) -> u64 {
    let prog: &Xdp = ebpf
        .program("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("XDP");
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.repeat = repeat;
    let r = prog.test_run(opts).expect("test run");
    assert_eq!(r.return_value, 2, "XDP_PASS");
    r.duration.as_nanos() as u64
}

fn counter(c: &PerCpuArray<MapData, u64>, which: Counter) -> u64 {
    c.get(&(which as u32), 0).expect("counter").iter().sum()
}

/// A 64-byte Ethernet + IPv4 + UDP frame from 10.250.0.2:`sport` to 10.250.0.1:`dport`.
fn udp_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let payload = 64 - 14 - 20 - 8;
    let total = (20 + 8 + payload) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 10, 250, 0, 2, 10, 250, 0, 1]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(64, 0x41);
    f
}

/// Every live slot of the `FLOWS` table: (packets, bytes) per slot, in slot order.
fn entries(ebpf: &Ebpf) -> Vec<(u64, u64)> {
    let Map::Array(data) = ebpf.map("FLOWS").expect("FLOWS") else {
        panic!("FLOWS is not an array");
    };
    let slots = data.info().expect("map info").max_entries() as usize;
    let map = SlotMap::new(data.fd().as_fd(), slots).expect("mapping FLOWS");
    (0..map.slots())
        .filter_map(|i| map.read(i))
        .map(|s| (s.packets[0] + s.packets[1], s.bytes[0] + s.bytes[1]))
        .collect()
}

#[test]
fn flow_mode_counts_every_frame_into_its_flow_and_reports_the_costs() {
    if !privileged() {
        return;
    }
    const FLOWS: u16 = 20_000;
    const REPEAT: u32 = 200_000;
    let (ebpf, counters) = load((u32::from(FLOWS) * 2).next_power_of_two());
    let frames: Vec<Vec<u8>> = (0..FLOWS).map(|i| udp_frame(1024 + i, 9)).collect();
    // Every frame a new flow: an insert each.
    let insert_ns: u64 = frames.iter().map(|f| run(&ebpf, f, 1)).sum();
    // The same frames again: a lookup hit each.
    let hit_ns: u64 = frames.iter().map(|f| run(&ebpf, f, 1)).sum();
    // One flow, the kernel repeating the run: a hit each, without the per-call overhead.
    let repeat_ns = run(&ebpf, &frames[0], REPEAT);
    let n = u64::from(FLOWS);
    // A call of one run carries the syscall's own timing overhead; the repeated hit
    // does not. The insert's own cost: its excess over a hit, plus a hit.
    eprintln!(
        "flow mode, BPF_PROG_TEST_RUN of 64-byte UDP frames, {n} flows: one run per call: \
         insert {} ns, hit {} ns; repeated {REPEAT} times: hit {repeat_ns} ns; so an insert \
         costs about {} ns",
        insert_ns / n,
        hit_ns / n,
        (insert_ns / n + repeat_ns).saturating_sub(hit_ns / n),
    );
    let total = 2 * n + u64::from(REPEAT);
    assert_eq!(netcap_common::seen(|c| counter(&counters, c)), total);
    assert_eq!(counter(&counters, Counter::Aggregated), total);
    assert_eq!(counter(&counters, Counter::Captured), 0);
    assert_eq!(counter(&counters, Counter::FlowOverflow), 0);
    let mut got = entries(&ebpf);
    got.sort_unstable();
    let mut want = vec![(2u64, 128u64); usize::from(FLOWS) - 1];
    want.push((2 + u64::from(REPEAT), 64 * (2 + u64::from(REPEAT))));
    assert_eq!(got, want);
}

#[test]
fn a_full_flow_map_sends_new_flows_to_the_ring_and_counts_them() {
    if !privileged() {
        return;
    }
    let (ebpf, counters) = load(8);
    // 8 flows fit in this CPU's region (a window of 16 slots covers all 8); the other
    // 4 overflow, twice each.
    for _ in 0..2 {
        for i in 0..12 {
            run(&ebpf, &udp_frame(2000 + i, 53), 1);
        }
    }
    assert_eq!(netcap_common::seen(|c| counter(&counters, c)), 24);
    assert_eq!(counter(&counters, Counter::Aggregated), 16);
    assert_eq!(counter(&counters, Counter::FlowOverflow), 8);
    assert_eq!(counter(&counters, Counter::Captured), 8);
    assert_eq!(entries(&ebpf), vec![(2, 128); 8]);
}
