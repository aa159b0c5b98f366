//! Privileged tests of what each capture mode does to the host's own traffic
//! (`cargo xtask test`): the default must deliver every frame it would deliver without
//! netcap, leave the devices' offloads as they were, and capture GSO/GRO super-frames
//! whole, as tcpdump does. Real frames on a real veth pair, sent by trafgen at its full
//! rate on every CPU, and a real TCP transfer.
mod common;
mod netcap_proc;

use std::{
    fs::File,
    io::{self, Read, Write},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    os::fd::AsRawFd,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::Netcap;

/// One test at a time: a blast uses every CPU, and a test beside it would make the
/// host drop frames that no capture is to blame for.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Frames per blast: about a second of trafgen on both CPUs of the development VM.
const BLAST_FRAMES: u64 = 200_000;

/// `ethtool -k` of `ifname` inside namespace `ns` (root namespace when `None`).
fn offloads(ns: Option<&str>, ifname: &str) -> String {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ethtool", "-k", ifname]);
            c
        }
        None => {
            let mut c = Command::new("ethtool");
            c.args(["-k", ifname]);
            c
        }
    };
    let out = cmd
        .output()
        .expect("running ethtool (apt-get install ethtool)");
    assert!(out.status.success(), "ethtool -k {ifname} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `frames` 64-byte UDP frames from the namespace end with trafgen on every CPU
/// (its default), as fast as it can; returns the count trafgen says it sent.
fn blast(veth: &VethPair, frames: u64, dir: &Path) -> u64 {
    common::trafgen(
        veth,
        dir,
        "{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
         ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), \
         udp(sport=dinc(1024, 65000), dport=9), fill(0x41, 22) }\n",
        frames,
        false,
    )
    .frames
}

/// Waits until `ifname`'s rx counter has not moved for 200 ms (the veth backlog drained).
fn settle(ifname: &str) -> u64 {
    let mut last = common::rx_packets(ifname);
    let t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = common::rx_packets(ifname);
        if now == last || t0.elapsed() > Duration::from_secs(10) {
            return now;
        }
        last = now;
    }
}

/// Blasts the pair with and without netcap (`args`, plus `-w` and `--stats-json`) and
/// checks that the host sees the same traffic and netcap all of it, on the hook its
/// startup line names as `hook`.
fn blast_with_and_without(args: &[&str], hook: &str) {
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let peer_before = offloads(Some(&veth.ns), &veth.ns_if);
    let host_before = offloads(None, &veth.host_if);

    let before = common::rx_packets(&veth.host_if);
    let sent_without = blast(&veth, BLAST_FRAMES, &dir);
    let delivered_without = settle(&veth.host_if) - before;
    assert_eq!(
        delivered_without, sent_without,
        "without netcap the host lost frames: this machine cannot run the test"
    );

    let (pcap, stats) = (dir.join("out.pcap"), dir.join("stats.json"));
    let mut all: Vec<&str> = vec!["capture", "-i", &veth.host_if];
    all.extend_from_slice(args);
    all.extend(["-w", pcap.to_str().expect("utf-8")]);
    all.extend(["--stats-json", stats.to_str().expect("utf-8")]);
    let nc = Netcap::start(&all);
    let peer_during = offloads(Some(&veth.ns), &veth.ns_if);
    let host_during = offloads(None, &veth.host_if);
    let before = common::rx_packets(&veth.host_if);
    let sent_with = blast(&veth, BLAST_FRAMES, &dir);
    let delivered_with = settle(&veth.host_if) - before;
    std::thread::sleep(Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "netcap {args:?}: {}", out.stderr);
    assert!(
        out.stderr.contains(&format!("capturing with {hook}")),
        "netcap {args:?} should capture with {hook}: {}",
        out.stderr
    );

    assert_eq!(
        peer_during, peer_before,
        "{args:?} changed the peer's offloads"
    );
    assert_eq!(
        host_during, host_before,
        "{args:?} changed the host end's offloads"
    );
    assert_eq!(sent_with, sent_without, "trafgen sent a different count");
    assert_eq!(
        delivered_with, delivered_without,
        "{args:?}: frames reaching the interface with netcap vs without"
    );
    let s = netcap_proc::stats(&stats);
    assert_eq!(
        s["captured"].as_u64(),
        Some(delivered_with),
        "{args:?}: captured vs delivered: {}",
        out.stderr
    );
    assert_eq!(s["lost"].as_u64(), Some(0), "{}", out.stderr);
    assert_eq!(
        netcap_proc::read_pcap(&pcap).len() as u64,
        delivered_with,
        "frames in the file"
    );
    assert!(
        s["dropped_by_interface"].is_u64(),
        "the interface's drops are reported: {s}"
    );
}

#[test]
fn the_default_mode_delivers_every_frame_at_full_rate_and_keeps_offloads() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    // The default is tcx for root on Linux 6.6+ (`capture/open.rs`).
    blast_with_and_without(&[], "TC ingress");
}

#[test]
fn af_packet_delivers_every_frame_at_full_rate_and_keeps_offloads() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    blast_with_and_without(&["--backend", "afpacket"], "AF_PACKET");
}

#[test]
fn generic_xdp_delivers_every_frame_at_full_rate_and_keeps_offloads() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    blast_with_and_without(&["--backend", "xdp", "--xdp-mode", "generic"], "XDP");
}

#[test]
fn tcx_delivers_every_frame_at_full_rate_and_keeps_offloads() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    blast_with_and_without(&["--backend", "tc"], "TC ingress");
}

#[test]
fn native_xdp_on_a_veth_turns_the_peers_tso_off_until_it_detaches() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    // What the README says native mode does, and why it is not the default: a veth with
    // a native XDP program takes the software GSO features from its peer (with or
    // without `frags`), so the peer's TCP is segmented before it is sent; the kernel
    // gives them back when the program detaches.
    let veth = VethPair::new();
    let peer_before = offloads(Some(&veth.ns), &veth.ns_if);
    assert!(
        peer_before.contains("tcp-segmentation-offload: on"),
        "{peer_before}"
    );
    let nc = Netcap::start(&[
        "capture",
        "--backend",
        "xdp",
        "--xdp-mode",
        "native",
        "-i",
        &veth.host_if,
        "-F",
        "none",
    ]);
    assert!(
        nc.stderr_so_far().contains("native"),
        "{}",
        nc.stderr_so_far()
    );
    let peer_during = offloads(Some(&veth.ns), &veth.ns_if);
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    let peer_after = offloads(Some(&veth.ns), &veth.ns_if);
    assert!(
        peer_during.contains("tcp-segmentation-offload: off"),
        "{peer_during}"
    );
    assert_eq!(
        peer_after, peer_before,
        "the peer's offloads after detaching"
    );
}

// ---- whole GSO/GRO frames ----------------------------------------------------------

/// Bytes the namespace end sends over TCP to the host end.
const DOWNLOAD: usize = 8 << 20;

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("running ip");
    assert!(st.success(), "ip {args:?} failed");
}

/// Serves `DOWNLOAD` bytes once, from a thread inside namespace `ns`, on `addr`.
fn serve_in(ns: &str, addr: SocketAddrV4) -> std::thread::JoinHandle<io::Result<()>> {
    let path = format!("/var/run/netns/{ns}");
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || -> io::Result<()> {
        let f = File::open(&path)?;
        // SAFETY: `f` is an open namespace file; setns changes only this thread's
        // network namespace, and the thread ends after serving.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let l = TcpListener::bind(addr)?;
        let _ = tx.send(());
        let (mut s, _) = l.accept()?;
        let chunk = vec![0x5a_u8; 1 << 16];
        let mut left = DOWNLOAD;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n])?;
            left -= n;
        }
        Ok(())
    });
    let _ = rx.recv_timeout(Duration::from_secs(5));
    h
}

/// Frame lengths (all, in order) of a pcap file, read by tcpdump's own reader, tshark.
fn lengths(path: &Path) -> Vec<(u32, u32)> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"])
        .output()
        .expect("running tshark");
    assert!(out.status.success(), "tshark failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once('\t')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .collect()
}

fn download_is_captured_whole(args: &[&str], ingress_only: bool, subnet: u8) {
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    // Each test its own subnet: the host ends of parallel tests share one routing table.
    let (host_ip, ns_ip) = (
        format!("10.251.{subnet}.1/24"),
        format!("10.251.{subnet}.2/24"),
    );
    ip(&["addr", "add", &host_ip, "dev", &veth.host_if]);
    ip(&["-n", &veth.ns, "addr", "add", &ns_ip, "dev", &veth.ns_if]);
    let nc_file = dir.join("netcap.pcap");
    let td_file = dir.join("tcpdump.pcap");
    let mut all: Vec<&str> = vec!["capture", "-i", &veth.host_if];
    all.extend_from_slice(args);
    all.extend(["-w", nc_file.to_str().expect("utf-8"), "tcp"]);
    let nc = Netcap::start(&all);
    let mut td = Command::new("tcpdump")
        .args(["-i", &veth.host_if, "-B", "16384", "-Z", "root", "-U", "-w"])
        .arg(&td_file)
        .args(if ingress_only {
            &["-Q", "in", "tcp"][..]
        } else {
            &["tcp"][..]
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tcpdump");
    // tcpdump says "listening on" once its socket is bound.
    let mut err = td.stderr.take().expect("piped");
    let mut seen = String::new();
    let t0 = Instant::now();
    while !seen.contains("listening on") && t0.elapsed() < Duration::from_secs(10) {
        let mut b = [0u8; 256];
        match err.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&b[..n])),
        }
    }
    assert!(seen.contains("listening on"), "tcpdump: {seen}");

    let addr = SocketAddrV4::new(Ipv4Addr::new(10, 251, subnet, 2), 8080);
    let server = serve_in(&veth.ns, addr);
    let mut got = 0usize;
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(5))
        .expect("connecting to the server in the namespace");
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("download: {e}"),
        }
    }
    drop(s);
    assert_eq!(got, DOWNLOAD);
    server.join().expect("server thread").expect("server");
    std::thread::sleep(Duration::from_millis(1500));
    nc.signal(libc::SIGINT);
    // SAFETY: signalling our own child, not yet waited for.
    unsafe { libc::kill(td.id() as i32, libc::SIGINT) };
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(td.wait().expect("tcpdump").success());

    let ours = lengths(&nc_file);
    let theirs = lengths(&td_file);
    let big: Vec<_> = ours.iter().filter(|(len, _)| *len > 9216).collect();
    assert!(
        !big.is_empty(),
        "no frame above 9216 bytes: GSO/GRO frames were cut or segmented ({} frames)",
        ours.len()
    );
    for (len, cap) in &ours {
        assert_eq!(len, cap, "a frame was cut: {args:?}");
    }
    let mut a: Vec<u32> = ours.iter().map(|(l, _)| *l).collect();
    let mut b: Vec<u32> = theirs.iter().map(|(l, _)| *l).collect();
    // The hooks see the frames in the same order per direction; across directions
    // (XDP and tcx are two hooks) the interleaving may differ, so compare the lengths
    // as multisets.
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "frame lengths, netcap {args:?} vs tcpdump");
}

#[test]
fn a_gso_download_is_captured_whole_with_the_lengths_tcpdump_records() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    download_is_captured_whole(&[], false, 1);
}

#[test]
fn af_packet_captures_a_gso_download_whole() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    download_is_captured_whole(&["--backend", "afpacket"], false, 4);
}

#[test]
fn generic_xdp_captures_a_gso_download_whole() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    download_is_captured_whole(&["--backend", "xdp", "--xdp-mode", "generic"], false, 2);
}

#[test]
fn tcx_captures_a_gso_download_whole() {
    common::needs_privileges!();
    let _one_at_a_time = serial();
    download_is_captured_whole(&["--backend", "tc"], false, 3);
}

#[test]
fn fanout_output_is_in_timestamp_order_with_frames_from_every_cpu() {
    // trafgen on every CPU: frames reach each socket's ring from several CPUs, whose
    // stamps interleave out of order by up to ~150 us; the merge must sort them.
    two_workers_in_timestamp_order(&["--backend", "afpacket"], "fanout by flow hash over 2");
}

#[test]
fn xdp_per_cpu_rings_read_by_two_workers_give_every_frame_in_timestamp_order() {
    // Each CPU writes its own ring and each worker reads one; the writer merges them.
    two_workers_in_timestamp_order(&["--backend", "xdp", "--xdp-mode", "generic"], "2 readers");
}

#[test]
fn tcx_per_cpu_rings_read_by_two_workers_give_every_frame_in_timestamp_order() {
    two_workers_in_timestamp_order(&["--backend", "tc"], "2 readers");
}

/// Captures a blast from trafgen on every CPU with 2 decode workers (`-F json`): the
/// startup line says `opened` (the readers), and the output is in timestamp order.
/// XDP generic and AF_PACKET both take every frame here (the host_safety blasts above).
fn two_workers_in_timestamp_order(backend: &[&str], opened: &str) {
    common::needs_privileges!();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let _one_at_a_time = serial();
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let mut args = vec!["capture"];
    args.extend_from_slice(backend);
    let stats = dir.join("stats.json");
    let stats_arg = stats.display().to_string();
    args.extend_from_slice(&["--workers", "2", "-i", &veth.host_if, "-F", "json"]);
    args.extend_from_slice(&["--stats-json", &stats_arg]);
    let nc = Netcap::start(&args);
    let sent = blast(&veth, 100_000, &dir);
    settle(&veth.host_if);
    std::thread::sleep(Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains(opened), "{}", out.stderr);
    let stamps: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["ts_ns"].as_u64())
        .collect();
    // Every frame is accounted for: printed, or counted lost (decoding JSON on a loaded
    // machine may fall behind trafgen).
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("JSON");
    let count = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    assert_eq!(count("seen"), sent, "{report}");
    assert_eq!(stamps.len() as u64 + count("lost"), sent, "{report}");
    assert!(stamps.len() as u64 > sent / 2, "{} of {sent}", stamps.len());
    let backwards = stamps.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!(backwards, 0, "timestamps went backwards {backwards} times");
}
