//! The flow table's per-conversation packet and byte counts, checked against tshark.
//!
//! For each fixture, frames are read with `pcap-file`, decoded with `netcap::decode`
//! and counted by `FlowTable`s; tshark prints each frame's length, time, VLAN,
//! addresses and ports (`-T fields`: exact, unlike `-z conv`, which rounds bytes to kB),
//! and the test adds those up per conversation. Both sides are compared per
//! conversation and per direction: packets, bytes (`frame.len`, the wire length, which
//! is what the table counts from `orig_len`), first and last timestamps. Only TCP and
//! UDP conversations are compared: tshark has no ports for the rest.
//!
//! Each fixture runs twice: one unbounded shard, and three shards sharded with
//! `shard_of` sharing a table far too small, so that flows are evicted and merged;
//! the records of one conversation must still add up to tshark's counts.
//!
//! Fixtures (`tests/flows/`, from tcpdump's test suite in `../shared/corpus`) were
//! picked so that tshark and netcap must agree: Ethernet, several conversations, no
//! frame tshark calls malformed, and no ICMP errors (they carry inner ports), IP
//! fragments (tshark reassembles), tunnels (tshark reports the inner ports) or QinQ:
//! - `bgp-4byte-asn.pcap`: 6 IPv4 TCP conversations, plus non-IP frames;
//! - `bgp-bgpsec.pcap`: 5 IPv4 TCP conversations, handshakes and resets;
//! - `tfo-5c1fa7f9ae91.pcap`: TCP Fast Open, SYNs with data;
//! - `eapon1.pcap`: 7 IPv4 UDP broadcast conversations among EAPOL frames;
//! - `dhcpv4v6-rfc5970-rfc8572.pcap`: IPv6 and IPv4 UDP, hours apart (idle expiry);
//! - generated here, [`write_many_flows`]: 1500 interleaved conversations, IPv4 and
//!   IPv6, TCP and UDP, some 802.1Q-tagged, with a 96-byte snap length so captured and
//!   wire lengths differ.
//!
//! When tshark is missing the test installs it (apt) if it runs as root with
//! `NETCAP_PRIVILEGED_TESTS=1`, else prints "skipped" and passes.
#[path = "common/tshark.rs"]
mod tshark;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netcap::decode::{decode, FlowTuple};
use netcap::flow::{shard_of, FlowConfig, FlowKey, FlowStats, FlowTable};
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, TsResolution};

/// One conversation's totals; index 0 is the key's `lo` endpoint sending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Conv {
    packets: [u64; 2],
    bytes: [u64; 2],
    first_ns: u64,
    last_ns: u64,
}

impl Conv {
    fn add(&mut self, dir: usize, packets: u64, bytes: u64, first_ns: u64, last_ns: u64) {
        let fresh = self.packets == [0, 0];
        self.packets[dir] += packets;
        self.bytes[dir] += bytes;
        self.first_ns = if fresh {
            first_ns
        } else {
            self.first_ns.min(first_ns)
        };
        self.last_ns = self.last_ns.max(last_ns);
    }
}

type Convs = BTreeMap<FlowKey, Conv>;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flows")
        .join(name)
}

/// Reads `path` through decode and `shards` flow tables, then adds up the records of
/// each TCP/UDP conversation.
fn netcap_convs(path: &Path, shards: usize, cfg: FlowConfig) -> Convs {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = PcapReader::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.header();
    let link = LinkType::from_linktype(u32::from(header.datalink));
    let frac_ns = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };
    let mut tables: Vec<_> = (0..shards)
        .map(|_| FlowTable::new(cfg.per_shard(shards)))
        .collect();
    let mut frames = 0;
    // Raw records: pcap-file's checked `next_packet` rejects `orig_len > snaplen`,
    // which every capture cut by its snap length has.
    while let Some(pkt) = reader.next_raw_packet() {
        let pkt = pkt.unwrap_or_else(|e| panic!("{}: frame {frames}: {e}", path.display()));
        frames += 1;
        let meta = FrameMeta {
            ts_ns: u64::from(pkt.ts_sec) * 1_000_000_000 + u64::from(pkt.ts_frac) * frac_ns,
            orig_len: pkt.orig_len,
            ifindex: 0,
            direction: Direction::Unknown,
            link,
            iface: 0,
            drops: 0,
        };
        let frame = Frame {
            meta,
            data: &pkt.data,
        };
        let decoded = decode(&frame);
        let shard = decoded.flow_tuple().map_or(0, |t| shard_of(&t, shards));
        tables[shard].update_frame(&frame, &decoded);
    }
    let stats = FlowStats::sum(&tables);
    assert_eq!(
        stats.frames + stats.untracked,
        frames,
        "{}: {stats:?}",
        path.display()
    );
    let mut convs = Convs::new();
    for f in FlowStats::merge(&mut tables) {
        if f.proto != 6 && f.proto != 17 {
            continue;
        }
        let key = f.key();
        let a_is_lo = (f.a_addr, f.a_port) == (key.lo_addr, key.lo_port);
        let conv = convs.entry(key).or_default();
        let ab = usize::from(!a_is_lo);
        conv.add(ab, f.packets_ab, f.bytes_ab, f.first_ns, f.last_ns);
        conv.add(1 - ab, f.packets_ba, f.bytes_ba, f.first_ns, f.last_ns);
    }
    convs
}

const FIELDS: [&str; 12] = [
    "frame.len",
    "frame.time_epoch",
    "vlan.id",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "frame.number",
];

/// Per-conversation totals from tshark's per-frame fields.
fn tshark_convs(path: &Path) -> Convs {
    let text = tshark::fields(path, None, &FIELDS);
    let mut convs = Convs::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let field = |i: usize| c.get(i).copied().unwrap_or("");
        let (proto, sport, dport) = match (field(7), field(9)) {
            ("", "") => continue,
            (sp, "") => (6, sp, field(8)),
            (_, sp) => (17, sp, field(10)),
        };
        let addr = |v4: usize, v6: usize| {
            let s = if field(v4).is_empty() {
                field(v6)
            } else {
                field(v4)
            };
            s.parse::<IpAddr>()
                .unwrap_or_else(|e| panic!("address {s:?} in {line:?}: {e}"))
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .unwrap_or_else(|e| panic!("number {s:?} in {line:?}: {e}"))
        };
        let tuple = FlowTuple {
            vlan: if field(2).is_empty() {
                0
            } else {
                num(field(2)) as u16
            },
            src: addr(3, 5),
            dst: addr(4, 6),
            proto,
            sport: num(sport) as u16,
            dport: num(dport) as u16,
        };
        let ts = epoch_ns(field(1));
        let (key, src_is_lo) = FlowKey::from_tuple(&tuple);
        convs
            .entry(key)
            .or_default()
            .add(usize::from(!src_is_lo), 1, num(field(0)), ts, ts);
    }
    convs
}

/// `1234.567` (tshark's `frame.time_epoch`, up to 9 decimals) to ns, exactly.
fn epoch_ns(s: &str) -> u64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = secs.parse().unwrap_or_else(|e| panic!("time {s:?}: {e}"));
    let frac = format!("{frac:0<9}");
    let ns: u64 = frac
        .get(..9)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("time {s:?}"));
    secs * 1_000_000_000 + ns
}

/// True when tshark can run, installing it first when allowed.
fn have_tshark() -> bool {
    let works = || {
        Command::new("tshark")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works() {
        return true;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || std::env::var("NETCAP_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: tshark not found (root with NETCAP_PRIVILEGED_TESTS=1 installs it)");
        return false;
    }
    for args in [&["update"][..], &["install", "-y", "tshark"][..]] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        assert!(status.is_ok_and(|s| s.success()), "apt-get {args:?} failed");
    }
    works()
}

fn compare(path: &Path) {
    let want = tshark_convs(path);
    assert!(
        !want.is_empty(),
        "{}: no TCP/UDP conversation",
        path.display()
    );
    let tight = FlowConfig {
        max_flows: 6,
        ..FlowConfig::default()
    };
    for (shards, cfg) in [(1, FlowConfig::default()), (3, tight)] {
        let got = netcap_convs(path, shards, cfg);
        if got != want {
            let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
            let mut diff = String::new();
            for k in keys {
                let (g, w) = (got.get(k), want.get(k));
                if g != w {
                    diff.push_str(&format!("{k:?}\n  netcap {g:?}\n  tshark {w:?}\n"));
                }
            }
            panic!(
                "{} ({shards} shards, {} flows max):\n{diff}",
                path.display(),
                cfg.max_flows
            );
        }
    }
    eprintln!("{}: {} conversations agree", path.display(), want.len());
}

#[test]
fn flow_counts_match_tshark() {
    if !have_tshark() {
        return;
    }
    for name in [
        "bgp-4byte-asn.pcap",
        "bgp-bgpsec.pcap",
        "tfo-5c1fa7f9ae91.pcap",
        "eapon1.pcap",
        "dhcpv4v6-rfc5970-rfc8572.pcap",
    ] {
        compare(&fixture(name));
    }
    let many = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flows_many.pcap");
    write_many_flows(&many);
    compare(&many);
}

/// Snap length of the generated capture: cuts the payloads, never the headers
/// (Ethernet 14 + 802.1Q 4 + IPv6 40 + TCP 20 = 78).
const SNAPLEN: u32 = 96;

/// Writes a capture of 1500 interleaved conversations; see the module doc.
fn write_many_flows(path: &Path) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut w =
        PcapWriter::with_header(BufWriter::new(file), header).unwrap_or_else(|e| panic!("{e}"));
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let convs = 1500u32;
    // Each conversation: (client tuple, frame count); frames go round-robin so the
    // conversations overlap in time.
    let plan: Vec<(FlowTuple, u32)> = (0..convs)
        .map(|i| {
            let (client, server): (IpAddr, IpAddr) = if i.is_multiple_of(3) {
                (
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, i as u16).into(),
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 2, (i % 20) as u16).into(),
                )
            } else {
                (
                    Ipv4Addr::from(0x0a00_0000 + i).into(),
                    Ipv4Addr::new(192, 0, 2, (i % 20) as u8).into(),
                )
            };
            let tuple = FlowTuple {
                vlan: if i.is_multiple_of(5) {
                    100 + (i % 7) as u16
                } else {
                    0
                },
                src: client,
                dst: server,
                proto: if i.is_multiple_of(2) { 6 } else { 17 },
                sport: 20000 + i as u16,
                dport: 30000 + (i % 50) as u16,
            };
            (tuple, 1 + (next(&mut seed) % 12) as u32)
        })
        .collect();
    let mut ts = Duration::from_secs(1_700_000_000);
    for step in 0..12 {
        for (tuple, count) in &plan {
            if step >= *count {
                continue;
            }
            let r = next(&mut seed);
            let last = step + 1 == *count;
            // TCP: SYN, SYN-ACK, then data; the last frame is a FIN or a RST.
            let flags = match step {
                _ if last && r.is_multiple_of(4) => 0x04,
                _ if last => 0x11,
                0 => 0x02,
                1 => 0x12,
                _ => 0x18,
            };
            let t = if r & 1 == 0 || step == 0 {
                *tuple
            } else {
                reverse(tuple)
            };
            let frame = build_frame(&t, flags, (r >> 8) as usize % 1400);
            ts += Duration::from_micros(1 + (r >> 40) % 500);
            let cut = &frame[..frame.len().min(SNAPLEN as usize)];
            let pkt = PcapPacket::new(ts, frame.len() as u32, cut);
            w.write_packet(&pkt)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
    }
}

fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn reverse(t: &FlowTuple) -> FlowTuple {
    FlowTuple {
        src: t.dst,
        dst: t.src,
        sport: t.dport,
        dport: t.sport,
        ..*t
    }
}

/// Ethernet (+ 802.1Q) + IPv4/IPv6 + TCP/UDP + `payload` zero bytes. IPv4 header
/// checksums are right; L4 checksums are 0 (tshark does not check them by default).
fn build_frame(t: &FlowTuple, tcp_flags: u8, payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    if t.vlan != 0 {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&t.vlan.to_be_bytes());
    }
    let l4_len = if t.proto == 6 { 20 } else { 8 } + payload;
    let mut l4 = Vec::with_capacity(l4_len);
    l4.extend_from_slice(&t.sport.to_be_bytes());
    l4.extend_from_slice(&t.dport.to_be_bytes());
    if t.proto == 6 {
        l4.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, 1, 0x50, tcp_flags, 0xff, 0xff, 0, 0, 0, 0,
        ]);
    } else {
        l4.extend_from_slice(&(l4_len as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.resize(l4_len, 0);
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + l4_len) as u16;
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, t.proto, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let sum = ip.chunks(2).fold(0u32, |acc, w| {
                acc + u32::from(u16::from_be_bytes([w[0], w[1]]))
            });
            let sum = (sum & 0xffff) + (sum >> 16);
            let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4_len as u16).to_be_bytes());
            f.extend_from_slice(&[t.proto, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed address families in {t:?}"),
    }
    f.extend_from_slice(&l4);
    f
}
