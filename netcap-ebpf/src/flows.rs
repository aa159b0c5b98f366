//! In-kernel flow mode: with nothing to print or write, the hooks count each frame into
//! its conversation in the hash map `FLOWS` instead of copying it.
//!
//! Only frames whose key this code reads exactly as user space's decoder does are
//! counted here: Ethernet with at most two 802.1Q/802.1ad tags, then IPv4 (not a later
//! fragment) carrying TCP, UDP or ICMP, or IPv6 whose next header is TCP, UDP or
//! ICMPv6, with the transport header inside the frame and the IP length. Anything else
//! (ARP, extension headers, tunnels, odd lengths, headers outside the frame's linear
//! part) is [`Outcome::NotMine`] and goes to the ring like any captured frame, and user
//! space counts it, so both paths give the same records. A new flow the full map cannot
//! take is [`Outcome::Full`]: the frame also goes to the ring (`FlowOverflow` counts it).
//!
//! The table is one array of 128-byte slots ([`FlowSlotAbi`]) cut into one region per
//! CPU (`FLOW_MASK + 1` slots each, region `c` for CPU `c`); each region is an
//! open-addressing hash table that only its CPU's hooks write: a flow lives in one of
//! the [`FLOW_WINDOW`] slots from its hash's slot in the region's hot part (its first
//! `FLOW_HOT_MASK + 1` slots) on or, when that window is full of other flows, in a
//! second window outside it. A flow whose frames reach two CPUs has a slot in each
//! region, and user space adds them up. Why not a BPF
//! hash map: a lookup hashes the 40-byte key with jhash and, at 100,000 live flows,
//! misses the cache on the bucket array and on the element (header and key, then
//! value), with a TLB miss for each area; here a frame of a known flow touches one
//! 128-byte slot, and a region's hot part keeps up to about 100,000 flows in 16 MiB
//! however large `--max-flows` made the region (docs/bench/kernel-flows.md has the figures).
//!
//! The protocol, between a CPU's hooks and user space (which maps the array):
//! - **One writer per region.** A region's counters are written by its CPU's hooks
//!   only, one program at a time (XDP runs in softirq, tcx egress with bottom halves
//!   off, and a program does not migrate): the same contract as the kernel's per-CPU
//!   maps (not kept under PREEMPT_RT, where two tasks' programs may interleave on one
//!   CPU, as it is not for per-CPU maps). So the counters take plain adds, no `lock`
//!   prefix, and a CPU's slots never bounce to another CPU's cache.
//! - **Known flow:** the first slot of the window whose key equals the frame's gets
//!   the frame: plain read-modify-write of the counters and the TCP flags (each an
//!   8-byte aligned store user space may read at any time: it sees the old or the new
//!   value) and a plain store of the coarse time in `last_ns`.
//! - **New flow:** when no slot of the window holds the key, the hook claims the first
//!   free one (`key0` from [`FLOW_SLOT_EMPTY`] to [`FLOW_SLOT_BUSY`] with an atomic
//!   compare-and-exchange, which costs only a new flow's frame and keeps a claim sound
//!   without the one-writer rule), fills it in, and publishes the key with an atomic
//!   exchange of `key0` (a full barrier: the fields are written before user space can
//!   read the key). A window with no free slot is [`Outcome::Full`].
//! - **Ended flow:** user space reads the slot, and frees it with a
//!   compare-and-exchange of `key0` back to empty. A frame counted between the read
//!   and the free is lost to the record (a flow that came back to life within
//!   microseconds of its timeout); after the hooks are detached the last read is exact.
//!
//! A frame of a known flow reads the clock once, coarsely (`bpf_ktime_get_coarse_ns`,
//! Linux 5.11, the kernel tick's resolution: enough for the idle timeouts, and 25 ns
//! cheaper than `bpf_ktime_get_ns`, measured); a new flow's first frame has the precise
//! time.
//!
//! Headers are read by direct packet access (bounds checked against `data_end`), not
//! copied with `bpf_xdp_load_bytes`: no helper calls and no scratch buffer.
use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_coarse_ns, bpf_ktime_get_ns},
    macros::map,
    maps::Array,
    Global,
};
use netcap_common::{flow_key0, FlowSlotAbi, FLOW_SLOT_BUSY, FLOW_SLOT_EMPTY, FLOW_WINDOW};

use crate::{
    atomic::{atomic_cmpxchg, atomic_publish},
    Frame,
};

/// Resized by the loader to one region per possible CPU of `FLOW_MASK + 1` slots each
/// (`--max-flows` rounded up to a power of two, within a memory budget); this is only
/// the default. Array maps are preallocated.
#[map]
pub static FLOWS: Array<FlowSlotAbi> = Array::with_max_entries(8, BPF_F_MMAPABLE);

/// Slots of one CPU's region of `FLOWS` minus one (a power of two minus one); set by
/// the loader.
#[no_mangle]
static FLOW_MASK: Global<u32> = Global::new(7);
/// Slots of a region's hot part minus one: a flow's first window is in its region's
/// first `FLOW_HOT_MASK + 1` slots, its second (when the first is full) anywhere in
/// the region. Few flows
/// then live in a few pages, whatever `--max-flows` reserved (a frame's cost at 100,000
/// flows is its slot's cache and TLB misses); set by the loader.
#[no_mangle]
static FLOW_HOT_MASK: Global<u32> = Global::new(7);
/// The hash's key, random per capture (flows come from hostile traffic: a sender who
/// cannot predict the slots cannot fill one window on purpose); set by the loader.
#[no_mangle]
static FLOW_SEED: Global<u64> = Global::new(0);

pub enum Outcome {
    /// Counted into its flow: nothing more to do.
    Counted,
    /// A new flow and no room in the map.
    Full,
    /// Not a frame this code keys exactly: user space's to count.
    NotMine,
}

/// What a frame adds to its flow, besides its key.
struct Facts {
    /// 0 when the frame goes `lo -> hi`.
    dir: usize,
    ip_len: u32,
    tos: u8,
    flags: u8,
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// The frame's linear bytes `[start, end)`, as direct packet access sees them.
#[derive(Clone, Copy)]
pub struct Bytes {
    start: usize,
    end: usize,
}

/// Returns `v` unchanged, through a register copy LLVM cannot see into.
///
/// `data_end` is loaded from a 32-bit context field, so LLVM knows it is below 2^32
/// and may narrow a bounds check to 32 bits with shifts (`r <<= 32`), which the
/// verifier refuses on a packet pointer ("pointer arithmetic on pkt_end prohibited").
/// Through this copy the values are plain 64-bit registers to LLVM.
#[inline(always)]
fn opaque(mut v: usize) -> usize {
    #[cfg(target_arch = "bpf")]
    // SAFETY: a register-to-register move; no memory is touched.
    unsafe {
        core::arch::asm!("{v} = {v}", v = inout(reg) v);
    }
    v
}

impl Bytes {
    /// From the hook's `(data, data_end)`. Made in the hook's own function, before the
    /// call of [`count`]: LLVM would otherwise pass the two 32-bit context loads to it
    /// and widen them there with shifts, which the verifier refuses on packet pointers.
    #[inline(always)]
    pub fn new<F: Frame>(frame: &F) -> Self {
        let (start, end) = frame.linear();
        Self {
            start: opaque(start),
            end: opaque(end),
        }
    }

    /// The `N` bytes at `off`, if they are inside the linear part.
    #[inline(always)]
    fn at<const N: usize>(self, off: usize) -> Option<&'static [u8; N]> {
        let p = self.start + off;
        if p + N > self.end {
            return None;
        }
        // SAFETY: `[p, p + N)` lies inside the packet's linear data (checked just above
        // against `data_end`, which is also what the verifier checks); the bytes stay
        // valid for the whole program run and nothing writes them.
        Some(unsafe { &*(p as *const [u8; N]) })
    }
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn is_vlan(et: u16) -> bool {
    et == 0x8100 || et == 0x88a8 || et == 0x9100
}

/// The transport ports and TCP flags at `off`, where `room` bytes of the IP packet are
/// left; `None` when the header does not fit (user space would call it cut short).
#[inline(always)]
fn transport(b: Bytes, proto: u8, off: usize, room: u32) -> Option<(u16, u16, u8)> {
    match proto {
        6 => {
            if room < 20 {
                return None;
            }
            let l4 = b.at::<20>(off)?;
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
            let l4 = b.at::<8>(off)?;
            Some((be16(l4, 0), be16(l4, 2), 0))
        }
        // ICMP and ICMPv6 have no ports: user space keys them with 0 and 0.
        1 | 58 => Some((0, 0, 0)),
        _ => None,
    }
}

/// Outer tag word of [`how`]: a tag is held apart from the frame, its VLAN id in the
/// low 12 bits.
pub const HELD: u32 = 1 << 16;

/// [`count`]'s `how`: `hook` (`DIR_IN`, `DIR_OUT`) in bits 24-31, `outer` ([`HELD`] and
/// a VLAN id, or 0) below.
#[inline(always)]
pub fn how(hook: u8, outer: u32) -> u32 {
    (u32::from(hook) << 24) | (outer & 0x00ff_ffff)
}

/// Reads the frame's conversation into `key`; `None` for anything
/// [`Outcome::NotMine`]. A tag held apart (`outer`) is the frame's first: the key gets
/// the innermost tag's VLAN id, and the IP length checks count its 4 bytes, as user
/// space sees the frame with the tag put back.
#[inline(always)]
fn facts(b: Bytes, frame_len: u32, outer: u32, key: &mut Key) -> Option<Facts> {
    if frame_len < 34 {
        return None;
    }
    let eth = b.at::<14>(0)?;
    let held = outer & HELD != 0;
    let (mut et, mut off, mut vlan) = (be16(eth, 12), 14usize, (outer & 0x0fff) as u16);
    // Bytes of the frame on the wire before `off` that are not in `b` (the held tag).
    let shift: u32 = if held { 4 } else { 0 };
    if is_vlan(et) {
        let tag = b.at::<4>(14)?;
        (vlan, et, off) = (be16(tag, 0) & 0x0fff, be16(tag, 2), 18);
        if is_vlan(et) {
            if held {
                return None; // a third tag in all
            }
            let tag = b.at::<4>(18)?;
            (vlan, et, off) = (be16(tag, 0) & 0x0fff, be16(tag, 2), 22);
            if is_vlan(et) {
                return None;
            }
        }
    }
    let (ip_len, tos, proto, family, (sport, dport, flags));
    // Source and destination addresses as big-endian numbers: they compare as the
    // bytes do (user space's order), and go into the key as whole words.
    let (src, dst): ([u64; 2], [u64; 2]);
    if et == ETH_P_IP {
        let ip = b.at::<20>(off)?;
        let ihl = u32::from(ip[0] & 0x0f) * 4;
        let total = u32::from(be16(ip, 2));
        if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || off as u32 + shift + total > frame_len {
            return None;
        }
        if be16(ip, 6) & 0x1fff != 0 {
            return None; // a later fragment: no transport header
        }
        (sport, dport, flags) = transport(b, ip[9], off + ihl as usize, total - ihl)?;
        (proto, family, ip_len, tos) = (ip[9], 4, total, ip[1]);
        src = [u64::from(be32(ip, 12)) << 32, 0];
        dst = [u64::from(be32(ip, 16)) << 32, 0];
    } else if et == ETH_P_IPV6 {
        let ip = b.at::<40>(off)?;
        let payload = u32::from(be16(ip, 4));
        if ip[0] >> 4 != 6 || off as u32 + shift + 40 + payload > frame_len {
            return None;
        }
        (sport, dport, flags) = transport(b, ip[6], off + 40, payload)?;
        (proto, family, ip_len) = (ip[6], 6, 40 + payload);
        tos = (ip[0] << 4) | (ip[1] >> 4);
        src = [be64(ip, 8), be64(ip, 16)];
        dst = [be64(ip, 24), be64(ip, 32)];
    } else {
        return None;
    }
    let src_is_lo = (src, sport) <= (dst, dport);
    let ((lo, lo_port), (hi, hi_port), dir) = if src_is_lo {
        ((src, sport), (dst, dport), 0)
    } else {
        ((dst, dport), (src, sport), 1)
    };
    *key = Key {
        k0: flow_key0(lo_port, hi_port, vlan, proto, family == 6),
        a: [lo[0], lo[1], hi[0], hi[1]],
    };
    Some(Facts {
        dir,
        ip_len,
        tos,
        flags,
    })
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

/// Adds the frame to a live slot of this CPU's region (no other CPU writes it).
#[inline(always)]
fn add(s: *mut FlowSlotAbi, f: &Facts, frame_len: u32) {
    let d = f.dir & 1;
    // SAFETY: a helper with no arguments and no side effects.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    // SAFETY: `s` is a live map value (from a successful array lookup) in this CPU's
    // region, 8-byte aligned as the kernel lays values out, so its u64 fields are
    // 8-byte aligned and each is read and stored whole (user space, reading at the same
    // time, sees the old or the new value). Only this program writes them now (one
    // writer per region, module doc); the key and the first-frame fields are not
    // touched.
    unsafe {
        plus(core::ptr::addr_of_mut!((*s).packets[d]), 1);
        core::ptr::addr_of_mut!((*s).last_ns).write_volatile(now);
        plus(core::ptr::addr_of_mut!((*s).bytes[d]), u64::from(frame_len));
        plus(
            core::ptr::addr_of_mut!((*s).ip_bytes[d]),
            u64::from(f.ip_len),
        );
        if f.flags != 0 {
            // The 8-byte word at `tcp_flags` (then first_dir, tos, hook and padding):
            // OR-ing bits 0-15 leaves the other bytes as they are.
            let word = core::ptr::addr_of_mut!((*s).tcp_flags).cast::<u64>();
            word.write_volatile(word.read_volatile() | (u64::from(f.flags) << (8 * d)));
        }
    }
}

/// `*p += v`, one 8-byte load and one 8-byte store (not atomic: one writer).
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value only this program writes.
#[inline(always)]
unsafe fn plus(p: *mut u64, v: u64) {
    // SAFETY: the caller's contract.
    unsafe { p.write_volatile(p.read_volatile() + v) };
}

/// A flow's key as the slots hold it: [`FlowSlotAbi::key0`] and `addr`.
#[repr(C, align(8))]
#[derive(Default)]
pub struct Key {
    k0: u64,
    a: [u64; 4],
}

/// One round of the hash: a multiply and a fold of the high half into the low.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 32)
}

/// The flow's hash: the low half starts its window in the region's hot part, the high
/// half in the whole region.
#[inline(always)]
fn hash(k: &Key) -> u64 {
    let mut h = mix(FLOW_SEED.load() ^ k.k0);
    h = mix(h ^ k.a[0]);
    h = mix(h ^ k.a[1]);
    h = mix(h ^ k.a[2]);
    mix(h ^ k.a[3])
}

/// Whether the live slot `s` holds `k`, its `key0` being `k0`.
#[inline(always)]
fn holds(s: *const FlowSlotAbi, k0: u64, k: &Key) -> bool {
    // SAFETY: `s` is a live map value; its key words are read one by one (a word
    // compare, not a `memcmp` call).
    k0 == k.k0
        && unsafe {
            (*s).addr[0] == k.a[0]
                && (*s).addr[1] == k.a[1]
                && (*s).addr[2] == k.a[2]
                && (*s).addr[3] == k.a[3]
        }
}

/// Counts the frame (its linear bytes `b`, see [`Bytes::new`]) into its flow, creating
/// the flow if need be. Not inlined: its stack frame is its own, beside the capture
/// path's.
///
/// `how` is [`how`]: the hook, and the outer tag the kernel holds apart from the
/// frame's bytes (tc, see `crate::frame::Frame::outer_tag`). One argument for both:
/// a BPF call takes five registers, and `b` is two.
#[inline(never)]
pub fn count(b: Bytes, frame_len: u32, ifindex: u32, how: u32) -> Outcome {
    let (hook, outer) = ((how >> 24) as u8, how & 0x00ff_ffff);
    let mut key = Key::default();
    let Some(f) = facts(b, frame_len, outer, &mut key) else {
        return Outcome::NotMine;
    };
    let h = hash(&key);
    let (hot, all) = (FLOW_HOT_MASK.load(), FLOW_MASK.load());
    // This CPU's region. (CPUs past the map's regions, which the loader's count of
    // possible CPUs rules out, find no slot: their new flows overflow, counted.)
    // SAFETY: a helper with no arguments and no side effects.
    let base = unsafe { bpf_get_smp_processor_id() }.wrapping_mul(all.wrapping_add(1));
    let free = match probe(base, h as u32, hot, &key, &f, frame_len) {
        Probe::Counted => return Outcome::Counted,
        Probe::Free(idx) => idx,
        // The second window starts outside the hot part (whose windows are the
        // crowded ones), when there is room outside it.
        Probe::Full => match probe(base, cold_start(h, hot, all), all, &key, &f, frame_len) {
            Probe::Counted => return Outcome::Counted,
            Probe::Free(idx) => idx,
            Probe::Full => return Outcome::Full,
        },
    };
    insert(b, &key, &f, free, frame_len, ifindex, hook)
}

/// Where a flow's second window starts in its region: a slot past the hot part, or
/// anywhere when the hot part is the whole region.
#[inline(always)]
fn cold_start(h: u64, hot: u32, all: u32) -> u32 {
    let (h2, span) = ((h >> 32) as u32, all.wrapping_sub(hot));
    if span == 0 {
        h2
    } else {
        hot + 1 + h2 % span
    }
}

enum Probe {
    /// The flow's slot was found and the frame added.
    Counted,
    /// The window ends in this free slot before the flow's.
    Free(u32),
    /// The window is full of other flows.
    Full,
}

/// Looks for the flow in the window from `start & mask` on in the region at `base`,
/// and adds the frame to it.
/// The window ends at the first free slot: a flow behind a slot user space freed is
/// not seen, and the frame creates a second slot for it there (user space adds them).
#[inline(always)]
fn probe(base: u32, start: u32, mask: u32, key: &Key, f: &Facts, frame_len: u32) -> Probe {
    for i in 0..FLOW_WINDOW {
        let idx = base.wrapping_add(start.wrapping_add(i) & mask);
        let Some(s) = FLOWS.get_ptr_mut(idx) else {
            return Probe::Full;
        };
        // SAFETY: `s` is a live map value; `key0` is read once, as one 8-byte load.
        // The load of the slot's second cache line goes out beside it, before any
        // atomic instruction: the two misses overlap instead of queueing.
        let k0 = unsafe {
            core::ptr::addr_of!((*s).ip_bytes[1]).read_volatile();
            core::ptr::addr_of!((*s).key0).read_volatile()
        };
        if holds(s, k0, key) {
            add(s, f, frame_len);
            return Probe::Counted;
        }
        if k0 == FLOW_SLOT_EMPTY {
            return Probe::Free(idx);
        }
    }
    Probe::Full
}

/// Claims the free slot `idx` for a new flow and fills it in.
#[inline(always)]
fn insert(
    b: Bytes,
    key: &Key,
    f: &Facts,
    idx: u32,
    frame_len: u32,
    ifindex: u32,
    hook: u8,
) -> Outcome {
    let Some(eth) = b.at::<12>(0) else {
        return Outcome::NotMine;
    };
    let Some(s) = FLOWS.get_ptr_mut(idx) else {
        return Outcome::Full;
    };
    // SAFETY: `s` is a live map value, `key0` 8-byte aligned at its start.
    let k0 = unsafe { core::ptr::addr_of_mut!((*s).key0) };
    // SAFETY: as above.
    if unsafe { atomic_cmpxchg(k0, FLOW_SLOT_EMPTY, FLOW_SLOT_BUSY) } != FLOW_SLOT_EMPTY {
        return Outcome::Full; // claimed since the probe (not under the one-writer rule)
    }
    let d = f.dir & 1;
    // SAFETY: a helper with no arguments and no side effects.
    let now = unsafe { bpf_ktime_get_ns() };
    // The sender's MAC is its side's, the receiver's the other's.
    // (Constant indexes: LLVM turns `macs[d]` into a pointer OR the verifier refuses.)
    let (src, dst) = (
        [eth[6], eth[7], eth[8], eth[9], eth[10], eth[11]],
        [eth[0], eth[1], eth[2], eth[3], eth[4], eth[5]],
    );
    let mut v = FlowSlotAbi {
        key0: FLOW_SLOT_BUSY,
        addr: key.a,
        first_ns: now,
        last_ns: now,
        ifindex,
        tcp_flags: u16::from(f.flags) << (8 * d),
        first_dir: d as u8,
        tos: f.tos,
        hook,
        macs: if d == 0 { [src, dst] } else { [dst, src] },
        ..FlowSlotAbi::default()
    };
    v.packets[d] = 1;
    v.bytes[d] = u64::from(frame_len);
    v.ip_bytes[d] = u64::from(f.ip_len);
    // SAFETY: the slot is this program's alone while it is BUSY (no key matches it,
    // no other hook claims it, user space frees only live slots); `key0` stays BUSY
    // through this copy and is then published with a barrier.
    unsafe {
        s.write_volatile(v);
        atomic_publish(k0, key.k0);
    }
    Outcome::Counted
}
