//! What the flow table takes from one frame ([`FlowFrame`]), and why a record ended
//! ([`EndReason`]).
use crate::decode::{Decoded, FlowTuple, LinkHeader, Net, Transport};
use crate::packet::{Direction, Frame};

/// The TCP header fields the flow table follows (state, and later TCP health).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSeg {
    /// The flags byte (FIN SYN RST PSH ACK URG ECE CWR).
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    /// The window field as sent (not scaled).
    pub window: u16,
    /// TCP payload bytes by the IP length (what the segment carried on the wire, even
    /// when the capture cut it).
    pub payload_len: u32,
}

/// One frame as the flow table sees it: its conversation, time, sizes and the few
/// header fields a flow record keeps. Small and `Copy`, so it can be handed to the
/// worker that owns the conversation's shard.
#[derive(Clone, Copy, Debug)]
pub struct FlowFrame {
    pub tuple: FlowTuple,
    pub ts_ns: u64,
    /// Frame bytes on the wire (`orig_len`).
    pub wire_len: u32,
    /// The IP packet's length: header and payload, as RFC 7012's `octetDeltaCount`
    /// counts it (no link header, no Ethernet padding); 0 when not IP.
    pub ip_len: u32,
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: u8,
    /// Ethernet source and destination, zero when the link has none.
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// The capture's interface index (0 for files) and direction on it.
    pub ifindex: u32,
    pub direction: Direction,
    pub tcp: Option<TcpSeg>,
}

impl FlowFrame {
    /// A frame with only the basics known: what tests and benches build by hand.
    pub fn basic(tuple: FlowTuple, tcp_flags: Option<u8>, wire_len: u32, ts_ns: u64) -> Self {
        Self {
            tuple,
            ts_ns,
            wire_len,
            ip_len: 0,
            tos: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ifindex: 0,
            direction: Direction::Unknown,
            tcp: tcp_flags.map(|flags| TcpSeg {
                flags,
                ..TcpSeg::default()
            }),
        }
    }

    /// The flow facts of a decoded frame; `None` when it has no conversation (not IP).
    pub fn new(frame: &Frame<'_>, d: &Decoded) -> Option<Self> {
        let tuple = d.flow_tuple()?;
        let (ip_len, tos, ip_payload_end) = match &d.net {
            Net::Ipv4(ip) => (
                u32::from(ip.total_len),
                ip.tos,
                d.net_off + u32::from(ip.total_len),
            ),
            Net::Ipv6(ip) => {
                let len = 40 + u32::from(ip.payload_len);
                (len, ip.traffic_class, d.net_off + len)
            }
            Net::None | Net::Arp(_) => (0, 0, 0),
        };
        let (src_mac, dst_mac) = match &d.link {
            LinkHeader::Ethernet(e) => (e.src, e.dst),
            _ => ([0; 6], [0; 6]),
        };
        let tcp = match &d.transport {
            Transport::Tcp(t) => Some(TcpSeg {
                flags: t.flags as u8,
                seq: t.seq,
                ack: t.ack,
                window: t.window,
                payload_len: ip_payload_end
                    .saturating_sub(d.transport_off + u32::from(t.data_offset) * 4),
            }),
            _ => None,
        };
        Some(Self {
            tuple,
            ts_ns: frame.meta.ts_ns,
            wire_len: frame.meta.orig_len,
            ip_len,
            tos,
            src_mac,
            dst_mac,
            ifindex: frame.meta.ifindex,
            direction: frame.meta.direction,
            tcp,
        })
    }

    pub fn tcp_flags(&self) -> Option<u8> {
        self.tcp.map(|t| t.flags)
    }
}

/// Why a flow record ended: IPFIX's `flowEndReason` (RFC 7011 section 6.2; IANA
/// element 136), whose numbers these are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum EndReason {
    /// No frame for the idle timeout of its kind.
    Idle = 1,
    /// Open longer than the active timeout: the conversation goes on in a new record.
    Active = 2,
    /// The connection ended (TCP FIN both ways or RST) and its short timeout passed.
    EndOfFlow = 3,
    /// Still open when the capture ended.
    Forced = 4,
    /// Pushed out of a full table (`--max-flows`).
    LackOfResources = 5,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Active => "active",
            Self::EndOfFlow => "end",
            Self::Forced => "forced",
            Self::LackOfResources => "resources",
        }
    }
}
