use super::super::{Line, Options};
use crate::packet::LinkType;

/// The frame's line under `-q` (and `-e` with `link`), in UTC.
fn quick(link_header: bool, frame: &[u8]) -> String {
    let mut line = Line::default();
    line.set_options(Options {
        quick: true,
        link_header,
        ..Options::default()
    });
    crate::output::render(&mut line, LinkType::Ethernet, 43_200_000_001_000, frame)
}

/// Ethernet, IPv4 10.0.0.1 > 10.0.0.2 with `proto` and `payload` after a 20-byte header.
fn frame(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        proto,
    ]);
    f.extend_from_slice(&[0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(payload);
    f
}

/// A DNS query for `a.` from port 43966 to 53 (payload 17 bytes).
fn dns_query() -> Vec<u8> {
    let mut u = vec![0xab, 0xbe, 0, 53, 0, 25, 0, 0];
    u.extend_from_slice(&[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1]);
    frame(17, &u)
}

/// tcpdump 4.99.3's text, `TZ=UTC tcpdump -q -n` (and `-e`) on the same frames.
#[test]
fn udp_is_its_length_without_the_dns_summary() {
    assert_eq!(
        quick(false, &dns_query()),
        "12:00:00.000001 IP 10.0.0.1.43966 > 10.0.0.2.53: UDP, length 17\n"
    );
    assert_eq!(
        quick(true, &dns_query()),
        "12:00:00.000001 02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4, length 59: \
         10.0.0.1.43966 > 10.0.0.2.53: UDP, length 17\n"
    );
}

#[test]
fn tcp_is_its_payload_length() {
    // SYN from 1234 to 80 with 3 bytes of data, a 20-byte header.
    let mut t = vec![0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 2, 0];
    t.extend_from_slice(&[0, 0, 0, 0, b'a', b'b', b'c']);
    assert_eq!(
        quick(false, &frame(6, &t)),
        "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: tcp 3\n"
    );
    // The header claims 60 bytes of 23: tcpdump's complaint after the wrapped count.
    t[12] = 0xf0;
    assert_eq!(
        quick(false, &frame(6, &t)),
        "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: tcp 4294967259 \
         [bad hdr length 60 - too long, > 23]\n"
    );
    // Cut inside the fixed header (two spaces, as tcpdump prints it).
    assert_eq!(
        quick(false, &frame(6, &t[..10])),
        "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80:  [|tcp]\n"
    );
}
