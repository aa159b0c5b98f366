use super::*;
use crate::output::render;
use crate::packet::LinkType;

fn fields(names: &[&str]) -> Fields {
    let f: Vec<Field> = names
        .iter()
        .map(|n| Field::parse(n).expect("known"))
        .collect();
    Fields::new(f.into())
}

#[test]
fn udp_dns_query_fields_and_absent_ones_empty() {
    let mut p = vec![
        0x45, 0, 0, 57, 0x1c, 0x46, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 37, 0, 0]);
    p.extend_from_slice(&[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    let mut f = fields(&[
        "frame.time_epoch",
        "ip.src",
        "ipv4.dst",
        "ip.id",
        "udp.dstport",
        "tcp.srcport",
        "dns.id",
        "dns.flags.response",
        "dns.qry.name",
        "dns.qry.type",
        "eth.src",
    ]);
    let text = render(&mut f, LinkType::Raw, 1_700_000_000_000_001_000, &p);
    assert_eq!(
        text,
        "1700000000.000001000\t10.0.0.1\t10.0.0.2\t0x1c46\t53\t\t0xabcd\t0\texample.com\t1\t\n"
    );
}

#[test]
fn unknown_names_are_refused_with_the_list() {
    let e = Field::parse("ip.nope").expect_err("unknown");
    assert!(e.contains("ip.nope") && e.contains("tcp.dstport"), "{e}");
}
