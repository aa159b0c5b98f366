//! The copy into the ring of the CPU the program runs on: a record of the smallest size
//! class that holds the captured bytes, a [`RecordHeader`] and the frame's first
//! `min(frame_len, SNAPLEN)` bytes, submitted without a wake-up unless the ring's unread
//! data crosses `WAKEUP_BYTES`.
use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    btf_maps::{ArrayOfMaps, RingBuf},
    check_bounds_signed,
    cty::c_void,
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_ringbuf_query},
    macros::btf_map,
    Global,
};
use netcap_common::{omit, Counter, Record, RecordHeader, MAX_RINGS, MAX_SNAPLEN, SIZE_CLASSES};

use crate::{Frame, OMIT};

/// Bytes of each frame to copy; set by the loader (`-s`). Never above `MAX_SNAPLEN`.
#[no_mangle]
static SNAPLEN: Global<u32> = Global::new(MAX_SNAPLEN);
/// Unread bytes in the ring at which a submit wakes the reader; set by the loader.
/// 0 turns batching off (the kernel's own wake-up policy).
#[no_mangle]
static WAKEUP_BYTES: Global<u64> = Global::new(1 << 20);

/// A ring buffer (inner map type of `RINGS`); the loader creates the real ones, sized
/// by `-B`, and the template's size does not bind them (the kernel compares only type,
/// key, value and flags of a ring buffer inner map).
type Ring = RingBuf<u8, 4096>;

/// Slot `cpu % MAX_RINGS` holds the ring that CPU writes to; every slot is filled by
/// the loader before a hook is attached (an empty slot would lose the frame, counted).
#[btf_map]
static RINGS: ArrayOfMaps<Ring, { MAX_RINGS as usize }> = ArrayOfMaps::new();

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
    let Some(ring) = RINGS.get(cpu % MAX_RINGS) else {
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
    let ts_ns = if omitted & omit::TIMESTAMP != 0 {
        0
    } else {
        // SAFETY: a helper with no arguments and no side effects.
        unsafe { bpf_ktime_get_ns() }
    };
    let hdr = RecordHeader {
        ts_ns,
        ifindex,
        frame_len,
        cap_len: cap,
        direction,
        _pad: [0; 3],
    };
    let result = if cap <= SIZE_CLASSES[0] {
        emit::<F, { SIZE_CLASSES[0] as usize }>(ring, frame, hdr)
    } else if cap <= SIZE_CLASSES[1] {
        emit::<F, { SIZE_CLASSES[1] as usize }>(ring, frame, hdr)
    } else if cap <= SIZE_CLASSES[2] {
        emit::<F, { SIZE_CLASSES[2] as usize }>(ring, frame, hdr)
    } else if cap <= SIZE_CLASSES[3] {
        emit::<F, { SIZE_CLASSES[3] as usize }>(ring, frame, hdr)
    } else if cap <= SIZE_CLASSES[4] {
        emit::<F, { SIZE_CLASSES[4] as usize }>(ring, frame, hdr)
    } else {
        emit::<F, { SIZE_CLASSES[5] as usize }>(ring, frame, hdr)
    };
    match result {
        Ok(()) => Counter::Captured,
        Err(lost) => lost,
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

/// Reserves a record with `N` bytes of data in `ring`, fills it and submits it.
#[inline(always)]
fn emit<F: Frame, const N: usize>(
    ring: &Ring,
    frame: &F,
    hdr: RecordHeader,
) -> Result<(), Counter> {
    let Some(mut entry) = ring.reserve_untyped::<Record<N>>(0) else {
        return Err(Counter::LostRingFull);
    };
    let rec = entry.as_mut_ptr();
    let cap = hdr.cap_len;
    // SAFETY: `rec` points at the reservation (size_of::<Record<N>>() bytes) that this
    // program owns until submit/discard; writing the header initialises its first part.
    unsafe { core::ptr::addr_of_mut!((*rec).hdr).write(hdr) };
    // SAFETY: as above; `data` is the reservation's tail of exactly N bytes.
    let dst = unsafe { core::ptr::addr_of_mut!((*rec).data) }.cast::<u8>();
    // The verifier must see `1 <= len <= N` on the very register passed to the helper.
    if !check_bounds_signed(cap as i64, 1, N as i64) {
        entry.discard(0);
        return Err(Counter::LostCopy);
    }
    let len = clamp_for_verifier(u64::from(cap), N as u64);
    if OMIT.load() & omit::COPY == 0 && frame.load(dst, len as u32) != 0 {
        entry.discard(0);
        return Err(Counter::LostCopy);
    }
    let threshold = WAKEUP_BYTES.load();
    if OMIT.load() & omit::QUERY != 0 {
        entry.submit(BPF_RB_NO_WAKEUP as u64);
        return Ok(());
    }
    if threshold == 0 {
        // Unbatched (for comparison): the kernel's default, a wake-up whenever the
        // reader has caught up.
        entry.submit(0);
        return Ok(());
    }
    let map = core::ptr::from_ref(ring).cast_mut().cast::<c_void>();
    // SAFETY: `map` is the ring buffer map the reservation came from; query only reads
    // its positions.
    let unread = unsafe { bpf_ringbuf_query(map, BPF_RB_AVAIL_DATA as u64) };
    let size = core::mem::size_of::<Record<N>>() as u64;
    // Wake the reader only when this record makes the unread data cross the threshold.
    let flags = if unread < threshold && unread + size >= threshold {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(flags as u64);
    Ok(())
}
