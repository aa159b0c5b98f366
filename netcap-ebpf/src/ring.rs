//! The copy into the capture ring of the CPU the program runs on: a lock-free
//! single-producer ring in an mmapable array map, in place of the BPF ring buffer's
//! reserve/submit (a spin lock taken with interrupts off, and an atomic exchange, per
//! record: about 34 ns of the 76 the record cost, `docs/bench/kernel.md`).
//!
//! Layout (`netcap_common::ring`): `RING` is a `BPF_MAP_TYPE_ARRAY` with
//! `BPF_F_MMAPABLE`, one element per ring; an element is a control page (the producer
//! position, written only here, and 128 bytes on the consumer position, written only by
//! user space), then `RING_MASK + 1` bytes of data (a power of two) and a slack of one
//! largest record. The loader sizes the element (`capture/ring_object.rs` sets the map's
//! value size in the object before loading it), so the verifier checks every store
//! below against the real bounds.
//!
//! A record is a [`RecordHeader`] and `cap_len` frame bytes, padded to 8, written at
//! `producer % size`: a record that starts near the end runs on into the slack, so each
//! record is contiguous and no pad records or wrapped copies are needed (the slack
//! bytes stand for the first bytes of the data area, free when they are).
//!
//! - **One producer per ring at a time.** XDP (generic: `netif_receive_skb` in softirq
//!   or with bottom halves off; native: NAPI) and tcx egress (`__dev_queue_xmit` under
//!   `rcu_read_lock_bh`) both run with bottom halves off on the CPU that stamps the
//!   frame, and on a kernel without `CONFIG_PREEMPT_RT` (this one: `PREEMPT_NONE`/
//!   dynamic, RT not set) a bottom-half-off section is never interrupted by another:
//!   a CPU runs one instance of these programs at a time, so each CPU's ring has one
//!   writer and needs no lock or compare-and-exchange. `BPF_PROG_TEST_RUN` runs with
//!   migration off on one CPU too; tests never attach the object they test-run. On
//!   `PREEMPT_RT` (bottom halves are preemptible threads) two instances could
//!   interleave; the user-space loader refuses this ring there (`/sys/kernel/realtime`).
//!   Every possible CPU has a ring of its own (element `cpu` of `RING`), however many
//!   CPUs there are; only the wake-up rings are shared beyond `MAX_RINGS` CPUs (a BPF
//!   ring buffer takes any number of producers).
//! - **Publishing.** The header and the data are stored, then the producer position
//!   with a store-release (`BPF_STORE_REL`, Linux 6.15: a plain `mov` in the x86 JIT,
//!   whose stores are not reordered, `stlr` on arm64); the asm statement is also a
//!   compiler barrier. User space loads the position with acquire and only then reads
//!   the records below it. The consumer position is read with a load-acquire, so the
//!   space user space handed back is not written before it has read it.
//! - **Full ring.** A record that does not fit in `size - (producer - consumer)` is not
//!   written: the frame is counted `LostRingFull`.
//! - **Wake-ups.** A record that makes the unread bytes cross `WAKEUP_BYTES` puts an
//!   8-byte token in this CPU's slot of `RINGS`, a one-page BPF ring buffer that is
//!   only a wake-up channel (user space epolls it and throws the tokens away); user
//!   space also drains on a short timer.
use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, BPF_RB_FORCE_WAKEUP},
    btf_maps::{ArrayOfMaps, RingBuf},
    check_bounds_signed,
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{btf_map, map},
    maps::Array,
    Global,
};
use netcap_common::{omit, record_span, ring, Counter, RecordHeader, MAX_RINGS, MAX_SNAPLEN};

use crate::{Frame, OMIT};

/// Bytes of each frame to copy; set by the loader (`-s`). Never above `MAX_SNAPLEN`.
#[no_mangle]
static SNAPLEN: Global<u32> = Global::new(MAX_SNAPLEN);
/// Unread bytes in a ring at which a record wakes the reader; set by the loader.
/// 0: a record wakes the reader when it had read everything (no batching).
#[no_mangle]
static WAKEUP_BYTES: Global<u64> = Global::new(1 << 20);
/// Bytes of a ring's data area minus one (a power of two minus one); set by the loader.
#[no_mangle]
static RING_MASK: Global<u32> = Global::new(0);
/// The capture rings, one element per possible CPU (the loader sets the entries). The
/// value type is only the control page: the
/// loader sets the real value size (control page, data, slack); an object loaded
/// without that has no room for a record, and the verifier refuses it.
#[map]
static RING: Array<[u64; 512]> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// A wake-up channel (inner map type of `RINGS`); the loader creates one page each.
type Wake = RingBuf<u64, 4096>;

/// Slot `cpu % MAX_RINGS` holds the wake-up ring of that CPU's capture ring; every slot
/// is filled by the loader before a hook is attached.
#[btf_map]
static RINGS: ArrayOfMaps<Wake, { MAX_RINGS as usize }> = ArrayOfMaps::new();

/// Copies the frame into this CPU's ring; returns the counter the frame ends in.
#[inline(always)]
pub fn copy<F: Frame>(frame: &F, frame_len: u32, ifindex: u32, direction: u8) -> Counter {
    let omitted = OMIT.load();
    let cpu = if omitted & omit::CPU != 0 {
        0
    } else {
        // SAFETY: a helper with no arguments and no side effects.
        unsafe { bpf_get_smp_processor_id() }
    };
    let Some(ring) = RING.get_ptr_mut(cpu) else {
        return Counter::LostRingFull;
    };
    if omitted & omit::RECORD != 0 {
        return Counter::Captured;
    }
    let snaplen = SNAPLEN.load();
    let cap = if frame_len < snaplen {
        frame_len
    } else {
        snaplen
    };
    // The verifier must see `1 <= len <= snaplen` on the very register passed to the
    // helper (the slack holds one record of `snaplen` bytes).
    if !check_bounds_signed(cap as i64, 1, snaplen as i64) {
        return Counter::LostCopy;
    }
    let len = clamp_for_verifier(u64::from(cap), u64::from(snaplen));
    let ts_ns = if omitted & omit::TIMESTAMP != 0 {
        0
    } else {
        // SAFETY: a helper with no arguments and no side effects.
        unsafe { bpf_ktime_get_ns() }
    };
    let base = ring.cast::<u8>();
    // SAFETY: both positions are inside the element's control page (8-byte aligned
    // u64s at fixed offsets); the producer's is written by this program only, which
    // runs once at a time per ring (module doc).
    let (prod_p, cons_p) = unsafe {
        (
            base.add(ring::PRODUCER).cast::<u64>(),
            base.add(ring::CONSUMER).cast::<u64>(),
        )
    };
    // SAFETY: as above.
    let prod = unsafe { core::ptr::read_volatile(prod_p) };
    // SAFETY: as above; user space stores it with release after reading the records.
    let cons = unsafe { load_acquire(cons_p) };
    let mask = u64::from(RING_MASK.load());
    let span = u64::from(record_span(cap));
    let (size, unread) = (mask + 1, prod.wrapping_sub(cons));
    if span > size || unread > size - span {
        return Counter::LostRingFull;
    }
    // Positions are multiples of 8, and the mask keeps the offset inside the data area;
    // the verifier sees both bounds on this register.
    let off = (prod & mask & !7) as usize;
    // SAFETY: `DATA + off + span` is inside the element: the loader made it
    // `DATA + mask + 1 + record_span(snaplen)` bytes or more, and `span` is at most
    // `record_span(snaplen)`. The verifier checks the same bounds on every store.
    let rec = unsafe { base.add(ring::DATA as usize + off) };
    let hdr = RecordHeader {
        ts_ns,
        ifindex,
        frame_len,
        cap_len: cap,
        direction,
        _pad: [0; 3],
    };
    // SAFETY: `rec` is 8-byte aligned (`off` and `DATA` are) with room for the header.
    unsafe { rec.cast::<RecordHeader>().write(hdr) };
    if omitted & omit::COPY == 0 {
        // SAFETY: the data follows the header, with room for `len` bytes (above).
        let dst = unsafe { rec.add(core::mem::size_of::<RecordHeader>()) };
        if frame.load(dst, len as u32) != 0 {
            return Counter::LostCopy;
        }
    }
    // SAFETY: `prod_p` as above; this publishes the record (module doc).
    unsafe { store_release(prod_p, prod + span) };
    if omitted & omit::QUERY == 0 {
        let threshold = WAKEUP_BYTES.load().max(1);
        if unread < threshold && unread + span >= threshold {
            wake(cpu % MAX_RINGS);
        }
    }
    Counter::Captured
}

/// Puts a token into the wake-up ring of `slot`, waking its reader. A full token ring
/// (a reader that is not reading) takes nothing: it is woken already.
#[inline(never)]
fn wake(slot: u32) {
    if let Some(wake) = RINGS.get(slot) {
        let _ = wake.output(0u64, BPF_RB_FORCE_WAKEUP as u64);
    }
}

/// `*p` with acquire ordering (`BPF_LOAD_ACQ`, Linux 6.15).
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value.
#[inline(always)]
unsafe fn load_acquire(p: *const u64) -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        let v: u64;
        // SAFETY: the caller's contract; the instruction only reads `*p`.
        unsafe {
            core::arch::asm!("{v} = load_acquire((u64 *)({p} + 0))", p = in(reg) p, v = out(reg) v);
        }
        v
    }
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: the caller's contract.
    unsafe {
        core::ptr::read_volatile(p)
    }
}

/// `*p = v` with release ordering (`BPF_STORE_REL`, Linux 6.15): every store before it
/// is visible before `v` is.
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value.
#[inline(always)]
unsafe fn store_release(p: *mut u64, v: u64) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: the caller's contract; the instruction only writes `*p`.
    unsafe {
        core::arch::asm!("store_release((u64 *)({p} + 0), {v})", p = in(reg) p, v = in(reg) v);
    }
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: the caller's contract.
    unsafe {
        core::ptr::write_volatile(p, v);
    }
}

/// Returns `v` limited to `1..=hi` in a form the verifier tracks on the returned register.
///
/// `check_bounds_signed` proves the bound on one register, but LLVM may pass another copy
/// of the value (one the verifier knows nothing about) to the helper; inline asm is
/// opaque to LLVM, so the register it returns is the one the helper gets, with its bound
/// established by the two branches here. `v` is already in range, so this changes nothing.
#[inline(always)]
fn clamp_for_verifier(mut v: u64, hi: u64) -> u64 {
    #[cfg(target_arch = "bpf")]
    // SAFETY: pure register arithmetic; no memory is touched.
    unsafe {
        core::arch::asm!(
            "if {v} s<= {hi} goto +1",
            "{v} = {hi}",
            "if {v} s> 0 goto +1",
            "{v} = 1",
            v = inout(reg) v,
            hi = in(reg) hi,
        );
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        v = v.clamp(1, hi);
    }
    v
}
