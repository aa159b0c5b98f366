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
//! `tests/kernel_flows_cost.rs` measures it beside netcap's program, by
//! `BPF_PROG_TEST_RUN` and attached to a veth (bpf_stats); docs/bench/kernel-flows.md
//! has the figures.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::bpf_sys::{array_map_create, prog_load, xdp_link_generic, ProgKind};
use crate::filter::ebpf::insn::{
    alu32_imm, alu64_imm, alu64_reg, call, exit, ld_map_fd, ldx, mov64_imm, mov64_reg, stx, Insn,
    ADD, AND, B, DW, FP, HELPER_MAP_LOOKUP_ELEM, IMM, JEQ, JGT, JMP, K, LD, LSH, MUL, OR, R0, R1,
    R2, R3, R4, R5, R7, R8, R9, RSH, STX, W, X, XOR,
};

/// Bytes of one slot, as netcap's `FlowSlotAbi`.
pub const SLOT_BYTES: u32 = 128;
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

/// The program's instructions over the map `map` of `slots` slots (a power of two).
fn program(map: i32, slots: u32) -> Vec<Insn> {
    let mut p = vec![
        ldx(W, R2, R1, 0), // data
        ldx(W, R3, R1, 4), // data_end
        mov64_reg(R4, R2),
        alu64_imm(ADD, R4, 38), // Ethernet, IPv4 without options, the two ports
        Insn::new(JMP | JGT | X, R4, R3, 0, 0), // -> pass (patched below)
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
    p.extend([alu32_imm(AND, R9, slots - 1), stx(W, FP, R9, -4)]);
    p.extend(ld_map_fd(R1, map));
    p.extend([
        mov64_reg(R2, FP),
        alu64_imm(ADD, R2, -4),
        call(HELPER_MAP_LOOKUP_ELEM),
        Insn::new(JMP | JEQ | K, R0, 0, 0, 0), // -> pass (patched below)
        ldx(DW, R1, R0, 0),                    // the slot's first word
        mov64_imm(R2, 1),
        Insn::new(STX | ATOMIC | DW, R0, R2, 40, 0), // its packet counter, same line
    ]);
    let pass = p.len();
    p.extend([mov64_imm(R0, 2), exit()]);
    for (i, insn) in p.iter_mut().enumerate().take(pass) {
        if insn.code == JMP | JGT | X || insn.code == JMP | JEQ | K {
            insn.off = (pass - i - 1) as i16;
        }
    }
    p
}

/// The memory floor, loaded: its table and its program.
pub struct FlowFloor {
    /// Closed after the program (field order), which holds a reference anyway.
    prog: OwnedFd,
    _map: OwnedFd,
}

impl FlowFloor {
    /// A table of `slots` 128-byte slots (a power of two) and the program over it.
    pub fn new(slots: u32) -> Result<Self, String> {
        if !slots.is_power_of_two() {
            return Err(format!("{slots} slots: not a power of two"));
        }
        let map = array_map_create(SLOT_BYTES, slots)
            .map_err(|e| format!("creating the floor's table: {e}"))?;
        let prog = prog_load(
            ProgKind::Xdp,
            &program(map.as_raw_fd(), slots),
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
