//! Unit tests of `flow/ipfix.rs`.
use super::*;
use crate::flow::EndReason;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

const NOW: u64 = 1_700_000_100_000_000_000;

fn flow() -> Flow {
    Flow {
        vlan: 12,
        proto: 6,
        a_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        a_port: 40000,
        b_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        b_port: 80,
        packets_ab: 3,
        packets_ba: 2,
        bytes_ab: 999,
        bytes_ba: 9999,
        ip_bytes_ab: 180,
        ip_bytes_ba: 1500,
        first_ns: 1_700_000_000_123_456_789,
        last_ns: 1_700_000_002_000_000_000,
        tcp_flags: 0x1b,
        tos: 0x10,
        a_mac: [2, 0, 0, 0, 0, 1],
        b_mac: [2, 0, 0, 0, 0, 2],
        ifindex: 4,
        direction: Direction::In,
        end: EndReason::EndOfFlow,
        ..Flow::default()
    }
}

fn v6(f: Flow) -> Flow {
    let six = |d: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d));
    Flow {
        a_addr: six(1),
        b_addr: six(2),
        proto: 17,
        ..f
    }
}

fn cfg(biflow: bool, max_message: usize, refresh: Option<Refresh>) -> Config {
    Config {
        domain: 7,
        biflow,
        max_message,
        refresh,
    }
}

fn encode(enc: &mut Encoder, flows: &[Flow], now: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    enc.encode(flows, now, &mut out);
    out
}

/// netflow_parser's value, plainer: numbers as numbers, times in milliseconds.
fn plain(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("secs") => {
            json!(
                m["secs"].as_u64().unwrap_or(0) * 1000
                    + m["nanos"].as_u64().unwrap_or(0) / 1_000_000
            )
        }
        Value::Object(m) if m.len() == 1 && !m.contains_key("fin") => {
            m.values().next().map_or(Value::Null, plain)
        }
        v => v.clone(),
    }
}

/// Every message's header and every data record (element name -> value), as
/// netflow_parser reads them with one parser (templates carry over).
fn decode(msgs: &[Vec<u8>]) -> (Vec<Value>, Vec<BTreeMap<String, Value>>) {
    let mut parser = netflow_parser::NetflowParser::default();
    let (mut headers, mut records) = (Vec::new(), Vec::new());
    for msg in msgs {
        let r = parser.parse_bytes(msg);
        assert!(r.error.is_none(), "{:?}", r.error);
        let packets = serde_json::to_value(&r.packets).expect("json");
        for p in packets.as_array().expect("packets") {
            headers.push(p["IPFix"]["header"].clone());
            for set in p["IPFix"]["flowsets"].as_array().expect("sets") {
                assert!(set["body"].get("NoTemplate").is_none(), "{set}");
                let Some(data) = set["body"].get("Data") else {
                    continue;
                };
                for rec in data["fields"].as_array().expect("records") {
                    let mut m = BTreeMap::new();
                    for pair in rec.as_array().expect("pairs") {
                        // Enterprise elements have structured names.
                        let name = plain(&pair[0])
                            .as_str()
                            .map_or_else(|| pair[0].to_string(), str::to_owned);
                        m.insert(name, plain(&pair[1]));
                    }
                    records.push(m);
                }
            }
        }
    }
    (headers, records)
}

fn has_templates(msg: &[u8]) -> bool {
    msg[16..18] == [0, 2]
}

#[test]
fn header_bytes() {
    let mut enc = Encoder::new(cfg(false, 1400, None));
    let msg = enc.templates(NOW);
    assert_eq!(
        msg[..16],
        [
            0,
            10, // version
            (msg.len() >> 8) as u8,
            msg.len() as u8, // length
            0x65,
            0x53,
            0xf1,
            0x64, // export time 1700000100
            0,
            0,
            0,
            0, // sequence
            0,
            0,
            0,
            7, // domain
        ]
    );
    // Template set: id 2, then template 256 with 25 fields, the first
    // flowStartMilliseconds (152) of 8 bytes.
    assert_eq!(msg[16..18], [0, 2]);
    assert_eq!(msg[20..28], [1, 0, 0, 25, 0, 152, 0, 8]);
    let (headers, records) = decode(&[msg]);
    assert_eq!((headers.len(), records.len()), (1, 0));
}

#[test]
fn uniflow_gives_a_record_per_direction() {
    let mut enc = Encoder::new(cfg(false, 1400, None));
    let msgs = encode(&mut enc, &[flow()], NOW);
    assert_eq!(msgs.len(), 1);
    let (headers, recs) = decode(&msgs);
    assert_eq!(headers[0]["length"], json!(msgs[0].len()));
    assert_eq!(headers[0]["sequence_number"], json!(0));
    assert_eq!(headers[0]["observation_domain_id"], json!(7));
    assert_eq!(headers[0]["export_time"], json!(1_700_000_100));
    assert_eq!(recs.len(), 2);
    let (ab, ba) = (&recs[0], &recs[1]);
    assert_eq!(ab["SourceIpv4address"], json!("10.0.0.1"));
    assert_eq!(ab["DestinationIpv4address"], json!("10.0.0.2"));
    assert_eq!(ab["SourceTransportPort"], json!(40000));
    assert_eq!(ab["DestinationTransportPort"], json!(80));
    // IP octets, not frame bytes.
    assert_eq!(ab["OctetDeltaCount"], json!(180));
    assert_eq!(ab["PacketDeltaCount"], json!(3));
    assert_eq!(ab["FlowStartMilliseconds"], json!(1_700_000_000_123u64));
    assert_eq!(ab["FlowEndMilliseconds"], json!(1_700_000_002_000u64));
    assert_eq!(ab["SourceMacaddress"], json!("02:00:00:00:00:01"));
    assert_eq!(ab["DestinationMacaddress"], json!("02:00:00:00:00:02"));
    assert_eq!(ab["VlanId"], json!(12));
    assert_eq!(ab["IpClassOfService"], json!(0x10));
    assert_eq!(ab["ProtocolIdentifier"], json!("Tcp"));
    assert_eq!(ab["FlowEndReason"], json!("EndOfFlow"));
    assert_eq!(ab["TcpControlBits"]["syn"], json!(true));
    assert_eq!(ab["TcpControlBits"]["rst"], json!(false));
    // A's frames came in on interface 4; B's went out of it.
    assert_eq!(
        (
            &ab["IngressInterface"],
            &ab["EgressInterface"],
            &ab["FlowDirection"]
        ),
        (&json!(4), &json!(0), &json!(0))
    );
    assert_eq!(
        (
            &ba["IngressInterface"],
            &ba["EgressInterface"],
            &ba["FlowDirection"]
        ),
        (&json!(0), &json!(4), &json!(1))
    );
    assert_eq!(ba["SourceIpv4address"], json!("10.0.0.2"));
    assert_eq!(ba["SourceTransportPort"], json!(80));
    assert_eq!(ba["SourceMacaddress"], json!("02:00:00:00:00:02"));
    assert_eq!(ba["OctetDeltaCount"], json!(1500));
    assert_eq!(ba["PacketDeltaCount"], json!(2));
    // The next message counts the two records before it.
    let msgs = encode(&mut enc, &[flow()], NOW);
    assert_eq!(msgs[0][8..12], [0, 0, 0, 2]);
}

#[test]
fn a_silent_direction_has_no_record_and_families_get_their_template() {
    let one_way = Flow {
        packets_ba: 0,
        ip_bytes_ba: 0,
        ..flow()
    };
    let mut enc = Encoder::new(cfg(false, 1400, None));
    let msgs = encode(&mut enc, &[one_way, v6(flow()), one_way], NOW);
    let (_, recs) = decode(&msgs);
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[0]["SourceIpv4address"], json!("10.0.0.1"));
    assert_eq!(recs[1]["SourceIpv6address"], json!("2001:db8::1"));
    assert_eq!(recs[2]["SourceIpv6address"], json!("2001:db8::2"));
    assert_eq!(recs[2]["PacketDeltaCount"], json!(2));
    assert_eq!(recs[3]["DestinationIpv4address"], json!("10.0.0.2"));
    // Three data sets (v4, v6, v4) after the template set.
    let sets = set_ids(&msgs[0]);
    assert_eq!(sets, [2, TEMPLATE_V4, TEMPLATE_V6, TEMPLATE_V4]);
}

fn set_ids(msg: &[u8]) -> Vec<u16> {
    let mut ids = Vec::new();
    let mut at = 16;
    while at + 4 <= msg.len() {
        ids.push(u16::from_be_bytes([msg[at], msg[at + 1]]));
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        assert!(len >= 4, "set length {len}");
        at += len;
    }
    assert_eq!(at, msg.len(), "sets fill the message");
    ids
}

#[test]
fn biflow_puts_b_in_reverse_elements() {
    let mut enc = Encoder::new(cfg(true, 1400, None));
    let msgs = encode(&mut enc, &[flow(), v6(flow())], NOW);
    let (_, recs) = decode(&msgs);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["OctetDeltaCount"], json!(180));
        assert_eq!(r["PacketDeltaCount"], json!(3));
        assert_eq!(r["ReverseOctetDeltaCount"], json!(1500));
        assert_eq!(r["ReversePacketDeltaCount"], json!(2));
    }
    assert_eq!(recs[1]["SourceIpv6address"], json!("2001:db8::1"));
    assert_eq!(
        set_ids(&msgs[0]),
        [2, TEMPLATE_BIFLOW_V4, TEMPLATE_BIFLOW_V6]
    );
    // The reverse elements carry the enterprise bit and number 29305.
    let pen = REVERSE_PEN.to_be_bytes();
    assert!(msgs[0]
        .windows(8)
        .any(|w| w == [0x80, 1, 0, 8, pen[0], pen[1], pen[2], pen[3]]));
}

#[test]
fn tcp_health_goes_in_netcap_elements() {
    let tcp = crate::flow::TcpHealth {
        rtt_syn_ns: Some(4_000_999),
        rtt_ack_ns: Some(6_000_002),
        retrans: [1, 2],
        retrans_bytes: [1448, 5_000_000_000],
        out_of_order: [3, 0],
        dup_ack: [0, 4],
        zero_window: [5, 6],
    };
    let tcp_flow = Flow { tcp, ..flow() };
    // netflow_parser names an enterprise element by its number and gives its bytes.
    let get = |r: &BTreeMap<String, Value>, id: u16| -> u64 {
        let key = json!({"Enterprise": {"enterprise_number": NETCAP_PEN, "field_number": id}});
        let bytes = r[&key.to_string()].as_array().expect("bytes");
        bytes
            .iter()
            .fold(0, |v, b| v << 8 | b.as_u64().unwrap_or(0))
    };
    let mut enc = Encoder::new(cfg(false, 1400, None));
    let msgs = encode(&mut enc, &[tcp_flow, flow()], NOW);
    let (_, recs) = decode(&msgs);
    // Per record: the RTT halves (µs, the sum rounded down), then this direction's
    // retransmissions, their bytes, out-of-order, dup ACKs, zero windows.
    let want = [
        [4000, 6001, 1, 1448, 3, 0, 5],
        [4000, 6001, 2, 5_000_000_000, 0, 4, 6],
        [0; 7],
        [0; 7],
    ];
    for (r, want) in recs.iter().zip(want) {
        let got: Vec<u64> = (1..=7).map(|id| get(r, id)).collect();
        assert_eq!(got, want);
    }
    // The template: enterprise bit, length, PEN 32473 (here tcpRetransmittedOctets).
    let pen = NETCAP_PEN.to_be_bytes();
    assert!(msgs[0]
        .windows(8)
        .any(|w| w == [0x80, 4, 0, 8, pen[0], pen[1], pen[2], pen[3]]));
    // Biflow: B's counts in the same elements with bit 0x4000.
    let mut bi = Encoder::new(cfg(true, 1400, None));
    let (_, recs) = decode(&encode(&mut bi, &[tcp_flow], NOW));
    let got: Vec<u64> = (1..=7)
        .chain((3..=7).map(|id| id | REVERSE_BIT))
        .map(|id| get(&recs[0], id))
        .collect();
    assert_eq!(
        got,
        [4000, 6001, 1, 1448, 3, 0, 5, 2, 5_000_000_000, 0, 4, 6]
    );
}

#[test]
fn messages_stay_under_the_bound_and_count_records_before_them() {
    let flows: Vec<Flow> = (0..100)
        .map(|i| if i % 3 == 0 { v6(flow()) } else { flow() })
        .collect();
    let mut enc = Encoder::new(cfg(false, 1100, None));
    let msgs = encode(&mut enc, &flows, NOW);
    assert!(msgs.len() > 10, "{}", msgs.len());
    let (headers, recs) = decode(&msgs);
    assert_eq!(recs.len(), 200);
    let mut before = 0;
    for (msg, h) in msgs.iter().zip(&headers) {
        assert!(msg.len() <= 1100, "{}", msg.len());
        assert_eq!(h["length"], json!(msg.len()));
        assert_eq!(h["sequence_number"], json!(before));
        let ids = set_ids(msg);
        let count = |id: u16, len: usize| -> u64 {
            let mut at = 16;
            let mut n = 0;
            for sid in &ids {
                let slen = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
                if *sid == id {
                    n += ((slen - 4) / len) as u64;
                }
                at += slen;
            }
            n
        };
        before += count(TEMPLATE_V4, 104) + count(TEMPLATE_V6, 128);
    }
    assert_eq!(before, 200);
    assert_eq!(enc.sequence(), 200);
    // Below the floor, the bound is 1024: still room for templates and a record.
    let mut tiny = Encoder::new(cfg(true, 10, None));
    let msgs = encode(&mut tiny, &flows[..3], NOW);
    assert!(msgs.iter().all(|m| m.len() <= 1024));
    assert_eq!(decode(&msgs).1.len(), 3);
}

#[test]
fn templates_first_then_on_refresh_and_after_a_restart() {
    let refresh = Refresh {
        messages: 3,
        every_ns: 10_000_000_000,
    };
    let mut enc = Encoder::new(cfg(false, 1400, Some(refresh)));
    let sent: Vec<bool> = (0..7)
        .map(|_| has_templates(&encode(&mut enc, &[flow()], NOW)[0]))
        .collect();
    assert_eq!(sent, [true, false, false, true, false, false, true]);
    // Time: 10 s after the last templates.
    assert!(!has_templates(
        &encode(&mut enc, &[flow()], NOW + 9_000_000_000)[0]
    ));
    assert!(has_templates(
        &encode(&mut enc, &[flow()], NOW + 10_000_000_000)[0]
    ));
    enc.resend_templates();
    assert!(has_templates(&encode(&mut enc, &[flow()], NOW)[0]));
    // Without a refresh, only the first message (and after a restart).
    let mut once = Encoder::new(cfg(false, 1400, None));
    let _ = once.templates(NOW);
    let later: Vec<bool> = (0..20)
        .map(|i| has_templates(&encode(&mut once, &[flow()], NOW + i * 100_000_000_000)[0]))
        .collect();
    assert!(later.iter().all(|t| !t));
    once.restart();
    let msgs = encode(&mut once, &[flow()], NOW);
    assert!(has_templates(&msgs[0]));
    assert_eq!(decode(&msgs).0[0]["sequence_number"], json!(0));
}
