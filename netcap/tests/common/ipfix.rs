//! Helpers of the IPFIX tests (`ipfix.rs`, `ipfix_tshark.rs`): the generated capture
//! ([`mix`]), tshark's per-direction oracle ([`oracle`]), whether a tool is
//! installed ([`tool`]), and an `nfcapd` collector ([`Nfcapd`], also used by
//! `ipfix_fleet.rs`).
#![allow(
    dead_code,
    reason = "each test crate uses a different subset; `expect` would fail in the crates using all"
)]

use crate::common::{eth_ipv4_icmp_echo, eth_ipv4_tcp, eth_ipv4_udp, test_mac};
use crate::netcap_proc::{write_pcap, Netcap};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One direction of a conversation: source, destination, protocol, ports (0 unless
/// TCP or UDP).
pub type Key = (IpAddr, IpAddr, u8, u16, u16);

/// Packets and octets of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub octets: u64,
}

pub type Records = BTreeMap<Key, Count>;

pub fn tool(name: &str) -> bool {
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

pub const V6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

pub const V6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Pads a frame to the Ethernet minimum (60 bytes without the FCS, 64 with a tag), as
/// a NIC sends it: the padding follows the IP packet.
pub fn pad(mut f: Vec<u8>) -> Vec<u8> {
    let min = if f[12..14] == [0x81, 0x00] { 64 } else { 60 };
    if f.len() < min {
        f.resize(min, 0);
    }
    f
}

/// Inserts an 802.1Q tag with `vid` after the MAC addresses.
pub fn tag(mut f: Vec<u8>, vid: u16) -> Vec<u8> {
    let tci = vid.to_be_bytes();
    f.splice(12..12, [0x81, 0x00, tci[0], tci[1]]);
    f
}

/// An echo request turned into its reply: type 0, checksum adjusted, addresses and
/// MACs swapped (the IPv4 header checksum does not change with the order).
pub fn echo_reply(mut f: Vec<u8>) -> Vec<u8> {
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
pub fn eth_ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8], mac: (u8, u8)) -> Vec<u8> {
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

pub fn udp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, len: usize, mac: (u8, u8)) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sp.to_be_bytes());
    l4.extend_from_slice(&dp.to_be_bytes());
    l4.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.resize(8 + len, 0x5a);
    eth_ipv6(src, dst, 17, &l4, mac)
}

pub fn tcp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, flags: u8, len: usize) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sp.to_be_bytes());
    l4.extend_from_slice(&dp.to_be_bytes());
    l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    l4.resize(20 + len, 0x33);
    let mac = if src == V6_A { (1, 2) } else { (2, 1) };
    eth_ipv6(src, dst, 6, &l4, mac)
}

/// The mixed capture: 7 conversations, 13 directions, frames one second apart.
pub fn mix() -> Vec<Vec<u8>> {
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

pub fn write_mix(dir: &Path) -> PathBuf {
    let path = dir.join("mix.pcap");
    write_pcap(&path, &mix());
    path
}

/// tshark's frames added up per direction, and each direction's Ethernet padding.
pub fn oracle(pcap: &Path) -> (Records, BTreeMap<Key, u64>) {
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

pub fn run_netcap(args: &[&str]) -> crate::netcap_proc::Output {
    let mut all = vec!["read", "--quiet", "-F", "none"];
    all.extend_from_slice(args);
    let out = Netcap::run(&all);
    assert!(out.status.success(), "netcap {args:?}: {}", out.stderr);
    out
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// `nfcapd` on 127.0.0.1:`port`, writing into `dir` (made if missing), its output in
/// `dir/nfcapd.log`. Killed on drop.
pub struct Nfcapd {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl Nfcapd {
    /// Starts it and returns once it listens (the port cannot be bound any more).
    pub fn start(dir: &Path, port: u16) -> Self {
        std::fs::create_dir_all(dir).expect("collector dir");
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

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGTERM makes it flush its file) and returns the files it wrote
    /// (`nfcapd.YYYYMMDDhhmm`), sorted.
    pub fn terminate(&mut self) -> Vec<PathBuf> {
        // SAFETY: signalling our own child, not yet waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("collector dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("nfcapd.2"))
            })
            .collect();
        files.sort();
        files
    }

    /// What nfcapd printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nfcapd.log")).unwrap_or_default()
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
