//! Names and numbers in DNS text as tcpdump writes them: types, classes, bit labels,
//! bracketed numbers and hex.
use super::*;

/// tcpdump's `ns_ops`: the opcode after the ID.
pub(super) const OPCODES: [&str; 16] = [
    "",
    " inv_q",
    " stat",
    " op3",
    " notify",
    " update",
    " op6",
    " op7",
    " op8",
    " updateA",
    " updateD",
    " updateDA",
    " updateM",
    " updateMA",
    " zoneInit",
    " zoneRef",
];

/// tcpdump's `ns_resp` (17 and 21 without their space, as tcpdump has them).
pub(super) const RCODES: [&str; 24] = [
    "",
    " FormErr",
    " ServFail",
    " NXDomain",
    " NotImp",
    " Refused",
    " YXDomain",
    " YXRRSet",
    " NXRRSet",
    " NotAuth",
    " NotZone",
    " Resp11",
    " Resp12",
    " Resp13",
    " Resp14",
    " NoChange",
    " BadVers",
    "Resp17",
    " Resp18",
    " Resp19",
    " Resp20",
    "Resp21",
    " Resp22",
    " BadCookie",
];

/// A bit-string label as tcpdump's `blabel_print`: `\[xHEX/BITS]`.
pub(super) fn bit_label(out: &mut Vec<u8>, bits: usize, bytes: &[u8]) {
    out.extend_from_slice(b"\\[x");
    let mut b = bits;
    let mut i = 0;
    while b > 7 {
        if let Some(&v) = bytes.get(i) {
            hex2(out, v);
        }
        b -= 8;
        i += 1;
    }
    if let Some(&v) = bytes.get(i) {
        if b > 4 {
            hex2(out, v & (0xffu8 << (8 - b)));
        } else if b > 0 {
            out.push(HEX_LOWER[((v >> 4) & (0x0f << (4 - b)) & 0x0f) as usize]);
        }
    }
    out.push(b'/');
    push_u64(out, bits as u64);
    out.push(b']');
}

/// tcpdump's `ns_type2str` (`TypeN` for the others).
pub(crate) fn type_name(out: &mut Vec<u8>, t: u16) {
    const LOW: [&str; 49] = [
        "", "A", "NS", "MD", "MF", "CNAME", "SOA", "MB", "MG", "MR", "NULL", "WKS", "PTR", "HINFO",
        "MINFO", "MX", "TXT", "RP", "AFSDB", "X25", "ISDN", "RT", "NSAP", "NSAP_PTR", "SIG", "KEY",
        "PX", "GPOS", "AAAA", "LOC", "NXT", "EID", "NIMLOC", "SRV", "ATMA", "NAPTR", "KX", "CERT",
        "A6", "DNAME", "SINK", "OPT", "APL", "DS", "SSHFP", "IPSECKEY", "RRSIG", "NSEC", "DNSKEY",
    ];
    let name = match t {
        1..=48 => LOW[t as usize],
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "UNSPECA",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => {
            out.extend_from_slice(b"Type");
            return push_u64(out, t.into());
        }
    };
    out.extend_from_slice(name.as_bytes());
}

/// tcpdump's `ns_class2str` (`(Class N)` for the others).
pub(crate) fn class_name(out: &mut Vec<u8>, c: u16) {
    let name: &[u8] = match c {
        1 => b"IN",
        3 => b"CHAOS",
        4 => b"HS",
        255 => b"ANY",
        _ => {
            out.extend_from_slice(b"(Class ");
            push_u64(out, c.into());
            return out.push(b')');
        }
    };
    out.extend_from_slice(name);
}

/// ` [Nx]`, `x]` being `suffix`.
pub(super) fn bracket(out: &mut Vec<u8>, n: u16, suffix: &[u8]) {
    out.extend_from_slice(b" [");
    push_u64(out, n.into());
    out.extend_from_slice(suffix);
}

/// Bytes as tcpdump's `fn_print_char` writes them: `M-` and the low 7 bits for bytes
/// above 127, `^` and the byte xor 0x40 for control characters (and DEL as `^?`).
pub(super) fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        let mut c = b;
        if c & 0x80 != 0 {
            c &= 0x7f;
            out.extend_from_slice(b"M-");
        }
        if !(0x20..0x7f).contains(&c) {
            c ^= 0x40;
            out.push(b'^');
        }
        out.push(c);
    }
}

fn hex2(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[HEX_LOWER[(b >> 4) as usize], HEX_LOWER[(b & 15) as usize]]);
}

/// `%x`.
pub(super) fn hex(out: &mut Vec<u8>, v: u32) {
    let digits = (32 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[((v >> (4 * i)) & 15) as usize]);
    }
}
