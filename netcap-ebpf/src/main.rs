//! netcap's kernel programs: an XDP program for received frames and a TC (tcx) egress
//! program for sent ones. Both copy up to `SNAPLEN` bytes of each frame, with a
//! [`RecordHeader`], into the ring buffer of the CPU they run on (`RINGS`).
//!
//! Contract:
//! - **Fail open.** Both programs always let the frame go on (`XDP_PASS`, `TCX_NEXT`);
//!   nothing here can drop or alter traffic.
//! - **Every frame accounted for.** Each frame seen bumps `Seen` and exactly one of
//!   `Filtered`, `Captured`, `LostRingFull`, `LostCopy`, `Aggregated` (in-kernel flow
//!   mode, [`flows`]) in the per-CPU `COUNTERS`.
//! - **A ring per CPU.** `RINGS` is an array of ring buffers indexed by CPU number
//!   (masked to `MAX_RINGS` slots), filled in by the loader; CPUs never share a ring's
//!   producer lock or position cache line, and each ring feeds its own reader.
//! - **Batched wake-ups.** Records are submitted with `BPF_RB_NO_WAKEUP`; the reader is
//!   woken only when the ring's unread data crosses `WAKEUP_BYTES` (user space also
//!   drains on a short timer), so a busy capture costs no wake-up per frame.
#![no_std]
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]
#![no_main]

mod filter;
mod flows;

use aya_ebpf::{
    bindings::{xdp_action, BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    btf_maps::{ArrayOfMaps, RingBuf},
    check_bounds_signed,
    cty::c_void,
    helpers::{
        bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_ringbuf_query, bpf_skb_load_bytes,
        bpf_xdp_get_buff_len, bpf_xdp_load_bytes,
    },
    macros::{btf_map, classifier, map, xdp},
    maps::{PerCpuArray, ProgramArray},
    programs::{TcContext, XdpContext},
    Global,
};
use netcap_common::{
    Counter, Record, RecordHeader, DIR_IN, DIR_OUT, MAX_RINGS, MAX_SNAPLEN, NUM_COUNTERS,
    SIZE_CLASSES,
};

/// Bytes of each frame to copy; set by the loader (`-s`). Never above `MAX_SNAPLEN`.
#[no_mangle]
static SNAPLEN: Global<u32> = Global::new(MAX_SNAPLEN);
/// Unread bytes in the ring at which a submit wakes the reader; set by the loader.
/// 0 turns batching off (the kernel's own wake-up policy).
#[no_mangle]
static WAKEUP_BYTES: Global<u64> = Global::new(1 << 20);

/// 1: in-kernel flow mode ([`flows`]): frames are counted into the `FLOWS` map, and
/// only those it cannot take are copied. Set by the loader.
#[no_mangle]
static FLOW_MODE: Global<u32> = Global::new(0);

/// A ring buffer (inner map type of `RINGS`); the loader creates the real ones, sized
/// by `-B`, and the template's size does not bind them (the kernel compares only type,
/// key, value and flags of a ring buffer inner map).
type Ring = RingBuf<u8, 4096>;

/// Slot `cpu % MAX_RINGS` holds the ring that CPU writes to; every slot is filled by
/// the loader before a hook is attached (an empty slot would lose the frame, counted).
#[btf_map]
static RINGS: ArrayOfMaps<Ring, { MAX_RINGS as usize }> = ArrayOfMaps::new();

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(NUM_COUNTERS, 0);

/// 1: user space installed a native filter (the classic program translated to eBPF,
/// `netcap/src/filter/ebpf`) in slot [`SLOT_FILTER`] of the hooks' program arrays. Set
/// by the loader.
#[no_mangle]
static NATIVE_FILTER: Global<u32> = Global::new(0);

/// Slot of the native filter in [`XDP_PROGS`] / [`TC_PROGS`]: the hook tail-calls it.
/// Slot 1 holds the capture half (`netcap_xdp_capture`, `netcap_tc_capture`), which the
/// native filter tail-calls when it accepts the frame; user space fills both slots.
const SLOT_FILTER: u32 = 0;

/// Tail-call targets of the XDP hook. A program array takes programs of its first
/// user's type (and XDP `frags` flag) only, so each hook has its own.
#[map]
static XDP_PROGS: ProgramArray = ProgramArray::with_max_entries(2, 0);
/// Tail-call targets of the TC hook.
#[map]
static TC_PROGS: ProgramArray = ProgramArray::with_max_entries(2, 0);

/// tcx return code: let the next program (or the default action) decide.
const TCX_NEXT: i32 = -1;

#[inline(always)]
fn bump(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: the pointer comes from a successful per-CPU map lookup, so it points
        // at this CPU's own u64 slot; no other program instance writes it concurrently.
        unsafe { *slot += 1 };
    }
}

/// What the copy logic and the filter need from a hook's context.
trait Frame {
    /// The kernel's context pointer (`xdp_md`, `__sk_buff`), for `load_at`.
    fn raw(&self) -> *mut c_void;
    /// Copies `len` bytes from `offset` of the frame whose context is `raw` to `dst`;
    /// 0 on success, negative when the range is not inside the frame. `dst` must have
    /// room for `len` bytes, and `len` must be bounded where the verifier can see it.
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64;
    /// `(data, data_end)`: the frame's linear bytes for direct packet access.
    fn linear(&self) -> (usize, usize);
    /// Copies `len` bytes from offset 0 of the frame to `dst`; 0 on success.
    #[inline(always)]
    fn load(&self, dst: *mut u8, len: u32) -> i64 {
        Self::load_at(self.raw(), 0, dst, len)
    }
}

struct Xdp<'a>(&'a XdpContext);
impl Frame for Xdp<'_> {
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.0.ctx.cast()
    }
    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.0.data(), self.0.data_end())
    }
    #[inline(always)]
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64 {
        // SAFETY: `raw` is the xdp_md the kernel passed in; `dst` has room for `len`
        // bytes (a ring-buffer reservation bounded right before, or a 4-byte buffer).
        unsafe { bpf_xdp_load_bytes(raw.cast(), offset, dst.cast(), len) }
    }
}

struct Skb<'a>(&'a TcContext);
impl Frame for Skb<'_> {
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.0.skb.skb.cast()
    }
    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.0.data(), self.0.data_end())
    }
    #[inline(always)]
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64 {
        // SAFETY: as for `Xdp::load_at`; `raw` is the __sk_buff the kernel passed in.
        unsafe { bpf_skb_load_bytes(raw as *const _, offset, dst.cast(), len) }
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
    if frame.load(dst, len as u32) != 0 {
        entry.discard(0);
        return Err(Counter::LostCopy);
    }
    let threshold = WAKEUP_BYTES.load();
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

/// The hook half of both hooks: counts the frame, runs the interpreted filter and,
/// when it accepts, the capture half. Returns the counter the frame ends in.
#[inline(always)]
fn hook<F: Frame>(frame: &F, frame_len: u32, ifindex: u32, direction: u8) -> Counter {
    if !filter::accepts(frame, frame_len) {
        return Counter::Filtered;
    }
    capture(frame, frame_len, ifindex, direction)
}

/// The capture half: what happens to a frame the filter accepted (flow counting, the
/// copy into the ring). Returns the counter the frame ends in.
#[inline(always)]
fn capture<F: Frame>(frame: &F, frame_len: u32, ifindex: u32, direction: u8) -> Counter {
    if FLOW_MODE.load() != 0 {
        match flows::count(flows::Bytes::new(frame), frame_len, ifindex, direction) {
            flows::Outcome::Counted => return Counter::Aggregated,
            flows::Outcome::Full => bump(Counter::FlowOverflow),
            flows::Outcome::NotMine => {}
        }
    }
    // SAFETY: a helper with no arguments and no side effects.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let Some(ring) = RINGS.get(cpu % MAX_RINGS) else {
        return Counter::LostRingFull;
    };
    let snaplen = SNAPLEN.load();
    let cap = if frame_len < snaplen {
        frame_len
    } else {
        snaplen
    };
    let hdr = RecordHeader {
        // SAFETY: a helper with no arguments and no side effects.
        ts_ns: unsafe { bpf_ktime_get_ns() },
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

/// Declared with `frags` (multi-buffer XDP, Linux 5.18): the kernel then hands over
/// frames larger than a page without linearizing them, and a veth with this program
/// keeps its peer's TSO/GSO on (a program without `frags` turns them off, which changes
/// how the host's TCP traffic is segmented). `bpf_xdp_load_bytes` reads across frags.
///
/// With a native filter installed, the frame leaves this program by a tail call into
/// it (and from there into `netcap_xdp_capture` or back to the stack, counted as
/// `Filtered`); if the tail call fails, the interpreter below takes the frame, so every
/// frame counted as seen ends in exactly one counter.
#[xdp(frags)]
pub fn netcap_xdp(ctx: XdpContext) -> u32 {
    bump(Counter::Seen);
    if NATIVE_FILTER.load() != 0 {
        // SAFETY: `ctx` is this program's own context; on success the call does not
        // return, on failure it returns with nothing changed.
        unsafe { XDP_PROGS.tail_call(&ctx, SLOT_FILTER) };
    }
    let (frame_len, ifindex) = xdp_frame(&ctx);
    let end = hook(&Xdp(&ctx), frame_len, ifindex, DIR_IN);
    bump(end);
    xdp_action::XDP_PASS
}

/// The capture half for XDP, entered by a tail call from the native filter when it
/// accepts the frame (`Seen` is already counted).
#[xdp(frags)]
pub fn netcap_xdp_capture(ctx: XdpContext) -> u32 {
    let (frame_len, ifindex) = xdp_frame(&ctx);
    let end = capture(&Xdp(&ctx), frame_len, ifindex, DIR_IN);
    bump(end);
    xdp_action::XDP_PASS
}

/// Wire length (all fragments) and interface of an XDP frame.
#[inline(always)]
fn xdp_frame(ctx: &XdpContext) -> (u32, u32) {
    // SAFETY: `ctx.ctx` is the xdp_md the kernel passed to this program.
    let frame_len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) } as u32;
    // SAFETY: reading a field of the kernel-provided context.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    (frame_len, ifindex)
}

/// The TC egress hook; a native filter is entered as from [`netcap_xdp`].
#[classifier]
pub fn netcap_tc(ctx: TcContext) -> i32 {
    bump(Counter::Seen);
    if NATIVE_FILTER.load() != 0 {
        // SAFETY: as in `netcap_xdp`.
        unsafe { TC_PROGS.tail_call(&ctx, SLOT_FILTER) };
    }
    let frame_len = ctx.len();
    // SAFETY: reading a field of the kernel-provided context.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let end = hook(&Skb(&ctx), frame_len, ifindex, DIR_OUT);
    bump(end);
    TCX_NEXT
}

/// The capture half for TC, entered by a tail call from the native filter.
#[classifier]
pub fn netcap_tc_capture(ctx: TcContext) -> i32 {
    let frame_len = ctx.len();
    // SAFETY: reading a field of the kernel-provided context.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let end = capture(&Skb(&ctx), frame_len, ifindex, DIR_OUT);
    bump(end);
    TCX_NEXT
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 4] = *b"GPL\0";
