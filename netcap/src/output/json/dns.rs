//! The `dns` object of `-F json` (schema in [`super`]), over the view of
//! [`crate::decode::dns`], with names and type names as `-F line` writes them.
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{boolean, num, push_str};
use crate::decode::dns::{DnsMessage, HEADER_LEN};
use crate::decode::{Decoded, Transport};
use crate::output::line::dns::{
    name,
    names::{class_name, type_name},
    tcp_is_dns,
};
use crate::output::{push_ipv4, push_ipv6, push_u64};

/// The DNS message a frame carries, as `-F line` finds it: UDP from or to port 53 or
/// 5353 (mDNS), TCP as tcpdump's `tcp_print` picks DNS (after the 2-byte length); `None`
/// when there is none or its 12-byte header was not captured.
pub(crate) fn message<'a>(data: &'a [u8], d: &Decoded) -> Option<&'a [u8]> {
    let payload = d.payload.slice(data);
    let msg = match &d.transport {
        Transport::Udp(u) if [u.sport, u.dport].iter().any(|&p| p == 53 || p == 5353) => payload,
        Transport::Tcp(t) if tcp_is_dns(t.sport, t.dport) => payload.get(2..)?,
        _ => return None,
    };
    (msg.len() >= HEADER_LEN).then_some(msg)
}

/// A name as text, without the final dot (the root as `.`); `None` when it cannot be
/// read to its end.
pub(crate) fn name_text(msg: &[u8], at: usize, scratch: &mut Vec<u8>) -> Option<usize> {
    scratch.clear();
    let next = name(scratch, msg, at)?;
    if scratch.len() > 1 && scratch.last() == Some(&b'.') {
        scratch.pop();
    }
    Some(next)
}

/// Appends `,"dns":{...}` for the message `msg` (at least its header captured).
pub(super) fn object(out: &mut Vec<u8>, msg: &[u8]) {
    let Some(m) = DnsMessage::new_checked(msg) else {
        return;
    };
    out.extend_from_slice(b",\"dns\":{\"id\":");
    push_u64(out, m.id().into());
    boolean(out, b",\"response\":", m.is_response());
    num(out, b",\"opcode\":", m.opcode().into());
    num(out, b",\"rcode\":", m.rcode().into());
    out.extend_from_slice(b",\"flags\":[");
    let mut first = true;
    for (set, flag) in [
        (m.authoritative(), "aa"),
        (m.truncated(), "tc"),
        (m.recursion_desired(), "rd"),
        (m.recursion_available(), "ra"),
        (m.authentic_data(), "ad"),
        (m.checking_disabled(), "cd"),
    ] {
        if set {
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(out, flag);
        }
    }
    out.push(b']');
    num(out, b",\"qdcount\":", m.qdcount().into());
    num(out, b",\"ancount\":", m.ancount().into());
    num(out, b",\"nscount\":", m.nscount().into());
    num(out, b",\"arcount\":", m.arcount().into());
    let mut scratch = Vec::new();
    let mut at = HEADER_LEN;
    let mut cut = false;
    out.extend_from_slice(b",\"questions\":[");
    for i in 0..m.qdcount() {
        let Some(q) = m.question(at) else {
            cut = true;
            break;
        };
        if name_text(msg, q.name, &mut scratch).is_none() {
            cut = true;
            break;
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        push_text(out, &scratch);
        typed(out, q.qtype, q.qclass, &mut scratch);
        out.push(b'}');
        at = q.end;
    }
    out.extend_from_slice(b"],\"answers\":[");
    for i in 0..if cut { 0 } else { m.ancount() } {
        let Some(r) = m.record(at) else {
            cut = true;
            break;
        };
        if name_text(msg, r.name, &mut scratch).is_none() {
            cut = true;
            break;
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        push_text(out, &scratch);
        typed(out, r.rtype, r.class, &mut scratch);
        num(out, b",\"ttl\":", r.ttl.into());
        let rdata = msg.get(r.data..r.data_end());
        match (r.rtype, rdata) {
            (1, Some(&[a, b, c, d])) => {
                out.extend_from_slice(b",\"data\":\"");
                push_ipv4(out, Ipv4Addr::new(a, b, c, d));
                out.push(b'"');
            }
            (28, Some(b)) if b.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                out.extend_from_slice(b",\"data\":\"");
                push_ipv6(out, Ipv6Addr::from(a));
                out.push(b'"');
            }
            (2 | 5 | 12 | 39, Some(_)) if name_text(msg, r.data, &mut scratch).is_some() => {
                out.extend_from_slice(b",\"data\":");
                push_text(out, &scratch);
            }
            _ => {}
        }
        out.push(b'}');
        if r.data_end() > msg.len() {
            cut = true;
            break;
        }
        at = r.data_end();
    }
    out.push(b']');
    if cut {
        out.extend_from_slice(b",\"truncated\":true");
    }
    out.push(b'}');
}

/// `,"type":"A","class":"IN"`.
fn typed(out: &mut Vec<u8>, t: u16, class: u16, scratch: &mut Vec<u8>) {
    scratch.clear();
    type_name(scratch, t);
    out.extend_from_slice(b",\"type\":");
    push_text(out, scratch);
    scratch.clear();
    class_name(scratch, class);
    out.extend_from_slice(b",\"class\":");
    push_text(out, scratch);
}

/// Text the line printers made (ASCII: they escape every other byte) as a JSON string.
fn push_text(out: &mut Vec<u8>, text: &[u8]) {
    push_str(out, &String::from_utf8_lossy(text));
}
