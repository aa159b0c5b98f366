//! Privileged tests of the live statistics line (`cargo xtask test`): it shows the
//! losses in the kernel ring, which the old line (fed by user-space counters alone)
//! never saw (on the single-socket and the fanout path), and `-v -w` prints it every
//! second as tcpdump's "Got N".
mod common;
mod netcap_proc;

use std::{net::Ipv4Addr, time::Duration};

use common::VethPair;
use netcap_proc::Netcap;

fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            common::eth_ipv4_udp(
                common::test_mac(2),
                common::test_mac(1),
                Ipv4Addr::new(10, 253, 0, 2),
                Ipv4Addr::new(10, 253, 0, 1),
                1000 + (i % 1000) as u16,
                9,
                &[i as u8; 40],
            )
        })
        .collect()
}

/// `N` in "ring full N" of a line, if it has one.
fn ring_full(line: &str) -> Option<u64> {
    let rest = line.split("ring full ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Stopping netcap (SIGSTOP) while frames arrive fills its small ring for certain;
/// once it goes on, the live line reports the ring's losses, and the last live line
/// never says more than the summary.
#[test]
fn the_live_line_counts_losses_in_the_kernel_ring() {
    common::needs_privileges!();
    for backend in ["afpacket", "xdp"] {
        let veth = VethPair::new();
        let nc = Netcap::start(&veth.capture(
            backend,
            &[
                "-B",
                "64",
                "-s",
                "128",
                "-F",
                "none",
                "--stats-interval",
                "0.2",
            ],
        ));
        nc.signal(libc::SIGSTOP);
        common::send_frames(&veth.ns, &veth.ns_if, &frames(20_000));
        nc.signal(libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(800));
        nc.signal(libc::SIGINT);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", out.stderr);
        let live: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("netcap: Got "))
            .collect();
        let last = live.last().copied().unwrap_or_default();
        let seen_live = ring_full(last).unwrap_or(0);
        assert!(
            seen_live > 0,
            "{backend}: no ring losses live:\n{}",
            out.stderr
        );
        let summary = out
            .stderr
            .lines()
            .find(|l| l.contains("frames seen"))
            .unwrap_or_default();
        let at_end = ring_full(summary).unwrap_or(0);
        assert!(
            seen_live <= at_end,
            "{backend}: live {seen_live} > summary {at_end}:\n{}",
            out.stderr
        );
        for l in &live {
            assert!(
                l.contains(" frames/s, ") && l.contains("bit/s;") && l.contains("lost ("),
                "{backend}: {l}"
            );
        }
    }
}

/// The fanout path (AF_PACKET, decoding, no `-c`: one socket per worker, this thread
/// only answering signals) reads the sockets' counts for the live line: stopped while
/// frames arrive, the sockets' rings fill, and the line shows it.
#[test]
fn the_fanout_live_line_counts_losses_in_the_sockets_rings() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let nc = Netcap::start(&veth.capture(
        "afpacket",
        &[
            "--workers",
            "2",
            "-B",
            "64",
            "-s",
            "128",
            "-F",
            "line",
            "--stats-interval",
            "0.2",
        ],
    ));
    assert!(
        nc.stderr_so_far().contains("fanout"),
        "not the fanout path: {}",
        nc.stderr_so_far()
    );
    nc.signal(libc::SIGSTOP);
    common::send_frames(&veth.ns, &veth.ns_if, &frames(20_000));
    nc.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(800));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(!out.stdout.is_empty(), "the frames are printed");
    let last = out
        .stderr
        .lines()
        .rfind(|l| l.starts_with("netcap: Got "))
        .unwrap_or_default();
    let seen_live = ring_full(last).unwrap_or(0);
    assert!(seen_live > 0, "no ring losses live:\n{}", out.stderr);
    let summary = out
        .stderr
        .lines()
        .find(|l| l.contains("frames seen"))
        .unwrap_or_default();
    let at_end = ring_full(summary).unwrap_or(0);
    assert!(
        seen_live <= at_end,
        "live {seen_live} > summary {at_end}:\n{}",
        out.stderr
    );
}

/// `-v` with `-w`: a "Got N" line every second, N the frames delivered so far.
#[test]
fn verbose_with_w_prints_got_n_every_second() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let file = dir.join("v.pcap");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "-v",
        "-w",
        file.to_str().expect("utf-8"),
    ]);
    common::send_frames(&veth.ns, &veth.ns_if, &frames(50));
    std::thread::sleep(Duration::from_millis(2300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let got: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("netcap: Got "))
        .collect();
    assert!(got.len() >= 2, "{}", out.stderr);
    assert!(
        got.last().is_some_and(|l| l.starts_with("netcap: Got 50;")),
        "{}",
        out.stderr
    );
}
