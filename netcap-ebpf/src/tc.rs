//! The TC (tcx) hooks: `netcap_tc` on egress (sent frames, with either backend) and
//! `netcap_tc_in` on ingress (received frames, `--backend tc`), each with its capture
//! half for the native filter's tail call and its own program array (a program array
//! holds one capture half, and the halves differ by direction).
//!
//! - **The skb as it is.** Both read the skb in place (`bpf_skb_load_bytes` reads
//!   across its fragments, so a GRO/GSO super-frame is copied whole up to the snap
//!   length, `skb->len`); nothing here pulls, linearizes or writes it, and both return
//!   `TCX_NEXT`, so the next program (or the device) decides as without netcap.
//! - **Context.** tcx ingress runs in `__netif_receive_skb_core`, where generic XDP runs
//!   too, and egress in `__dev_queue_xmit`, both with bottom halves off: the per-CPU
//!   ring's one-producer argument ([`crate::ring`]) holds for them as for XDP.
//! - **VLAN tags.** Before tc ingress the kernel has moved an outer 802.1Q/802.1ad tag
//!   out of the frame into the skb (`skb_vlan_untag`), and on egress a device that
//!   inserts tags itself gets the tag that way too (`vlan_tci`). AF_PACKET has the same
//!   frames and libpcap puts the tag back; so does [`Tagged`]: the record, the filter
//!   and the frame length see the frame as it is on the wire. The native filter reads
//!   the skb's bytes directly, so a tagged frame goes to the interpreter instead.
use aya_ebpf::{
    cty::c_void,
    helpers::bpf_skb_load_bytes,
    macros::{classifier, map},
    maps::ProgramArray,
    programs::TcContext,
};
use netcap_common::{DIR_IN, DIR_OUT};

use crate::{bump, capture, frame::Skb, hook, Frame, NATIVE_FILTER, SLOT_FILTER};

/// Tail-call targets of the TC egress hook.
#[map]
static TC_PROGS: ProgramArray = ProgramArray::with_max_entries(2, 0);
/// Tail-call targets of the TC ingress hook.
#[map]
static TC_IN_PROGS: ProgramArray = ProgramArray::with_max_entries(2, 0);

/// tcx return code: let the next program (or the default action) decide.
const TCX_NEXT: i32 = -1;

/// Bytes of the MAC addresses, after which a tag goes.
const MACS: u32 = 12;
/// Bytes of a VLAN tag (TPID and TCI).
const TAG: u32 = 4;

/// The TC egress hook; a native filter is entered as from [`crate::netcap_xdp`].
#[classifier]
pub fn netcap_tc(ctx: TcContext) -> i32 {
    tc_hook(&ctx, &TC_PROGS, DIR_OUT)
}

/// The capture half for TC egress, entered by a tail call from the native filter.
#[classifier]
pub fn netcap_tc_capture(ctx: TcContext) -> i32 {
    tc_capture(&ctx, DIR_OUT)
}

/// The TC ingress hook (`--backend tc`).
#[classifier]
pub fn netcap_tc_in(ctx: TcContext) -> i32 {
    tc_hook(&ctx, &TC_IN_PROGS, DIR_IN)
}

/// The capture half for TC ingress, entered by a tail call from the native filter.
#[classifier]
pub fn netcap_tc_in_capture(ctx: TcContext) -> i32 {
    tc_capture(&ctx, DIR_IN)
}

#[inline(always)]
fn tc_hook(ctx: &TcContext, progs: &ProgramArray, direction: u8) -> i32 {
    let (frame_len, ifindex, tag) = skb_frame(ctx);
    let end = match tag {
        None => {
            if NATIVE_FILTER.load() != 0 {
                // SAFETY: `ctx` is this program's own context; on success the call does
                // not return, on failure it returns with nothing changed.
                unsafe { progs.tail_call(ctx, SLOT_FILTER) };
            }
            hook(&Skb(ctx), frame_len, ifindex, direction)
        }
        Some(tag) => hook(&Tagged(ctx, tag), frame_len, ifindex, direction),
    };
    bump(end);
    TCX_NEXT
}

#[inline(always)]
fn tc_capture(ctx: &TcContext, direction: u8) -> i32 {
    let (frame_len, ifindex, tag) = skb_frame(ctx);
    let end = match tag {
        None => capture(&Skb(ctx), frame_len, ifindex, direction),
        Some(tag) => capture(&Tagged(ctx, tag), frame_len, ifindex, direction),
    };
    bump(end);
    TCX_NEXT
}

/// Wire length, interface and the tag the kernel took out of the frame (TPID and TCI
/// as the 4 bytes go on the wire, in a big-endian u32), if any.
#[inline(always)]
fn skb_frame(ctx: &TcContext) -> (u32, u32, Option<u32>) {
    let skb = ctx.skb.skb;
    // SAFETY: reading fields of the kernel-provided context.
    let (ifindex, present, proto, tci) = unsafe {
        (
            (*skb).ifindex,
            (*skb).vlan_present,
            (*skb).vlan_proto,
            (*skb).vlan_tci,
        )
    };
    let len = ctx.len();
    if present == 0 {
        return (len, ifindex, None);
    }
    // `vlan_proto` is the skb's __be16 as loaded (network order in memory), `vlan_tci`
    // a host-order u16.
    let tpid = u16::from_be(proto as u16);
    (
        len + TAG,
        ifindex,
        Some((u32::from(tpid) << 16) | (tci & 0xffff)),
    )
}

/// An skb whose outer tag the kernel holds apart: reads see the frame with the tag back
/// at offset 12, as on the wire.
struct Tagged<'a>(&'a TcContext, u32);

/// Copies `len` bytes at `offset` of the skb's own bytes.
#[inline(always)]
fn skb_load(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64 {
    // SAFETY: `raw` is the __sk_buff the kernel passed in; the callers bound `len` to
    // the room at `dst`.
    unsafe { bpf_skb_load_bytes(raw as *const _, offset, dst.cast(), len) }
}

/// `len - 16` for a `len` above 16 (1 otherwise), in a form the verifier tracks: LLVM
/// would reload `len` from the stack after the comparison and subtract there, on a
/// register whose lower bound the verifier never saw checked. Inline asm is opaque to
/// LLVM, so the register it returns is the one checked here: `[1, len's bound - 16]`.
#[inline(always)]
fn after_tag(mut len: u64) -> u64 {
    #[cfg(target_arch = "bpf")]
    // SAFETY: pure register arithmetic; no memory is touched.
    unsafe {
        core::arch::asm!(
            "if {v} s> 16 goto +1",
            "{v} = 17",
            "{v} -= 16",
            v = inout(reg) len,
        );
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        len = len.max(17) - 16;
    }
    len
}

/// The tag of the frame whose context is `raw`, as in [`skb_frame`].
#[inline(always)]
fn tag_of(raw: *mut c_void) -> u32 {
    let skb = raw.cast::<aya_ebpf::bindings::__sk_buff>();
    // SAFETY: `raw` is the __sk_buff the kernel passed in.
    let (proto, tci) = unsafe { ((*skb).vlan_proto, (*skb).vlan_tci) };
    (u32::from(u16::from_be(proto as u16)) << 16) | (tci & 0xffff)
}

impl Frame for Tagged<'_> {
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.0.skb.skb.cast()
    }
    /// The skb's own bytes (no tag): only the in-kernel flow key reads these, with the
    /// held tag from [`Frame::outer_tag`].
    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.0.data(), self.0.data_end())
    }
    #[inline(always)]
    fn outer_tag(&self) -> u32 {
        crate::flows::HELD | (self.1 & 0x0fff)
    }
    /// The filter's loads (1, 2 or 4 bytes) of the tagged frame.
    #[inline(always)]
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64 {
        if offset >= MACS + TAG {
            return skb_load(raw, offset - TAG, dst, len);
        }
        if offset + len <= MACS {
            return skb_load(raw, offset, dst, len);
        }
        if len > 4 {
            return -1;
        }
        // Straddles the tag: byte by byte.
        let tag = tag_of(raw);
        for i in 0..4u32 {
            if i >= len {
                break;
            }
            let at = offset + i;
            // SAFETY: `dst` has room for `len` bytes and `i < len`.
            let d = unsafe { dst.add(i as usize) };
            if at < MACS {
                if skb_load(raw, at, d, 1) != 0 {
                    return -1;
                }
            } else if at < MACS + TAG {
                let byte = (tag >> (8 * (MACS + TAG - 1 - at))) as u8;
                // SAFETY: as above.
                unsafe { d.write(byte) };
            } else if skb_load(raw, at - TAG, d, 1) != 0 {
                return -1;
            }
        }
        0
    }
    /// The record's copy: the MAC addresses, the tag, the rest of the frame.
    #[inline(always)]
    fn load(&self, dst: *mut u8, len: u32) -> i64 {
        let raw = self.raw();
        if len <= MACS {
            return skb_load(raw, 0, dst, len);
        }
        if skb_load(raw, 0, dst, MACS) != 0 {
            return -1;
        }
        // The record has room for the whole tag even when `len` ends inside it: records
        // are padded to 8 bytes after a 24-byte header, so `len > 12` leaves 16 or more.
        let tag = self.1.to_be_bytes();
        // SAFETY: as above; `dst + 12..dst + 16` is inside the record.
        unsafe {
            dst.add(MACS as usize)
                .cast::<[u8; 4]>()
                .write_unaligned(tag)
        };
        if len <= MACS + TAG {
            return 0;
        }
        let rest = after_tag(u64::from(len)) as u32;
        // SAFETY: the record has room for `len` bytes from `dst` (the caller's bound).
        skb_load(raw, MACS, unsafe { dst.add((MACS + TAG) as usize) }, rest)
    }
}
