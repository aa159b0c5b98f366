//! ICMPv6 as tcpdump's `icmp6_print` (print-icmp6.c, 4.99) writes it without `-v`:
//! the type's name, then what each type adds (the quoted packet's destination for the
//! errors, echo id and sequence, MLD groups, neighbor discovery targets, node
//! information queries and replies, router renumbering, RPL), then `, length N`.
//! A type tcpdump does not dissect is followed by its bytes in hex.
//!
//! tcpdump prints as it reads here, so a message cut short keeps what came before its
//! ` [|icmp6]` mark.
use std::net::Ipv6Addr;

use super::dump;
use super::read::{be16_at, be32_at, has, u8_at, v4_at, v6_at};
use crate::output::{push_ipv4, push_ipv6, push_u64, HEX_LOWER};

/// tcpdump's `icmp6_type_values`.
/// (139 and 140 are named twice there: the first names win.)
const NAMES: [(u8, &str); 27] = [
    (1, "destination unreachable"),
    (2, "packet too big"),
    (3, "time exceeded in-transit"),
    (4, "parameter problem"),
    (128, "echo request"),
    (129, "echo reply"),
    (130, "multicast listener query"),
    (131, "multicast listener report"),
    (132, "multicast listener done"),
    (133, "router solicitation"),
    (134, "router advertisement"),
    (135, "neighbor solicitation"),
    (136, "neighbor advertisement"),
    (137, "redirect"),
    (138, "router renumbering"),
    (141, "inverse neighbor solicitation"),
    (142, "inverse neighbor advertisement"),
    (143, "multicast listener report v2"),
    (144, "ha discovery request"),
    (145, "ha discovery reply"),
    (146, "mobile router solicitation"),
    (147, "mobile router advertisement"),
    (139, "who-are-you request"),
    (140, "who-are-you reply"),
    (201, "mtrace message"),
    (200, "mtrace response"),
    (155, "RPL"),
];

/// The quoted packet's IPv6 header, after the 8-byte ICMPv6 header.
const QUOTED: usize = 8;

/// How a message's text ended.
enum End {
    /// Its words are out; `, length N` follows.
    Length,
    /// tcpdump stops after what it wrote (a hex dump, a complaint).
    Done,
}

/// An ICMPv6 message: `b` as captured up to the IPv6 payload's end, `length` the
/// payload length after the extension headers. With `-v` (`verbose`), what
/// [`super::icmp6_verbose`] adds, and no `, length N` at the end.
pub(super) fn icmp6(out: &mut Vec<u8>, b: &[u8], length: usize, verbose: bool) {
    if length == 0 {
        return out.extend_from_slice(b"ICMP6, length 0 (invalid)");
    }
    match text(out, b, length, verbose) {
        Some(End::Length) if verbose => {}
        Some(End::Length) => {
            out.extend_from_slice(b", length ");
            push_u64(out, length as u64);
        }
        Some(End::Done) => {}
        None => out.extend_from_slice(b" [|icmp6]"),
    }
}

fn text(out: &mut Vec<u8>, b: &[u8], length: usize, verbose: bool) -> Option<End> {
    let kind = u8_at(b, 0)?;
    out.extend_from_slice(b"ICMP6, ");
    match NAMES.iter().find(|(t, _)| *t == kind) {
        Some((_, name)) => out.extend_from_slice(name.as_bytes()),
        None => {
            out.extend_from_slice(b"unknown icmp6 type (");
            push_u64(out, kind.into());
            out.push(b')');
        }
    }
    if verbose && matches!(kind, 133..=137 | 145 | 147) {
        out.extend_from_slice(b", length ");
        push_u64(out, length as u64);
    }
    let code = u8_at(b, 1)?;
    let addr = |out: &mut Vec<u8>, at: usize| v6_at(b, at).map(|a| push_ipv6(out, a));
    use super::icmp6_verbose as v;
    match kind {
        1 => return unreachable(out, b, code, length),
        2 => {
            let mtu = be32_at(b, 4)?;
            out.extend_from_slice(b", mtu ");
            push_u64(out, mtu.into());
        }
        3 => match code {
            0 => {
                out.extend_from_slice(b" for ");
                addr(out, QUOTED + 24)?;
            }
            1 => out.extend_from_slice(b" (reassembly)"),
            _ => {
                out.extend_from_slice(b", unknown code (");
                push_u64(out, code.into());
                out.push(b')');
            }
        },
        4 => {
            if !has(b, QUOTED + 24, 16) {
                return None;
            }
            let words: &[u8] = match code {
                0 => b", erroneous - octet ",
                1 => b", next header - octet ",
                2 => b", option - octet ",
                3 => b", incomplete header chain - octet ",
                _ => {
                    out.extend_from_slice(b", code-#");
                    push_u64(out, code.into());
                    return Some(End::Length);
                }
            };
            let at = be32_at(b, 4)?;
            out.extend_from_slice(words);
            push_u64(out, at.into());
        }
        128 | 129 => {
            let (id, seq) = (be16_at(b, 4)?, be16_at(b, 6)?);
            out.extend_from_slice(b", id ");
            push_u64(out, id.into());
            out.extend_from_slice(b", seq ");
            push_u64(out, seq.into());
        }
        130 if length == 24 => mld(out, b)?,
        130 if length >= 28 => {
            out.extend_from_slice(b" v2");
            mldv2_query(out, b, length, verbose)?;
        }
        130 => {
            out.extend_from_slice(b" unknown-version (len ");
            push_u64(out, length as u64);
            out.extend_from_slice(b") ");
        }
        131 | 132 => mld(out, b)?,
        133 if verbose => v::options(out, b, 8, length)?,
        134 if verbose => v::router_advertisement(out, b, length)?,
        145 if verbose => v::home_agents(out, b, length)?,
        147 if verbose => v::mobile_prefix(out, b, length)?,
        133 | 134 | 141 | 142 | 145 | 147 => {}
        135 => {
            out.extend_from_slice(b", who has ");
            addr(out, 8)?;
            if verbose {
                v::options(out, b, 24, length)?;
            }
        }
        136 => {
            out.extend_from_slice(b", tgt is ");
            addr(out, 8)?;
            if verbose {
                v::neighbor_advertisement(out, b, length)?;
            }
        }
        137 => {
            out.extend_from_slice(b", ");
            addr(out, 8)?;
            out.extend_from_slice(b" to ");
            addr(out, 24)?;
            if verbose {
                v::options(out, b, 40, length)?;
            }
        }
        138 => super::icmp6_more::renumbering(out, b)?,
        139 | 140 => super::icmp6_more::node_information(out, b, length)?,
        143 => {
            if length < 8 {
                out.extend_from_slice(b" [invalid len ");
                push_u64(out, length as u64);
                out.push(b']');
            } else {
                let groups = be16_at(b, 6)?;
                out.extend_from_slice(b", ");
                push_u64(out, groups.into());
                out.extend_from_slice(b" group record(s)");
                if verbose {
                    v::report_groups(out, b, length)?;
                }
            }
        }
        144 | 146 => {
            let id = be16_at(b, 4)?;
            out.extend_from_slice(b", id 0x");
            push_hex4(out, id);
        }
        155 => super::icmp6_more::rpl(out, code),
        _ => {
            out.extend_from_slice(b", length ");
            push_u64(out, length as u64);
            unknown_data(out, b, length);
            return Some(End::Done);
        }
    }
    Some(End::Length)
}

/// Destination unreachable: the code's words and the quoted packet's addresses (and
/// port, for code 4); other codes are followed by the message in hex.
fn unreachable(out: &mut Vec<u8>, b: &[u8], code: u8, length: usize) -> Option<End> {
    const CODES: [&str; 5] = [
        "unreachable route",
        " unreachable prohibited",
        "beyond scope",
        "unreachable address",
        "unreachable port",
    ];
    out.extend_from_slice(b", ");
    match CODES.get(usize::from(code)) {
        Some(words) => out.extend_from_slice(words.as_bytes()),
        None => {
            out.extend_from_slice(b"unknown unreach code (");
            push_u64(out, code.into());
            out.push(b')');
        }
    }
    let dst = || v6_at(b, QUOTED + 24);
    match code {
        0 | 1 | 3 => {
            out.push(b' ');
            push_ipv6(out, dst()?);
        }
        2 => {
            out.push(b' ');
            push_ipv6(out, dst()?);
            out.extend_from_slice(b", source address ");
            push_ipv6(out, v6_at(b, QUOTED + 8)?);
        }
        4 => {
            let (proto, at) = upper_layer(b.get(QUOTED..).unwrap_or(&[]))?;
            let dport = be16_at(b, QUOTED + at + 2)?;
            out.extend_from_slice(b", ");
            push_ipv6(out, dst()?);
            super::icmp::port_of(out, proto);
            push_u64(out, dport.into());
            if !matches!(proto, 6 | 17) {
                out.extend_from_slice(b" unreachable");
            }
        }
        _ => {
            unknown_data(out, b, length);
            return Some(End::Done);
        }
    }
    Some(End::Length)
}

/// tcpdump's `get_upperlayer`: through the quoted packet's extension headers to a TCP
/// or UDP header whose ports were captured; its protocol and offset in `ip`.
fn upper_layer(ip: &[u8]) -> Option<(u8, usize)> {
    let mut next = u8_at(ip, 6)?;
    let (mut at, mut advance) = (0, 40);
    while at < ip.len() {
        at += advance;
        match next {
            6 | 17 => return has(ip, at + 2, 2).then_some((next, at)),
            0 | 43 | 60 => {
                let len = u8_at(ip, at + 1)?;
                next = u8_at(ip, at)?;
                advance = (usize::from(len) + 1) * 8;
            }
            44 => {
                if be16_at(ip, at + 2)? & 0xfff8 != 0 {
                    return None;
                }
                next = u8_at(ip, at)?;
                advance = 8;
            }
            51 => {
                let len = u8_at(ip, at + 1)?;
                next = u8_at(ip, at)?;
                advance = (usize::from(len) + 2) * 4;
            }
            _ => return None,
        }
    }
    None
}

/// MLDv1 (`mld6_print`): nothing when the 24-byte message was not captured whole.
fn mld(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    if b.len() < 24 {
        return Some(());
    }
    out.extend_from_slice(b"max resp delay: ");
    push_u64(out, be16_at(b, 4)?.into());
    out.extend_from_slice(b" addr: ");
    push_ipv6(out, v6_at(b, 8)?);
    Some(())
}

/// An MLDv2 query (`mldv2_query_print`): ` [gaddr G, N source(s)]`.
fn mldv2_query(out: &mut Vec<u8>, b: &[u8], length: usize, verbose: bool) -> Option<()> {
    if length < 28 {
        out.extend_from_slice(b" [invalid len ");
        push_u64(out, length as u64);
        out.push(b']');
        return Some(());
    }
    be16_at(b, 4)?;
    if verbose {
        super::icmp6_verbose::query_delay(out, b)?;
    }
    out.extend_from_slice(b" [gaddr ");
    push_ipv6(out, v6_at(b, 8)?);
    if verbose {
        super::icmp6_verbose::query_fields(out, b)?;
    }
    let sources = usize::from(be16_at(b, 26)?);
    if sources > 0 {
        if length < 28 + sources * 16 {
            out.extend_from_slice(b" [invalid number of sources]");
        } else {
            out.extend_from_slice(b", ");
            push_u64(out, sources as u64);
            out.extend_from_slice(b" source(s)");
        }
    }
    out.push(b']');
    Some(())
}

/// tcpdump's `print_unknown_data`: up to `length` captured bytes in hex.
pub(super) fn unknown_data(out: &mut Vec<u8>, b: &[u8], length: usize) {
    dump::hex(out, b"\n\t", &b[..length.min(b.len())], 0);
}

/// `%04x`.
fn push_hex4(out: &mut Vec<u8>, v: u16) {
    for shift in [12, 8, 4, 0] {
        out.push(HEX_LOWER[usize::from((v >> shift) & 15)]);
    }
}

/// An IPv4 address in a node information message.
pub(super) fn v4(out: &mut Vec<u8>, b: &[u8], at: usize) -> Option<()> {
    push_ipv4(out, v4_at(b, at)?);
    Some(())
}

/// An IPv6 address in a node information message.
pub(super) fn v6(out: &mut Vec<u8>, b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let a = v6_at(b, at)?;
    push_ipv6(out, a);
    Some(a)
}

#[cfg(test)]
#[path = "icmp6_tests.rs"]
mod tests;
