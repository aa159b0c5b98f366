//! The ABI shared by netcap's kernel programs and its user-space reader.
//!
//! Everything here is `#[repr(C)]`, has explicit padding and a compile-time size
//! assertion: the eBPF object and the user-space binary are built by different
//! compilers for different targets, and the only contract between them is this layout.
//!
//! A capture record in the ring buffer is a [`RecordHeader`] followed by
//! `SIZE_CLASSES[i]` bytes of frame data, of which the first `cap_len` are valid.
#![no_std]

/// The largest snap length, and the default: tcpdump's (`MAXIMUM_SNAPLEN`, 262,144).
/// GSO/GRO super-frames (64 KiB, or more with BIG TCP) are captured whole below it.
pub const MAX_SNAPLEN: u32 = 262_144;

/// Data capacities of the record sizes the kernel program reserves in the ring.
///
/// The verifier needs a reservation size known at compile time, so a record takes the
/// smallest class that holds `min(frame_len, snaplen)`. 128 holds any header-only or
/// minimum-size frame, 512 typical small datagrams, 1536 a standard MTU frame, 9216 a
/// jumbo frame, 65,536 a GSO/GRO super-frame and `MAX_SNAPLEN` a BIG TCP one: a
/// 64-byte frame costs 152 bytes of ring, not 256 KiB.
pub const SIZE_CLASSES: [u32; 6] = [128, 512, 1536, 9216, 65_536, MAX_SNAPLEN];

/// Frame arrived on the interface (XDP, or AF_PACKET `PACKET_HOST`/...).
pub const DIR_IN: u8 = 0;
/// Frame was sent by the host (TC egress, or AF_PACKET `PACKET_OUTGOING`).
pub const DIR_OUT: u8 = 1;

/// Metadata in front of every captured frame in the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds at the hook.
    pub ts_ns: u64,
    /// Interface the frame was seen on.
    pub ifindex: u32,
    /// Length of the whole frame on the wire (all XDP fragments, or `skb->len`).
    pub frame_len: u32,
    /// Bytes of the frame that follow this header (`<= snaplen`, `<= frame_len`).
    pub cap_len: u32,
    /// [`DIR_IN`] or [`DIR_OUT`].
    pub direction: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<RecordHeader>() == 24);

/// A record with room for `N` bytes of frame data.
#[repr(C)]
pub struct Record<const N: usize> {
    pub hdr: RecordHeader,
    pub data: [u8; N],
}
const _: () = assert!(core::mem::size_of::<Record<128>>() == 24 + 128);

/// Indexes into the per-CPU counter array `COUNTERS`.
///
/// Every frame the hooks see ends in exactly one of `Filtered`, `Captured`,
/// `LostRingFull`, `LostCopy`, so `Seen == Filtered + Captured + LostRingFull + LostCopy`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Seen = 0,
    Filtered = 1,
    Captured = 2,
    LostRingFull = 3,
    LostCopy = 4,
    /// The classic BPF filter hit its instruction budget or an invalid instruction:
    /// the frame is captured (fail open), and this says how often.
    FilterError = 5,
}
/// Number of slots in the counter array (room to grow without an ABI break).
pub const NUM_COUNTERS: u32 = 8;

/// One classic BPF instruction, the layout of the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CbpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}
const _: () = assert!(core::mem::size_of::<CbpfInsn>() == 8);

/// Longest classic BPF program the kernel-side interpreter accepts (`BPF_MAXINSNS`
/// is 4096; libpcap's programs for realistic expressions are far shorter).
pub const MAX_CBPF_INSNS: u32 = 256;

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, `#[repr(C)]`, explicit padding, no pointers.
    unsafe impl aya::Pod for super::RecordHeader {}
    // SAFETY: plain-old-data, `#[repr(C)]`, no padding, no pointers.
    unsafe impl aya::Pod for super::CbpfInsn {}
}
