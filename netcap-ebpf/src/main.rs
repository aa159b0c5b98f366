//! netcap's kernel programs: an XDP program for received frames, and TC (tcx) programs
//! for received ([`tc`], `--backend tc`) and sent ones. Each copies up to `SNAPLEN` bytes of each frame, with a
//! [`netcap_common::RecordHeader`], into the capture ring of the CPU they run on (`RING`).
//!
//! Contract:
//! - **Fail open.** Every program always let the frame go on (`XDP_PASS`, `TCX_NEXT`);
//!   nothing here can drop or alter traffic.
//! - **Every frame accounted for.** Each frame seen bumps exactly one of `Filtered`,
//!   `Captured`, `LostRingFull`, `LostCopy`, `Aggregated` (in-kernel flow mode,
//!   [`flows`]) in the per-CPU `COUNTERS` (`netcap_common::Counter::ENDS`); user space
//!   derives the frames seen as their sum, so no path may end in none or in two.
//! - **A ring per CPU.** `RING` is an mmapable array with one lock-free ring per CPU,
//!   each written by that CPU's program only ([`ring`] says why that holds), so CPUs
//!   never share a position cache line, and each ring feeds its own reader.
//! - **Batched wake-ups.** The reader is woken (a token in a one-page BPF ring buffer,
//!   `RINGS`) only when a ring's unread data crosses `WAKEUP_BYTES` (user space also
//!   drains on a short timer), so a busy capture costs no wake-up per frame.
#![no_std]
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]
#![no_main]

mod atomic;
mod filter;
mod flows;
mod frame;
mod ring;
mod tc;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::bpf_xdp_get_buff_len,
    macros::{map, xdp},
    maps::{PerCpuArray, ProgramArray},
    programs::XdpContext,
    Global,
};
use frame::{Frame, Xdp};
use netcap_common::{omit, Counter, DIR_IN, NUM_COUNTERS};

/// 1: in-kernel flow mode ([`flows`]): frames are counted into the `FLOWS` map, and
/// only those it cannot take are copied. Set by the loader.
#[no_mangle]
static FLOW_MODE: Global<u32> = Global::new(0);

/// Parts left out for the kernel bench ([`netcap_common::omit`]); 0, and so nothing
/// left out, in every capture (the verifier then drops the branches). Set by the loader.
#[no_mangle]
static OMIT: Global<u32> = Global::new(0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(NUM_COUNTERS, 0);

/// 1: user space installed a native filter (the classic program translated to eBPF,
/// `netcap/src/filter/ebpf`) in slot [`SLOT_FILTER`] of the hooks' program arrays. Set
/// by the loader.
#[no_mangle]
static NATIVE_FILTER: Global<u32> = Global::new(0);

/// Slot of the native filter in [`XDP_PROGS`] and the TC hooks' arrays ([`tc`]): the
/// hook tail-calls it. Slot 1 holds the capture half (`netcap_xdp_capture`,
/// `netcap_tc_capture`, `netcap_tc_in_capture`), which the
/// native filter tail-calls when it accepts the frame; user space fills both slots.
const SLOT_FILTER: u32 = 0;

/// Tail-call targets of the XDP hook. A program array takes programs of its first
/// user's type (and XDP `frags` flag) only, so each hook has its own.
#[map]
static XDP_PROGS: ProgramArray = ProgramArray::with_max_entries(2, 0);

#[inline(always)]
fn bump(counter: Counter) {
    if OMIT.load() & omit::COUNTERS != 0 {
        return;
    }
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: the pointer comes from a successful per-CPU map lookup, so it points
        // at this CPU's own u64 slot; no other program instance writes it concurrently.
        unsafe { *slot += 1 };
    }
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
        let how = flows::how(direction, frame.outer_tag());
        match flows::count(flows::Bytes::new(frame), frame_len, ifindex, how) {
            flows::Outcome::Counted => return Counter::Aggregated,
            flows::Outcome::Full => bump(Counter::FlowOverflow),
            flows::Outcome::NotMine => {}
        }
    }
    ring::copy(frame, frame_len, ifindex, direction)
}

/// Declared with `frags` (multi-buffer XDP, Linux 5.18): the kernel then hands over
/// frames larger than a page without linearizing them, and a veth with this program
/// keeps its peer's TSO/GSO on (a program without `frags` turns them off, which changes
/// how the host's TCP traffic is segmented). `bpf_xdp_load_bytes` reads across frags.
///
/// With a native filter installed, the frame leaves this program by a tail call into
/// it (and from there into `netcap_xdp_capture` or back to the stack, counted as
/// `Filtered`); if the tail call fails, the interpreter below takes the frame, so every
/// frame ends in exactly one counter.
#[xdp(frags)]
pub fn netcap_xdp(ctx: XdpContext) -> u32 {
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
/// accepts the frame.
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
    let frame_len = if OMIT.load() & omit::LEN != 0 {
        (ctx.data_end() - ctx.data()) as u32
    } else {
        // SAFETY: `ctx.ctx` is the xdp_md the kernel passed to this program.
        unsafe { bpf_xdp_get_buff_len(ctx.ctx) as u32 }
    };
    // SAFETY: reading a field of the kernel-provided context.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    (frame_len, ifindex)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 4] = *b"GPL\0";
