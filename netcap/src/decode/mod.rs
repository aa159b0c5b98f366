//! Lax, zero-copy protocol decoding.
//!
//! INTERFACE CONTRACT (other modules rely on these names; the decode work fills them in):
//! - `decode(&Frame) -> Decoded`: never fails, never panics, no allocation.
//! - `Decoded::flow_tuple() -> Option<FlowTuple>`
//! - `Decoded::tcp_flags() -> Option<u8>`
//! - `Decoded::malformed() -> Option<Layer>`: the first layer that was cut short or invalid.
//!
//! # Shape
//!
//! One file per protocol, in the style of smoltcp's `wire/`: a `Copy` view type over
//! `&[u8]` whose constructor (`new_checked`) only checks that the fixed part of the
//! header is present, field offsets in one `field` module, getters named after the RFC
//! fields, and unit tests with literal byte arrays at the bottom of the file. The views
//! are written by hand rather than taken from a crate for two reasons: the hot path wants
//! no allocation and no validation it does not need, and the `turtle` printer needs the
//! seed program's fixed-offset semantics (an IHL under 5 is read, not rejected), which
//! only raw getters give.
//!
//! [`decode`] walks the layers of one frame (link -> VLAN tags -> ARP / IPv4 / IPv6 with
//! extension headers -> TCP / UDP / ICMP / ICMPv6) and fills a [`Decoded`]: a `Copy`
//! summary with parsed values and byte offsets into the frame, so printers can reach
//! variable parts (TCP options, payload) without a lifetime on `Decoded`.
//!
//! # Laxness
//!
//! A snap length cuts frames short by design: decoding keeps what it could read and
//! records the first layer that was cut or invalid in [`Decoded::issue`]; it never
//! returns an error. Protocol numbers are open sets ([`EtherType`], [`IpProtocol`]
//! have `Unknown(n)`), so no number stops decoding either.
use std::net::IpAddr;

pub mod arp;
pub mod dns;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sll;
pub mod tcp;
pub mod udp;
pub mod vlan;
mod walk;

pub use walk::decode;

/// A protocol layer, used to say where decoding stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Link,
    Vlan,
    Arp,
    Ipv4,
    Ipv6,
    Ipv6Ext,
    Icmp,
    Icmpv6,
    Tcp,
    Udp,
}

impl Layer {
    /// Lower-case name, as used by the `json` and `line` formats.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Vlan => "vlan",
            Self::Arp => "arp",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Ipv6Ext => "ipv6_ext",
            Self::Icmp => "icmp",
            Self::Icmpv6 => "icmpv6",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// Why decoding stopped early at a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The capture ends inside the header.
    Truncated,
    /// A field makes the header impossible (IPv4 IHL < 5, TCP data offset < 5, ...).
    Invalid,
}

/// The first layer that was cut short or invalid, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Issue {
    pub layer: Layer,
    pub kind: IssueKind,
}

/// The conversation key fields of a frame, as seen (not normalised for direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// Innermost VLAN id, 0 when untagged.
    pub vlan: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (after IPv6 extension headers).
    pub proto: u8,
    /// 0 when the protocol has no ports or the header was cut.
    pub sport: u16,
    pub dport: u16,
}

/// Declares a protocol-number enum with an `Unknown(n)` variant (smoltcp's
/// `enum_with_unknown!`), so that decoding never fails on a number.
macro_rules! enum_with_unknown {
    ($(#[$m:meta])* pub enum $name:ident($ty:ty) {
        $($(#[$vm:meta])* $variant:ident = $value:expr),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)+
            Unknown($ty),
        }
        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                match v {
                    $($value => Self::$variant,)+
                    other => Self::Unknown(other),
                }
            }
        }
        impl From<$name> for $ty {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => $value,)+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

enum_with_unknown! {
    /// EtherType (IEEE 802 numbers); values up to 1500 are 802.3 lengths and end up
    /// as `Unknown`.
    pub enum EtherType(u16) {
        Ipv4 = 0x0800,
        Arp = 0x0806,
        /// 802.1Q customer tag.
        Vlan = 0x8100,
        Ipv6 = 0x86dd,
        /// 802.1ad service tag (QinQ).
        QinQ = 0x88a8,
        /// Pre-standard QinQ tag some switches still send.
        QinQ9100 = 0x9100,
    }
}

impl EtherType {
    /// True for the TPIDs of a VLAN tag.
    pub fn is_vlan(self) -> bool {
        matches!(self, Self::Vlan | Self::QinQ | Self::QinQ9100)
    }
}

enum_with_unknown! {
    /// IP protocol / IPv6 next-header numbers (IANA).
    pub enum IpProtocol(u8) {
        HopByHop = 0,
        Icmp = 1,
        Igmp = 2,
        Tcp = 6,
        Udp = 17,
        Ipv6Route = 43,
        Ipv6Frag = 44,
        Esp = 50,
        Ah = 51,
        Icmpv6 = 58,
        Ipv6NoNxt = 59,
        Ipv6Opts = 60,
    }
}

/// A byte range inside the frame's captured data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub off: u32,
    pub len: u32,
}

impl Span {
    pub(crate) fn new(off: usize, len: usize) -> Self {
        Self {
            off: off as u32,
            len: len as u32,
        }
    }

    /// The bytes of this span in `data` (empty if the span does not fit, which a span
    /// made by [`decode`] for the same frame always does).
    pub fn slice(self, data: &[u8]) -> &[u8] {
        let start = self.off as usize;
        data.get(start..start + self.len as usize).unwrap_or(&[])
    }
}

/// The link-layer header, when the link type has one.
#[derive(Clone, Copy, Debug, Default)]
pub enum LinkHeader {
    #[default]
    None,
    Ethernet(ethernet::EthernetInfo),
    Sll(sll::SllInfo),
}

/// Network layer.
#[derive(Clone, Copy, Debug, Default)]
pub enum Net {
    #[default]
    None,
    Arp(arp::ArpInfo),
    Ipv4(ipv4::Ipv4Info),
    Ipv6(ipv6::Ipv6Info),
}

/// Transport (or ICMP) layer.
#[derive(Clone, Copy, Debug, Default)]
pub enum Transport {
    #[default]
    None,
    Tcp(tcp::TcpInfo),
    Udp(udp::UdpInfo),
    Icmp(icmp::IcmpInfo),
    Icmpv6(icmp::IcmpInfo),
}

/// Most VLAN tags kept per frame; deeper tags are decoded through but not kept.
pub const MAX_VLAN_TAGS: usize = 4;

/// Everything decoded from one frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoded {
    pub link: LinkHeader,
    /// VLAN tags, outermost first; `vlan_count` of them are valid.
    pub vlans: [vlan::VlanTag; MAX_VLAN_TAGS],
    pub vlan_count: u8,
    /// The EtherType of the network layer (after VLAN tags); `None` for raw IP links.
    pub ethertype: Option<EtherType>,
    /// Offset of the network-layer header in the frame.
    pub net_off: u32,
    pub net: Net,
    /// The transport protocol number (after IPv6 extension headers).
    pub ip_proto: Option<IpProtocol>,
    /// Offset of the transport header in the frame.
    pub transport_off: u32,
    pub transport: Transport,
    /// Source and destination ports, kept even when the rest of the TCP/UDP header was cut.
    pub ports: Option<(u16, u16)>,
    /// The innermost payload decoded to: after TCP/UDP/ICMP, or after the network header
    /// when the transport is not decoded. Limited to the IP length (no Ethernet padding)
    /// and to what was captured.
    pub payload: Span,
    /// The first layer that was cut short or invalid.
    pub issue: Option<Issue>,
}

impl Decoded {
    pub fn flow_tuple(&self) -> Option<FlowTuple> {
        let (src, dst): (IpAddr, IpAddr) = match &self.net {
            Net::Ipv4(ip) => (ip.src.into(), ip.dst.into()),
            Net::Ipv6(ip) => (ip.src.into(), ip.dst.into()),
            Net::None | Net::Arp(_) => return None,
        };
        let (sport, dport) = self.ports.unwrap_or((0, 0));
        Some(FlowTuple {
            vlan: self.inner_vlan(),
            src,
            dst,
            proto: self.ip_proto.map_or(0, u8::from),
            sport,
            dport,
        })
    }

    pub fn tcp_flags(&self) -> Option<u8> {
        match &self.transport {
            Transport::Tcp(t) => Some(t.flags as u8),
            _ => None,
        }
    }

    pub fn malformed(&self) -> Option<Layer> {
        self.issue.map(|i| i.layer)
    }

    /// The VLAN tags kept, outermost first.
    pub fn vlan_tags(&self) -> &[vlan::VlanTag] {
        let n = (self.vlan_count as usize).min(MAX_VLAN_TAGS);
        &self.vlans[..n]
    }

    /// Innermost VLAN id, 0 when untagged.
    pub fn inner_vlan(&self) -> u16 {
        self.vlan_tags().last().map_or(0, |t| t.vid)
    }
}

/// Big-endian u16 at `off`; callers have checked the length.
#[inline(always)]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Big-endian u32 at `off`; callers have checked the length.
#[inline(always)]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// `N` bytes at `off` as an array; callers have checked the length.
#[inline(always)]
pub(crate) fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_round_trip() {
        assert_eq!(EtherType::from(0x0800), EtherType::Ipv4);
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
        assert_eq!(u16::from(EtherType::Unknown(7)), 7);
        assert_eq!(IpProtocol::from(58), IpProtocol::Icmpv6);
        assert_eq!(u8::from(IpProtocol::from(200)), 200);
        assert!(EtherType::QinQ.is_vlan());
    }

    #[test]
    fn span_out_of_range_is_empty() {
        assert_eq!(Span::new(2, 2).slice(&[1, 2, 3, 4]), &[3, 4]);
        assert!(Span::new(3, 5).slice(&[1, 2, 3, 4]).is_empty());
    }
}
