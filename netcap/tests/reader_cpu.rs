//! Privileged: the reader of the per-CPU rings follows the CPU that writes them
//! (`--reader-cpu follow`, the default; `netcap/src/run/follow.rs`). A blast of
//! 1500-byte frames from one CPU (trafgen `-P 1`, on CPU 0) through a veth pair: while
//! it lasts, netcap's reading thread is pinned to that CPU, it is let go when the
//! traffic stops, and every frame the interface received is captured. With
//! `--reader-cpu any` the thread's CPUs never change (the test's control).
mod common;
mod netcap_proc;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::Netcap;

const FRAMES: u64 = 1_000_000;

/// One test at a time: a blast takes a CPU, and the other test's beside it would make
/// the host drop frames that no capture is to blame for.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `Cpus_allowed_list` of thread `tid` of `pid` ("0-1", "0").
fn cpus_allowed(pid: u32, tid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
}

/// Sends FRAMES 1500-byte UDP frames from one CPU; returns trafgen's count and the CPU
/// it sent from.
fn blast_one_cpu(veth: &VethPair, dir: &std::path::Path) -> (u64, usize) {
    let sent = common::trafgen(
        veth,
        dir,
        "{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
         ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), \
         udp(sport=dinc(1024, 65000), dport=9), fill(0x41, 1458) }\n",
        FRAMES,
        true,
    );
    let cpu = sent.cpu.expect("trafgen names the CPU it sent from");
    (sent.frames, cpu)
}

struct Run {
    /// Every `Cpus_allowed_list` the reading thread had during the blast, in order.
    seen: Vec<String>,
    before: String,
    after: String,
    sender_cpu: usize,
    delivered: u64,
    stats: serde_json::Value,
    stderr: String,
}

fn capture_during_blast(extra: &[&str]) -> Run {
    let _one_at_a_time = serial();
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let stats = dir.join("stats.json");
    let mut args = vec!["capture", "-i", &veth.host_if, "-Z", "root"];
    args.extend_from_slice(extra);
    // 1.5 GB of frames: /dev/null, so that the file system's speed is not what is tested.
    args.extend(["-w", "/dev/null"]);
    args.extend(["--stats-json", stats.to_str().expect("utf-8")]);
    let nc = Netcap::start(&args);
    // The live capture loop runs on netcap's main thread.
    let pid = nc.pid();
    let before = cpus_allowed(pid, pid).expect("netcap's main thread");
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen: Vec<String> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(now) = cpus_allowed(pid, pid) {
                    if seen.last() != Some(&now) {
                        seen.push(now);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        })
    };
    let rx0 = common::rx_packets(&veth.host_if);
    let (sent, sender_cpu) = blast_one_cpu(&veth, &dir);
    // The reader lets go at the first window without traffic (100 ms, at most the
    // quiet tick of 100 ms later).
    let t0 = Instant::now();
    let mut after = cpus_allowed(pid, pid).expect("netcap's main thread");
    while after != before && t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
        after = cpus_allowed(pid, pid).expect("netcap's main thread");
    }
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().expect("watcher");
    let delivered = common::rx_packets(&veth.host_if) - rx0;
    assert_eq!(delivered, sent, "the host lost frames");
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "netcap failed: {}", out.stderr);
    Run {
        seen,
        before,
        after,
        sender_cpu,
        delivered,
        stats: netcap_proc::stats(&stats),
        stderr: out.stderr,
    }
}

fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

#[test]
fn the_reader_follows_the_cpu_that_carries_the_traffic_and_captures_every_frame() {
    common::needs_privileges!();
    if !two_cpus() {
        eprintln!("skipped: one CPU, nothing to follow");
        return;
    }
    let run = capture_during_blast(&[]);
    assert!(
        run.stderr.contains("capturing with TC ingress"),
        "the default is tcx here: {}",
        run.stderr
    );
    let pinned = run.sender_cpu.to_string();
    assert!(
        run.seen.contains(&pinned),
        "the reader was never pinned to CPU {pinned} (the sender's): its CPUs were {:?}",
        run.seen
    );
    assert_eq!(
        run.after, run.before,
        "the reader got its CPUs back after the traffic"
    );
    assert_eq!(
        run.stats["captured"].as_u64(),
        Some(run.delivered),
        "captured vs delivered: {}",
        run.stderr
    );
    assert_eq!(run.stats["lost"].as_u64(), Some(0), "{}", run.stderr);
}

#[test]
fn with_reader_cpu_any_the_reader_stays_where_it_was() {
    common::needs_privileges!();
    if !two_cpus() {
        eprintln!("skipped: one CPU, nothing to follow");
        return;
    }
    let run = capture_during_blast(&["--reader-cpu", "any"]);
    assert_eq!(
        run.seen,
        vec![run.before.clone()],
        "with --reader-cpu any the reader's CPUs never change"
    );
    assert_eq!(
        run.stats["captured"].as_u64().unwrap_or(0) + run.stats["lost"].as_u64().unwrap_or(0),
        run.delivered,
        "every frame delivered is captured or counted lost: {}",
        run.stderr
    );
}
