//! Per-flow statistics: the conversation key, the sharded table and its reports.
//!
//! ```text
//!  decode::FlowTuple (as seen on the wire: src -> dst)
//!        |  shard_of(tuple, n)        same shard for both directions
//!        v
//!  FlowTable (one per decode worker, no locks)
//!        |  FlowKey::from_tuple       endpoints ordered, so A->B and B->A meet
//!        |  update(): packets/bytes per direction, first/last time, TCP flags, state
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

mod report;
mod table;

pub use report::{write_json_lines, write_top};
pub use table::{FlowConfig, FlowStats, FlowTable};

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
    let (key, _) = FlowKey::from_tuple(tuple);
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
    /// True when the record left the table early (idle timeout or a full table): a
    /// later record may continue the same conversation.
    pub evicted: bool,
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
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn tuple(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> FlowTuple {
        FlowTuple {
            vlan: 7,
            src,
            dst,
            proto: 6,
            sport,
            dport,
        }
    }

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
    }

    #[test]
    fn key_is_the_same_both_ways() {
        let ab = tuple(v4(9), 1000, v4(1), 80);
        let ba = tuple(v4(1), 80, v4(9), 1000);
        let (k1, s1) = FlowKey::from_tuple(&ab);
        let (k2, s2) = FlowKey::from_tuple(&ba);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!((k1.lo_addr, k1.lo_port), (v4(1), 80));
        // Same address both sides: the ports decide.
        let (k3, _) = FlowKey::from_tuple(&tuple(v4(1), 9, v4(1), 8));
        assert_eq!((k3.lo_port, k3.hi_port), (8, 9));
    }

    #[test]
    fn key_keeps_vlan_and_proto_apart() {
        let t = tuple(v4(1), 1, v4(2), 2);
        let (k, _) = FlowKey::from_tuple(&t);
        assert_ne!(k, FlowKey::from_tuple(&FlowTuple { vlan: 8, ..t }).0);
        assert_ne!(k, FlowKey::from_tuple(&FlowTuple { proto: 17, ..t }).0);
    }

    #[test]
    fn hash_separates_v4_from_v6_with_the_same_bits() {
        let s = foldhash::fast::FixedState::default();
        let a = tuple(v4(1), 1, v4(2), 2);
        let six = |d| {
            IpAddr::V6(Ipv6Addr::from(u128::from(u32::from(Ipv4Addr::new(
                10, 0, 0, d,
            )))))
        };
        let b = tuple(six(1), 1, six(2), 2);
        let (ka, kb) = (FlowKey::from_tuple(&a).0, FlowKey::from_tuple(&b).0);
        assert_ne!(ka, kb);
        assert_ne!(s.hash_one(ka), s.hash_one(kb));
    }

    #[test]
    fn shard_is_symmetric_stable_and_spread() {
        let mut counts = [0u32; 4];
        for i in 0..4000u32 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let ab = tuple(src, (i % 50000) as u16, v4(1), 443);
            let ba = tuple(v4(1), 443, src, (i % 50000) as u16);
            let s = shard_of(&ab, 4);
            assert_eq!(s, shard_of(&ba, 4));
            assert_eq!(s, shard_of(&ab, 4));
            counts[s] += 1;
        }
        // 1000 expected per shard; a working hash stays well inside +-20 %.
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(shard_of(&tuple(v4(1), 1, v4(2), 2), 1), 0);
        assert_eq!(shard_of(&tuple(v4(1), 1, v4(2), 2), 0), 0);
    }

    #[test]
    fn state_from_flags() {
        use tcp_flags::*;
        assert_eq!(FlowState::from_flags(6, SYN | FIN, ACK), FlowState::Open);
        assert_eq!(
            FlowState::from_flags(6, FIN | ACK, FIN),
            FlowState::ClosedFin
        );
        assert_eq!(FlowState::from_flags(6, FIN, FIN | RST), FlowState::Reset);
        assert_eq!(FlowState::from_flags(6, 0, RST), FlowState::Reset);
        assert_eq!(FlowState::from_flags(17, RST, FIN), FlowState::Open);
    }
}
