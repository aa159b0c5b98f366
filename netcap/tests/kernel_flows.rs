//! Privileged tests (`cargo xtask test`) of in-kernel flow mode: the XDP and tcx hooks
//! (`--backend xdp` and `--backend tc`) count flows into a map instead of copying frames, and the records are the same as
//! when user space counts the same frames, and as the sender's own counts.
mod common;
mod netcap_proc;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
    time::Duration,
};

use common::VethPair;
use netcap_proc::Netcap;

/// The eBPF backends, each with in-kernel flows: XDP (received) or tcx ingress, and tcx
/// egress (sent) for both.
const BACKENDS: [&str; 2] = ["xdp", "tc"];

/// One frame sent, as the oracle counts it.
#[derive(Clone)]
struct Sent {
    frame: Vec<u8>,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    proto: u8,
    vlan: u16,
    ip_len: u64,
    /// Sent from the host (egress) rather than from the namespace (ingress).
    egress: bool,
}

/// Per conversation, per direction (from the lower endpoint, from the higher):
/// packets, wire bytes, IP bytes.
type Totals = BTreeMap<String, [[u64; 3]; 2]>;

fn key(proto: u8, vlan: u16, a: (IpAddr, u16), b: (IpAddr, u16)) -> (String, usize) {
    let (lo, hi, dir) = if a <= b { (a, b, 0) } else { (b, a, 1) };
    (
        format!("{proto} {vlan} {}:{} {}:{}", lo.0, lo.1, hi.0, hi.1),
        dir,
    )
}

fn mac(n: u8) -> [u8; 6] {
    common::test_mac(n)
}

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 252, 0, d))
}

fn v6(d: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, d))
}

/// Ethernet (optionally 802.1Q) + IPv6 + UDP, with a hop-by-hop header when `hbh`
/// (which the kernel leaves to user space).
fn eth_ipv6_udp(
    vlan: Option<u16>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    n: usize,
    hbh: bool,
) -> Vec<u8> {
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + n) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend(std::iter::repeat_n(0x6b, n));
    let mut ext = Vec::new();
    if hbh {
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // next UDP, PadN
    }
    let mut f = Vec::new();
    f.extend_from_slice(&mac(1));
    f.extend_from_slice(&mac(2));
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&((ext.len() + udp.len()) as u16).to_be_bytes());
    f.push(if hbh { 0 } else { 17 });
    f.push(64);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&ext);
    f.extend_from_slice(&udp);
    f
}

/// An 802.1Q tag with `vid` inserted after the MAC addresses.
fn tagged(mut f: Vec<u8>, vid: u16) -> Vec<u8> {
    let mut tag = vec![0x81, 0x00];
    tag.extend_from_slice(&vid.to_be_bytes());
    f.splice(12..12, tag);
    f
}

/// The mix: UDP, TCP with a handshake and a close, ICMP, VLAN-tagged (once and twice)
/// UDP, IPv6 (with
/// and without an extension header), ARP, and frames the host sends (egress).
fn mix() -> Vec<Sent> {
    let mut out = Vec::new();
    let ip4 = |d: u8| Ipv4Addr::new(10, 252, 0, d);
    let udp4 = |s: u8, d: u8, sp: u16, dp: u16, n: usize| {
        common::eth_ipv4_udp(mac(s), mac(d), ip4(s), ip4(d), sp, dp, &vec![0x55; n])
    };
    for f in 0..12u16 {
        for i in 0..(3 + f % 4) {
            let n = 20 + usize::from(i) * 30;
            out.push(Sent {
                frame: udp4(2, 1, 6000 + f, 53, n),
                src: (v4(2), 6000 + f),
                dst: (v4(1), 53),
                proto: 17,
                vlan: 0,
                ip_len: 28 + n as u64,
                egress: false,
            });
            if i % 2 == 0 {
                out.push(Sent {
                    frame: udp4(1, 2, 53, 6000 + f, n + 40),
                    src: (v4(1), 53),
                    dst: (v4(2), 6000 + f),
                    proto: 17,
                    vlan: 0,
                    ip_len: 68 + n as u64,
                    egress: false,
                });
            }
        }
    }
    for c in 0..4u16 {
        let (cp, sp) = (40000 + c, 443);
        let steps: [(bool, u8, usize); 6] = [
            (true, 0x02, 0),
            (false, 0x12, 0),
            (true, 0x10, 0),
            (true, 0x18, 300),
            (false, 0x11, 0),
            (true, 0x11, 0),
        ];
        for (from_client, flags, n) in steps {
            let (s, d, spt, dpt) = if from_client {
                (3, 4, cp, sp)
            } else {
                (4, 3, sp, cp)
            };
            out.push(Sent {
                frame: common::eth_ipv4_tcp(
                    mac(s),
                    mac(d),
                    ip4(s),
                    ip4(d),
                    spt,
                    dpt,
                    flags,
                    1,
                    1,
                    &vec![0x74; n],
                ),
                src: (v4(s), spt),
                dst: (v4(d), dpt),
                proto: 6,
                vlan: 0,
                ip_len: 40 + n as u64,
                egress: false,
            });
        }
    }
    for id in 0..2u16 {
        for seq in 0..3 {
            out.push(Sent {
                frame: common::eth_ipv4_icmp_echo(
                    mac(5),
                    mac(1),
                    ip4(5),
                    ip4(1),
                    id,
                    seq,
                    &[0; 32],
                ),
                src: (v4(5), 0),
                dst: (v4(1), 0),
                proto: 1,
                vlan: 0,
                ip_len: 60,
                egress: false,
            });
        }
    }
    for f in 0..3u16 {
        for _ in 0..4 {
            out.push(Sent {
                frame: tagged(udp4(6, 1, 7000 + f, 9, 50), 10),
                src: (v4(6), 7000 + f),
                dst: (v4(1), 9),
                proto: 17,
                vlan: 10,
                ip_len: 78,
                egress: false,
            });
            // Two tags (the key has the inner one): tcx ingress gets the outer one held
            // apart from the frame's bytes by the kernel.
            out.push(Sent {
                frame: tagged(tagged(udp4(7, 1, 7100 + f, 9, 50), 20), 30),
                src: (v4(7), 7100 + f),
                dst: (v4(1), 9),
                proto: 17,
                vlan: 20,
                ip_len: 78,
                egress: false,
            });
        }
    }
    let a6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    let b6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    for (f, hbh) in [(0u16, false), (1, false), (2, true)] {
        for _ in 0..5 {
            out.push(Sent {
                frame: eth_ipv6_udp(None, a6, b6, 8000 + f, 9, 64, hbh),
                src: (v6(2), 8000 + f),
                dst: (v6(1), 9),
                proto: 17,
                vlan: 0,
                ip_len: 40 + if hbh { 8 } else { 0 } + 72,
                egress: false,
            });
        }
    }
    for _ in 0..6 {
        out.push(Sent {
            frame: udp4(1, 7, 9000, 9001, 100),
            src: (v4(1), 9000),
            dst: (v4(7), 9001),
            proto: 17,
            vlan: 0,
            ip_len: 128,
            egress: true,
        });
    }
    out
}

fn oracle(sent: &[Sent]) -> Totals {
    let mut t = Totals::new();
    for s in sent {
        let (k, dir) = key(s.proto, s.vlan, s.src, s.dst);
        let e = t.entry(k).or_default();
        e[dir][0] += 1;
        e[dir][1] += s.frame.len() as u64;
        e[dir][2] += s.ip_len;
    }
    t
}

/// The records of a `--flows-json` file, added up per conversation.
fn totals(path: &Path) -> Totals {
    let mut t = Totals::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let ep = |a: &str, p: &str| -> (IpAddr, u16) {
            let addr = r[a]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("an address");
            (addr, r[p].as_u64().unwrap_or(0) as u16)
        };
        let (a, b) = (ep("a_addr", "a_port"), ep("b_addr", "b_port"));
        let proto = r["proto"].as_u64().unwrap_or(0) as u8;
        let vlan = r["vlan"].as_u64().unwrap_or(0) as u16;
        let (k, a_dir) = key(proto, vlan, a, b);
        let e = t.entry(k).or_default();
        let n = |f: &str| r[f].as_u64().unwrap_or(0);
        for (dir, suffix) in [(a_dir, "ab"), (a_dir ^ 1, "ba")] {
            e[dir][0] += n(&format!("packets_{suffix}"));
            e[dir][1] += n(&format!("bytes_{suffix}"));
            e[dir][2] += n(&format!("ip_bytes_{suffix}"));
        }
    }
    t
}

/// Runs one capture of the mix; returns its per-conversation totals and its stats.
fn capture(extra: &[&str], sent: &[Sent]) -> (Totals, serde_json::Value, String) {
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let (flows, stats) = (dir.join("flows.jsonl"), dir.join("stats.json"));
    let mut args = vec![
        "capture",
        "-i",
        &veth.host_if,
        "-F",
        "none",
        "--flows-json",
        flows.to_str().expect("utf-8"),
        "--stats-json",
        stats.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let nc = Netcap::start(&args);
    let ingress: Vec<Vec<u8>> = sent
        .iter()
        .filter(|s| !s.egress)
        .map(|s| s.frame.clone())
        .collect();
    let egress: Vec<Vec<u8>> = sent
        .iter()
        .filter(|s| s.egress)
        .map(|s| s.frame.clone())
        .collect();
    common::send_frames(&veth.ns, &veth.ns_if, &ingress);
    common::send_frames_from_host(&veth.host_if, &egress);
    std::thread::sleep(Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", out.stderr);
    let mut t = totals(&flows);
    // The host's own traffic on a fresh veth (IPv6 router solicitations, MLD) is not
    // ours: keep the conversations the mix has.
    let want = oracle(sent);
    t.retain(|k, _| want.contains_key(k));
    (t, netcap_proc::stats(&stats), out.stderr)
}

#[test]
fn kernel_flows_equal_user_space_flows_and_the_senders_counts() {
    common::needs_privileges!();
    let sent = mix();
    let want = oracle(&sent);
    let (afp, _, _) = capture(&["--backend", "afpacket"], &sent);
    assert_eq!(afp, want, "AF_PACKET vs the sender");
    for backend in BACKENDS {
        let (kernel, ks, kerr) = capture(&["--backend", backend], &sent);
        let (user, us, _) = capture(&["--backend", backend, "--user-flows"], &sent);
        assert_eq!(ks["flow_mode"], "kernel", "{backend}: {kerr}");
        assert_eq!(us["flow_mode"], "user", "{backend}");
        // Most frames never left the kernel; the IPv6 extension header and the ARP
        // frames (and the host's own) did, and user space counted them.
        let n = |s: &serde_json::Value, k: &str| s[k].as_u64().unwrap_or(0);
        assert!(
            n(&ks, "aggregated") >= (sent.len() - 5) as u64,
            "{backend}: {ks}"
        );
        assert_eq!(
            n(&ks, "seen"),
            n(&ks, "captured") + n(&ks, "filtered") + n(&ks, "lost") + n(&ks, "aggregated"),
            "{backend}: {ks}"
        );
        assert_eq!(kernel, want, "{backend}: kernel mode vs the sender");
        assert_eq!(user, want, "{backend}: user space vs the sender");
    }
}

#[test]
fn a_full_kernel_map_sends_new_flows_to_user_space_and_loses_none() {
    common::needs_privileges!();
    let sent = mix();
    for backend in BACKENDS {
        let (kernel, ks, kerr) = capture(&["--backend", backend, "--max-flows", "4"], &sent);
        let n = |k: &str| ks[k].as_u64().unwrap_or(0);
        assert!(n("flow_overflow") > 0, "{backend}: {ks}\n{kerr}");
        assert_eq!(
            n("seen"),
            n("captured") + n("filtered") + n("lost") + n("aggregated"),
            "{backend}: {ks}"
        );
        // Records of one conversation may come from both sides (the map, and user
        // space for its frames that overflowed): added up, they are the sender's counts.
        assert_eq!(kernel, oracle(&sent), "{backend}");
    }
}

/// The mix's own addresses (its VLAN-tagged frames too: after `vlan` libpcap reads
/// the rest 4 bytes further, after a second `vlan` 8): keeps the host's chatter on a
/// fresh veth (router solicitations, MLD) out of the exact counts below.
const MIX_ONLY: &str = "net 10.252.0.0/16 or net fd00::/16 \
    or (vlan and (net 10.252.0.0/16 or (vlan and net 10.252.0.0/16)))";

#[test]
fn each_hook_alone_counts_its_frames_in_the_kernel() {
    common::needs_privileges!();
    let sent = mix();
    // The frames whose IPv6 hop-by-hop header the kernel leaves to user space.
    let hbh = |s: &&Sent| s.src.0.is_ipv6() && s.ip_len == 40 + 8 + 72;
    for (backend, direction, egress) in [
        ("xdp", "in", false),
        ("xdp", "out", true),
        ("tc", "in", false),
    ] {
        let mine: Vec<Sent> = sent
            .iter()
            .filter(|s| s.egress == egress)
            .cloned()
            .collect();
        let copied = mine.iter().filter(hbh).count() as u64;
        let (t, st, err) = capture(
            &["--backend", backend, "--direction", direction, MIX_ONLY],
            &sent,
        );
        let n = |k: &str| st[k].as_u64().unwrap_or(0);
        assert_eq!(st["flow_mode"], "kernel", "{backend}: {err}");
        // Every frame of this hook that the kernel can key was counted there (tcx egress
        // for the sent ones, XDP or tcx ingress for the received), the rest was copied,
        // none lost. (`--backend tc --direction out` is the same egress hook as XDP's.)
        assert_eq!(
            n("aggregated"),
            mine.len() as u64 - copied,
            "{backend} {direction}: {st}"
        );
        assert_eq!(n("captured"), copied, "{backend} {direction}: {st}");
        assert_eq!(n("lost") + n("filtered"), 0, "{backend} {direction}: {st}");
        assert_eq!(
            t,
            oracle(&mine),
            "{backend} {direction}: kernel records vs the sender"
        );
    }
}
