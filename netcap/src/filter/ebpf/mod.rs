//! Classic BPF translated to eBPF, so the kernel's verifier and JIT run a filter as
//! native code instead of netcap's in-kernel interpreter (`netcap-ebpf/src/filter.rs`).
//!
//! Same semantics as the interpreter and [`super::cbpf`] (the reference):
//! - `A`, `X` are 32-bit (`w7`, `w8`, kept zero-extended); `M[16]` lives on the stack;
//!   `len` (`w9`) is the frame's wire length (`bpf_xdp_get_buff_len`, `skb->len`).
//! - Loads are big-endian. A load reads the packet directly when `data..data_end` holds
//!   it, and otherwise through `bpf_xdp_load_bytes` / `bpf_skb_load_bytes` into a stack
//!   buffer, so bytes in XDP fragments or a non-linear skb are read too; a load past the
//!   frame, or at `X + k` beyond 32 bits, rejects the frame.
//! - Division or modulo by `X == 0` rejects; shifts by `X` use its low five bits.
//! - A backward unconditional jump (libpcap's `protochain` loop) goes through
//!   `may_goto` (Linux 6.9): the verifier accepts the loop, and a frame that exhausts the
//!   kernel's loop budget ends as a filter error (fail open: captured, counted).
//!
//! The program's exits depend on [`Exit`]: a verdict for tests (`BPF_PROG_TEST_RUN`), or
//! the capture path's tail call and counters. Register use: `r6` the context, `r7` A,
//! `r8` X, `r9` the wire length; `r0`-`r5` are scratch (helper calls clobber them).
pub mod insn;

use netcap_common::{CbpfInsn, Counter};

use self::insn::*;
use super::cbpf::{self, op};

/// The hook (eBPF program type) the filter runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `BPF_PROG_TYPE_XDP`: context `struct xdp_md`.
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS` (tcx): context `struct __sk_buff`.
    Tc,
}

/// What the program does once the classic program has decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Returns [`VERDICT_ACCEPT`], [`VERDICT_REJECT`] or [`VERDICT_ERROR`]; for tests.
    Verdict,
    /// The capture path: accept tail-calls slot 1 of the program array `progs_fd` (the
    /// capture half); reject bumps `Filtered` in the per-CPU array `counters_fd` and
    /// lets the frame go on; an error bumps `FilterError` and accepts. A failed tail
    /// call bumps `LostCopy`, so the frame is still counted exactly once.
    TailCall { counters_fd: i32, progs_fd: i32 },
}

pub const VERDICT_REJECT: u32 = 0;
pub const VERDICT_ACCEPT: u32 = 1;
/// The loop budget ran out (only programs with backward jumps).
pub const VERDICT_ERROR: u32 = 2;

/// Slot of the capture half in the hook's program array.
pub const SLOT_CAPTURE: u32 = 1;
/// Slot of the native filter in the hook's program array.
pub const SLOT_FILTER: u32 = 0;

/// Why a classic program was not translated (the caller keeps the interpreter).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid classic BPF program at instruction {pc}: {why}")]
    Invalid { pc: usize, why: &'static str },
    #[error("the translated program is too long for eBPF's 16-bit jump offsets")]
    TooLong,
}

/// Largest packet offset read directly; beyond it loads go through the helper. The
/// verifier wants the offset plus the access size within `MAX_PACKET_OFF` (0xffff).
const DIRECT_MAX_OFF: u32 = 0x7fff;
/// Stack: a 4-byte load buffer (also the counter key) at `fp - 8`, `M[]` below it.
const BUF: i16 = -8;
const MEM_BASE: i16 = -72;
/// Four bytes below `M[]` for [`Emitter::forget`].
const FORGET: i16 = -80;

/// `struct xdp_md` / `struct __sk_buff` offsets of `data` and `data_end`.
fn data_offsets(hook: Hook) -> (i16, i16) {
    match hook {
        Hook::Xdp => (0, 4),
        Hook::Tc => (76, 80),
    }
}

#[derive(Clone, Copy)]
struct Label(usize);

struct Emitter {
    out: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    hook: Hook,
}

impl Emitter {
    fn push(&mut self, i: Insn) {
        self.out.push(i);
    }
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.out.len());
    }
    /// A jump instruction whose offset is filled in once `to` is bound.
    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: Label) {
        self.fixups.push((self.out.len(), to));
        self.push(Insn::new(code, dst, src, 0, imm));
    }
    fn ja(&mut self, to: Label) {
        self.jump(JMP | JA, 0, 0, 0, to);
    }

    /// `dst = P[offset]` of `size` bytes, big-endian; rejects past the frame.
    fn load(&mut self, size: u32, offset: Offset, dst: u8, reject: Label) {
        let (sz, bits) = match size {
            4 => (W, 32),
            2 => (H, 16),
            _ => (B, 0),
        };
        let (data, data_end) = data_offsets(self.hook);
        let slow = self.label();
        let done = self.label();
        match offset {
            Offset::Abs(k) => {
                if k <= DIRECT_MAX_OFF {
                    self.push(ldx(W, R2, R6, data));
                    self.push(ldx(W, R3, R6, data_end));
                    self.push(mov64_reg(R4, R2));
                    self.push(alu64_imm(ADD, R4, (k + size) as i32));
                    self.jump(JMP | JGT | X, R4, R3, 0, slow);
                    self.push(ldx(sz, dst, R2, k as i16));
                    self.ja(done);
                }
                self.bind(slow);
                self.push(mov32_imm(R2, k));
            }
            Offset::Ind(k) => {
                // r5 = X + k in 64 bits; a sum past 32 bits rejects, as in cbpf.rs.
                self.push(mov32_reg(R5, R8));
                self.push(mov32_imm(R4, k));
                self.push(alu64_reg(ADD, R5, R4));
                self.push(mov64_reg(R4, R5));
                self.push(alu64_imm(RSH, R4, 32));
                self.jump(JMP | JNE | K, R4, 0, 0, reject);
                self.jump(JMP | JGT | K, R5, 0, DIRECT_MAX_OFF as i32, slow);
                self.push(ldx(W, R2, R6, data));
                self.push(ldx(W, R3, R6, data_end));
                self.push(alu64_reg(ADD, R2, R5));
                self.push(mov64_reg(R4, R2));
                self.push(alu64_imm(ADD, R4, size as i32));
                self.jump(JMP | JGT | X, R4, R3, 0, slow);
                self.push(ldx(sz, dst, R2, 0));
                self.ja(done);
                self.bind(slow);
                self.push(mov32_reg(R2, R5));
            }
        }
        let helper = match self.hook {
            Hook::Xdp => HELPER_XDP_LOAD_BYTES,
            Hook::Tc => HELPER_SKB_LOAD_BYTES,
        };
        self.push(mov64_reg(R1, R6));
        self.push(mov64_reg(R3, FP));
        self.push(alu64_imm(ADD, R3, i32::from(BUF)));
        self.push(mov32_imm(R4, size));
        self.push(call(helper));
        self.jump(JMP | JNE | K, R0, 0, 0, reject);
        self.push(ldx(sz, dst, FP, BUF));
        self.bind(done);
        if bits != 0 {
            self.push(to_be(dst, bits));
        }
    }

    /// Makes the verifier forget what it knows of the 32-bit `reg` (same value): the
    /// bytes go to the stack one at a time, where the verifier keeps no scalar, and
    /// come back as a word. Before a backward jump, so that each turn of a loop looks
    /// like the last to the verifier (X grows each turn, and a loop whose states never
    /// repeat is refused as too complex).
    fn forget(&mut self, reg: u8) {
        self.push(stx(B, FP, reg, FORGET));
        for byte in 1..4i16 {
            self.push(mov32_reg(R0, reg));
            self.push(alu32_imm(RSH, R0, 8 * byte as u32));
            self.push(stx(B, FP, R0, FORGET + byte));
        }
        self.push(ldx(W, reg, FP, FORGET));
    }

    /// `COUNTERS[counter] += 1` on this CPU.
    fn bump(&mut self, counters_fd: i32, counter: Counter) {
        let skip = self.label();
        self.push(st_imm(W, FP, BUF, counter as i32));
        self.out.extend(ld_map_fd(R1, counters_fd));
        self.push(mov64_reg(R2, FP));
        self.push(alu64_imm(ADD, R2, i32::from(BUF)));
        self.push(call(HELPER_MAP_LOOKUP_ELEM));
        self.jump(JMP | JEQ | K, R0, 0, 0, skip);
        self.push(ldx(DW, R1, R0, 0));
        self.push(alu64_imm(ADD, R1, 1));
        self.push(stx(DW, R0, R1, 0));
        self.bind(skip);
    }

    fn finish(self) -> Result<Vec<Insn>, Error> {
        let Emitter {
            mut out,
            labels,
            fixups,
            ..
        } = self;
        for (at, Label(l)) in fixups {
            let target = labels[l].ok_or(Error::TooLong)?;
            let off = target as i64 - (at as i64 + 1);
            out[at].off = i16::try_from(off).map_err(|_| Error::TooLong)?;
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum Offset {
    Abs(u32),
    Ind(u32),
}

fn mem_slot(k: u32) -> i16 {
    MEM_BASE + 4 * (k & 15) as i16
}

/// Translates a classic program (checked with [`cbpf::validate`]) for `hook`.
pub fn translate(prog: &[CbpfInsn], hook: Hook, how: Exit) -> Result<Vec<Insn>, Error> {
    cbpf::validate(prog).map_err(|cbpf::Invalid { pc, why }| Error::Invalid { pc, why })?;
    let mut e = Emitter {
        out: Vec::with_capacity(prog.len() * 8 + 32),
        labels: Vec::new(),
        fixups: Vec::new(),
        hook,
    };
    let pcs: Vec<Label> = (0..prog.len()).map(|_| e.label()).collect();
    let accept = e.label();
    let reject = e.label();
    let error = e.label();

    e.push(mov64_reg(R6, R1));
    if prog
        .iter()
        .any(|i| i.code == op::LD_W_LEN || i.code == op::LDX_W_LEN)
    {
        match hook {
            Hook::Xdp => {
                e.push(call(HELPER_XDP_GET_BUFF_LEN));
                e.push(mov32_reg(R9, R0));
            }
            Hook::Tc => e.push(ldx(W, R9, R6, 0)),
        }
    }
    e.push(mov32_imm(R7, 0));
    e.push(mov32_imm(R8, 0));
    let mut zeroed = [false; 16];
    for i in prog {
        if matches!(i.code, op::LD_MEM | op::LDX_MEM) && !zeroed[(i.k & 15) as usize] {
            zeroed[(i.k & 15) as usize] = true;
            e.push(st_imm(W, FP, mem_slot(i.k), 0));
        }
    }

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
            op::LD_W_LEN => e.push(mov32_reg(R7, R9)),
            op::LDX_W_LEN => e.push(mov32_reg(R8, R9)),
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
            c => alu(&mut e, c, k, reject),
        }
    }

    let used = |e: &Emitter, l: Label| e.fixups.iter().any(|&(_, Label(t))| t == l.0);
    match how {
        Exit::Verdict => {
            for (l, v) in [
                (accept, VERDICT_ACCEPT),
                (reject, VERDICT_REJECT),
                (error, VERDICT_ERROR),
            ] {
                if !used(&e, l) {
                    continue;
                }
                e.bind(l);
                e.push(mov32_imm(R0, v));
                e.push(exit());
            }
        }
        Exit::TailCall {
            counters_fd,
            progs_fd,
        } => {
            let pass = match hook {
                Hook::Xdp => 2, // XDP_PASS
                Hook::Tc => -1, // TCX_NEXT
            };
            if used(&e, reject) {
                e.bind(reject);
                e.bump(counters_fd, Counter::Filtered);
                e.push(mov64_imm(R0, pass));
                e.push(exit());
            }
            let errors = used(&e, error);
            if errors {
                e.bind(error);
                e.bump(counters_fd, Counter::FilterError);
            }
            if !errors && !used(&e, accept) {
                return e.finish();
            }
            e.bind(accept);
            e.push(mov64_reg(R1, R6));
            e.out.extend(ld_map_fd(R2, progs_fd));
            e.push(mov32_imm(R3, SLOT_CAPTURE));
            e.push(call(HELPER_TAIL_CALL));
            e.bump(counters_fd, Counter::LostCopy);
            e.push(mov64_imm(R0, pass));
            e.push(exit());
        }
    }
    e.finish()
}

/// Which instructions some path from the first one reaches.
fn reachable(prog: &[CbpfInsn]) -> Vec<bool> {
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

#[cfg(test)]
#[path = "ebpf_tests.rs"]
mod tests;
