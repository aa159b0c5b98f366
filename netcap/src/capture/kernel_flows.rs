//! In-kernel flow mode, the user-space half: reads the `FLOWS` map the hooks count into
//! (see `netcap-ebpf/src/flows.rs`) and turns the flows that ended into the same
//! [`Flow`] records the user-space table makes. The map is global (one value per flow,
//! which the CPUs add to atomically); [`merge`] still adds up several copies, which is
//! what a per-CPU map would give.
//!
//! When: every [`scan_every`] during the capture, for the idle and active timeouts of
//! [`FlowConfig`], and once for every flow after the hooks are detached (`Forced`). A
//! scan reads the whole map in batches ([`super::bpf_batch`], a few thousand entries
//! per system call) and deletes the ended flows in batches; it runs a tenth of the
//! shortest timeout apart (12 s with softflowd's timeouts), not every second.
//!
//! An entry is deleted after it was read; a frame the hooks count into it in between
//! (a flow that came back to life within a microsecond of its timeout) is lost to the
//! record. After the hooks are detached nothing is in flight, so the final records are
//! exact.
use std::{
    os::fd::AsFd,
    time::{Duration, Instant},
};

use aya::maps::MapData;
use netcap_common::{FlowKeyAbi, FlowValueAbi, DIR_OUT};

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

/// The copies of one flow (one from a global map), added up.
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

/// Adds up the copies that saw a frame; the first-frame fields come from the copy
/// whose first frame came first. `None` when no CPU counted a frame.
pub(crate) fn merge<'a>(copies: impl IntoIterator<Item = &'a FlowValueAbi>) -> Option<Merged> {
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
            m.flags[d] |= (c.flags >> (8 * d)) as u8;
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
    m
}

/// Why the flow has ended by `now` (monotonic ns), if it has: the user-space table's
/// rules ([`FlowConfig`]).
fn ended(key: &FlowKeyAbi, m: &Merged, cfg: &FlowConfig, now: u64) -> Option<EndReason> {
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
pub(crate) fn to_flow(key: &FlowKeyAbi, m: &Merged, end: EndReason, mono_to_real: i64) -> Flow {
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

/// The map and the rules for ending its flows.
pub struct KernelFlows {
    map: MapData,
    cfg: FlowConfig,
    mono_to_real_ns: i64,
    last_scan: Instant,
    /// Records made so far.
    pub records: u64,
}

impl KernelFlows {
    pub fn new(map: MapData, cfg: FlowConfig, mono_to_real_ns: i64) -> Self {
        Self {
            map,
            cfg,
            mono_to_real_ns,
            last_scan: Instant::now(),
            records: 0,
        }
    }

    /// The records of the flows that ended by now, removed from the map, when a scan
    /// is due ([`scan_every`]); with `all`, of every flow (after the hooks are
    /// detached: `Forced`).
    pub fn take(&mut self, all: bool) -> Vec<Flow> {
        if !all && self.last_scan.elapsed() < scan_every(&self.cfg) {
            return Vec::new();
        }
        self.last_scan = Instant::now();
        let now = super::xdp::monotonic_ns();
        let fd = self.map.fd().as_fd();
        // Read everything first, then delete: a batch walk that deletes as it goes may
        // skip entries.
        let entries = match super::bpf_batch::lookup_all(fd, 1) {
            Ok(e) => e,
            Err(e) => {
                log::warn!("reading the kernel's flow map: {e}");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (key, values) in &entries {
            let Some(m) = merge(values) else {
                gone.push(*key);
                continue;
            };
            let end = if all {
                Some(EndReason::Forced)
            } else {
                ended(key, &m, &self.cfg, now)
            };
            if let Some(end) = end {
                gone.push(*key);
                out.push(to_flow(key, &m, end, self.mono_to_real_ns));
            }
        }
        super::bpf_batch::delete(fd, &gone);
        self.records += out.len() as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(packets: [u64; 2], first: u64, last: u64, first_dir: u8) -> FlowValueAbi {
        FlowValueAbi {
            packets,
            bytes: [packets[0] * 100, packets[1] * 60],
            ip_bytes: [packets[0] * 86, packets[1] * 46],
            first_ns: first,
            last_ns: last,
            first_dir,
            flags: 0x1202,
            ..FlowValueAbi::default()
        }
    }

    #[test]
    fn copies_add_up_and_the_earliest_says_who_spoke_first() {
        let cpus = [
            copy([2, 1], 50, 90, 1),
            FlowValueAbi::default(),
            copy([1, 3], 10, 70, 0),
        ];
        let m = merge(cpus.iter()).expect("two copies counted");
        assert_eq!(
            (m.packets, m.first_ns, m.last_ns, m.first_dir),
            ([3, 4], 10, 90, 0)
        );
        assert!(merge([FlowValueAbi::default()].iter()).is_none());
    }

    #[test]
    fn the_record_puts_the_first_sender_as_a() {
        let key = FlowKeyAbi {
            lo_addr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            hi_addr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            lo_port: 80,
            hi_port: 40000,
            vlan: 0,
            proto: 6,
            family: 4,
        };
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
        let key = |proto| FlowKeyAbi {
            proto,
            ..FlowKeyAbi::default()
        };
        let s = 1_000_000_000;
        let udp = merge([copy([1, 0], s, s, 0)].iter()).expect("counted");
        assert_eq!(
            ended(&key(17), &udp, &cfg, 301 * s + s),
            Some(EndReason::Idle)
        );
        assert_eq!(ended(&key(17), &udp, &cfg, 300 * s), None);
        let mut rst = copy([1, 0], s, s, 0);
        rst.flags = u32::from(tcp_flags::RST);
        let rst = merge([rst].iter()).expect("counted");
        assert_eq!(
            ended(&key(6), &rst, &cfg, 122 * s),
            Some(EndReason::EndOfFlow)
        );
    }
}
