//! Privileged end-to-end tests of `netcap capture` with the XDP/TC backend: real frames
//! cross a real veth into the real kernel program, and the output is checked exactly.
//!
//! Run by `cargo xtask test` (which builds the eBPF object into the binary and sets
//! `NETCAP_PRIVILEGED_TESTS=1`).
mod common;
mod netcap_proc;

use std::{net::Ipv4Addr, path::PathBuf};

use common::{eth_arp_request, eth_ipv4_icmp_echo, eth_ipv4_tcp, eth_ipv4_udp, test_mac, VethPair};
use netcap_proc::{read_pcap, Netcap};

const A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/capture")
        .join(name)
}

/// The fixed frame set of the golden test: every protocol turtle decodes, with and
/// without payload, a frame padded to the Ethernet minimum, and one it does not (ARP).
fn golden_frames() -> Vec<Vec<u8>> {
    let (ma, mb) = (test_mac(1), test_mac(2));
    let mut padded = eth_ipv4_udp(ma, mb, A, B, 5353, 53, b"hi");
    padded.resize(60, 0);
    vec![
        eth_ipv4_icmp_echo(
            ma,
            mb,
            A,
            B,
            0x1234,
            1,
            b"abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        eth_ipv4_tcp(ma, mb, A, B, 40000, 80, 0x02, 1000, 0, b""),
        eth_ipv4_tcp(
            ma,
            mb,
            A,
            B,
            40000,
            80,
            0x18,
            1001,
            7,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        eth_ipv4_udp(ma, mb, A, B, 40001, 53, &[0xab; 100]),
        padded,
        eth_arp_request(ma, A, B),
        eth_ipv4_tcp(ma, mb, B, A, 80, 40000, 0x11, 7, 1001, &[0u8; 300]),
    ]
}

#[test]
fn turtle_output_of_live_frames_matches_the_reference_decoder() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let frames = golden_frames();
    // The golden text was made by the reference decoder from this pcap; make sure the
    // pcap still holds exactly the frames sent here.
    if std::env::var_os("NETCAP_REGENERATE").is_some() {
        netcap_proc::write_pcap(&fixture("golden_frames.pcap"), &frames);
        return;
    }
    let fixture_frames = read_pcap(&fixture("golden_frames.pcap"));
    assert_eq!(
        fixture_frames.iter().map(|f| &f.1).collect::<Vec<_>>(),
        frames.iter().collect::<Vec<_>>()
    );
    let expected = std::fs::read(fixture("golden_frames.turtle")).expect("golden file");

    let veth = VethPair::new();
    // Ingress only: the host may answer the ARP request, and that reply is not part of
    // the fixed frame set.
    let count = frames.len().to_string();
    let nc = Netcap::start(&[
        "capture",
        "--backend",
        "xdp",
        "-i",
        &veth.host_if,
        "--direction",
        "in",
        "-c",
        &count,
    ]);
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

/// Distinct UDP frames, numbered in the payload.
fn numbered_frames(n: usize, size: usize) -> Vec<Vec<u8>> {
    numbered_flows(n, size, 7)
}

/// `n` UDP frames of `size` bytes, numbered in their payload, over `flows` source ports
/// (1000, 1001, ...) taken in turn.
fn numbered_flows(n: usize, size: usize, flows: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut payload = vec![(i % 251) as u8; size.saturating_sub(42)];
            payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
            eth_ipv4_udp(
                test_mac(1),
                test_mac(2),
                A,
                B,
                1000 + (i % flows) as u16,
                9,
                &payload,
            )
        })
        .collect()
}

#[test]
fn every_frame_is_captured_in_order_byte_identical_and_counted() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let frames = numbered_frames(2000, 200);
    let veth = VethPair::new();
    let run = netcap_proc::capture_to_files(
        &[
            "capture",
            "--backend",
            "xdp",
            "-i",
            &veth.host_if,
            "-c",
            "2000",
            "-F",
            "none",
        ],
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
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    // Sizes that fall in every record size class, and a jumbo-class one cut by -s.
    let frames: Vec<Vec<u8>> = [60usize, 128, 129, 600, 1514]
        .iter()
        .flat_map(|&s| numbered_frames(1, s))
        .collect();
    for snap in [64usize, 1000] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let pcap = dir.join("snap.pcap");
        let nc = Netcap::start(&[
            "capture",
            "--backend",
            "xdp",
            "-i",
            &veth.host_if,
            "-c",
            "5",
            "-s",
            &snap.to_string(),
            "-w",
            pcap.to_str().expect("utf-8"),
        ]);
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
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let frames = numbered_frames(50, 300);
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let pcap = dir.join("egress.pcap");
    let nc = Netcap::start(&[
        "capture",
        "--backend",
        "xdp",
        "-i",
        &veth.host_if,
        "--direction",
        "out",
        "-c",
        "50",
        "-w",
        pcap.to_str().expect("utf-8"),
    ]);
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
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGKILL] {
        let nc = Netcap::start(&[
            "capture",
            "--backend",
            "xdp",
            "-i",
            &veth.host_if,
            "-F",
            "none",
        ]);
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
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    let nc = Netcap::start(&[
        "capture",
        "--backend",
        "xdp",
        "-i",
        &veth.host_if,
        "-F",
        "none",
    ]);
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
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    let first = Netcap::start(&[
        "capture",
        "--backend",
        "xdp",
        "-i",
        &veth.host_if,
        "-F",
        "none",
        "--direction",
        "in",
    ]);
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
    let second = Netcap::run_env(
        &[
            "capture",
            "-i",
            &veth.host_if,
            "--backend",
            "xdp",
            "-c",
            "1",
        ],
        &[("PATH", &path)],
    );
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
    // The default backend, AF_PACKET, captures beside it.
    let third = Netcap::start(&["capture", "-i", &veth.host_if, "-c", "3", "-F", "none"]);
    assert!(
        third.stderr_so_far().contains("capturing with AF_PACKET"),
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

/// Drops the fields of a JSON line that differ between two captures of the same frame
/// (the timestamps: each backend stamps the frame at its own hook).
fn without_time(line: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|k, _| !k.starts_with("ts"));
    }
    v
}

#[test]
fn xdp_and_af_packet_give_identical_output_for_the_same_frames() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let frames = golden_frames();
    let count = frames.len().to_string();
    let expected = std::fs::read(fixture("golden_frames.turtle")).expect("golden file");
    for format in ["turtle", "json", "line"] {
        let veth = VethPair::new();
        // Both captures run at once on the same interface and see the same frames.
        let args = |backend| {
            vec![
                "capture",
                "-i",
                &veth.host_if,
                "--direction",
                "in",
                "--backend",
                backend,
                "-c",
                &count,
                "-F",
                format,
            ]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
        };
        let xdp_args = args("xdp");
        let afp_args = args("afpacket");
        let xdp = Netcap::start(&xdp_args.iter().map(String::as_str).collect::<Vec<_>>());
        let afp = Netcap::start(&afp_args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            afp.stderr_so_far().contains("AF_PACKET"),
            "{}",
            afp.stderr_so_far()
        );
        common::send_frames(&veth.ns, &veth.ns_if, &frames);
        let (x, a) = (xdp.wait(), afp.wait());
        assert!(
            x.status.success() && a.status.success(),
            "{}\n{}",
            x.stderr,
            a.stderr
        );
        let (xs, as_) = (
            String::from_utf8_lossy(&x.stdout),
            String::from_utf8_lossy(&a.stdout),
        );
        match format {
            "turtle" => {
                assert_eq!(xs, String::from_utf8_lossy(&expected));
                assert_eq!(as_, String::from_utf8_lossy(&expected));
            }
            "json" => {
                let xv: Vec<_> = xs.lines().map(without_time).collect();
                let av: Vec<_> = as_.lines().map(without_time).collect();
                assert_eq!(xv.len(), frames.len());
                assert_eq!(xv, av);
            }
            _ => {
                // The line format starts with the time of day: compare what follows it.
                let strip = |s: &str| -> Vec<String> {
                    s.lines()
                        .map(|l| l.split_once(' ').map_or(l, |x| x.1).to_owned())
                        .collect()
                };
                assert_eq!(strip(&xs).len(), frames.len());
                assert_eq!(strip(&xs), strip(&as_));
            }
        }
    }
}

#[test]
fn a_small_ring_wraps_many_times_without_corrupting_a_frame() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    // 64 KiB of ring for ~1 MB of records: the reader's position wraps about 15 times,
    // and records that straddle the end are read through the double mapping.
    let frames = numbered_frames(4000, 231);
    let veth = VethPair::new();
    let run = netcap_proc::capture_to_files(
        &[
            "capture",
            "--backend",
            "xdp",
            "-i",
            &veth.host_if,
            "-B",
            "64",
            "-F",
            "none",
            "--direction",
            "in",
        ],
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

/// `frame` with an 802.1Q tag for `vid` inserted after the MAC addresses.
fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

#[test]
fn vlan_filters_select_what_tcpdump_would_on_both_backends() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let plain = numbered_frames(6, 120);
    let frames = vec![
        tagged(&plain[0], 5),
        plain[1].clone(),
        tagged(&plain[2], 7),
        tagged(&plain[3], 5),
        plain[4].clone(),
        eth_arp_request(test_mac(1), A, B),
    ];
    // Expected selections, as tcpdump -r defines them on these frames: `udp` does not
    // look inside a VLAN tag; `vlan 5 and udp` does.
    let cases: [(&str, Vec<usize>); 3] = [
        ("vlan 5 and udp", vec![0, 3]),
        ("udp", vec![1, 4]),
        ("vlan", vec![0, 2, 3]),
    ];
    for backend in ["xdp", "afpacket"] {
        for (expr, want) in &cases {
            let veth = VethPair::new();
            let run = netcap_proc::capture_to_files(
                &[
                    "capture",
                    "-i",
                    &veth.host_if,
                    "--backend",
                    backend,
                    "--direction",
                    "in",
                    expr,
                ],
                || common::send_frames(&veth.ns, &veth.ns_if, &frames),
                true,
            );
            let got: Vec<Vec<u8>> = run.frames.into_iter().map(|f| f.1).collect();
            let expected: Vec<Vec<u8>> = want.iter().map(|&i| frames[i].clone()).collect();
            assert_eq!(got, expected, "{backend} `{expr}`");
            let s = run.stats;
            assert_eq!(
                s["captured"].as_u64(),
                Some(want.len() as u64),
                "{backend} {expr}: {s}"
            );
            assert_eq!(s["lost"], 0, "{s}");
            if backend == "xdp" {
                // Every frame is seen by the hook and the rest are filtered in the kernel.
                assert_eq!(s["seen"].as_u64(), Some(frames.len() as u64), "{s}");
                assert_eq!(
                    s["filtered"].as_u64(),
                    Some((frames.len() - want.len()) as u64)
                );
            }
        }
    }
}

#[test]
fn af_packet_fanout_spreads_flows_over_workers_and_keeps_capture_order() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    // 64 flows (source ports), so both sockets of the group get some.
    let frames = numbered_flows(3000, 102, 64);
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let flows_json = dir.join("flows.json");
    let run = netcap_proc::capture_to_files(
        &[
            "capture",
            "-i",
            &veth.host_if,
            "--backend",
            "afpacket",
            "--direction",
            "in",
            "--workers",
            "2",
            "-F",
            "line",
            "--flows-json",
            flows_json.to_str().expect("utf-8"),
        ],
        || common::send_frames(&veth.ns, &veth.ns_if, &frames),
        true,
    );
    assert!(run.out.stderr.contains("fanout"), "{}", run.out.stderr);
    // Merged back by timestamp: the file holds every frame, in the order sent.
    assert_eq!(run.frames.len(), frames.len(), "{}", run.out.stderr);
    for (i, ((_, got), sent)) in run.frames.iter().zip(&frames).enumerate() {
        assert_eq!(got, sent, "frame {i} is not the one sent {i}th");
    }
    let s = &run.stats;
    assert_eq!(s["seen"], 3000, "{s}");
    assert_eq!(s["captured"], 3000, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    let per_socket: Vec<u64> = s["fanout_captured"]
        .as_array()
        .expect("fanout_captured is a list")
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    assert_eq!(per_socket.len(), 2, "{s}");
    assert!(
        per_socket.iter().all(|&n| n > 0),
        "one socket got nothing: {s}"
    );
    assert_eq!(per_socket.iter().sum::<u64>(), 3000, "{s}");
    // The text is in the same order as the file: each line is its frame's.
    let lines: Vec<&str> = std::str::from_utf8(&run.out.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert_eq!(lines.len(), frames.len());
    for (i, line) in lines.iter().enumerate() {
        let port = format!(".{} > ", 1000 + i % 64);
        assert!(line.contains(&port), "line {i} is not frame {i}'s: {line}");
    }
    // Flow statistics across the fanout workers: 64 flows, 3000/64 frames each (+1 for
    // the first 3000 % 64), each flow counted whole in one place.
    let text = std::fs::read_to_string(&flows_json).expect("flows file");
    let mut per_port: Vec<(u64, u64)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let packets =
                v["packets_ab"].as_u64().unwrap_or(0) + v["packets_ba"].as_u64().unwrap_or(0);
            let port = v["a_port"]
                .as_u64()
                .unwrap_or(0)
                .max(v["b_port"].as_u64().unwrap_or(0));
            (port, packets)
        })
        .collect();
    per_port.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..64u64)
        .map(|p| (1000 + p, 3000 / 64 + u64::from(p < 3000 % 64)))
        .collect();
    assert_eq!(per_port, expected, "{text}");
}

#[test]
fn frames_still_in_an_open_af_packet_block_at_sigint_are_captured() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    // A few frames fill no block: they wait in the open one for the block timeout
    // (100 ms with -F none). SIGINT right after sending must still get every one of
    // them into the file and the counts, not leave them in `seen` only.
    let frames = numbered_frames(20, 100);
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let (pcap, stats) = (dir.join("out.pcap"), dir.join("stats.json"));
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "--backend",
        "afpacket",
        "--direction",
        "in",
        "-w",
        pcap.to_str().expect("utf-8"),
        "--stats-json",
        stats.to_str().expect("utf-8"),
    ]);
    common::send_frames(&veth.ns, &veth.ns_if, &frames);
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    let got = read_pcap(&pcap);
    assert_eq!(got.len(), frames.len(), "{}", out.stderr);
    for (i, ((_, data), sent)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(data, sent, "frame {i} differs");
    }
    let s = netcap_proc::stats(&stats);
    assert_eq!(s["seen"], 20, "{s}");
    assert_eq!(s["captured"], 20, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
}
