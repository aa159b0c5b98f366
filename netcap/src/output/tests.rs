//! Unit tests of `output/mod.rs`.
use super::*;

fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut v = Vec::new();
    f(&mut v);
    String::from_utf8(v).expect("ascii")
}

#[test]
fn integers() {
    for n in [
        0u64,
        7,
        99,
        100,
        255,
        256,
        1000,
        65535,
        4294967295,
        u64::MAX,
    ] {
        assert_eq!(s(|o| push_u64(o, n)), n.to_string());
    }
    assert_eq!(s(|o| push_u64_padded(o, 42, 6)), "000042");
    assert_eq!(s(|o| push_u64_padded(o, 0, 6)), "000000");
    assert_eq!(s(|o| push_u64_padded(o, 999999, 6)), "999999");
}

#[test]
fn addresses() {
    assert_eq!(
        s(|o| push_mac(o, &[0, 0x1b, 0xab, 0xcd, 0xef, 0xff], true)),
        "00:1B:AB:CD:EF:FF"
    );
    assert_eq!(s(|o| push_mac(o, &[0xab, 1], false)), "ab:01");
    assert_eq!(
        s(|o| push_ipv4(o, Ipv4Addr::new(192, 168, 0, 10))),
        "192.168.0.10"
    );
    for a in [
        "::",
        "::1",
        "1::",
        "fe80::1",
        "2001:db8::2:1",
        "2001:db8:0:1:1:1:1:1",
        "2001:0:0:1:0:0:0:1",
        "1:0:0:2:0:0:3:4",
        "::ffff:1.2.3.4",
        "ff02::1:ff00:2",
        "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
    ] {
        let addr: Ipv6Addr = a.parse().expect("valid");
        assert_eq!(s(|o| push_ipv6(o, addr)), addr.to_string(), "{a}");
    }
}

#[test]
fn every_format_has_a_printer() {
    for f in [
        Format::Turtle,
        Format::TurtleExt,
        Format::Line,
        Format::Json,
    ] {
        assert!(printer(f, &Interfaces::default()).is_some());
    }
    assert!(printer(Format::None, &Interfaces::default()).is_none());
}
