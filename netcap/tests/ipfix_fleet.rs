//! A fleet, simulated (`cargo xtask test`, privileged): four captures, each on its own
//! veth whose far end lives in its own namespace (four "hosts"), export IPFIX with
//! distinct observation domains to one `nfcapd`. The collector is restarted between
//! two rounds of traffic. Checks: the collector's records add up exactly to the frames
//! the four captures counted and to what was sent, per host and in all; nothing is
//! lost across the restart (templates are sent again, so the new collector decodes
//! the second round).
mod common;
#[path = "common/ipfix.rs"]
mod ipfix_common;
mod netcap_proc;

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, UdpSocket},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use common::VethPair;
use ipfix_common::{tool, Nfcapd};
use netcap_proc::Netcap;

/// Stops `nf` (SIGTERM flushes its file) and returns packets per source address, and
/// the observation domain ids of the exporters it heard with their sequence
/// failures (`nfdump -E`).
fn stop(mut nf: Nfcapd) -> (BTreeMap<String, u64>, Vec<(u32, u64)>) {
    std::thread::sleep(Duration::from_millis(300));
    let mut per_src = BTreeMap::new();
    let mut exporters = Vec::new();
    for path in nf.terminate() {
        let out = Command::new("nfdump")
            .arg("-r")
            .arg(&path)
            .args(["-q", "-N", "-o", "fmt:%sa|%ipkt"])
            .output()
            .expect("nfdump");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let c: Vec<&str> = line.split('|').map(str::trim).collect();
            if let [src, pkts] = c[..] {
                *per_src.entry(src.to_owned()).or_default() += pkts.parse::<u64>().unwrap_or(0);
            }
        }
        // "SysID: 1, IP: 127.0.0.1, version: 10, ID:  7, Sequence failures: 0, ..."
        let out = Command::new("nfdump")
            .arg("-E")
            .arg(&path)
            .output()
            .expect("nfdump -E");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let field = |name: &str| -> Option<u64> {
                let rest = line.split(name).nth(1)?;
                rest.trim()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            if let (Some(id), Some(fails)) = (field(" ID:"), field("Sequence failures:")) {
                exporters.push((id as u32, fails));
            }
        }
    }
    exporters.sort_unstable();
    (per_src, exporters)
}

/// Host `h`'s address, the source of its frames.
fn host(h: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 251, h, 2)
}

/// `n` frames of each of `flows` UDP flows from host `h`, starting at port `base`.
fn traffic(h: u8, base: u16, flows: u16, n: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for f in 0..flows {
        for i in 0..n {
            v.push(common::eth_ipv4_udp(
                common::test_mac(2),
                common::test_mac(1),
                host(h),
                Ipv4Addr::new(10, 251, h, 1),
                base + f,
                9,
                &[i as u8; 40],
            ));
        }
    }
    v
}

#[test]
fn four_hosts_export_to_one_collector_that_restarts_and_lose_nothing() {
    common::needs_privileges!();
    if !tool("nfcapd") || !tool("nfdump") {
        eprintln!("skipped: nfdump is not installed");
        return;
    }
    let dir = netcap_proc::tempdir();
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let dest = format!("127.0.0.1:{port}");
    let first = Nfcapd::start(&dir.join("first"), port);
    let veths: Vec<VethPair> = (0..4).map(|_| VethPair::new()).collect();
    let stats: Vec<PathBuf> = (0..4).map(|h| dir.join(format!("stats{h}.json"))).collect();
    let captures: Vec<Netcap> = veths
        .iter()
        .enumerate()
        .map(|(h, v)| {
            let domain = (h + 1).to_string();
            Netcap::start(&[
                "capture",
                "-i",
                &v.host_if,
                "-F",
                "none",
                "--ipfix",
                &dest,
                "--ipfix-domain",
                &domain,
                "--ipfix-template-secs",
                "1",
                "--flow-idle",
                "1",
                "--stats-json",
                stats[h].to_str().expect("utf-8"),
            ])
        })
        .collect();
    let mut sent = BTreeMap::<String, u64>::new();
    // Round one: flows that end (idle 1 s) and reach the first collector.
    for (h, v) in veths.iter().enumerate() {
        let frames = traffic(h as u8 + 1, 5000, 3 + h as u16, 4);
        *sent.entry(host(h as u8 + 1).to_string()).or_default() += frames.len() as u64;
        common::send_frames(&v.ns, &v.ns_if, &frames);
    }
    std::thread::sleep(Duration::from_secs(4));
    let (got_first, exporters_first) = stop(first);
    // The collector restarts on the same port; round two goes to the new one, which
    // has never seen a template: netcap sends them again.
    let second = Nfcapd::start(&dir.join("second"), port);
    std::thread::sleep(Duration::from_millis(1500));
    for (h, v) in veths.iter().enumerate() {
        let frames = traffic(h as u8 + 1, 6000, 2 + h as u16, 5);
        *sent.entry(host(h as u8 + 1).to_string()).or_default() += frames.len() as u64;
        common::send_frames(&v.ns, &v.ns_if, &frames);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut captured = 0;
    for (h, nc) in captures.into_iter().enumerate() {
        nc.signal(libc::SIGINT);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(0), "host {h}: {}", out.stderr);
        captured += netcap_proc::stats(&stats[h])["captured"]
            .as_u64()
            .unwrap_or(0);
    }
    let (got_second, exporters_second) = stop(second);
    // Each collector heard the four hosts by their domains, and no sequence number
    // went missing or backwards.
    let four: Vec<(u32, u64)> = (1..=4).map(|d| (d, 0)).collect();
    assert_eq!(exporters_first, four, "first collector's exporters");
    assert_eq!(exporters_second, four, "second collector's exporters");
    let mut got = got_first.clone();
    for (src, n) in &got_second {
        *got.entry(src.clone()).or_default() += n;
    }
    assert!(!got_first.is_empty(), "the first collector got nothing");
    assert!(
        !got_second.is_empty(),
        "the restarted collector decoded nothing"
    );
    assert_eq!(got, sent, "per host: collector vs sent");
    assert_eq!(
        got.values().sum::<u64>(),
        captured,
        "collector vs the captures' counts"
    );
}
