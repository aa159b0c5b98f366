//! IPv4 options as tcpdump's `ip_optprint` writes them under `-v`: `options (NOP,NOP,
//! RR 10.0.0.1, 10.0.0.2,timestamp TS{TSONLY 100 ^ 200})`, with its complaints
//! (`[bad length N]`, `[bad ptr N]`) and its two ways of ending where the capture
//! ends ([`Cut`]).
use crate::output::push_u64;

use super::verbose::push_v4;

/// Where the capture ended the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// Inside an option's data: `[truncated-option]`, and the line ends with `[|ip]`
    /// after the addresses.
    Option,
    /// On a byte tcpdump reads unchecked (an option's kind or length): the line ends.
    Packet,
}

/// tcpdump's `ip_option_values`.
fn name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "EOL",
        1 => "NOP",
        68 => "timestamp",
        130 => "security",
        7 => "RR",
        137 => "SSRR",
        131 => "LSRR",
        148 => "RA",
        82 => "traceroute",
        _ => return None,
    })
}

fn bad_length(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b" [bad length ");
    push_u64(out, len as u64);
    out.push(b']');
}

/// The options of a header: `opts` as captured, `length` as the header length says.
pub(super) fn print(out: &mut Vec<u8>, opts: &[u8], mut length: usize) -> Result<(), Cut> {
    let mut at = 0;
    let mut first = true;
    while length > 0 {
        if !first {
            out.push(b',');
        }
        first = false;
        let code = *opts.get(at).ok_or(Cut::Packet)?;
        match name(code) {
            Some(n) => out.extend_from_slice(n.as_bytes()),
            None => {
                out.extend_from_slice(b"unknown ");
                push_u64(out, code.into());
            }
        }
        let option_len = if code <= 1 {
            1
        } else {
            let l = *opts.get(at + 1).ok_or(Cut::Packet)? as usize;
            if l < 2 {
                bad_length(out, l);
                return Ok(());
            }
            l
        };
        if option_len > length {
            bad_length(out, option_len);
            return Ok(());
        }
        let cp = &opts[at..];
        if cp.len() < option_len {
            return Err(Cut::Option);
        }
        match code {
            0 => return Ok(()),
            68 => timestamps(out, cp, option_len)?,
            7 | 131 | 137 => route(out, cp, option_len)?,
            148 => {
                if option_len < 4 {
                    bad_length(out, option_len);
                } else {
                    let v = u16::from_be_bytes([cp[2], cp[3]]);
                    if v != 0 {
                        out.extend_from_slice(b" value ");
                        push_u64(out, v.into());
                    }
                }
            }
            _ => {}
        }
        at += option_len;
        length -= option_len;
    }
    Ok(())
}

/// `ip_printroute`: the addresses of a recorded or source route, a comma after those
/// the pointer has passed. `cp` from the option's kind byte, as captured.
fn route(out: &mut Vec<u8>, cp: &[u8], length: usize) -> Result<(), Cut> {
    if length < 3 {
        bad_length(out, length);
        return Ok(());
    }
    if (length + 1) & 3 != 0 {
        bad_length(out, length);
    }
    let raw = cp[2];
    let ptr = u32::from(raw).wrapping_sub(1);
    if ptr < 3 || (ptr.wrapping_add(1)) & 3 != 0 || ptr > length as u32 + 1 {
        out.extend_from_slice(b" [bad ptr ");
        push_u64(out, raw.into());
        out.push(b']');
    }
    let mut len = 3;
    while len < length {
        let a = cp.get(len..len + 4).ok_or(Cut::Option)?;
        out.push(b' ');
        push_v4(out, a);
        if ptr > len as u32 {
            out.push(b',');
        }
        len += 4;
    }
    Ok(())
}

/// `ip_printts`: ` TS{TSONLY 1 ^ 2}` and the like.
fn timestamps(out: &mut Vec<u8>, cp: &[u8], length: usize) -> Result<(), Cut> {
    if length < 4 {
        out.extend_from_slice(b"[bad length ");
        push_u64(out, length as u64);
        out.push(b']');
        return Ok(());
    }
    out.extend_from_slice(b" TS{");
    let flags = cp[3];
    let hoplen = if flags & 0xf != 0 { 8 } else { 4 };
    if (length - 4) & (hoplen - 1) != 0 {
        out.extend_from_slice(b"[bad length ");
        push_u64(out, length as u64);
        out.push(b']');
    }
    let ptr = u32::from(cp[2]).wrapping_sub(1);
    if ptr < 4 || (ptr.wrapping_sub(4)) & (hoplen as u32 - 1) != 0 || ptr > length as u32 + 1 {
        out.extend_from_slice(b"[bad ptr ");
        push_u64(out, cp[2].into());
        out.push(b']');
    }
    let mut len = 0;
    match flags & 0xf {
        0 => out.extend_from_slice(b"TSONLY"),
        1 => out.extend_from_slice(b"TS+ADDR"),
        3 => out.extend_from_slice(b"PRESPEC"),
        t => {
            out.extend_from_slice(b"[bad ts type ");
            push_u64(out, t.into());
            out.push(b']');
            len = usize::MAX;
        }
    }
    if len == 0 {
        len = 4;
        while len < length {
            let hop = cp.get(len..len + hoplen).ok_or(Cut::Option)?;
            out.extend_from_slice(if ptr == len as u32 { b" ^ " } else { b" " });
            let t = &hop[hoplen - 4..];
            push_u64(out, u32::from_be_bytes([t[0], t[1], t[2], t[3]]).into());
            out.push(b'@');
            if hoplen == 8 {
                push_v4(out, hop);
            }
            len += hoplen;
        }
    } else {
        len = 0;
    }
    if ptr == len as u32 {
        out.extend_from_slice(b" ^ ");
    }
    if flags >> 4 != 0 {
        out.extend_from_slice(b" [");
        push_u64(out, (flags >> 4).into());
        out.extend_from_slice(b" hops not recorded]} ");
    } else {
        out.push(b'}');
    }
    Ok(())
}
