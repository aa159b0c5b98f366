//! Unit tests of `output/line/mptcp.rs`: options from the tcpdump corpus's MPTCP
//! captures, and tcpdump 4.99.3's text for them.
use super::*;

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// The text for the option whose bytes after kind and length are `hex`, or `None`
/// when tcpdump calls it a bad option.
fn text(hex: &str, flags: u8) -> Option<String> {
    let data: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let mut out = Vec::new();
    let ok = option(&mut out, &data, flags);
    let s = String::from_utf8(out).expect("ascii");
    ok.then_some(s)
}

#[test]
fn capable_v0_and_v1() {
    // mptcp-aa-v1.pcap #2 to #5: SYN, SYN/ACK, ACK, the first data.
    assert_eq!(text("0101", SYN).as_deref(), Some(" 4 capable v1"));
    assert_eq!(
        text("010173bb150358a0aecb", SYN_ACK).as_deref(),
        Some(" 12 capable v1 {0x73bb150358a0aecb}")
    );
    assert_eq!(
        text("01018f0c7c64a6a32ac173bb150358a0aecb", ACK).as_deref(),
        Some(" 20 capable v1 {0x8f0c7c64a6a32ac1,0x73bb150358a0aecb}")
    );
    assert_eq!(
        text("01018f0c7c64a6a32ac173bb150358a0aecb0010", PSH_ACK).as_deref(),
        Some(" 22 capable v1 {0x8f0c7c64a6a32ac1,0x73bb150358a0aecb}")
    );
    // mptcp-fclose.pcap #2: version 0 with the checksum flag.
    assert_eq!(
        text("00819b59be3d695e66a7", SYN).as_deref(),
        Some(" 12 capable v0 csum {0x9b59be3d695e66a7}")
    );
    // A key with leading zero digits prints without them (`%" PRIx64`).
    assert_eq!(
        text("0100000000000000abcd", SYN).as_deref(),
        Some(" 12 capable v1 {0xabcd}")
    );
    // The forms the flags do not allow, and an unknown version (fields not printed).
    assert_eq!(text("0101", ACK), None);
    assert_eq!(text("01018f0c7c64a6a32ac173bb150358a0aecb", SYN_ACK), None);
    assert_eq!(
        text("0281", SYN).as_deref(),
        Some(" 4 capable Unknown Version (2)")
    );
}

#[test]
fn join_in_its_three_forms() {
    // mptcp-v0.pcap #7 to #9.
    assert_eq!(
        text("1000e47f01421b665a18", SYN).as_deref(),
        Some(" 12 join id 0 token 0xe47f0142 nonce 0x1b665a18")
    );
    assert_eq!(
        text("10015ab680c7884af03d33abe9d5", SYN_ACK).as_deref(),
        Some(" 16 join id 1 hmac 0x5ab680c7884af03d nonce 0x33abe9d5")
    );
    assert_eq!(
        text("1000cb7b87f5e5f0502f43b535fb70ef6607df2e6c7a", ACK).as_deref(),
        Some(" 24 join hmac 0xcb7b87f5e5f0502f43b535fb70ef6607df2e6c7a")
    );
    // The backup flag; a SYN/ACK form without the SYN/ACK flags.
    assert_eq!(
        text("1101000000010000000a", SYN).as_deref(),
        Some(" 12 join backup id 1 token 0x1 nonce 0xa")
    );
    assert_eq!(text("10015ab680c7884af03d33abe9d5", ACK), None);
}

#[test]
fn dss_ack_seq_fin_and_checksum() {
    // mptcp-aa-v1.pcap #6, #7, #21; mptcp-fclose.pcap #5, #6.
    assert_eq!(
        text("2003ee83a616c38765c5", ACK).as_deref(),
        Some(" 12 dss ack 17186763219675866565")
    );
    assert_eq!(
        text("200fee83a616c38765d5a896f3fe7a8dc02e000000010010", PSH_ACK).as_deref(),
        Some(" 26 dss ack 17186763219675866581 seq 12148165319181844526 subseq 1 len 16")
    );
    assert_eq!(
        text("201fa896f3fe7a8dc05eee83a616c38765f5000000000001", 0x11).as_deref(),
        Some(" 26 dss fin ack 12148165319181844574 seq 17186763219675866613 subseq 0 len 1")
    );
    assert_eq!(
        text("2005c9dc1c61b1712fb60000000100019e91", PSH_ACK).as_deref(),
        Some(" 20 dss ack 3386645601 seq 2976985014 subseq 1 len 1 csum 0x9e91")
    );
    assert_eq!(
        text("2001b1712fb7", ACK).as_deref(),
        Some(" 8 dss ack 2976985015")
    );
    // mptcp-dss-oobr.pcap: a DSS of 3 bytes (no flags byte) is bad; so is one on a
    // SYN, one shorter than its flags say, and one with bytes left over.
    assert_eq!(text("20", SYN), None);
    assert_eq!(text("2001b1712fb7", SYN), None);
    assert_eq!(text("2003b1712fb7", ACK), None);
    assert_eq!(text("2001b1712fb700", ACK), None);
}

#[test]
fn add_addr_v4_v6_echo_port() {
    // mptcp-aa-v1.pcap #12, mptcp-aa-echo.pcap #0 and #1.
    assert_eq!(
        text("3001c0a888e1669928744366716c", ACK).as_deref(),
        Some(" 16 add-addr v1 id 1 192.168.136.225 hmac 0x669928744366716c")
    );
    assert_eq!(
        text("30010a000201f8295862f645df19", ACK).as_deref(),
        Some(" 16 add-addr v1 id 1 10.0.2.1 hmac 0xf8295862f645df19")
    );
    assert_eq!(
        text("31010a000201", ACK).as_deref(),
        Some(" 8 add-addr v1-echo id 1 10.0.2.1")
    );
    // Version 0 with a port; IPv6 with a port and an HMAC; a bad version/echo nibble.
    assert_eq!(
        text("34020a0000011f90", ACK).as_deref(),
        Some(" 10 add-addr v0-ip4 id 2 10.0.0.1:8080")
    );
    assert_eq!(
        text(
            "300320010db80000000000000000000000011f900000000000000102",
            ACK
        )
        .as_deref(),
        Some(" 30 add-addr v1 id 3 2001:db8::1:8080 hmac 0x102")
    );
    assert_eq!(
        text("37010a000201", ACK).as_deref(),
        Some(" 8 add-addr [bad version/echo] id 1 10.0.2.1")
    );
    assert_eq!(text("30010a0002", ACK), None);
}

#[test]
fn remove_addr_prio_fail_fast_close_unknown() {
    assert_eq!(text("400102", ACK).as_deref(), Some(" 5 rem-addr id 1 2"));
    assert_eq!(text("40", ACK), None);
    assert_eq!(text("51", ACK).as_deref(), Some(" 3 prio backup"));
    assert_eq!(
        text("5003", ACK).as_deref(),
        Some(" 4 prio non-backup id 3")
    );
    assert_eq!(text("500300", ACK), None);
    assert_eq!(
        text("60000000000000000102", ACK).as_deref(),
        Some(" 12 fail seq 258")
    );
    // mptcp-fclose.pcap #9.
    assert_eq!(
        text("7000d005b1ab34bad344", ACK).as_deref(),
        Some(" 12 fast-close key 0xd005b1ab34bad344")
    );
    assert_eq!(text("7000d005", ACK), None);
    // mptcp-tcprst.pcap: RFC 8684's MP_TCPRST (8) is unknown to tcpdump 4.99.3.
    assert_eq!(text("8000", 0x14).as_deref(), Some(" 4 unknown"));
    assert_eq!(text("f0", 0x14).as_deref(), Some(" 3 unknown"));
    // Too short for a subtype.
    assert_eq!(text("", ACK), None);
}

/// Every length an option can have (0 to 38 data bytes), every subtype and low
/// nibble, DSS flag byte and flag combination: no read past the option's end.
#[test]
fn every_length_and_subtype_stays_inside_the_option() {
    let mut out = Vec::new();
    for len in 0..=38usize {
        for sub in 0..=255u8 {
            for second in 0..=0x1fu8 {
                let mut data = vec![0xa5u8; len];
                if let Some(b) = data.first_mut() {
                    *b = sub;
                }
                if let Some(b) = data.get_mut(1) {
                    *b = second;
                }
                for flags in [0, SYN, ACK, SYN_ACK] {
                    out.clear();
                    let ok = option(&mut out, &data, flags);
                    // A bad option still names its length and subtype.
                    assert!(len == 0 || out.starts_with(b" "), "{ok} {out:?}");
                }
            }
        }
    }
}
