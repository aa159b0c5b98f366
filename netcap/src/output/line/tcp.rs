//! The TCP part of a line, as tcpdump 4.99's `tcp_print` (print-tcp.c) writes it
//! without `-v`: the ports, `Flags [...]`, `seq`, `ack`, `win`, `urg`, the options in
//! tcpdump's words ([`super::tcp_options`]), `length N`, and tcpdump's marks where the
//! capture or a field ends the header early (`[|tcp]`, `[bad opt]`, `[bad hdr length
//! ...]`).
//!
//! A segment from or to port 53 carries DNS ([`super::dns`]), one from or to port 22
//! SSH ([`super::ssh`]): either is printed after the length.
//!
//! The sequence and acknowledgement numbers (and SACK edges) are printed absolute and
//! noted in the [`Deferred`] for the writer, which makes them relative in capture order
//! (see [`super::seq`]).
use super::seq::{ConnKey, Deferred, Kind};
use super::tcp_options::{OptEnd, Options};
use crate::decode::be16;
use crate::output::push_u64;

/// TCP header bits, in tcpdump's order of printing (print-tcp.c `tcp_flag_values`:
/// the ACK dot comes after PSH; tcpdump 4.99 reads 8 bits, so NS is not printed).
const FLAG_CHARS: [(u8, u8); 8] = [
    (0x01, b'F'),
    (0x02, b'S'),
    (0x04, b'R'),
    (0x08, b'P'),
    (0x10, b'.'),
    (0x20, b'U'),
    (0x40, b'E'),
    (0x80, b'W'),
];
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

/// The TCP header's fixed part.
pub(super) const HEADER: usize = 20;

/// One TCP segment to print.
pub(super) struct Segment<'a> {
    /// The segment from its first byte, as captured (cut at the IP payload's end).
    pub bytes: &'a [u8],
    /// The IP payload length the IP header declares (tcpdump's `length`).
    pub length: u32,
    /// Source and destination addresses (4 or 16 bytes), for the conversation key.
    pub src: &'a [u8],
    pub dst: &'a [u8],
    /// Where the frame's text starts in the output (for the writer's notes).
    pub line_at: usize,
    /// Sequence numbers relative (tcpdump without `-S`).
    pub relative: bool,
    /// `-v`: a reset's data in brackets; DNS records' names.
    pub verbose: bool,
    /// `-v`: the checksum computed over the segment (0 when right), after the flags.
    pub cksum: Option<u16>,
}

/// Why the TCP text stopped early; the caller ends the line with the mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The text is complete.
    Done,
    /// The capture ended inside the header: ` [|tcp]`.
    Truncated,
}

/// Appends `Flags [..], seq .., length N` (the part after `src.port > dst.port: `).
/// The caller has checked that the 4 port bytes are there.
pub(super) fn segment(out: &mut Vec<u8>, deferred: &mut Deferred, s: &Segment<'_>) -> End {
    let b = s.bytes;
    if b.len() < HEADER {
        return End::Truncated;
    }
    let hlen = (b[12] >> 4) as u32 * 4;
    if hlen < HEADER as u32 {
        out.extend_from_slice(b" tcp ");
        push_u64(out, s.length.wrapping_sub(hlen).into());
        out.extend_from_slice(b" [bad hdr length ");
        push_u64(out, hlen.into());
        out.extend_from_slice(b" - too short, < 20]");
        return End::Done;
    }
    let seq = be32(b, 4);
    let ack = be32(b, 8);
    let flags = b[13];
    out.extend_from_slice(b"Flags [");
    let mut any = false;
    for (bit, c) in FLAG_CHARS {
        if flags & bit != 0 {
            out.push(c);
            any = true;
        }
    }
    if !any {
        out.extend_from_slice(b"none");
    }
    out.push(b']');
    // The notes of this line; the line itself is noted last, so a line a panic cut
    // short leaves numbers that the next line's `truncate` drops.
    let noting = s.relative && flags & ACK != 0;
    deferred.begin_line();
    let finish = |deferred: &mut Deferred| {
        if noting {
            let (key, rev) = ConnKey::new(s.src, s.dst, be16(b, 0), be16(b, 2));
            deferred.line(s.line_at, key, rev, flags & SYN != 0, seq, ack);
        }
    };
    if hlen > s.length {
        out.extend_from_slice(b" [bad hdr length ");
        push_u64(out, hlen.into());
        out.extend_from_slice(b" - too long, > ");
        push_u64(out, s.length.into());
        out.push(b']');
        finish(deferred);
        return End::Done;
    }
    if let Some(sum) = s.cksum {
        super::verbose::tcp_cksum(out, be16(b, 16), sum);
    }
    let length = s.length - hlen;
    let mut number = |out: &mut Vec<u8>, v: u32, kind: Kind| {
        let at = out.len();
        push_u64(out, v.into());
        if noting {
            deferred.num(at, out.len(), v, kind);
        }
    };
    if length > 0 || flags & (SYN | FIN | RST) != 0 {
        out.extend_from_slice(b", seq ");
        number(out, seq, Kind::Seq);
        if length > 0 {
            out.push(b':');
            number(out, seq.wrapping_add(length), Kind::Seq);
        }
    }
    if flags & ACK != 0 {
        out.extend_from_slice(b", ack ");
        number(out, ack, Kind::Ack);
    }
    out.extend_from_slice(b", win ");
    push_u64(out, be16(b, 14).into());
    if flags & URG != 0 {
        out.extend_from_slice(b", urg ");
        push_u64(out, be16(b, 18).into());
    }
    if hlen as usize > HEADER {
        out.extend_from_slice(b", options [");
        let opts = Options {
            // Options end at the header's end; bytes past the capture are missing.
            bytes: b.get(HEADER..(hlen as usize).min(b.len())).unwrap_or(&[]),
            left: hlen - HEADER as u32,
            segment: b,
            length,
        };
        match opts.print(out, &mut number) {
            OptEnd::Closed => {}
            OptEnd::Bad { first } => {
                out.extend_from_slice(b"[bad opt]");
                if !first {
                    out.push(b']');
                }
                finish(deferred);
                return End::Done;
            }
            OptEnd::Truncated { first } => {
                out.extend_from_slice(b" [|tcp]");
                if !first {
                    out.push(b'>');
                }
                finish(deferred);
                return End::Done;
            }
            OptEnd::Cut => {
                finish(deferred);
                return End::Truncated;
            }
        }
    }
    out.extend_from_slice(b", length ");
    push_u64(out, length.into());
    finish(deferred);
    if length > 0 && b.len() < hlen as usize {
        out.extend_from_slice(b" [remaining caplen(");
        push_u64(out, b.len() as u64);
        out.extend_from_slice(b") < header length(");
        push_u64(out, hlen.into());
        out.extend_from_slice(b")]");
        return End::Truncated;
    }
    let (sport, dport) = (be16(b, 0), be16(b, 2));
    let data = b.get(hlen as usize..).unwrap_or(&[]);
    if length > 0 && s.verbose && flags & RST != 0 {
        super::verbose::rst_data(out, data, length as usize);
        return End::Done;
    }
    if length > 0 && super::ssh::tcp_is_ssh(sport, dport) {
        super::ssh::version(out, data, length as usize);
    } else if length > 0 && super::dns::tcp_is_dns(sport, dport) {
        super::dns::over_tcp(out, data, length as usize, s.verbose);
    }
    End::Done
}

pub(super) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
