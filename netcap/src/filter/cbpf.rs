//! The classic BPF machine, as the Linux kernel runs a socket filter.
//!
//! Two registers `A` and `X` (u32), sixteen scratch words `M[]`, forward-only jumps.
//! Semantics follow the kernel (`net/core/filter.c`), which agrees with libpcap's
//! `bpf_filter` on every program libpcap generates:
//! - a packet load past the captured bytes ends the program with 0 (reject);
//! - `len` is the frame's length on the wire, not the captured length;
//! - division or modulo by `X == 0` ends the program with 0;
//! - a shift by `X` uses the low five bits of `X` (32-bit eBPF ALU semantics).
//!
//! [`validate`] applies the kernel's `bpf_check_classic` rules but one, so [`run`]
//! never meets an unknown opcode, a jump out of the program or a scratch index above
//! 15. The exception: libpcap's `protochain` walks IPv6 extension headers with a loop,
//! an unconditional jump whose offset is negative (two's complement in `k`), which the
//! kernel's socket-filter checker refuses and libpcap's own interpreter runs; so does
//! [`run`], with a step budget ([`MAX_STEPS`]; such loops end anyway, since each turn
//! moves `X` forward until a load falls off the frame). [`forward_only`] tells whether
//! a program is one the kernel accepts as a socket filter.
use netcap_common::CbpfInsn;

/// Opcodes (`<linux/bpf_common.h>` / `<pcap/bpf.h>`), one constant per valid encoding.
pub mod op {
    pub const LD_W_ABS: u16 = 0x20;
    pub const LD_H_ABS: u16 = 0x28;
    pub const LD_B_ABS: u16 = 0x30;
    pub const LD_W_IND: u16 = 0x40;
    pub const LD_H_IND: u16 = 0x48;
    pub const LD_B_IND: u16 = 0x50;
    pub const LD_W_LEN: u16 = 0x80;
    pub const LD_IMM: u16 = 0x00;
    pub const LD_MEM: u16 = 0x60;
    pub const LDX_IMM: u16 = 0x01;
    pub const LDX_MEM: u16 = 0x61;
    pub const LDX_W_LEN: u16 = 0x81;
    pub const LDX_B_MSH: u16 = 0xb1;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    /// ALU class; the operation is `code & 0xf0`, the source `code & 0x08` (K=0, X=8).
    pub const ALU: u16 = 0x04;
    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;
    pub const SRC_X: u16 = 0x08;
    pub const JA: u16 = 0x05;
    pub const JEQ_K: u16 = 0x15;
    pub const JGT_K: u16 = 0x25;
    pub const JGE_K: u16 = 0x35;
    pub const JSET_K: u16 = 0x45;
    pub const JEQ_X: u16 = 0x1d;
    pub const JGT_X: u16 = 0x2d;
    pub const JGE_X: u16 = 0x3d;
    pub const JSET_X: u16 = 0x4d;
    pub const RET_K: u16 = 0x06;
    pub const RET_A: u16 = 0x16;
    pub const TAX: u16 = 0x07;
    pub const TXA: u16 = 0x87;
}

/// Longest program the kernel accepts (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;
/// Most instructions one run executes; past it the frame is rejected. Only programs
/// with backward jumps get near it: a forward-only program runs at most `len` steps.
pub const MAX_STEPS: u32 = 1 << 22;
/// Scratch memory words.
const MEMWORDS: u32 = 16;

/// Why a program is not a valid classic BPF program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub pc: usize,
    pub why: &'static str,
}

/// Target of an unconditional jump at `pc`: `k` is a signed offset.
fn ja_target(pc: usize, k: u32) -> Option<usize> {
    (pc as i64 + 1)
        .checked_add(i64::from(k as i32))
        .and_then(|t| usize::try_from(t).ok())
}

/// True when every jump goes forward, as the kernel's socket-filter checker requires.
pub fn forward_only(insns: &[CbpfInsn]) -> bool {
    insns.iter().all(|i| i.code != op::JA || (i.k as i32) >= 0)
}

/// Checks `insns` as the kernel's `bpf_check_classic` does, except that an
/// unconditional jump may go backwards (see the module doc).
pub fn validate(insns: &[CbpfInsn]) -> Result<(), Invalid> {
    if insns.is_empty() || insns.len() > MAX_INSNS {
        return Err(Invalid {
            pc: 0,
            why: "program length must be 1..=4096",
        });
    }
    let len = insns.len();
    for (pc, ins) in insns.iter().enumerate() {
        let bad = |why| Err(Invalid { pc, why });
        let target_ok = |off: u32| (pc + 1).checked_add(off as usize).is_some_and(|t| t < len);
        match ins.code {
            op::LD_W_ABS
            | op::LD_H_ABS
            | op::LD_B_ABS
            | op::LD_W_IND
            | op::LD_H_IND
            | op::LD_B_IND
            | op::LD_W_LEN
            | op::LD_IMM
            | op::LDX_IMM
            | op::LDX_W_LEN
            | op::LDX_B_MSH
            | op::TAX
            | op::TXA
            | op::RET_K
            | op::RET_A => {}
            op::LD_MEM | op::LDX_MEM | op::ST | op::STX if ins.k >= MEMWORDS => {
                return bad("scratch memory index above 15")
            }
            op::LD_MEM | op::LDX_MEM | op::ST | op::STX => {}
            c if c & 0x07 == op::ALU => {
                let operation = c & 0xf0;
                let from_x = c & op::SRC_X != 0;
                match operation {
                    op::ADD | op::SUB | op::MUL | op::OR | op::AND | op::XOR => {}
                    op::DIV | op::MOD if !from_x && ins.k == 0 => return bad("division by zero"),
                    op::DIV | op::MOD => {}
                    op::LSH | op::RSH if !from_x && ins.k >= 32 => {
                        return bad("shift by 32 or more")
                    }
                    op::LSH | op::RSH => {}
                    op::NEG if !from_x => {}
                    _ => return bad("unknown ALU operation"),
                }
                if c & !0xf8 != op::ALU {
                    return bad("unknown ALU encoding");
                }
            }
            op::JA if ja_target(pc, ins.k).is_none_or(|t| t >= len) => {
                return bad("jump out of the program")
            }
            op::JA => {}
            op::JEQ_K
            | op::JGT_K
            | op::JGE_K
            | op::JSET_K
            | op::JEQ_X
            | op::JGT_X
            | op::JGE_X
            | op::JSET_X => {
                if !target_ok(u32::from(ins.jt)) || !target_ok(u32::from(ins.jf)) {
                    return bad("jump out of the program");
                }
            }
            _ => return bad("unknown opcode"),
        }
    }
    match insns[len - 1].code {
        op::RET_K | op::RET_A => Ok(()),
        _ => Err(Invalid {
            pc: len - 1,
            why: "the last instruction must be a return",
        }),
    }
}

/// `size` bytes big-endian at `off` of `data`, or `None` past its end.
#[inline]
fn load(data: &[u8], off: u32, size: usize) -> Option<u32> {
    let start = off as usize;
    let bytes = data.get(start..start.checked_add(size)?)?;
    Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// Runs a [`validate`]d program over `data` (the captured bytes) of a frame `wire_len`
/// bytes long on the wire. Returns the program's return value: 0 rejects the frame.
pub fn run(insns: &[CbpfInsn], data: &[u8], wire_len: u32) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEMWORDS as usize];
    let mut pc = 0usize;
    let mut steps = 0u32;
    while let Some(ins) = insns.get(pc) {
        steps += 1;
        if steps > MAX_STEPS {
            return 0;
        }
        pc += 1;
        let k = ins.k;
        let slot = (k & (MEMWORDS - 1)) as usize;
        let loaded = match ins.code {
            op::LD_W_ABS => load(data, k, 4),
            op::LD_H_ABS => load(data, k, 2),
            op::LD_B_ABS => load(data, k, 1),
            op::LD_W_IND => x.checked_add(k).and_then(|o| load(data, o, 4)),
            op::LD_H_IND => x.checked_add(k).and_then(|o| load(data, o, 2)),
            op::LD_B_IND => x.checked_add(k).and_then(|o| load(data, o, 1)),
            op::LDX_B_MSH => match load(data, k, 1) {
                Some(b) => {
                    x = (b & 0x0f) << 2;
                    continue;
                }
                None => None,
            },
            op::LD_W_LEN => Some(wire_len),
            op::LD_IMM => Some(k),
            op::LD_MEM => Some(mem[slot]),
            op::LDX_IMM | op::LDX_MEM | op::LDX_W_LEN => {
                x = match ins.code {
                    op::LDX_IMM => k,
                    op::LDX_MEM => mem[slot],
                    _ => wire_len,
                };
                continue;
            }
            op::ST => {
                mem[slot] = a;
                continue;
            }
            op::STX => {
                mem[slot] = x;
                continue;
            }
            op::TAX => {
                x = a;
                continue;
            }
            op::TXA => Some(x),
            op::RET_K => return k,
            op::RET_A => return a,
            op::JA => {
                match ja_target(pc - 1, k) {
                    Some(t) => pc = t,
                    None => return 0,
                }
                continue;
            }
            c if c & 0x07 == op::JA => {
                let src = if c & op::SRC_X != 0 { x } else { k };
                let taken = match c & 0xf0 {
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    _ => a & src != 0,
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
                continue;
            }
            c => {
                let src = if c & op::SRC_X != 0 { x } else { k };
                match c & 0xf0 {
                    op::ADD => Some(a.wrapping_add(src)),
                    op::SUB => Some(a.wrapping_sub(src)),
                    op::MUL => Some(a.wrapping_mul(src)),
                    op::DIV => a.checked_div(src),
                    op::MOD => a.checked_rem(src),
                    op::OR => Some(a | src),
                    op::AND => Some(a & src),
                    op::XOR => Some(a ^ src),
                    op::LSH => Some(a.wrapping_shl(src)),
                    op::RSH => Some(a.wrapping_shr(src)),
                    _ => Some(a.wrapping_neg()),
                }
            }
        };
        match loaded {
            Some(v) => a = v,
            // Out-of-bounds load or division by zero: the kernel returns 0.
            None => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_jump_loops_until_a_load_falls_off() {
        // X = 0; loop: A = P[X]; if A == 9 ret 1; X += 1 (via A); ja loop
        let prog = [
            i(op::LDX_IMM, 0, 0, 0),
            i(op::LD_B_IND, 0, 0, 0),
            i(op::JEQ_K, 0, 1, 9),
            i(op::RET_K, 0, 0, 1),
            i(op::TXA, 0, 0, 0),
            i(op::ALU | op::ADD, 0, 0, 1),
            i(op::TAX, 0, 0, 0),
            i(op::JA, 0, 0, (-7i32) as u32),
            i(op::RET_K, 0, 0, 0),
        ];
        assert_eq!(validate(&prog), Ok(()));
        assert!(!forward_only(&prog));
        assert_eq!(run(&prog, &[0, 0, 0, 9], 4), 1);
        assert_eq!(run(&prog, &[0, 0, 0, 0], 4), 0);
    }

    fn i(code: u16, jt: u8, jf: u8, k: u32) -> CbpfInsn {
        CbpfInsn { code, jt, jf, k }
    }

    #[test]
    fn loads_are_big_endian_and_out_of_bounds_rejects() {
        let prog = [i(op::LD_H_ABS, 0, 0, 1), i(op::RET_A, 0, 0, 0)];
        assert_eq!(validate(&prog), Ok(()));
        assert_eq!(run(&prog, &[0, 0x12, 0x34], 3), 0x1234);
        assert_eq!(run(&prog, &[0, 0x12], 3), 0);
    }

    #[test]
    fn msh_indirect_load_and_scratch() {
        // X = 4 * (P[0] & 0xf); A = P[X + 1]; M[3] = A; A = 0; A = M[3]; ret A
        let prog = [
            i(op::LDX_B_MSH, 0, 0, 0),
            i(op::LD_B_IND, 0, 0, 1),
            i(op::ST, 0, 0, 3),
            i(op::LD_IMM, 0, 0, 0),
            i(op::LD_MEM, 0, 0, 3),
            i(op::RET_A, 0, 0, 0),
        ];
        assert_eq!(validate(&prog), Ok(()));
        assert_eq!(run(&prog, &[0x41, 0, 0, 0, 0, 0x77], 6), 0x77);
    }

    #[test]
    fn conditional_jumps_and_alu() {
        // A = len; A &= 0xf0; if A == 0x40 ret 1 else ret 0
        let prog = [
            i(op::LD_W_LEN, 0, 0, 0),
            i(op::ALU | op::AND, 0, 0, 0xf0),
            i(op::JEQ_K, 0, 1, 0x40),
            i(op::RET_K, 0, 0, 1),
            i(op::RET_K, 0, 0, 0),
        ];
        assert_eq!(validate(&prog), Ok(()));
        assert_eq!(run(&prog, &[], 0x4f), 1);
        assert_eq!(run(&prog, &[], 0x5f), 0);
    }

    #[test]
    fn division_by_zero_x_rejects_and_invalid_programs_are_refused() {
        let prog = [
            i(op::ALU | op::DIV | op::SRC_X, 0, 0, 0),
            i(op::RET_K, 0, 0, 9),
        ];
        assert_eq!(run(&prog, &[], 0), 0);
        assert!(validate(&[i(op::ALU | op::DIV, 0, 0, 0), i(op::RET_K, 0, 0, 1)]).is_err());
        assert!(validate(&[i(op::JA, 0, 0, 1), i(op::RET_K, 0, 0, 1)]).is_err());
        assert!(validate(&[i(op::JA, 0, 0, (-2i32) as u32), i(op::RET_K, 0, 0, 1)]).is_err());
        assert!(validate(&[i(op::LD_MEM, 0, 0, 16), i(op::RET_K, 0, 0, 1)]).is_err());
        assert!(validate(&[i(op::LD_IMM, 0, 0, 1)]).is_err());
        assert!(validate(&[i(0xff, 0, 0, 0), i(op::RET_K, 0, 0, 1)]).is_err());
    }
}
