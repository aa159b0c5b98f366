//! A deterministic pcap of a realistic traffic mix for the offline bench.
//!
//! The mix (shares of frames) is loosely modelled on an office uplink: mostly TCP, half
//! of it pure ACKs and a quarter full-size segments; DNS-like UDP queries and answers;
//! other UDP (QUIC-like sizes); ICMP echo; IPv6 (TCP, UDP, ICMPv6); ARP; and a few
//! 802.1Q-tagged frames. Checksums are correct, so tcpdump -v and tshark agree with it.
//! The same seed gives the same file byte for byte.
use std::{
    io::{BufWriter, Write},
    path::Path,
};

use anyhow::{Context, Result};

/// Small, fast, deterministic PRNG (splitmix64); no crate needed for a bench input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
}

/// Totals of a generated file.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Generated {
    pub frames: u64,
    pub bytes: u64,
}

/// Writes `frames` frames to `path` (pcap, microsecond timestamps, Ethernet).
pub fn generate(path: &Path, frames: u64, seed: u64) -> Result<Generated> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    // Global header: magic, v2.4, thiszone, sigfigs, snaplen, linktype 1 (Ethernet).
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&65535u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    let mut rng = Rng(seed);
    let mut frame = Vec::with_capacity(2048);
    let mut bytes = 0u64;
    let mut ts_us: u64 = 1_700_000_000 * 1_000_000;
    for i in 0..frames {
        frame.clear();
        mix_frame(&mut rng, i, &mut frame);
        ts_us += 1 + rng.below(40);
        let len = frame.len() as u32;
        w.write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&frame)?;
        bytes += u64::from(len);
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Generated { frames, bytes })
}

/// Copies the first `frames` records of pcap `src` to `dst`.
pub fn cut(src: &Path, dst: &Path, frames: u64) -> Result<()> {
    let data = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    let mut off = 24;
    for _ in 0..frames {
        let Some(hdr) = data.get(off..off + 16) else {
            break;
        };
        let caplen = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) as usize;
        off += 16 + caplen;
    }
    std::fs::write(dst, &data[..off.min(data.len())])
        .with_context(|| format!("writing {}", dst.display()))
}

const HOSTS: u64 = 200;
const FLOWS: u64 = 3000;

fn mac(host: u64) -> [u8; 6] {
    [0x02, 0x10, 0, 0, (host >> 8) as u8, host as u8]
}

fn v4(host: u64) -> [u8; 4] {
    [10, 1, (host >> 8) as u8, host as u8]
}

fn v4_remote(flow: u64) -> [u8; 4] {
    [93, 184, (flow >> 8) as u8, flow as u8]
}

fn v6(host: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[14] = (host >> 8) as u8;
    a[15] = host as u8;
    a
}

/// One frame of the mix, chosen by `rng`, appended to `f`.
fn mix_frame(rng: &mut Rng, i: u64, f: &mut Vec<u8>) {
    let flow = rng.below(FLOWS);
    let host = flow % HOSTS;
    let outbound = rng.below(2) == 0;
    let (src_mac, dst_mac) = if outbound {
        (mac(host), mac(999))
    } else {
        (mac(999), mac(host))
    };
    let pick = rng.below(1000);
    let mut payload = Vec::new();
    match pick {
        // 55 %: IPv4 TCP.
        0..=549 => {
            let size = tcp_payload_size(rng);
            payload.resize(size, 0);
            fill(rng, &mut payload);
            let flags = tcp_flags(rng, size);
            let (sp, dp) = if outbound {
                (40000 + (flow % 20000) as u16, 443)
            } else {
                (443, 40000 + (flow % 20000) as u16)
            };
            let seg = tcp(
                sp,
                dp,
                (i as u32).wrapping_mul(1460),
                flow as u32 * 7,
                flags,
                &payload,
            );
            let (s, d) = if outbound {
                (v4(host), v4_remote(flow))
            } else {
                (v4_remote(flow), v4(host))
            };
            eth(f, dst_mac, src_mac, 0x0800);
            ipv4(f, s, d, 6, seg);
        }
        // 12 %: DNS-like UDP, queries and answers.
        550..=669 => {
            let query = rng.below(2) == 0;
            payload.resize(
                if query {
                    rng.range(28, 60)
                } else {
                    rng.range(60, 300)
                },
                0,
            );
            fill(rng, &mut payload);
            let port = 30000 + (flow % 30000) as u16;
            let (sp, dp, s, d) = if query {
                (port, 53, v4(host), [10, 0, 0, 53])
            } else {
                (53, port, [10, 0, 0, 53], v4(host))
            };
            eth(f, dst_mac, src_mac, 0x0800);
            ipv4(f, s, d, 17, udp(sp, dp, &payload));
        }
        // 8 %: other UDP (QUIC-like).
        670..=749 => {
            payload.resize(
                if rng.below(2) == 0 {
                    rng.range(30, 120)
                } else {
                    1350
                },
                0,
            );
            fill(rng, &mut payload);
            eth(f, dst_mac, src_mac, 0x0800);
            ipv4(
                f,
                v4(host),
                v4_remote(flow),
                17,
                udp(50000 + (flow % 1000) as u16, 443, &payload),
            );
        }
        // 4 %: ICMP echo request/reply, 56 bytes of data like ping.
        750..=789 => {
            let mut m = vec![if outbound { 8 } else { 0 }, 0, 0, 0];
            m.extend_from_slice(&(flow as u16).to_be_bytes());
            m.extend_from_slice(&(i as u16).to_be_bytes());
            m.resize(64, 0x5a);
            let c = checksum(0, &m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            eth(f, dst_mac, src_mac, 0x0800);
            ipv4(f, v4(host), v4_remote(flow), 1, m);
        }
        // 12 %: IPv6 TCP and UDP.
        790..=909 => {
            let is_tcp = rng.below(3) != 0;
            let size = if is_tcp {
                // MSS 1440 over IPv6: a full segment is a 1514-byte frame, as over IPv4.
                tcp_payload_size(rng).min(1440)
            } else {
                rng.range(20, 500)
            };
            payload.resize(size, 0);
            fill(rng, &mut payload);
            let (s, d) = (v6(host), v6(5000 + flow));
            let l4 = if is_tcp {
                tcp(
                    40000 + (flow % 20000) as u16,
                    443,
                    i as u32,
                    1,
                    tcp_flags(rng, size),
                    &payload,
                )
            } else {
                udp(40000 + (flow % 20000) as u16, 443, &payload)
            };
            eth(f, dst_mac, src_mac, 0x86dd);
            ipv6(f, s, d, if is_tcp { 6 } else { 17 }, l4);
        }
        // 2 %: ICMPv6 echo.
        910..=929 => {
            let mut m = vec![128, 0, 0, 0];
            m.extend_from_slice(&(flow as u16).to_be_bytes());
            m.extend_from_slice(&(i as u16).to_be_bytes());
            m.resize(64, 0x5a);
            eth(f, dst_mac, src_mac, 0x86dd);
            ipv6(f, v6(host), v6(5000 + flow), 58, m);
        }
        // 3 %: ARP requests (broadcast, padded to the 60-byte minimum).
        930..=959 => {
            eth(f, [0xff; 6], mac(host), 0x0806);
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&mac(host));
            f.extend_from_slice(&v4(host));
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&v4((host + 1) % HOSTS));
            f.resize(60, 0);
        }
        // 4 %: 802.1Q-tagged IPv4 UDP and TCP.
        _ => {
            payload.resize(rng.range(0, 800), 0);
            fill(rng, &mut payload);
            f.extend_from_slice(&dst_mac);
            f.extend_from_slice(&src_mac);
            f.extend_from_slice(&0x8100u16.to_be_bytes());
            f.extend_from_slice(&(100 + (flow % 4) as u16).to_be_bytes());
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let (proto, l4) = if rng.below(2) == 0 {
                (17, udp(5000, 5001, &payload))
            } else {
                (6, tcp(5000, 5001, i as u32, 1, 0x18, &payload))
            };
            ipv4(f, v4(host), [10, 9, 0, 1], proto, l4);
        }
    }
    if f.len() < 60 {
        f.resize(60, 0); // Ethernet minimum (without FCS): padding shows as trailing data.
    }
}

/// TCP payload sizes: 40 % pure ACKs, 20 % small, 15 % medium, 25 % full (MSS 1460).
fn tcp_payload_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=39 => 0,
        40..=59 => rng.range(1, 100),
        60..=74 => rng.range(100, 1000),
        _ => 1460,
    }
}

/// Flags: data carries PSH|ACK; empty segments are mostly ACK, sometimes SYN, FIN or RST.
fn tcp_flags(rng: &mut Rng, size: usize) -> u8 {
    if size > 0 {
        return 0x18;
    }
    match rng.below(100) {
        0..=2 => 0x02,
        3..=5 => 0x12,
        6..=8 => 0x11,
        9 => 0x04,
        _ => 0x10,
    }
}

/// Payload bytes: text-like, so that turtle's hex dump and tcpdump see varied data.
fn fill(rng: &mut Rng, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let r = rng.next().to_le_bytes();
        for (b, x) in chunk.iter_mut().zip(r) {
            *b = 0x20 + x % 0x5f;
        }
    }
}

fn eth(f: &mut Vec<u8>, dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
}

/// Internet checksum of `data` added to the partial sum `init`.
fn checksum(init: u32, data: &[u8]) -> u16 {
    let mut sum = init;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum_words(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum()
}

/// The L4 checksum field offset: TCP 16, UDP 6, ICMPv6 2 (none for ICMPv4 here).
fn l4_checksum_offset(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(16),
        17 => Some(6),
        58 => Some(2),
        _ => None,
    }
}

fn ipv4(f: &mut Vec<u8>, src: [u8; 4], dst: [u8; 4], proto: u8, mut l4: Vec<u8>) {
    let total = (20 + l4.len()) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&(src[3] as u16 * 31 + dst[3] as u16).to_be_bytes());
    h[6] = 0x40; // DF
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let c = checksum(0, &h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    if let Some(off) = l4_checksum_offset(proto) {
        let pseudo = sum_words(&src) + sum_words(&dst) + u32::from(proto) + l4.len() as u32;
        let c = checksum(pseudo, &l4);
        l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&h);
    f.extend_from_slice(&l4);
}

fn ipv6(f: &mut Vec<u8>, src: [u8; 16], dst: [u8; 16], next: u8, mut l4: Vec<u8>) {
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.push(next);
    f.push(64);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    if let Some(off) = l4_checksum_offset(next) {
        let pseudo = sum_words(&src) + sum_words(&dst) + u32::from(next) + l4.len() as u32;
        let c = checksum(pseudo, &l4);
        l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&l4);
}

fn tcp(sp: u16, dp: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + payload.len());
    s.extend_from_slice(&sp.to_be_bytes());
    s.extend_from_slice(&dp.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.push(5 << 4);
    s.push(flags);
    s.extend_from_slice(&64240u16.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]);
    s.extend_from_slice(payload);
    s
}

fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + payload.len());
    s.extend_from_slice(&sp.to_be_bytes());
    s.extend_from_slice(&dp.to_be_bytes());
    s.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_ipv4_header() {
        // RFC 1071 style example: header with its checksum verifies to zero.
        let mut f = Vec::new();
        ipv4(&mut f, [10, 0, 0, 1], [10, 0, 0, 2], 17, udp(1, 2, b"hi"));
        assert_eq!(checksum(0, &f[..20]), 0);
        let pseudo = sum_words(&[10, 0, 0, 1]) + sum_words(&[10, 0, 0, 2]) + 17 + 10;
        assert_eq!(checksum(pseudo, &f[20..]), 0);
    }

    #[test]
    fn mix_is_deterministic_and_at_least_minimum_size() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for i in 0..2000 {
            let (mut fa, mut fb) = (Vec::new(), Vec::new());
            mix_frame(&mut a, i, &mut fa);
            mix_frame(&mut b, i, &mut fb);
            assert_eq!(fa, fb);
            assert!(
                fa.len() >= 60 && fa.len() <= 1514,
                "frame {i}: {}",
                fa.len()
            );
        }
    }
}
