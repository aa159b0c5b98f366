//! The Multipath TCP option (TCP option kind 30, RFC 6824 and RFC 8684) in the words
//! of tcpdump 4.99.3's `mptcp_print` (print-mptcp.c), for `options [...]` of a line:
//! ` LEN SUBTYPE` and the subtype's fields (`mptcp 12 dss ack 17186763219675866565`).
//!
//! tcpdump checks each subtype's length against the lengths the RFC allows (and some
//! against the segment's SYN and ACK flags); an option that fails the check gets
//! tcpdump's `[bad opt]`, which the caller ([`super::tcp`]) writes. 4.99.3 knows the
//! subtypes 0 to 7; every higher one (such as RFC 8684's `MP_TCPRST`, 8) is `unknown`
//! and printed without its fields.
//!
//! The caller has checked that the whole option is captured (tcpdump's `LENCHECK`
//! before `mptcp_print`, which then reads no further than the option's end), so no
//! subtype ends the line with `[|tcp]`.
use crate::decode::{array, be16, be32};
use crate::output::{push_ipv4, push_ipv6, push_u64};

use super::tcp_options::{hex, hex_min};

/// TCP header flags that decide which forms a subtype may take.
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// Subtype names by number (the subtype is the high nibble of the option's third
/// byte); numbers past 7 print the last, as tcpdump's `ND_MIN(subtype, FCLOSE + 1)`.
const NAMES: [&[u8]; 9] = [
    b"capable",
    b"join",
    b"dss",
    b"add-addr",
    b"rem-addr",
    b"prio",
    b"fail",
    b"fast-close",
    b"unknown",
];

/// An MPTCP option: its bytes after the kind and length bytes. Field offsets below
/// count from the kind byte, as in the RFC's figures.
struct Opt<'a>(&'a [u8]);

/// The subtype (high nibble) and its 4 low bits: version, flags or echo.
const SUB: usize = 2;
/// MP_CAPABLE: flags (`C`, checksum required), the sender's and receiver's keys.
const CAPABLE_FLAGS: usize = 3;
const CAPABLE_SENDER_KEY: usize = 4;
const CAPABLE_RECEIVER_KEY: usize = 12;
/// MP_JOIN: address id, then by form: SYN token and nonce; SYN/ACK truncated HMAC and
/// nonce; ACK the 160-bit HMAC.
const JOIN_ADDR_ID: usize = 3;
const JOIN_SYN_TOKEN: usize = 4;
const JOIN_SYN_NONCE: usize = 8;
const JOIN_SYNACK_HMAC: usize = 4;
const JOIN_SYNACK_NONCE: usize = 12;
const JOIN_ACK_HMAC: usize = 4;
/// DSS: its flags byte, then the fields the flags announce, in order.
const DSS_FLAGS: usize = 3;
const DSS_FIELDS: usize = 4;
/// ADD_ADDR: address id, the address (4 or 16 bytes), an optional port, an HMAC.
const ADD_ADDR_ID: usize = 3;
const ADD_ADDR_ADDR: usize = 4;
/// REMOVE_ADDR: the list of address ids.
const REMOVE_ADDR_IDS: usize = 3;
/// MP_PRIO: the address id (optional).
const PRIO_ADDR_ID: usize = 3;
/// MP_FAIL: the data sequence number; MP_FASTCLOSE: the receiver's key.
const FAIL_DSN: usize = 4;
const FASTCLOSE_KEY: usize = 4;

/// DSS flags (RFC 8684 3.3): DATA_FIN, 8-byte DSN, DSN present, 8-byte data ack,
/// data ack present.
const DSS_F: u8 = 0x10;
const DSS_M8: u8 = 0x08;
const DSS_M: u8 = 0x04;
const DSS_A8: u8 = 0x02;
const DSS_A: u8 = 0x01;

/// The kind and length bytes, not in the view.
const KIND_LEN: usize = 2;

impl<'a> Opt<'a> {
    /// The option's length (its length byte).
    fn len(&self) -> usize {
        self.0.len() + KIND_LEN
    }
    /// The bytes from `off` to the option's end.
    fn rest(&self, off: usize) -> &'a [u8] {
        &self.0[off - KIND_LEN..]
    }
    fn u8(&self, off: usize) -> u8 {
        self.0[off - KIND_LEN]
    }
    fn u16(&self, off: usize) -> u16 {
        be16(self.0, off - KIND_LEN)
    }
    fn u32(&self, off: usize) -> u32 {
        be32(self.0, off - KIND_LEN)
    }
    fn u64(&self, off: usize) -> u64 {
        u64::from_be_bytes(array(self.0, off - KIND_LEN))
    }
}

/// Appends ` LEN SUBTYPE ...` for the option whose bytes after kind and length are
/// `data` (all captured), in a segment with TCP `flags`. False when tcpdump finds the
/// option malformed: the caller then writes `[bad opt]`.
pub(super) fn option(out: &mut Vec<u8>, data: &[u8], flags: u8) -> bool {
    let o = Opt(data);
    let len = o.len();
    if len < 3 {
        return false;
    }
    let subtype = usize::from(o.u8(SUB) >> 4).min(NAMES.len() - 1);
    out.push(b' ');
    push_u64(out, len as u64);
    out.push(b' ');
    out.extend_from_slice(NAMES[subtype]);
    match subtype {
        0 => capable(out, &o, flags),
        1 => join(out, &o, flags),
        2 => dss(out, &o, flags),
        3 => add_addr(out, &o),
        4 => remove_addr(out, &o),
        5 => prio(out, &o),
        6 => fail(out, &o),
        7 => fast_close(out, &o),
        _ => true,
    }
}

/// `0x` and `v` in hex without leading zeros (`0x%" PRIx64`).
fn hex64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(b"0x");
    hex_min(out, v);
}

fn capable(out: &mut Vec<u8>, o: &Opt<'_>, flags: u8) -> bool {
    let len = o.len();
    let syn = (len == 12 || len == 4) && flags & SYN != 0;
    let ack = (len == 20 || len == 22) && flags & (SYN | ACK) == ACK;
    if !syn && !ack {
        return false;
    }
    let version = o.u8(SUB) & 0x0f;
    if version > 1 {
        out.extend_from_slice(b" Unknown Version (");
        push_u64(out, version.into());
        out.push(b')');
        return true;
    }
    out.extend_from_slice(b" v");
    push_u64(out, version.into());
    if o.u8(CAPABLE_FLAGS) & 0x80 != 0 {
        out.extend_from_slice(b" csum");
    }
    if len == 12 || len >= 20 {
        out.extend_from_slice(b" {");
        hex64(out, o.u64(CAPABLE_SENDER_KEY));
        if len >= 20 {
            out.push(b',');
            hex64(out, o.u64(CAPABLE_RECEIVER_KEY));
        }
        out.push(b'}');
    }
    true
}

fn join(out: &mut Vec<u8>, o: &Opt<'_>, flags: u8) -> bool {
    let len = o.len();
    let syn = len == 12 && flags & SYN != 0;
    let syn_ack = len == 16 && flags & (SYN | ACK) == SYN | ACK;
    let ack = len == 24 && flags & ACK != 0;
    if !(syn || syn_ack || ack) {
        return false;
    }
    if len != 24 {
        if o.u8(SUB) & 0x01 != 0 {
            out.extend_from_slice(b" backup");
        }
        out.extend_from_slice(b" id ");
        push_u64(out, o.u8(JOIN_ADDR_ID).into());
    }
    match len {
        12 => {
            out.extend_from_slice(b" token ");
            hex64(out, o.u32(JOIN_SYN_TOKEN).into());
            out.extend_from_slice(b" nonce ");
            hex64(out, o.u32(JOIN_SYN_NONCE).into());
        }
        16 => {
            out.extend_from_slice(b" hmac ");
            hex64(out, o.u64(JOIN_SYNACK_HMAC));
            out.extend_from_slice(b" nonce ");
            hex64(out, o.u32(JOIN_SYNACK_NONCE).into());
        }
        _ => {
            out.extend_from_slice(b" hmac 0x");
            hex(out, &o.rest(JOIN_ACK_HMAC)[..20]);
        }
    }
    true
}

/// DSS: ` fin`, ` ack N`, ` seq N subseq N len N [csum 0xN]`; false when the flags
/// announce more than the option holds, or it holds more than they announce.
fn dss(out: &mut Vec<u8>, o: &Opt<'_>, flags: u8) -> bool {
    if o.len() < 4 || flags & SYN != 0 {
        return false;
    }
    let f = o.u8(DSS_FLAGS);
    if f & DSS_F != 0 {
        out.extend_from_slice(b" fin");
    }
    let mut at = DSS_FIELDS;
    let left = |at: usize| o.len() - at;
    // A 4- or 8-byte number, as `wide` says; false when it is not all there.
    let number = |out: &mut Vec<u8>, at: &mut usize, wide: bool| {
        let n = if wide { 8 } else { 4 };
        if left(*at) < n {
            return false;
        }
        push_u64(out, if wide { o.u64(*at) } else { o.u32(*at).into() });
        *at += n;
        true
    };
    if f & DSS_A != 0 {
        out.extend_from_slice(b" ack ");
        if !number(out, &mut at, f & DSS_A8 != 0) {
            return false;
        }
    }
    if f & DSS_M != 0 {
        out.extend_from_slice(b" seq ");
        if !number(out, &mut at, f & DSS_M8 != 0) {
            return false;
        }
        out.extend_from_slice(b" subseq ");
        if !number(out, &mut at, false) {
            return false;
        }
        if left(at) < 2 {
            return false;
        }
        out.extend_from_slice(b" len ");
        push_u64(out, o.u16(at).into());
        at += 2;
        // The checksum is there when negotiated: any 2 bytes left are taken as it.
        if left(at) >= 2 {
            out.extend_from_slice(b" csum ");
            hex64(out, o.u16(at).into());
            at += 2;
        }
    }
    left(at) == 0
}

fn add_addr(out: &mut Vec<u8>, o: &Opt<'_>) -> bool {
    let len = o.len();
    let v4 = matches!(len, 8 | 10 | 16 | 18);
    if !v4 && !matches!(len, 20 | 22 | 28 | 30) {
        return false;
    }
    out.push(b' ');
    out.extend_from_slice(match o.u8(SUB) & 0x0f {
        6 => b"v0-ip6",
        4 => b"v0-ip4",
        1 => b"v1-echo",
        0 => b"v1",
        _ => b"[bad version/echo]",
    });
    out.extend_from_slice(b" id ");
    push_u64(out, o.u8(ADD_ADDR_ID).into());
    out.push(b' ');
    let (port, hmac_at) = if v4 {
        push_ipv4(out, array::<4>(o.rest(ADD_ADDR_ADDR), 0).into());
        (len == 10 || len == 18, ADD_ADDR_ADDR + 4)
    } else {
        push_ipv6(out, array::<16>(o.rest(ADD_ADDR_ADDR), 0).into());
        (len == 22 || len == 30, ADD_ADDR_ADDR + 16)
    };
    if port {
        out.push(b':');
        push_u64(out, o.u16(hmac_at).into());
    }
    // An HMAC (after the port when there is one) in the forms long enough for one.
    if matches!(len, 16 | 18 | 28 | 30) {
        out.extend_from_slice(b" hmac ");
        hex64(out, o.u64(hmac_at + if port { 2 } else { 0 }));
    }
    true
}

fn remove_addr(out: &mut Vec<u8>, o: &Opt<'_>) -> bool {
    if o.len() < 4 {
        return false;
    }
    out.extend_from_slice(b" id");
    for &id in o.rest(REMOVE_ADDR_IDS) {
        out.push(b' ');
        push_u64(out, id.into());
    }
    true
}

fn prio(out: &mut Vec<u8>, o: &Opt<'_>) -> bool {
    let len = o.len();
    if len != 3 && len != 4 {
        return false;
    }
    out.extend_from_slice(if o.u8(SUB) & 0x01 != 0 {
        b" backup"
    } else {
        b" non-backup"
    });
    if len == 4 {
        out.extend_from_slice(b" id ");
        push_u64(out, o.u8(PRIO_ADDR_ID).into());
    }
    true
}

fn fail(out: &mut Vec<u8>, o: &Opt<'_>) -> bool {
    if o.len() != 12 {
        return false;
    }
    out.extend_from_slice(b" seq ");
    push_u64(out, o.u64(FAIL_DSN));
    true
}

fn fast_close(out: &mut Vec<u8>, o: &Opt<'_>) -> bool {
    if o.len() != 12 {
        return false;
    }
    out.extend_from_slice(b" key ");
    hex64(out, o.u64(FASTCLOSE_KEY));
    true
}

#[cfg(test)]
#[path = "mptcp_tests.rs"]
mod tests;
