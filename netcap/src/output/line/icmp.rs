//! ICMP for IPv4 as tcpdump's `icmp_print` (print-icmp.c, 4.99) writes it without
//! `-v`: the type's own words, with what the quoted IP header says for the errors
//! (`ICMP 10.0.0.1 udp port 53 unreachable, length 36`), the redirect's gateway, the
//! router advertisement's entries and the time stamps, then `, length N`.
//!
//! tcpdump formats the text before it prints any of it, so a message cut short prints
//! only ` [|icmp]`.
use std::net::Ipv4Addr;

use super::read::{be16_at, be32_at, has, u8_at, v4_at};
use crate::output::{push_ipv4, push_u64, push_u64_padded, HEX_LOWER};

/// Where the quoted IP header starts in the message.
const QUOTED: usize = 8;
/// The quoted header's destination address.
const QUOTED_DST: usize = QUOTED + 16;
/// The quoted header's protocol.
const QUOTED_PROTO: usize = QUOTED + 9;

/// tcpdump's `icmp2str`: the types printed by name alone.
const NAMES: [(u8, &str); 9] = [
    (0, "echo reply"),
    (4, "source quench"),
    (8, "echo request"),
    (10, "router solicitation"),
    (13, "time stamp request"),
    (14, "time stamp reply"),
    (15, "information request"),
    (16, "information reply"),
    (17, "address mask request"),
];

/// An ICMP message: `b` as captured up to the IP packet's end, `length` the IP payload
/// length. Writes `ICMP ..., length N`, or ` [|icmp]` when the message is cut short.
pub(super) fn icmp(out: &mut Vec<u8>, b: &[u8], length: usize) {
    let start = out.len();
    out.extend_from_slice(b"ICMP ");
    if text(out, b).is_none() {
        out.truncate(start);
        out.extend_from_slice(b" [|icmp]");
        return;
    }
    out.extend_from_slice(b", length ");
    push_u64(out, length as u64);
}

/// The words between `ICMP ` and `, length`; `None` where the capture ends first.
fn text(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    let (kind, code) = (u8_at(b, 0)?, u8_at(b, 1)?);
    let dst = || v4_at(b, QUOTED_DST);
    match kind {
        0 | 8 => {
            let (id, seq) = (be16_at(b, 4)?, be16_at(b, 6)?);
            out.extend_from_slice(if kind == 8 {
                b"echo request, id "
            } else {
                b"echo reply, id "
            });
            push_u64(out, id.into());
            out.extend_from_slice(b", seq ");
            push_u64(out, seq.into());
        }
        3 => unreachable(out, b, code)?,
        5 => {
            let (dst, gw) = (dst()?, v4_at(b, 4)?);
            let (word, to): (&[u8], &[u8]) = match code {
                0 => (b"redirect ", b" to net "),
                1 => (b"redirect ", b" to host "),
                2 => (b"redirect-tos ", b" to net "),
                3 => (b"redirect-tos ", b" to host "),
                _ => {
                    out.extend_from_slice(b"redirect-#");
                    push_u64(out, code.into());
                    (b" ", b" to ")
                }
            };
            out.extend_from_slice(word);
            push_ipv4(out, dst);
            out.extend_from_slice(to);
            push_ipv4(out, gw);
        }
        9 => router_advertisement(out, b)?,
        11 => {
            dst()?;
            match code {
                0 => out.extend_from_slice(b"time exceeded in-transit"),
                1 => out.extend_from_slice(b"ip reassembly time exceeded"),
                _ => {
                    out.extend_from_slice(b"time exceeded-#");
                    push_u64(out, code.into());
                }
            }
        }
        12 if code != 0 => {
            out.extend_from_slice(b"parameter problem - code ");
            push_u64(out, code.into());
        }
        12 => {
            let at = u8_at(b, 4)?;
            out.extend_from_slice(b"parameter problem - octet ");
            push_u64(out, at.into());
        }
        18 => {
            let mask = be32_at(b, 8)?;
            out.extend_from_slice(b"address mask is 0x");
            for shift in (0..8).rev() {
                out.push(HEX_LOWER[((mask >> (4 * shift)) & 15) as usize]);
            }
        }
        13 => {
            let (id, seq) = (be16_at(b, 4)?, be16_at(b, 6)?);
            out.extend_from_slice(b"time stamp query id ");
            push_u64(out, id.into());
            out.extend_from_slice(b" seq ");
            push_u64(out, seq.into());
        }
        14 => {
            let ttime = be32_at(b, 16)?;
            let (id, seq) = (be16_at(b, 4)?, be16_at(b, 6)?);
            let (otime, rtime) = (be32_at(b, 8)?, be32_at(b, 12)?);
            out.extend_from_slice(b"time stamp reply id ");
            push_u64(out, id.into());
            out.extend_from_slice(b" seq ");
            push_u64(out, seq.into());
            out.extend_from_slice(b": org ");
            time_stamp(out, otime);
            out.extend_from_slice(b", recv ");
            time_stamp(out, rtime);
            out.extend_from_slice(b", xmit ");
            time_stamp(out, ttime);
        }
        _ => match NAMES.iter().find(|(t, _)| *t == kind) {
            Some((_, name)) => out.extend_from_slice(name.as_bytes()),
            None => {
                out.extend_from_slice(b"type-#");
                push_u64(out, kind.into());
            }
        },
    }
    Some(())
}

/// Destination unreachable: the quoted packet's destination (and, for a port, its
/// protocol and destination port) in the words of each code.
fn unreachable(out: &mut Vec<u8>, b: &[u8], code: u8) -> Option<()> {
    let dst = v4_at(b, QUOTED_DST);
    let word = |out: &mut Vec<u8>, before: &[u8], dst: Ipv4Addr, after: &[u8]| {
        out.extend_from_slice(before);
        push_ipv4(out, dst);
        out.extend_from_slice(after);
    };
    match code {
        3 => {
            let proto = u8_at(b, QUOTED_PROTO)?;
            let hlen = usize::from(u8_at(b, QUOTED)? & 0x0f) * 4;
            let dport = be16_at(b, QUOTED + hlen + 2)?;
            push_ipv4(out, dst?);
            port_of(out, proto);
            push_u64(out, dport.into());
            out.extend_from_slice(b" unreachable");
        }
        2 => {
            let proto = u8_at(b, QUOTED_PROTO)?;
            push_ipv4(out, dst?);
            out.extend_from_slice(b" protocol ");
            push_u64(out, proto.into());
            out.extend_from_slice(b" unreachable");
        }
        4 => {
            let mtu = be16_at(b, 6)?;
            push_ipv4(out, dst?);
            out.extend_from_slice(b" unreachable - need to frag");
            if mtu != 0 {
                out.extend_from_slice(b" (mtu ");
                push_u64(out, mtu.into());
                out.push(b')');
            }
        }
        0 => word(out, b"net ", dst?, b" unreachable"),
        1 => word(out, b"host ", dst?, b" unreachable"),
        5 => word(out, b"", dst?, b" unreachable - source route failed"),
        6 => word(out, b"net ", dst?, b" unreachable - unknown"),
        7 => word(out, b"host ", dst?, b" unreachable - unknown"),
        8 => word(out, b"", dst?, b" unreachable - source host isolated"),
        9 => word(out, b"net ", dst?, b" unreachable - admin prohibited"),
        10 => word(out, b"host ", dst?, b" unreachable - admin prohibited"),
        11 => word(out, b"net ", dst?, b" unreachable - tos prohibited"),
        12 => word(out, b"host ", dst?, b" unreachable - tos prohibited"),
        13 => word(
            out,
            b"host ",
            dst?,
            b" unreachable - admin prohibited filter",
        ),
        14 => word(
            out,
            b"host ",
            dst?,
            b" unreachable - host precedence violation",
        ),
        15 => word(out, b"host ", dst?, b" unreachable - precedence cutoff"),
        _ => {
            word(out, b"", dst?, b" unreachable - #");
            push_u64(out, code.into());
        }
    }
    Some(())
}

/// `router advertisement lifetime 30:00 1: {10.0.0.1 0}` (RFC 1256).
fn router_advertisement(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    if !has(b, 4, 4) {
        return None;
    }
    let (num, size, lifetime) = (u8_at(b, 4)?, u8_at(b, 5)?, be16_at(b, 6)?);
    out.extend_from_slice(b"router advertisement lifetime ");
    let lifetime = u64::from(lifetime);
    if lifetime < 60 {
        push_u64(out, lifetime);
    } else if lifetime < 3600 {
        push_u64(out, lifetime / 60);
        out.push(b':');
        push_u64_padded(out, lifetime % 60, 2);
    } else {
        push_u64(out, lifetime / 3600);
        out.push(b':');
        push_u64_padded(out, lifetime % 3600 / 60, 2);
        out.push(b':');
        push_u64_padded(out, lifetime % 60, 2);
    }
    out.push(b' ');
    push_u64(out, num.into());
    out.push(b':');
    if size != 2 {
        out.extend_from_slice(b" [size ");
        push_u64(out, size.into());
        out.push(b']');
        return Some(());
    }
    for i in 0..usize::from(num) {
        let at = 8 + 8 * i;
        let (addr, pref) = (v4_at(b, at)?, be32_at(b, at + 4)?);
        out.extend_from_slice(b" {");
        push_ipv4(out, addr);
        out.push(b' ');
        push_u64(out, pref.into());
        out.push(b'}');
    }
    Some(())
}

/// Milliseconds since midnight UTC as `HH:MM:SS.mmm` (tcpdump's `icmp_tstamp_print`).
fn time_stamp(out: &mut Vec<u8>, ms: u32) {
    let (ms, s) = (u64::from(ms % 1000), u64::from(ms / 1000));
    push_u64_padded(out, s / 3600, 2);
    out.push(b':');
    push_u64_padded(out, s / 60 % 60, 2);
    out.push(b':');
    push_u64_padded(out, s % 60, 2);
    out.push(b'.');
    push_u64_padded(out, ms, 3);
}

/// ` tcp port `, ` udp port ` or ` protocol N port `: what names the port of a
/// "port unreachable" (ICMP's and ICMPv6's, as tcpdump writes both).
pub(super) fn port_of(out: &mut Vec<u8>, proto: u8) {
    match proto {
        6 => out.extend_from_slice(b" tcp port "),
        17 => out.extend_from_slice(b" udp port "),
        _ => {
            out.extend_from_slice(b" protocol ");
            push_u64(out, proto.into());
            out.extend_from_slice(b" port ");
        }
    }
}

#[cfg(test)]
#[path = "icmp_tests.rs"]
mod tests;
