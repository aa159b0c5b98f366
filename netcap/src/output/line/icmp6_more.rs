//! The longer ICMPv6 messages of [`icmp6`](super::icmp6): node information (RFC 4620,
//! `icmp6_nodeinfo_print`), router renumbering (RFC 2894, `icmp6_rrenum_print`) and
//! RPL (RFC 6550, `rpl_print`), without `-v`.
//!
//! tcpdump's own checks in these printers end the message with ` [|icmp6]` and still
//! print its `, length N` (they return `Some`); a read past the capture ends the line
//! at the mark (`None`).
use super::icmp6::{v4, v6};
use super::read::{be16_at, be32_at, has, u8_at, v6_at};
use crate::output::{push_ipv6, push_u64};

const TRUNC: &[u8] = b" [|icmp6]";

/// Node information query (139) or reply (140); `b` is the message as captured up to
/// the IPv6 payload's end (tcpdump's `siz`), `length` its length from the IP header.
pub(super) fn node_information(out: &mut Vec<u8>, b: &[u8], length: usize) -> Option<()> {
    let size = b.len();
    if u8_at(b, 0)? == 139 {
        if size == 12 {
            out.extend_from_slice(b" who-are-you request");
            return Some(());
        }
        out.extend_from_slice(b" node information query");
        if size < 16 {
            out.extend_from_slice(TRUNC);
            return Some(());
        }
        out.extend_from_slice(b" (");
        let qtype = be16_at(b, 4)?;
        qtype_words(out, qtype, be16_at(b, 6)?, false);
        if qtype <= 1 {
            out.push(b')');
            return Some(());
        }
        if size == 16 {
            out.extend_from_slice(b", 03 draft)");
            return Some(());
        }
        match u8_at(b, 1)? {
            0 if has(b, 0, 32) && size == 32 => {
                out.extend_from_slice(b", subject=");
                v6(out, b, 16)?;
            }
            0 => {}
            1 => {
                out.extend_from_slice(b", subject=DNS name");
                name(out, b, 16)?;
            }
            2 if has(b, 0, 20) && size == 20 => {
                out.extend_from_slice(b", subject=");
                v4(out, b, 16)?;
            }
            2 => {}
            _ => out.extend_from_slice(b", unknown subject"),
        }
        out.push(b')');
        return Some(());
    }
    if length > size || size < 16 {
        out.extend_from_slice(TRUNC);
        return Some(());
    }
    out.extend_from_slice(b" node information reply (");
    match u8_at(b, 1)? {
        0 => {}
        code => {
            if code == 1 {
                out.extend_from_slice(b"refused");
            } else if code == 2 {
                out.extend_from_slice(b"unknown");
            }
            out.push(b')');
            return Some(());
        }
    }
    let (qtype, flags) = (be16_at(b, 4)?, be16_at(b, 6)?);
    match qtype {
        2 => {
            out.extend_from_slice(b"DNS name");
            name(out, b, 20)?;
            if flags & 1 != 0 {
                out.extend_from_slice(b" [TTL=");
                push_u64(out, be32_at(b, 16)?.into());
                out.push(b']');
            }
        }
        3 => {
            out.extend_from_slice(b"node addresses");
            let mut at = 16;
            while at + 20 <= size {
                out.push(b' ');
                push_ipv6(out, v6_at(b, at + 4)?);
                out.push(b'(');
                push_u64(out, be32_at(b, at)?.into());
                out.push(b')');
                at += 20;
            }
            address_flags(out, flags, true);
        }
        _ => qtype_words(out, qtype, flags, true),
    }
    out.push(b')');
    Some(())
}

/// A query type's words (`noop`, `supported qtypes [C]`, `DNS name`, `node addresses
/// [A]`, `unknown`); a reply's node addresses are printed by the caller.
fn qtype_words(out: &mut Vec<u8>, qtype: u16, flags: u16, reply: bool) {
    match qtype {
        0 => out.extend_from_slice(b"noop"),
        1 => {
            out.extend_from_slice(b"supported qtypes");
            if flags != 0 {
                out.extend_from_slice(if flags & 1 != 0 { b" [C]" } else { b" []" });
            }
        }
        2 => out.extend_from_slice(b"DNS name"),
        3 => {
            out.extend_from_slice(b"node addresses");
            address_flags(out, flags, reply);
        }
        _ => out.extend_from_slice(b"unknown"),
    }
}

/// ` [aGSLCA]` (and `T` in a reply) for the node address flags that are set.
fn address_flags(out: &mut Vec<u8>, flags: u16, reply: bool) {
    if flags == 0 {
        return;
    }
    out.extend_from_slice(b" [");
    for (bit, c) in [
        (0x40, b'a'),
        (0x20, b'G'),
        (0x10, b'S'),
        (0x08, b'L'),
        (0x04, b'C'),
        (0x02, b'A'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    if reply && flags & 1 != 0 {
        out.push(b'T');
    }
    out.push(b']');
}

/// A DNS name from `at` to the end of `b`: a length-prefixed string (draft 03) or
/// labels without compression (`dnsname_print`).
fn name(out: &mut Vec<u8>, b: &[u8], at: usize) -> Option<()> {
    let end = b.len();
    if usize::from(u8_at(b, at)?) + at + 1 == end {
        out.extend_from_slice(b", \"");
        b[at + 1..].iter().for_each(|&c| print_char(out, c));
        out.push(b'"');
        return Some(());
    }
    out.extend_from_slice(b", \"");
    let mut cp = at;
    while cp < end {
        let n = usize::from(b[cp]);
        cp += 1;
        if n == 0 {
            if cp == end {
                out.push(b'.');
            } else if !(cp + 1 == end && b[cp] == 0) {
                out.extend_from_slice(b"???");
            }
            break;
        }
        if n > end - cp {
            out.extend_from_slice(b"???");
            break;
        }
        b[cp..cp + n].iter().for_each(|&c| print_char(out, c));
        cp += n;
        if cp + 1 < end && b[cp] != 0 {
            out.push(b'.');
        }
    }
    out.push(b'"');
    Some(())
}

/// tcpdump's `fn_print_char`: `M-` before a byte above 127, `^` before a control.
fn print_char(out: &mut Vec<u8>, mut c: u8) {
    if !c.is_ascii() {
        out.extend_from_slice(b"M-");
        c &= 0x7f;
    }
    if !(0x20..0x7f).contains(&c) {
        c ^= 0x40;
        out.push(b'^');
    }
    out.push(c);
}

/// Router renumbering: the code, the sequence number and, for a command, the match
/// prefix and its use prefixes.
pub(super) fn renumbering(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    if !has(b, 12, 4) {
        out.extend_from_slice(TRUNC);
        return Some(());
    }
    let code = u8_at(b, 1)?;
    match code {
        0 => out.extend_from_slice(b", command"),
        1 => out.extend_from_slice(b", result"),
        255 => out.extend_from_slice(b", sequence number reset"),
        _ => {
            out.extend_from_slice(b", code-#");
            push_u64(out, code.into());
        }
    }
    out.extend_from_slice(b", seq=");
    push_u64(out, be32_at(b, 4)?.into());
    if code != 0 {
        return Some(());
    }
    const MATCH: usize = 16;
    let Some(prefix) = v6_at(b, MATCH + 8) else {
        out.extend_from_slice(TRUNC);
        return Some(());
    };
    out.extend_from_slice(b" match(");
    match u8_at(b, MATCH)? {
        1 => out.extend_from_slice(b"add"),
        2 => out.extend_from_slice(b"change"),
        3 => out.extend_from_slice(b"setglobal"),
        n => {
            out.push(b'#');
            push_u64(out, n.into());
        }
    }
    out.push(b',');
    push_ipv6(out, prefix);
    out.push(b'/');
    push_u64(out, u8_at(b, MATCH + 3)?.into());
    out.push(b')');
    let words = i32::from(u8_at(b, MATCH + 1)?) - 3;
    if words % 4 != 0 {
        out.extend_from_slice(TRUNC);
        return Some(());
    }
    let mut at = MATCH + 24;
    for _ in 0..words / 4 {
        let Some(prefix) = v6_at(b, at + 16) else {
            out.extend_from_slice(TRUNC);
            return Some(());
        };
        out.extend_from_slice(b" use(");
        let flags = u8_at(b, at + 12)?;
        if flags != 0 {
            if flags & 0x80 != 0 {
                out.push(b'V');
            }
            if flags & 0x40 != 0 {
                out.push(b'P');
            }
            out.push(b',');
        }
        push_ipv6(out, prefix);
        out.push(b'/');
        push_u64(out, u8_at(b, at)?.into());
        out.push(b'/');
        push_u64(out, u8_at(b, at + 1)?.into());
        out.push(b')');
        at += 32;
    }
    Some(())
}

/// RPL (type 155): secured or clear, and the control message's name.
pub(super) fn rpl(out: &mut Vec<u8>, code: u8) {
    if code & 0x80 != 0 {
        return out.extend_from_slice(b", (SEC) [worktodo]");
    }
    out.extend_from_slice(b", (CLR)");
    match code {
        0 => out.extend_from_slice(b"DODAG Information Solicitation"),
        1 => out.extend_from_slice(b"DODAG Information Object"),
        2 => out.extend_from_slice(b"Destination Advertisement Object"),
        3 => out.extend_from_slice(b"Destination Advertisement Object Ack"),
        _ => {
            out.extend_from_slice(b"RPL message, unknown code ");
            push_u64(out, code.into());
        }
    }
}
