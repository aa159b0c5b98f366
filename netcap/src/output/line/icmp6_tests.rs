//! Unit tests of `icmp6.rs`: the expected text follows tcpdump 4.99's printers (some
//! bytes are from its test captures); `tests/line_tcpdump.rs` compares the same code
//! with tcpdump itself over the corpus.
use super::*;

fn text(b: &[u8], length: usize) -> String {
    let mut out = Vec::new();
    icmp6(&mut out, b, length, false);
    String::from_utf8(out).expect("ASCII")
}

fn addr(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("valid test data").octets()
}

#[test]
fn echo_and_truncation() {
    let b = [128, 0, 0, 0, 0x11, 0xe0, 0xc9, 0x1e];
    assert_eq!(
        text(&b, 65528),
        "ICMP6, echo request, id 4576, seq 51486, length 65528"
    );
    assert_eq!(text(&b[..6], 8), "ICMP6, echo request [|icmp6]");
    assert_eq!(text(&b, 0), "ICMP6, length 0 (invalid)");
    assert_eq!(text(&[], 8), " [|icmp6]");
}

#[test]
fn multicast_listeners() {
    let mut report = vec![143, 0, 0, 0, 0, 0, 0, 2];
    report.resize(48, 0);
    assert_eq!(
        text(&report, 48),
        "ICMP6, multicast listener report v2, 2 group record(s), length 48"
    );
    let mut query = vec![130, 0, 0, 0, 0x27, 0x10, 0, 0];
    query.resize(28, 0);
    assert_eq!(
        text(&query, 28),
        "ICMP6, multicast listener query v2 [gaddr ::], length 28"
    );
    query.truncate(24);
    assert_eq!(
        text(&query, 24),
        "ICMP6, multicast listener querymax resp delay: 10000 addr: ::, length 24"
    );
}

#[test]
fn errors_quote_the_packet() {
    // Port unreachable quoting 2001:db8::1 -> 2001:db8::2, hop-by-hop options, UDP 53.
    let mut b = vec![1, 4, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 16, 0, 64];
    b.extend_from_slice(&addr("2001:db8::1"));
    b.extend_from_slice(&addr("2001:db8::2"));
    b.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    b.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
    assert_eq!(
        text(&b, 64),
        "ICMP6, destination unreachable, unreachable port, 2001:db8::2 udp port 53, \
         length 64"
    );
    assert_eq!(
        text(&b[..58], 64),
        "ICMP6, destination unreachable, unreachable port [|icmp6]"
    );
    b[1] = 3;
    assert_eq!(
        text(&b, 64),
        "ICMP6, destination unreachable, unreachable address 2001:db8::2, length 64"
    );
    b[0] = 4;
    b[7] = 48;
    assert_eq!(
        text(&b, 64),
        "ICMP6, parameter problem, incomplete header chain - octet 48, length 64"
    );
    b[0] = 3;
    b[1] = 0;
    assert_eq!(
        text(&b, 64),
        "ICMP6, time exceeded in-transit for 2001:db8::2, length 64"
    );
}

#[test]
fn unknown_types_in_hex() {
    let b = [160, 0, 0x98, 0x44, 0xfb, 0x61, 0, 1];
    assert_eq!(
        text(&b, 8),
        "ICMP6, unknown icmp6 type (160), length 8\n\t0x0000:  a000 9844 fb61 0001"
    );
}

#[test]
fn node_information() {
    let mut q = vec![139, 0, 0, 0, 0, 3, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8];
    q.extend_from_slice(&addr("fe80::5054:ff:fe2c:3629"));
    assert_eq!(
        text(&q, 32),
        "ICMP6, who-are-you request node information query (node addresses [A], \
         subject=fe80::5054:ff:fe2c:3629), length 32"
    );
    let mut q4 = vec![
        139, 2, 0, 0, 0, 4, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 192, 0, 2, 1,
    ];
    assert_eq!(
        text(&q4, 20),
        "ICMP6, who-are-you request node information query (unknown, \
         subject=192.0.2.1), length 20"
    );
    q4[1] = 1;
    q4.truncate(16);
    q4.extend_from_slice(b"\x03www\x07tcpdump\x03org\x00");
    assert_eq!(
        text(&q4, q4.len()),
        "ICMP6, who-are-you request node information query (unknown, subject=DNS name, \
         \"www.tcpdump.org.\"), length 33"
    );
    let mut r = vec![140, 0, 0, 0, 0, 3, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0];
    r.extend_from_slice(&addr("::1"));
    assert_eq!(
        text(&r, 36),
        "ICMP6, who-are-you reply node information reply (node addresses ::1(0) [A]), \
         length 36"
    );
    r[1] = 2;
    assert_eq!(
        text(&r, 36),
        "ICMP6, who-are-you reply node information reply (unknown), length 36"
    );
    assert_eq!(
        text(&r[..4], 4),
        "ICMP6, who-are-you reply [|icmp6], length 4"
    );
}

#[test]
fn renumbering_and_rpl() {
    // From tcpdump's icmpv6-RFC2894-RR.pcap.
    let mut b = vec![138, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&[1, 7, 0, 48, 0, 128, 0, 0]);
    b.extend_from_slice(&addr("fec0::"));
    b.extend_from_slice(&[48, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&addr("3ffe:501:fffe::"));
    assert_eq!(
        text(&b, 72),
        "ICMP6, router renumbering, command, seq=0 match(add,fec0::/48) \
         use(3ffe:501:fffe::/48/16), length 72"
    );
    assert_eq!(
        text(&b[..60], 72),
        "ICMP6, router renumbering, command, seq=0 match(add,fec0::/48) [|icmp6], \
         length 72"
    );
    assert_eq!(
        text(&[155, 2, 0, 0, 0, 0, 0, 0], 24),
        "ICMP6, RPL, (CLR)Destination Advertisement Object, length 24"
    );
    assert_eq!(
        text(&[155, 0x82, 0, 0], 24),
        "ICMP6, RPL, (SEC) [worktodo], length 24"
    );
}
