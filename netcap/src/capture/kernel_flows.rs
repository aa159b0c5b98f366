//! In-kernel flow mode, the user-space half: reads the `FLOWS` table the hooks count
//! into (see `netcap-ebpf/src/flows.rs`) through its memory mapping
//! ([`super::flow_slots`]) and turns the flows that ended into the same [`Flow`]
//! records the user-space table makes. One flow may sit in two slots (two CPUs created
//! it at once); [`merge`] adds up the slots of one key.
//!
//! When: every [`scan_every`] during the capture, for the idle and active timeouts of
//! [`FlowConfig`], and once for every flow after the hooks are detached (`Forced`). A
//! scan reads every slot's key word in place (no system call) and copies the live
//! ones; it runs a tenth of the shortest timeout apart (12 s with softflowd's
//! timeouts), not every second.
//!
//! A slot is freed after it was read; a frame the hooks count into it in between
//! (a flow that came back to life within a microsecond of its timeout) is lost to the
//! record. After the hooks are detached nothing is in flight, so the final records are
//! exact.
use std::{collections::HashMap, time::Duration, time::Instant};

use aya::maps::MapData;
use netcap_common::{FlowSlotAbi, DIR_OUT};

use super::flow_slots::SlotMap;
use crate::{
    flow::{tcp_flags, EndReason, Flow, FlowConfig, FlowState},
    packet::Direction,
};

/// The scans' spacing: a tenth of the shortest timeout, between 1 and 30 seconds.
fn scan_every(cfg: &FlowConfig) -> Duration {
    let shortest = [
        cfg.tcp_idle_ns,
        cfg.other_idle_ns,
        cfg.fin_ns,
        cfg.rst_ns,
        cfg.active_ns,
    ]
    .into_iter()
    .min()
    .unwrap_or(u64::MAX);
    Duration::from_nanos(shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// A flow's key, decoded from a slot's `key0` and `addr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FlowKey {
    lo_addr: [u8; 16],
    hi_addr: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    vlan: u16,
    proto: u8,
    /// 4 or 6.
    family: u8,
}

impl FlowKey {
    /// The key of a live slot (the layout of `netcap_common::flow_key0`).
    pub(crate) fn of(slot: &FlowSlotAbi) -> Self {
        let k = slot.key0;
        let addr = |hi: u64, lo: u64| {
            let mut a = [0u8; 16];
            a[..8].copy_from_slice(&hi.to_be_bytes());
            a[8..].copy_from_slice(&lo.to_be_bytes());
            a
        };
        Self {
            lo_addr: addr(slot.addr[0], slot.addr[1]),
            hi_addr: addr(slot.addr[2], slot.addr[3]),
            lo_port: k as u16,
            hi_port: (k >> 16) as u16,
            vlan: ((k >> 32) & 0x0fff) as u16,
            proto: (k >> 44) as u8,
            family: if (k >> 52) & 0xf == 2 { 6 } else { 4 },
        }
    }
}

/// The slots of one flow, added up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Merged {
    packets: [u64; 2],
    bytes: [u64; 2],
    ip_bytes: [u64; 2],
    first_ns: u64,
    last_ns: u64,
    flags: [u8; 2],
    macs: [[u8; 6]; 2],
    first_dir: u8,
    tos: u8,
    hook: u8,
    ifindex: u32,
}

/// Adds up the slots that saw a frame; the first-frame fields come from the slot
/// whose first frame came first. `None` when no slot counted a frame.
pub(crate) fn merge<'a>(copies: impl IntoIterator<Item = &'a FlowSlotAbi>) -> Option<Merged> {
    let mut m: Option<Merged> = None;
    for c in copies {
        if c.packets[0] + c.packets[1] == 0 {
            continue;
        }
        let m = m.get_or_insert(Merged {
            first_ns: u64::MAX,
            ..Merged::default()
        });
        for d in 0..2 {
            m.packets[d] += c.packets[d];
            m.bytes[d] += c.bytes[d];
            m.ip_bytes[d] += c.ip_bytes[d];
            m.flags[d] |= (c.tcp_flags >> (8 * d)) as u8;
            if m.macs[d] == [0; 6] {
                m.macs[d] = c.macs[d];
            }
        }
        m.last_ns = m.last_ns.max(c.last_ns);
        if c.first_ns < m.first_ns {
            m.first_ns = c.first_ns;
            m.first_dir = c.first_dir & 1;
            m.tos = c.tos;
            m.hook = c.hook;
            m.ifindex = c.ifindex;
        }
    }
    // `last_ns` is the coarse clock, which runs up to a tick behind the precise one.
    m.map(|m| Merged {
        last_ns: m.last_ns.max(m.first_ns),
        ..m
    })
}

/// Why the flow has ended by `now` (monotonic ns), if it has: the user-space table's
/// rules ([`FlowConfig`]).
fn ended(key: &FlowKey, m: &Merged, cfg: &FlowConfig, now: u64) -> Option<EndReason> {
    let flags = m.flags[0] | m.flags[1];
    let (idle, why) = if key.proto != 6 {
        (cfg.other_idle_ns, EndReason::Idle)
    } else if flags & tcp_flags::RST != 0 {
        (cfg.rst_ns, EndReason::EndOfFlow)
    } else if flags & tcp_flags::FIN != 0 {
        (cfg.fin_ns, EndReason::EndOfFlow)
    } else {
        (cfg.tcp_idle_ns, EndReason::Idle)
    };
    if now.saturating_sub(m.last_ns) > idle {
        Some(why)
    } else if now.saturating_sub(m.first_ns) > cfg.active_ns {
        Some(EndReason::Active)
    } else {
        None
    }
}

/// The record of a flow: "A" is the endpoint whose frame came first.
pub(crate) fn to_flow(key: &FlowKey, m: &Merged, end: EndReason, mono_to_real: i64) -> Flow {
    let addr = |a: &[u8; 16]| -> std::net::IpAddr {
        if key.family == 6 {
            std::net::Ipv6Addr::from(*a).into()
        } else {
            std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).into()
        }
    };
    let lo = (addr(&key.lo_addr), key.lo_port);
    let hi = (addr(&key.hi_addr), key.hi_port);
    let (a, b) = (usize::from(m.first_dir), usize::from(m.first_dir ^ 1));
    let ((a_addr, a_port), (b_addr, b_port)) = if a == 0 { (lo, hi) } else { (hi, lo) };
    let real = |t: u64| (t as i64 + mono_to_real) as u64;
    // Field by field onto a default record: fields added to `Flow` later (the TCP
    // health figures, which the kernel does not keep) stay at their defaults.
    let mut f = Flow::default();
    (f.vlan, f.proto) = (key.vlan, key.proto);
    (f.a_addr, f.a_port, f.b_addr, f.b_port) = (a_addr, a_port, b_addr, b_port);
    (f.packets_ab, f.packets_ba) = (m.packets[a], m.packets[b]);
    (f.bytes_ab, f.bytes_ba) = (m.bytes[a], m.bytes[b]);
    (f.ip_bytes_ab, f.ip_bytes_ba) = (m.ip_bytes[a], m.ip_bytes[b]);
    (f.first_ns, f.last_ns) = (real(m.first_ns), real(m.last_ns));
    f.tcp_flags = m.flags[0] | m.flags[1];
    f.state = FlowState::from_flags(key.proto, m.flags[a], m.flags[b]);
    (f.evicted, f.end) = (end != EndReason::Forced, end);
    (f.tos, f.a_mac, f.b_mac, f.ifindex) = (m.tos, m.macs[a], m.macs[b], m.ifindex);
    f.direction = if m.hook == DIR_OUT {
        Direction::Out
    } else {
        Direction::In
    };
    f
}

/// A flow's key as its slots hold it: `key0` and `addr`.
type SlotKey = (u64, [u64; 4]);

/// The table and the rules for ending its flows.
pub struct KernelFlows {
    slots: SlotMap,
    /// Keeps the map (and so its memory) alive beside the mapping.
    _map: MapData,
    cfg: FlowConfig,
    mono_to_real_ns: i64,
    last_scan: Instant,
    /// Records made so far.
    pub records: u64,
}

impl KernelFlows {
    /// Maps the `FLOWS` array `map` of `slots` slots.
    pub fn new(
        map: MapData,
        slots: usize,
        cfg: FlowConfig,
        mono_to_real_ns: i64,
    ) -> std::io::Result<Self> {
        use std::os::fd::AsFd;
        let slots = SlotMap::new(map.fd().as_fd(), slots)?;
        Ok(Self {
            slots,
            _map: map,
            cfg,
            mono_to_real_ns,
            last_scan: Instant::now(),
            records: 0,
        })
    }

    /// Every live slot, grouped by flow.
    fn live(&self) -> HashMap<SlotKey, Vec<(usize, FlowSlotAbi)>> {
        let mut flows: HashMap<SlotKey, Vec<(usize, FlowSlotAbi)>> = HashMap::new();
        for i in 0..self.slots.slots() {
            if let Some(s) = self.slots.read(i) {
                flows.entry((s.key0, s.addr)).or_default().push((i, s));
            }
        }
        flows
    }

    /// The records of the flows that ended by now, their slots freed, when a scan is
    /// due ([`scan_every`]); with `all`, of every flow (after the hooks are detached:
    /// `Forced`).
    pub fn take(&mut self, all: bool) -> Vec<Flow> {
        if !all && self.last_scan.elapsed() < scan_every(&self.cfg) {
            return Vec::new();
        }
        self.last_scan = Instant::now();
        let now = super::xdp::monotonic_ns();
        let mut out = Vec::new();
        for ((key0, _), copies) in self.live() {
            let key = FlowKey::of(&copies[0].1);
            let end = match merge(copies.iter().map(|(_, s)| s)) {
                None => Some(None),
                Some(m) if all => Some(Some((m, EndReason::Forced))),
                Some(m) => ended(&key, &m, &self.cfg, now).map(|e| Some((m, e))),
            };
            let Some(end) = end else { continue };
            for (i, _) in &copies {
                self.slots.free(*i, key0);
            }
            if let Some((m, why)) = end {
                out.push(to_flow(&key, &m, why, self.mono_to_real_ns));
            }
        }
        self.records += out.len() as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(packets: [u64; 2], first: u64, last: u64, first_dir: u8) -> FlowSlotAbi {
        FlowSlotAbi {
            packets,
            bytes: [packets[0] * 100, packets[1] * 60],
            ip_bytes: [packets[0] * 86, packets[1] * 46],
            first_ns: first,
            last_ns: last,
            first_dir,
            tcp_flags: 0x1202,
            ..FlowSlotAbi::default()
        }
    }

    #[test]
    fn copies_add_up_and_the_earliest_says_who_spoke_first() {
        let cpus = [
            copy([2, 1], 50, 90, 1),
            FlowSlotAbi::default(),
            copy([1, 3], 10, 70, 0),
        ];
        let m = merge(cpus.iter()).expect("two copies counted");
        assert_eq!(
            (m.packets, m.first_ns, m.last_ns, m.first_dir),
            ([3, 4], 10, 90, 0)
        );
        assert!(merge([FlowSlotAbi::default()].iter()).is_none());
    }

    #[test]
    fn the_record_puts_the_first_sender_as_a() {
        let slot = FlowSlotAbi {
            key0: netcap_common::flow_key0(80, 40000, 0, 6, false),
            addr: [0x0a00_0001 << 32, 0, 0x0a00_0002 << 32, 0],
            ..FlowSlotAbi::default()
        };
        let key = FlowKey::of(&slot);
        assert_eq!(
            (&key.lo_addr[..4], &key.hi_addr[..4], key.family, key.proto),
            (&[10u8, 0, 0, 1][..], &[10u8, 0, 0, 2][..], 4, 6)
        );
        // hi (the client) spoke first: A is hi.
        let m = merge([copy([2, 5], 1, 9, 1)].iter()).expect("counted");
        let f = to_flow(&key, &m, EndReason::Forced, 1000);
        assert_eq!((f.a_port, f.b_port), (40000, 80));
        assert_eq!((f.packets_ab, f.packets_ba), (5, 2));
        assert_eq!((f.bytes_ab, f.bytes_ba), (300, 200));
        assert_eq!((f.first_ns, f.last_ns), (1001, 1009));
        assert!(!f.evicted);
    }

    #[test]
    fn timeouts_follow_the_user_space_rules() {
        let cfg = FlowConfig::default();
        let key = |proto| FlowKey {
            proto,
            ..FlowKey::default()
        };
        let s = 1_000_000_000;
        let udp = merge([copy([1, 0], s, s, 0)].iter()).expect("counted");
        assert_eq!(
            ended(&key(17), &udp, &cfg, 301 * s + s),
            Some(EndReason::Idle)
        );
        assert_eq!(ended(&key(17), &udp, &cfg, 300 * s), None);
        let mut rst = copy([1, 0], s, s, 0);
        rst.tcp_flags = u16::from(tcp_flags::RST);
        let rst = merge([rst].iter()).expect("counted");
        assert_eq!(
            ended(&key(6), &rst, &cfg, 122 * s),
            Some(EndReason::EndOfFlow)
        );
    }
}
