//! Privileged end-to-end tests of `netcap capture` across its backends: the XDP/TC and
//! AF_PACKET backends give the same output and select the same frames for the same
//! filters, and the AF_PACKET backend's fanout workers and open ring blocks lose nothing.
//! The XDP backend alone is tested in `capture_xdp.rs`.
//!
//! Run by `cargo xtask test` (which builds the eBPF object into the binary and sets
//! `NETCAP_PRIVILEGED_TESTS=1`).
mod common;
mod netcap_proc;

use common::{
    capture_fixture, eth_arp_request, golden_frames, numbered_flows, numbered_frames, test_mac,
    vlan_tagged, VethPair, IP_A as A, IP_B as B,
};
use netcap_proc::{read_pcap, Netcap};

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
    common::needs_privileges!();
    let frames = golden_frames();
    let count = frames.len().to_string();
    let expected = std::fs::read(capture_fixture("golden_frames.turtle")).expect("golden file");
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
fn vlan_filters_select_what_tcpdump_would_on_both_backends() {
    common::needs_privileges!();
    let plain = numbered_frames(6, 120);
    let frames = vec![
        vlan_tagged(&plain[0], 5),
        plain[1].clone(),
        vlan_tagged(&plain[2], 7),
        vlan_tagged(&plain[3], 5),
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
                &veth.capture(backend, &["--direction", "in", expr]),
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
    common::needs_privileges!();
    // 64 flows (source ports), so both sockets of the group get some.
    let frames = numbered_flows(3000, 102, 64);
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let flows_json = dir.join("flows.json");
    let run = netcap_proc::capture_to_files(
        &veth.capture(
            "afpacket",
            &[
                "--direction",
                "in",
                "--workers",
                "2",
                "-F",
                "line",
                "--flows-json",
                flows_json.to_str().expect("utf-8"),
            ],
        ),
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
    common::needs_privileges!();
    // A few frames fill no block: they wait in the open one for the block timeout
    // (100 ms with -F none). SIGINT right after sending must still get every one of
    // them into the file and the counts, not leave them in `seen` only.
    let frames = numbered_frames(20, 100);
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let (pcap, stats) = (dir.join("out.pcap"), dir.join("stats.json"));
    let nc = Netcap::start(&veth.capture(
        "afpacket",
        &[
            "--direction",
            "in",
            "-w",
            pcap.to_str().expect("utf-8"),
            "--stats-json",
            stats.to_str().expect("utf-8"),
        ],
    ));
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
