//! What `-v` adds to ICMP and ICMPv6 at the IP layer: the checksum tcpdump checks
//! (`icmp_print`, `icmp6_print`) and an ICMP error's quoted packet printed again in
//! full (`icmp_print` under `-v`).
use super::verbose::{in_cksum, ones_sum, push_hex, shouldbe, Pseudo};

/// ICMP's checksum under `-v`, when the whole message was captured: for ICMP,
/// ` (wrong icmp cksum 1234 (->5678)!)` after the text (nothing when right); for
/// ICMPv6, `[icmp6 sum ok] ` or `[bad icmp6 cksum 0x1234 -> 0x5678!] ` before its
/// `ICMP6, `. `at` is where the text of the IP payload starts in `out`; `msg` the
/// message from its first byte to the IP packet's captured end; `wire` its length.
pub(super) fn icmp_cksum(
    out: &mut Vec<u8>,
    at: usize,
    msg: Option<&[u8]>,
    p: Pseudo,
    wire: Option<usize>,
) {
    let Some(msg) = msg else {
        return;
    };
    let Some(whole) = msg.get(..wire.unwrap_or(msg.len())) else {
        return;
    };
    // tcpdump checks no ICMPv6 message of length 0 (it is invalid).
    if whole.is_empty() {
        return;
    }
    let field = whole.get(2..4).map(|s| u16::from_be_bytes([s[0], s[1]]));
    let stored = field.unwrap_or(0);
    if !p.v6 {
        let sum = in_cksum(ones_sum(whole, 0));
        if sum != 0 && field.is_none() {
            // tcpdump reads the field to print it: a shorter message ends there.
            return out.extend_from_slice(b" [|icmp]");
        }
        if sum != 0 {
            out.extend_from_slice(b" (wrong icmp cksum ");
            push_hex(out, stored.into(), 1);
            out.extend_from_slice(b" (->");
            push_hex(out, shouldbe(stored, sum).into(), 1);
            out.extend_from_slice(b")!)");
        }
        return;
    }
    let Some(pos) = out[at..].windows(7).position(|w| w == b"ICMP6, ") else {
        return;
    };
    let sum = p.check(58, whole);
    let mut text = Vec::with_capacity(40);
    if sum == 0 {
        text.extend_from_slice(b"[icmp6 sum ok] ");
    } else {
        text.extend_from_slice(b"[bad icmp6 cksum 0x");
        push_hex(&mut text, stored.into(), 4);
        text.extend_from_slice(b" -> 0x");
        push_hex(&mut text, shouldbe(stored, sum).into(), 4);
        text.extend_from_slice(b"!] ");
    }
    let pos = at + pos;
    out.splice(pos..pos, text);
}

impl super::Line {
    /// An ICMP error's quoted packet under `-v`, as `icmp_print` prints it after the
    /// message: a new line, a tab and the packet as `ip_print` prints it (its `-v`
    /// header, its addresses and transport). `msg` is the ICMP message as captured
    /// (to the IP packet's end). Not inside a quoted packet: tcpdump would go on into
    /// a quote of a quote; netcap prints one level.
    pub(super) fn icmp_quoted(&mut self, out: &mut Vec<u8>, msg: &[u8], line_at: usize) {
        // tcpdump's ICMP_ERRTYPE: unreachable, source quench, redirect, time exceeded,
        // parameter problem; a message whose text ended with the mark stops there.
        if self.quoting || !matches!(msg.first(), Some(3 | 4 | 5 | 11 | 12)) {
            return;
        }
        if out.ends_with(b"[|icmp]") {
            return;
        }
        out.extend_from_slice(b"\n\t");
        let inner = msg.get(8..).unwrap_or(&[]);
        let Some(ip_len) = inner
            .get(2..4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return out.extend_from_slice(b" [|icmp]");
        };
        let frame = crate::packet::Frame {
            meta: crate::packet::FrameMeta {
                ts_ns: 0,
                orig_len: ip_len as u32,
                ifindex: 0,
                direction: crate::packet::Direction::Unknown,
                link: crate::packet::LinkType::Ipv4,
                iface: 0,
                drops: 0,
            },
            data: &inner[..ip_len.min(inner.len())],
        };
        let d = crate::decode::decode(&frame);
        self.quoting = true;
        let marked = self.ipv4(out, &frame, &d, (ip_len, line_at), false);
        self.quoting = false;
        if let (Some(issue), false) = (d.issue, marked) {
            out.extend_from_slice(b" [|");
            out.extend_from_slice(super::mark_name(issue.layer, frame.meta.link).as_bytes());
            out.push(b']');
        }
    }
}
