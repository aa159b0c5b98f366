//! One copy of a classic program translated instruction by instruction ([`body`]),
//! emitted once or twice by [`super::translate`], and the reachability it relies on.
use netcap_common::CbpfInsn;

use super::insn::*;
use super::{cbpf::op, mem_slot, Emitter, Error, Label, Offset, LEN};

/// Where the classic program's returns go (shared by both copies).
#[derive(Clone, Copy)]
pub(super) struct Exits {
    pub(super) accept: Label,
    pub(super) reject: Label,
    pub(super) error: Label,
}

/// One copy of the classic program's instructions, with its own labels.
pub(super) fn body(e: &mut Emitter, prog: &[CbpfInsn], exits: Exits) -> Result<(), Error> {
    let Exits {
        accept,
        reject,
        error,
    } = exits;
    let pcs: Vec<Label> = (0..prog.len()).map(|_| e.label()).collect();
    // The verifier refuses unreachable code: leave out what no path reaches.
    let live = reachable(prog);
    for (pc, i) in prog.iter().enumerate() {
        if !live[pc] {
            continue;
        }
        e.bind(pcs[pc]);
        let k = i.k;
        let target = |off: usize| pcs[pc + 1 + off];
        match i.code {
            op::LD_W_ABS => e.load(4, Offset::Abs(k), R7, reject),
            op::LD_H_ABS => e.load(2, Offset::Abs(k), R7, reject),
            op::LD_B_ABS => e.load(1, Offset::Abs(k), R7, reject),
            op::LD_W_IND => e.load(4, Offset::Ind(k), R7, reject),
            op::LD_H_IND => e.load(2, Offset::Ind(k), R7, reject),
            op::LD_B_IND => e.load(1, Offset::Ind(k), R7, reject),
            op::LDX_B_MSH => {
                e.load(1, Offset::Abs(k), R8, reject);
                e.push(alu32_imm(AND, R8, 0x0f));
                e.push(alu32_imm(LSH, R8, 2));
            }
            op::LD_W_LEN => e.push(ldx(W, R7, FP, LEN)),
            op::LDX_W_LEN => e.push(ldx(W, R8, FP, LEN)),
            op::LD_IMM => e.push(mov32_imm(R7, k)),
            op::LDX_IMM => e.push(mov32_imm(R8, k)),
            op::LD_MEM => e.push(ldx(W, R7, FP, mem_slot(k))),
            op::LDX_MEM => e.push(ldx(W, R8, FP, mem_slot(k))),
            op::ST => e.push(stx(W, FP, R7, mem_slot(k))),
            op::STX => e.push(stx(W, FP, R8, mem_slot(k))),
            op::TAX => e.push(mov32_reg(R8, R7)),
            op::TXA => e.push(mov32_reg(R7, R8)),
            op::RET_K => e.ja(if k != 0 { accept } else { reject }),
            op::RET_A => {
                e.jump(JMP32 | JEQ | K, R7, 0, 0, reject);
                e.ja(accept);
            }
            op::JA => {
                let to = pc as i64 + 1 + i64::from(k as i32);
                let to = pcs[usize::try_from(to).map_err(|_| Error::TooLong)?];
                if (k as i32) < 0 {
                    e.forget(R8);
                    e.forget(R7);
                    e.jump(JMP | JCOND, 0, 0, 0, error);
                }
                e.ja(to);
            }
            c if c & 0x07 == op::JA => {
                let cond = (c & 0xf0) as u8;
                let (src, imm, bit) = if c & op::SRC_X != 0 {
                    (R8, 0, X)
                } else {
                    (0, k as i32, K)
                };
                let (t, f) = (usize::from(i.jt), usize::from(i.jf));
                let inverse = match cond {
                    JEQ => Some(JNE),
                    JGT => Some(JLE),
                    JGE => Some(JLT),
                    _ => None,
                };
                if t == f {
                    e.ja(target(t));
                } else if f == 0 {
                    e.jump(JMP32 | cond | bit, R7, src, imm, target(t));
                } else if let (0, Some(inv)) = (t, inverse) {
                    e.jump(JMP32 | inv | bit, R7, src, imm, target(f));
                } else {
                    e.jump(JMP32 | cond | bit, R7, src, imm, target(t));
                    e.ja(target(f));
                }
            }
            c => alu(e, c, k, reject),
        }
    }
    Ok(())
}

/// Which instructions some path from the first one reaches.
pub(super) fn reachable(prog: &[CbpfInsn]) -> Vec<bool> {
    let mut live = vec![false; prog.len()];
    let mut todo = vec![0usize];
    while let Some(pc) = todo.pop() {
        if pc >= prog.len() || live[pc] {
            continue;
        }
        live[pc] = true;
        let i = prog[pc];
        match i.code {
            op::RET_K | op::RET_A => {}
            op::JA => {
                if let Ok(t) = usize::try_from(pc as i64 + 1 + i64::from(i.k as i32)) {
                    todo.push(t);
                }
            }
            c if c & 0x07 == op::JA => {
                todo.push(pc + 1 + usize::from(i.jt));
                todo.push(pc + 1 + usize::from(i.jf));
            }
            _ => todo.push(pc + 1),
        }
    }
    live
}

/// An ALU instruction (validated: a known operation, no constant division by zero).
fn alu(e: &mut Emitter, code: u16, k: u32, reject: Label) {
    let operation = (code & 0xf0) as u8;
    let from_x = code & op::SRC_X != 0;
    match operation {
        NEG => e.push(Insn::new(ALU | NEG, R7, 0, 0, 0)),
        LSH | RSH if from_x => {
            e.push(mov32_reg(R0, R8));
            e.push(alu32_imm(AND, R0, 31));
            e.push(alu32_reg(operation, R7, R0));
        }
        LSH | RSH => e.push(alu32_imm(operation, R7, k & 31)),
        DIV | MOD if from_x => {
            e.jump(JMP32 | JEQ | K, R8, 0, 0, reject);
            e.push(alu32_reg(operation, R7, R8));
        }
        _ if from_x => e.push(alu32_reg(operation, R7, R8)),
        _ => e.push(alu32_imm(operation, R7, k)),
    }
}
