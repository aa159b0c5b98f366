//! Crafted frames: Ethernet, IPv4, UDP/TCP/ICMP and ARP built byte by byte with
//! correct checksums, TEST-NET addresses and non-local MACs; and the frame sets several
//! test files send (numbered UDP frames, the golden set under `tests/capture/`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// TCP flag bits, for [`eth_ipv4_tcp`].
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// The Internet checksum (RFC 1071) over `data`, starting from the partial sum `init`.
pub fn inet_checksum(init: u32, data: &[u8]) -> u16 {
    let mut sum = init;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn eth_header(src: [u8; 6], dst: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// Appends an IPv4 header (no options, DF, TTL 64, checksummed) and `l4` to `f`.
fn push_ipv4(f: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) {
    let total = (20 + l4.len()) as u16;
    let start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let sum = inet_checksum(0, &f[start..start + 20]);
    f[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(l4);
}

/// The partial sum of the IPv4 pseudo-header for a UDP/TCP checksum.
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let (s, d) = (src.octets(), dst.octets());
    [[s[0], s[1]], [s[2], s[3]], [d[0], d[1]], [d[2], d[3]]]
        .iter()
        .map(|w| u32::from(u16::from_be_bytes(*w)))
        .sum::<u32>()
        + u32::from(proto)
        + len as u32
}

/// Ethernet + IPv4 + UDP (checksummed) + `payload`.
pub fn eth_ipv4_udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut udp = Vec::with_capacity(len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let sum = match inet_checksum(pseudo_sum(src_ip, dst_ip, IPPROTO_UDP, len), &udp) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    let mut f = eth_header(src_mac, dst_mac, ETHERTYPE_IPV4);
    push_ipv4(&mut f, src_ip, dst_ip, IPPROTO_UDP, &udp);
    f
}

/// Ethernet + IPv4 + TCP (no options, window 65535, checksummed) + `payload`.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the header fields one to one"
)]
pub fn eth_ipv4_tcp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let sum = inet_checksum(pseudo_sum(src_ip, dst_ip, IPPROTO_TCP, tcp.len()), &tcp);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut f = eth_header(src_mac, dst_mac, ETHERTYPE_IPV4);
    push_ipv4(&mut f, src_ip, dst_ip, IPPROTO_TCP, &tcp);
    f
}

/// Ethernet + IPv4 + ICMP echo request (checksummed) + `payload`.
pub fn eth_ipv4_icmp_echo(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let sum = inet_checksum(0, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = eth_header(src_mac, dst_mac, ETHERTYPE_IPV4);
    push_ipv4(&mut f, src_ip, dst_ip, IPPROTO_ICMP, &icmp);
    f
}

/// Broadcast ARP request "who has `target_ip`? tell `src_ip`" (42 bytes, unpadded).
pub fn eth_arp_request(src_mac: [u8; 6], src_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut f = eth_header(src_mac, [0xff; 6], ETHERTYPE_ARP);
    // htype Ethernet, ptype IPv4, hlen 6, plen 4, op request.
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&src_ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target_ip.octets());
    f
}

/// A locally administered unicast MAC that no interface here owns, numbered `n`.
pub fn test_mac(n: u8) -> [u8; 6] {
    [0x02, 0x6e, 0x63, 0, 0, n]
}

/// The two TEST-NET-2 addresses the capture tests send between.
pub const IP_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const IP_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// `frame` with an 802.1Q tag for `vid` inserted after the MAC addresses.
pub fn vlan_tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// Distinct UDP frames from [`IP_A`] to [`IP_B`], numbered in the payload.
pub fn numbered_frames(n: usize, size: usize) -> Vec<Vec<u8>> {
    numbered_flows(n, size, 7)
}

/// `n` UDP frames of `size` bytes, numbered in their payload, over `flows` source ports
/// (1000, 1001, ...) taken in turn.
pub fn numbered_flows(n: usize, size: usize, flows: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut payload = vec![(i % 251) as u8; size.saturating_sub(42)];
            payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
            eth_ipv4_udp(
                test_mac(1),
                test_mac(2),
                IP_A,
                IP_B,
                1000 + (i % flows) as u16,
                9,
                &payload,
            )
        })
        .collect()
}

/// A file under `tests/capture/`: the golden frame set as pcap, and its turtle text.
pub fn capture_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/capture")
        .join(name)
}

/// The fixed frame set of the golden test: every protocol turtle decodes, with and
/// without payload, a frame padded to the Ethernet minimum, and one it does not (ARP).
pub fn golden_frames() -> Vec<Vec<u8>> {
    let (ma, mb) = (test_mac(1), test_mac(2));
    let mut padded = eth_ipv4_udp(ma, mb, IP_A, IP_B, 5353, 53, b"hi");
    padded.resize(60, 0);
    vec![
        eth_ipv4_icmp_echo(
            ma,
            mb,
            IP_A,
            IP_B,
            0x1234,
            1,
            b"abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        eth_ipv4_tcp(ma, mb, IP_A, IP_B, 40000, 80, 0x02, 1000, 0, b""),
        eth_ipv4_tcp(
            ma,
            mb,
            IP_A,
            IP_B,
            40000,
            80,
            0x18,
            1001,
            7,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        eth_ipv4_udp(ma, mb, IP_A, IP_B, 40001, 53, &[0xab; 100]),
        padded,
        eth_arp_request(ma, IP_A, IP_B),
        eth_ipv4_tcp(ma, mb, IP_B, IP_A, 80, 40000, 0x11, 7, 1001, &[0u8; 300]),
    ]
}
