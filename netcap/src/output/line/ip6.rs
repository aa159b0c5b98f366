//! An IPv6 packet as tcpdump's `ip6_print` (print-ip6.c, 4.99) writes it without
//! `-v`: its complaints about the header (`truncated-ip6 - N bytes missing!`,
//! `version error`), `SRC > DST: ` unless TCP or UDP follow the header directly (they
//! print the addresses with their ports), the extension headers ([`ip6_ext`]), then
//! the transport. After extension headers, TCP and UDP print their ports alone
//! (`IP6 a > b: HBH 41851 > 43913: Flags [P.], ...`).
//!
//! A payload length of 0 is a jumbogram when a hop-by-hop Jumbo Payload option says
//! so (its length then counts); without one, the packet has no payload.
use super::ip6_ext::{self, Ext, Jumbo};
use super::*;

/// tcpdump's `[|ip6]`.
const MARK: &[u8] = b" [|ip6]";

impl Line {
    /// The IPv6 packet at `d.net_off`; `length` is what the link layer carries.
    /// Writes its own truncation marks (returns true).
    pub(super) fn ipv6(
        &mut self,
        out: &mut Vec<u8>,
        frame: &Frame<'_>,
        d: &Decoded,
        (length, line_at): (usize, usize),
        bare: bool,
    ) -> bool {
        let off = d.net_off as usize;
        let b = frame.data.get(off..).unwrap_or(&[]);
        if b.len() < 40 {
            out.extend_from_slice(MARK);
            return true;
        }
        // tcpdump's lengths are 32-bit (`u_int`), and wrap as such.
        let length = length as u32;
        if length < 40 {
            out.extend_from_slice(b"truncated-ip6 ");
            push_u64(out, length.into());
            return true;
        }
        if !bare {
            out.extend_from_slice(b"IP6 ");
        }
        if b[0] >> 4 != 6 {
            out.extend_from_slice(b"version error: ");
            push_u64(out, (b[0] >> 4).into());
            out.extend_from_slice(b" != 6");
            return true;
        }
        let payload_len = u16::from_be_bytes([b[4], b[5]]);
        let mut len = if payload_len != 0 {
            let len = u32::from(payload_len) + 40;
            missing(out, len, length);
            len
        } else {
            length.wrapping_add(40)
        };
        if self.options.verbose {
            super::verbose::ipv6(out, b);
        }
        let mut cap = b.len().min(len as usize);
        let addrs = Addrs::V6(
            read::v6_at(b, 8).unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
            read::v6_at(b, 24).unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
        );
        let first = b[6];
        let mut next = first;
        let mut jumbo = Jumbo {
            found: false,
            payload_len: payload_len.into(),
        };
        let (mut at, mut advance, mut total) = (0usize, 40usize, 0usize);
        let (mut extension, mut hop_by_hop, mut fragmented) = (false, false, false);
        while at < cap {
            if len < advance as u32 {
                out.extend_from_slice(MARK);
                return true;
            }
            at += advance;
            len -= advance as u32;
            total += advance;
            if at == 40 && !matches!(next, 6 | 17 | 33 | 132) {
                addr(out, addrs, true, None);
                out.extend_from_slice(b" > ");
                addr(out, addrs, false, None);
                out.extend_from_slice(b": ");
            }
            let h = b.get(at..cap).unwrap_or(&[]);
            let ext = match next {
                0 => {
                    if hop_by_hop || at != 40 {
                        out.extend_from_slice(if hop_by_hop {
                            &b"[The Hop-by-Hop Options header was already found]"[..]
                        } else {
                            b"[The Hop-by-Hop Options header don't follow the IPv6 header]"
                        });
                        out.extend_from_slice(b" (invalid)");
                        return true;
                    }
                    let ext = ip6_ext::hop_by_hop(out, h, &mut jumbo, self.options.verbose);
                    if ext != Ext::Cut && jumbo.payload_len == 0 && !jumbo.found {
                        out.extend_from_slice(
                            b"[No valid Jumbo Payload Hop-by-Hop option found] (invalid)",
                        );
                        return true;
                    }
                    hop_by_hop = true;
                    ext
                }
                60 => ip6_ext::destination(out, h, self.options.verbose),
                44 => {
                    fragmented = true;
                    match ip6_ext::fragment(out, h, (at, payload_len), self.options.verbose) {
                        // tcpdump stops when nothing follows the fragment header.
                        Ext::Next(n) if cap <= at + n => Ext::Stop,
                        e => e,
                    }
                }
                43 => ip6_ext::routing(out, h, self.options.verbose),
                _ => {
                    if jumbo.found {
                        len = jumbo.payload_len.wrapping_add(40);
                        if (len as usize) < total {
                            out.extend_from_slice(MARK);
                            return true;
                        }
                        missing(out, len, length);
                        cap = cap.min(len as usize);
                        len -= total as u32;
                    } else if payload_len == 0 {
                        if extension {
                            out.extend_from_slice(MARK);
                            return true;
                        }
                        cap = cap.min(40);
                        len = 0;
                    }
                    let ip = Ip {
                        addrs,
                        wire: Some(len as usize),
                        cap_end: off + cap,
                        frag: false,
                        more_frags: fragmented,
                        line_at,
                        at: off + at,
                        proto: next,
                        whole: true,
                        ports_only: !matches!(first, 6 | 17),
                        v6: true,
                        check: super::verbose::Pseudo::v6(b)
                            .filter(|_| self.options.verbose && !fragmented),
                    };
                    return self.ip6_transport(out, frame, d, &ip);
                }
            };
            match ext {
                Ext::Next(n) => advance = n,
                Ext::Stop | Ext::Cut => return true,
            }
            extension = true;
            next = h.first().copied().unwrap_or(0);
        }
        true
    }

    /// The transport after the IPv6 header and its extension headers; authentication
    /// headers on the way print as tcpdump's demultiplexer does.
    fn ip6_transport(
        &mut self,
        out: &mut Vec<u8>,
        frame: &Frame<'_>,
        d: &Decoded,
        ip: &Ip,
    ) -> bool {
        let mut ip = Ip { ..*ip };
        let mut len = ip.wire.unwrap_or(0) as u32;
        while ip.proto == 51 {
            let h = frame.data.get(ip.at..ip.cap_end).unwrap_or(&[]);
            if h.is_empty() {
                out.extend_from_slice(b" [|ah]");
                return true;
            }
            let next = h[0];
            match ip6_ext::authentication(out, h) {
                Ext::Next(n) => {
                    ip.at += n;
                    len = len.wrapping_sub(n as u32);
                    ip.proto = next;
                }
                Ext::Stop | Ext::Cut => return true,
            }
        }
        ip.wire = Some(len as usize);
        match ip.proto {
            6 | 17 | 1 | 58 => self.ip_body(out, frame, d, &ip),
            59 => {
                out.extend_from_slice(b"no next header");
                true
            }
            n => {
                out.extend_from_slice(b" ip-proto-");
                push_u64(out, n.into());
                out.push(b' ');
                push_u64(out, len.into());
                true
            }
        }
    }
}

/// `truncated-ip6 - N bytes missing!` when the header claims more than the link
/// carries.
fn missing(out: &mut Vec<u8>, len: u32, length: u32) {
    if length < len {
        out.extend_from_slice(b"truncated-ip6 - ");
        push_u64(out, (len - length).into());
        out.extend_from_slice(b" bytes missing!");
    }
}
