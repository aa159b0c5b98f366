//! eBPF instruction encoding (`<linux/bpf.h>`, Documentation/bpf/standardization):
//! one 8-byte slot per instruction, `BPF_LD_IMM64` taking two.
//!
//! Only what the translator emits is here; the constants keep the kernel's names.

/// One eBPF instruction slot, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}
const _: () = assert!(core::mem::size_of::<Insn>() == 8);

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            regs: (dst & 0x0f) | (src << 4),
            off,
            imm,
        }
    }
    pub fn dst(&self) -> u8 {
        self.regs & 0x0f
    }
    pub fn src(&self) -> u8 {
        self.regs >> 4
    }
}

// Instruction classes.
pub const LD: u8 = 0x00;
pub const LDX: u8 = 0x01;
pub const ST: u8 = 0x02;
pub const STX: u8 = 0x03;
pub const ALU: u8 = 0x04;
pub const JMP: u8 = 0x05;
pub const JMP32: u8 = 0x06;
pub const ALU64: u8 = 0x07;

// Sizes and modes of loads and stores.
pub const W: u8 = 0x00;
pub const H: u8 = 0x08;
pub const B: u8 = 0x10;
pub const DW: u8 = 0x18;
pub const IMM: u8 = 0x00;
pub const MEM: u8 = 0x60;

// Operand source.
pub const K: u8 = 0x00;
pub const X: u8 = 0x08;

// ALU operations (the same values as classic BPF's), plus eBPF's own.
pub const ADD: u8 = 0x00;
pub const SUB: u8 = 0x10;
pub const MUL: u8 = 0x20;
pub const DIV: u8 = 0x30;
pub const OR: u8 = 0x40;
pub const AND: u8 = 0x50;
pub const LSH: u8 = 0x60;
pub const RSH: u8 = 0x70;
pub const NEG: u8 = 0x80;
pub const MOD: u8 = 0x90;
pub const XOR: u8 = 0xa0;
pub const MOV: u8 = 0xb0;
/// Byte swap; with source bit `X` (`BPF_TO_BE`) it converts to big-endian.
pub const END: u8 = 0xd0;

// Jump operations.
pub const JA: u8 = 0x00;
pub const JEQ: u8 = 0x10;
pub const JGT: u8 = 0x20;
pub const JGE: u8 = 0x30;
pub const JSET: u8 = 0x40;
pub const JNE: u8 = 0x50;
pub const CALL: u8 = 0x80;
pub const EXIT: u8 = 0x90;
pub const JLT: u8 = 0xa0;
pub const JLE: u8 = 0xb0;
/// `may_goto` (Linux 6.9): jumps once the kernel's per-program loop budget is spent,
/// so a loop the verifier cannot bound is accepted and always ends.
pub const JCOND: u8 = 0xe0;

/// `src_reg` of `BPF_LD_IMM64` when `imm` is a map file descriptor.
pub const PSEUDO_MAP_FD: u8 = 1;

// Registers.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R5: u8 = 5;
pub const R6: u8 = 6;
pub const R7: u8 = 7;
pub const R8: u8 = 8;
pub const R9: u8 = 9;
pub const FP: u8 = 10;

// Helpers (`enum bpf_func_id`).
pub const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
pub const HELPER_TAIL_CALL: i32 = 12;
pub const HELPER_SKB_LOAD_BYTES: i32 = 26;
pub const HELPER_XDP_GET_BUFF_LEN: i32 = 188;
pub const HELPER_XDP_LOAD_BYTES: i32 = 189;

/// `dst = src` (64-bit).
pub const fn mov64_reg(dst: u8, src: u8) -> Insn {
    Insn::new(ALU64 | MOV | X, dst, src, 0, 0)
}
/// `dst = imm` sign-extended to 64 bits.
pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(ALU64 | MOV | K, dst, 0, 0, imm)
}
/// `w(dst) = w(src)`: the upper half cleared.
pub const fn mov32_reg(dst: u8, src: u8) -> Insn {
    Insn::new(ALU | MOV | X, dst, src, 0, 0)
}
/// `w(dst) = imm`: the 32 bits of `imm`, the upper half cleared.
pub const fn mov32_imm(dst: u8, imm: u32) -> Insn {
    Insn::new(ALU | MOV | K, dst, 0, 0, imm as i32)
}
pub const fn alu32_imm(op: u8, dst: u8, imm: u32) -> Insn {
    Insn::new(ALU | op | K, dst, 0, 0, imm as i32)
}
pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(ALU | op | X, dst, src, 0, 0)
}
pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(ALU64 | op | K, dst, 0, 0, imm)
}
pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(ALU64 | op | X, dst, src, 0, 0)
}
/// `dst = htobe(dst)` for a 16- or 32-bit value (zero-extended).
pub const fn to_be(dst: u8, bits: i32) -> Insn {
    Insn::new(ALU | END | X, dst, 0, 0, bits)
}
/// `dst = *(size *)(src + off)`.
pub const fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(LDX | MEM | size, dst, src, off, 0)
}
/// `*(size *)(dst + off) = src`.
pub const fn stx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(STX | MEM | size, dst, src, off, 0)
}
/// `*(size *)(dst + off) = imm`.
pub const fn st_imm(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(ST | MEM | size, dst, 0, off, imm)
}
pub const fn call(helper: i32) -> Insn {
    Insn::new(JMP | CALL, 0, 0, 0, helper)
}
pub const fn exit() -> Insn {
    Insn::new(JMP | EXIT, 0, 0, 0, 0)
}
/// The two slots of `dst = map` (`BPF_LD_IMM64` with `BPF_PSEUDO_MAP_FD`).
pub const fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
    [
        Insn::new(LD | DW | IMM, dst, PSEUDO_MAP_FD, 0, fd),
        Insn::new(0, 0, 0, 0, 0),
    ]
}
