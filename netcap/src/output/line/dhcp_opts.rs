//! DHCP's options (RFC 1048 / RFC 2132 vendor extensions) as tcpdump 4.99's
//! `rfc1048_print` writes them under `-v`: one line per option, `NAME (TAG), length
//! N: VALUE`, the value in the format tcpdump's table gives the tag (addresses,
//! numbers, strings, bytes) or by its own code for the special ones (message type,
//! parameter request list, client id, relay agent information, classless routes,
//! user class, FQDN).
use crate::output::push_u64;

use super::dhcp::{be32, byte, Cut};
use super::dhcp_tags::{tag, MESSAGES};
use super::verbose::{push_char, push_hex, push_v4};

/// `nd_printn`: `n` bytes (fewer where the capture ends: then `Err`).
fn printn(out: &mut Vec<u8>, b: &[u8], n: usize) -> Result<(), Cut> {
    for &c in b.iter().take(n) {
        push_char(out, c);
    }
    if b.len() < n {
        return Err(Cut);
    }
    Ok(())
}

/// A quoted string: `"text"`; the closing quote comes before the mark, as tcpdump's.
fn quoted(out: &mut Vec<u8>, b: &[u8], n: usize) -> Result<(), Cut> {
    out.push(b'"');
    let r = printn(out, b, n);
    out.push(b'"');
    r
}

/// `v` the vendor area from its magic cookie on, as captured.
pub(super) fn rfc1048(out: &mut Vec<u8>, v: &[u8]) -> Result<(), Cut> {
    out.extend_from_slice(b"\n\t  Vendor-rfc1048 Extensions\n\t    Magic Cookie 0x");
    push_hex(out, be32(v, 0)?, 8);
    let mut at = 4;
    while let Some(&t) = v.get(at) {
        at += 1;
        match t {
            0 => continue,
            255 => return Ok(()),
            _ => {}
        }
        let entry = tag(t);
        let (mut c, name) = (entry.as_bytes()[0], &entry[1..]);
        let len = byte(v, at)? as usize;
        at += 1;
        out.extend_from_slice(b"\n\t    ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b" (");
        push_u64(out, t.into());
        out.extend_from_slice(b"), length ");
        push_u64(out, len as u64);
        if len > 0 {
            out.extend_from_slice(b": ");
        }
        let data = v.get(at..at + len).ok_or(Cut)?;
        at += len;
        if t == 53 && len == 1 {
            match MESSAGES.iter().find(|(n, _)| *n == data[0]) {
                Some((_, m)) => out.extend_from_slice(m.as_bytes()),
                None => {
                    out.extend_from_slice(b"Unknown (");
                    push_u64(out, data[0].into());
                    out.push(b')');
                }
            }
            continue;
        }
        if t == 55 {
            for (i, &inner) in data.iter().enumerate() {
                out.extend_from_slice(if i % 4 == 0 { b"\n\t      " } else { b", " });
                out.extend_from_slice(&tag(inner).as_bytes()[1..]);
                out.extend_from_slice(b" (");
                push_u64(out, inner.into());
                out.push(b')');
            }
            continue;
        }
        if c == b'?' {
            c = if len & 1 != 0 {
                b'b'
            } else if len & 2 != 0 {
                b's'
            } else {
                b'l'
            };
        }
        let left = value(out, c, t, data)?;
        if left > 0 {
            out.extend_from_slice(b"\n\t  trailing data length ");
            push_u64(out, left as u64);
        }
    }
    Ok(())
}

/// One option's value in format `c`; returns how many bytes were left over.
fn value(out: &mut Vec<u8>, c: u8, t: u8, d: &[u8]) -> Result<usize, Cut> {
    let len = d.len();
    match c {
        b'a' => quoted(out, d, len).map(|()| 0),
        b'i' | b'l' | b'L' => {
            for (i, w) in d.chunks_exact(4).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let n = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                match c {
                    b'i' => push_v4(out, w),
                    b'L' if (n as i32) < 0 => {
                        out.push(b'-');
                        push_u64(out, (n as i32).unsigned_abs().into());
                    }
                    _ => push_u64(out, n.into()),
                }
            }
            Ok(len % 4)
        }
        b'p' => {
            for (i, w) in d.chunks_exact(8).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'(');
                push_v4(out, w);
                out.push(b':');
                push_v4(out, &w[4..]);
                out.push(b')');
            }
            Ok(len % 8)
        }
        b's' => {
            for (i, w) in d.chunks_exact(2).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_u64(out, u16::from_be_bytes([w[0], w[1]]).into());
            }
            Ok(len % 2)
        }
        b'B' => {
            for (i, &x) in d.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match x {
                    0 => out.push(b'N'),
                    1 => out.push(b'Y'),
                    _ => {
                        push_u64(out, x.into());
                        out.push(b'?');
                    }
                }
            }
            Ok(0)
        }
        b'$' => special(out, t, d),
        _ => {
            bytes(out, d, c == b'x');
            Ok(0)
        }
    }
}

/// Bytes as `1.2.3` or, `hex`, `01:02:03`.
fn bytes(out: &mut Vec<u8>, d: &[u8], hex: bool) {
    for (i, &x) in d.iter().enumerate() {
        if i > 0 {
            out.push(if hex { b':' } else { b'.' });
        }
        if hex {
            push_hex(out, x.into(), 2);
        } else {
            push_u64(out, x.into());
        }
    }
}

/// The options tcpdump prints with code of their own; returns the bytes left over.
fn special(out: &mut Vec<u8>, t: u8, d: &[u8]) -> Result<usize, Cut> {
    let len = d.len();
    let too_short = |out: &mut Vec<u8>, n: usize| {
        out.extend_from_slice(b"[ERROR: length < ");
        push_u64(out, n as u64);
        out.extend_from_slice(b" bytes]");
    };
    match t {
        46 | 52 => {
            let Some(&x) = d.first() else {
                too_short(out, 1);
                return Ok(0);
            };
            let names: &[(u8, &str)] = if t == 46 {
                &[(1, "b-node"), (2, "p-node"), (4, "m-node"), (8, "h-node")]
            } else {
                &[(1, "file"), (2, "sname"), (3, "file+sname")]
            };
            match names.iter().find(|(n, _)| *n == x) {
                Some((_, s)) => out.extend_from_slice(s.as_bytes()),
                None => {
                    out.push(b'#');
                    push_u64(out, x.into());
                }
            }
            Ok(len - 1)
        }
        81 => {
            if len < 3 {
                too_short(out, 3);
                return Ok(0);
            }
            let flags = d[0];
            if flags & 0xf0 != 0 {
                out.extend_from_slice(b"[ERROR: MBZ nibble 0x");
                push_hex(out, ((flags & 0xf0) >> 4).into(), 1);
                out.extend_from_slice(b" != 0] ");
            }
            if flags & 0x0f != 0 {
                out.push(b'[');
                for (bit, ch) in [(1, b'S'), (2, b'O'), (4, b'E'), (8, b'N')] {
                    if flags & bit != 0 {
                        out.push(ch);
                    }
                }
                out.extend_from_slice(b"] ");
            }
            if d[1] != 0 || d[2] != 0 {
                push_u64(out, d[1].into());
                out.push(b'/');
                push_u64(out, d[2].into());
                out.push(b' ');
            }
            quoted(out, &d[3..], len - 3).map(|()| 0)
        }
        61 => {
            let Some((&kind, rest)) = d.split_first() else {
                too_short(out, 1);
                return Ok(0);
            };
            if kind == 0 {
                return quoted(out, rest, rest.len()).map(|()| 0);
            }
            let hw = [
                (1, "ether"),
                (6, "ieee802"),
                (7, "arcnet"),
                (15, "frelay"),
                (23, "strip"),
                (24, "ieee1394"),
            ];
            match hw.iter().find(|(n, _)| *n == kind) {
                Some((_, s)) => out.extend_from_slice(s.as_bytes()),
                None => {
                    out.extend_from_slice(b"hardware-type ");
                    push_u64(out, kind.into());
                    out.push(b',');
                }
            }
            out.push(b' ');
            bytes(out, rest, true);
            Ok(0)
        }
        82 => agent(out, d),
        121 | 249 => classless_routes(out, d),
        77 => user_class(out, d),
        _ => {
            out.extend_from_slice(b"[unknown special tag ");
            push_u64(out, t.into());
            out.extend_from_slice(b", size ");
            push_u64(out, len as u64);
            out.push(b']');
            Ok(0)
        }
    }
}

/// Relay agent information (82): its sub-options.
fn agent(out: &mut Vec<u8>, d: &[u8]) -> Result<usize, Cut> {
    let mut at = 0;
    while d.len() - at >= 2 {
        let (sub, sublen) = (d[at], d[at + 1] as usize);
        at += 2;
        out.extend_from_slice(b"\n\t      ");
        out.extend_from_slice(match sub {
            1 => b"Circuit-ID".as_slice(),
            2 => b"Remote-ID",
            6 => b"Subscriber-ID",
            _ => b"Unknown",
        });
        out.extend_from_slice(b" SubOption ");
        push_u64(out, sub.into());
        out.extend_from_slice(b", length ");
        push_u64(out, sublen as u64);
        if sublen > d.len() - at {
            out.extend_from_slice(b": length goes past end of option");
            return Ok(0);
        }
        out.extend_from_slice(b": ");
        let data = &d[at..at + sublen];
        if matches!(sub, 1 | 2 | 6) {
            printn(out, data, sublen)?;
        } else {
            super::dump::hex(out, b"\n\t\t", data, 0);
        }
        at += sublen;
    }
    Ok(d.len() - at)
}

/// Classless static routes (121, 249): `(10.0.0.0/8:10.0.0.1),(default:...)`.
fn classless_routes(out: &mut Vec<u8>, d: &[u8]) -> Result<usize, Cut> {
    if d.len() < 5 {
        out.extend_from_slice(b"[ERROR: length < 5 bytes]");
        return Ok(0);
    }
    let mut at = 0;
    while at < d.len() {
        if at > 0 {
            out.push(b',');
        }
        let width = d[at] as usize;
        at += 1;
        if width > 32 {
            out.extend_from_slice(b"[ERROR: Mask width (");
            push_u64(out, width as u64);
            out.extend_from_slice(b") > 32]");
            return Ok(0);
        }
        let octets = width.div_ceil(8);
        let left = d.len() - at;
        if left < octets + 4 {
            out.extend_from_slice(b"[ERROR: Remaining length (");
            push_u64(out, left as u64);
            out.extend_from_slice(b") < ");
            push_u64(out, (octets + 4) as u64);
            out.extend_from_slice(b" bytes]");
            return Ok(0);
        }
        out.push(b'(');
        if width == 0 {
            out.extend_from_slice(b"default");
        } else {
            for i in 0..octets {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(out, d[at + i].into());
            }
            for _ in octets..4 {
                out.extend_from_slice(b".0");
            }
            out.push(b'/');
            push_u64(out, width as u64);
        }
        at += octets;
        out.push(b':');
        push_v4(out, &d[at..]);
        out.push(b')');
        at += 4;
    }
    Ok(0)
}

/// User class (77, RFC 3004): its instances.
fn user_class(out: &mut Vec<u8>, d: &[u8]) -> Result<usize, Cut> {
    if d.len() < 2 {
        out.extend_from_slice(b"[ERROR: length < 2 bytes]");
        return Ok(0);
    }
    let mut at = 0;
    let mut n = 1;
    while at < d.len() {
        let sublen = d[at] as usize;
        at += 1;
        out.extend_from_slice(b"\n\t      instance#");
        push_u64(out, n);
        out.extend_from_slice(b": ");
        if sublen == 0 {
            out.extend_from_slice(b"[ERROR: suboption length must be non-zero]");
            return Ok(0);
        }
        if d.len() - at < sublen {
            out.extend_from_slice(b"[ERROR: invalid option]");
            return Ok(0);
        }
        quoted(out, &d[at..], sublen)?;
        out.extend_from_slice(b", length ");
        push_u64(out, sublen as u64);
        n += 1;
        at += sublen;
    }
    Ok(0)
}
