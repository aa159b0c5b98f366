//! EDNS options (RFC 6891) in an OPT record's data, as tcpdump 4.99's `eopt_print`
//! (print-domain.c) writes them: `[ECS 192.0.2.0/24/0,COOKIE 0011223344556677]`.
use crate::output::{push_ipv4, push_ipv6, push_u64, HEX_LOWER};

/// One EDNS option (RFC 6891) of an OPT record's data; the offset of the next.
pub(super) fn option(out: &mut Vec<u8>, data: &[u8], at: usize) -> Option<usize> {
    let code = u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?);
    match EDNS_OPTIONS.iter().find(|(c, _)| *c == code) {
        Some((_, n)) => out.extend_from_slice(n.as_bytes()),
        None => {
            out.extend_from_slice(b"Opt");
            push_u64(out, code.into());
        }
    }
    let len = u16::from_be_bytes(data.get(at + 2..at + 4)?.try_into().ok()?) as usize;
    let v = data.get(at + 4..at + 4 + len)?;
    if len > 0 {
        out.push(b' ');
        match code {
            8 => client_subnet(out, v),
            10 if len < 8 || (len > 8 && len < 16) || len > 40 => invalid(out),
            10 => {
                for (i, &b) in v.iter().enumerate() {
                    if i == 8 {
                        out.push(b' ');
                    }
                    hex2(out, b);
                }
            }
            11 if len != 2 => invalid(out),
            11 => {
                let t = u16::from_be_bytes([v[0], v[1]]);
                push_u64(out, (t / 10).into());
                out.push(b'.');
                push_u64(out, (t % 10).into());
                out.extend_from_slice(b" sec");
            }
            9 if len != 4 => invalid(out),
            9 => {
                push_u64(out, u32::from_be_bytes([v[0], v[1], v[2], v[3]]).into());
                out.extend_from_slice(b" sec");
            }
            12 => {
                out.push(b'(');
                push_u64(out, len as u64);
                out.push(b')');
            }
            14 if !len.is_multiple_of(2) => invalid(out),
            14 => {
                for (i, k) in v.chunks_exact(2).enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    push_u64(out, u16::from_be_bytes([k[0], k[1]]).into());
                }
            }
            5..=7 => {
                for (i, &alg) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    algorithm(out, code, alg);
                }
            }
            13 => {
                super::dns::name(out, v, 0);
            }
            _ => v.iter().for_each(|&b| hex2(out, b)),
        }
    }
    Some(at + 4 + len)
}

/// EDNS Client Subnet (RFC 7871): `ADDRESS/SOURCE/SCOPE`.
fn client_subnet(out: &mut Vec<u8>, v: &[u8]) {
    if v.len() < 4 {
        return invalid(out);
    }
    let (family, src, scope) = (u16::from_be_bytes([v[0], v[1]]), v[2], v[3]);
    let bits = match family {
        1 => 32,
        2 => 128,
        _ => return invalid(out),
    };
    let addr = &v[4..];
    if addr.len() > bits / 8
        || src as usize > bits
        || scope as usize > bits
        || (src as usize).div_ceil(8) != addr.len()
    {
        return invalid(out);
    }
    let mut padded = [0u8; 16];
    padded[..addr.len()].copy_from_slice(addr);
    if family == 1 {
        push_ipv4(out, [padded[0], padded[1], padded[2], padded[3]].into());
    } else {
        push_ipv6(out, padded.into());
    }
    out.push(b'/');
    push_u64(out, src.into());
    out.push(b'/');
    push_u64(out, scope.into());
}

fn invalid(out: &mut Vec<u8>) {
    out.extend_from_slice(b" (invalid)");
}

/// tcpdump's `edns_opt2str`.
const EDNS_OPTIONS: [(u16, &str); 15] = [
    (1, "LLQ"),
    (2, "UL"),
    (3, "NSID"),
    (5, "DAU"),
    (6, "DHU"),
    (7, "N3U"),
    (8, "ECS"),
    (9, "EXPIRE"),
    (10, "COOKIE"),
    (11, "KEEPALIVE"),
    (12, "PADDING"),
    (13, "CHAIN"),
    (14, "KEY-TAG"),
    (16, "CLIENT-TAG"),
    (17, "SERVER-TAG"),
];

/// The algorithm names of the DAU (5), DHU (6) and N3U (7) options.
fn algorithm(out: &mut Vec<u8>, option: u16, alg: u8) {
    let name = match (option, alg) {
        (5, 0) => "DELETE",
        (5, 1) => "RSAMD5",
        (5, 2) => "DH",
        (5, 3) => "DS",
        (5, 5) => "RSASHA1",
        (5, 6) => "DSA-NSEC3-SHA1",
        (5, 7) => "RSASHA1-NSEC3-SHA1",
        (5, 8) => "RSASHA256",
        (5, 10) => "RSASHA512",
        (5, 12) => "ECC-GOST",
        (5, 13) => "ECDSAP256SHA256",
        (5, 14) => "ECDSAP384SHA384",
        (5, 15) => "ED25519",
        (5, 16) => "ED448",
        (5, 252) => "INDIRECT",
        (5, 253) => "PRIVATEDNS",
        (5, 254) => "PRIVATEOID",
        (6, 1) | (7, 1) => "SHA-1",
        (6, 2) => "SHA-256",
        (6, 3) => "GOST_R_34.11-94",
        (6, 4) => "SHA-384",
        _ => {
            out.extend_from_slice(b"Alg_");
            return push_u64(out, alg.into());
        }
    };
    out.extend_from_slice(name.as_bytes());
}

fn hex2(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[HEX_LOWER[(b >> 4) as usize], HEX_LOWER[(b & 15) as usize]]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(data: &[u8]) -> (String, Option<usize>) {
        let mut out = Vec::new();
        let next = option(&mut out, data, 0);
        (String::from_utf8(out).expect("ascii"), next)
    }

    #[test]
    fn options_as_tcpdump_names_them() {
        assert_eq!(
            text(&[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2]),
            ("ECS 192.0.2.0/24/0".into(), Some(11))
        );
        assert_eq!(
            text(&[0, 8, 0, 3, 0, 1, 24]),
            ("ECS  (invalid)".into(), Some(7))
        );
        let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(text(&cookie), ("COOKIE 0102030405060708".into(), Some(12)));
        assert_eq!(
            text(&[0, 11, 0, 2, 0, 15]),
            ("KEEPALIVE 1.5 sec".into(), Some(6))
        );
        assert_eq!(
            text(&[0, 5, 0, 2, 8, 99]),
            ("DAU RSASHA256 Alg_99".into(), Some(6))
        );
        assert_eq!(
            text(&[0, 12, 0, 3, 0, 0, 0]),
            ("PADDING (3)".into(), Some(7))
        );
        assert_eq!(text(&[1, 0, 0, 1, 0xab]), ("Opt256 ab".into(), Some(5)));
        assert_eq!(text(&[0, 3, 0, 5, 1]).1, None, "cut");
    }
}
