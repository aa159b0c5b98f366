//! One flow's slot in the table: its counters and its links on the lists.
use super::*;

/// A flow's counters plus its place on an LRU list.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    pub(super) key: RawKey,
    /// The first frame came from the key's `lo` endpoint, which is therefore "A".
    pub(super) a_is_lo: bool,
    /// `FlowTable::moves` when this slot last went to the front of its list.
    pub(super) moved_at: u32,
    pub(super) list: u8,
    pub(super) tos: u8,
    pub(super) direction: Direction,
    /// Index 0 is A->B (or A's), 1 is B->A (or B's).
    pub(super) flags: [u8; 2],
    pub(super) macs: [[u8; 6]; 2],
    pub(super) packets: [u64; 2],
    pub(super) bytes: [u64; 2],
    pub(super) ip_bytes: [u64; 2],
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
    pub(super) ifindex: u32,
    /// Links of the idle list.
    pub(super) prev: u32,
    pub(super) next: u32,
    /// Links of the start list.
    pub(super) sprev: u32,
    pub(super) snext: u32,
}

impl Slot {
    pub(super) fn to_flow(self, end: EndReason, tcp: &TcpTracker) -> Flow {
        let k = self.key.to_key();
        let (a, b) = if self.a_is_lo {
            ((k.lo_addr, k.lo_port), (k.hi_addr, k.hi_port))
        } else {
            ((k.hi_addr, k.hi_port), (k.lo_addr, k.lo_port))
        };
        Flow {
            vlan: k.vlan,
            proto: k.proto,
            a_addr: a.0,
            a_port: a.1,
            b_addr: b.0,
            b_port: b.1,
            packets_ab: self.packets[0],
            packets_ba: self.packets[1],
            bytes_ab: self.bytes[0],
            bytes_ba: self.bytes[1],
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            tcp_flags: self.flags[0] | self.flags[1],
            state: self.state(),
            evicted: end != EndReason::Forced,
            end,
            ip_bytes_ab: self.ip_bytes[0],
            ip_bytes_ba: self.ip_bytes[1],
            tos: self.tos,
            a_mac: self.macs[0],
            b_mac: self.macs[1],
            ifindex: self.ifindex,
            direction: self.direction,
            tcp: tcp.health(),
        }
    }

    pub(super) fn state(&self) -> FlowState {
        FlowState::from_flags(self.key.proto(), self.flags[0], self.flags[1])
    }

    /// The idle list this flow belongs on now.
    pub(super) fn kind(&self) -> u8 {
        let flags = self.flags[0] | self.flags[1];
        if self.key.proto() != 6 {
            OTHER
        } else if flags & crate::flow::tcp_flags::RST != 0 {
            RST
        } else if flags & crate::flow::tcp_flags::FIN != 0 {
            FIN
        } else {
            TCP
        }
    }
}
