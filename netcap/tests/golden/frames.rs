//! Crafted frames for the golden tests: every kind of frame the formats treat
//! differently, built from small helpers so each case reads as what it tests.

/// Ethernet II frame.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
    ];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Pads to the 60-byte Ethernet minimum with a recognisable pattern.
pub fn pad(mut f: Vec<u8>) -> Vec<u8> {
    let mut n = 0u8;
    while f.len() < 60 {
        f.push(0xe0 | (n & 15));
        n += 1;
    }
    f
}

/// IPv4 header (checksum left 0) with `ver_ihl`, `proto`, options, then `payload`.
pub fn ipv4_raw(ver_ihl: u8, proto: u8, options: &[u8], payload: &[u8], frag: u16) -> Vec<u8> {
    let total = (20 + options.len() + payload.len()) as u16;
    let mut p = vec![ver_ihl, 0x00];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x1c, 0x46]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0xb1, 0xe6, 192, 168, 0, 10, 10, 1, 2, 254]);
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

pub fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_raw(0x45, proto, &[], payload, 0x4000)
}

/// TCP segment: `off_flags` is the 16-bit data-offset/flags word.
pub fn tcp(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    off_flags: u16,
    opts: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.extend_from_slice(&off_flags.to_be_bytes());
    s.extend_from_slice(&[0xfa, 0xf0, 0x12, 0x34, 0x00, 0x00]);
    s.extend_from_slice(opts);
    s.extend_from_slice(data);
    s
}

pub fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0xab, 0xcd]);
    s.extend_from_slice(data);
    s
}

pub fn icmp(ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut s = vec![ty, code, 0xf7, 0xfd];
    s.extend_from_slice(rest);
    s
}

pub fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0x00, 0x00, 0x00];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&[
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0xaa, 0xbb, 0xff, 0xfe, 0xcc, 0xdd, 0xee,
    ]);
    p.extend_from_slice(&[
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ]);
    p.extend_from_slice(payload);
    p
}

pub fn arp(oper: u16) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4];
    p.extend_from_slice(&oper.to_be_bytes());
    p.extend_from_slice(&[0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 192, 168, 0, 10]);
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 192, 168, 0, 1]);
    p
}

pub fn counting(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

const SYN_OPTS: [u8; 20] = [
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];
const SYN: u16 = 0x0002;
const ACK: u16 = 0x0010;
const PSH: u16 = 0x0008;

/// Frames the seed program decodes without crashing.
pub fn reference_frames() -> Vec<Vec<u8>> {
    let mut v = vec![
        // ICMP echo request / reply with the usual 56 bytes, and an unreachable.
        eth(
            0x0800,
            &ipv4(
                1,
                &icmp(
                    8,
                    0,
                    &[0, 1, 0, 1]
                        .iter()
                        .copied()
                        .chain(counting(56))
                        .collect::<Vec<_>>(),
                ),
            ),
        ),
        eth(0x0800, &ipv4(1, &icmp(0, 0, &[0, 1, 0, 1]))),
        eth(0x0800, &ipv4(1, &icmp(3, 3, &[0, 0, 0, 0]))),
        // TCP SYN with options, SYN-ACK, bare ACK (padded), data of several sizes.
        eth(
            0x0800,
            &ipv4(6, &tcp(43512, 80, 1, 0, 0xa000 | SYN, &SYN_OPTS, &[])),
        ),
        eth(
            0x0800,
            &ipv4(
                6,
                &tcp(80, 43512, 4000000000, 2, 0xa000 | SYN | ACK, &SYN_OPTS, &[]),
            ),
        ),
        pad(eth(
            0x0800,
            &ipv4(6, &tcp(43512, 80, 2, 4000000001, 0x5000 | ACK, &[], &[])),
        )),
        eth(
            0x0800,
            &ipv4(
                6,
                &tcp(
                    43512,
                    80,
                    2,
                    1,
                    0x5000 | ACK | PSH,
                    &[],
                    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                ),
            ),
        ),
        eth(
            0x0800,
            &ipv4(6, &tcp(80, 43512, 1, 2, 0x5000 | ACK, &[], &counting(1460))),
        ),
        eth(
            0x0800,
            &ipv4(6, &tcp(1, 2, 3, 4, 0x503f, &[], &counting(37))),
        ),
        eth(
            0x0800,
            &ipv4(6, &tcp(1, 2, 3, 4, 0x5000, &[], &counting(18))),
        ),
        eth(
            0x0800,
            &ipv4(6, &tcp(1, 2, 3, 4, 0x5000, &[], &counting(19))),
        ),
        // Odd TCP data offsets: 0 (data is the whole segment), 2, 15 (past the end).
        eth(0x0800, &ipv4(6, &tcp(1, 2, 3, 4, 0x0018, &[], b"abc"))),
        eth(0x0800, &ipv4(6, &tcp(1, 2, 3, 4, 0x2018, &[], b"abc"))),
        eth(0x0800, &ipv4(6, &tcp(1, 2, 3, 4, 0xf018, &[], b"abc"))),
        // UDP: DNS-like, empty (padded), 8 bytes exactly, a fragment.
        eth(0x0800, &ipv4(17, &udp(53, 40000, &counting(74)))),
        pad(eth(0x0800, &ipv4(17, &udp(5353, 5353, &[])))),
        eth(0x0800, &ipv4(17, &udp(1, 2, &[]))),
        eth(0x0800, &ipv4_raw(0x45, 17, &[], &counting(40), 0x00b9)),
        // IPv4 options, odd IHLs, another version inside 0x0800, other protocols.
        eth(
            0x0800,
            &ipv4_raw(0x46, 17, &[0x94, 4, 0, 0], &udp(67, 68, &counting(10)), 0),
        ),
        eth(0x0800, &ipv4_raw(0x40, 6, &[], &counting(20), 0)),
        eth(0x0800, &ipv4_raw(0x42, 17, &[], &counting(20), 0)),
        eth(0x0800, &ipv4_raw(0x44, 1, &[], &counting(8), 0)),
        eth(0x0800, &ipv4_raw(0x4f, 99, &[], &counting(10), 0)),
        eth(
            0x0800,
            &ipv4_raw(0x65, 6, &[], &tcp(1, 2, 3, 4, 0x5010, &[], &[]), 0),
        ),
        pad(eth(
            0x0800,
            &ipv4(2, &[0x16, 0, 0xfa, 0x04, 224, 0, 0, 251]),
        )),
        eth(0x0800, &ipv4(47, &counting(100))),
        eth(0x0800, &ipv4(0, &[])),
        // Not IPv4 for the seed: ARP, IPv6, VLAN, QinQ, 0x0008, an 802.3 length, nothing.
        pad(eth(0x0806, &arp(1))),
        pad(eth(0x0806, &arp(2))),
        eth(
            0x86dd,
            &ipv6(6, &tcp(443, 50000, 9, 10, 0x5018, &[], b"hello")),
        ),
        eth(0x86dd, &ipv6(58, &icmp(135, 0, &counting(20)))),
        eth(
            0x8100,
            &[0x00, 0x05, 0x08, 0x00]
                .iter()
                .copied()
                .chain(ipv4(17, &udp(1, 2, b"v")))
                .collect::<Vec<_>>(),
        ),
        eth(
            0x88a8,
            &[0x00, 0x64, 0x81, 0x00, 0x20, 0x05, 0x08, 0x06]
                .iter()
                .copied()
                .chain(arp(1))
                .collect::<Vec<_>>(),
        ),
        eth(0x0008, &ipv4(17, &udp(1, 2, b"x"))),
        pad(eth(0x0026, &[0x42, 0x42, 0x03, 0, 0, 0])),
        eth(0x0806, &[]),
    ];
    v.extend(random_frames().into_iter().filter(|f| !seed_crashes(f)));
    v
}

/// Frames the seed program crashes on: netcap prints a truncation line instead.
pub fn crash_frames() -> Vec<Vec<u8>> {
    let tcp_frame = eth(0x0800, &ipv4(6, &tcp(1, 2, 3, 4, 0x5018, &[], b"data")));
    let mut v = vec![vec![], vec![0x00], tcp_frame[..13].to_vec()];
    for cut in [14, 15, 20, 33, 34, 35, 47] {
        v.push(tcp_frame[..cut].to_vec());
    }
    let udp_frame = eth(0x0800, &ipv4(17, &udp(1, 2, b"data")));
    v.push(udp_frame[..41].to_vec());
    let icmp_frame = eth(0x0800, &ipv4(1, &icmp(8, 0, &[0, 1, 0, 1])));
    v.push(icmp_frame[..37].to_vec());
    v.push(eth(0x0800, &ipv4_raw(0x4f, 1, &[], &counting(10), 0)));
    v.push(eth(0x0800, &ipv4_raw(0x4f, 6, &[], &counting(30), 0)));
    v.extend(random_frames().into_iter().filter(|f| seed_crashes(f)));
    v
}

/// What makes the seed's `struct.unpack` raise.
pub fn seed_crashes(f: &[u8]) -> bool {
    if f.len() < 14 {
        return true;
    }
    if f[12..14] != [0x08, 0x00] {
        return false;
    }
    let ip = &f[14..];
    if ip.len() < 20 {
        return true;
    }
    let rest = ip.len().saturating_sub((ip[0] & 15) as usize * 4);
    match ip[9] {
        1 => rest < 4,
        6 => rest < 14,
        17 => rest < 8,
        _ => false,
    }
}

/// Random IPv4-ish frames from a fixed-seed generator (xorshift), so the fixture is
/// reproducible.
pub fn random_frames() -> Vec<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..60)
        .map(|_| {
            let len = 14 + (next() % 120) as usize;
            let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            f[12] = 0x08;
            f[13] = 0x00;
            if len > 23 {
                f[23] = [1, 6, 17, 4][(next() % 4) as usize];
            }
            f
        })
        .collect()
}
