//! The memory floor of in-kernel flow counting, for the kernel bench: the least a
//! per-flow counter in kernel memory can cost per frame. An XDP program (loaded by raw
//! `bpf(2)`, like [`super::kbench::floor`]) that reads an IPv4 frame's 5-tuple at fixed
//! offsets, hashes it with two multiply-xorshift rounds, looks up the 128-byte slot the
//! hash picks in an array map as large as netcap's hot region
//! ([`super::xdp::KERNEL_FLOW_HOT_SLOTS`] slots, 16 MiB), reads its first word and adds 1
//! to a counter in the same cache line with one atomic add. No key compare, no probe,
//! no clock, no counters of its own, no second cache line: whatever netcap's flow
//! program costs above this is work, not memory. (It keys nothing exactly: frames that
//! are not IPv4 hash their bytes at the same offsets, which is all a floor needs.)
//!
//! Variants ([`Layout`]) put the same slots in other kernel memory, to tell the TLB
//! from the cache: one big array is vmalloc'ed in 4 KiB pages (mmapable or not), while
//! small arrays (at most 32 KiB with their header, not mmapable: `bpf_map_area_alloc`
//! kmallocs them) and the elements of a `BPF_F_NO_PREALLOC` hash (`bpf_mem_alloc`'s
//! kmalloc caches) come from the kernel's direct map, mapped with 2 MiB or 1 GiB pages.
//!
//! `tests/kernel_flows_cost.rs` measures it beside netcap's program, and
//! `tests/kernel_flows_floors.rs` the variants, by `BPF_PROG_TEST_RUN` and attached to
//! a veth (bpf_stats); docs/bench/kernel-flows.md has the figures.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::bpf_sys::{
    array_map_create_flags, array_of_maps_create, hash_map_create, map_update, prog_load,
    xdp_link_generic, ProgKind, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC,
};
use crate::filter::ebpf::insn::{
    alu32_imm, alu64_imm, alu64_reg, call, exit, ld_map_fd, ldx, mov64_imm, mov64_reg, stx, Insn,
    ADD, AND, B, DW, FP, HELPER_MAP_LOOKUP_ELEM, IMM, JEQ, JGT, JMP, K, LD, LSH, MUL, OR, R0, R1,
    R2, R3, R4, R5, R7, R8, R9, RSH, STX, W, X, XOR,
};

/// Bytes of one slot, as netcap's `FlowSlotAbi`.
pub const SLOT_BYTES: u32 = 128;
/// Bytes of values in one small array of [`Memory::ArrayOfArrays`]: with the map's
/// header (a few hundred bytes) under `PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER` (32 KiB),
/// the most `bpf_map_area_alloc` kmallocs, and a power of two so that the slot index
/// splits into two masks.
pub const INNER_BYTES: u32 = 16 * 1024;
/// Offset of the counter the program adds to, inside the first 64 bytes of a slot.
const COUNTER_OFF: i16 = 40;
/// `BPF_ATOMIC` mode (with `imm` 0: `BPF_ADD`, `lock *(u64 *)(dst + off) += src`).
const ATOMIC: u8 = 0xc0;
/// The multiplier of netcap's own hash rounds.
const MUL_K: u64 = 0x9e37_79b9_7f4a_7c15;

/// `dst = imm` for a 64-bit constant (`BPF_LD_IMM64`, two slots).
fn ld_imm64(dst: u8, imm: u64) -> [Insn; 2] {
    [
        Insn::new(LD | DW | IMM, dst, 0, 0, imm as u32 as i32),
        Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
    ]
}

/// Where the floor's slots live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// One array map: vmalloc'ed in 4 KiB pages, `mmapable` (`BPF_F_MMAPABLE`, as
    /// netcap's `FLOWS`) or not.
    Vmalloc { mmapable: bool },
    /// An `ARRAY_OF_MAPS` of arrays of [`INNER_BYTES`] each, kmalloc'ed (direct map);
    /// the program looks up the outer array, then the inner one (both inlined by the
    /// verifier).
    ArrayOfArrays,
    /// A `BPF_F_NO_PREALLOC` hash with every slot index prefilled as a key: elements
    /// from kmalloc caches (direct map), the bucket array vmalloc'ed (16 bytes per
    /// bucket).
    Hash,
}

/// A floor's table: where, how large a slot, how many slots (a power of two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub memory: Memory,
    pub slot_bytes: u32,
    pub slots: u32,
}

impl Layout {
    /// The memory floor of the kernel bench: 128-byte slots in one plain array.
    pub fn vmalloc(slots: u32) -> Self {
        Self {
            memory: Memory::Vmalloc { mmapable: false },
            slot_bytes: SLOT_BYTES,
            slots,
        }
    }

    /// Slots per inner array ([`Memory::ArrayOfArrays`]).
    fn inner_slots(&self) -> u32 {
        INNER_BYTES / self.slot_bytes
    }

    /// What it is, for tables.
    pub fn describe(&self) -> String {
        let mib = f64::from(self.slots) * f64::from(self.slot_bytes) / f64::from(1 << 20);
        let what = match self.memory {
            Memory::Vmalloc { mmapable: true } => "one mmapable array (vmalloc)".to_owned(),
            Memory::Vmalloc { mmapable: false } => "one array (vmalloc)".to_owned(),
            Memory::ArrayOfArrays => format!(
                "{} arrays of {} KiB in an array of maps (kmalloc)",
                self.slots / self.inner_slots(),
                INNER_BYTES / 1024
            ),
            Memory::Hash => "a BPF_F_NO_PREALLOC hash (kmalloc elements)".to_owned(),
        };
        format!("{}-byte slots, {mib} MiB, {what}", self.slot_bytes)
    }
}

/// The hash of the frame's 5-tuple, into R9 (R1-R5, R7, R8 clobbered); jumps to the
/// end (patched by [`patch_passes`]) when the frame is shorter than the tuple.
fn hash_tuple() -> Vec<Insn> {
    let mut p = vec![
        ldx(W, R2, R1, 0), // data
        ldx(W, R3, R1, 4), // data_end
        mov64_reg(R4, R2),
        alu64_imm(ADD, R4, 38), // Ethernet, IPv4 without options, the two ports
        Insn::new(JMP | JGT | X, R4, R3, 0, 0), // -> pass
        ldx(W, R5, R2, 26),     // source address
        ldx(W, R4, R2, 30),     // destination address
        alu64_imm(LSH, R5, 32),
        alu64_reg(OR, R5, R4),
        ldx(W, R4, R2, 34), // the ports
        ldx(B, R7, R2, 23), // the protocol
        alu64_imm(LSH, R4, 8),
        alu64_reg(OR, R4, R7),
    ];
    p.extend(ld_imm64(R8, MUL_K));
    p.extend(ld_imm64(R9, 0x5eed));
    for word in [R5, R4] {
        p.extend([
            alu64_reg(XOR, R9, word),
            alu64_reg(MUL, R9, R8),
            mov64_reg(R1, R9),
            alu64_imm(RSH, R1, 32),
            alu64_reg(XOR, R9, R1),
        ]);
    }
    p
}

/// The map a lookup goes to.
enum MapRef {
    /// The map of this descriptor (`BPF_PSEUDO_MAP_FD`).
    Fd(i32),
    /// The inner map a previous lookup returned, in this register.
    Reg(u8),
}

/// `R0 = lookup(map, *(u32 *)(fp + off))` with the key taken from register `key`
/// (masked already), then to the end if it is null.
fn lookup(map: MapRef, key: u8, off: i16) -> Vec<Insn> {
    let mut p = vec![stx(W, FP, key, off)];
    match map {
        MapRef::Reg(reg) => p.push(mov64_reg(R1, reg)),
        MapRef::Fd(fd) => p.extend(ld_map_fd(R1, fd)),
    }
    p.extend([
        mov64_reg(R2, FP),
        alu64_imm(ADD, R2, i32::from(off)),
        call(HELPER_MAP_LOOKUP_ELEM),
        Insn::new(JMP | JEQ | K, R0, 0, 0, 0), // -> pass
    ]);
    p
}

/// Points every forward jump placeholder (the bounds check, the null checks) at the
/// final `return XDP_PASS`, which it appends.
fn patch_passes(mut p: Vec<Insn>) -> Vec<Insn> {
    let pass = p.len();
    p.extend([mov64_imm(R0, 2), exit()]);
    for (i, insn) in p.iter_mut().enumerate().take(pass) {
        if insn.code == JMP | JGT | X || insn.code == JMP | JEQ | K {
            insn.off = (pass - i - 1) as i16;
        }
    }
    p
}

/// The program's instructions over `map` laid out as `layout`.
fn program(map: i32, layout: &Layout) -> Vec<Insn> {
    let mut p = hash_tuple();
    match layout.memory {
        Memory::Vmalloc { .. } | Memory::Hash => {
            p.push(alu32_imm(AND, R9, layout.slots - 1));
            p.extend(lookup(MapRef::Fd(map), R9, -4));
        }
        Memory::ArrayOfArrays => {
            let inner = layout.inner_slots();
            let outer = layout.slots / inner;
            p.extend([
                mov64_reg(R1, R9),
                alu64_imm(RSH, R1, inner.trailing_zeros() as i32),
                alu32_imm(AND, R1, outer - 1),
            ]);
            p.extend(lookup(MapRef::Fd(map), R1, -4));
            p.push(alu32_imm(AND, R9, inner - 1));
            p.extend(lookup(MapRef::Reg(R0), R9, -8));
        }
    }
    p.extend([
        ldx(DW, R1, R0, 0), // the slot's first word
        mov64_imm(R2, 1),
        Insn::new(STX | ATOMIC | DW, R0, R2, COUNTER_OFF, 0), // its counter, same line
    ]);
    patch_passes(p)
}

/// The table of `layout`, filled (inner arrays in place, hash keys inserted).
fn table(layout: &Layout) -> Result<OwnedFd, String> {
    let err = |what: &str, e: std::io::Error| format!("{what} of {}: {e}", layout.describe());
    match layout.memory {
        Memory::Vmalloc { mmapable } => {
            let flags = if mmapable { BPF_F_MMAPABLE } else { 0 };
            array_map_create_flags(layout.slot_bytes, layout.slots, flags)
                .map_err(|e| err("creating the table", e))
        }
        Memory::ArrayOfArrays => {
            let inner = layout.inner_slots();
            let new_inner = || {
                array_map_create_flags(layout.slot_bytes, inner, 0)
                    .map_err(|e| err("creating an inner array", e))
            };
            let outer = array_of_maps_create(new_inner()?.as_fd(), layout.slots / inner)
                .map_err(|e| err("creating the array of maps", e))?;
            for i in 0..layout.slots / inner {
                // The outer map holds its own reference: the descriptor may close.
                let map = new_inner()?;
                map_update(outer.as_fd(), i, &map.as_raw_fd().to_ne_bytes())
                    .map_err(|e| err("filling the array of maps", e))?;
            }
            Ok(outer)
        }
        Memory::Hash => {
            let map = hash_map_create(layout.slot_bytes, layout.slots, BPF_F_NO_PREALLOC)
                .map_err(|e| err("creating the hash", e))?;
            let zero = vec![0u8; layout.slot_bytes as usize];
            for key in 0..layout.slots {
                map_update(map.as_fd(), key, &zero).map_err(|e| err("filling the hash", e))?;
            }
            Ok(map)
        }
    }
}

/// The memory floor, loaded: its table and its program.
pub struct FlowFloor {
    /// Closed after the program (field order), which holds a reference anyway.
    prog: OwnedFd,
    _map: OwnedFd,
}

impl FlowFloor {
    /// A table of `slots` 128-byte slots (a power of two) in one plain array and the
    /// program over it: the kernel bench's memory floor.
    pub fn new(slots: u32) -> Result<Self, String> {
        Self::with(Layout::vmalloc(slots))
    }

    /// The floor over a table laid out as `layout`.
    pub fn with(layout: Layout) -> Result<Self, String> {
        let Layout {
            memory,
            slot_bytes,
            slots,
        } = layout;
        if !slots.is_power_of_two() || !slot_bytes.is_power_of_two() {
            return Err(format!(
                "{slots} slots of {slot_bytes} bytes: not powers of two"
            ));
        }
        if !(64..=INNER_BYTES).contains(&slot_bytes) {
            return Err(format!("{slot_bytes}-byte slots: 64 to {INNER_BYTES}"));
        }
        if memory == Memory::ArrayOfArrays && slots < layout.inner_slots() {
            return Err(format!("{slots} slots: fewer than one inner array"));
        }
        let map = table(&layout)?;
        let prog = prog_load(
            ProgKind::Xdp,
            &program(map.as_raw_fd(), &layout),
            "netcap_memfloor",
        )
        .map_err(|e| e.to_string())?;
        Ok(Self { prog, _map: map })
    }

    /// The program's descriptor (for `BPF_PROG_TEST_RUN` and its bpf_stats).
    pub fn prog(&self) -> BorrowedFd<'_> {
        self.prog.as_fd()
    }

    /// Attaches the program to `ifindex` in generic XDP mode; detached when the
    /// returned link closes.
    pub fn attach_generic(&self, ifindex: u32) -> Result<OwnedFd, String> {
        xdp_link_generic(self.prog.as_fd(), ifindex)
            .map_err(|e| format!("attaching the memory floor to ifindex {ifindex}: {e}"))
    }
}
