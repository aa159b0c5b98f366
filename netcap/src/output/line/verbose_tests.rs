//! Unit tests of `-v` (`verbose.rs`, `ipopt.rs`, `ntp.rs`, `dhcp.rs`): each frame was
//! written to a pcap and read by `tcpdump -n -v` (4.99.3); the expected text is what
//! it printed.
use crate::output::line::{Line, Options};
use crate::packet::LinkType;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn render(verbose: bool, link: LinkType, frame: &str) -> String {
    let mut line = Line::default();
    line.set_options(Options {
        verbose,
        ..Options::default()
    });
    crate::output::render(&mut line, link, 43_200_000_001_000, &hex(frame))
}

const SYN_RR: &str =
    "470000340001400040061cb60a0000010a000002010707040000000004d200500000000100000000\
                      600202007d010000020405b4";

#[test]
fn ipv4_header_options_and_tcp_checksum() {
    assert_eq!(
        render(true, LinkType::Raw, SYN_RR),
        "12:00:00.000001 IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), \
         length 52, options (NOP,RR 0.0.0.0))\n    10.0.0.1.1234 > 10.0.0.2.80: Flags [S], \
         cksum 0x7d01 (correct), seq 1, win 512, options [mss 1460], length 0\n"
    );
    // Without -v, the line it always was.
    assert_eq!(
        render(false, LinkType::Raw, SYN_RR),
        "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 512, \
         options [mss 1460], length 0\n"
    );
}

#[test]
fn bad_checksums_ecn_and_fragments() {
    // A first fragment (MF): the IP header's bad checksum, no TCP checksum.
    let frag = "45bb002c00012000400612340a0000010a00000204d20050000000010000000060020200beef\
                0000020405b4";
    assert_eq!(
        render(true, LinkType::Raw, frag),
        "12:00:00.000001 IP (tos 0xbb,CE, ttl 64, id 1, offset 0, flags [+], proto TCP (6), \
         length 44, bad cksum 1234 (->460e)!)\n    10.0.0.1.1234 > 10.0.0.2.80: Flags [S], \
         seq 1, win 512, options [mss 1460], length 0\n"
    );
    let whole = "ffffffffffff000c291f740608004500002c00010000400666c90a0000010a00000204d20050\
                 000000010000000060020200beef0000020405b4";
    assert_eq!(
        render(true, LinkType::Ethernet, whole),
        "12:00:00.000001 IP (tos 0x0, ttl 64, id 1, offset 0, flags [none], proto TCP (6), \
         length 44)\n    10.0.0.1.1234 > 10.0.0.2.80: Flags [S], cksum 0xbeef (incorrect -> \
         0x7d01), seq 1, win 512, options [mss 1460], length 0\n"
    );
}

#[test]
fn ipv6_header_and_udp_checksum() {
    let udp = "62e12345000c1140fe800000000000000000000000000001fe80000000000000000000000000\
               000213881770000c131361626364";
    assert_eq!(
        render(true, LinkType::Raw, udp),
        "12:00:00.000001 IP6 (class 0x2e, flowlabel 0x12345, hlim 64, next-header UDP (17) \
         payload length: 12) fe80::1.5000 > fe80::2.6000: [udp sum ok] UDP, length 4\n"
    );
    let mut bad = udp.to_owned();
    bad.replace_range(bad.len() - 12..bad.len() - 8, "0000");
    assert_eq!(
        render(true, LinkType::Raw, &bad),
        "12:00:00.000001 IP6 (class 0x2e, flowlabel 0x12345, hlim 64, next-header UDP (17) \
         payload length: 12) fe80::1.5000 > fe80::2.6000: [bad udp cksum 0x0000 -> 0x1313!] \
         UDP, length 4\n"
    );
}

#[test]
fn arp_types_with_v() {
    let arp =
        "ffffffffffff000c291f740608060001080006040001000c291f74060a0000010000000000000a000002";
    assert_eq!(
        render(true, LinkType::Ethernet, arp),
        "12:00:00.000001 ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 10.0.0.2 tell \
         10.0.0.1, length 28\n"
    );
}

const NTP: &str = "4500004c000100004011669e0a0000010a0000029c40007b00380000230006ec00000000000080\
                   00000000000000000000000000dcf25a39800000000000000000000000dcf25a3a40000000";

#[test]
fn ntp_summary_and_header() {
    assert_eq!(
        render(false, LinkType::Raw, NTP),
        "12:00:00.000001 IP 10.0.0.1.40000 > 10.0.0.2.123: NTPv4, Client, length 48\n"
    );
    assert_eq!(
        render(true, LinkType::Raw, NTP),
        "12:00:00.000001 IP (tos 0x0, ttl 64, id 1, offset 0, flags [none], proto UDP (17), \
         length 76)\n    10.0.0.1.40000 > 10.0.0.2.123: NTPv4, Client, length 48\n\
         \tLeap indicator:  (0), Stratum 0 (unspecified), poll 6 (64s), precision -20\n\
         \tRoot Delay: 0.000000, Root dispersion: 0.500000, Reference-ID: (unspec)\n\
         \t  Reference Timestamp:  0.000000000\n\
         \t  Originator Timestamp: 3706870329.500000000 (2017-06-19T14:12:09Z)\n\
         \t  Receive Timestamp:    0.000000000\n\
         \t  Transmit Timestamp:   3706870330.250000000 (2017-06-19T14:12:10Z)\n\
         \t    Originator - Receive Timestamp:  -3706870329.500000000\n\
         \t    Originator - Transmit Timestamp: +0.750000000\n"
    );
    // Cut inside the header: tcpdump's mark.
    let cut = &NTP[..(28 + 30) * 2];
    assert!(render(true, LinkType::Raw, cut).ends_with(" [|ntp]\n"));
}

#[test]
fn dhcp_summary_and_options() {
    let mut dhcp = String::from(
        "4500012c000100000011a5be0a0000010a00000200440043011800000101060012345678000380000000\
         0000000000000000000000000000000c291f7406",
    );
    dhcp.push_str(&"00".repeat(10 + 64 + 128));
    dhcp.push_str("638253633501013d0701000c291f74060c04686f737437050103060f79330400000e10ff");
    assert_eq!(
        render(false, LinkType::Raw, &dhcp),
        "12:00:00.000001 IP 10.0.0.1.68 > 10.0.0.2.67: BOOTP/DHCP, Request from \
         00:0c:29:1f:74:06, length 272\n"
    );
    assert_eq!(
        render(true, LinkType::Raw, &dhcp),
        "12:00:00.000001 IP (tos 0x0, id 1, offset 0, flags [none], proto UDP (17), length \
         300)\n    10.0.0.1.68 > 10.0.0.2.67: BOOTP/DHCP, Request from 00:0c:29:1f:74:06, \
         length 272, xid 0x12345678, secs 3, Flags [Broadcast]\n\
         \t  Client-Ethernet-Address 00:0c:29:1f:74:06\n\
         \t  Vendor-rfc1048 Extensions\n\
         \t    Magic Cookie 0x63825363\n\
         \t    DHCP-Message (53), length 1: Discover\n\
         \t    Client-ID (61), length 7: ether 00:0c:29:1f:74:06\n\
         \t    Hostname (12), length 4: \"host\"\n\
         \t    Parameter-Request (55), length 5: \n\
         \t      Subnet-Mask (1), Default-Gateway (3), Domain-Name-Server (6), Domain-Name (15)\n\
         \t      Classless-Static-Route (121)\n\
         \t    Lease-Time (51), length 4: 3600\n"
    );
}

#[test]
fn checksum_arithmetic() {
    use super::{in_cksum, ones_sum, push_hex, shouldbe};
    // RFC 1071's example words sum to 0xddf2 (folded).
    let words = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(in_cksum(ones_sum(&words, 0)), !0xddf2);
    // A segment whose other words sum to 0x82fe, its field 0xbeef: tcpdump's
    // `incorrect -> 0x7d01` above.
    assert_eq!(in_cksum(0x82fe + 0xbeef), 0xbe11);
    assert_eq!(shouldbe(0xbeef, 0xbe11), 0x7d01);
    let mut out = Vec::new();
    push_hex(&mut out, 0x5, 4);
    push_hex(&mut out, 0xabcde, 1);
    assert_eq!(out, b"0005abcde");
}

/// icmpv6.pcap #1: hop-by-hop options and an MLDv2 report's group records.
#[test]
fn ipv6_options_and_mldv2_records() {
    let frame = "333300000016001517cce54686dd6000000000240001fe80000000000000021517fffecce546\
                 ff0200000000000000000000000000163a000502000001008f001fc50000000104000000ff02\
                 00000000000000000db811223344";
    assert_eq!(
        render(true, LinkType::Ethernet, frame),
        "12:00:00.000001 IP6 (hlim 1, next-header Options (0) payload length: 36) \
         fe80::215:17ff:fecc:e546 > ff02::16: HBH (rtalert: 0x0000) (padn) [icmp6 sum ok] \
         ICMP6, multicast listener report v2, 1 group record(s) [gaddr ff02::db8:1122:3344 \
         to_ex, 0 source(s)]\n"
    );
}

/// dhcp-rfc4388.pcap: an ICMP error quotes a packet, printed again under `-v`.
#[test]
fn icmp_error_quotes_its_packet() {
    let frame = "a6824bc9a1a77483ef07d0a9080045c0004c9c6a00004001c6330a2801010a280203\
                 0301fcfe0000000045000030 61b440003f01bfcc0a2802030a1e04040800b7db4024\
                 00000000000000000000000000000000000000000000";
    let frame: String = frame.split_whitespace().collect();
    assert_eq!(
        render(true, LinkType::Ethernet, &frame),
        "12:00:00.000001 IP (tos 0xc0, ttl 64, id 40042, offset 0, flags [none], proto ICMP \
         (1), length 76)\n    10.40.1.1 > 10.40.2.3: ICMP host 10.30.4.4 unreachable, length \
         56\n\tIP (tos 0x0, ttl 63, id 25012, offset 0, flags [DF], proto ICMP (1), length \
         48)\n    10.40.2.3 > 10.30.4.4: ICMP echo request, id 16420, seq 0, length 28\n"
    );
}
