//! The TCP connections of `tcp_health.rs`'s generated captures: connections as a
//! capture point between client and server sees them, with losses before and after
//! it, reordering, duplicates, spurious retransmissions, zero windows with probes,
//! keep-alives and retransmitted SYNs; deterministic (a seeded xorshift), so a
//! failure reproduces.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

use crate::Endpoint;

const PSH_ACK: u8 = 0x18;

const ACK: u8 = 0x10;

const SYN: u8 = 0x02;

const FIN: u8 = 0x01;

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// A captured frame: time (ns since the epoch) and bytes.
pub type Frame = (u64, Vec<u8>);

/// One connection as the capture point sees it; times in ns.
struct Conn<'a> {
    client: Endpoint,
    server: Endpoint,
    t: u64,
    frames: &'a mut Vec<Frame>,
    /// Next sequence number each side sends, and what the server has received in order.
    cseq: u32,
    sseq: u32,
    rcv_next: u32,
    /// Segments the server holds above a hole: (seq, len).
    held: Vec<(u32, u32)>,
    window: u16,
}

impl Conn<'_> {
    fn emit(&mut self, from_client: bool, flags: u8, seq: u32, ack: u32, len: u32, win: u16) {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let f = tcp_frame(src, dst, flags, seq, ack, win, len as usize);
        self.frames.push((self.t, f));
    }

    fn wait_us(&mut self, us: u64) {
        self.t += us * 1000;
    }

    /// The server's cumulative ACK (a duplicate when nothing new arrived in order).
    fn server_ack(&mut self) {
        let (seq, ack, w) = (self.sseq, self.rcv_next, self.window);
        self.emit(false, ACK, seq, ack, 0, w);
    }

    /// The server receives a client segment (it may be a duplicate or out of order).
    fn arrive(&mut self, seq: u32, len: u32) {
        if seq == self.rcv_next {
            self.rcv_next = seq.wrapping_add(len);
            loop {
                let next = self.rcv_next;
                let Some(i) = self.held.iter().position(|&(s, _)| s == next) else {
                    break;
                };
                let (s, l) = self.held.swap_remove(i);
                self.rcv_next = s.wrapping_add(l);
            }
        } else if (seq.wrapping_sub(self.rcv_next) as i32) > 0 {
            self.held.push((seq, len));
        }
    }
}

/// `n` connections with random faults; see the module doc.
pub fn simulate(n: u16, v6: bool, ns: bool) -> Vec<Frame> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(n) ^ u64::from(v6));
    let mut frames = Vec::new();
    for i in 0..n {
        let host = |net: u16, h: u16| -> IpAddr {
            if v6 {
                Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, 0, h).into()
            } else {
                Ipv4Addr::new(10, net as u8, (h >> 8) as u8, h as u8).into()
            }
        };
        let mut c = Conn {
            client: (host(1, i + 1), 33000 + i),
            server: (host(2, 1 + i % 7), 44444),
            t: 1_700_000_000_000_000_000 + u64::from(i) * 3_000_000_000,
            frames: &mut frames,
            cseq: rng.next() as u32,
            sseq: rng.next() as u32,
            rcv_next: 0,
            held: Vec::new(),
            window: rng.range(2000, 65535) as u16,
        };
        if ns {
            c.t += rng.range(0, 1000); // sub-µs times
        }
        let (rtt_a, rtt_b) = (rng.range(500, 20_000), rng.range(100, 20_000));
        if !rng.one_in(5) {
            let (cs, ss) = (c.cseq, c.sseq);
            c.emit(true, SYN, cs, 0, 0, 64240);
            if rng.one_in(4) {
                c.wait_us(1_000_000);
                c.emit(true, SYN, cs, 0, 0, 64240); // retransmitted SYN
            }
            c.wait_us(rtt_a);
            c.emit(false, SYN | ACK, ss, cs.wrapping_add(1), 0, 65160);
            c.wait_us(rtt_b);
            c.cseq = cs.wrapping_add(1);
            c.sseq = ss.wrapping_add(1);
            let (cs, ss) = (c.cseq, c.sseq);
            c.emit(true, ACK, cs, ss, 0, 1000);
        }
        c.rcv_next = c.cseq;
        transfer(&mut c, &mut rng, rtt_a + rtt_b);
    }
    frames.sort_by_key(|f| f.0);
    frames
}

/// Client data with faults, the server's ACKs, a response, keep-alives and the close.
fn transfer(c: &mut Conn<'_>, rng: &mut Rng, rtt_us: u64) {
    let mut lost: Vec<(u32, u32)> = Vec::new();
    let mut held_back: Option<(u32, u32)> = None;
    let mut dup_acks = 0;
    let mut prev = None;
    for _ in 0..rng.range(5, 25) {
        let len = rng.range(1, 1400) as u32;
        let seq = c.cseq;
        c.cseq = seq.wrapping_add(len);
        let ack = c.sseq;
        c.wait_us(rng.range(50, 3000));
        match rng.next() % 12 {
            // Lost before the capture point: neither seen nor received.
            0 if lost.is_empty() => {
                lost.push((seq, len));
                continue;
            }
            // Overtaken by the next segment (within the RTT).
            1 if held_back.is_none() => {
                held_back = Some((seq, len));
                continue;
            }
            _ => {}
        }
        c.emit(true, PSH_ACK, seq, ack, len, 1000);
        c.arrive(seq, len);
        if let Some((s, l)) = held_back.take() {
            c.server_ack();
            c.wait_us(rng.range(10, rtt_us.max(20) / 2));
            c.emit(true, PSH_ACK, s, ack, l, 1000);
            c.arrive(s, l);
        }
        let before = c.rcv_next;
        c.wait_us(rng.range(20, 400));
        c.server_ack();
        dup_acks = if lost.is_empty() || c.rcv_next != before {
            0
        } else {
            dup_acks + 1
        };
        if let Some(&(s, l)) = lost.first() {
            // Fast retransmission after three duplicates, else after a timeout.
            if dup_acks >= 3 || rng.one_in(6) {
                c.wait_us(if dup_acks >= 3 {
                    rng.range(10, 900)
                } else {
                    300_000
                });
                c.emit(true, PSH_ACK, s, ack, l, 1000);
                c.arrive(s, l);
                lost.clear();
                c.wait_us(rng.range(20, 400));
                c.server_ack();
            }
        }
        match rng.next() % 20 {
            // A segment the capture saw sent again, after a timeout or at once: a
            // retransmission.
            0 => {
                c.wait_us(250_000);
                c.emit(true, PSH_ACK, seq, ack, len, 1000);
            }
            1 => {
                c.wait_us(5);
                c.emit(true, PSH_ACK, seq, ack, len, 1000);
            }
            // The one before, already acknowledged, at once: a spurious retransmission
            // (within the RTT, out of order but for the ACK).
            2 => {
                if let Some((s, l)) = prev {
                    c.wait_us(5);
                    c.emit(true, PSH_ACK, s, ack, l, 1000);
                }
            }
            _ => {}
        }
        prev = Some((seq, len));
    }
    for (s, l) in lost.drain(..) {
        c.wait_us(400_000);
        let ack = c.sseq;
        c.emit(true, PSH_ACK, s, ack, l, 1000);
        c.arrive(s, l);
        c.server_ack();
    }
    if rng.one_in(3) {
        // The server's window closes; the client probes twice, then the window opens.
        let w = c.window;
        c.window = 0;
        c.server_ack();
        for _ in 0..2 {
            c.wait_us(200_000);
            let (cs, ss) = (c.cseq, c.sseq);
            c.emit(true, ACK, cs, ss, 1, 1000);
            c.server_ack();
        }
        c.window = w;
        c.wait_us(50_000);
        c.server_ack();
    }
    // The server answers; the client acknowledges each segment.
    for _ in 0..rng.range(0, 4) {
        let len = rng.range(1, 1400) as u32;
        let (cs, ss, w) = (c.cseq, c.sseq, c.window);
        c.wait_us(rng.range(100, 2000));
        c.emit(false, PSH_ACK, ss, cs, len, w);
        c.sseq = ss.wrapping_add(len);
        c.wait_us(rng.range(20, 400));
        let ss = c.sseq;
        c.emit(true, ACK, cs, ss, 0, 1000);
        if rng.one_in(4) {
            c.emit(true, ACK, cs, ss, 0, 1000); // a duplicate ACK
        }
    }
    if rng.one_in(4) {
        // Idle, a keep-alive and its ACK.
        c.wait_us(2_000_000);
        let (cs, ss) = (c.cseq, c.sseq);
        c.emit(true, ACK, cs.wrapping_sub(1), ss, 0, 1000);
        c.wait_us(300);
        c.server_ack();
    }
    let (cs, ss, w) = (c.cseq, c.sseq, c.window);
    c.wait_us(1000);
    c.emit(true, FIN | ACK, cs, ss, 0, 1000);
    c.wait_us(300);
    c.emit(false, FIN | ACK, ss, cs.wrapping_add(1), 0, w);
    c.wait_us(300);
    c.emit(true, ACK, cs.wrapping_add(1), ss.wrapping_add(1), 0, 1000);
}

/// Ethernet + IPv4 or IPv6 + TCP (no options, checksummed) + `len` bytes of payload.
/// (`common::eth_ipv4_tcp` has a fixed window and no IPv6.)
fn tcp_frame(
    src: Endpoint,
    dst: Endpoint,
    flags: u8,
    seq: u32,
    ack: u32,
    window: u16,
    len: usize,
) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + len);
    tcp.extend_from_slice(&src.1.to_be_bytes());
    tcp.extend_from_slice(&dst.1.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags]);
    tcp.extend_from_slice(&window.to_be_bytes());
    tcp.extend_from_slice(&[0; 4]);
    tcp.extend((0..len).map(|i| i as u8));
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    let mut pseudo = Vec::new();
    match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&ip);
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
            f.extend_from_slice(&[6, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
        }
        _ => panic!("mixed address families"),
    }
    pseudo.extend_from_slice(&tcp);
    let sum = checksum(&pseudo);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&tcp);
    f
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn write_pcap(path: &Path, frames: &[Frame], res: TsResolution) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: res,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(file), header)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (ts, data) in frames {
        let pkt = PcapPacket::new(Duration::from_nanos(*ts), data.len() as u32, data);
        w.write_packet(&pkt)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
