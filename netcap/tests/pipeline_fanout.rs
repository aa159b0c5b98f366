//! Privileged: the fanout workers that decode frames where their source holds them
//! (`--workers 2`, no copy into a batch, `pipeline::worker`) give every frame once, in
//! timestamp order, numbered in that order; with a plain `-w` file (whose records the
//! workers build) the file holds the same frames in the same order, byte for byte. Frames come from both
//! CPUs (a sender pinned to each), so with XDP both per-CPU rings, and both workers,
//! have frames, and the writer's merge has two streams to interleave.
//!
//! Run by `cargo xtask test` (which builds the eBPF object into the binary and sets
//! `NETCAP_PRIVILEGED_TESTS=1`).
mod common;
mod netcap_proc;

use common::{eth_ipv4_udp, test_mac, VethPair, IP_A, IP_B};
use netcap_proc::Netcap;

/// Frames per sender (CPU).
const PER_CPU: usize = 1500;

/// Sends `frames` from a thread pinned to `cpu` (the veth's receive path, and so the
/// capture hook, runs on the sender's CPU).
fn send_on_cpu(veth: &VethPair, cpu: usize, frames: Vec<Vec<u8>>) {
    let (ns, ns_if) = (veth.ns.clone(), veth.ns_if.clone());
    std::thread::spawn(move || {
        // SAFETY: cpu_set_t is plain old data; CPU_SET writes within it for cpu < 1024;
        // sched_setaffinity(0) applies to the calling thread (and the threads it starts).
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        common::send_frames(&ns, &ns_if, &frames);
    })
    .join()
    .expect("sender thread");
}

/// The UDP source port of a `-F json` line, and its `frame` number and `ts_ns`.
fn fields(line: &str) -> (u64, u64, u64) {
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    let num = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    (
        v["udp"]["sport"].as_u64().unwrap_or(0),
        num("frame"),
        num("ts_ns"),
    )
}

/// The frame sent with UDP source port `port`.
fn frame(port: usize) -> Vec<u8> {
    eth_ipv4_udp(
        test_mac(1),
        test_mac(2),
        IP_A,
        IP_B,
        port as u16,
        9,
        &[7; 18],
    )
}

/// With `write`, also `-w FILE` (a plain classic pcap file: the workers build its
/// records), which must hold the frames of the text, in its order, byte for byte.
fn check_backend(backend: &[&str], write: bool) {
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let stats = dir.join("stats.json");
    let file = dir.join("out.pcap");
    let mut args = vec!["capture", "-i", &veth.host_if];
    args.extend_from_slice(backend);
    args.extend(["--direction", "in", "--workers", "2", "-F", "json"]);
    args.extend(["--stats-json", stats.to_str().expect("utf-8")]);
    if write {
        args.extend(["-w", file.to_str().expect("utf-8")]);
    }
    let nc = Netcap::start(&args);
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    // Ports 1000.. from the first sender, 1000 + PER_CPU.. from the second: each frame
    // is named by its port.
    for round in 0..3 {
        for cpu in 0..2 {
            let frames = (0..PER_CPU / 3)
                .map(|i| frame(1000 + cpu * PER_CPU + round * (PER_CPU / 3) + i))
                .collect();
            send_on_cpu(&veth, cpu % cpus, frames);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{backend:?}: {}", out.stderr);
    let text = std::str::from_utf8(&out.stdout).expect("utf-8");
    let lines: Vec<(u64, u64, u64)> = text.lines().map(fields).collect();
    assert_eq!(lines.len(), 2 * PER_CPU, "{backend:?}: {}", out.stderr);
    let mut ports: Vec<u64> = lines.iter().map(|l| l.0).collect();
    ports.sort_unstable();
    let want: Vec<u64> = (1000..1000 + 2 * PER_CPU as u64).collect();
    let missing = want
        .iter()
        .filter(|p| ports.binary_search(p).is_err())
        .count();
    assert!(
        ports == want,
        "{backend:?}: {missing} frames missing, or some twice"
    );
    for (i, pair) in lines.windows(2).enumerate() {
        assert!(
            pair[0].2 <= pair[1].2,
            "{backend:?}: line {i} at {} before line {} at {}",
            pair[0].2,
            i + 1,
            pair[1].2
        );
    }
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            line.1,
            i as u64 + 1,
            "{backend:?}: frame numbers in the order written"
        );
    }
    if write {
        let frames = netcap_proc::read_pcap(&file);
        assert_eq!(frames.len(), lines.len(), "{backend:?}: frames in the file");
        for (i, ((orig_len, data), line)) in frames.iter().zip(&lines).enumerate() {
            let want = frame(line.0 as usize);
            assert!(
                *data == want && *orig_len as usize == want.len(),
                "{backend:?}: frame {i} of the file is not line {i}'s (port {})",
                line.0
            );
        }
    }
    let s = netcap_proc::stats(&stats);
    // Both workers had frames (with XDP: both CPUs' rings).
    let per_worker: Vec<u64> = s["fanout_captured"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(per_worker.len(), 2, "{backend:?}: {s}");
    assert!(per_worker.iter().all(|&n| n > 0), "{backend:?}: {s}");
    assert_eq!(s["decoded"], 2 * PER_CPU as u64, "{backend:?}: {s}");
    assert_eq!(s["lost"], 0, "{backend:?}: {s}");
}

#[test]
fn fanout_workers_decoding_in_place_write_every_frame_once_in_time_order() {
    common::needs_privileges!();
    for write in [false, true] {
        check_backend(&["--backend", "xdp", "--xdp-mode", "generic"], write);
        check_backend(&["--backend", "afpacket"], write);
    }
}
