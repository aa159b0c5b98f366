//! The ABI shared by netcap's kernel programs and its user-space reader.
//!
//! Everything here is `#[repr(C)]`, has explicit padding and a compile-time size
//! assertion: the eBPF object and the user-space binary are built by different
//! compilers for different targets, and the only contract between them is this layout.
//!
//! A capture record in a CPU's ring is a [`RecordHeader`] followed by `cap_len` bytes
//! of frame data, padded to [`RECORD_ALIGN`]; [`ring`] gives the ring's layout.
#![no_std]

/// The largest snap length, and the default: tcpdump's (`MAXIMUM_SNAPLEN`, 262,144).
/// GSO/GRO super-frames (64 KiB, or more with BIG TCP) are captured whole below it.
pub const MAX_SNAPLEN: u32 = 262_144;

/// The most capture rings: CPU `c` writes to ring `c % MAX_RINGS % rings` (element of
/// the kernel's `RING` array, slot of its wake-up array `RINGS`). Machines with more
/// CPUs share rings (see [`ring`] for what that asks of the kernel); 64 readers are more
/// than decoding ever needs.
pub const MAX_RINGS: u32 = 64;

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

/// Records start at multiples of this in a ring (the header's `u64` is aligned).
pub const RECORD_ALIGN: u32 = 8;

/// Ring bytes a record of `cap_len` captured bytes takes (header, data, padding).
#[inline(always)]
pub const fn record_span(cap_len: u32) -> u32 {
    let len = core::mem::size_of::<RecordHeader>() as u32 + cap_len;
    (len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// The layout of one CPU's capture ring: one element of the kernel's `RING` array map
/// (`BPF_F_MMAPABLE`), which user space maps. See `netcap-ebpf/src/ring.rs` for the
/// protocol.
///
/// ```text
/// 0      producer position (u64), written only by the kernel program
/// 128    consumer position (u64), written only by user space
/// 4096   data: `size` bytes (a power of two), record at position p at p % size
/// 4096 + size   slack: a record that starts near the end runs on into it, so no record
///               wraps (its bytes are contiguous) and no pad records are needed
/// ```
/// Positions are byte counts that only grow; `producer - consumer` bytes are unread.
pub mod ring {
    /// Offset of the producer position (own cache line).
    pub const PRODUCER: usize = 0;
    /// Offset of the consumer position (own cache line, 128 bytes away: the adjacent
    /// line prefetcher pairs 64-byte lines).
    pub const CONSUMER: usize = 128;
    /// Offset of the data area: a page, so that user space maps the control page and
    /// the data apart, and each ring's data is page-aligned.
    pub const DATA: u32 = 4096;

    /// Bytes of one ring element for a data area of `size` bytes and records of at most
    /// `snaplen` captured bytes: the control page, the data and the slack, rounded up
    /// to a page (so consecutive elements start on page boundaries).
    pub const fn value_size(size: u32, snaplen: u32) -> u64 {
        let slack = super::record_span(snaplen) as u64;
        let raw = DATA as u64 + size as u64 + slack;
        raw.div_ceil(DATA as u64) * DATA as u64
    }
}

/// Indexes into the per-CPU counter array `COUNTERS`.
///
/// Every frame the hooks see ends in exactly one of [`Counter::ENDS`] (`Filtered`,
/// `Captured`, `LostRingFull`, `LostCopy`, `Aggregated`), so the frames seen are their
/// sum ([`seen`]); the hooks keep no counter of their own for it (one per-CPU bump per
/// frame less). Slot 0 held that counter until it was derived and is left unused, so
/// the slots keep their numbers.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Filtered = 1,
    Captured = 2,
    LostRingFull = 3,
    LostCopy = 4,
    /// The classic BPF filter hit its instruction budget or an invalid instruction:
    /// the frame is captured (fail open), and this says how often. Not an end: the
    /// frame also ends in one of [`Counter::ENDS`].
    FilterError = 5,
    /// In-kernel flow mode: a frame of a new flow the full `FLOWS` map could not take;
    /// it went to the ring (and is counted there too), for user space to count. Not an
    /// end.
    FlowOverflow = 6,
    /// In-kernel flow mode: the frame was counted into its flow in the `FLOWS` map and
    /// not copied.
    Aggregated = 7,
}

impl Counter {
    /// The counters a frame ends in: every path through the hooks (the native filter's
    /// exits and its failed tail call included) bumps exactly one of these.
    pub const ENDS: [Counter; 5] = [
        Counter::Filtered,
        Counter::Captured,
        Counter::LostRingFull,
        Counter::LostCopy,
        Counter::Aggregated,
    ];
}

/// Frames the hooks saw: the sum of the end counters, `read` giving each counter's
/// value (summed over CPUs, or of one CPU).
#[inline]
pub fn seen(mut read: impl FnMut(Counter) -> u64) -> u64 {
    Counter::ENDS
        .iter()
        .fold(0u64, |sum, &c| sum.wrapping_add(read(c)))
}

/// Number of slots in the counter array (room to grow without an ABI break).
pub const NUM_COUNTERS: u32 = 8;

/// One slot of the in-kernel flow table `FLOWS`: an array map (`BPF_F_MMAPABLE`) the
/// hooks use as an open-addressing hash table, and user space reads and frees through
/// its memory mapping (see `netcap-ebpf/src/flows.rs` for the protocol). 128 bytes, two
/// cache lines: what a frame of a known flow reads and writes is in them and nowhere
/// else (the key and `packets`/`last_ns` in the first, the other counters in the
/// second).
///
/// The key is `key0` (ports, VLAN, protocol, family: [`flow_key0`]) and `addr`: a
/// conversation with its two endpoints in a fixed order (the `lo` one compares lower as
/// (address words, port)), so both directions meet in one slot. `addr` holds `lo`'s
/// address then `hi`'s, each as two big-endian 64-bit numbers (IPv4: its 4 bytes in
/// the top half of the first word, the rest zero). Index 0 of each counter pair is the
/// direction `lo -> hi`, 1 is `hi -> lo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSlotAbi {
    /// [`FLOW_SLOT_EMPTY`], [`FLOW_SLOT_BUSY`] (being filled by the hook that claimed
    /// it) or the flow's [`flow_key0`].
    pub key0: u64,
    pub addr: [u64; 4],
    pub packets: [u64; 2],
    /// `bpf_ktime_get_coarse_ns()` of about the last frame (the kernel tick's
    /// resolution; the insert stores the precise `first_ns`).
    pub last_ns: u64,
    /// Frame bytes on the wire.
    pub bytes: [u64; 2],
    /// IP bytes (IPv4 total length, IPv6 40 + payload length).
    pub ip_bytes: [u64; 2],
    /// OR of the TCP flags byte: bits 0-7 for `lo -> hi`, 8-15 for `hi -> lo`. The
    /// hooks OR into the 8-byte word that starts here (bits 0-15 only).
    pub tcp_flags: u16,
    /// Direction index (0 or 1) of the first frame: who spoke first.
    pub first_dir: u8,
    /// IPv4 TOS or IPv6 traffic class of the first frame.
    pub tos: u8,
    /// [`DIR_IN`] or [`DIR_OUT`]: the hook of the first frame.
    pub hook: u8,
    pub _pad: [u8; 3],
    /// `bpf_ktime_get_ns()` of the flow's first frame.
    pub first_ns: u64,
    /// Ethernet address of `lo` and of `hi`, from the first frame.
    pub macs: [[u8; 6]; 2],
    /// Interface of the first frame.
    pub ifindex: u32,
}
const _: () = assert!(core::mem::size_of::<FlowSlotAbi>() == 128);
const _: () = assert!(core::mem::offset_of!(FlowSlotAbi, packets) == 40);
const _: () = assert!(core::mem::offset_of!(FlowSlotAbi, bytes) == 64);
// The 8-byte word the hooks OR TCP flags into: 8-byte aligned, inside the slot.
const _: () = assert!(core::mem::offset_of!(FlowSlotAbi, tcp_flags) == 96);

/// `key0` of a free slot.
pub const FLOW_SLOT_EMPTY: u64 = 0;
/// `key0` of a slot a hook has claimed and is filling in: no key matches it.
pub const FLOW_SLOT_BUSY: u64 = u64::MAX;
/// Slots a flow may take, from its hash's slot on: a new flow whose window is full
/// overflows (`FlowOverflow`). 16 slots are 2 KiB, read only when a flow is new.
pub const FLOW_WINDOW: u32 = 16;

/// The first key word of a flow: `lo_port` in bits 0-15, `hi_port` 16-31, the VLAN id
/// 32-43, the IP protocol 44-51 and the family (1: IPv4, 2: IPv6) 52-55. Never
/// [`FLOW_SLOT_EMPTY`] nor [`FLOW_SLOT_BUSY`].
#[inline(always)]
pub const fn flow_key0(lo_port: u16, hi_port: u16, vlan: u16, proto: u8, v6: bool) -> u64 {
    let family: u64 = if v6 { 2 } else { 1 };
    (lo_port as u64)
        | ((hi_port as u64) << 16)
        | (((vlan & 0x0fff) as u64) << 32)
        | ((proto as u64) << 44)
        | (family << 52)
}

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

/// Parts of the hooks the kernel bench leaves out, one at a time, to measure what each
/// costs (the `OMIT` global of the eBPF object, read-only: the verifier removes the
/// branches of a zero, which is what every capture loads). A frame handled with any of
/// them set is not captured as it should be: for `BPF_PROG_TEST_RUN` only.
pub mod omit {
    /// `bpf_ktime_get_ns`: the record's timestamp is 0.
    pub const TIMESTAMP: u32 = 1 << 0;
    /// `bpf_xdp_load_bytes` / `bpf_skb_load_bytes`: the record's data is left as it was.
    pub const COPY: u32 = 1 << 1;
    /// The wake-up decision: the record is published without one.
    pub const QUERY: u32 = 1 << 2;
    /// The per-CPU counter bump of the counter the frame ends in.
    pub const COUNTERS: u32 = 1 << 3;
    /// The record: no space check, header, copy, publish or wake-up (the frame counts as
    /// captured).
    pub const RECORD: u32 = 1 << 4;
    /// `bpf_get_smp_processor_id`: the ring of slot 0.
    pub const CPU: u32 = 1 << 5;
    /// `bpf_xdp_get_buff_len`: the frame length is the linear part's (XDP only).
    pub const LEN: u32 = 1 << 6;
}
