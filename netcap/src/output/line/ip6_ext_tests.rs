//! Unit tests of `ip6_ext.rs`: the expected text follows tcpdump 4.99's printers (some
//! bytes are from its test captures); `tests/line_tcpdump.rs` compares the same code
//! with tcpdump itself over the corpus.
use super::*;

fn run(f: impl FnOnce(&mut Vec<u8>) -> Ext) -> (String, Ext) {
    let mut out = Vec::new();
    let e = f(&mut out);
    (String::from_utf8(out).expect("ASCII"), e)
}

fn addr(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>()
        .expect("valid test data")
        .octets()
}

#[test]
fn routing_headers() {
    let mut rt0 = vec![17, 2, 0, 1, 0, 0, 0, 0];
    rt0.extend_from_slice(&addr("2200::210:2:0:0:4"));
    assert_eq!(
        run(|o| routing(o, &rt0, false)),
        (
            "RT6 (len=2, type=0 [Deprecated], segleft=1, [0]2200::210:2:0:0:4) ".into(),
            Ext::Next(24)
        )
    );
    assert_eq!(
        run(|o| routing(o, &rt0[..7], false)),
        (
            "RT6 (len=2, type=0 [Deprecated], segleft=1 [|rt6]".into(),
            Ext::Cut
        )
    );
    let srh = [59, 3, 4, 0, 0, 0, 0, 0];
    assert_eq!(
        run(|o| routing(o, &srh, false)),
        (
            "RT6 (len=3, type=4, segleft=0, last-entry=0, tag=0 (invalid length 3) \
             (invalid)"
                .into(),
            Ext::Stop
        )
    );
    assert_eq!(
        run(|o| routing(o, &[], false)),
        ("RT6 [|rt6]".into(), Ext::Cut)
    );
}

#[test]
fn options_and_jumbo_payload() {
    let hbh = [58, 0, 0xc2, 4, 0, 1, 0, 0];
    let mut j = Jumbo::default();
    assert_eq!(
        run(|o| hop_by_hop(o, &hbh, &mut j, false)),
        ("HBH ".into(), Ext::Next(8))
    );
    assert!(j.found);
    assert_eq!(j.payload_len, 65536);
    // Not a jumbogram when the IPv6 header has a payload length.
    let mut j = Jumbo {
        found: false,
        payload_len: 8,
    };
    run(|o| hop_by_hop(o, &hbh, &mut j, false));
    assert!(!j.found);
    let bad = [58, 0, 0xc2, 3, 0, 1, 0, 0];
    assert_eq!(
        run(|o| hop_by_hop(o, &bad, &mut Jumbo::default(), false)),
        ("HBH (jumbo: invalid len 3) [|hbhopt]".into(), Ext::Stop)
    );
    assert_eq!(
        run(|o| hop_by_hop(o, &hbh[..6], &mut Jumbo::default(), false)),
        (" [|hbhopt]".into(), Ext::Stop)
    );
    assert_eq!(
        run(|o| destination(o, &[6, 0, 1, 4, 0, 0, 0, 0], false)),
        ("DSTOPT ".into(), Ext::Next(8))
    );
}

#[test]
fn fragments_and_authentication() {
    let first = [17, 0, 0, 1, 0, 0, 0, 1];
    assert_eq!(
        run(|o| fragment(o, &first, (40, 1456), false)),
        ("frag (0|1448) ".into(), Ext::Next(8))
    );
    let later = [17, 0, 0x05, 0x00, 0, 0, 0, 1];
    assert_eq!(
        run(|o| fragment(o, &later, (40, 0), false)),
        ("frag (1280|18446744073709551608)".into(), Ext::Stop)
    );
    let ah = [
        89, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x13, 0x21, 0xd3, 0xa9, 0x5c, 0, 0, 0, 0, 1, 2, 3, 4,
    ];
    assert_eq!(
        run(|o| authentication(o, &ah)),
        (
            "AH(spi=0x00000100,seq=0x13,icv=0x21d3a95c0000000001020304): ".into(),
            Ext::Next(24)
        )
    );
}
