//! Per-flow statistics: the conversation key, the sharded table and its reports.
//!
//! ```text
//!  decode::FlowTuple (as seen on the wire: src -> dst)
//!        |  shard_of(tuple, n)        same shard for both directions
//!        v
//!  FlowTable (one per decode worker, no locks)
//!        |  FlowKey::from_tuple       endpoints ordered, so A->B and B->A meet
//!        |  update(): packets/bytes per direction, first/last time, TCP flags, state,
//!        |            TCP health (tcp_health.rs: RTT, retransmissions, ... as tshark)
//!        |  full or idle: evict into the shard's finished list (still reported)
//!        v
//!  FlowStats::merge(&mut shards) -> Vec<Flow>   sorted, deterministic
//!        v
//!  write_top (stderr table)   write_json_lines (one object per flow)
//! ```
//!
//! Contract, relied on by the pipeline:
//! - A conversation is (VLAN, IP protocol, the two addresses, the two ports). Both
//!   directions map to one [`FlowKey`]; [`shard_of`] is symmetric too, so one worker
//!   sees both directions of a conversation and the shards need no locks.
//! - The table is sans-IO: time only comes from frame timestamps (`ts_ns`), so a pcap
//!   replay gives the same flows on every run.
//! - Keys come from hostile traffic, so every hash here is keyed (foldhash, seeded at
//!   random once per process, see the field notes).
//! - Bytes are frame bytes on the wire (`FrameMeta::orig_len`), as tshark's
//!   conversation table counts them, not captured bytes and not IP payload.
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::decode::FlowTuple;

mod config;
mod frame;
pub mod ipfix;
mod report;
mod table;
mod tcp_health;

pub use config::FlowConfig;
pub use frame::{EndReason, FlowFrame, TcpSeg};
pub use report::{write_json_lines, write_top};
pub use table::{FlowStats, FlowTable};
pub use tcp_health::TcpHealth;

/// TCP flag bits, as in the TCP header's flags byte (RFC 9293).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// A conversation, normalised so that both directions give the same key.
///
/// The endpoint that compares lower as `(address, port)` is `lo`. Which endpoint the
/// flow calls "A" (the first sender) is kept by the table, not in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub vlan: u16,
    pub proto: u8,
    pub lo_addr: IpAddr,
    pub lo_port: u16,
    pub hi_addr: IpAddr,
    pub hi_port: u16,
}

impl FlowKey {
    /// The key of `tuple`, and whether the tuple's source is the `lo` endpoint.
    #[inline]
    pub fn from_tuple(t: &FlowTuple) -> (Self, bool) {
        let src_is_lo = (t.src, t.sport) <= (t.dst, t.dport);
        let (lo, hi) = if src_is_lo {
            ((t.src, t.sport), (t.dst, t.dport))
        } else {
            ((t.dst, t.dport), (t.src, t.sport))
        };
        let key = Self {
            vlan: t.vlan,
            proto: t.proto,
            lo_addr: lo.0,
            lo_port: lo.1,
            hi_addr: hi.0,
            hi_port: hi.1,
        };
        (key, src_is_lo)
    }
}

/// Three wide writes instead of the derived field-by-field hashing: the table hashes
/// a key on every frame. Consistent with the derived `Eq` (equal keys write equal
/// words; the family bit keeps 1.2.3.4 and ::102:304 apart).
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (lo, lo6) = addr_bits(self.lo_addr);
        let (hi, hi6) = addr_bits(self.hi_addr);
        h.write_u128(lo);
        h.write_u128(hi);
        h.write_u64(
            u64::from(self.lo_port)
                | u64::from(self.hi_port) << 16
                | u64::from(self.vlan) << 32
                | u64::from(self.proto) << 48
                | u64::from(lo6) << 56
                | u64::from(hi6) << 57,
        );
    }
}

#[inline]
fn addr_bits(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)), false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

/// The table's internal form of a [`FlowKey`]: five words, compared and hashed as
/// integers. Same normalisation as `FlowKey` (endpoints ordered as `(family,
/// address, port)`, which is `IpAddr`'s order), so the two agree on `lo`.
///
/// Words: lo address (hi, lo half), hi address (hi, lo half), then
/// `lo_port | hi_port << 16 | vlan << 32 | proto << 48 | lo_is_v6 << 56 | hi_is_v6 << 57`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawKey([u64; 5]);

/// Branch-free word compare: the derived array `==` calls `memcmp` out of line, which
/// cost a third of an update in the bench.
impl PartialEq for RawKey {
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        let (a, b) = (&self.0, &o.0);
        (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) == 0
    }
}

impl Eq for RawKey {}

impl RawKey {
    /// The key of `t`, and whether `t`'s source is the `lo` endpoint.
    #[inline]
    pub(crate) fn new(t: &FlowTuple) -> (Self, bool) {
        let (s, s6) = addr_bits(t.src);
        let (d, d6) = addr_bits(t.dst);
        let src = (s6, s, t.sport);
        let dst = (d6, d, t.dport);
        let src_is_lo = src <= dst;
        let (lo, hi) = if src_is_lo { (src, dst) } else { (dst, src) };
        let meta = u64::from(lo.2)
            | u64::from(hi.2) << 16
            | u64::from(t.vlan) << 32
            | u64::from(t.proto) << 48
            | u64::from(lo.0) << 56
            | u64::from(hi.0) << 57;
        let words = [
            (lo.1 >> 64) as u64,
            lo.1 as u64,
            (hi.1 >> 64) as u64,
            hi.1 as u64,
            meta,
        ];
        (Self(words), src_is_lo)
    }

    pub(crate) fn to_key(self) -> FlowKey {
        let [lo_h, lo_l, hi_h, hi_l, meta] = self.0;
        let addr = |h: u64, l: u64, v6: u64| {
            let bits = u128::from(h) << 64 | u128::from(l);
            if v6 & 1 == 1 {
                IpAddr::V6(bits.into())
            } else {
                IpAddr::V4((bits as u32).into())
            }
        };
        FlowKey {
            vlan: (meta >> 32) as u16,
            proto: (meta >> 48) as u8,
            lo_addr: addr(lo_h, lo_l, meta >> 56),
            lo_port: meta as u16,
            hi_addr: addr(hi_h, hi_l, meta >> 57),
            hi_port: (meta >> 16) as u16,
        }
    }

    pub(crate) fn proto(self) -> u8 {
        (self.0[4] >> 48) as u8
    }
}

impl Hash for RawKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let [a, b, c, d, e] = self.0;
        h.write_u128(u128::from(a) << 64 | u128::from(b));
        h.write_u128(u128::from(c) << 64 | u128::from(d));
        h.write_u64(e);
    }
}

/// The worker shard, out of `shards`, that owns `tuple`'s conversation.
///
/// Symmetric (both directions give the same shard) and stable for the life of the
/// process; seeded at random per process so an attacker cannot aim many flows at one
/// worker. Returns 0 when `shards` is 0 or 1.
#[inline]
pub fn shard_of(tuple: &FlowTuple, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    static SEED: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    let (key, _) = RawKey::new(tuple);
    let h = SEED.get_or_init(Default::default).hash_one(key);
    // Multiply-shift maps the hash onto 0..shards without a division; it uses the
    // high bits, which the table's own (differently seeded) hash does not correlate with.
    ((u128::from(h) * shards as u128) >> 64) as usize
}

/// Connection state, tracked for TCP only; other protocols stay `Open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlowState {
    /// No RST, and not FIN from both sides.
    Open,
    /// A FIN was seen from each side (A->B and B->A). One FIN alone is a half-close,
    /// still `Open`: data may flow the other way for a long time.
    ClosedFin,
    /// A RST was seen in either direction (takes precedence over FINs).
    Reset,
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::ClosedFin => "closed",
            Self::Reset => "reset",
        }
    }

    /// True when the connection is over: such flows are evicted first.
    pub fn is_closed(self) -> bool {
        !matches!(self, Self::Open)
    }

    /// The state implied by the flags seen from A (`ab`) and from B (`ba`).
    pub(crate) fn from_flags(proto: u8, ab: u8, ba: u8) -> Self {
        if proto != 6 {
            Self::Open
        } else if (ab | ba) & tcp_flags::RST != 0 {
            Self::Reset
        } else if ab & ba & tcp_flags::FIN != 0 {
            Self::ClosedFin
        } else {
            Self::Open
        }
    }
}

/// One flow record: a conversation's counters from its first frame until it was
/// evicted or the table was flushed.
///
/// "A" is the endpoint that sent the first frame the table saw (the client, when the
/// capture saw the handshake), as in tshark's conversation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub vlan: u16,
    /// IP protocol number.
    pub proto: u8,
    pub a_addr: IpAddr,
    pub a_port: u16,
    pub b_addr: IpAddr,
    pub b_port: u16,
    pub packets_ab: u64,
    pub packets_ba: u64,
    /// Frame bytes on the wire (`orig_len`), A to B.
    pub bytes_ab: u64,
    pub bytes_ba: u64,
    /// Timestamp of the first and last frame, ns since the UNIX epoch.
    pub first_ns: u64,
    pub last_ns: u64,
    /// OR of the TCP flags seen in both directions; 0 for other protocols.
    pub tcp_flags: u8,
    pub state: FlowState,
    /// True when the record left the table before the end of the capture (a timeout or
    /// a full table): a later record may continue the same conversation.
    pub evicted: bool,
    /// Why the record ended.
    pub end: EndReason,
    /// IP bytes (header and payload, RFC 7012 octets), A to B and B to A.
    pub ip_bytes_ab: u64,
    pub ip_bytes_ba: u64,
    /// IPv4 TOS or IPv6 traffic class of the first frame.
    pub tos: u8,
    /// Ethernet addresses of A and B, as their frames carried them (zero if none).
    pub a_mac: [u8; 6],
    pub b_mac: [u8; 6],
    /// The interface index of the first frame (0 for files), and which way the first
    /// frame went on it.
    pub ifindex: u32,
    pub direction: crate::packet::Direction,
    /// Handshake RTT, retransmissions, out-of-order segments, duplicate ACKs and zero
    /// windows per direction, as Wireshark's `tcp.analysis` counts them; empty when
    /// not TCP.
    pub tcp: TcpHealth,
}

/// An empty record between unspecified addresses (0.0.0.0): for building records by
/// hand with `..Flow::default()`.
impl Default for Flow {
    fn default() -> Self {
        let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        Self {
            vlan: 0,
            proto: 0,
            a_addr: any,
            a_port: 0,
            b_addr: any,
            b_port: 0,
            packets_ab: 0,
            packets_ba: 0,
            bytes_ab: 0,
            bytes_ba: 0,
            first_ns: 0,
            last_ns: 0,
            tcp_flags: 0,
            state: FlowState::Open,
            evicted: false,
            end: EndReason::Forced,
            ip_bytes_ab: 0,
            ip_bytes_ba: 0,
            tos: 0,
            a_mac: [0; 6],
            b_mac: [0; 6],
            ifindex: 0,
            direction: crate::packet::Direction::Unknown,
            tcp: TcpHealth::default(),
        }
    }
}

impl Flow {
    pub fn packets(&self) -> u64 {
        self.packets_ab + self.packets_ba
    }

    pub fn bytes(&self) -> u64 {
        self.bytes_ab + self.bytes_ba
    }

    pub fn duration_ns(&self) -> u64 {
        self.last_ns.saturating_sub(self.first_ns)
    }

    /// The direction-free key, e.g. to add up the records of one conversation.
    pub fn key(&self) -> FlowKey {
        let t = FlowTuple {
            vlan: self.vlan,
            src: self.a_addr,
            dst: self.b_addr,
            proto: self.proto,
            sport: self.a_port,
            dport: self.b_port,
        };
        FlowKey::from_tuple(&t).0
    }
}

/// Short lowercase name of an IP protocol number, for the common ones.
pub fn proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        1 => "icmp",
        2 => "igmp",
        4 => "ipip",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
