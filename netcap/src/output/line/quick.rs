//! tcpdump's `-q` (quick output): the transport in a few words. TCP prints
//! `tcp N` (N the payload length, as `tcp_print` under `ndo_qflag`), UDP
//! `UDP, length N` without its application's summary (DNS, NTP, DHCP), and `-e`
//! names the EtherType alone (`SRC > DST, IPv4, length N: `). ICMP, ICMPv6, ARP
//! and the IP headers print as without `-q`.
use super::tcp;
use crate::output::{push_u64, HEX_LOWER};

/// A TCP segment's quick text after its ports: `tcp N`, or tcpdump's complaint about
/// the header length. `bytes` is the segment as captured, `length` the IP payload
/// length. `Truncated` when the capture ends inside the fixed header (tcpdump reads
/// the sequence numbers, window and urgent pointer before it looks at `-q`).
pub(super) fn tcp(out: &mut Vec<u8>, bytes: &[u8], length: u32) -> tcp::End {
    if bytes.len() < tcp::HEADER {
        return tcp::End::Truncated;
    }
    let hlen = u32::from(bytes[12] >> 4) * 4;
    if hlen < tcp::HEADER as u32 {
        out.extend_from_slice(b" tcp ");
        push_u64(out, length.wrapping_sub(hlen).into());
        out.extend_from_slice(b" [bad hdr length ");
        push_u64(out, hlen.into());
        out.extend_from_slice(b" - too short, < 20]");
        return tcp::End::Done;
    }
    out.extend_from_slice(b"tcp ");
    push_u64(out, length.wrapping_sub(hlen).into());
    if hlen > length {
        out.extend_from_slice(b" [bad hdr length ");
        push_u64(out, hlen.into());
        out.extend_from_slice(b" - too long, > ");
        push_u64(out, length.into());
        out.push(b']');
    }
    tcp::End::Done
}

/// An Ethernet type under `-q -e`: tcpdump's name alone, or `Unknown Ethertype
/// (0xNNNN)`.
pub(super) fn ethertype(out: &mut Vec<u8>, t: u16) {
    match super::link::ethertype_name(t) {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => {
            out.extend_from_slice(b"Unknown Ethertype (0x");
            for shift in [12, 8, 4, 0] {
                out.push(HEX_LOWER[((t >> shift) & 15) as usize]);
            }
            out.push(b')');
        }
    }
}

#[cfg(test)]
#[path = "quick_tests.rs"]
mod tests;
