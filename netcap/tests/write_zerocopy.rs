//! Privileged tests of the direct path's zero-copy `-w` (`pipeline/direct.rs`): rounds
//! written with `writev` straight from the kernel's ring, on `--backend tc` (per-CPU
//! rings) and the default AF_PACKET (TPACKET_V3 blocks). Real frames on a veth pair
//! with an MTU of 65,535, sent in a burst so that rounds hold far more than the
//! 64 KiB from which they go through: every size class of the record builder (copied
//! beside its header, pointed at, above a page, a frame of 65,549 bytes). The file's
//! oracles: the frames sent (bytes, lengths, count), `tshark` and `tcpdump -r`.
mod common;
mod netcap_proc;

use std::{
    io::Read,
    os::fd::AsRawFd,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::Netcap;

/// Frame sizes, cycled: around the builder's copy threshold (128), a page, jumbo,
/// and the largest frame a 65,535-byte MTU lets out.
const SIZES: [usize; 10] = [60, 100, 127, 128, 129, 512, 1500, 4097, 9014, 65_549];

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("running ip");
    assert!(st.success(), "ip {args:?} failed");
}

/// A veth pair whose ends both take frames of up to 65,549 bytes.
fn jumbo_veth() -> VethPair {
    let veth = VethPair::new();
    ip(&["link", "set", "dev", &veth.host_if, "mtu", "65535"]);
    ip(&[
        "-n",
        &veth.ns,
        "link",
        "set",
        "dev",
        &veth.ns_if,
        "mtu",
        "65535",
    ]);
    veth
}

/// `rounds` frames of each size in `sizes`, interleaved, each one different.
fn frames(rounds: usize, sizes: &[usize]) -> Vec<Vec<u8>> {
    let by_size: Vec<Vec<Vec<u8>>> = sizes
        .iter()
        .map(|&s| netcap_proc::udp_frames(rounds, s))
        .collect();
    (0..rounds)
        .flat_map(|i| by_size.iter().map(move |v| v[i].clone()))
        .collect()
}

/// (frame.len, frame.cap_len) of every frame of `path`, as tshark reads them.
fn tshark_lengths(path: &std::path::Path) -> Vec<(usize, usize)> {
    let out = Command::new("tshark")
        .arg("-r")
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

/// Frames `tcpdump -r` reads from `path` (one line each).
fn tcpdump_count(path: &std::path::Path) -> usize {
    let out = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(path)
        .output()
        .expect("running tcpdump -r");
    assert!(out.status.success(), "tcpdump -r failed");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn file_holds_every_frame_as_sent(backend: &[&str]) {
    common::needs_privileges!();
    let veth = jumbo_veth();
    let dir = netcap_proc::tempdir();
    let nc_file = dir.join("netcap.pcap");
    let mut args = vec!["capture", "-i", &veth.host_if];
    args.extend_from_slice(backend);
    args.extend(["-w", nc_file.to_str().expect("utf-8")]);
    let nc = Netcap::start(&args);
    let sent = frames(40, &SIZES);
    common::send_frames(&veth.ns, &veth.ns_if, &sent);
    std::thread::sleep(Duration::from_millis(500));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);

    let ours = netcap_proc::read_pcap(&nc_file);
    assert_eq!(ours.len(), sent.len(), "frames in netcap's file");
    for (i, ((orig, data), want)) in ours.iter().zip(&sent).enumerate() {
        assert_eq!(*orig as usize, want.len(), "frame {i}: original length");
        assert!(data == want, "frame {i} ({} bytes) differs", want.len());
    }
    let lengths: Vec<(usize, usize)> = sent.iter().map(|f| (f.len(), f.len())).collect();
    assert!(tshark_lengths(&nc_file) == lengths, "tshark's lengths");
    assert_eq!(
        tcpdump_count(&nc_file),
        sent.len(),
        "tcpdump -r of netcap's file"
    );
    assert!(
        out.stderr.contains(&format!("{} written", sent.len())),
        "{}",
        out.stderr
    );
}

#[test]
fn tcx_w_file_holds_every_frame_as_sent() {
    file_holds_every_frame_as_sent(&["--backend", "tc"]);
}

#[test]
fn af_packet_w_file_holds_every_frame_as_sent() {
    file_holds_every_frame_as_sent(&[]);
}

/// True once a thread of process `pid` sleeps in `writev` (syscall 20 on x86_64; the
/// file says "running" for a thread that is not in a system call's sleep).
fn blocked_in_writev(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("syscall"))
            .is_ok_and(|s| s.split_whitespace().next() == Some("20"))
    })
}

fn closed_pipe_counts_what_reached_it(backend: &[&str]) {
    common::needs_privileges!();
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: reads the x86_64 syscall number of writev");
        return;
    }
    let veth = jumbo_veth();
    let dir = netcap_proc::tempdir();
    let stats = dir.join("stats.json");
    let err_path = dir.join("stderr");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut args = vec!["capture", "-i", &veth.host_if];
    args.extend_from_slice(backend);
    args.extend(["-w", "-", "--stats-json", stats.to_str().expect("utf-8")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("starting netcap");
    let mut out = child.stdout.take().expect("piped");
    // A pipe of 256 KiB: it holds three records and part of a fourth.
    const PIPE: usize = 256 * 1024;
    // SAFETY: fcntl on a pipe descriptor we own, with an integer argument.
    let set = unsafe { libc::fcntl(out.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE as libc::c_int) };
    assert_eq!(set, PIPE as libc::c_int, "F_SETPIPE_SZ");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("capturing with")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "netcap did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every frame alone makes a round of at least 64 KiB: every round goes through.
    let sizes = [65_549, 65_530, 65_541, 65_520];
    let sent = frames(10, &sizes);
    common::send_frames(&veth.ns, &veth.ns_if, &sent);
    // The file header and the first record, read.
    let mut head = vec![0u8; 24 + 16 + sent[0].len()];
    out.read_exact(&mut head).expect("reading the first record");
    let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    assert_eq!(magic, 0xa1b2_c3d4);
    assert!(head[40..] == sent[0][..], "the first record's frame");
    // Then the reader stops, until netcap sleeps in writev on the full pipe; what the
    // pipe holds then is all that reaches it before the reader goes.
    let t1 = Instant::now();
    while !blocked_in_writev(child.id()) {
        assert!(
            t1.elapsed() < Duration::from_secs(20),
            "netcap never blocked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, to `queued`, which outlives the call.
    let rc = unsafe { libc::ioctl(out.as_raw_fd(), libc::FIONREAD, &raw mut queued) };
    assert_eq!(rc, 0, "FIONREAD");
    drop(out);
    let status = child.wait().expect("waitpid");
    assert_eq!(status.code(), Some(0), "a closed pipe is a normal end");
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(!stderr.contains("error"), "{stderr}");
    // The records that reached the pipe whole: the read ones, and those within what
    // the pipe held.
    let reached = head.len() + queued as usize - 24;
    let mut end = 0;
    let whole = sent
        .iter()
        .take_while(|f| {
            end += 16 + f.len();
            end <= reached
        })
        .count();
    assert!(
        whole >= 4 && whole < sent.len(),
        "{whole} records, {reached} bytes"
    );
    let written = netcap_proc::stats(&stats)["written"].as_u64();
    assert_eq!(written, Some(whole as u64), "{stderr}");
}

#[test]
fn tcx_w_stdout_closed_early_counts_the_records_that_reached_the_pipe() {
    closed_pipe_counts_what_reached_it(&["--backend", "tc"]);
}

#[test]
fn af_packet_w_stdout_closed_early_counts_the_records_that_reached_the_pipe() {
    closed_pipe_counts_what_reached_it(&[]);
}
