//! What `-v` adds to ICMPv6 (tcpdump 4.99's `icmp6_print` under `-v`): neighbor
//! discovery's options (`icmp6_opt_print`: link-layer addresses, prefixes, MTU,
//! RDNSS, DNSSL, route information, ...), a router advertisement's fields, a neighbor
//! advertisement's flags, MLDv2's group records and query fields, the home agent and
//! mobile prefix messages. Each returns `None` where the capture ends (` [|icmp6]`).
use super::read::{be16_at, be32_at, u8_at, v6_at};
use super::verbose::push_hex;
use crate::output::{push_ipv6, push_u64};

/// `, Flags [a, b]` words from a table of bits (tcpdump's `bittok2str`).
fn flags(out: &mut Vec<u8>, v: u32, table: &[(u32, &str)]) {
    out.extend_from_slice(b"Flags [");
    let mut any = false;
    for (bit, name) in table {
        if v & bit == *bit {
            if any {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(name.as_bytes());
            any = true;
        }
    }
    if !any {
        out.extend_from_slice(b"none");
    }
    out.push(b']');
}

/// tcpdump's `get_rtpref`.
fn preference(v: u8) -> &'static [u8] {
    match (v & 0x18) >> 3 {
        0 => b"medium",
        1 => b"high",
        2 => b"rsv",
        _ => b"low",
    }
}

/// tcpdump's `get_lifetime`.
fn lifetime(out: &mut Vec<u8>, v: u32) {
    if v == u32::MAX {
        out.extend_from_slice(b"infinity");
    } else {
        push_u64(out, v.into());
        out.push(b's');
    }
}

/// A router advertisement's fields on their own line, then its options.
pub(super) fn router_advertisement(out: &mut Vec<u8>, b: &[u8], length: usize) -> Option<()> {
    let (hops, f) = (u8_at(b, 4)?, u8_at(b, 5)?);
    let (life, reach, retrans) = (be16_at(b, 6)?, be32_at(b, 8)?, be32_at(b, 12)?);
    out.extend_from_slice(b"\n\thop limit ");
    push_u64(out, hops.into());
    out.extend_from_slice(b", ");
    let table = [
        (0x80, "managed"),
        (0x40, "other stateful"),
        (0x20, "home agent"),
        (0x02, "ipv6 only"),
    ];
    flags(out, f.into(), &table);
    out.extend_from_slice(b", pref ");
    out.extend_from_slice(preference(f));
    out.extend_from_slice(b", router lifetime ");
    push_u64(out, life.into());
    out.extend_from_slice(b"s, reachable time ");
    push_u64(out, reach.into());
    out.extend_from_slice(b"ms, retrans timer ");
    push_u64(out, retrans.into());
    out.extend_from_slice(b"ms");
    options(out, b, 16, length)
}

/// A neighbor advertisement's `, Flags [router, solicited, override]`, then options.
pub(super) fn neighbor_advertisement(out: &mut Vec<u8>, b: &[u8], length: usize) -> Option<()> {
    let f = be32_at(b, 4)?;
    out.extend_from_slice(b", ");
    let table = [
        (0x8000_0000, "router"),
        (0x4000_0000, "solicited"),
        (0x2000_0000, "override"),
    ];
    flags(out, f, &table);
    options(out, b, 24, length)
}

/// Home agent discovery reply: its id and the home agents' addresses.
pub(super) fn home_agents(out: &mut Vec<u8>, b: &[u8], length: usize) -> Option<()> {
    out.extend_from_slice(b", id 0x");
    push_hex(out, be16_at(b, 4)?.into(), 4);
    let mut at = 8;
    while at < length {
        out.extend_from_slice(b", ");
        push_ipv6(out, v6_at(b, at)?);
        at += 16;
    }
    Some(())
}

/// Mobile prefix advertisement: its id, `M` and `O` flags, then options.
pub(super) fn mobile_prefix(out: &mut Vec<u8>, b: &[u8], length: usize) -> Option<()> {
    out.extend_from_slice(b", id 0x");
    push_hex(out, be16_at(b, 4)?.into(), 4);
    let f = be16_at(b, 6)?;
    if f & 0xc000 != 0 {
        out.push(b' ');
    }
    if f & 0x8000 != 0 {
        out.push(b'M');
    }
    if f & 0x4000 != 0 {
        out.push(b'O');
    }
    options(out, b, 8, length)
}

/// tcpdump's `icmp6_opt_values`.
fn option_name(t: u8) -> &'static [u8] {
    match t {
        1 => b"source link-address",
        2 => b"destination link-address",
        3 => b"prefix info",
        4 => b"redirected header",
        5 => b"mtu",
        25 => b"rdnss",
        31 => b"dnssl",
        7 => b"advertisement interval",
        8 => b"homeagent information",
        24 => b"route info",
        _ => b"unknown",
    }
}

/// Neighbor discovery options from `start` of the message `b` (`icmp6_opt_print`):
/// one line each. `length` is the message's length.
pub(super) fn options(out: &mut Vec<u8>, b: &[u8], start: usize, length: usize) -> Option<()> {
    let mut resid = length as i64 - start as i64;
    let mut cp = start;
    while cp < b.len() {
        let kind = u8_at(b, cp)?;
        let len = usize::from(u8_at(b, cp + 1)?);
        if resid <= 0 {
            return Some(());
        }
        if len == 0 || cp + len * 8 > b.len() {
            return None;
        }
        let o = &b[cp..cp + len * 8];
        out.extend_from_slice(b"\n\t  ");
        out.extend_from_slice(option_name(kind));
        out.extend_from_slice(b" option (");
        push_u64(out, kind.into());
        out.extend_from_slice(b"), length ");
        push_u64(out, (len * 8) as u64);
        out.extend_from_slice(b" (");
        push_u64(out, len as u64);
        out.extend_from_slice(b"): ");
        match kind {
            1 | 2 => {
                for (i, &x) in o[2..].iter().enumerate() {
                    if i > 0 {
                        out.push(b':');
                    }
                    push_hex(out, x.into(), 2);
                }
            }
            3 => {
                push_ipv6(out, v6_at(o, 16)?);
                out.push(b'/');
                push_u64(out, u8_at(o, 2)?.into());
                if len != 4 {
                    out.extend_from_slice(b"badlen");
                }
                out.extend_from_slice(b", ");
                let table = [(0x80, "onlink"), (0x40, "auto"), (0x20, "router")];
                flags(out, u8_at(o, 3)?.into(), &table);
                out.extend_from_slice(b", valid time ");
                lifetime(out, be32_at(o, 4)?);
                out.extend_from_slice(b", pref. time ");
                lifetime(out, be32_at(o, 8)?);
            }
            4 => super::dump::hex(out, b"\n\t    ", &b[start..(start + len * 8)], 0),
            5 => {
                out.push(b' ');
                push_u64(out, be32_at(o, 4)?.into());
                if len != 1 {
                    out.extend_from_slice(b"bad option length");
                }
            }
            25 => {
                out.extend_from_slice(b" lifetime ");
                push_u64(out, be32_at(o, 4)?.into());
                out.extend_from_slice(b"s,");
                for i in 0..(len - 1) / 2 {
                    out.extend_from_slice(b" addr: ");
                    push_ipv6(out, v6_at(o, 8 + 16 * i)?);
                }
            }
            31 => {
                out.extend_from_slice(b" lifetime ");
                push_u64(out, be32_at(o, 4)?.into());
                out.extend_from_slice(b"s, domain(s):");
                let opts = &b[start..];
                let mut at = cp - start + 8;
                while at < cp - start + len * 8 && u8_at(opts, at)? != 0 {
                    out.push(b' ');
                    at = super::dns::name(out, opts, at)?;
                }
            }
            7 => {
                out.push(b' ');
                push_u64(out, be32_at(o, 4)?.into());
                out.extend_from_slice(b"ms");
            }
            8 => {
                out.extend_from_slice(b" preference ");
                push_u64(out, be16_at(o, 4)?.into());
                out.extend_from_slice(b", lifetime ");
                push_u64(out, be16_at(o, 6)?.into());
            }
            24 => {
                be32_at(o, 4)?;
                let mut prefix = [0u8; 16];
                match len {
                    1 => {}
                    2 => prefix[..8].copy_from_slice(o.get(8..16)?),
                    3 => prefix.copy_from_slice(o.get(8..24)?),
                    _ => return None,
                }
                out.push(b' ');
                push_ipv6(out, prefix.into());
                out.push(b'/');
                push_u64(out, u8_at(o, 2)?.into());
                out.extend_from_slice(b", pref=");
                out.extend_from_slice(preference(u8_at(o, 3)?));
                out.extend_from_slice(b", lifetime=");
                lifetime(out, be32_at(o, 4)?);
            }
            _ => {
                super::dump::hex(out, b"\n\t  ", &o[2..], 0);
                return Some(());
            }
        }
        cp += len * 8;
        resid -= (len * 8) as i64;
    }
    Some(())
}

/// MLDv2 report's group records under `-v`: ` [gaddr G to_ex, N source(s)]` each.
pub(super) fn report_groups(out: &mut Vec<u8>, b: &[u8], length: usize) -> Option<()> {
    let groups = be16_at(b, 6)?;
    let mut at = 8;
    for _ in 0..groups {
        if length < at + 20 {
            out.extend_from_slice(b" [invalid number of groups]");
            return Some(());
        }
        out.extend_from_slice(b" [gaddr ");
        push_ipv6(out, v6_at(b, at + 4)?);
        out.push(b' ');
        let kind = u8_at(b, at)?;
        const KINDS: [&str; 6] = ["is_in", "is_ex", "to_in", "to_ex", "allow", "block"];
        match KINDS.get(usize::from(kind).wrapping_sub(1)) {
            Some(k) => out.extend_from_slice(k.as_bytes()),
            None => {
                out.extend_from_slice(b" [v2-report-#");
                push_u64(out, kind.into());
                out.push(b']');
            }
        }
        let sources = usize::from(be16_at(b, at + 2)?);
        if length < at + 20 + sources * 16 {
            out.extend_from_slice(b" [invalid number of sources ");
            push_u64(out, sources as u64);
            out.push(b']');
            return Some(());
        }
        out.extend_from_slice(b", ");
        push_u64(out, sources as u64);
        out.extend_from_slice(b" source(s)]");
        at += 20 + sources * 16;
    }
    Some(())
}

/// MLDv2 query under `-v`, before the group: ` [max resp delay=N]`.
pub(super) fn query_delay(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    let mrc = u32::from(be16_at(b, 4)?);
    let mrt = if mrc < 32768 {
        mrc
    } else {
        ((mrc & 0x0fff) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
    };
    out.extend_from_slice(b" [max resp delay=");
    push_u64(out, mrt.into());
    out.push(b']');
    Some(())
}

/// MLDv2 query under `-v`, after the group: ` sflag robustness=N qqi=N`.
pub(super) fn query_fields(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    let (s, q) = (u8_at(b, 24)?, u8_at(b, 25)?);
    if s & 0x08 != 0 {
        out.extend_from_slice(b" sflag");
    }
    if s & 0x07 != 0 {
        out.extend_from_slice(b" robustness=");
        push_u64(out, (s & 7).into());
    }
    let qqi = if q < 128 {
        u32::from(q)
    } else {
        ((u32::from(q) & 0x0f) | 0x10) << (((u32::from(q) & 0x70) >> 4) + 3)
    };
    out.extend_from_slice(b" qqi=");
    push_u64(out, qqi.into());
    Some(())
}
