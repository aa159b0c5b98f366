//! Lax, zero-copy protocol decoding.
//!
//! INTERFACE CONTRACT (other modules rely on these names; the decode work fills them in):
//! - `decode(&Frame) -> Decoded`: never fails, never panics, no allocation.
//! - `Decoded::flow_tuple() -> Option<FlowTuple>`
//! - `Decoded::tcp_flags() -> Option<u8>`
//! - `Decoded::malformed() -> Option<Layer>`: the first layer that was cut short or invalid.
use std::net::IpAddr;

use crate::packet::Frame;

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

/// Everything decoded from one frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoded {
    // Filled in by the decode work.
}

impl Decoded {
    pub fn flow_tuple(&self) -> Option<FlowTuple> {
        None
    }
    pub fn tcp_flags(&self) -> Option<u8> {
        None
    }
    pub fn malformed(&self) -> Option<Layer> {
        None
    }
}

pub fn decode(_frame: &Frame<'_>) -> Decoded {
    Decoded::default()
}
