//! The IPv6 extension headers as tcpdump prints them without `-v` (print-ip6opts.c,
//! print-rt6.c, print-frag6.c, print-ah.c, 4.99): `HBH `, `DSTOPT `,
//! `RT6 (len=2, type=0 [Deprecated], segleft=1, [0]2001:db8::1) `, `frag (0|1448) `,
//! `AH(spi=0x00000100,seq=0x13,icv=0x...): `.
//!
//! Each returns how it ended ([`Ext`]): tcpdump's own checks print the header's mark
//! and let the IPv6 printer finish its checks; a read past the capture ends the line.
use super::read::{be16_at, be32_at, u8_at, v6_at};
use crate::output::{push_ipv6, push_u64, HEX_LOWER};

/// How an extension header's printer ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ext {
    /// The header's length: the walk goes on after it.
    Next(usize),
    /// The printer gave up (its mark or complaint written); the walk stops.
    Stop,
    /// A read past the capture: the mark is written and nothing else follows.
    Cut,
}

/// What the hop-by-hop options said about a jumbo payload (RFC 2675).
#[derive(Debug, Default)]
pub(super) struct Jumbo {
    /// A valid Jumbo Payload option with the IPv6 payload length 0.
    pub(super) found: bool,
    /// The IPv6 payload length, replaced by the jumbo length when one is found.
    pub(super) payload_len: u32,
}

/// Hop-by-hop options: `HBH ` (the options themselves only with `-v`).
pub(super) fn hop_by_hop(out: &mut Vec<u8>, h: &[u8], jumbo: &mut Jumbo, verbose: bool) -> Ext {
    const MARK: &[u8] = b" [|hbhopt]";
    let Some(n) = u8_at(h, 1) else {
        out.extend_from_slice(MARK);
        return Ext::Cut;
    };
    let len = (usize::from(n) + 1) * 8;
    let Some(opts) = h.get(2..len) else {
        out.extend_from_slice(MARK);
        return Ext::Stop;
    };
    out.extend_from_slice(b"HBH ");
    if options(out, opts, Some(jumbo), verbose).is_none() {
        out.extend_from_slice(MARK);
        return Ext::Stop;
    }
    Ext::Next(len)
}

/// Destination options: `DSTOPT ` (and with `-v`, the options).
pub(super) fn destination(out: &mut Vec<u8>, h: &[u8], verbose: bool) -> Ext {
    const MARK: &[u8] = b" [|dstopt]";
    let Some(n) = u8_at(h, 1) else {
        out.extend_from_slice(MARK);
        return Ext::Cut;
    };
    let len = (usize::from(n) + 1) * 8;
    if h.len() < len {
        out.extend_from_slice(MARK);
        return Ext::Stop;
    }
    out.extend_from_slice(b"DSTOPT ");
    if verbose && options(out, &h[2..len], None, true).is_none() {
        out.extend_from_slice(MARK);
        return Ext::Stop;
    }
    Ext::Next(len)
}

/// tcpdump's `ip6_opt_process`: without `-v` it prints only what is wrong, and looks
/// for a Jumbo Payload option; with `-v` (`verbose`) each option
/// ([`super::verbose::ip6_option`]). `None` when an option runs past the header.
fn options(
    out: &mut Vec<u8>,
    b: &[u8],
    mut jumbo: Option<&mut Jumbo>,
    verbose: bool,
) -> Option<()> {
    let len = b.len();
    let mut seen_jumbo = false;
    let mut i = 0;
    while i < len {
        let kind = b[i];
        let optlen = if kind == 0 {
            1
        } else if i + 1 < len {
            usize::from(b[i + 1]) + 2
        } else {
            return None;
        };
        if i + optlen > len {
            return None;
        }
        match kind {
            0 if !verbose => {}
            1 if len - i < 2 => return complain(out, b"padn: trunc", None),
            5 if len - i < 4 => return complain(out, b"rtalert: trunc", None),
            5 if b[i + 1] != 2 => return complain(out, b"rtalert: invalid len ", Some(b[i + 1])),
            0xc2 if len - i < 6 => return complain(out, b"jumbo: trunc", None),
            0xc2 if b[i + 1] != 4 => return complain(out, b"jumbo: invalid len ", Some(b[i + 1])),
            0xc2 => {
                let value = be32_at(b, i + 2)?;
                let why: &[u8] = if seen_jumbo {
                    b" - already seen"
                } else {
                    seen_jumbo = true;
                    match jumbo.as_deref_mut() {
                        None => b" - not a hop-by-hop option",
                        Some(j) if j.payload_len != 0 => b" - payload len != 0",
                        Some(_) if value < 65536 => b" - < 65536",
                        Some(j) => {
                            j.found = true;
                            j.payload_len = value;
                            b""
                        }
                    }
                };
                if verbose {
                    out.extend_from_slice(b"(jumbo: ");
                    push_u64(out, value.into());
                    out.extend_from_slice(why);
                    out.extend_from_slice(b") ");
                }
            }
            0xc9 if len - i < 18 => return complain(out, b"homeaddr: trunc", None),
            0xc9 if b[i + 1] < 16 => {
                return complain(out, b"homeaddr: invalid len ", Some(b[i + 1]))
            }
            0 | 1 | 5 | 0xc9 if verbose => super::verbose::ip6_option(out, &b[i..i + optlen]),
            1 | 5 | 0xc9 => {}
            _ if len - i < 2 => {
                out.extend_from_slice(b"(type ");
                push_u64(out, kind.into());
                out.extend_from_slice(b": trunc)");
                return None;
            }
            _ if verbose => super::verbose::ip6_option(out, &b[i..i + optlen]),
            _ => {}
        }
        i += optlen;
    }
    if verbose {
        out.push(b' ');
    }
    Some(())
}

/// `(WHAT N)`, an option tcpdump finds wrong; the options end there.
fn complain(out: &mut Vec<u8>, what: &[u8], n: Option<u8>) -> Option<()> {
    out.push(b'(');
    out.extend_from_slice(what);
    if let Some(n) = n {
        push_u64(out, n.into());
    }
    out.push(b')');
    None
}

/// A routing header: `RT6 (len=N, type=T, segleft=S, [0]ADDR, ...) `, type 0 and 2
/// with their addresses, type 4 (segment routing) with its last entry, tag and
/// segments. With `-v` (`verbose`), the reserved word or flags even when 0.
pub(super) fn routing(out: &mut Vec<u8>, h: &[u8], verbose: bool) -> Ext {
    out.extend_from_slice(b"RT6");
    match routing_fields(out, h, verbose) {
        Some(e) => e,
        None => {
            out.extend_from_slice(b" [|rt6]");
            Ext::Cut
        }
    }
}

fn routing_fields(out: &mut Vec<u8>, h: &[u8], verbose: bool) -> Option<Ext> {
    let len = u8_at(h, 1)?;
    out.extend_from_slice(b" (len=");
    push_u64(out, len.into());
    let kind = u8_at(h, 2)?;
    out.extend_from_slice(b", type=");
    push_u64(out, kind.into());
    if kind == 0 {
        out.extend_from_slice(b" [Deprecated]");
    }
    out.extend_from_slice(b", segleft=");
    push_u64(out, u8_at(h, 3)?.into());
    match kind {
        0 | 2 => {
            let reserved = be32_at(h, 4)?;
            if reserved != 0 || verbose {
                out.extend_from_slice(b", rsv=0x");
                push_hex(out, reserved);
            }
        }
        4 => {
            out.extend_from_slice(b", last-entry=");
            push_u64(out, u8_at(h, 4)?.into());
            let flags = u8_at(h, 5)?;
            if flags != 0 || verbose {
                out.extend_from_slice(b", flags=0x");
                push_hex(out, flags.into());
            }
            out.extend_from_slice(b", tag=");
            push_hex(out, be16_at(h, 6)?.into());
        }
        _ => {
            out.extend_from_slice(b" (unknown type) (invalid)");
            return Some(Ext::Stop);
        }
    }
    if len % 2 == 1 {
        out.extend_from_slice(b" (invalid length ");
        push_u64(out, len.into());
        out.extend_from_slice(b") (invalid)");
        return Some(Ext::Stop);
    }
    for i in 0..usize::from(len / 2) {
        out.extend_from_slice(b", [");
        push_u64(out, i as u64);
        out.push(b']');
        push_ipv6(out, v6_at(h, 8 + 16 * i)?);
    }
    out.extend_from_slice(b") ");
    Some(Ext::Next((usize::from(len) + 1) * 8))
}

/// A fragment header: `frag (OFFSET|LEN)`, and a space when this is the first
/// fragment (the walk goes on); a later fragment ends the packet's text.
/// `at` is the header's offset from the IPv6 header, `payload_len` the IPv6 one.
/// With `-v` (`verbose`), the identification first: `frag (0x0000abcd:OFFSET|LEN)`.
pub(super) fn fragment(
    out: &mut Vec<u8>,
    h: &[u8],
    (at, payload_len): (usize, u16),
    verbose: bool,
) -> Ext {
    let (Some(offlg), Some(ident)) = (be16_at(h, 2), be32_at(h, 4).or((!verbose).then_some(0)))
    else {
        out.extend_from_slice(b" [|frag6]");
        return Ext::Cut;
    };
    let offset = offlg & 0xfff8;
    // tcpdump computes the rest in a size_t: a header past the payload wraps around.
    let rest = (40 + u64::from(payload_len)).wrapping_sub(at as u64 + 8);
    out.extend_from_slice(b"frag (");
    if verbose {
        out.extend_from_slice(b"0x");
        super::verbose::push_hex(out, ident, 8);
        out.push(b':');
    }
    push_u64(out, offset.into());
    out.push(b'|');
    push_u64(out, rest);
    out.push(b')');
    if offset != 0 {
        return Ext::Stop;
    }
    out.push(b' ');
    Ext::Next(8)
}

/// An authentication header: `AH(spi=0x...,seq=0x...,icv=0x...): `.
pub(super) fn authentication(out: &mut Vec<u8>, h: &[u8]) -> Ext {
    out.extend_from_slice(b"AH");
    match authentication_fields(out, h) {
        Some(len) => Ext::Next(len),
        None => {
            out.extend_from_slice(b" [|ah]");
            Ext::Cut
        }
    }
}

fn authentication_fields(out: &mut Vec<u8>, h: &[u8]) -> Option<usize> {
    let len = (usize::from(u8_at(h, 1)?) + 2) * 4;
    out.push(b'(');
    let reserved = be16_at(h, 2)?;
    if reserved != 0 {
        out.extend_from_slice(b"reserved=0x");
        push_hex(out, reserved.into());
        out.extend_from_slice(b"[MustBeZero],");
    }
    out.extend_from_slice(b"spi=0x");
    let spi = be32_at(h, 4)?;
    for shift in (0..8).rev() {
        out.push(HEX_LOWER[((spi >> (4 * shift)) & 15) as usize]);
    }
    out.extend_from_slice(b",seq=0x");
    push_hex(out, be32_at(h, 8)?);
    out.extend_from_slice(b",icv=0x");
    for at in 12..len {
        let v = u8_at(h, at)?;
        out.extend_from_slice(&[
            HEX_LOWER[usize::from(v >> 4)],
            HEX_LOWER[usize::from(v & 15)],
        ]);
    }
    out.extend_from_slice(b"): ");
    Some(len)
}

/// `%x`.
fn push_hex(out: &mut Vec<u8>, v: u32) {
    let digits = ((32 - v.leading_zeros()).div_ceil(4)).max(1);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[((v >> (4 * i)) & 15) as usize]);
    }
}

#[cfg(test)]
#[path = "ip6_ext_tests.rs"]
mod tests;
