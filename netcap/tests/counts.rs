//! What the counters say at the end of a run is what happened: frames count as
//! written only once they reached their destination, and `-c` bounds every count.
//! Needs no privileges, except the live case (`cargo xtask test`).
mod common;
mod netcap_proc;

use std::{
    io::Read,
    net::Ipv4Addr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use netcap_proc::{stats, tempdir, udp_frames, write_pcap, Netcap};

#[test]
fn written_counts_only_frames_that_reached_the_file() {
    // /dev/full takes nothing: no frame was written, whatever went into the buffer.
    let dir = tempdir();
    let input = dir.join("in.pcap");
    write_pcap(&input, &udp_frames(600, 100));
    let out = Netcap::run(&["read", input.to_str().expect("utf-8"), "-w", "/dev/full"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(", 0 written"), "{}", out.stderr);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
}

#[test]
fn seen_captured_and_decoded_agree_with_c() {
    let dir = tempdir();
    let (input, stats_path) = (dir.join("in.pcap"), dir.join("s.json"));
    write_pcap(&input, &udp_frames(1000, 100));
    let out = Netcap::run(&[
        "read",
        input.to_str().expect("utf-8"),
        "-c",
        "5",
        "-F",
        "line",
        "--stats-json",
        stats_path.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    let s = stats(&stats_path);
    for key in ["seen", "captured", "decoded", "written"] {
        assert_eq!(s[key].as_u64(), Some(5), "{key}: {s}");
    }
}

/// A pipe that closes before the first flush (`| head -c 1000`): the frames whose
/// text the pipe took still count as written (they used to count 0), and never more
/// than the pipe took.
#[test]
fn written_counts_the_text_a_pipe_took_before_it_closed() {
    let dir = tempdir();
    let (input, stats_path) = (dir.join("in.pcap"), dir.join("s.json"));
    write_pcap(&input, &udp_frames(200_000, 100));
    let mut child = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(["read", input.to_str().expect("utf-8"), "-F", "json"])
        .args([
            "--workers",
            "1",
            "--stats-json",
            stats_path.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netcap starts");
    let mut head = vec![0u8; 1000];
    child
        .stdout
        .take()
        .expect("piped")
        .read_exact(&mut head)
        .expect("1000 bytes of output");
    // The pipe is closed here, as `head -c 1000` closes it.
    let status = child.wait().expect("netcap ends");
    assert_eq!(status.code(), Some(0));
    let lines = head.iter().filter(|&&b| b == b'\n').count() as u64;
    let s = stats(&stats_path);
    let written = s["written"].as_u64().unwrap_or(0);
    assert!(lines > 0 && written >= lines, "{lines} lines read, {s}");
    // A pipe holds at most 1 MiB here (64 KiB by default): far fewer than all frames.
    assert!(written < 200_000, "{s}");
}

/// With nothing to print and no `-w`, nothing is written.
#[test]
fn nothing_is_written_without_a_destination() {
    let dir = tempdir();
    let (input, stats_path) = (dir.join("in.pcap"), dir.join("s.json"));
    write_pcap(&input, &udp_frames(100, 100));
    let out = Netcap::run(&[
        "read",
        input.to_str().expect("utf-8"),
        "-F",
        "none",
        "--stats-json",
        stats_path.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let s = stats(&stats_path);
    assert_eq!(s["decoded"].as_u64(), Some(100), "{s}");
    assert_eq!(s["written"].as_u64(), Some(0), "{s}");
}

/// A live capture on the host end of `veth` with `args`, its stdout a pipe the test
/// reads (or not), its stderr a file; returned once it says it is capturing.
struct Live {
    child: std::process::Child,
    stats_path: std::path::PathBuf,
    err_path: std::path::PathBuf,
}

fn start_live(dir: &std::path::Path, veth: &common::VethPair, args: &[&str]) -> Live {
    let (stats_path, err_path) = (dir.join("s.json"), dir.join("stderr"));
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let child = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(["capture", "-i", &veth.host_if])
        .args(args)
        .args(["--stats-json", stats_path.to_str().expect("utf-8")])
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("netcap starts");
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
    Live {
        child,
        stats_path,
        err_path,
    }
}

/// The same, live, as the report had it: `netcap capture -F json | head -c 1000` on the
/// default path (AF_PACKET, a fanout socket per worker, the merging writer).
#[test]
fn a_live_capture_counts_the_text_a_pipe_took_before_it_closed() {
    common::needs_privileges!();
    let veth = common::VethPair::new();
    let dir = tempdir();
    let Live {
        mut child,
        stats_path,
        err_path,
    } = start_live(&dir, &veth, &["-F", "json", "--workers", "2"]);
    let frames: Vec<Vec<u8>> = (0..2000u16)
        .map(|i| {
            common::eth_ipv4_udp(
                common::test_mac(2),
                common::test_mac(1),
                Ipv4Addr::new(10, 253, 0, 2),
                Ipv4Addr::new(10, 253, 0, 1),
                1000 + i,
                9,
                &[7; 60],
            )
        })
        .collect();
    common::send_frames(&veth.ns, &veth.ns_if, &frames);
    let mut head = vec![0u8; 1000];
    child
        .stdout
        .take()
        .expect("piped")
        .read_exact(&mut head)
        .expect("1000 bytes of output");
    // The pipe is closed here; netcap notices at its next flush, within a second.
    let status = child.wait().expect("netcap ends");
    let text = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{text}");
    let lines = head.iter().filter(|&&b| b == b'\n').count() as u64;
    let s = stats(&stats_path);
    let written = s["written"].as_u64().unwrap_or(0);
    assert!(
        lines > 0 && written >= lines,
        "{lines} lines read, {s}\n{text}"
    );
    assert!(written <= 2000, "{s}");
}

/// A live capture whose output falls behind (stdout a pipe nobody reads during a
/// blast) leaves its losses to the kernel's ring: the capture thread holds the batch
/// no worker queue can take and reads no more frames until it has gone, so nothing is
/// dropped after the copy (`queue_full` 0; it counted most of the blast when such
/// batches were dropped in user space), every frame captured is decoded and printed,
/// and every frame the XDP program saw is captured or counted lost by the ring.
#[test]
fn a_live_capture_behind_its_output_leaves_the_losses_to_the_ring() {
    common::needs_privileges!();
    let veth = common::VethPair::new();
    let dir = tempdir();
    // A 1 MiB ring per CPU (-B is all CPUs' together): 12,000 64-byte frames each.
    let xdp = ["--backend", "xdp", "--xdp-mode", "generic", "-B", "2048"];
    let Live {
        mut child,
        stats_path,
        err_path,
    } = start_live(
        &dir,
        &veth,
        &[&xdp[..], &["-F", "line", "--workers", "1"]].concat(),
    );
    // 300,000 frames while nobody reads: the pipe (64 KiB), the writer, the worker's
    // queue and the ring fill up in turn.
    common::trafgen(
        &veth,
        &dir,
        "{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
         ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), \
         udp(sport=dinc(1024, 65000), dport=9), fill(0x41, 22) }\n",
        300_000,
        false,
    );
    // SAFETY: a signal to our own child, not yet waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut text = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut text)
        .expect("netcap's output");
    let status = child.wait().expect("netcap ends");
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let s = stats(&stats_path);
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(u64::MAX);
    assert_eq!(n(&s["lost_by_cause"]["queue_full"]), 0, "{s}");
    assert!(
        n(&s["lost_by_cause"]["ring_full"]) > 0,
        "the blast did not fill the ring, so this test shows nothing: {s}"
    );
    let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(
        lines,
        n(&s["decoded"]),
        "every frame decoded was printed: {s}"
    );
    assert_eq!(n(&s["decoded"]), n(&s["captured"]), "{s}");
    assert_eq!(
        n(&s["seen"]),
        n(&s["captured"]) + n(&s["filtered"]) + n(&s["lost"]),
        "{s}"
    );
}
