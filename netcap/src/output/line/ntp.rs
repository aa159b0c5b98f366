//! NTP (UDP port 123) as tcpdump 4.99's `ntp_print` writes it: `NTPv4, Client, length
//! 48`, and with `-v` the header's fields on the lines after it (leap indicator,
//! stratum, poll, precision, root delay and dispersion, reference id, the four time
//! stamps with their UTC dates, the originator's differences, key id and digest; for
//! a control message (mode 6) its flags and counts).
use crate::output::{push_u64, push_u64_padded};

use super::verbose::{push_char, push_hex, push_v4};

const MODES: [&str; 8] = [
    "unspecified",
    "symmetric active",
    "symmetric passive",
    "Client",
    "Server",
    "Broadcast",
    "Control Message",
    "Reserved",
];

/// The fixed part of a time message.
const TIME_MIN: usize = 48;
/// The fixed part of a control message.
const CONTROL_MIN: usize = 12;

/// Why the text stopped: the capture ended where tcpdump reads on (`[|ntp]`).
struct Cut;

/// `b` the UDP payload as captured, `length` its length on the wire.
pub(super) fn print(out: &mut Vec<u8>, b: &[u8], length: usize, verbose: bool) {
    let Some(&status) = b.first() else {
        return out.extend_from_slice(b" [|ntp]");
    };
    out.extend_from_slice(b"NTPv");
    push_u64(out, ((status & 0x38) >> 3).into());
    out.extend_from_slice(b", ");
    let mode = status & 7;
    out.extend_from_slice(MODES[mode as usize].as_bytes());
    out.extend_from_slice(b", length ");
    push_u64(out, length as u64);
    if !verbose {
        return;
    }
    out.extend_from_slice(b"\n\tLeap indicator: ");
    let leap = status & 0xc0;
    out.extend_from_slice(match leap {
        0x40 => b"+1s".as_slice(),
        0x80 => b"-1s",
        0xc0 => b"clock unsynchronized",
        _ => b"",
    });
    out.extend_from_slice(b" (");
    push_u64(out, leap.into());
    out.push(b')');
    let done = match mode {
        0..=5 => time(out, b, length),
        6 => control(out, b, length),
        _ => Ok(()),
    };
    if done.is_err() {
        out.extend_from_slice(b" [|ntp]");
    }
}

fn be16(b: &[u8], at: usize) -> Result<u16, Cut> {
    let x = b.get(at..at + 2).ok_or(Cut)?;
    Ok(u16::from_be_bytes([x[0], x[1]]))
}

fn be32(b: &[u8], at: usize) -> Result<u32, Cut> {
    let x = b.get(at..at + 4).ok_or(Cut)?;
    Ok(u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

/// ` (invalid)`, then the mark when the capture has less than `length`.
fn invalid(out: &mut Vec<u8>, b: &[u8], length: usize) -> Result<(), Cut> {
    out.extend_from_slice(b" (invalid)");
    if b.len() < length {
        return Err(Cut);
    }
    Ok(())
}

/// `ntp_time_print`: modes 0 to 5.
fn time(out: &mut Vec<u8>, b: &[u8], length: usize) -> Result<(), Cut> {
    if length < TIME_MIN {
        return invalid(out, b, length);
    }
    let stratum = *b.get(1).ok_or(Cut)?;
    out.extend_from_slice(b", Stratum ");
    push_u64(out, stratum.into());
    out.extend_from_slice(match stratum {
        0 => b" (unspecified)".as_slice(),
        1 => b" (primary reference)",
        2..=15 => b" (secondary reference)",
        _ => b" (reserved)",
    });
    let poll = *b.get(2).ok_or(Cut)? as i8;
    out.extend_from_slice(b", poll ");
    push_i64(out, poll.into());
    if poll > -32 && poll < 32 {
        out.extend_from_slice(if poll >= 0 { b" (" } else { b" (1/" });
        push_u64(out, 1u64 << poll.unsigned_abs());
        out.extend_from_slice(b"s)");
    }
    out.extend_from_slice(b", precision ");
    push_i64(out, (*b.get(3).ok_or(Cut)? as i8).into());
    out.extend_from_slice(b"\n\tRoot Delay: ");
    short_fixed(out, b, 4)?;
    out.extend_from_slice(b", Root dispersion: ");
    short_fixed(out, b, 8)?;
    let refid = b.get(12..16).ok_or(Cut)?;
    out.extend_from_slice(b", Reference-ID: ");
    match stratum {
        0 => out.extend_from_slice(b"(unspec)"),
        1 => refid.iter().for_each(|&c| push_char(out, c)),
        62 | 63 => {
            push_v4(out, refid);
            out.extend_from_slice(if stratum == 62 {
                b" INFO_QUERY"
            } else {
                b" INFO_REPLY"
            });
            return Ok(());
        }
        _ => {
            out.extend_from_slice(b"0x");
            push_hex(out, be32(b, 12)?, 8);
        }
    }
    for (label, at) in [
        (&b"\n\t  Reference Timestamp:  "[..], 16),
        (b"\n\t  Originator Timestamp: ", 24),
        (b"\n\t  Receive Timestamp:    ", 32),
        (b"\n\t  Transmit Timestamp:   ", 40),
    ] {
        let t = (be32(b, at)?, be32(b, at + 4)?);
        out.extend_from_slice(label);
        timestamp(out, t);
    }
    let org = (be32(b, 24)?, be32(b, 28)?);
    out.extend_from_slice(b"\n\t    Originator - Receive Timestamp:  ");
    delta(out, org, (be32(b, 32)?, be32(b, 36)?));
    out.extend_from_slice(b"\n\t    Originator - Transmit Timestamp: ");
    delta(out, org, (be32(b, 40)?, be32(b, 44)?));
    let digest = match length - TIME_MIN {
        4 => 0,
        20 => 4,
        24 => 5,
        0 => return Ok(()),
        more => {
            out.extend_from_slice(b"\n\t(");
            push_u64(out, more as u64);
            out.extend_from_slice(b" more bytes after the header)");
            return Ok(());
        }
    };
    out.extend_from_slice(b"\n\tKey id: ");
    push_u64(out, be32(b, 48)?.into());
    if digest > 0 {
        b.get(52..52 + 4 * digest).ok_or(Cut)?;
        out.extend_from_slice(b"\n\tAuthentication: ");
        for i in 0..digest {
            push_hex(out, be32(b, 52 + 4 * i)?, 8);
        }
    }
    Ok(())
}

/// `ntp_control_print`: mode 6.
fn control(out: &mut Vec<u8>, b: &[u8], length: usize) -> Result<(), Cut> {
    if length < CONTROL_MIN {
        return invalid(out, b, length);
    }
    let c = *b.get(1).ok_or(Cut)?;
    out.extend_from_slice(if c & 0x80 != 0 {
        b", Response"
    } else {
        b", Request"
    });
    out.extend_from_slice(if c & 0x40 != 0 { b", Error" } else { b", OK" });
    out.extend_from_slice(if c & 0x20 != 0 { b", More" } else { b", Last" });
    out.extend_from_slice(b", OpCode=");
    push_u64(out, (c & 0x1f).into());
    out.extend_from_slice(b"\n\tSequence=");
    push_u64(out, be16(b, 2)?.into());
    let status = be16(b, 4)?;
    out.extend_from_slice(b", Status=");
    if status != 0 {
        out.extend_from_slice(b"0x");
        push_hex(out, status.into(), 1);
    } else {
        out.push(b'0');
    }
    out.extend_from_slice(b", Assoc.=");
    push_u64(out, be16(b, 6)?.into());
    out.extend_from_slice(b", Offset=");
    push_u64(out, be16(b, 8)?.into());
    let count = be16(b, 10)? as usize;
    out.extend_from_slice(b", Count=");
    push_u64(out, count as u64);
    if CONTROL_MIN + count > length {
        return invalid(out, b, length);
    }
    if count != 0 {
        b.get(CONTROL_MIN..CONTROL_MIN + count).ok_or(Cut)?;
        out.extend_from_slice(b"\n\tTO-BE-DONE: data not interpreted");
    }
    Ok(())
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// `p_sfix`: a 16.16 fixed-point number as `%d.%06d`.
fn short_fixed(out: &mut Vec<u8>, b: &[u8], at: usize) -> Result<(), Cut> {
    let (i, f) = (be16(b, at)?, be16(b, at + 2)?);
    push_u64(out, i.into());
    out.push(b'.');
    let micros = (f64::from(f) / 65536.0 * 1_000_000.0) as u64;
    push_u64_padded(out, micros, 6);
    Ok(())
}

/// The fraction of a 32.32 fixed-point number in nanoseconds, as tcpdump rounds it.
fn nanos(f: u32) -> u64 {
    (f64::from(f) / 4_294_967_296.0 * 1_000_000_000.0) as u32 as u64
}

/// `p_ntp_time`: seconds since 1900 with nanoseconds, and the UTC date when not 0.
fn timestamp(out: &mut Vec<u8>, (i, f): (u32, u32)) {
    push_u64(out, i.into());
    out.push(b'.');
    push_u64_padded(out, nanos(f), 9);
    if i != 0 {
        const JAN_1970: i64 = 2_208_988_800;
        match jiff::Timestamp::from_second(i64::from(i) - JAN_1970) {
            Ok(t) => {
                out.extend_from_slice(b" (");
                out.extend_from_slice(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().as_bytes());
                out.push(b')');
            }
            Err(_) => out.extend_from_slice(b" (unrepresentable)"),
        }
    }
}

/// `p_ntp_delta`: `new - old` signed, or `new` as a time stamp when `old` is 0.
fn delta(out: &mut Vec<u8>, (ou, of): (u32, u32), (u, uf): (u32, u32)) {
    if ou == 0 && of == 0 {
        return timestamp(out, (u, uf));
    }
    let (negative, i, f) = if u > ou {
        let i = (u - ou).wrapping_sub(u32::from(of > uf));
        (false, i, uf.wrapping_sub(of))
    } else if u < ou {
        let i = (ou - u).wrapping_sub(u32::from(uf > of));
        (true, i, of.wrapping_sub(uf))
    } else if uf > of {
        (false, 0, uf - of)
    } else {
        (true, 0, of - uf)
    };
    out.push(if negative { b'-' } else { b'+' });
    push_u64(out, i.into());
    out.push(b'.');
    push_u64_padded(out, nanos(f), 9);
}
