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
//! - **Two copies of the program.** The common case needs no per-load bounds check: the
//!   prologue loads `data` and `data_end` once and checks the frame's linear part holds
//!   the fixed-offset loads' largest end up to [`UPFRONT_MAX`] (the bound); if it does,
//!   the *fast copy* runs, whose fixed-offset loads inside the bound are one direct load
//!   from `r9` (`data`, kept across helper calls, which do not move packet data). Loads
//!   past the bound and at `X + k` check their own bounds, as in the *slow copy* that
//!   runs otherwise (a shorter frame, a non-linear skb's short head), where every load
//!   does. Programs with a backward jump (`protochain`) get the slow copy only.
//! - Division or modulo by `X == 0` rejects; shifts by `X` use its low five bits.
//! - A backward unconditional jump (libpcap's `protochain` loop) goes through
//!   `may_goto` (Linux 6.9): the verifier accepts the loop, and a frame that exhausts the
//!   kernel's loop budget ends as a filter error (fail open: captured, counted).
//!
//! The program's exits depend on [`Exit`]: a verdict for tests (`BPF_PROG_TEST_RUN`), or
//! the capture path's tail call and counters. Register use: `r6` the context, `r7` A,
//! `r8` X, `r9` `data` in the fast copy; `r0`-`r5` are scratch (helper calls clobber
//! them). The wire length, when the program reads it, is kept on the stack.
mod body;
pub mod insn;

use netcap_common::{CbpfInsn, Counter};

use self::body::{body, reachable, Exits};
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
/// The wire length (`len`), read once in the prologue.
const LEN: i16 = -88;
/// The largest up-front bound of the fast copy: 60 bytes, Ethernet's least frame
/// without its FCS, so every frame from an Ethernet link takes the fast copy when the
/// program's fixed-offset loads end within it (IPv6 ports end at 58). Loads past it
/// check their own bounds in the fast copy too.
pub const UPFRONT_MAX: u32 = 60;

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
    /// In the fast copy, the bound the prologue checked (`r9 + bound <= data_end`); 0 in
    /// the slow copy.
    bound: u32,
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
            Offset::Abs(k) if k.checked_add(size).is_some_and(|end| end <= self.bound) => {
                self.push(ldx(sz, dst, R9, k as i16));
                if bits != 0 {
                    self.push(to_be(dst, bits));
                }
                return;
            }
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
                // Direct when `X <= DIRECT_MAX_OFF - k` (so `X + k` cannot pass 32 bits)
                // and the linear part holds the bytes; `k` goes into the load's offset.
                if k <= DIRECT_MAX_OFF {
                    self.push(mov32_reg(R5, R8));
                    self.jump(JMP | JGT | K, R5, 0, (DIRECT_MAX_OFF - k) as i32, slow);
                    if self.bound != 0 {
                        self.push(mov64_reg(R2, R9));
                    } else {
                        self.push(ldx(W, R2, R6, data));
                    }
                    self.push(alu64_reg(ADD, R2, R5));
                    self.push(ldx(W, R3, R6, data_end));
                    self.push(mov64_reg(R4, R2));
                    self.push(alu64_imm(ADD, R4, (k + size) as i32));
                    self.jump(JMP | JGT | X, R4, R3, 0, slow);
                    self.push(ldx(sz, dst, R2, k as i16));
                    self.ja(done);
                }
                self.bind(slow);
                // r5 = X + k in 64 bits; a sum past 32 bits rejects, as in cbpf.rs.
                self.push(mov32_reg(R5, R8));
                self.push(mov32_imm(R4, k));
                self.push(alu64_reg(ADD, R5, R4));
                self.push(mov64_reg(R4, R5));
                self.push(alu64_imm(RSH, R4, 32));
                self.jump(JMP | JNE | K, R4, 0, 0, reject);
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
    let bound = upfront_bound(prog);
    match translate_with(prog, hook, how, bound) {
        // Two copies may not fit eBPF's jump offsets where one does.
        Err(Error::TooLong) if bound != 0 => translate_with(prog, hook, how, 0),
        done => done,
    }
}

/// The fast copy's up-front bound: the largest end of a reachable fixed-offset load
/// within [`UPFRONT_MAX`]; 0 (no fast copy) without one, or with a backward jump (a
/// loop's verification is costly enough once).
pub fn upfront_bound(prog: &[CbpfInsn]) -> u32 {
    let live = reachable(prog);
    let mut bound = 0;
    for (i, _) in prog.iter().zip(&live).filter(|(_, &l)| l) {
        if i.code == op::JA && (i.k as i32) < 0 {
            return 0;
        }
        let size = match i.code {
            op::LD_W_ABS => 4,
            op::LD_H_ABS => 2,
            op::LD_B_ABS | op::LDX_B_MSH => 1,
            _ => continue,
        };
        if let Some(end) = i.k.checked_add(size).filter(|&e| e <= UPFRONT_MAX) {
            bound = bound.max(end);
        }
    }
    bound
}

fn translate_with(
    prog: &[CbpfInsn],
    hook: Hook,
    how: Exit,
    bound: u32,
) -> Result<Vec<Insn>, Error> {
    let mut e = Emitter {
        out: Vec::with_capacity(prog.len() * 16 + 32),
        labels: Vec::new(),
        fixups: Vec::new(),
        hook,
        bound: 0,
    };
    let accept = e.label();
    let reject = e.label();
    let error = e.label();
    let exits = Exits {
        accept,
        reject,
        error,
    };

    e.push(mov64_reg(R6, R1));
    if prog
        .iter()
        .any(|i| i.code == op::LD_W_LEN || i.code == op::LDX_W_LEN)
    {
        match hook {
            Hook::Xdp => {
                e.push(call(HELPER_XDP_GET_BUFF_LEN));
                e.push(stx(W, FP, R0, LEN));
            }
            Hook::Tc => {
                e.push(ldx(W, R0, R6, 0));
                e.push(stx(W, FP, R0, LEN));
            }
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
    if bound != 0 {
        // The fast copy when the linear part holds `bound` bytes, else the slow one.
        let slow = e.label();
        let (data, data_end) = data_offsets(hook);
        e.push(ldx(W, R9, R6, data));
        e.push(ldx(W, R3, R6, data_end));
        e.push(mov64_reg(R4, R9));
        e.push(alu64_imm(ADD, R4, bound as i32));
        e.jump(JMP | JGT | X, R4, R3, 0, slow);
        e.bound = bound;
        body(&mut e, prog, exits)?;
        e.bound = 0;
        e.bind(slow);
    }
    body(&mut e, prog, exits)?;

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

#[cfg(test)]
#[path = "ebpf_tests.rs"]
mod tests;
