//! Flow reports: a top-N table for people (stderr) and JSON lines for programs.
//!
//! Both are plain functions over `&[Flow]` writing to any `Write`, so the caller
//! chooses the stream and its buffering; neither sorts the caller's slice.
use std::io::{self, Write};
use std::net::IpAddr;

use super::{proto_name, Flow};

/// Writes the `n` flows with the most bytes (both directions; ties by packets) as an
/// aligned table, one header line, then a line saying how many of the `total` flows
/// were left out (`flows` may be the largest few of them).
///
/// Columns: `PROTO A B PKTS_A>B PKTS_B>A BYTES DURATION RTT_MS RETRANS STATE`, plus
/// `VLAN` when any flow is tagged. `RTT_MS` is the TCP handshake's RTT (both halves),
/// `RETRANS` the retransmitted segments both ways; `-` when not TCP or not seen.
/// Addresses print as `addr:port`, IPv6 as `[addr]:port`.
pub fn write_top(w: &mut impl Write, flows: &[Flow], total: u64, n: usize) -> io::Result<()> {
    let mut order: Vec<&Flow> = flows.iter().collect();
    order.sort_by(|x, y| {
        (y.bytes(), y.packets())
            .cmp(&(x.bytes(), x.packets()))
            .then(x.first_ns.cmp(&y.first_ns))
    });
    order.truncate(n);
    let vlans = order.iter().any(|f| f.vlan != 0);

    let mut rows: Vec<Vec<String>> = Vec::with_capacity(order.len() + 1);
    let mut head = vec![
        "PROTO", "A", "B", "PKTS_A>B", "PKTS_B>A", "BYTES", "DURATION", "RTT_MS", "RETRANS",
        "STATE",
    ];
    if vlans {
        head.push("VLAN");
    }
    rows.push(head.into_iter().map(String::from).collect());
    for f in &order {
        let mut row = vec![
            proto_name(f.proto).map_or_else(|| f.proto.to_string(), String::from),
            endpoint(f.a_addr, f.a_port),
            endpoint(f.b_addr, f.b_port),
            f.packets_ab.to_string(),
            f.packets_ba.to_string(),
            f.bytes().to_string(),
            format!("{:.3}s", f.duration_ns() as f64 / 1e9),
            match (f.tcp.rtt_syn_ns, f.tcp.rtt_ack_ns) {
                (Some(syn), Some(ack)) => format!("{:.3}", (syn + ack) as f64 / 1e6),
                _ => "-".to_string(),
            },
            if f.proto == 6 {
                (u64::from(f.tcp.retrans[0]) + u64::from(f.tcp.retrans[1])).to_string()
            } else {
                "-".to_string()
            },
            f.state.as_str().to_string(),
        ];
        if vlans {
            row.push(f.vlan.to_string());
        }
        rows.push(row);
    }

    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Counts and durations read best right-aligned; names and addresses left-aligned.
    let right = |c: usize| (3..=8).contains(&c) || c == 10;
    for row in &rows {
        let mut line = String::new();
        for (c, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            if right(c) {
                line.push_str(&format!("{cell:>width$}"));
            } else if c + 1 == cols {
                line.push_str(cell); // no trailing blanks
            } else {
                line.push_str(&format!("{cell:<width$}"));
            }
        }
        writeln!(w, "{line}")?;
    }
    let total = total.max(flows.len() as u64);
    if total > order.len() as u64 {
        writeln!(w, "... {} more flows", total - order.len() as u64)?;
    }
    Ok(())
}

fn endpoint(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Writes one JSON object per flow, one per line, in the order given.
///
/// Schema (every key always present):
///
/// | key | type | meaning |
/// | --- | --- | --- |
/// | `proto` | number | IP protocol number |
/// | `proto_name` | string or null | `"tcp"`, `"udp"`, `"icmp"`, ...; null when unnamed |
/// | `vlan` | number | innermost 802.1Q VLAN id, 0 when untagged |
/// | `a_addr`, `b_addr` | string | IPv4 dotted or IPv6 RFC 5952 text; A sent the first frame |
/// | `a_port`, `b_port` | number | 0 when the protocol has no ports |
/// | `packets_ab`, `packets_ba` | number | frames A to B, B to A |
/// | `bytes_ab`, `bytes_ba` | number | frame bytes on the wire (`orig_len`), per direction |
/// | `first_ts`, `last_ts` | number | first and last frame time, seconds since the UNIX epoch with 9 decimals (exact ns) |
/// | `tcp_flags` | number | OR of the TCP flags byte seen both ways (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32); 0 when not TCP |
/// | `state` | string | `"open"`, `"closed"` (FIN each way) or `"reset"` (any RST); always `"open"` when not TCP |
/// | `evicted` | bool | the record left the table before the capture ended (a timeout or a full table); the conversation may continue in a later record |
/// | `end` | string | why the record ended: `"idle"`, `"active"` (active timeout), `"end"` (FIN or RST, then its timeout), `"forced"` (the capture ended), `"resources"` (a full table) |
/// | `ip_bytes_ab`, `ip_bytes_ba` | number | IP bytes (header and payload, RFC 7012 octets: no link header, no padding), per direction |
/// | `tos` | number | IPv4 TOS or IPv6 traffic class of the first frame |
/// | `a_mac`, `b_mac` | string | Ethernet addresses of A and B (`"00:00:00:00:00:00"` when the link has none) |
/// | `ifindex` | number | interface index of the first frame, 0 when unknown (files) |
/// | `rtt_syn_us` | number or null | TCP handshake, SYN -> SYN/ACK at the capture point, µs (rounded down); null when the capture did not see SYN, SYN/ACK and ACK |
/// | `rtt_ack_us` | number or null | SYN/ACK -> the ACK completing the handshake, µs; `rtt_syn_us + rtt_ack_us` is tshark's `tcp.analysis.initial_rtt` rounded down to the µs |
/// | `retrans_ab`, `retrans_ba` | number | retransmitted TCP segments (plain, fast, spurious: tshark's `tcp.analysis.retransmission`) A to B, B to A |
/// | `retrans_bytes_ab`, `retrans_bytes_ba` | number | TCP payload bytes of those segments |
/// | `out_of_order_ab`, `out_of_order_ba` | number | segments tshark flags `tcp.analysis.out_of_order` |
/// | `dup_ack_ab`, `dup_ack_ba` | number | duplicate ACKs (`tcp.analysis.duplicate_ack`) sent A to B, B to A |
/// | `zero_window_ab`, `zero_window_ba` | number | segments advertising a zero window (`tcp.analysis.zero_window`) |
///
/// The TCP figures are 0 (and the RTTs null) for other protocols; `flow/tcp_health.rs`
/// gives the rules and where they differ from Wireshark's.
///
/// Example: `{"proto":6,"proto_name":"tcp","vlan":0,"a_addr":"10.0.0.1","a_port":5000,
/// "b_addr":"10.0.0.2","b_port":80,"packets_ab":3,"packets_ba":2,"bytes_ab":200,
/// "bytes_ba":120,"first_ts":1.000000000,"last_ts":1.250000000,"tcp_flags":27,
/// "state":"closed","evicted":false,"end":"forced","ip_bytes_ab":158,"ip_bytes_ba":92,
/// "tos":0,"a_mac":"02:00:00:00:00:01","b_mac":"02:00:00:00:00:02","ifindex":0,
/// "rtt_syn_us":4000,"rtt_ack_us":6000,"retrans_ab":1,"retrans_ba":0,"retrans_bytes_ab":100,
/// "retrans_bytes_ba":0,"out_of_order_ab":0,"out_of_order_ba":0,"dup_ack_ab":0,"dup_ack_ba":2,
/// "zero_window_ab":0,"zero_window_ba":0}`
pub fn write_json_lines(w: &mut impl Write, flows: &[Flow]) -> io::Result<()> {
    for f in flows {
        let Flow {
            vlan,
            proto,
            a_addr,
            a_port,
            b_addr,
            b_port,
            packets_ab,
            packets_ba,
            bytes_ab,
            bytes_ba,
            first_ns,
            last_ns,
            tcp_flags,
            state,
            evicted,
            end,
            ip_bytes_ab,
            ip_bytes_ba,
            tos,
            a_mac,
            b_mac,
            ifindex,
            direction: _,
            tcp,
        } = *f;
        // Handwritten: every value is a number, a bool, a fixed name or an address
        // text, none of which needs escaping; and the timestamps keep exact ns, which
        // an f64 would round.
        write!(w, "{{\"proto\":{proto},\"proto_name\":")?;
        match proto_name(proto) {
            Some(name) => write!(w, "\"{name}\"")?,
            None => write!(w, "null")?,
        }
        write!(
            w,
            ",\"vlan\":{vlan},\"a_addr\":\"{a_addr}\",\"a_port\":{a_port},\"b_addr\":\"{b_addr}\",\
             \"b_port\":{b_port},\"packets_ab\":{packets_ab},\"packets_ba\":{packets_ba},\
             \"bytes_ab\":{bytes_ab},\"bytes_ba\":{bytes_ba},\"first_ts\":{}.{:09},\
             \"last_ts\":{}.{:09},\"tcp_flags\":{tcp_flags},\"state\":\"{}\",\"evicted\":{evicted},\"end\":\"{}\",\
             \"ip_bytes_ab\":{ip_bytes_ab},\"ip_bytes_ba\":{ip_bytes_ba},\"tos\":{tos},\
             \"a_mac\":\"{}\",\"b_mac\":\"{}\",\"ifindex\":{ifindex},",
            first_ns / 1_000_000_000,
            first_ns % 1_000_000_000,
            last_ns / 1_000_000_000,
            last_ns % 1_000_000_000,
            state.as_str(),
            end.as_str(),
            mac(a_mac),
            mac(b_mac),
        )?;
        write_tcp_health(w, &tcp)?;
    }
    Ok(())
}

/// The TCP health keys of one record and the closing brace (see `write_json_lines`).
fn write_tcp_health(w: &mut impl Write, h: &super::TcpHealth) -> io::Result<()> {
    let super::TcpHealth {
        rtt_syn_ns: _,
        rtt_ack_ns: _,
        retrans,
        retrans_bytes,
        out_of_order,
        dup_ack,
        zero_window,
    } = *h;
    match h.rtt_us() {
        Some((syn, ack)) => write!(w, "\"rtt_syn_us\":{syn},\"rtt_ack_us\":{ack},")?,
        None => write!(w, "\"rtt_syn_us\":null,\"rtt_ack_us\":null,")?,
    }
    writeln!(
        w,
        "\"retrans_ab\":{},\"retrans_ba\":{},\"retrans_bytes_ab\":{},\"retrans_bytes_ba\":{},\
         \"out_of_order_ab\":{},\"out_of_order_ba\":{},\"dup_ack_ab\":{},\"dup_ack_ba\":{},\
         \"zero_window_ab\":{},\"zero_window_ba\":{}}}",
        retrans[0],
        retrans[1],
        retrans_bytes[0],
        retrans_bytes[1],
        out_of_order[0],
        out_of_order[1],
        dup_ack[0],
        dup_ack[1],
        zero_window[0],
        zero_window[1],
    )
}

fn mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowState, TcpHealth};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn flow(bytes_ab: u64, port: u16) -> Flow {
        Flow {
            vlan: 0,
            proto: 6,
            a_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            a_port: port,
            b_addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            b_port: 80,
            packets_ab: 3,
            packets_ba: 2,
            bytes_ab,
            bytes_ba: 120,
            first_ns: 1_000_000_007,
            last_ns: 2_500_000_000,
            tcp_flags: 0x1b,
            state: FlowState::ClosedFin,
            evicted: false,
            tcp: TcpHealth {
                rtt_syn_ns: Some(4_000_999),
                rtt_ack_ns: Some(6_000_002),
                retrans: [1, 0],
                retrans_bytes: [1448, 0],
                out_of_order: [0, 3],
                dup_ack: [0, 2],
                zero_window: [5, 0],
            },
            ..Flow::default()
        }
    }

    #[test]
    fn json_lines_parse_and_keep_every_field() {
        let mut out = Vec::new();
        let other = Flow {
            proto: 250,
            vlan: 12,
            evicted: true,
            state: FlowState::Open,
            ..flow(5, 1)
        };
        write_json_lines(&mut out, &[flow(200, 5000), other]).expect("write to a Vec");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
        assert_eq!(v["proto"], 6);
        assert_eq!(v["proto_name"], "tcp");
        assert_eq!(v["a_addr"], "10.0.0.1");
        assert_eq!(v["a_port"], 5000);
        assert_eq!(v["b_addr"], "::1");
        assert_eq!(v["packets_ab"], 3);
        assert_eq!(v["bytes_ab"], 200);
        assert_eq!(v["bytes_ba"], 120);
        assert_eq!(v["tcp_flags"], 27);
        assert_eq!(v["state"], "closed");
        assert_eq!(v["evicted"], false);
        assert!(lines[0].contains("\"first_ts\":1.000000007,\"last_ts\":2.500000000,"));
        assert_eq!(v["end"], "forced");
        assert_eq!(v["a_mac"], "00:00:00:00:00:00");
        // The RTT halves in µs: the sum is the whole 10.001001 ms rounded down.
        assert_eq!(
            (&v["rtt_syn_us"], &v["rtt_ack_us"]),
            (&4000.into(), &6001.into())
        );
        for (key, want) in [
            ("retrans_ab", 1),
            ("retrans_ba", 0),
            ("retrans_bytes_ab", 1448),
            ("retrans_bytes_ba", 0),
            ("out_of_order_ab", 0),
            ("out_of_order_ba", 3),
            ("dup_ack_ab", 0),
            ("dup_ack_ba", 2),
            ("zero_window_ab", 5),
            ("zero_window_ba", 0),
        ] {
            assert_eq!(v[key], want, "{key}");
        }
        assert_eq!(v.as_object().map(|o| o.len()), Some(35));
        let w: serde_json::Value = serde_json::from_str(lines[1]).expect("valid JSON");
        let no_rtt = Flow {
            tcp: TcpHealth::default(),
            ..flow(1, 1)
        };
        let mut out = Vec::new();
        write_json_lines(&mut out, &[no_rtt]).expect("write to a Vec");
        let x: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert!(
            x["rtt_syn_us"].is_null() && x["rtt_ack_us"].is_null(),
            "{x}"
        );
        assert_eq!(x.as_object().map(|o| o.len()), Some(35));
        assert_eq!(w["proto_name"], serde_json::Value::Null);
        assert_eq!(
            (w["vlan"].as_u64(), w["evicted"].as_bool()),
            (Some(12), Some(true))
        );
    }

    #[test]
    fn top_sorts_by_bytes_aligns_and_counts_the_rest() {
        let flows = [flow(10, 1), flow(3000, 2), flow(500, 3)];
        let mut out = Vec::new();
        write_top(&mut out, &flows, flows.len() as u64, 2).expect("write to a Vec");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("PROTO  A "), "{text}");
        assert!(
            lines[1].contains("10.0.0.1:2") && lines[1].contains("3120"),
            "{text}"
        );
        assert!(lines[2].contains("10.0.0.1:3"), "{text}");
        assert!(
            lines[1].contains("[::1]:80") && lines[1].ends_with("closed"),
            "{text}"
        );
        assert_eq!(lines[3], "... 1 more flows");
        // Aligned: the BYTES column ends at the same offset on every line.
        let end = |l: &str, word: &str| l.find(word).map(|i| i + word.len());
        assert_eq!(end(lines[0], "BYTES"), end(lines[1], "3120"));
        assert_eq!(end(lines[0], "BYTES"), end(lines[2], " 620"));
        assert!(lines[1].contains("1.500s"));
        // RTT in ms and retransmissions, right-aligned; "-" when not measured.
        assert_eq!(end(lines[0], "RTT_MS"), end(lines[1], "10.001"));
        assert_eq!(
            end(lines[0], "RETRANS"),
            end(lines[1], " 1  closed").map(|e| e - "  closed".len())
        );
        let udp = Flow {
            proto: 17,
            tcp: TcpHealth::default(),
            ..flow(10, 4)
        };
        let mut out = Vec::new();
        write_top(&mut out, &[udp], 1, 1).expect("write to a Vec");
        let text = String::from_utf8(out).expect("utf-8");
        let row: Vec<&str> = text
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(row[7..], ["-", "-", "closed"], "{text}");
    }
}
