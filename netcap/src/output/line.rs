//! The `line` format: one line per frame, as `tcpdump -n` (4.99) prints it.
//!
//! ```text
//! 12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 512, options [mss 1460], length 0
//! 12:00:00.000002 IP6 fe80::1 > ff02::1: ICMP6, neighbor solicitation, who has fe80::2, length 32
//! 12:00:00.000003 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46
//! 12:00:00.000004 IP 10.0.0.1.53 > 10.0.0.2.4000: 43981+ A? example.com. (29)
//! ```
//!
//! Each layer follows its tcpdump printer without `-v`, down to the complaints and the
//! `[|proto]` marks where the capture ends: ARP (`arp_print`, with its hex dump for an
//! unknown operation, [`dump`]), IPv4 ([`ip4`], `ip_print`: `bad-hlen`, `bad-len`,
//! `truncated-ip - N bytes missing!`, a later fragment as `SRC > DST: ip-proto-N`),
//! IPv6 with its extension headers ([`ip6`], [`ip6_ext`]), ICMP ([`icmp`]: the quoted
//! packet of an error), ICMPv6 ([`icmp6`], [`icmp6_more`]), TCP ([`tcp`]), UDP
//! (`udp_print`) and DNS ([`dns`], [`edns`]); [`transport`] picks the printer after
//! either IP header. The time is the local
//! time of day with microseconds ([`time`]: `TZ` respected). As with `tcpdump -n`,
//! addresses are numeric, link-layer headers (and VLAN tags) are not shown, and TCP
//! sequence numbers are relative to the first seen in each direction of a
//! conversation; the writer finishes them in capture order ([`seq`] says how and why).
//!
//! Where netcap decodes less than tcpdump, it says so in its own words: an EtherType
//! it does not decode prints `ethertype 0xNNNN, length N`, a link type `link type N,
//! length N` (N the wire length), an IP protocol ` ip-proto-N LEN` (tcpdump's words
//! for a protocol it does not know either).
//!
//! tcpdump's printing flags are [`Options`]: the `-t` family ([`time`]), `-S`, `-e`
//! ([`link`]), `-q` ([`quick`]), the dumps `-x`, `-X`, `-A` ([`dump`]) and `-v` ([`verbose`]). UDP's
//! applications beside DNS: NTP ([`ntp`]) and DHCP ([`dhcp`]), picked by [`app`].
//!
//! When the run has more than one interface (a pcapng file with several), each line
//! names the frame's interface and direction after the time, as `tcpdump -i any`
//! does: `veth0 In  IP ...` (the name padded to 5, the direction to 3).
mod app;
mod dhcp;
mod dhcp_opts;
mod dhcp_tags;
pub(crate) mod dns;
mod dump;
mod edns;
mod icmp;
mod icmp6;
mod icmp6_more;
mod icmp6_verbose;
mod ip4;
mod ip6;
mod ip6_ext;
mod ipopt;
mod link;
mod mptcp;
mod ntp;
mod read;
mod seq;
mod ssh;
mod tcp;
mod tcp_options;
mod time;
mod transport;
mod verbose;
mod verbose_icmp;

use proto::*;
mod proto;
mod quick;

use std::ops::Range;

pub use app::UdpApp;
pub use seq::Deferred;
pub use time::TimeFormat;

/// tcpdump's printing flags that the line format follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-t` given 0 to 5 times.
    pub time: TimeFormat,
    /// `-S`: absolute TCP sequence numbers.
    pub absolute: bool,
    /// `-e`: the Ethernet header (addresses, EtherTypes, VLAN tags) before the rest.
    pub link_header: bool,
    /// `-x`, `-xx`, `-X`, `-XX`, `-A`, `-AA`: the frame's bytes after its line.
    pub dump: Dump,
    /// `-v`: the IP header's fields, checksums, NTP and DHCP in full ([`verbose`]).
    pub verbose: bool,
    /// `-q`: tcpdump's quick output ([`quick`]).
    pub quick: bool,
}

/// Which bytes follow each line, and how (tcpdump's `-x`, `-X`, `-A`; given twice,
/// from the link-layer header on, else from the network layer on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dump {
    #[default]
    None,
    /// `-x`: hex.
    Hex { link: bool },
    /// `-X`: hex and ASCII.
    HexAscii { link: bool },
    /// `-A`: ASCII.
    Ascii { link: bool },
}

use super::{push_ipv4, push_ipv6, push_mac, push_u64, BatchText, Printer};
use crate::decode::{Decoded, EtherType, IpProtocol, Layer, Net, Transport};
use crate::packet::{Direction, Frame, InterfaceNames, LinkType};

/// The `line` printer. A worker's notes the numbers the writer finishes; the writer's
/// keeps the conversations' sequence number bases.
#[derive(Debug)]
pub struct Line {
    pub names: InterfaceNames,
    options: Options,
    /// What this printer noted for the writer since the last `take_deferred`.
    deferred: Deferred,
    /// The output's length after the last frame: a shorter output is a new buffer, and
    /// the notes about the old one are dropped.
    text_len: usize,
    /// The writer's: the bases of every conversation so far.
    bases: seq::Bases,
    /// The time of day in the run's time zone.
    clock: time::LocalClock,
    /// Printing an ICMP error's quoted packet (`-v`): no quote inside it.
    quoting: bool,
}

/// UTC, tcpdump's defaults; the run's printers take the system's time zone
/// ([`Line::new`]).
impl Default for Line {
    fn default() -> Self {
        Self::with_time_zone(InterfaceNames::default(), jiff::tz::TimeZone::UTC)
    }
}

impl Line {
    /// A printer in the system's time zone (`TZ`, else `/etc/localtime`), as tcpdump.
    pub fn new(names: InterfaceNames, options: Options) -> Self {
        let mut line = Self::with_time_zone(names, jiff::tz::TimeZone::system());
        line.set_options(options);
        line
    }

    pub fn with_time_zone(names: InterfaceNames, tz: jiff::tz::TimeZone) -> Self {
        Self {
            names,
            options: Options::default(),
            deferred: Deferred::default(),
            text_len: 0,
            bases: seq::Bases::default(),
            clock: time::LocalClock::new(tz),
            quoting: false,
        }
    }

    pub fn set_options(&mut self, options: Options) {
        self.options = options;
        if options.time.relative() {
            self.bases = seq::Bases::with_time_reference(options.time == TimeFormat::Delta);
        }
    }

    /// The time a line starts with, and its space.
    fn push_time(&mut self, out: &mut Vec<u8>, ts_ns: u64, line_at: usize) {
        match self.options.time {
            TimeFormat::Local => self.clock.push(out, ts_ns),
            TimeFormat::None => return,
            TimeFormat::Unix => time::push_unix(out, ts_ns),
            TimeFormat::LocalDate => self.clock.push_with_date(out, ts_ns),
            TimeFormat::Delta | TimeFormat::SinceFirst => {
                out.extend_from_slice(time::SPAN_HOLE);
                self.deferred.time(line_at, ts_ns);
            }
        }
        out.push(b' ');
    }

    /// tcpdump's complaint about a record's lengths, printed instead of the frame.
    fn invalid_header(&self, frame: &Frame<'_>, out: &mut Vec<u8>) -> bool {
        const MAX: u32 = 262_144;
        let (caplen, len) = (frame.data.len() as u64, u64::from(frame.meta.orig_len));
        let mut complaints: Vec<String> = Vec::new();
        if caplen == 0 {
            complaints.push("caplen==0".into());
        }
        if len == 0 {
            complaints.push(" len==0".into());
        } else if len < caplen {
            complaints.push(format!(" len({len}) < caplen({caplen})"));
        }
        if caplen > u64::from(MAX) {
            complaints.push(format!(" caplen({caplen}) > {MAX}"));
        }
        if len > u64::from(MAX) {
            complaints.push(format!(" len({len}) > {MAX}"));
        }
        if complaints.is_empty() {
            return false;
        }
        out.extend_from_slice(b"[Invalid header:");
        for (i, c) in complaints.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let c = if i == 0 && c == "caplen==0" {
                " caplen==0"
            } else {
                c
            };
            out.extend_from_slice(c.as_bytes());
        }
        out.extend_from_slice(b"]\n");
        true
    }

    /// `NAME  Dir ` as tcpdump's `sll2_if_print` writes it (`?` for what is unknown).
    fn push_interface(&mut self, frame: &Frame<'_>, out: &mut Vec<u8>) {
        let name = self.names.name(frame.meta.iface).unwrap_or("?");
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + 5usize.saturating_sub(name.len()), b' ');
        out.extend_from_slice(match frame.meta.direction {
            Direction::In => b" In  ",
            Direction::Out => b" Out ",
            Direction::Unknown => b" ?   ",
        });
    }
}

impl Printer for Line {
    fn print(&mut self, frame: &Frame<'_>, d: &Decoded, out: &mut Vec<u8>) {
        if out.len() < self.text_len {
            self.deferred = Deferred::default();
        }
        self.deferred.cut(out.len());
        let line_at = out.len();
        self.line(frame, d, out, line_at);
        self.text_len = out.len();
    }

    fn take_deferred(&mut self) -> Deferred {
        std::mem::take(&mut self.deferred)
    }

    fn resolve(
        &mut self,
        batch: BatchText<'_>,
        frames: Range<usize>,
        deferred: &Deferred,
        out: &mut Vec<u8>,
        out_ends: &mut Vec<u32>,
    ) {
        self.bases.resolve(batch, frames, deferred, out, out_ends);
    }
}

impl Line {
    fn line(&mut self, frame: &Frame<'_>, d: &Decoded, out: &mut Vec<u8>, line_at: usize) {
        if self.invalid_header(frame, out) {
            return;
        }
        self.push_time(out, frame.meta.ts_ns, line_at);
        if self.names.several() {
            self.push_interface(frame, out);
        }
        if let LinkType::Unknown(n) = frame.meta.link {
            out.extend_from_slice(b"link type ");
            push_u64(out, n.into());
            out.extend_from_slice(b", length ");
            push_u64(out, frame.meta.orig_len.into());
            self.dump(out, frame, 0);
            out.push(b'\n');
            return;
        }
        // With -e, the Ethernet header; the network layer then leaves out its name.
        let bare = self.options.link_header
            && match frame.meta.link {
                LinkType::Ethernet => link::ethernet(out, frame, self.options.quick),
                LinkType::LinuxSll => link::sll(out, frame, false, self.options.quick),
                LinkType::LinuxSll2 => link::sll(out, frame, true, self.options.quick),
                // tcpdump's raw_if_print.
                LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
                    out.extend_from_slice(b"ip: ");
                    true
                }
                _ => false,
            };
        let net_len = (frame.meta.orig_len as usize).saturating_sub(d.net_off as usize);
        let mut marked = false;
        let version = frame.data.first().map(|b| b >> 4);
        // tcpdump prints the IPv4 and IPv6 link types as raw IP: by the version nibble.
        let raw = matches!(
            frame.meta.link,
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6
        );
        let other_version = match frame.meta.link {
            LinkType::Ipv4 => version == Some(6),
            LinkType::Ipv6 => version == Some(4),
            _ => false,
        };
        let redone;
        let d = if other_version {
            let meta = crate::packet::FrameMeta {
                link: LinkType::Raw,
                ..frame.meta
            };
            redone = crate::decode::decode(&Frame {
                meta,
                data: frame.data,
            });
            &redone
        } else {
            d
        };
        let is_ipv4 = d.ethertype == Some(EtherType::Ipv4) || (raw && version == Some(4));
        match &d.net {
            _ if raw && !matches!(version, Some(4) | Some(6) | None) => {
                out.extend_from_slice(b"unknown ip ");
                push_u64(out, version.unwrap_or(0).into());
                marked = true;
            }
            _ if d.ethertype == Some(EtherType::Arp) => {
                let bytes = frame.data.get(d.net_off as usize..).unwrap_or(&[]);
                arp(out, bytes, net_len, bare, self.options.verbose);
                marked = true;
            }
            _ if is_ipv4 => marked = self.ipv4(out, frame, d, (net_len, line_at), bare),
            Net::None => match d.ethertype {
                Some(et) if d.issue.is_none() => {
                    out.extend_from_slice(b"ethertype 0x");
                    let et = u16::from(et);
                    for shift in [12, 8, 4, 0] {
                        out.push(super::HEX_LOWER[((et >> shift) & 15) as usize]);
                    }
                    out.extend_from_slice(b", length ");
                    push_u64(out, net_len as u64);
                }
                // A header cut short before anything tcpdump prints: only its mark.
                Some(_) | None => {}
            },
            Net::Arp(_) | Net::Ipv4(_) => {}
            Net::Ipv6(_) => marked = self.ipv6(out, frame, d, (net_len, line_at), bare),
        }
        if let (Some(issue), false) = (d.issue, marked) {
            out.extend_from_slice(b" [|");
            out.extend_from_slice(mark_name(issue.layer, frame.meta.link).as_bytes());
            out.push(b']');
        }
        self.dump(out, frame, d.net_off as usize);
        out.push(b'\n');
    }

    /// `-x`, `-X`, `-A`: the frame's bytes from `net_off` (or all of them).
    fn dump(&self, out: &mut Vec<u8>, frame: &Frame<'_>, net_off: usize) {
        let from = |link: bool| if link { 0 } else { net_off };
        match self.options.dump {
            Dump::None => {}
            Dump::Hex { link } => {
                dump::hex(out, b"\n\t", frame.data.get(from(link)..).unwrap_or(&[]), 0)
            }
            Dump::HexAscii { link } => {
                dump::hex_ascii(out, b"\n\t", frame.data.get(from(link)..).unwrap_or(&[]), 0)
            }
            Dump::Ascii { link } => dump::ascii(out, frame.data.get(from(link)..).unwrap_or(&[])),
        }
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
