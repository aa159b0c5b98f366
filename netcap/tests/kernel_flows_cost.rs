//! What in-kernel flow mode costs per frame, by `BPF_PROG_TEST_RUN`: netcap's XDP
//! hook in flow mode (`FLOW_MODE = 1`, no filter) on crafted 64-byte UDP/IPv4 frames,
//! beside the floor (an XDP program that reads one packet byte), each measured the
//! same way in the same run:
//!
//! - **hit, repeated:** one flow, the kernel repeating the run 200,000 times (no
//!   system call between runs: the hot-cache cost);
//! - **insert:** 100,000 new flows, one run per call;
//! - **32 flows / 100,000 flows cycled:** the flows already in the map, one run per
//!   call through them in turn (each call's timing overhead is in both the program's
//!   figure and the floor's, so "above floor" cancels it).
//!
//! Beside the plain floor, the memory floor (`netcap::capture::flow_floor`): the
//! 5-tuple hashed to one random 128-byte slot of a 16 MiB table (netcap's hot region),
//! one read and one atomic add there; netcap's cost above it is what is not memory.
//!
//! Besides the exact counts it asserts (every run counted, the map's totals), this is
//! a bench: `#[ignore]`d, run it with
//! `cargo test --release -p netcap --test kernel_flows_cost -- --ignored --nocapture`
//! (root; `cargo xtask build` first). `NETCAP_EBPF_OBJ` picks another eBPF object (how
//! the breakdown in docs/bench/kernel-flows.md was measured: variants of the program
//! with one part removed).

mod common;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use aya::maps::{MapData, PerCpuArray};
use aya::programs::Xdp;
use aya::Ebpf;
use common::flow_cost::{
    blast, blast_ns, cycle, floor, per_run, stats_on, trafgen_config, udp_frame,
};
use netcap::capture::bpf_sys::test_run;
use netcap::capture::flow_floor::FlowFloor;
use netcap_common::Counter;

/// Slots of one CPU's region of the flow table: what `--max-flows`' default
/// (1,000,000) gives on this 2-CPU machine, or `NETCAP_FLOW_SLOTS` (a power of two).
fn map_entries() -> u32 {
    std::env::var("NETCAP_FLOW_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20)
}
const REPEAT: u32 = 200_000;
const MANY: u32 = 100_000;
const FEW: u32 = 32;
const PASSES: u32 = 3;

fn ebpf_object() -> PathBuf {
    std::env::var_os("NETCAP_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/ebpf/bpfel-unknown-none/release/netcap")
        })
}

/// netcap's program in flow mode, a region of [`map_entries`] slots per CPU; the
/// calling thread pinned to its CPU (every run counts into one region).
fn load() -> (Ebpf, PerCpuArray<MapData, u64>) {
    common::pin_to_current_cpu();
    let cpus = aya::util::nr_cpus().expect("possible CPUs") as u32;
    let (snaplen, wakeup, filter_len, flow_mode) = (256u32, 1u64 << 16, 0u32, 1u32);
    let plan = netcap::capture::rings::Plan::new(1 << 20, snaplen).expect("a ring plan");
    let object = std::fs::read(ebpf_object()).expect("reading the eBPF object");
    let mut ebpf = plan
        .load(
            &object,
            aya::EbpfLoader::new()
                .override_global("WAKEUP_BYTES", &wakeup, true)
                .override_global("FILTER_LEN", &filter_len, false)
                .override_global("FLOW_MODE", &flow_mode, true)
                .override_global("FLOW_MASK", &(map_entries() - 1), false)
                .override_global(
                    "FLOW_HOT_MASK",
                    &(map_entries().min(netcap::capture::xdp::KERNEL_FLOW_HOT_SLOTS) - 1),
                    false,
                )
                .override_global("FLOW_SEED", &0x5eed_u64, false)
                .map_max_entries("FLOWS", map_entries() * cpus),
        )
        .expect("loading the eBPF object");
    plan.create(&mut ebpf).expect("creating the rings");
    let prog: &mut Xdp = ebpf
        .program_mut("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("an XDP program");
    prog.load()
        .expect("the verifier takes netcap_xdp in flow mode");
    let counters =
        PerCpuArray::try_from(ebpf.take_map("COUNTERS").expect("COUNTERS")).expect("per-CPU");
    (ebpf, counters)
}

fn counter(c: &PerCpuArray<MapData, u64>, which: Counter) -> u64 {
    c.get(&(which as u32), 0).expect("counter").iter().sum()
}

#[test]
#[ignore = "a bench: cargo test --release -p netcap --test kernel_flows_cost -- --ignored --nocapture"]
fn kernel_flow_mode_ns_per_frame() {
    let floor = floor();
    let (ebpf, counters) = load();
    let prog: &Xdp = ebpf
        .program("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("XDP");
    let fd = prog.fd().expect("loaded");
    let fd = fd.as_fd();
    let many: Vec<Vec<u8>> = (0..MANY).map(udp_frame).collect();
    let few: Vec<Vec<u8>> = (0..FEW).map(|i| udp_frame(MANY + i)).collect();

    // The memory floor: the 5-tuple hashed to one random slot of a table as large as
    // the hot region, one read and one atomic add there (capture/flow_floor.rs).
    let mem = FlowFloor::new(netcap::capture::xdp::KERNEL_FLOW_HOT_SLOTS).expect("memory floor");
    let mem = mem.prog();
    // The machine is shared: the least of three passes is the program's own cost.
    let least = |f: &dyn Fn() -> f64| (0..PASSES).map(|_| f()).fold(f64::MAX, f64::min);
    let few_cycled =
        |p| least(&|| (0..MANY / FEW).map(|_| cycle(p, &few)).sum::<f64>() / f64::from(MANY / FEW));
    let repeated = |p| {
        least(&|| {
            let r = test_run(p, &many[0], REPEAT).expect("repeated run");
            assert_eq!(r.retval, 2, "XDP_PASS");
            f64::from(r.duration_ns)
        })
    };

    let floor_hot = repeated(floor.as_fd());
    let floor_call = least(&|| cycle(floor.as_fd(), &many));
    let mem_hot = repeated(mem);
    let mem_few = few_cycled(mem);
    let mem_many = least(&|| cycle(mem, &many));
    let insert = cycle(fd, &many);
    let many_hit = least(&|| cycle(fd, &many));
    let few_hit = few_cycled(fd);
    let hot = repeated(fd);

    println!(
        "| case | floor ns/run | memory floor ns/run | netcap_xdp ns/run | netcap above floor | \
         memory floor above floor | netcap above memory floor |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let row = |name: &str, floor: f64, mem: Option<f64>, ns: f64| {
        let (mem, mem_above, above_mem) = mem.map_or(("-".into(), "-".into(), "-".into()), |m| {
            (
                format!("{m:.0}"),
                format!("{:.0}", m - floor),
                format!("{:.0}", ns - m),
            )
        });
        println!(
            "| {name} | {floor:.0} | {mem} | {ns:.0} | {:.0} | {mem_above} | {above_mem} |",
            ns - floor
        );
    };
    row(
        &format!("hit, one flow, repeated {REPEAT} times"),
        floor_hot,
        Some(mem_hot),
        hot,
    );
    row(
        &format!("insert, {MANY} new flows, one run per call"),
        floor_call,
        None,
        insert,
    );
    row(
        &format!("{FEW} flows cycled, one run per call"),
        floor_call,
        Some(mem_few),
        few_hit,
    );
    row(
        &format!("{MANY} flows cycled, one run per call"),
        floor_call,
        Some(mem_many),
        many_hit,
    );

    let p = u64::from(PASSES);
    let runs =
        u64::from(MANY) + p * (u64::from(MANY) + u64::from(MANY / FEW * FEW) + u64::from(REPEAT));
    eprintln!(
        "seen {} aggregated {} overflow {} captured {}",
        netcap_common::seen(|c| counter(&counters, c)),
        counter(&counters, Counter::Aggregated),
        counter(&counters, Counter::FlowOverflow),
        counter(&counters, Counter::Captured)
    );
    assert_eq!(netcap_common::seen(|c| counter(&counters, c)), runs);
    assert_eq!(counter(&counters, Counter::Aggregated), runs);
    assert_eq!(counter(&counters, Counter::FlowOverflow), 0);
}

/// (run_time_ns, run_cnt) of the XDP program attached to `ifname`, by bpftool.
fn attached_stats(ifname: &str) -> Option<(u64, u64)> {
    let net = Command::new("bpftool")
        .args(["-j", "net", "show", "dev", ifname])
        .output()
        .ok()?;
    let net: serde_json::Value = serde_json::from_slice(&net.stdout).ok()?;
    let id = net[0]["xdp"][0]["id"].as_u64()?;
    let prog = Command::new("bpftool")
        .args(["-j", "prog", "show", "id", &id.to_string()])
        .output()
        .ok()?;
    let prog: serde_json::Value = serde_json::from_slice(&prog.stdout).ok()?;
    Some((
        prog["run_time_ns"].as_u64().unwrap_or(0),
        prog["run_cnt"].as_u64().unwrap_or(0),
    ))
}

/// The kernel's own figures (run-time statistics on by `BPF_ENABLE_STATS` meanwhile) on a veth with
/// trafgen: the floor attached alone, the memory floor (capture/flow_floor.rs) attached
/// alone over one blast, then netcap's XDP hook in flow mode (the release
/// binary, `-F none --flows-json /dev/null`) over two blasts into one capture (the
/// first creates the flows, the second finds them all), for 32 and 100,000 flows.
/// `NETCAP_BIN` runs another netcap binary (an older one, to compare).
#[test]
#[ignore = "a bench: cargo test --release -p netcap --test kernel_flows_cost -- --ignored --nocapture"]
fn live_kernel_ns_per_frame() {
    let _stats = stats_on();
    let bin = std::env::var_os("NETCAP_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/netcap"),
        PathBuf::from,
    );
    let veth = common::VethPair::new();
    let dir = std::env::temp_dir().join(format!("kflow-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "| flows | round | floor ns/run | memory floor ns/run | netcap_xdp blast 1 | blast 2 | \
         memory floor above floor | netcap (blast 2) above floor | above memory floor |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for flows in [32u32, 100_000] {
        let cfg = dir.join(format!("flows{flows}.cfg"));
        std::fs::write(&cfg, trafgen_config(flows)).expect("trafgen config");
        for round in 1..=3 {
            let prog = floor();
            let link = netcap::capture::bpf_sys::xdp_link_generic(prog.as_fd(), veth.host_ifindex)
                .expect("floor attaches");
            let floor_ns = blast_ns(prog.as_fd(), &veth, &cfg).unwrap_or(f64::NAN);
            drop(link);
            let mem =
                FlowFloor::new(netcap::capture::xdp::KERNEL_FLOW_HOT_SLOTS).expect("memory floor");
            let link = mem
                .attach_generic(veth.host_ifindex)
                .expect("memory floor attaches");
            let mem_ns = blast_ns(mem.prog(), &veth, &cfg).unwrap_or(f64::NAN);
            drop(link);

            let mut child = Command::new(&bin)
                .args(["capture", "-i", &veth.host_if, "--backend", "xdp"])
                .args([
                    "--xdp-mode",
                    "generic",
                    "-F",
                    "none",
                    "--flows-json",
                    "/dev/null",
                ])
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("netcap starts");
            let mut s0 = None;
            for _ in 0..200 {
                s0 = attached_stats(&veth.host_if);
                if s0.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let s0 = s0.expect("netcap attached");
            blast(&veth, &cfg);
            let s1 = attached_stats(&veth.host_if).expect("stats");
            blast(&veth, &cfg);
            let s2 = attached_stats(&veth.host_if).expect("stats");
            // SIGINT to the child this test started, by its pid: netcap detaches.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
            let (b1, b2) = (per_run(s0, s1), per_run(s1, s2));
            println!(
                "| {flows} | {round} | {floor_ns:.0} | {mem_ns:.0} | {b1:.0} | {b2:.0} | {:.0} | \
                 {:.0} | {:.0} |",
                mem_ns - floor_ns,
                b2 - floor_ns,
                b2 - mem_ns
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
