//! An IPv4 packet as tcpdump's `ip_print` (print-ip.c, 4.99) writes it: the header's
//! complaints, a later fragment's addresses and protocol number, the `-v` fields
//! ([`verbose`]), then the transport ([`transport`]).
use super::*;

impl Line {
    /// An IPv4 packet as tcpdump's `ip_print` without `-v`: its complaints about the
    /// header (`bad-hlen`, `bad-len`, `truncated-ip - N bytes missing!`), a later
    /// fragment as `SRC > DST: ip-proto-N`, else the transport. `length` is what the
    /// link layer carries. Returns true when it wrote the truncation mark itself.
    pub(super) fn ipv4(
        &mut self,
        out: &mut Vec<u8>,
        frame: &Frame<'_>,
        d: &Decoded,
        (length, line_at): (usize, usize),
        bare: bool,
    ) -> bool {
        let off = d.net_off as usize;
        let b = frame.data.get(off..).unwrap_or(&[]);
        match b.first().map(|v| v >> 4) {
            Some(4) => {}
            Some(6) => {
                out.extend_from_slice(b"IP6, wrong link-layer encapsulation (invalid)");
                return true;
            }
            Some(v) => {
                out.extend_from_slice(b"IP");
                push_u64(out, v.into());
                out.extend_from_slice(b" (invalid)");
                return true;
            }
            None => {
                out.extend_from_slice(b" [|ip]");
                return true;
            }
        }
        if !bare {
            out.extend_from_slice(b"IP ");
        }
        let Net::Ipv4(ip) = &d.net else {
            out.extend_from_slice(b" [|ip]");
            return true;
        };
        if length < 20 {
            out.extend_from_slice(b"truncated-ip ");
            push_u64(out, length as u64);
            return true;
        }
        let hlen = ip.ihl as usize * 4;
        if hlen < 20 {
            out.extend_from_slice(b"bad-hlen ");
            push_u64(out, hlen as u64);
            return true;
        }
        let len = ip.total_len as usize;
        if length < len {
            out.extend_from_slice(b"truncated-ip - ");
            push_u64(out, (len - length) as u64);
            out.extend_from_slice(b" bytes missing! ");
        }
        if len < hlen {
            out.extend_from_slice(b"bad-len ");
            push_u64(out, len as u64);
            return true;
        }
        let a = Addrs::V4(ip.src, ip.dst);
        let mut check = None;
        if self.options.verbose {
            let header = frame.data.get(off..(off + len).min(frame.data.len()));
            match verbose::ipv4_line(out, header.unwrap_or(&[]), a, ip.more_frags) {
                Some(c) => check = c,
                None => return true,
            }
        }
        if ip.frag_offset != 0 {
            addr(out, a, true, None);
            out.extend_from_slice(b" > ");
            addr(out, a, false, None);
            out.extend_from_slice(b": ip-proto-");
            push_u64(out, ip.protocol.into());
            return true;
        }
        let ipv = Ip {
            addrs: a,
            wire: Some(len - hlen),
            cap_end: (off + len).min(frame.data.len()),
            frag: false,
            more_frags: ip.more_frags,
            line_at,
            at: d.transport_off as usize,
            proto: ip.protocol,
            whole: d.issue.is_none_or(|i| {
                matches!(
                    i.layer,
                    Layer::Tcp | Layer::Udp | Layer::Icmp | Layer::Icmpv6
                )
            }),
            ports_only: false,
            v6: false,
            check,
        };
        self.ip_body(out, frame, d, &ipv)
    }
}
