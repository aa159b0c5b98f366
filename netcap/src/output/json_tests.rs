use super::*;
use crate::decode::decode;
use crate::output::BatchText;
use crate::packet::{Direction, FrameMeta};

#[test]
fn strings_are_escaped() {
    let mut out = Vec::new();
    push_str(&mut out, "a\"b\\c\nd\u{1}é");
    let s = String::from_utf8(out).expect("utf-8");
    assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    let back: String = serde_json::from_str(&s).expect("valid JSON");
    assert_eq!(back, "a\"b\\c\nd\u{1}é");
}

#[test]
fn udp_frame() {
    let mut p = vec![
        0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p.extend_from_slice(&[0, 53, 0x30, 0x39, 0, 10, 0, 0, 0xab, 0xcd]);
    let frame = Frame {
        meta: FrameMeta {
            ts_ns: 1_700_000_000_000_001_000,
            orig_len: 30,
            ifindex: 3,
            direction: Direction::In,
            link: LinkType::Raw,
            iface: 0,
            drops: 0,
        },
        data: &p,
    };
    let out = print_and_finish(&mut Json::default(), &[frame, frame]);
    let mut lines = out.split(|&b| b == b'\n');
    let v: serde_json::Value =
        serde_json::from_slice(lines.next().expect("a line")).expect("valid JSON");
    let second: serde_json::Value =
        serde_json::from_slice(lines.next().expect("a line")).expect("valid JSON");
    assert_eq!(
        (v["frame"].as_u64(), second["frame"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(v["ts"], "2023-11-14T22:13:20.000001000Z");
    assert_eq!(
        (&v["src"], &v["dst"]),
        (&"10.0.0.1".into(), &"10.0.0.2".into())
    );
    assert_eq!(
        (v["sport"].as_u64(), v["dport"].as_u64()),
        (Some(53), Some(12345))
    );
    assert_eq!(v["ts_ns"].as_u64(), Some(1_700_000_000_000_001_000));
    assert_eq!(v["dir"], "in");
    assert_eq!(v["ipv4"]["src"], "10.0.0.1");
    assert_eq!(v["ipv4"]["df"], true);
    assert_eq!(v["udp"]["dport"], 12345);
    assert_eq!(v["payload_len"], 2);
    assert!(v["truncated"].is_null() && v["invalid"].is_null());
    assert!(out.ends_with(b"}\n"));
}

/// The text of `frames` as a worker's printer writes it and the writer's finishes it.
fn print_and_finish(p: &mut Json, frames: &[Frame<'_>]) -> Vec<u8> {
    let (mut text, mut ends) = (Vec::new(), Vec::new());
    for f in frames {
        p.print(f, &decode(f), &mut text);
        ends.push(text.len() as u32);
    }
    let deferred = p.take_deferred();
    let mut writer = Json::default();
    let (mut out, mut out_ends) = (Vec::new(), Vec::new());
    let batch = BatchText {
        text: &text,
        ends: &ends,
    };
    writer.resolve(batch, 0..frames.len(), &deferred, &mut out, &mut out_ends);
    out
}

#[test]
fn dns_response_as_an_object_and_the_payload_in_base64() {
    let mut dns = vec![0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
    dns.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    dns.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x05\x02ww\xc0\x0c");
    dns.extend_from_slice(b"\xc0\x29\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x5d\xb8\xd8\x22");
    let total = 28 + dns.len() as u16;
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
    ];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 53, 0x30, 0x39]);
    p.extend_from_slice(&(total - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&dns);
    let frame = Frame {
        meta: FrameMeta {
            ts_ns: 0,
            orig_len: p.len() as u32,
            ifindex: 0,
            direction: Direction::Unknown,
            link: LinkType::Raw,
            iface: 0,
            drops: 0,
        },
        data: &p,
    };
    let mut json = Json::new(InterfaceNames::default(), Payload::Base64);
    let out = print_and_finish(&mut json, &[frame]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    let d = &v["dns"];
    assert_eq!(d["id"], 0xabcd);
    assert_eq!(d["response"], true);
    assert_eq!(d["flags"], serde_json::json!(["rd", "ra"]));
    assert_eq!(
        d["questions"],
        serde_json::json!([{"name": "example.com", "type": "A", "class": "IN"}])
    );
    assert_eq!(d["answers"][0]["type"], "CNAME");
    assert_eq!(d["answers"][0]["data"], "ww.example.com");
    assert_eq!(d["answers"][1]["data"], "93.184.216.34");
    assert_eq!(d["answers"][1]["ttl"], 60);
    assert!(d.get("truncated").is_none());
    assert_eq!(v["payload_len"].as_u64(), Some(dns.len() as u64));
    let b64 = v["payload"].as_str().expect("a string");
    assert_eq!(b64.len(), dns.len().div_ceil(3) * 4);
    assert!(b64.starts_with("q82BgAAB"), "{b64}");

    // Cut inside the second answer: what was read, and the mark.
    let cut = Frame {
        data: &p[..p.len() - 2],
        ..frame
    };
    let out = print_and_finish(&mut Json::default(), &[cut]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(v["dns"]["truncated"], true);
    assert_eq!(v["dns"]["answers"].as_array().map(Vec::len), Some(2));
    assert!(v["dns"]["answers"][1].get("data").is_none());
    assert!(v.get("payload").is_none());
}
