//! IPFIX (RFC 7011) messages from flow records: sans-IO, so the sinks in
//! `output::ipfix` decide where the bytes go and what time it is.
//!
//! Hand-written: the crates that speak IPFIX (`netflow_parser`, `ipfixrw`) are built
//! around decoding and re-serialising parsed packets; an exporter needs only fixed
//! templates, a sequence counter and a size bound, which fit in this file and keep
//! the format's decisions (which elements, which lengths) in one place. The unit tests
//! decode these messages with `netflow_parser`, an independent reader.
//!
//! Contract:
//! - A message is a header (version 10, length, export time in seconds, sequence
//!   number = data records sent before it in this session, observation domain id),
//!   then sets. It never exceeds [`Config::max_message`] (clamped to 1024..=65535).
//! - Four templates: IPv4 and IPv6, uniflow (256, 257) or RFC 5103 biflow (258, 259).
//!   The fields of a template and the bytes of a record come from one list
//!   ([`FIELDS`]), so they cannot disagree.
//! - Uniflow (the default, as softflowd and nfdump expect): one record per direction
//!   that carried packets, A->B then B->A. Biflow: one record per flow, A (the first
//!   sender) as source, B's counts in reverse elements (enterprise number 29305).
//! - Octets are RFC 7012's: IP header and payload (`Flow::ip_bytes_*`), never the
//!   link header or Ethernet padding.
//! - Templates go first in a session, again after [`Encoder::restart`], and, with a
//!   [`Refresh`] (UDP, RFC 7011 section 8.4), every so many messages or seconds.
//! - The table keeps one start and end time per flow, and the union of both
//!   directions' TCP flags: both uniflow records of a flow carry the same.
//! - TCP health ([`super::TcpHealth`]) goes in netcap's own elements ([`TCP_FIELDS`],
//!   enterprise number [`NETCAP_PEN`]): the handshake RTT halves in both records of a
//!   flow, the counts of the record's direction; in biflow records B's counts in the
//!   same elements with bit 0x4000 set (RFC 5103's reverse of an enterprise element).
use std::net::{IpAddr, Ipv6Addr};

use super::Flow;
use crate::packet::Direction;

/// RFC 5103's private enterprise number for reverse information elements.
pub const REVERSE_PEN: u32 = 29305;
/// The enterprise number of netcap's own elements ([`TCP_FIELDS`]): 32473, the one
/// RFC 5612 sets aside for documentation and examples, as netcap has none registered.
pub const NETCAP_PEN: u32 = 32473;
/// RFC 5103: the reverse of an enterprise-specific element is its id with this bit.
const REVERSE_BIT: u16 = 0x4000;
const VERSION: u16 = 10;
const SET_HEADER_LEN: usize = 4;
const TEMPLATE_SET_ID: u16 = 2;
/// Room for the biflow templates (396 bytes with netcap's elements) and one record.
const MIN_MESSAGE: usize = 1024;

/// Template ids: uniflow IPv4 and IPv6, biflow IPv4 and IPv6.
pub const TEMPLATE_V4: u16 = 256;
pub const TEMPLATE_V6: u16 = 257;
pub const TEMPLATE_BIFLOW_V4: u16 = 258;
pub const TEMPLATE_BIFLOW_V6: u16 = 259;

/// One information element of a template: IANA id, length on the wire, and whether
/// it is the reverse (RFC 5103) of that id; or, with `netcap`, the id of one of
/// netcap's elements (enterprise [`NETCAP_PEN`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub id: u16,
    pub len: u16,
    pub reverse: bool,
    pub netcap: bool,
}

const fn f(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        reverse: false,
        netcap: false,
    }
}

const fn rev(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        reverse: true,
        netcap: false,
    }
}

const fn nc(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        reverse: false,
        netcap: true,
    }
}

/// The elements, in record order; the address elements are picked per family.
/// Counters and times first (8-byte aligned), then the rest by size.
pub const FIELDS: &[Field] = &[
    f(152, 8), // flowStartMilliseconds
    f(153, 8), // flowEndMilliseconds
    f(1, 8),   // octetDeltaCount (IP octets)
    f(2, 8),   // packetDeltaCount
    f(0, 0),   // sourceIPv4Address 8 (4) or sourceIPv6Address 27 (16)
    f(0, 0),   // destinationIPv4Address 12 (4) or destinationIPv6Address 28 (16)
    f(10, 4),  // ingressInterface
    f(14, 4),  // egressInterface
    f(7, 2),   // sourceTransportPort
    f(11, 2),  // destinationTransportPort
    f(58, 2),  // vlanId
    f(6, 2),   // tcpControlBits (RFC 7125: 16 bits)
    f(56, 6),  // sourceMacAddress
    f(80, 6),  // destinationMacAddress
    f(4, 1),   // protocolIdentifier
    f(5, 1),   // ipClassOfService
    f(61, 1),  // flowDirection: 0 ingress, 1 egress
    f(136, 1), // flowEndReason
];

/// What biflow records add: B's counts, as reverse elements.
pub const REVERSE_FIELDS: &[Field] = &[rev(1, 8), rev(2, 8)];

/// netcap's TCP health elements (enterprise [`NETCAP_PEN`]), after [`FIELDS`]; 0 when
/// the flow is not TCP or the figure was not measured.
pub const TCP_FIELDS: &[Field] = &[
    nc(1, 4), // tcpHandshakeSynMicroseconds: SYN -> SYN/ACK (`rtt_syn_us`)
    nc(2, 4), // tcpHandshakeAckMicroseconds: SYN/ACK -> ACK (`rtt_ack_us`)
    nc(3, 4), // tcpRetransmittedSegments of this direction (`retrans_*`)
    nc(4, 8), // tcpRetransmittedOctets: their payload (`retrans_bytes_*`)
    nc(5, 4), // tcpOutOfOrderSegments (`out_of_order_*`)
    nc(6, 4), // tcpDuplicateAcks (`dup_ack_*`)
    nc(7, 4), // tcpZeroWindows (`zero_window_*`)
];

/// What biflow records add after [`REVERSE_FIELDS`]: B's TCP counts.
pub const TCP_REVERSE_FIELDS: &[Field] = &[
    nc(3 | REVERSE_BIT, 4),
    nc(4 | REVERSE_BIT, 8),
    nc(5 | REVERSE_BIT, 4),
    nc(6 | REVERSE_BIT, 4),
    nc(7 | REVERSE_BIT, 4),
];

/// The fields of template `id`, in order.
pub fn template_fields(id: u16) -> Vec<Field> {
    let v6 = matches!(id, TEMPLATE_V6 | TEMPLATE_BIFLOW_V6);
    let biflow = matches!(id, TEMPLATE_BIFLOW_V4 | TEMPLATE_BIFLOW_V6);
    let mut fields: Vec<Field> = FIELDS.to_vec();
    let (src, dst, len) = if v6 { (27, 28, 16) } else { (8, 12, 4) };
    fields[4] = f(src, len);
    fields[5] = f(dst, len);
    fields.extend_from_slice(TCP_FIELDS);
    if biflow {
        fields.extend_from_slice(REVERSE_FIELDS);
        fields.extend_from_slice(TCP_REVERSE_FIELDS);
    }
    fields
}

/// Template refresh for transports that lose messages (UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refresh {
    /// Templates again after this many messages (softflowd's default interval is 16).
    pub messages: u32,
    /// ... or once this much time has passed since they were last sent.
    pub every_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub domain: u32,
    pub biflow: bool,
    /// Largest message in bytes: 1400 for UDP (one datagram within a 1500-byte MTU,
    /// IPv6 included), up to 65535 (the length field's limit) on TCP and in files.
    pub max_message: usize,
    /// `None`: templates only at the start of a session (TCP, files).
    pub refresh: Option<Refresh>,
}

/// One data record's values, in the direction it reports.
struct Record {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    octets: u64,
    packets: u64,
    rev_octets: u64,
    rev_packets: u64,
    /// The direction of this record's frames on `ifindex`.
    direction: Direction,
    /// Whose frames: 0 A's, 1 B's (the index of [`super::TcpHealth`]'s counts).
    sender: usize,
}

/// The message builder: templates, sequence numbers and the size bound.
#[derive(Debug)]
pub struct Encoder {
    cfg: Config,
    /// The fields of templates 256 to 259, and the length of their records.
    templates: [(Vec<Field>, usize); 4],
    /// Data records sent in this session (modulo 2^32, as the header carries it).
    records: u32,
    /// Messages since the templates last went (that one included), and when.
    since_templates: u32,
    templates_ns: u64,
    templates_due: bool,
}

impl Encoder {
    pub fn new(mut cfg: Config) -> Self {
        cfg.max_message = cfg.max_message.clamp(MIN_MESSAGE, usize::from(u16::MAX));
        let template = |id| {
            let fields = template_fields(id);
            let len = fields.iter().map(|f| usize::from(f.len)).sum();
            (fields, len)
        };
        Self {
            cfg,
            templates: [
                TEMPLATE_V4,
                TEMPLATE_V6,
                TEMPLATE_BIFLOW_V4,
                TEMPLATE_BIFLOW_V6,
            ]
            .map(template),
            records: 0,
            since_templates: 0,
            templates_ns: 0,
            templates_due: true,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A new transport session (a TCP reconnect, a new file): the sequence starts at
    /// 0 and the next message carries the templates.
    pub fn restart(&mut self) {
        self.records = 0;
        self.templates_due = true;
    }

    /// The next message carries the templates (the collector may have restarted).
    pub fn resend_templates(&mut self) {
        self.templates_due = true;
    }

    /// Data records sent in this session, modulo 2^32.
    pub fn sequence(&self) -> u32 {
        self.records
    }

    /// A message holding only the templates, sent at the start of a session.
    pub fn templates(&mut self, now_ns: u64) -> Vec<u8> {
        let mut msg = Vec::with_capacity(256);
        self.begin(&mut msg, now_ns);
        self.push_templates(&mut msg, now_ns);
        self.end(&mut msg);
        msg
    }

    /// Appends to `out` the messages holding `flows`' records; returns how many
    /// records they hold.
    pub fn encode(&mut self, flows: &[Flow], now_ns: u64, out: &mut Vec<Vec<u8>>) -> u64 {
        let mut msg = Vec::new();
        let mut set: Option<(u16, usize)> = None; // open data set: template, offset
        let mut in_msg = 0u32;
        let mut total = 0u64;
        for flow in flows {
            for (template, rec) in self.records_of(flow).into_iter().flatten() {
                let len = self.template(template).1;
                let need = len
                    + if set.is_some_and(|s| s.0 == template) {
                        0
                    } else {
                        SET_HEADER_LEN
                    };
                if !msg.is_empty() && msg.len() + need > self.cfg.max_message {
                    close_set(&mut msg, set.take());
                    self.end(&mut msg);
                    self.records = self.records.wrapping_add(in_msg);
                    out.push(std::mem::take(&mut msg));
                    in_msg = 0;
                }
                if msg.is_empty() {
                    self.begin(&mut msg, now_ns);
                    if self.templates_needed(now_ns) {
                        self.push_templates(&mut msg, now_ns);
                    }
                }
                if set.is_none_or(|s| s.0 != template) {
                    close_set(&mut msg, set.take());
                    set = Some((template, msg.len()));
                    msg.extend_from_slice(&template.to_be_bytes());
                    msg.extend_from_slice(&[0, 0]);
                }
                self.write_record(&mut msg, template, flow, &rec);
                in_msg += 1;
                total += 1;
            }
        }
        if !msg.is_empty() {
            close_set(&mut msg, set);
            self.end(&mut msg);
            self.records = self.records.wrapping_add(in_msg);
            out.push(msg);
        }
        total
    }

    /// The records of one flow with their template: one or two uniflow records, or
    /// one biflow record.
    fn records_of(&self, flow: &Flow) -> [Option<(u16, Record)>; 2] {
        let (a, b) = match (flow.a_addr, flow.b_addr) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (IpAddr::V4(a), IpAddr::V4(b)),
            // One family per record: a mixed pair (never seen on the wire) goes as IPv6.
            (a, b) => (IpAddr::V6(to_v6(a)), IpAddr::V6(to_v6(b))),
        };
        let v6 = a.is_ipv6();
        let ab = Record {
            src: a,
            dst: b,
            sport: flow.a_port,
            dport: flow.b_port,
            src_mac: flow.a_mac,
            dst_mac: flow.b_mac,
            octets: flow.ip_bytes_ab,
            packets: flow.packets_ab,
            rev_octets: flow.ip_bytes_ba,
            rev_packets: flow.packets_ba,
            direction: flow.direction,
            sender: 0,
        };
        if self.cfg.biflow {
            let t = if v6 {
                TEMPLATE_BIFLOW_V6
            } else {
                TEMPLATE_BIFLOW_V4
            };
            return [Some((t, ab)), None];
        }
        let t = if v6 { TEMPLATE_V6 } else { TEMPLATE_V4 };
        let ba = Record {
            src: b,
            dst: a,
            sport: flow.b_port,
            dport: flow.a_port,
            src_mac: flow.b_mac,
            dst_mac: flow.a_mac,
            octets: flow.ip_bytes_ba,
            packets: flow.packets_ba,
            rev_octets: 0,
            rev_packets: 0,
            direction: match flow.direction {
                Direction::In => Direction::Out,
                Direction::Out => Direction::In,
                Direction::Unknown => Direction::Unknown,
            },
            sender: 1,
        };
        [ab, ba].map(|r| (r.packets > 0).then_some((t, r)))
    }

    /// The fields and record length of `id`, one of the four template ids.
    fn template(&self, id: u16) -> &(Vec<Field>, usize) {
        &self.templates[usize::from(id.saturating_sub(TEMPLATE_V4)).min(3)]
    }

    fn write_record(&self, msg: &mut Vec<u8>, template: u16, flow: &Flow, r: &Record) {
        let ms = |ns: u64| ns / 1_000_000;
        // Files and unknown directions count as received (ingress), as a collector
        // assumes without the element.
        let egress = r.direction == Direction::Out;
        let (ingress_if, egress_if) = if egress {
            (0, flow.ifindex)
        } else {
            (flow.ifindex, 0)
        };
        for field in &self.template(template).0 {
            if field.netcap {
                let v = tcp_value(flow, r.sender, field.id);
                let len = usize::from(field.len).min(8);
                msg.extend_from_slice(&v.to_be_bytes()[8 - len..]);
                continue;
            }
            let v: u64 = match (field.reverse, field.id) {
                (false, 152) => ms(flow.first_ns),
                (false, 153) => ms(flow.last_ns),
                (false, 1) => r.octets,
                (false, 2) => r.packets,
                (true, 1) => r.rev_octets,
                (true, 2) => r.rev_packets,
                (false, 10) => u64::from(ingress_if),
                (false, 14) => u64::from(egress_if),
                (false, 7) => u64::from(r.sport),
                (false, 11) => u64::from(r.dport),
                (false, 58) => u64::from(flow.vlan),
                (false, 6) => u64::from(flow.tcp_flags),
                (false, 4) => u64::from(flow.proto),
                (false, 5) => u64::from(flow.tos),
                (false, 61) => u64::from(egress),
                (false, 136) => flow.end as u64,
                (false, 8 | 27) => {
                    push_addr(msg, r.src);
                    continue;
                }
                (false, 12 | 28) => {
                    push_addr(msg, r.dst);
                    continue;
                }
                (false, 56) => {
                    msg.extend_from_slice(&r.src_mac);
                    continue;
                }
                (false, 80) => {
                    msg.extend_from_slice(&r.dst_mac);
                    continue;
                }
                _ => {
                    msg.resize(msg.len() + usize::from(field.len), 0);
                    continue;
                }
            };
            // Numbers at their template length (reduced-size encoding, RFC 7011 6.2).
            let len = usize::from(field.len).min(8);
            msg.extend_from_slice(&v.to_be_bytes()[8 - len..]);
        }
    }

    fn templates_needed(&self, now_ns: u64) -> bool {
        self.templates_due
            || self.cfg.refresh.is_some_and(|r| {
                self.since_templates >= r.messages
                    || now_ns.saturating_sub(self.templates_ns) >= r.every_ns
            })
    }

    /// The message header, its length and sequence number still to be filled in.
    fn begin(&mut self, msg: &mut Vec<u8>, now_ns: u64) {
        let secs = u32::try_from(now_ns / 1_000_000_000).unwrap_or(u32::MAX);
        msg.extend_from_slice(&VERSION.to_be_bytes());
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&secs.to_be_bytes());
        msg.extend_from_slice(&self.records.to_be_bytes());
        msg.extend_from_slice(&self.cfg.domain.to_be_bytes());
    }

    /// Fills in the length of a finished message, and counts it.
    fn end(&mut self, msg: &mut [u8]) {
        let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
        msg[2..4].copy_from_slice(&len.to_be_bytes());
        self.since_templates = self.since_templates.saturating_add(1);
    }

    fn push_templates(&mut self, msg: &mut Vec<u8>, now_ns: u64) {
        let ids = if self.cfg.biflow {
            [TEMPLATE_BIFLOW_V4, TEMPLATE_BIFLOW_V6]
        } else {
            [TEMPLATE_V4, TEMPLATE_V6]
        };
        let start = msg.len();
        msg.extend_from_slice(&TEMPLATE_SET_ID.to_be_bytes());
        msg.extend_from_slice(&[0, 0]);
        for id in ids {
            let fields = &self.template(id).0;
            msg.extend_from_slice(&id.to_be_bytes());
            msg.extend_from_slice(&(fields.len() as u16).to_be_bytes());
            for fl in fields {
                let pen = match (fl.reverse, fl.netcap) {
                    (true, _) => Some(REVERSE_PEN),
                    (false, true) => Some(NETCAP_PEN),
                    (false, false) => None,
                };
                let enterprise = if pen.is_some() { 0x8000 } else { 0 };
                msg.extend_from_slice(&(fl.id | enterprise).to_be_bytes());
                msg.extend_from_slice(&fl.len.to_be_bytes());
                if let Some(pen) = pen {
                    msg.extend_from_slice(&pen.to_be_bytes());
                }
            }
        }
        close_set(msg, Some((TEMPLATE_SET_ID, start)));
        self.templates_due = false;
        self.since_templates = 0;
        self.templates_ns = now_ns;
    }
}

/// The value of netcap element `id` ([`TCP_FIELDS`], [`TCP_REVERSE_FIELDS`]) for the
/// record of `sender`'s frames; 4-byte elements saturate.
fn tcp_value(flow: &Flow, sender: usize, id: u16) -> u64 {
    let h = &flow.tcp;
    let (who, id) = if id & REVERSE_BIT != 0 {
        (sender ^ 1, id & !REVERSE_BIT)
    } else {
        (sender, id)
    };
    let who = who & 1;
    let (syn, ack) = h.rtt_us().unwrap_or((0, 0));
    let v = match id {
        1 => syn,
        2 => ack,
        3 => u64::from(h.retrans[who]),
        4 => return h.retrans_bytes[who],
        5 => u64::from(h.out_of_order[who]),
        6 => u64::from(h.dup_ack[who]),
        7 => u64::from(h.zero_window[who]),
        _ => 0,
    };
    v.min(u64::from(u32::MAX))
}

/// Writes the length of the set that starts at `start`.
fn close_set(msg: &mut [u8], set: Option<(u16, usize)>) {
    if let Some((_, start)) = set {
        let len = u16::try_from(msg.len() - start).unwrap_or(u16::MAX);
        msg[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

fn push_addr(msg: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => msg.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => msg.extend_from_slice(&a.octets()),
    }
}

#[cfg(test)]
mod tests {
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
}
