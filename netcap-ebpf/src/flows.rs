//! In-kernel flow mode: with nothing to print or write, the hooks count each frame into
//! its conversation in the per-CPU hash map `FLOWS` instead of copying it.
//!
//! Only frames whose key this code reads exactly as user space's decoder does are
//! counted here: Ethernet with at most two 802.1Q/802.1ad tags, then IPv4 (not a later
//! fragment) carrying TCP, UDP or ICMP, or IPv6 whose next header is TCP, UDP or
//! ICMPv6, with the transport header inside the frame and the IP length. Anything else
//! (ARP, extension headers, tunnels, odd lengths) is [`Outcome::NotMine`] and goes to
//! the ring like any captured frame, and user space counts it, so both paths give the
//! same records. A new flow the full map cannot take is [`Outcome::Full`]: the frame
//! also goes to the ring (`FlowOverflow` counts it).
//!
//! Per-CPU values need no lock or atomic: a CPU runs one hook at a time (XDP in the
//! receive softirq, tcx egress with bottom halves off), and user space adds the CPUs'
//! copies up.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{PerCpuArray, PerCpuHashMap},
};
use netcap_common::{FlowKeyAbi, FlowValueAbi};

use crate::Frame;

/// Resized by the loader (`--max-flows`, within a memory budget); this is only the
/// default. Preallocated, as the kernel does by default: measured at trafgen's top rate
/// with a new flow every few frames, an insert into a map without preallocation
/// (`BPF_F_NO_PREALLOC`, per-CPU values allocated on demand) made the program cost
/// 4,350 ns per frame, against 456 preallocated.
#[map]
pub static FLOWS: PerCpuHashMap<FlowKeyAbi, FlowValueAbi> =
    PerCpuHashMap::with_max_entries(1024, 0);

/// Per-CPU room for one frame's work: the parse buffers, the key and a new flow's
/// value live here, off the stack (the verifier allows 512 bytes for the whole call
/// chain, and the capture path takes its share).
#[repr(C)]
pub struct Scratch {
    key: FlowKeyAbi,
    value: FlowValueAbi,
    facts: Facts,
    /// Ethernet and VLAN headers (22), then the IP header (40), then transport (20).
    eth: [u8; 24],
    ip: [u8; 40],
    l4: [u8; 24],
}

#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

pub enum Outcome {
    /// Counted into its flow: nothing more to do.
    Counted,
    /// A new flow and no room in the map.
    Full,
    /// Not a frame this code keys exactly: user space's to count.
    NotMine,
}

/// What a frame adds to its flow, besides its key.
#[repr(C)]
struct Facts {
    /// 0 when the frame goes `lo -> hi`.
    dir: usize,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    ip_len: u32,
    tos: u8,
    flags: u8,
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn is_vlan(et: u16) -> bool {
    et == 0x8100 || et == 0x88a8 || et == 0x9100
}

#[inline(always)]
fn load<F: Frame, const N: usize>(frame: &F, off: u32, buf: &mut [u8; N], len: u32) -> Option<()> {
    if len as usize > N {
        return None;
    }
    (F::load_at(frame.raw(), off, buf.as_mut_ptr(), len) == 0).then_some(())
}

/// The transport ports and TCP flags at `off`, where `room` bytes of the IP packet are
/// left; `None` when the header does not fit (user space would call it cut short).
#[inline(always)]
fn transport<F: Frame>(
    frame: &F,
    l4: &mut [u8; 24],
    proto: u8,
    off: u32,
    room: u32,
) -> Option<(u16, u16, u8)> {
    match proto {
        6 => {
            if room < 20 {
                return None;
            }
            load(frame, off, l4, 20)?;
            let doff = u32::from(l4[12] >> 4) * 4;
            if doff < 20 || doff > room {
                return None;
            }
            Some((be16(l4, 0), be16(l4, 2), l4[13]))
        }
        17 => {
            if room < 8 {
                return None;
            }
            load(frame, off, l4, 8)?;
            Some((be16(l4, 0), be16(l4, 2), 0))
        }
        // ICMP and ICMPv6 have no ports: user space keys them with 0 and 0.
        1 | 58 => Some((0, 0, 0)),
        _ => None,
    }
}

/// Reads the frame's conversation into `sc.key` and `sc.facts`; `None` for anything
/// [`Outcome::NotMine`].
#[inline(always)]
fn facts<F: Frame>(frame: &F, frame_len: u32, sc: &mut Scratch) -> Option<()> {
    if frame_len < 34 {
        return None;
    }
    load(frame, 0, &mut sc.eth, 22)?;
    let eth = &sc.eth;
    let (mut et, mut off, mut vlan) = (be16(eth, 12), 14u32, 0u16);
    if is_vlan(et) {
        vlan = be16(eth, 14) & 0x0fff;
        et = be16(eth, 16);
        off = 18;
        if is_vlan(et) {
            vlan = be16(eth, 18) & 0x0fff;
            et = be16(eth, 20);
            off = 22;
            if is_vlan(et) {
                return None;
            }
        }
    }
    let key = &mut sc.key;
    *key = FlowKeyAbi::default();
    key.vlan = vlan;
    let ip = &mut sc.ip;
    let (ip_len, tos, (sport, dport, flags));
    if et == ETH_P_IP {
        load(frame, off, ip, 20)?;
        let ihl = u32::from(ip[0] & 0x0f) * 4;
        let total = u32::from(be16(ip, 2));
        if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || off + total > frame_len {
            return None;
        }
        if be16(ip, 6) & 0x1fff != 0 {
            return None; // a later fragment: no transport header
        }
        (key.proto, key.family) = (ip[9], 4);
        (sport, dport, flags) = transport(frame, &mut sc.l4, ip[9], off + ihl, total - ihl)?;
        key.lo_addr[..4].copy_from_slice(&ip[12..16]);
        key.hi_addr[..4].copy_from_slice(&ip[16..20]);
        (ip_len, tos) = (total, ip[1]);
    } else if et == ETH_P_IPV6 {
        load(frame, off, ip, 40)?;
        let payload = u32::from(be16(ip, 4));
        if ip[0] >> 4 != 6 || off + 40 + payload > frame_len {
            return None;
        }
        (key.proto, key.family) = (ip[6], 6);
        (sport, dport, flags) = transport(frame, &mut sc.l4, ip[6], off + 40, payload)?;
        key.lo_addr.copy_from_slice(&ip[8..24]);
        key.hi_addr.copy_from_slice(&ip[24..40]);
        (ip_len, tos) = (40 + payload, (ip[0] << 4) | (ip[1] >> 4));
    } else {
        return None;
    }
    // The source went into `lo` and the destination into `hi`; swap if that is not
    // their order.
    let src_is_lo = match cmp16(&key.lo_addr, &key.hi_addr) {
        0 => sport <= dport,
        c => c < 0,
    };
    let dir = if src_is_lo {
        (key.lo_port, key.hi_port) = (sport, dport);
        0
    } else {
        let mut i = 0;
        while i < 16 {
            (key.lo_addr[i], key.hi_addr[i]) = (key.hi_addr[i], key.lo_addr[i]);
            i += 1;
        }
        (key.lo_port, key.hi_port) = (dport, sport);
        1
    };
    let f = &mut sc.facts;
    f.dir = dir;
    f.dst_mac.copy_from_slice(&sc.eth[0..6]);
    f.src_mac.copy_from_slice(&sc.eth[6..12]);
    (f.ip_len, f.tos, f.flags) = (ip_len, tos, flags);
    Some(())
}

/// Compares two addresses byte by byte (no `memcmp` in BPF): -1, 0 or 1.
#[inline(always)]
fn cmp16(a: &[u8; 16], b: &[u8; 16]) -> i32 {
    let mut i = 0;
    while i < 16 {
        if a[i] != b[i] {
            return if a[i] < b[i] { -1 } else { 1 };
        }
        i += 1;
    }
    0
}

/// Sets the first-frame fields of this CPU's copy of a flow if it has none yet (a new
/// flow, or one another CPU created).
#[inline(always)]
fn start(v: &mut FlowValueAbi, f: &Facts, now: u64, ifindex: u32, hook: u8) {
    if v.first_ns == 0 {
        v.first_ns = now;
        v.ifindex = ifindex;
        v.first_dir = f.dir as u8;
        v.tos = f.tos;
        v.hook = hook;
    }
}

#[inline(always)]
fn add(v: &mut FlowValueAbi, f: &Facts, frame_len: u32, now: u64) {
    let d = f.dir & 1;
    v.packets[d] += 1;
    v.bytes[d] += u64::from(frame_len);
    v.ip_bytes[d] += u64::from(f.ip_len);
    v.flags[d] |= f.flags;
    v.last_ns = now;
    if v.macs[d] == [0; 6] {
        v.macs[d] = f.src_mac;
    }
    if v.macs[d ^ 1] == [0; 6] {
        v.macs[d ^ 1] = f.dst_mac;
    }
}

/// Counts the frame into its flow, creating the flow if need be. Not inlined: its
/// stack frame is its own, beside the capture path's.
#[inline(never)]
pub fn count<F: Frame>(frame: &F, frame_len: u32, ifindex: u32, hook: u8) -> Outcome {
    let Some(sc) = SCRATCH.get_ptr_mut(0) else {
        return Outcome::NotMine;
    };
    // SAFETY: this CPU's only scratch slot, used by one hook at a time (module doc).
    let sc = unsafe { &mut *sc };
    if facts(frame, frame_len, sc).is_none() {
        return Outcome::NotMine;
    }
    // SAFETY: a helper with no arguments and no side effects.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(v) = FLOWS.get_ptr_mut(&sc.key) {
        // SAFETY: the pointer is this CPU's value of a live entry; only this CPU writes
        // it, one hook at a time (see the module doc).
        let v = unsafe { &mut *v };
        start(v, &sc.facts, now, ifindex, hook);
        add(v, &sc.facts, frame_len, now);
        return Outcome::Counted;
    }
    sc.value = FlowValueAbi::default();
    start(&mut sc.value, &sc.facts, now, ifindex, hook);
    add(&mut sc.value, &sc.facts, frame_len, now);
    match FLOWS.insert(&sc.key, &sc.value, u64::from(BPF_NOEXIST)) {
        Ok(()) => Outcome::Counted,
        // Another CPU created it in between (EEXIST): count into this CPU's copy.
        // Otherwise the map is full.
        Err(_) => match FLOWS.get_ptr_mut(&sc.key) {
            Some(p) => {
                // SAFETY: as above.
                let mine = unsafe { &mut *p };
                start(mine, &sc.facts, now, ifindex, hook);
                add(mine, &sc.facts, frame_len, now);
                Outcome::Counted
            }
            None => Outcome::Full,
        },
    }
}
