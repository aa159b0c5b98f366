//! DNS summaries as tcpdump 4.99's `domain_print` (print-domain.c) writes them without
//! `-v`, over the view of [`crate::decode::dns`]:
//!
//! ```text
//! 43981+ A? example.com. (29)
//! 43981 2/0/1 A 93.184.216.34, A 93.184.216.35 (77)
//! 7 NXDomain* 0/1/0 (95)
//! ```
//!
//! A query: ID, opcode, `+` (recursion desired), `%` (checking disabled), odd counts in
//! brackets, then each question as ` TYPE? name.`. A response: ID, opcode, RCODE (with
//! the OPT record's extension), `*` (authoritative), `-` (recursion not available),
//! `|` (truncated), `$` (authentic data), the section counts and each answer's type and
//! data. Then the message length in parentheses. Where the capture ends first, tcpdump's
//! ` [|domain]`. Names are printed with tcpdump's escapes for bytes that are not
//! printable ASCII (`M-` for the high bit, `^` for control characters).
use crate::decode::dns::{
    self, read_name, skip_name, DnsMessage, Label, NameError, CLASS_IN, HEADER_LEN, MAX_NAME_LEN,
};
use crate::output::{push_ipv4, push_ipv6, push_u64, HEX_LOWER};

pub(crate) mod names;
mod verbose;
use names::{bit_label, bracket, class_name, escaped, hex, type_name, OPCODES, RCODES};

/// The TCP ports whose dissectors tcpdump tries before DNS's (print-tcp.c): a segment
/// from or to one of them is not printed as DNS even when the other port is 53.
const TCP_BEFORE_DNS: [u16; 17] = [
    23, 25, 43, 179, 1723, 6379, 22, 139, 445, 10288, 6633, 6653, 21, 80, 8080, 554, 8554,
];

/// True when tcpdump prints a TCP segment between these ports as DNS.
pub(crate) fn tcp_is_dns(sport: u16, dport: u16) -> bool {
    (sport == 53 || dport == 53) && !TCP_BEFORE_DNS.iter().any(|&p| p == sport || p == dport)
}

/// DNS over TCP (RFC 1035 4.2.2): the 2-byte length prefix, then the message.
/// `data` is the segment's data as captured, `length` its declared length.
pub(super) fn over_tcp(out: &mut Vec<u8>, data: &[u8], length: usize, verbose: bool) {
    if length < 2 {
        out.extend_from_slice(b" [DNS over TCP: length ");
        push_u64(out, length as u64);
        out.extend_from_slice(b" < 2] (invalid)");
        return;
    }
    let Some(prefix) = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        out.extend_from_slice(b" [|domain]");
        return;
    };
    let length = length - 2;
    if usize::from(prefix) != length {
        out.extend_from_slice(b" [prefix length(");
        push_u64(out, prefix.into());
        out.extend_from_slice(b") != length(");
        push_u64(out, length as u64);
        out.extend_from_slice(b")] (invalid)");
        return;
    }
    out.push(b' ');
    message(out, &data[2..], length, false, verbose);
}

/// Appends the summary of the DNS message `msg` (as captured), `length` bytes long by
/// the headers below it; `mdns` for multicast DNS (RFC 6762: the top bit of a class is
/// a flag).
/// With `-v` (`verbose`): each record's owner name, SOA's and TSIG's fields
/// ([`verbose`]).
pub(super) fn message(out: &mut Vec<u8>, msg: &[u8], length: usize, mdns: bool, verbose: bool) {
    if length < HEADER_LEN {
        out.extend_from_slice(b"domain [length ");
        push_u64(out, length as u64);
        out.extend_from_slice(b" < 12] (invalid)");
        return;
    }
    let Some(m) = DnsMessage::new_checked(msg) else {
        out.extend_from_slice(b" [|domain]");
        return;
    };
    let p = Printer { msg, mdns, verbose };
    let done = if m.is_response() {
        p.response(out, &m)
    } else {
        p.query(out, &m)
    };
    match done {
        Some(()) => {
            out.extend_from_slice(b" (");
            push_u64(out, length as u64);
            out.push(b')');
        }
        None => out.extend_from_slice(b" [|domain]"),
    }
}

struct Printer<'a> {
    msg: &'a [u8],
    mdns: bool,
    verbose: bool,
}

impl Printer<'_> {
    /// The end of the capture: tcpdump's `snapend`.
    fn snap(&self) -> usize {
        self.msg.len()
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        self.msg
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// The RCODE with the extension of the first OPT record, found as tcpdump does:
    /// skipping what precedes it while the capture lasts.
    fn rcode(&self, m: &DnsMessage<'_>) -> u16 {
        let rcode = u16::from(m.rcode());
        let snap = self.snap();
        let mut cp = HEADER_LEN;
        for _ in 0..m.qdcount() {
            let Some(next) = skip_name(self.msg, cp) else {
                return rcode;
            };
            cp = next + 4;
            if cp >= snap {
                return rcode;
            }
        }
        for _ in 0..u32::from(m.ancount()) + u32::from(m.nscount()) {
            let Some(next) = skip_name(self.msg, cp) else {
                return rcode;
            };
            cp = next + 8;
            let Some(rdlen) = self.u16_at(cp) else {
                return rcode;
            };
            cp += 2 + usize::from(rdlen);
            if cp >= snap {
                return rcode;
            }
        }
        for _ in 0..m.arcount() {
            let Some(next) = skip_name(self.msg, cp) else {
                return rcode;
            };
            let Some(rtype) = self.u16_at(next) else {
                return rcode;
            };
            cp = next + 4;
            let Some(&ext) = self.msg.get(cp) else {
                return rcode;
            };
            if rtype == dns::TYPE_OPT {
                return rcode | u16::from(ext) << 4;
            }
            cp += 4;
            let Some(rdlen) = self.u16_at(cp) else {
                return rcode;
            };
            cp += 2 + usize::from(rdlen);
            if cp >= snap {
                return rcode;
            }
        }
        rcode
    }

    /// A response: flags, counts and the answers.
    fn response(&self, out: &mut Vec<u8>, m: &DnsMessage<'_>) -> Option<()> {
        push_u64(out, m.id().into());
        out.extend_from_slice(OPCODES[m.opcode() as usize & 15].as_bytes());
        let rcode = self.rcode(m);
        match RCODES.get(rcode as usize) {
            Some(r) => out.extend_from_slice(r.as_bytes()),
            None => {
                out.extend_from_slice(b" Resp");
                push_u64(out, u64::from(rcode & 0xfff));
            }
        }
        for (on, c) in [
            (m.authoritative(), b'*'),
            (!m.recursion_available(), b'-'),
            (m.truncated(), b'|'),
            (m.authentic_data(), b'$'),
        ] {
            if on {
                out.push(c);
            }
        }
        let (qd, mut an) = (m.qdcount(), m.ancount());
        if qd != 1 {
            bracket(out, qd, b"q]");
        }
        let mut cp = HEADER_LEN;
        for i in 0..qd {
            if i != 0 {
                out.push(b',');
            }
            cp = skip_name(self.msg, cp)? + 4;
        }
        out.push(b' ');
        push_u64(out, an.into());
        out.push(b'/');
        push_u64(out, m.nscount().into());
        out.push(b'/');
        push_u64(out, m.arcount().into());
        if an > 0 {
            cp = self.record(out, cp)?;
            an -= 1;
            while cp < self.snap() && an > 0 {
                out.push(b',');
                cp = self.record(out, cp)?;
                an -= 1;
            }
        }
        (an == 0).then_some(())
    }

    /// A query: flags, odd counts and the questions.
    fn query(&self, out: &mut Vec<u8>, m: &DnsMessage<'_>) -> Option<()> {
        push_u64(out, m.id().into());
        out.extend_from_slice(OPCODES[m.opcode() as usize & 15].as_bytes());
        if m.recursion_desired() {
            out.push(b'+');
        }
        if m.checking_disabled() {
            out.push(b'%');
        }
        let flags = m.flags();
        if flags & 0x6cf != 0 {
            out.extend_from_slice(b" [b2&3=0x");
            hex(out, flags.into());
            out.push(b']');
        }
        let (mut qd, an) = (m.qdcount(), m.ancount());
        if m.opcode() == dns::OPCODE_IQUERY {
            if qd != 0 {
                bracket(out, qd, b"q]");
            }
            if an != 1 {
                bracket(out, an, b"a]");
            }
        } else {
            if an != 0 {
                bracket(out, an, b"a]");
            }
            if qd != 1 {
                bracket(out, qd, b"q]");
            }
        }
        if m.nscount() != 0 {
            bracket(out, m.nscount(), b"n]");
        }
        if m.arcount() != 0 {
            bracket(out, m.arcount(), b"au]");
        }
        let mut cp = HEADER_LEN;
        if qd > 0 {
            cp = self.question(out, cp)?;
            qd -= 1;
            while cp < self.snap() && qd > 0 {
                cp = self.question(out, cp)?;
                qd -= 1;
            }
        }
        (qd == 0).then_some(())
    }

    /// ` TYPE? name.` (tcpdump's `ns_qprint`); the offset after the question.
    fn question(&self, out: &mut Vec<u8>, at: usize) -> Option<usize> {
        let m = DnsMessage::new_checked(self.msg)?;
        let q = m.question(at)?;
        out.push(b' ');
        type_name(out, q.qtype);
        let class = if self.mdns {
            q.qclass & 0x7fff
        } else {
            q.qclass
        };
        if class != CLASS_IN {
            out.push(b' ');
            class_name(out, class);
        }
        if self.mdns {
            out.extend_from_slice(if q.qclass & 0x8000 != 0 {
                b" (QU)"
            } else {
                b" (QM)"
            });
        }
        out.extend_from_slice(b"? ");
        Some(self.name(out, at)? + 4)
    }

    /// One resource record (tcpdump's `ns_rprint`): its type and data; the offset of
    /// the next. A record whose fixed part is not captured ends the list quietly.
    fn record(&self, out: &mut Vec<u8>, at: usize) -> Option<usize> {
        if self.verbose {
            out.push(b' ');
            self.name(out, at)?;
        }
        let Some(r) = DnsMessage::new_checked(self.msg).and_then(|m| m.record(at)) else {
            return Some(self.snap());
        };
        let class = if self.mdns { r.class & 0x7fff } else { r.class };
        if class != CLASS_IN && r.rtype != dns::TYPE_OPT {
            out.push(b' ');
            class_name(out, class);
        }
        if self.mdns && r.class & 0x8000 != 0 {
            out.extend_from_slice(b" (Cache flush)");
        }
        out.push(b' ');
        type_name(out, r.rtype);
        let (cp, rp) = (r.data, r.data_end());
        if rp > self.snap() {
            return None;
        }
        let data = &self.msg[cp..rp];
        match r.rtype {
            dns::TYPE_A => {
                let a: [u8; 4] = self.msg.get(cp..cp + 4)?.try_into().ok()?;
                out.push(b' ');
                push_ipv4(out, a.into());
            }
            dns::TYPE_NS | dns::TYPE_CNAME | dns::TYPE_PTR | dns::TYPE_DNAME => {
                out.push(b' ');
                self.name(out, cp)?;
            }
            dns::TYPE_MX => {
                out.push(b' ');
                let pref = self.u16_at(cp)?;
                self.name(out, cp + 2)?;
                out.push(b' ');
                push_u64(out, pref.into());
            }
            dns::TYPE_TXT => {
                let mut at = cp;
                while at < rp {
                    out.extend_from_slice(b" \"");
                    at = self.string(out, at)?;
                    out.push(b'"');
                }
            }
            dns::TYPE_SRV => {
                out.push(b' ');
                let (prio, weight, port) =
                    (self.u16_at(cp)?, self.u16_at(cp + 2)?, self.u16_at(cp + 4)?);
                self.name(out, cp + 6)?;
                out.push(b':');
                push_u64(out, port.into());
                out.push(b' ');
                push_u64(out, prio.into());
                out.push(b' ');
                push_u64(out, weight.into());
            }
            dns::TYPE_AAAA => {
                let a: [u8; 16] = self.msg.get(cp..cp + 16)?.try_into().ok()?;
                out.push(b' ');
                push_ipv6(out, a.into());
            }
            dns::TYPE_A6 => self.a6(out, cp)?,
            dns::TYPE_URI => {
                out.push(b' ');
                push_u64(out, self.u16_at(cp)?.into());
                out.push(b' ');
                push_u64(out, self.u16_at(cp + 2)?.into());
                out.push(b' ');
                escaped(out, data.get(4..)?);
            }
            dns::TYPE_OPT => {
                out.extend_from_slice(b" UDPsize=");
                push_u64(out, class.into());
                if r.ttl & 0x8000 != 0 {
                    out.extend_from_slice(b" DO");
                }
                if !data.is_empty() {
                    out.extend_from_slice(b" [");
                    let mut at = 0;
                    while at < data.len() {
                        at = super::edns::option(out, data, at)?;
                        if at < data.len() {
                            out.push(b',');
                        }
                    }
                    out.push(b']');
                }
            }
            dns::TYPE_UNSPECA => escaped(out, data),
            dns::TYPE_SOA if self.verbose => verbose::soa(self, out, cp)?,
            dns::TYPE_TSIG if self.verbose => verbose::tsig(self, out, cp)?,
            _ => {}
        }
        Some(rp)
    }

    /// An A6 record (RFC 2874): prefix length, address suffix, prefix name.
    fn a6(&self, out: &mut Vec<u8>, cp: usize) -> Option<()> {
        let pbit = *self.msg.get(cp)?;
        let pbyte = (pbit & !7) as usize / 8;
        if pbit > 128 {
            out.push(b' ');
            push_u64(out, pbit.into());
            out.extend_from_slice(b"(bad plen)");
            return Some(());
        }
        if pbit < 128 {
            let mut a = [0u8; 16];
            a[pbyte..].copy_from_slice(self.msg.get(cp + 1..cp + 1 + 16 - pbyte)?);
            out.push(b' ');
            push_u64(out, pbit.into());
            out.push(b' ');
            push_ipv6(out, a.into());
        }
        if pbit > 0 {
            out.push(b' ');
            self.name(out, cp + 1 + 16 - pbyte)?;
        }
        Some(())
    }

    /// A `<character-string>`: its bytes, escaped; the offset after it.
    fn string(&self, out: &mut Vec<u8>, at: usize) -> Option<usize> {
        let n = *self.msg.get(at)? as usize;
        let bytes = self.msg.get(at + 1..).unwrap_or(&[]);
        escaped(out, &bytes[..n.min(bytes.len())]);
        (bytes.len() >= n).then_some(at + 1 + n)
    }

    /// The name at `at` (tcpdump's `fqdn_print`); the offset after it in place, or
    /// `None` when it could not be read to its end (a marker says why, if tcpdump
    /// prints one).
    fn name(&self, out: &mut Vec<u8>, at: usize) -> Option<usize> {
        name(out, self.msg, at)
    }
}

/// Prints the name at `at` of `msg`; see [`Printer::name`].
pub(crate) fn name(out: &mut Vec<u8>, msg: &[u8], at: usize) -> Option<usize> {
    let mut chars = 0usize;
    let read = read_name(msg, at, |label| {
        match label {
            Label::Text { bytes, len } => {
                let len = len as usize;
                let room = MAX_NAME_LEN.saturating_sub(chars);
                escaped(out, &bytes[..bytes.len().min(room).min(len)]);
                chars += len;
                if bytes.len() < len {
                    // Cut by the capture: no dot after it.
                    return;
                }
            }
            Label::Bits { bits, bytes } => bit_label(out, bits, bytes),
        }
        if chars <= MAX_NAME_LEN {
            out.push(b'.');
        }
        chars += 1;
    });
    match read {
        Ok(end) => {
            if chars > MAX_NAME_LEN || end.cut {
                out.extend_from_slice(b"<DOMAIN NAME TOO LONG>");
            } else if msg.get(at) == Some(&0) {
                out.push(b'.');
            }
            Some(end.next)
        }
        Err(e) => {
            match e {
                NameError::BadPointer => out.extend_from_slice(b"<BAD PTR>"),
                NameError::BadLabelType => out.extend_from_slice(b"<BAD LABEL TYPE>"),
                NameError::UnknownExtended(t) => {
                    out.extend_from_slice(b"<ELT ");
                    push_u64(out, t.into());
                    out.push(b'>');
                }
                NameError::Truncated => {}
            }
            None
        }
    }
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
