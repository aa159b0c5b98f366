//! The options of a TCP header, as tcpdump 4.99's `tcp_print` (print-tcp.c) writes
//! them without `-v`: `options [mss 1460,sackOK,TS val 1 ecr 0,...]` in tcpdump's
//! names, with its checks of each option's length (`[bad opt]`, `[len N]`) and its
//! marks where the capture ends inside one (`[|tcp]`). MPTCP's are [`super::mptcp`].
use super::seq::Kind;
use super::tcp::{be32, HEADER};
use crate::decode::be16;
use crate::output::{push_u64, HEX_LOWER};

/// How the options list ended.
pub(super) enum OptEnd {
    /// `]` written.
    Closed,
    /// A length that does not fit (`[bad opt]`, then `]` unless it was the first).
    Bad { first: bool },
    /// The capture ended inside an option's data (tcpdump's `LENCHECK`).
    Truncated { first: bool },
    /// The capture ended on an option's kind or length byte: tcpdump's `GET_U_1`
    /// gives up on the whole packet, the line ends with ` [|tcp]`.
    Cut,
}

/// The options of one header.
pub(super) struct Options<'a> {
    /// The option bytes captured (at most the header's).
    pub bytes: &'a [u8],
    /// Option bytes the header declares, not yet read.
    pub left: u32,
    /// The whole segment as captured (the MD5 option says whether it is all there).
    pub segment: &'a [u8],
    /// The segment's data length.
    pub length: u32,
}

impl Options<'_> {
    pub(super) fn print(
        &self,
        out: &mut Vec<u8>,
        number: &mut impl FnMut(&mut Vec<u8>, u32, Kind),
    ) -> OptEnd {
        let b = self.bytes;
        let mut hlen = self.left as usize;
        let mut cp = 0usize;
        let mut first = true;
        while hlen > 0 {
            if !first {
                out.push(b',');
            }
            let Some(&opt) = b.get(cp) else {
                return OptEnd::Cut;
            };
            cp += 1;
            let len = if opt <= 1 {
                1
            } else {
                let Some(&len) = b.get(cp) else {
                    return OptEnd::Cut;
                };
                cp += 1;
                if len < 2 || len as usize > hlen {
                    return OptEnd::Bad { first };
                }
                hlen -= 1;
                len as usize
            };
            hlen -= 1;
            match name(opt) {
                Some(n) => out.extend_from_slice(n),
                None => {
                    out.extend_from_slice(b"unknown-");
                    push_u64(out, opt.into());
                }
            }
            // `datalen` bytes of data follow at `cp`; `check(n)` is tcpdump's LENCHECK.
            let data = b.get(cp..).unwrap_or(&[]);
            let check = |n: usize| -> Result<(), OptEnd> {
                if n > hlen {
                    Err(OptEnd::Bad { first })
                } else if n > data.len() {
                    Err(OptEnd::Truncated { first })
                } else {
                    Ok(())
                }
            };
            let r = self.option(out, (opt, len, first), data, &check, number);
            let datalen = match r {
                Ok(n) => n,
                Err(e) => return e,
            };
            cp += datalen;
            hlen = hlen.saturating_sub(datalen);
            let declared = datalen + if opt <= 1 { 1 } else { 2 };
            if declared != len {
                out.extend_from_slice(b"[len ");
                push_u64(out, len as u64);
                out.push(b']');
            }
            first = false;
            if opt == 0 {
                break;
            }
        }
        out.push(b']');
        OptEnd::Closed
    }

    /// Prints one option's data; returns how many data bytes it took.
    fn option(
        &self,
        out: &mut Vec<u8>,
        (opt, len, first): (u8, usize, bool),
        d: &[u8],
        check: &impl Fn(usize) -> Result<(), OptEnd>,
        number: &mut impl FnMut(&mut Vec<u8>, u32, Kind),
    ) -> Result<usize, OptEnd> {
        let datalen = len.saturating_sub(2);
        Ok(match opt {
            0 | 1 | 4 => 0,
            2 => {
                check(2)?;
                out.push(b' ');
                push_u64(out, be16(d, 0).into());
                2
            }
            3 => {
                check(1)?;
                out.push(b' ');
                push_u64(out, d[0].into());
                1
            }
            5 => {
                if !datalen.is_multiple_of(8) {
                    out.extend_from_slice(b" invalid sack");
                } else {
                    out.push(b' ');
                    push_u64(out, (datalen / 8) as u64);
                    out.push(b' ');
                    for i in (0..datalen).step_by(8) {
                        check(i + 4)?;
                        let s = be32(d, i);
                        check(i + 8)?;
                        let e = be32(d, i + 4);
                        out.push(b'{');
                        number(out, s, Kind::Sack);
                        out.push(b':');
                        number(out, e, Kind::Sack);
                        out.push(b'}');
                    }
                }
                datalen
            }
            6 | 7 | 11 | 12 | 13 => {
                check(4)?;
                out.push(b' ');
                push_u64(out, be32(d, 0).into());
                4
            }
            8 => {
                check(8)?;
                out.extend_from_slice(b" val ");
                push_u64(out, be32(d, 0).into());
                out.extend_from_slice(b" ecr ");
                push_u64(out, be32(d, 4).into());
                8
            }
            19 => {
                check(16)?;
                out.push(b' ');
                // tcpdump checks the MD5 signature only with a secret (-M).
                let all = self.segment.len() as u64
                    >= u64::from(self.length) + u64::from(self.left) + HEADER as u64;
                out.extend_from_slice(if all {
                    b"shared secret not supplied with -M, can't check - "
                } else {
                    b"snaplen too short, can't check - "
                });
                hex(out, &d[..16]);
                16
            }
            20 => {
                check(2)?;
                out.extend_from_slice(b" cap ");
                hex(out, &d[..1]);
                out.extend_from_slice(b" id ");
                push_u64(out, d[1].into());
                2
            }
            28 => {
                check(2)?;
                let v = be16(d, 0);
                out.extend_from_slice(b" 0x");
                hex_min(out, v.into());
                out.push(b' ');
                let minutes = v & 1 != 0;
                push_u64(
                    out,
                    if minutes {
                        u64::from(v >> 1) * 60
                    } else {
                        u64::from(v >> 1)
                    },
                );
                2
            }
            29 => {
                if datalen < 2 {
                    out.extend_from_slice(b" (invalid)");
                } else {
                    check(1)?;
                    out.extend_from_slice(b" keyid ");
                    push_u64(out, d[0].into());
                    check(2)?;
                    out.extend_from_slice(b" rnextkeyid ");
                    push_u64(out, d[1].into());
                    if datalen > 2 {
                        out.extend_from_slice(b" mac 0x");
                        for i in 2..datalen {
                            check(i + 1)?;
                            hex(out, &d[i..i + 1]);
                        }
                    }
                }
                datalen
            }
            30 => {
                check(datalen)?;
                if !super::mptcp::option(out, &d[..datalen], self.segment[13]) {
                    return Err(OptEnd::Bad { first });
                }
                datalen
            }
            34 => {
                check(datalen)?;
                out.push(b' ');
                fastopen(out, &d[..datalen], false);
                datalen
            }
            254 => {
                check(datalen)?;
                if datalen < 2 {
                    return Err(OptEnd::Bad { first });
                }
                out.push(b'-');
                let magic = be16(d, 0);
                if magic == 0xf989 {
                    fastopen(out, &d[2..datalen], true);
                } else {
                    hex(out, &d[..2]);
                }
                datalen
            }
            _ => {
                if datalen > 0 {
                    out.extend_from_slice(b" 0x");
                }
                for i in 0..datalen {
                    check(i + 1)?;
                    hex(out, &d[i..i + 1]);
                }
                datalen
            }
        })
    }
}

/// tcpdump's `tcp_option_values` (an unknown kind prints `unknown-N`).
fn name(opt: u8) -> Option<&'static [u8]> {
    Some(match opt {
        0 => b"eol",
        1 => b"nop",
        2 => b"mss",
        3 => b"wscale",
        4 => b"sackOK",
        5 => b"sack",
        6 => b"echo",
        7 => b"echoreply",
        8 => b"TS",
        11 => b"cc",
        12 => b"ccnew",
        19 => b"md5",
        20 => b"scps",
        28 => b"uto",
        29 => b"tcp-ao",
        30 => b"mptcp",
        34 => b"tfo",
        13 => b"",
        254 => b"exp",
        _ => return None,
    })
}

/// TCP Fast Open (RFC 7413), as print_tcp_fastopen_option.
fn fastopen(out: &mut Vec<u8>, cookie: &[u8], exp: bool) {
    if exp {
        out.extend_from_slice(b"tfo");
    }
    if cookie.is_empty() {
        out.extend_from_slice(b" cookiereq");
    } else if !cookie.len().is_multiple_of(2) || cookie.len() < 4 || cookie.len() > 16 {
        out.extend_from_slice(b" (invalid)");
    } else {
        out.extend_from_slice(b" cookie ");
        hex(out, cookie);
    }
}

/// Two lower-case hex digits per byte.
pub(super) fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.extend_from_slice(&[HEX_LOWER[(b >> 4) as usize], HEX_LOWER[(b & 15) as usize]]);
    }
}

/// `%x`: lower-case hex without leading zeros.
pub(super) fn hex_min(out: &mut Vec<u8>, v: u64) {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[((v >> (4 * i)) & 15) as usize]);
    }
}
