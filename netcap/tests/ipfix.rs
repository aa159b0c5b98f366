//! IPFIX export checked by real collectors: `nfcapd` (read back with `nfdump`) and
//! `softflowd`, against tshark's oracle; and the usage errors.
//!
//! One generated capture (`mix`, in `common/ipfix.rs`): IPv4 and IPv6, TCP, UDP and
//! ICMP, 802.1Q tags, and small frames with Ethernet padding (a 60-byte minimum frame
//! carrying a 28-byte IP packet). The oracle is tshark's per-frame fields added up per
//! direction: packets, and IP octets (`ip.len`, `ipv6.plen + 40`), which is what RFC
//! 7012's `octetDeltaCount` counts.
//! - `netcap read MIX --ipfix 127.0.0.1:PORT` into `nfcapd`, read back with `nfdump`:
//!   one record per direction, equal to the oracle, and no sequence errors.
//! - `softflowd -r MIX` into another nfcapd: the same records and packets; its octets
//!   exceed netcap's by exactly each direction's Ethernet padding (softflowd counts
//!   the frame after the link header, netcap the IP packet).
//! - Usage errors exit 2; a TCP collector that is not there costs records, not the run.
//!
//! The `--ipfix-file` tests, read by tshark, are in `ipfix_tshark.rs`.
//!
//! Collectors listen on 127.0.0.1 only, on ports the kernel picked as free. A tool
//! that is missing skips its test, except under CI (`CI` set), where `.ci/run`
//! installs nfdump, softflowd and tshark.
mod common;
#[path = "common/ipfix.rs"]
mod ipfix_common;
mod netcap_proc;

use ipfix_common::*;
use netcap_proc::{tempdir, Netcap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until `nf` has read every datagram, stops it, and returns the records
/// `nfdump` reads back from its file, with its log.
fn stop(mut nf: Nfcapd) -> (Records, String) {
    let t0 = Instant::now();
    while udp_queue(nf.port) != Some(0) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nfcapd does not read"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let files = nf.terminate();
    let log = nf.log();
    let file = files
        .first()
        .unwrap_or_else(|| panic!("no nfcapd file in {}: {log}", nf.dir.display()));
    (nfdump(file), log)
}

/// The receive queue of the UDP socket bound to 127.0.0.1:`port`, from /proc/net/udp.
fn udp_queue(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let queues = cols.get(4)?;
        (cols.get(1) == Some(&local.as_str()))
            .then(|| u64::from_str_radix(queues.split(':').nth(1)?, 16).ok())
            .flatten()
    })
}

fn nfdump(file: &Path) -> Records {
    let out = Command::new("nfdump")
        .arg("-r")
        .arg(file)
        .args(["-q", "-N", "-o", "fmt:%sa|%sp|%da|%dp|%pr|%ipkt|%ibyt"])
        .output()
        .expect("nfdump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = Records::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<&str> = line.split('|').map(str::trim).collect();
        if c.len() < 7 {
            continue;
        }
        let proto: u8 = c[4]
            .parse()
            .unwrap_or_else(|_| panic!("protocol in {line}"));
        let port = |s: &str| {
            if matches!(proto, 6 | 17) {
                s.parse().unwrap_or(0)
            } else {
                0
            }
        };
        let key = (
            c[0].parse().unwrap_or_else(|_| panic!("address in {line}")),
            c[2].parse().unwrap_or_else(|_| panic!("address in {line}")),
            proto,
            port(c[1]),
            port(c[3]),
        );
        let count = Count {
            packets: c[5].parse().unwrap_or_else(|_| panic!("packets in {line}")),
            octets: c[6].parse().unwrap_or_else(|_| panic!("bytes in {line}")),
        };
        assert!(
            records.insert(key, count).is_none(),
            "two records for {key:?}"
        );
    }
    records
}

#[test]
fn nfcapd_receives_the_records_tshark_counts() {
    if !(tool("nfcapd") && tool("tshark")) {
        return;
    }
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let (want, padding) = oracle(&pcap);
    assert_eq!(want.len(), 13, "{want:?}");
    assert!(padding.values().any(|&p| p > 0), "the capture has padding");
    let nf = Nfcapd::start(&dir, free_port());
    let out = run_netcap(&[pcap.to_str().expect("utf-8"), "--ipfix", &nf.addr()]);
    assert!(!out.stderr.contains("IPFIX"), "{}", out.stderr);
    let (got, log) = stop(nf);
    assert_eq!(got, want, "nfdump (left) against tshark (right)");
    assert!(log.contains("Sequence Errors: 0"), "{log}");
}

#[test]
fn softflowd_agrees_but_counts_the_padding() {
    if !(tool("nfcapd") && tool("softflowd") && tool("tshark")) {
        return;
    }
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let (want, padding) = oracle(&pcap);
    let (ours, theirs) = (dir.join("netcap"), dir.join("softflowd"));
    std::fs::create_dir_all(&ours).expect("dir");
    std::fs::create_dir_all(&theirs).expect("dir");
    let nf = Nfcapd::start(&ours, free_port());
    run_netcap(&[pcap.to_str().expect("utf-8"), "--ipfix", &nf.addr()]);
    let (netcap, _) = stop(nf);
    let nf = Nfcapd::start(&theirs, free_port());
    softflowd(&pcap, &nf.addr(), &dir);
    let (softflowd, _) = stop(nf);
    assert_eq!(netcap, want);
    let keys = |r: &Records| r.keys().copied().collect::<Vec<_>>();
    assert_eq!(keys(&softflowd), keys(&netcap), "the same records");
    for (key, ours) in &netcap {
        let theirs = softflowd[key];
        assert_eq!(theirs.packets, ours.packets, "{key:?}");
        assert_eq!(
            theirs.octets,
            ours.octets + padding[key],
            "{key:?}: padding"
        );
    }
    let total = |r: &Records| r.values().map(|c| c.packets).sum::<u64>();
    assert_eq!(total(&softflowd), total(&netcap));
    assert!(padding.values().sum::<u64>() > 0);
}

/// `softflowd -r PCAP` exporting IPFIX to `addr`. softflowd 1.1.0 waits on its control
/// socket between two reads of the file, so a command ("statistics") is sent to it
/// until it has read the file to its end, exported its flows and exited.
fn softflowd(pcap: &Path, addr: &str, dir: &Path) {
    let ctl = dir.join("softflowd.ctl");
    let mut child = Command::new("softflowd")
        .arg("-r")
        .arg(pcap)
        .args(["-n", addr, "-v", "10", "-6", "-d", "-p"])
        .arg(dir.join("softflowd.pid"))
        .arg("-c")
        .arg(&ctl)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("softflowd");
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&ctl) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"statistics\n");
            let _ = s.read_to_end(&mut Vec::new());
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("softflowd did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "softflowd: {status}: {err}");
}

#[test]
fn bad_ipfix_usage_exits_2() {
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let p = pcap.to_str().expect("utf-8");
    for args in [
        &["--ipfix", "127.0.0.1"][..],
        &["--ipfix", "127.0.0.1:0"],
        &["--ipfix", "::1:4739"],
        &["--ipfix", ":4739"],
        &["--ipfix-tcp"],
        &["--ipfix-biflow"],
        &["--ipfix-domain", "3"],
        &["--ipfix-file", "x.ipfix", "--ipfix-tcp"],
        &["--ipfix-file", "x.ipfix", "--ipfix-template-secs", "60"],
        &[
            "--ipfix",
            "127.0.0.1:4739",
            "--ipfix-tcp",
            "--ipfix-template-secs",
            "60",
        ],
        &["--ipfix-template-secs", "0", "--ipfix", "127.0.0.1:4739"],
    ] {
        let mut all = vec!["read", "--quiet", p];
        all.extend_from_slice(args);
        let out = Netcap::run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("frames seen"),
            "{args:?}: ran: {}",
            out.stderr
        );
    }
}

#[test]
fn a_missing_collector_costs_records_not_the_run() {
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let p = pcap.to_str().expect("utf-8");
    // Nothing listens on the port: TCP is refused at the start and at the end.
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let out = run_netcap(&[p, "--ipfix", &addr, "--ipfix-tcp"]);
    assert!(
        out.stderr.contains("7 flow records could not be sent"),
        "{}",
        out.stderr
    );
    // UDP: nothing to tell before the ICMP errors come back; never an error.
    let out = run_netcap(&[p, "--ipfix", &addr]);
    assert!(out.stderr.contains("frames seen"), "{}", out.stderr);
}
