//! Privileged tests (`cargo xtask test`) of flows ending while a live capture runs:
//! on a quiet link the wall clock ends them, their records reach `--flows-json` before
//! netcap exits, and no frame is lost or counted twice across records.
mod common;
mod netcap_proc;

use std::{
    net::Ipv4Addr,
    path::Path,
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::Netcap;

fn udp(sport: u16, n: usize, payload: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            common::eth_ipv4_udp(
                common::test_mac(2),
                common::test_mac(1),
                Ipv4Addr::new(10, 253, 0, 2),
                Ipv4Addr::new(10, 253, 0, 1),
                sport,
                9,
                &vec![0x5a; payload],
            )
        })
        .collect()
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The records of the conversation from source port `sport`.
fn of_port(all: &[serde_json::Value], sport: u64) -> Vec<&serde_json::Value> {
    all.iter()
        .filter(|r| r["a_port"] == sport || r["b_port"] == sport)
        .collect()
}

#[test]
fn an_idle_flow_ends_while_the_capture_runs_and_reaches_flows_json() {
    common::needs_privileges!();
    // AF_PACKET; XDP with the flows counted in the kernel (the default there); XDP
    // with user space counting.
    for (backend, extra) in [("afpacket", ""), ("xdp", ""), ("xdp", "--user-flows")] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let out = dir.join("flows.jsonl");
        let mut args = vec![
            "capture",
            "-i",
            &veth.host_if,
            "--backend",
            backend,
            "-F",
            "none",
            "--flows-json",
            out.to_str().expect("utf-8"),
            "--flow-idle",
            "1",
        ];
        if !extra.is_empty() {
            args.push(extra);
        }
        let backend = format!("{backend} {extra}");
        let nc = Netcap::start(&args);
        // 60-byte UDP payloads: 102-byte frames, 88-byte IP packets.
        common::send_frames(&veth.ns, &veth.ns_if, &udp(4001, 10, 60));
        // Nothing more arrives: the record must come out on the wall clock alone,
        // while netcap still runs.
        let t0 = Instant::now();
        let first = loop {
            let all = records(&out);
            if let Some(r) = of_port(&all, 4001).first() {
                break (*r).clone();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{backend}: no record while capturing: {}",
                nc.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(first["end"], "idle", "{backend}: {first}");
        assert_eq!(first["packets_ab"], 10, "{backend}: {first}");
        assert_eq!(first["bytes_ab"], 10 * 102, "{backend}: {first}");
        assert_eq!(first["ip_bytes_ab"], 10 * 88, "{backend}: {first}");
        assert_eq!(first["a_mac"], "02:6e:63:00:00:02", "{backend}: {first}");
        // The conversation comes back: a new record, ended at exit.
        common::send_frames(&veth.ns, &veth.ns_if, &udp(4001, 5, 60));
        std::thread::sleep(Duration::from_millis(300));
        nc.signal(libc::SIGINT);
        let run = nc.wait();
        assert_eq!(run.status.code(), Some(0), "{backend}: {}", run.stderr);
        let all = records(&out);
        let mine = of_port(&all, 4001);
        assert_eq!(mine.len(), 2, "{backend}: {all:?}");
        assert_eq!(mine[1]["end"], "forced", "{backend}: {all:?}");
        let packets: u64 = mine
            .iter()
            .map(|r| r["packets_ab"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(packets, 15, "{backend}: {all:?}");
    }
}

#[test]
fn flows_json_dash_writes_the_records_alone_on_stdout() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let nc = Netcap::start(&["capture", "-i", &veth.host_if, "--flows-json", "-"]);
    common::send_frames(&veth.ns, &veth.ns_if, &udp(4002, 3, 20));
    common::send_frames(&veth.ns, &veth.ns_if, &udp(4003, 4, 20));
    std::thread::sleep(Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let run = nc.wait();
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let text = String::from_utf8_lossy(&run.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds only JSON lines"))
        .collect();
    let count = |p: u64| {
        lines
            .iter()
            .filter(|r| r["a_port"] == p)
            .map(|r| r["packets_ab"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!((count(4002), count(4003)), (3, 4), "{text}");
}
