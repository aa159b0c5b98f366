#!/usr/bin/env python3
"""Writes mix.pcap: a hand-made Ethernet capture with one frame per case the filter
table exercises (TCP flags, ports, fragments, IPv4 options, IPv6 extension headers,
802.1Q and QinQ, ARP, broadcast/multicast, a truncated frame, a non-IP EtherType).

Run once from this directory; the output is committed. Addresses are documentation
ranges (RFC 5737, RFC 3849) and 10/8; the frames are never sent anywhere.
"""
import ipaddress
import struct

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
MAC_C = bytes.fromhex("02000000000c")
BCAST = b"\xff" * 6


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def vlan(vid, etype, payload, pcp=0):
    return struct.pack("!HH", (pcp << 13) | vid, etype) + payload


def ip4(src, dst, proto, payload, frag=0, mf=False, df=False, opts=b"", ident=1, ttl=64):
    ihl = 5 + len(opts) // 4
    flags = (0x2000 if mf else 0) | (0x4000 if df else 0) | frag
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(payload), ident,
                      flags, ttl, proto, 0, ipaddress.IPv4Address(src).packed,
                      ipaddress.IPv4Address(dst).packed)
    return hdr + opts + payload


def ip6(src, dst, nxt, payload, hlim=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nxt, hlim) + \
        ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def tcp(sport, dport, flags, payload=b"", opts=b""):
    doff = 5 + len(opts) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, doff << 4, flags, 65535, 0, 0) + \
        opts + payload


def udp(sport, dport, payload=b""):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp_echo(ident=1, seq=1):
    return struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"ping" * 8


def icmp6_echo():
    return struct.pack("!BBHHH", 128, 0, 0, 1, 1) + b"ping6" * 4


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + \
        ipaddress.IPv4Address(spa).packed + tha + ipaddress.IPv4Address(tpa).packed


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
MSS_SACK_TS = bytes.fromhex("020405b40402080a0000000100000000")  # 16 bytes, doff 9
HBH = bytes([17, 0, 1, 4, 0, 0, 0, 0])          # hop-by-hop, next = UDP, PadN
FRAG6 = lambda nxt, off, m: struct.pack("!BBHI", nxt, 0, (off << 3) | m, 0x1234)
RTHDR = bytes([6, 2, 0, 1, 0, 0, 0, 0]) + ipaddress.IPv6Address("2001:db8::99").packed

frames = [
    eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.5", "10.0.0.9", 6, tcp(40000, 443, SYN, opts=MSS_SACK_TS))),
    eth(MAC_A, MAC_B, 0x0800, ip4("10.0.0.9", "10.0.0.5", 6, tcp(443, 40000, SYN | ACK))),
    eth(MAC_B, MAC_C, 0x0800, ip4("10.0.0.7", "192.0.2.80", 6, tcp(51000, 80, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n"))),
    eth(MAC_B, MAC_C, 0x0800, ip4("10.0.0.7", "10.0.0.1", 17, udp(5353, 53, b"\x12\x34" + b"\0" * 10))),
    eth(MAC_C, MAC_B, 0x0800, ip4("10.0.0.1", "10.0.0.7", 17, udp(53, 5353, b"\x12\x34\x81\x80" + b"\0" * 8))),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.5", "198.51.100.8", 1, icmp_echo())),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.1.2.3", "10.0.0.9", 17, udp(7000, 9999, b"x" * 64), mf=True, ident=77)),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.1.2.3", "10.0.0.9", 17, b"y" * 40, frag=9, ident=77)),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.2.0.1", "10.0.0.5", 6, tcp(50022, 22, ACK), opts=b"\x01\x01\x01\x00")),
    eth(MAC_B, MAC_A, 0x86DD, ip6("2001:db8::1", "2001:db8::2", 6, tcp(40001, 443, SYN))),
    eth(MAC_B, MAC_A, 0x86DD, ip6("2001:db8::1", "2001:db8::53", 17, udp(40002, 53, b"q" * 12))),
    eth(MAC_A, MAC_B, 0x86DD, ip6("2001:db8::2", "2001:db8::1", 58, icmp6_echo())),
    eth(MAC_B, MAC_A, 0x86DD, ip6("2001:db8::1", "2001:db8::53", 0, HBH + udp(40003, 53, b"h" * 12))),
    eth(MAC_B, MAC_A, 0x86DD, ip6("2001:db8::1", "2001:db8::2", 44, FRAG6(17, 0, 1) + udp(40004, 4000, b"f" * 24))),
    eth(MAC_B, MAC_A, 0x86DD, ip6("2001:db8::1", "2001:db8::2", 44, FRAG6(17, 3, 0) + b"g" * 24)),
    eth(MAC_B, MAC_A, 0x86DD, ip6("2001:db8::1", "2001:db8::2", 43, RTHDR + tcp(40005, 80, SYN))),
    eth(MAC_B, MAC_A, 0x8100, vlan(100, 0x0800, ip4("10.0.0.5", "10.0.0.9", 6, tcp(40006, 80, SYN)))),
    eth(MAC_B, MAC_A, 0x8100, vlan(200, 0x0800, ip4("10.0.0.7", "10.0.0.1", 17, udp(5353, 53, b"v" * 12)), pcp=5)),
    eth(MAC_B, MAC_A, 0x88A8, vlan(300, 0x8100, vlan(400, 0x0800, ip4("10.0.0.5", "198.51.100.8", 1, icmp_echo())))),
    eth(MAC_B, MAC_A, 0x8100, vlan(100, 0x86DD, ip6("2001:db8::1", "2001:db8::53", 17, udp(40007, 53, b"w" * 12)))),
    eth(BCAST, MAC_A, 0x0806, arp(1, MAC_A, "10.0.0.5", b"\0" * 6, "10.0.0.9")),
    eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, "10.0.0.9", MAC_A, "10.0.0.5")),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.5", "10.0.0.9", 17, udp(6000, 6005, b"L" * 1400))),
    eth(MAC_B, MAC_A, 0x88CC, bytes.fromhex("0207040200000000000104030201") + b"\0" * 32),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.9", "10.0.0.5", 6, tcp(6008, 40010, RST | ACK))),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.9", "10.0.0.5", 6, tcp(8080, 40011, FIN | ACK))),
    eth(BCAST, MAC_C, 0x0800, ip4("0.0.0.0", "255.255.255.255", 17, udp(68, 67, b"\1" * 240))),
    eth(bytes.fromhex("01005e0000fb"), MAC_C, 0x0800, ip4("10.0.0.7", "224.0.0.251", 17, udp(5353, 5353, b"m" * 20), ttl=255)),
    eth(MAC_B, MAC_A, 0x0800, ip4("172.16.5.4", "10.0.0.9", 6, tcp(40012, 443, ACK, b"z" * 100), df=True)),
    eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.5", "10.0.0.9", 132, b"\0" * 28)),
]
# (frame, captured length or None): the last one is cut inside the TCP header.
truncated = eth(MAC_B, MAC_A, 0x0800, ip4("10.0.0.5", "10.0.0.9", 6, tcp(40013, 443, SYN)))
records = [(f, len(f)) for f in frames] + [(truncated[:40], len(truncated))]

with open("mix.pcap", "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, (data, orig) in enumerate(records):
        out.write(struct.pack("<IIII", 1700000000 + i, 1000 * i, len(data), orig) + data)
print(f"wrote mix.pcap: {len(records)} frames")
