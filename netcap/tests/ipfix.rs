//! IPFIX export checked by real collectors and decoders.
//!
//! One generated capture ([`mix`]): IPv4 and IPv6, TCP, UDP and ICMP, 802.1Q tags,
//! and small frames with Ethernet padding (a 60-byte minimum frame carrying a 28-byte
//! IP packet). The oracle is tshark's per-frame fields added up per direction: packets,
//! and IP octets (`ip.len`, `ipv6.plen + 40`), which is what RFC 7012's
//! `octetDeltaCount` counts.
//! - `netcap read MIX --ipfix 127.0.0.1:PORT` into `nfcapd`, read back with `nfdump`:
//!   one record per direction, equal to the oracle, and no sequence errors.
//! - `--ipfix-file` read by `tshark`: the same records; with `--ipfix-biflow`, one
//!   record per conversation with the reverse direction in RFC 5103 elements.
//! - `softflowd -r MIX` into another nfcapd: the same records and packets; its octets
//!   exceed netcap's by exactly each direction's Ethernet padding (softflowd counts
//!   the frame after the link header, netcap the IP packet).
//! - Usage errors exit 2; a TCP collector that is not there costs records, not the run.
//!
//! Collectors listen on 127.0.0.1 only, on ports the kernel picked as free. A tool
//! that is missing skips its test, except under CI (`CI` set), where `.ci/run`
//! installs nfdump, softflowd and tshark.
mod common;
mod netcap_proc;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eth_ipv4_icmp_echo, eth_ipv4_tcp, eth_ipv4_udp, test_mac};
use netcap_proc::{tempdir, write_pcap, Netcap};

/// One direction of a conversation: source, destination, protocol, ports (0 unless
/// TCP or UDP).
type Key = (IpAddr, IpAddr, u8, u16, u16);

/// Packets and octets of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Count {
    packets: u64,
    octets: u64,
}

type Records = BTreeMap<Key, Count>;

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing: .ci/run installs it"
        );
        eprintln!("skipped: {name} not found (.ci/run installs it)");
    }
    found
}

// ---- the capture -------------------------------------------------------------------

const V6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const V6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Pads a frame to the Ethernet minimum (60 bytes without the FCS, 64 with a tag), as
/// a NIC sends it: the padding follows the IP packet.
fn pad(mut f: Vec<u8>) -> Vec<u8> {
    let min = if f[12..14] == [0x81, 0x00] { 64 } else { 60 };
    if f.len() < min {
        f.resize(min, 0);
    }
    f
}

/// Inserts an 802.1Q tag with `vid` after the MAC addresses.
fn tag(mut f: Vec<u8>, vid: u16) -> Vec<u8> {
    let tci = vid.to_be_bytes();
    f.splice(12..12, [0x81, 0x00, tci[0], tci[1]]);
    f
}

/// An echo request turned into its reply: type 0, checksum adjusted, addresses and
/// MACs swapped (the IPv4 header checksum does not change with the order).
fn echo_reply(mut f: Vec<u8>) -> Vec<u8> {
    f[34] = 0;
    let sum = u16::from_be_bytes([f[36], f[37]]).wrapping_add(0x0800);
    f[36..38].copy_from_slice(&sum.to_be_bytes());
    let (dst_mac, src_mac) = (f[0..6].to_vec(), f[6..12].to_vec());
    f[0..6].copy_from_slice(&src_mac);
    f[6..12].copy_from_slice(&dst_mac);
    let (src, dst) = (f[26..30].to_vec(), f[30..34].to_vec());
    f[26..30].copy_from_slice(&dst);
    f[30..34].copy_from_slice(&src);
    f
}

/// Ethernet + IPv6 + a transport header (`l4` with its checksum left 0: nothing here
/// checks it) + payload.
fn eth_ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8], mac: (u8, u8)) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&test_mac(mac.1));
    f.extend_from_slice(&test_mac(mac.0));
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(l4);
    f
}

fn udp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, len: usize, mac: (u8, u8)) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sp.to_be_bytes());
    l4.extend_from_slice(&dp.to_be_bytes());
    l4.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.resize(8 + len, 0x5a);
    eth_ipv6(src, dst, 17, &l4, mac)
}

fn tcp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, flags: u8, len: usize) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sp.to_be_bytes());
    l4.extend_from_slice(&dp.to_be_bytes());
    l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    l4.resize(20 + len, 0x33);
    let mac = if src == V6_A { (1, 2) } else { (2, 1) };
    eth_ipv6(src, dst, 6, &l4, mac)
}

/// The mixed capture: 7 conversations, 13 directions, frames one second apart.
fn mix() -> Vec<Vec<u8>> {
    let (m1, m2) = (test_mac(1), test_mac(2));
    let ip = |a, b, c, d| Ipv4Addr::new(a, b, c, d);
    let (a, b, c) = (ip(10, 1, 0, 1), ip(10, 1, 0, 2), ip(10, 1, 0, 3));
    let tcp = |fwd: bool, flags: u8, len: usize| {
        let p = vec![0x41; len];
        if fwd {
            eth_ipv4_tcp(m1, m2, a, b, 40001, 80, flags, 1, 1, &p)
        } else {
            eth_ipv4_tcp(m2, m1, b, a, 80, 40001, flags, 1, 1, &p)
        }
    };
    let (syn, ack, psh, fin) = (0x02, 0x10, 0x18, 0x11);
    let udp = |fwd: bool, len: usize| {
        let p = vec![0x42; len];
        if fwd {
            eth_ipv4_udp(m1, m2, a, c, 5353, 53, &p)
        } else {
            eth_ipv4_udp(m2, m1, c, a, 53, 5353, &p)
        }
    };
    let ping = |seq| eth_ipv4_icmp_echo(m1, m2, a, ip(10, 1, 0, 4), 7, seq, &[]);
    let vlan_udp = |len: usize| {
        let p = vec![0x43; len];
        tag(
            eth_ipv4_udp(m1, m2, ip(10, 2, 0, 1), ip(10, 2, 0, 2), 1000, 2000, &p),
            100,
        )
    };
    let vlan_tcp = |fwd: bool, flags: u8| {
        let (x, y) = (ip(10, 3, 0, 1), ip(10, 3, 0, 2));
        let f = if fwd {
            eth_ipv4_tcp(m1, m2, x, y, 50000, 22, flags, 9, 9, &[])
        } else {
            eth_ipv4_tcp(m2, m1, y, x, 22, 50000, flags, 9, 9, &[])
        };
        tag(f, 200)
    };
    let frames = vec![
        tcp(true, syn, 0),
        tcp(false, syn | ack, 0),
        udp(true, 4),
        tcp(true, ack, 0),
        ping(1),
        vlan_udp(2),
        tcp(true, psh, 300),
        udp(false, 200),
        echo_reply(ping(1)),
        udp6(V6_A, 5000, V6_B, 6000, 10, (1, 2)),
        tcp(false, psh, 1000),
        vlan_tcp(true, syn),
        tcp6(V6_A, 40002, V6_B, 443, syn, 0),
        vlan_udp(3),
        tcp6(V6_B, 443, V6_A, 40002, syn | ack, 0),
        ping(2),
        udp6(V6_B, 6000, V6_A, 5000, 500, (2, 1)),
        vlan_tcp(false, syn | ack),
        tcp6(V6_A, 40002, V6_B, 443, psh, 100),
        tcp(true, fin, 0),
        vlan_udp(600),
        tcp(false, fin, 0),
        ping(3),
        tcp(true, ack, 1),
        vlan_tcp(true, ack),
        udp(true, 0),
    ];
    frames.into_iter().map(pad).collect()
}

fn write_mix(dir: &Path) -> PathBuf {
    let path = dir.join("mix.pcap");
    write_pcap(&path, &mix());
    path
}

// ---- the oracle --------------------------------------------------------------------

/// tshark's frames added up per direction, and each direction's Ethernet padding.
fn oracle(pcap: &Path) -> (Records, BTreeMap<Key, u64>) {
    let fields = [
        "ip.src",
        "ip.dst",
        "ip.proto",
        "ip.len",
        "ipv6.src",
        "ipv6.dst",
        "ipv6.nxt",
        "ipv6.plen",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "frame.len",
        "vlan.id",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut records, mut padding) = (Records::new(), BTreeMap::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<&str> = line.split('|').collect();
        let num = |i: usize| c[i].parse::<u64>().unwrap_or(0);
        let v4 = !c[0].is_empty();
        let (src, dst, proto, ip_len) = if v4 {
            (c[0], c[1], num(2), num(3))
        } else {
            (c[4], c[5], num(6), num(7) + 40)
        };
        let port = |i: usize| num(i) as u16;
        let (sp, dp) = match proto {
            6 => (port(8), port(9)),
            17 => (port(10), port(11)),
            _ => (0, 0),
        };
        let key = (
            src.parse().expect("src"),
            dst.parse().expect("dst"),
            proto as u8,
            sp,
            dp,
        );
        let r = records.entry(key).or_default();
        r.packets += 1;
        r.octets += ip_len;
        let link = if c[13].is_empty() { 14 } else { 18 };
        *padding.entry(key).or_default() += num(12) - link - ip_len;
    }
    (records, padding)
}

// ---- nfcapd and nfdump -------------------------------------------------------------

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// `nfcapd` on 127.0.0.1:`port`, writing into `dir`.
struct Nfcapd {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Nfcapd {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let log = std::fs::File::create(dir.join("nfcapd.log")).expect("log");
        let child = Command::new("nfcapd")
            .args([
                "-b",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                "3600",
                "-w",
            ])
            .arg(dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("nfcapd");
        let nf = Self {
            child,
            dir: dir.to_owned(),
            port,
        };
        // Listening once the port cannot be bound any more.
        let t0 = Instant::now();
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nfcapd did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        nf
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until nfcapd has read every datagram, stops it (SIGTERM flushes the
    /// file), and returns the records `nfdump` reads back, with nfcapd's log.
    fn stop(mut self) -> (Records, String) {
        let t0 = Instant::now();
        while udp_queue(self.port) != Some(0) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nfcapd does not read"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: signalling our own child, not yet waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let log = std::fs::read_to_string(self.dir.join("nfcapd.log")).unwrap_or_default();
        let file = std::fs::read_dir(&self.dir)
            .expect("nfcapd dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("nfcapd.2"))
            })
            .unwrap_or_else(|| panic!("no nfcapd file in {}: {log}", self.dir.display()));
        (nfdump(&file), log)
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn run_netcap(args: &[&str]) -> netcap_proc::Output {
    let mut all = vec!["read", "--quiet", "-F", "none"];
    all.extend_from_slice(args);
    let out = Netcap::run(&all);
    assert!(out.status.success(), "netcap {args:?}: {}", out.stderr);
    out
}

// ---- the tests ---------------------------------------------------------------------

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
    let nf = Nfcapd::start(&dir);
    let out = run_netcap(&[pcap.to_str().expect("utf-8"), "--ipfix", &nf.addr()]);
    assert!(!out.stderr.contains("IPFIX"), "{}", out.stderr);
    let (got, log) = nf.stop();
    assert_eq!(got, want, "nfdump (left) against tshark (right)");
    assert!(log.contains("Sequence Errors: 0"), "{log}");
}

#[test]
fn the_ipfix_file_holds_the_same_records_for_tshark() {
    if !tool("tshark") {
        return;
    }
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let (want, _) = oracle(&pcap);
    let file = dir.join("mix.ipfix");
    run_netcap(&[
        pcap.to_str().expect("utf-8"),
        "--ipfix-file",
        file.to_str().expect("utf-8"),
        "--ipfix-domain",
        "42",
    ]);
    let (msgs, records) = tshark_ipfix(&file);
    assert!(msgs.iter().all(|m| m["cflow.od_id"] == "42"), "{msgs:?}");
    assert!(
        msgs[0].keys().any(|k| k.contains("Template")),
        "{:?}",
        msgs[0]
    );
    let got: Records = records
        .iter()
        .map(|r| {
            let (key, fwd, _) = tshark_record(r);
            (key, fwd)
        })
        .collect();
    assert_eq!(records.len(), got.len(), "one record per direction");
    assert_eq!(
        got, want,
        "tshark's reading of the file (left) against the capture"
    );
}

#[test]
fn biflow_records_carry_the_reverse_direction() {
    if !tool("tshark") {
        return;
    }
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let (want, _) = oracle(&pcap);
    let file = dir.join("bi.ipfix");
    run_netcap(&[
        pcap.to_str().expect("utf-8"),
        "--ipfix-file",
        file.to_str().expect("utf-8"),
        "--ipfix-biflow",
    ]);
    let (_, records) = tshark_ipfix(&file);
    // 7 conversations (ICMP has no ports: the replies meet their requests).
    assert_eq!(records.len(), 7);
    for r in &records {
        let (key, fwd, rev) = tshark_record(r);
        assert_eq!(Some(&fwd), want.get(&key), "{key:?}");
        let back = (key.1, key.0, key.2, key.4, key.3);
        assert_eq!(
            rev.unwrap_or_default(),
            want.get(&back).copied().unwrap_or_default()
        );
    }
    // tshark names the reverse elements as RFC 5103 defines them.
    let text = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-O", "cflow", "-V"])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.matches("(Reverse Type 1 BYTES)").count(), 7, "{text}");
}

/// tshark's JSON for an IPFIX file: each message's fields, and each data record's.
fn tshark_ipfix(
    file: &Path,
) -> (
    Vec<serde_json::Map<String, serde_json::Value>>,
    Vec<serde_json::Value>,
) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "json", "--no-duplicate-keys"])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    let (mut msgs, mut records) = (Vec::new(), Vec::new());
    for frame in frames.as_array().expect("frames") {
        let cflow = frame["_source"]["layers"]["cflow"]
            .as_object()
            .expect("cflow")
            .clone();
        for (k, set) in &cflow {
            if !k.starts_with("Set ") {
                continue;
            }
            for (k, rec) in set.as_object().expect("set") {
                if k.starts_with("Flow ") {
                    records.push(rec.clone());
                }
            }
        }
        msgs.push(cflow);
    }
    assert!(
        !records.is_empty(),
        "tshark found no records in {}",
        file.display()
    );
    (msgs, records)
}

/// One record from tshark's JSON: its key, its counts, and with biflow the reverse's.
fn tshark_record(r: &serde_json::Value) -> (Key, Count, Option<Count>) {
    let text = |name: &str| -> Vec<String> {
        match &r[name] {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let one = |names: &[&str]| -> String {
        names
            .iter()
            .find_map(|n| text(n).into_iter().next())
            .unwrap_or_else(|| panic!("no {names:?} in {r}"))
    };
    let proto: u8 = one(&["cflow.protocol"]).parse().expect("protocol");
    let port = |n: &str| {
        if matches!(proto, 6 | 17) {
            one(&[n]).parse().expect("port")
        } else {
            0
        }
    };
    let key = (
        one(&["cflow.srcaddr", "cflow.srcaddrv6"])
            .parse()
            .expect("src"),
        one(&["cflow.dstaddr", "cflow.dstaddrv6"])
            .parse()
            .expect("dst"),
        proto,
        port("cflow.srcport"),
        port("cflow.dstport"),
    );
    let nums =
        |n: &str| -> Vec<u64> { text(n).iter().map(|s| s.parse().expect("number")).collect() };
    let (octets, packets) = (nums("cflow.octets"), nums("cflow.packets"));
    let fwd = Count {
        packets: packets[0],
        octets: octets[0],
    };
    let rev = (octets.len() > 1).then(|| Count {
        packets: packets[1],
        octets: octets[1],
    });
    (key, fwd, rev)
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
    let nf = Nfcapd::start(&ours);
    run_netcap(&[pcap.to_str().expect("utf-8"), "--ipfix", &nf.addr()]);
    let (netcap, _) = nf.stop();
    let nf = Nfcapd::start(&theirs);
    softflowd(&pcap, &nf.addr(), &dir);
    let (softflowd, _) = nf.stop();
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
