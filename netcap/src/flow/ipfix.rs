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

mod fields;
pub use fields::{template_fields, Field, FIELDS, REVERSE_FIELDS, TCP_FIELDS, TCP_REVERSE_FIELDS};

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
#[path = "ipfix_tests.rs"]
mod tests;
