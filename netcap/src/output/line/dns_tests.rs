//! Unit tests of `output/line/dns.rs`.
use super::*;

fn text(msg: &[u8], mdns: bool) -> String {
    let mut out = Vec::new();
    message(&mut out, msg, msg.len(), mdns, false);
    String::from_utf8(out).expect("ascii")
}

/// `www.example.com` at offset 12, as in a question.
const NAME: [u8; 17] = [
    3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
];

fn query(id: u16, flags: u16, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&NAME);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

#[test]
fn a_query() {
    let q = query(0xabcd, 0x0100, 1);
    assert_eq!(text(&q, false), "43981+ A? www.example.com. (33)");
    assert_eq!(
        text(&query(7, 0x0110, 28), false),
        "7+% AAAA? www.example.com. (33)"
    );
    // Cut inside the name: tcpdump skips the name before it prints the question.
    let mut out = Vec::new();
    message(&mut out, &q[..20], q.len(), false, false);
    assert_eq!(out, b"43981+ [|domain]");
    assert_eq!(text(&q[..5], false), "domain [length 5 < 12] (invalid)");
}

#[test]
fn a_response_with_answers_and_an_opt_record() {
    let mut r = query(0xabcd, 0x8180, 1);
    r[7] = 2; // ancount
    r[11] = 1; // arcount
    for addr in [[93, 184, 216, 34], [93, 184, 216, 35]] {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        r.extend_from_slice(&addr);
    }
    // OPT: root name, UDP size 1232, extended RCODE 0, DO set, no options.
    r.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    assert_eq!(
        text(&r, false),
        "43981 2/0/1 A 93.184.216.34, A 93.184.216.35 (76)"
    );
    // NXDomain, authoritative, no recursion, one CNAME with an odd byte.
    let mut n = query(7, 0x8403, 1);
    n[7] = 1;
    n.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 1, 0, 4, 2, b'a', 0xe9, 0]);
    assert_eq!(text(&n, false), "7 NXDomain*- 1/0/0 CNAME aM-i. (49)");
    assert!(text(&n[..n.len() - 2], false).ends_with(" CNAME [|domain]"));
}

#[test]
fn mdns_classes_and_bad_pointers() {
    let mut q = query(0, 0, 12);
    let last = q.len() - 2;
    q[last] = 0x80; // QU bit
    assert_eq!(text(&q, true), "0 PTR (QU)? www.example.com. (33)");
    let mut p = query(0, 0, 1)[..12].to_vec();
    p.extend_from_slice(&[0xc0, 40, 0, 1, 0, 1]);
    assert_eq!(text(&p, false), "0 A? <BAD PTR> [|domain]");
}
