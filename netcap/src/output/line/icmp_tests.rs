//! Unit tests of `icmp.rs`: the expected text follows tcpdump 4.99's printers (some
//! bytes are from its test captures); `tests/line_tcpdump.rs` compares the same code
//! with tcpdump itself over the corpus.
use super::*;

fn text(b: &[u8], length: usize) -> String {
    let mut out = Vec::new();
    icmp(&mut out, b, length);
    String::from_utf8(out).expect("ASCII")
}

/// An error message of `kind`/`code` quoting a UDP datagram 10.0.0.1:1024 ->
/// 10.0.0.2:1792 (quoted protocol `proto`).
fn error(kind: u8, code: u8, proto: u8) -> Vec<u8> {
    let mut b = vec![kind, code, 0, 0, 0, 0, 0x05, 0xdc];
    b.extend_from_slice(&[0x45, 0, 0, 0x1c, 0, 0, 0, 0, 64, proto, 0, 0]);
    b.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0x00, 0x07, 0x00, 0, 8, 0, 0]);
    b
}

#[test]
fn unreachable_quotes_the_packet() {
    let b = error(3, 3, 17);
    assert_eq!(
        text(&b, 36),
        "ICMP 10.0.0.2 udp port 1792 unreachable, length 36"
    );
    assert_eq!(
        text(&error(3, 3, 6), 36),
        "ICMP 10.0.0.2 tcp port 1792 unreachable, length 36"
    );
    assert_eq!(
        text(&error(3, 3, 132), 36),
        "ICMP 10.0.0.2 protocol 132 port 1792 unreachable, length 36"
    );
    assert_eq!(
        text(&error(3, 1, 17), 36),
        "ICMP host 10.0.0.2 unreachable, length 36"
    );
    assert_eq!(
        text(&error(3, 2, 17), 36),
        "ICMP 10.0.0.2 protocol 17 unreachable, length 36"
    );
    assert_eq!(
        text(&error(3, 4, 17), 36),
        "ICMP 10.0.0.2 unreachable - need to frag (mtu 1500), length 36"
    );
    assert_eq!(
        text(&error(3, 13, 17), 36),
        "ICMP host 10.0.0.2 unreachable - admin prohibited filter, length 36"
    );
    assert_eq!(
        text(&error(3, 20, 17), 36),
        "ICMP 10.0.0.2 unreachable - #20, length 36"
    );
    // The port cut off: only the mark.
    assert_eq!(text(&b[..30], 36), " [|icmp]");
}

#[test]
fn redirect_time_exceeded_parameter_problem() {
    let mut b = error(5, 1, 17);
    b[4..8].copy_from_slice(&[192, 168, 0, 1]);
    assert_eq!(
        text(&b, 36),
        "ICMP redirect 10.0.0.2 to host 192.168.0.1, length 36"
    );
    b[1] = 7;
    assert_eq!(
        text(&b, 36),
        "ICMP redirect-#7 10.0.0.2 to 192.168.0.1, length 36"
    );
    assert_eq!(
        text(&error(11, 0, 17), 36),
        "ICMP time exceeded in-transit, length 36"
    );
    assert_eq!(text(&error(11, 0, 17)[..27], 36), " [|icmp]");
    let mut b = error(12, 0, 17);
    b[4] = 9;
    assert_eq!(text(&b, 36), "ICMP parameter problem - octet 9, length 36");
}

#[test]
fn the_other_types() {
    assert_eq!(
        text(&[8, 0, 0, 0, 0, 7, 0, 1], 64),
        "ICMP echo request, id 7, seq 1, length 64"
    );
    assert_eq!(text(&[42, 0, 0, 0], 28), "ICMP type-#42, length 28");
    // The type alone needs the type and code, not the rest of the header.
    assert_eq!(text(&[4, 67, 0, 0], 484), "ICMP source quench, length 484");
    assert_eq!(text(&[49, 0, 0], 3), "ICMP type-#49, length 3");
    assert_eq!(text(&[49], 3), " [|icmp]");
    let ts = [
        14, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 1, 0x05, 0x26, 0x59, 0x81, 0x05, 0x26, 0x59, 0x82,
    ];
    assert_eq!(
        text(&ts, 20),
        "ICMP time stamp reply id 1 seq 2: org 00:00:00.001, recv 23:59:59.361, \
         xmit 23:59:59.362, length 20"
    );
    let mask = [18, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 0];
    assert_eq!(
        text(&mask, 12),
        "ICMP address mask is 0xffffff00, length 12"
    );
    let advert = [9, 0, 0, 0, 1, 2, 0x07, 0x08, 10, 0, 0, 1, 0, 0, 0, 0];
    assert_eq!(
        text(&advert, 16),
        "ICMP router advertisement lifetime 30:00 1: {10.0.0.1 0}, length 16"
    );
}
