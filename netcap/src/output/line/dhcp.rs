//! BOOTP and DHCP (UDP ports 67 and 68) as tcpdump 4.99's `bootp_print` writes them:
//! `BOOTP/DHCP, Request from 00:0c:29:1f:74:06, length 300`, and with `-v` the
//! header's interesting fields (`xid`, `secs`, `Flags`, the addresses, `sname`,
//! `file`) and the vendor area: RFC 1048 options ([`super::dhcp_opts`]) or CMU's.
use crate::output::{push_mac, push_u64};

use super::verbose::{push_char, push_hex, push_v4};

/// Offsets of the BOOTP header's fields (RFC 951).
mod field {
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: usize = 4;
    pub const SECS: usize = 8;
    pub const FLAGS: usize = 10;
    pub const CIADDR: usize = 12;
    pub const YIADDR: usize = 16;
    pub const SIADDR: usize = 20;
    pub const GIADDR: usize = 24;
    pub const CHADDR: usize = 28;
    pub const SNAME: usize = 44;
    pub const FILE: usize = 108;
    pub const VEND: usize = 236;
}

/// The capture ended where tcpdump reads on: `[|bootp]`.
pub(super) struct Cut;

fn be16(b: &[u8], at: usize) -> Result<u16, Cut> {
    let x = b.get(at..at + 2).ok_or(Cut)?;
    Ok(u16::from_be_bytes([x[0], x[1]]))
}

pub(super) fn be32(b: &[u8], at: usize) -> Result<u32, Cut> {
    let x = b.get(at..at + 4).ok_or(Cut)?;
    Ok(u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

pub(super) fn byte(b: &[u8], at: usize) -> Result<u8, Cut> {
    b.get(at).copied().ok_or(Cut)
}

/// `b` the UDP payload as captured, `length` its length on the wire.
pub(super) fn print(out: &mut Vec<u8>, b: &[u8], length: usize, verbose: bool) {
    if header(out, b, length, verbose).is_err() {
        out.extend_from_slice(b" [|bootp]");
    }
}

fn header(out: &mut Vec<u8>, b: &[u8], length: usize, verbose: bool) -> Result<(), Cut> {
    let op = byte(b, field::OP)?;
    out.extend_from_slice(b"BOOTP/DHCP, ");
    match op {
        1 => out.extend_from_slice(b"Request"),
        2 => out.extend_from_slice(b"Reply"),
        _ => {
            out.extend_from_slice(b"unknown (0x");
            push_hex(out, op.into(), 2);
            out.push(b')');
        }
    }
    let (htype, hlen) = (byte(b, field::HTYPE)?, byte(b, field::HLEN)?);
    let ether = htype == 1 && hlen == 6;
    if ether && op == 1 {
        out.extend_from_slice(b" from ");
        push_mac(
            out,
            b.get(field::CHADDR..field::CHADDR + 6).ok_or(Cut)?,
            false,
        );
    }
    out.extend_from_slice(b", length ");
    push_u64(out, length as u64);
    if !verbose {
        return Ok(());
    }
    be16(b, field::SECS)?;
    if htype != 1 {
        out.extend_from_slice(b", htype ");
        push_u64(out, htype.into());
    }
    if !ether {
        out.extend_from_slice(b", hlen ");
        push_u64(out, hlen.into());
    }
    let hops = byte(b, field::HOPS)?;
    if hops != 0 {
        out.extend_from_slice(b", hops ");
        push_u64(out, hops.into());
    }
    let xid = be32(b, field::XID)?;
    if xid != 0 {
        out.extend_from_slice(b", xid 0x");
        push_hex(out, xid, 1);
    }
    let secs = be16(b, field::SECS)?;
    if secs != 0 {
        out.extend_from_slice(b", secs ");
        push_u64(out, secs.into());
    }
    let flags = be16(b, field::FLAGS)?;
    out.extend_from_slice(if flags & 0x8000 != 0 {
        b", Flags [Broadcast]"
    } else {
        b", Flags [none]"
    });
    for (at, name) in [
        (field::CIADDR, &b"\n\t  Client-IP "[..]),
        (field::YIADDR, b"\n\t  Your-IP "),
        (field::SIADDR, b"\n\t  Server-IP "),
        (field::GIADDR, b"\n\t  Gateway-IP "),
    ] {
        if be32(b, at)? != 0 {
            out.extend_from_slice(name);
            push_v4(out, &b[at..]);
        }
    }
    if ether {
        out.extend_from_slice(b"\n\t  Client-Ethernet-Address ");
        push_mac(
            out,
            b.get(field::CHADDR..field::CHADDR + 6).ok_or(Cut)?,
            false,
        );
    }
    for (at, size, name) in [
        (field::SNAME, 64, &b"\n\t  sname \""[..]),
        (field::FILE, 128, b"\n\t  file \""),
    ] {
        if byte(b, at)? != 0 {
            out.extend_from_slice(name);
            let whole = string(out, b.get(at..).unwrap_or(&[]), size);
            out.push(b'"');
            if !whole {
                return Err(Cut);
            }
        }
    }
    let vend = b.get(field::VEND..).unwrap_or(&[]);
    let magic = be32(b, field::VEND)?;
    match magic {
        0x6382_5363 => super::dhcp_opts::rfc1048(out, vend),
        0x434d_5500 => cmu(out, vend),
        0 => Ok(()),
        m => {
            out.extend_from_slice(b"\n\t  Vendor-#0x");
            push_hex(out, m, 1);
            Ok(())
        }
    }
}

/// `nd_printztn`: a NUL-terminated string in a field of `size` bytes; false when
/// neither a NUL nor the field's end came before the capture's end (or no NUL at all).
fn string(out: &mut Vec<u8>, b: &[u8], size: usize) -> bool {
    for i in 0..size {
        match b.get(i) {
            None => return false,
            Some(0) => return true,
            Some(&c) => push_char(out, c),
        }
    }
    false
}

/// `cmu_print`: CMU's vendor area (` vend-cmu DG:10.0.0.1 ...`).
fn cmu(out: &mut Vec<u8>, v: &[u8]) -> Result<(), Cut> {
    out.extend_from_slice(b" vend-cmu");
    be32(v, 4)?;
    let flags = byte(v, 4)?;
    if flags & !1 != 0 {
        out.extend_from_slice(b" F:0x");
        push_hex(out, flags.into(), 1);
    }
    let sm: &[u8] = if flags & 1 != 0 { b"SM" } else { b"SM*" };
    for (at, name) in [
        (12, &b"DG"[..]),
        (8, sm),
        (16, b"NS1"),
        (20, b"NS2"),
        (24, b"IEN1"),
        (28, b"IEN2"),
        (32, b"TS1"),
        (36, b"TS2"),
    ] {
        if be32(v, at)? != 0 {
            out.push(b' ');
            out.extend_from_slice(name);
            out.push(b':');
            push_v4(out, &v[at..]);
        }
    }
    Ok(())
}
