//! The memory floor of in-kernel flows in different kernel memory
//! (`netcap::capture::flow_floor::Layout`): is the cost of one random per-flow slot the
//! cache miss or the TLB miss? The same program (the 5-tuple hashed to one of 131,072
//! slots, one read and one atomic add there) over 128- and 64-byte slots in one big
//! array (vmalloc'ed in 4 KiB pages, mmapable or not) and in direct-map memory (an
//! array of maps of 16 KiB arrays, kmalloc'ed; a `BPF_F_NO_PREALLOC` hash), beside the
//! plain floor (one packet byte read):
//!
//! - [`memory_floors_ns_per_frame`]: by `BPF_PROG_TEST_RUN` on crafted 64-byte
//!   UDP/IPv4 frames: one flow repeated 200,000 times by the kernel, 32 flows and
//!   100,000 flows cycled one run per call, least of three passes;
//! - [`live_memory_floors_ns_per_frame`]: attached to a veth (generic XDP) one at a
//!   time, a trafgen blast each, `run_time_ns / run_cnt` (statistics on by
//!   `BPF_ENABLE_STATS` while the test runs), three rounds for 32 and for 100,000
//!   flows; a blast whose run count is not exactly the frames sent shows "-".
//!
//! [`every_layout_loads_and_passes`] runs with the privileged tests. The benches,
//! `#[ignore]`d: `cargo test --release -p netcap --test kernel_flows_floors --
//! --ignored --nocapture` (root). Each asserts that every run passed the frame; the
//! figures are in docs/bench/kernel-flows.md.

mod common;

use std::os::fd::{AsFd, BorrowedFd};

use common::flow_cost::{blast_ns, cycle, floor, repeated, stats_on, trafgen_config, udp_frame};
use netcap::capture::flow_floor::{FlowFloor, Layout, Memory};

const SLOTS: u32 = netcap::capture::xdp::KERNEL_FLOW_HOT_SLOTS;
const REPEAT: u32 = 200_000;
const MANY: u32 = 100_000;
const FEW: u32 = 32;
const PASSES: u32 = 3;

/// The layouts compared, in the order of the tables' columns, with `slots` slots.
fn layouts(slots: u32) -> Vec<Layout> {
    let l = |memory, slot_bytes| Layout {
        memory,
        slot_bytes,
        slots,
    };
    vec![
        l(Memory::Vmalloc { mmapable: false }, 128),
        l(Memory::Vmalloc { mmapable: true }, 128),
        l(Memory::Vmalloc { mmapable: true }, 64),
        l(Memory::ArrayOfArrays, 128),
        l(Memory::ArrayOfArrays, 64),
        l(Memory::Hash, 128),
    ]
}

fn header(first: &str) {
    let names: Vec<String> = layouts(SLOTS)
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}: {}", (b'A' + i as u8) as char, l.describe()))
        .collect();
    println!("columns: {}", names.join("; "));
    let cols: Vec<String> = (0..layouts(SLOTS).len())
        .map(|i| format!("{}", (b'A' + i as u8) as char))
        .collect();
    println!("| {first} | floor | {} |", cols.join(" | "));
    println!("| --- | ---: | {} |", vec!["---:"; cols.len()].join(" | "));
}

/// "ns (ns above the floor)" per layout; "-" where nothing was measured.
fn row(name: &str, floor: Option<f64>, ns: &[Option<f64>]) {
    let cells: Vec<String> = ns
        .iter()
        .map(|n| match (n, floor) {
            (Some(n), Some(f)) => format!("{n:.0} ({:.0})", n - f),
            (Some(n), None) => format!("{n:.0}"),
            (None, _) => "-".to_owned(),
        })
        .collect();
    let floor = floor.map_or("-".to_owned(), |f| format!("{f:.0}"));
    println!("| {name} | {floor} | {} |", cells.join(" | "));
}

/// Every layout's table is built and its program accepted by the verifier, and it
/// passes every frame, short ones (no 5-tuple) included. (Small tables: filling the
/// bench's hash and creating its 1,536 inner arrays takes seconds.)
#[test]
fn every_layout_loads_and_passes() {
    common::needs_privileges!();
    for layout in layouts(1 << 12) {
        let floor = FlowFloor::with(layout).expect("a memory floor loads");
        let frames: Vec<Vec<u8>> = (0..FEW).map(udp_frame).collect();
        cycle(floor.prog(), &frames);
        cycle(floor.prog(), &[udp_frame(0)[..20].to_vec()]);
    }
}

/// One case of [`memory_floors_ns_per_frame`]: ns per run of a program.
type Case<'a> = dyn Fn(BorrowedFd<'_>) -> f64 + 'a;

#[test]
#[ignore = "a bench: cargo test --release -p netcap --test kernel_flows_floors -- --ignored --nocapture"]
fn memory_floors_ns_per_frame() {
    common::pin_to_current_cpu();
    let floor = floor();
    let floors: Vec<FlowFloor> = layouts(SLOTS)
        .into_iter()
        .map(|l| FlowFloor::with(l).expect("a memory floor loads"))
        .collect();
    let many: Vec<Vec<u8>> = (0..MANY).map(udp_frame).collect();
    let few: Vec<Vec<u8>> = (0..FEW).map(|i| udp_frame(MANY + i)).collect();
    // The machine is shared: the least of three passes is the program's own cost.
    let least = |f: &dyn Fn() -> f64| (0..PASSES).map(|_| f()).fold(f64::MAX, f64::min);
    let hot = |p: BorrowedFd<'_>| least(&|| repeated(p, &many[0], REPEAT));
    let few_cycled = |p: BorrowedFd<'_>| {
        least(&|| (0..MANY / FEW).map(|_| cycle(p, &few)).sum::<f64>() / f64::from(MANY / FEW))
    };
    let many_cycled = |p: BorrowedFd<'_>| least(&|| cycle(p, &many));
    header("case (ns per run, above the floor)");
    let cases: [(&str, &Case); 3] = [
        ("one flow, repeated 200,000 times", &hot),
        ("32 flows cycled, one run per call", &few_cycled),
        ("100,000 flows cycled, one run per call", &many_cycled),
    ];
    for (name, case) in cases {
        let f = Some(case(floor.as_fd()));
        let ns: Vec<Option<f64>> = floors.iter().map(|m| Some(case(m.prog()))).collect();
        row(name, f, &ns);
    }
}

#[test]
#[ignore = "a bench: cargo test --release -p netcap --test kernel_flows_floors -- --ignored --nocapture"]
fn live_memory_floors_ns_per_frame() {
    let _stats = stats_on();
    let veth = common::VethPair::new();
    let dir = std::env::temp_dir().join(format!("kflow-floors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    header("flows, round (ns per run, above the floor)");
    let mut measured = 0;
    for flows in [FEW, MANY] {
        let cfg = dir.join(format!("flows{flows}.cfg"));
        std::fs::write(&cfg, trafgen_config(flows)).expect("trafgen config");
        for round in 1..=3 {
            let prog = floor();
            let link = netcap::capture::bpf_sys::xdp_link_generic(prog.as_fd(), veth.host_ifindex)
                .expect("floor attaches");
            let floor_ns = blast_ns(prog.as_fd(), &veth, &cfg);
            drop(link);
            let ns: Vec<Option<f64>> = layouts(SLOTS)
                .into_iter()
                .map(|l| {
                    // A fresh table per blast, as the bench's memory floor row has.
                    let mem = FlowFloor::with(l).expect("a memory floor loads");
                    let _link = mem
                        .attach_generic(veth.host_ifindex)
                        .expect("memory floor attaches");
                    blast_ns(mem.prog(), &veth, &cfg)
                })
                .collect();
            measured += ns.iter().chain([&floor_ns]).filter(|n| n.is_some()).count();
            row(&format!("{flows}, {round}"), floor_ns, &ns);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(measured > 0, "no blast counted one run per frame sent");
}
