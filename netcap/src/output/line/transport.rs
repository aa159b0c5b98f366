//! What follows the IP header, for IPv4 and IPv6 alike: TCP ([`tcp`], or [`quick`]
//! with `-q`), UDP and its applications, ICMP and ICMPv6 (with `-v` their checksums
//! and an ICMP error's quoted packet), and for any other protocol, or a fragment,
//! the addresses and the protocol's name (`proto::ip_body`).
use super::*;

impl Line {
    /// `SRC > DST: what`; returns true when it wrote the truncation mark itself.
    pub(super) fn ip_body(
        &mut self,
        out: &mut Vec<u8>,
        frame: &Frame<'_>,
        d: &Decoded,
        ip: &Ip,
    ) -> bool {
        let a = ip.addrs;
        let start = ip.at.min(ip.cap_end);
        let bytes = frame.data.get(start..ip.cap_end).unwrap_or(&[]);
        let wire = ip.wire.unwrap_or(bytes.len());
        if ip.frag || !ip.whole {
            ip_body(out, frame, d, a, ip.wire, ip.frag);
            return false;
        }
        match IpProtocol::from(ip.proto) {
            IpProtocol::Tcp => {}
            IpProtocol::Udp => {
                let v = (self.options.verbose, ip.check);
                let shape = (ip.ports_only, self.options.quick, v);
                udp(out, a, bytes, (wire, ip.more_frags), shape);
                return true;
            }
            p @ (IpProtocol::Icmp | IpProtocol::Icmpv6) => {
                if !ip.v6 {
                    addr(out, a, true, None);
                    out.extend_from_slice(b" > ");
                    addr(out, a, false, None);
                    out.extend_from_slice(b": ");
                }
                let at = out.len();
                match (p, ip.v6) {
                    (IpProtocol::Icmp, false) => icmp::icmp(out, bytes, wire),
                    (IpProtocol::Icmpv6, true) => {
                        icmp6::icmp6(out, bytes, wire, self.options.verbose)
                    }
                    (IpProtocol::Icmp, true) => {
                        out.extend_from_slice(b"[ICMP requires IPv4] (invalid)")
                    }
                    _ => out.extend_from_slice(b"[ICMPv6 requires IPv6] (invalid)"),
                }
                if let Some(p) = ip.check.filter(|p| p.v6 == ip.v6) {
                    verbose_icmp::icmp_cksum(out, at, Some(bytes), p, Some(wire));
                }
                if self.options.verbose && !ip.v6 {
                    self.icmp_quoted(out, bytes, ip.line_at);
                }
                return true;
            }
            _ => {
                ip_body(out, frame, d, a, ip.wire, ip.frag);
                return false;
            }
        }
        let be16 = |at: usize| read::be16_at(bytes, at);
        let (Some(sport), Some(dport)) = (be16(0), be16(2)) else {
            addr(out, a, true, None);
            out.extend_from_slice(b" > ");
            addr(out, a, false, None);
            out.extend_from_slice(b": [|tcp]");
            return true;
        };
        ports(out, a, (sport, dport), ip.ports_only);
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        let n = match a {
            Addrs::V4(s, t) => {
                src[..4].copy_from_slice(&s.octets());
                dst[..4].copy_from_slice(&t.octets());
                4
            }
            Addrs::V6(s, t) => {
                src = s.octets();
                dst = t.octets();
                16
            }
        };
        if self.options.quick {
            if quick::tcp(out, bytes, wire as u32) == tcp::End::Truncated {
                out.extend_from_slice(b" [|tcp]");
            }
            return true;
        }
        let seg = tcp::Segment {
            bytes,
            length: wire as u32,
            src: &src[..n],
            dst: &dst[..n],
            line_at: ip.line_at,
            relative: !self.options.absolute,
            verbose: self.options.verbose,
            cksum: verbose::tcp_sum(ip.check, Some(bytes), Some(wire)),
        };
        if tcp::segment(out, &mut self.deferred, &seg) == tcp::End::Truncated {
            out.extend_from_slice(b" [|tcp]");
        }
        true
    }
}
