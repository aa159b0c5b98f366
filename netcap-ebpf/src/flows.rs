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
//! The map is one global preallocated hash (not per-CPU), and frames are added to an
//! entry with atomic instructions: the packet and byte counters with atomic adds (BPF
//! `XADD`, any kernel), the TCP flags with an atomic OR (Linux 5.12). The
//! first-frame fields (first timestamp, MACs, interface, who spoke first) are written
//! once, by the insert; `last_ns` is a plain store (the latest writer wins, which is
//! at most a few nanoseconds off between two CPUs). Why not per-CPU values: an insert
//! into a per-CPU hash initialises a value for every possible CPU, and user space
//! reads them all; measured with `BPF_PROG_TEST_RUN`, see the README.
//!
//! Headers are read by direct packet access (bounds checked against `data_end`), not
//! copied with `bpf_xdp_load_bytes`: no helper calls and no scratch buffer.
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns, macros::map, maps::HashMap};
use netcap_common::{FlowKeyAbi, FlowValueAbi};

use crate::Frame;

/// Resized by the loader (`--max-flows`, within a memory budget); this is only the
/// default. Preallocated, as the kernel does by default: measured at trafgen's top rate
/// with a new flow every few frames, an insert into a map without preallocation
/// (`BPF_F_NO_PREALLOC`) made the program cost 4,350 ns per frame, against 456
/// preallocated (both per-CPU).
#[map]
pub static FLOWS: HashMap<FlowKeyAbi, FlowValueAbi> = HashMap::with_max_entries(1024, 0);

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

/// Reads the frame's conversation into `key`; `None` for anything
/// [`Outcome::NotMine`].
#[inline(always)]
fn facts(b: Bytes, frame_len: u32, key: &mut FlowKeyAbi) -> Option<Facts> {
    if frame_len < 34 {
        return None;
    }
    let eth = b.at::<14>(0)?;
    let (mut et, mut off, mut vlan) = (be16(eth, 12), 14usize, 0u16);
    if is_vlan(et) {
        let tag = b.at::<4>(14)?;
        (vlan, et, off) = (be16(tag, 0) & 0x0fff, be16(tag, 2), 18);
        if is_vlan(et) {
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
        if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || off as u32 + total > frame_len {
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
        if ip[0] >> 4 != 6 || off as u32 + 40 + payload > frame_len {
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
    *key = FlowKeyAbi {
        lo_addr: addr(lo),
        hi_addr: addr(hi),
        lo_port,
        hi_port,
        vlan,
        proto,
        family,
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

/// The 16 address bytes of the key from the two big-endian words (IPv4: its 4 bytes,
/// then zeros).
#[inline(always)]
fn addr(w: [u64; 2]) -> [u8; 16] {
    let (a, b) = (w[0].to_be_bytes(), w[1].to_be_bytes());
    [
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6],
        b[7],
    ]
}

/// `*p += v` as one atomic instruction (BPF `XADD`: `lock *(u64 *)(p) += v`). The
/// bpfel target offers no `AtomicU64::fetch_add`, so this is spelled in assembly.
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value.
#[inline(always)]
unsafe fn atomic_add(p: *mut u64, v: u64) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: the caller's contract; the instruction touches only `*p`.
    unsafe {
        core::arch::asm!("lock *(u64 *)({p} + 0) += {v}", p = in(reg) p, v = in(reg) v);
    }
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: the caller's contract.
    unsafe {
        *p += v;
    }
}

/// `*p |= v` as one atomic instruction (BPF atomic OR, Linux 5.12). The 64-bit form:
/// the 32-bit one needs the `alu32` registers this build does not use.
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value.
#[inline(always)]
unsafe fn atomic_or(p: *mut u64, v: u64) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: the caller's contract; the instruction touches only `*p`.
    unsafe {
        core::arch::asm!("lock *(u64 *)({p} + 0) |= {v}", p = in(reg) p, v = in(reg) v);
    }
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: the caller's contract.
    unsafe {
        *p |= v;
    }
}

/// Adds the frame to a live entry, which other CPUs may be updating at the same time.
#[inline(always)]
fn add(v: *mut FlowValueAbi, f: &Facts, frame_len: u32, now: u64) {
    let d = f.dir & 1;
    // SAFETY: `v` is a live map value (from a successful lookup), 8-byte aligned as the
    // kernel lays values out, so its u64 fields and the word at `flags` (offset 80, see
    // netcap-common) are 8-byte aligned.
    // The counters and flags are written only atomically, `last_ns` with one 8-byte
    // store; the first-frame fields (written by the insert) are not touched.
    unsafe {
        atomic_add(core::ptr::addr_of_mut!((*v).packets[d]), 1);
        atomic_add(core::ptr::addr_of_mut!((*v).bytes[d]), u64::from(frame_len));
        atomic_add(
            core::ptr::addr_of_mut!((*v).ip_bytes[d]),
            u64::from(f.ip_len),
        );
        core::ptr::addr_of_mut!((*v).last_ns).write_volatile(now);
        if f.flags != 0 {
            // The 8-byte word at `flags` (ABI: 8-byte aligned, then first_dir, tos,
            // hook and padding): OR-ing bits 0-15 leaves the other bytes as they are.
            let word = core::ptr::addr_of_mut!((*v).flags).cast::<u64>();
            atomic_or(word, u64::from(f.flags) << (8 * d));
        }
    }
}

#[repr(C, align(8))]
struct Key(FlowKeyAbi);

/// Counts the frame (its linear bytes `b`, see [`Bytes::new`]) into its flow, creating
/// the flow if need be. Not inlined: its stack frame is its own, beside the capture
/// path's.
#[inline(never)]
pub fn count(b: Bytes, frame_len: u32, ifindex: u32, hook: u8) -> Outcome {
    // 8-byte aligned, so that zeroing it is five stores and not a call of `memset`.
    let mut key = Key(FlowKeyAbi::default());
    let Some(f) = facts(b, frame_len, &mut key.0) else {
        return Outcome::NotMine;
    };
    // SAFETY: a helper with no arguments and no side effects.
    let now = unsafe { bpf_ktime_get_ns() };
    let key = &key.0;
    if let Some(v) = FLOWS.get_ptr_mut(key) {
        add(v, &f, frame_len, now);
        return Outcome::Counted;
    }
    let Some(eth) = b.at::<12>(0) else {
        return Outcome::NotMine;
    };
    let d = f.dir & 1;
    let mut v = FlowValueAbi {
        first_ns: now,
        last_ns: now,
        ifindex,
        flags: u32::from(f.flags) << (8 * d),
        first_dir: d as u8,
        tos: f.tos,
        hook,
        ..FlowValueAbi::default()
    };
    v.packets[d] = 1;
    v.bytes[d] = u64::from(frame_len);
    v.ip_bytes[d] = u64::from(f.ip_len);
    // The sender's MAC is its side's, the receiver's the other's.
    // (Constant indexes: LLVM turns `macs[d]` into a pointer OR the verifier refuses.)
    let (src, dst) = (
        [eth[6], eth[7], eth[8], eth[9], eth[10], eth[11]],
        [eth[0], eth[1], eth[2], eth[3], eth[4], eth[5]],
    );
    v.macs = if d == 0 { [src, dst] } else { [dst, src] };
    match FLOWS.insert(key, &v, u64::from(BPF_NOEXIST)) {
        Ok(()) => Outcome::Counted,
        // Another CPU created it in between (EEXIST): add to that. Otherwise the map
        // is full.
        Err(_) => match FLOWS.get_ptr_mut(key) {
            Some(v) => {
                add(v, &f, frame_len, now);
                Outcome::Counted
            }
            None => Outcome::Full,
        },
    }
}
