//! Privileged end-to-end tests of `netcap capture` with the XDP/TC backend: real frames
//! cross a real veth into the real kernel program, and the output is checked exactly.
//!
//! Run by `cargo xtask test` (which builds the eBPF object into the binary and sets
//! `NETCAP_PRIVILEGED_TESTS=1`).
mod common;
mod netcap_proc;

use common::{capture_fixture, golden_frames, numbered_frames, VethPair};
use netcap_proc::{read_pcap, Netcap};

#[test]
fn turtle_output_of_live_frames_matches_the_reference_decoder() {
    common::needs_privileges!();
    let frames = golden_frames();
    // The golden text was made by the reference decoder from this pcap; make sure the
    // pcap still holds exactly the frames sent here.
    if std::env::var_os("NETCAP_REGENERATE").is_some() {
        netcap_proc::write_pcap(&capture_fixture("golden_frames.pcap"), &frames);
        return;
    }
    let fixture_frames = read_pcap(&capture_fixture("golden_frames.pcap"));
    assert_eq!(
        fixture_frames.iter().map(|f| &f.1).collect::<Vec<_>>(),
        frames.iter().collect::<Vec<_>>()
    );
    let expected = std::fs::read(capture_fixture("golden_frames.turtle")).expect("golden file");

    let veth = VethPair::new();
    // Ingress only: the host may answer the ARP request, and that reply is not part of
    // the fixed frame set.
    let count = frames.len().to_string();
    let nc = Netcap::start(&veth.capture("xdp", &["--direction", "in", "-c", &count]));
    common::send_frames(&veth.ns, &veth.ns_if, &frames);
    let out = nc.wait();
    assert!(out.status.success(), "netcap failed: {}", out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&expected)
    );
    assert!(
        out.stderr.contains("7 frames seen, 7 captured"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_frame_is_captured_in_order_byte_identical_and_counted() {
    common::needs_privileges!();
    let frames = numbered_frames(2000, 200);
    let veth = VethPair::new();
    let run = netcap_proc::capture_to_files(
        &veth.capture("xdp", &["-c", "2000", "-F", "none"]),
        || common::send_frames(&veth.ns, &veth.ns_if, &frames),
        false,
    );
    assert!(
        run.out.stdout.is_empty(),
        "stdout must stay empty with -F none"
    );
    let got = run.frames;
    assert_eq!(got.len(), frames.len());
    for (i, ((orig, data), sent)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(data, sent, "frame {i} differs");
        assert_eq!(*orig as usize, sent.len());
    }
    let s = run.stats;
    assert_eq!(s["seen"], 2000, "{s}");
    assert_eq!(s["captured"], 2000, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["filtered"], 0, "{s}");
    assert_eq!(s["written"], 2000, "{s}");
    // -F none with -w: the direct path writes without decoding.
    assert_eq!(s["decoded"], 0, "{s}");
}

#[test]
fn snap_length_cuts_frames_and_keeps_their_length() {
    common::needs_privileges!();
    // Sizes that fall in every record size class, and a jumbo-class one cut by -s.
    let frames: Vec<Vec<u8>> = [60usize, 128, 129, 600, 1514]
        .iter()
        .flat_map(|&s| numbered_frames(1, s))
        .collect();
    for snap in [64usize, 1000] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let pcap = dir.join("snap.pcap");
        let nc = Netcap::start(&veth.capture(
            "xdp",
            &[
                "-c",
                "5",
                "-s",
                &snap.to_string(),
                "-w",
                pcap.to_str().expect("utf-8"),
            ],
        ));
        common::send_frames(&veth.ns, &veth.ns_if, &frames);
        let out = nc.wait();
        assert!(out.status.success(), "netcap failed: {}", out.stderr);
        let got = read_pcap(&pcap);
        assert_eq!(got.len(), frames.len());
        for ((orig, data), sent) in got.iter().zip(&frames) {
            assert_eq!(*orig as usize, sent.len(), "original length kept");
            assert_eq!(data[..], sent[..sent.len().min(snap)], "first {snap} bytes");
        }
    }
}

#[test]
fn egress_frames_are_captured_with_direction_out() {
    common::needs_privileges!();
    let frames = numbered_frames(50, 300);
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let pcap = dir.join("egress.pcap");
    let nc = Netcap::start(&veth.capture(
        "xdp",
        &[
            "--direction",
            "out",
            "-c",
            "50",
            "-w",
            pcap.to_str().expect("utf-8"),
        ],
    ));
    assert!(
        nc.stderr_so_far().contains("TC egress"),
        "{}",
        nc.stderr_so_far()
    );
    // Frames arriving from the namespace must not be captured with --direction out.
    common::send_frames(&veth.ns, &veth.ns_if, &numbered_frames(5, 100));
    common::send_frames_from_host(&veth.host_if, &frames);
    let out = nc.wait();
    assert!(out.status.success(), "netcap failed: {}", out.stderr);
    let got: Vec<Vec<u8>> = read_pcap(&pcap).into_iter().map(|f| f.1).collect();
    assert_eq!(got, frames);
}

#[test]
fn sigterm_and_sigkill_leave_nothing_attached() {
    common::needs_privileges!();
    let veth = VethPair::new();
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGKILL] {
        let nc = Netcap::start(&veth.capture("xdp", &["-F", "none"]));
        assert!(
            netcap_proc::xdp_attached(&veth.host_if),
            "XDP attached while running"
        );
        assert_eq!(
            netcap_proc::tcx_egress_programs(&veth.host_if),
            1,
            "one tcx program"
        );
        nc.signal(signal);
        let out = nc.wait();
        if signal == libc::SIGKILL {
            assert!(!out.status.success());
        } else {
            assert!(
                out.status.success(),
                "clean exit on signal {signal}: {}",
                out.stderr
            );
            assert!(
                out.stderr.contains("frames seen"),
                "summary printed: {}",
                out.stderr
            );
        }
        assert!(
            !netcap_proc::xdp_attached(&veth.host_if),
            "XDP detached after signal {signal}"
        );
        assert_eq!(
            netcap_proc::tcx_egress_programs(&veth.host_if),
            0,
            "tcx detached"
        );
    }
}

#[test]
fn a_vanished_interface_ends_the_capture_with_a_message_and_the_summary() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let nc = Netcap::start(&veth.capture("xdp", &["-F", "none"]));
    common::send_frames(&veth.ns, &veth.ns_if, &numbered_frames(10, 100));
    let host = veth.host_if.clone();
    drop(veth);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("interface {host} vanished")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("10 frames seen, 10 captured"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_interface_with_an_xdp_program_is_never_taken_over() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let first = Netcap::start(&veth.capture("xdp", &["-F", "none", "--direction", "in"]));
    // --backend xdp must refuse and name the program already there, asking iproute2
    // for its name by absolute path: an `ip` first in PATH must not run (as root).
    let dir = netcap_proc::tempdir();
    let marker = dir.join("ran");
    let fake = dir.join("ip");
    std::fs::write(&fake, format!("#!/bin/sh\ntouch {}\n", marker.display()))
        .expect("writing the fake ip");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let second = Netcap::run_env(&veth.capture("xdp", &["-c", "1"]), &[("PATH", &path)]);
    assert!(!marker.exists(), "netcap ran the `ip` found through PATH");
    assert!(!second.status.success());
    assert!(
        second.stderr.contains("already has an XDP program"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("netcap_xdp"),
        "names the program: {}",
        second.stderr
    );
    // The default backend (tcx, which needs no XDP) captures beside it.
    let third = Netcap::start(&["capture", "-i", &veth.host_if, "-c", "3", "-F", "none"]);
    assert!(
        third.stderr_so_far().contains("capturing with TC ingress"),
        "{}",
        third.stderr_so_far()
    );
    common::send_frames(&veth.ns, &veth.ns_if, &numbered_frames(3, 100));
    let out = third.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("3 captured"), "{}", out.stderr);
    first.signal(libc::SIGINT);
    assert!(first.wait().status.success());
}

#[test]
fn no_interface_and_bad_flags_get_clear_messages() {
    // Needs no privileges: the interface check comes first.
    let out = Netcap::run(&["capture", "-i", "nc-no-such-if0", "-c", "1"]);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("no such interface: nc-no-such-if0"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // Paths and flag combinations are checked before anything is attached.
    // Status 1 for a destination that cannot be written, 2 for bad usage.
    for (bad, status) in [
        (&["--stats-json", "/nonexistent-netcap-dir/s.json"][..], 1),
        (&["--flows-json", "/nonexistent-netcap-dir/f.json"][..], 1),
        (&["-w", "/tmp"][..], 1),
        (&["-w", "-", "-F", "line"][..], 2),
        (&["-s", "262145"][..], 2),
        (&["--workers", "0"][..], 2),
        (&["--workers", "257"][..], 2),
        (&["--stats-interval", "inf"][..], 2),
    ] {
        let mut args = vec!["capture", "-i", "lo", "-c", "1"];
        args.extend_from_slice(bad);
        let out = Netcap::run(&args);
        assert_eq!(out.status.code(), Some(status), "{bad:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("capturing with"),
            "{bad:?} was refused only after attaching: {}",
            out.stderr
        );
    }
    let out = Netcap::run(&["capture", "-i", "lo", "-s", "262145"]);
    assert!(
        out.stderr.contains("snap length 262145 is above"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_small_ring_wraps_many_times_without_corrupting_a_frame() {
    common::needs_privileges!();
    // 64 KiB of ring for ~1 MB of records: the reader's position wraps about 15 times,
    // and records that straddle the end are read through the double mapping.
    let frames = numbered_frames(4000, 231);
    let veth = VethPair::new();
    let run = netcap_proc::capture_to_files(
        &veth.capture("xdp", &["-B", "64", "-F", "none", "--direction", "in"]),
        || {
            // In bursts of 100 (about 25 KiB of records, under half the ring), so the
            // reader wraps many times however loaded the machine is: this tests the
            // wrap, not the reader's speed.
            for chunk in frames.chunks(100) {
                common::send_frames(&veth.ns, &veth.ns_if, chunk);
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
        },
        true,
    );
    let (s, got) = (run.stats, run.frames);
    assert_eq!(s["seen"], 4000, "{s}");
    assert_eq!(s["captured"].as_u64(), Some(got.len() as u64), "{s}");
    assert_eq!(
        s["seen"].as_u64(),
        Some(s["captured"].as_u64().unwrap_or(0) + s["lost"].as_u64().unwrap_or(0))
    );
    // What was captured is an in-order subsequence of what was sent, byte for byte.
    let mut sent = frames.iter();
    for (i, (_, data)) in got.iter().enumerate() {
        assert!(
            sent.any(|f| f == data),
            "captured frame {i} is not the next sent frame"
        );
    }
    // More records than the ring holds (about 256), so the position wrapped.
    assert!(
        got.len() > 512,
        "enough frames captured to wrap: {}",
        got.len()
    );
}
