//! Random valid classic BPF programs and frames: the native filter (the program
//! translated to eBPF, `netcap::filter::ebpf`) must give `cbpf::run`'s verdict.
//!
//! The input's first bytes become a program: each 6-byte chunk picks a valid opcode
//! (by table index), jump offsets inside the program, a scratch index below 16, a shift
//! below 32 and a nonzero constant divisor, so nearly every input is a program
//! `cbpf::validate` accepts; the last instruction is a return. The rest is the frame.
//!
//! The kernel leg (load, verifier, BPF_PROG_TEST_RUN as XDP) needs root, which CI's
//! fuzz step has; without it only the translation runs (it must accept every valid
//! program). A user-space eBPF interpreter was the other choice, but the translation
//! relies on what only the kernel does (the verifier's acceptance, `may_goto`, the
//! load helpers, direct packet access), so the kernel is the oracle worth having.
#![no_main]

use std::os::fd::AsFd;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netcap::capture::bpf_sys::{prog_load, test_run, ProgKind};
use netcap::filter::cbpf::{self, op};
use netcap::filter::ebpf::{translate, Exit, Hook, VERDICT_ACCEPT, VERDICT_ERROR, VERDICT_REJECT};
use netcap_common::CbpfInsn;

const CODES: [u16; 40] = [
    op::LD_W_ABS,
    op::LD_H_ABS,
    op::LD_B_ABS,
    op::LD_W_IND,
    op::LD_H_IND,
    op::LD_B_IND,
    op::LD_W_LEN,
    op::LD_IMM,
    op::LD_MEM,
    op::LDX_IMM,
    op::LDX_MEM,
    op::LDX_W_LEN,
    op::LDX_B_MSH,
    op::ST,
    op::STX,
    op::ALU | op::ADD,
    op::ALU | op::SUB,
    op::ALU | op::MUL,
    op::ALU | op::DIV,
    op::ALU | op::OR,
    op::ALU | op::AND,
    op::ALU | op::LSH,
    op::ALU | op::RSH,
    op::ALU | op::NEG,
    op::ALU | op::MOD,
    op::ALU | op::XOR,
    op::ALU | op::ADD | op::SRC_X,
    op::ALU | op::DIV | op::SRC_X,
    op::ALU | op::LSH | op::SRC_X,
    op::ALU | op::MOD | op::SRC_X,
    op::JA,
    op::JEQ_K,
    op::JGT_K,
    op::JGE_K,
    op::JSET_K,
    op::JEQ_X,
    op::JGT_X,
    op::JSET_X,
    op::TAX,
    op::TXA,
];

fn program(data: &[u8]) -> (Vec<CbpfInsn>, &[u8]) {
    let n = usize::from(data.first().copied().unwrap_or(0) % 24) + 1;
    let body = &data[1.min(data.len())..];
    let mut insns = Vec::with_capacity(n + 1);
    let mut used = 0;
    for (pc, c) in body.chunks_exact(6).take(n).enumerate() {
        used += 6;
        let code = CODES[usize::from(c[0]) % CODES.len()];
        let k = u32::from_le_bytes([c[3], c[4], c[5], c[2]]);
        let left = (n - pc) as u8; // instructions after this one, the return included
        let (jt, jf) = (c[1] % left, c[2] % left);
        let k = match code {
            op::LD_MEM | op::LDX_MEM | op::ST | op::STX => k & 15,
            c if c & 0xf7 == op::ALU | op::LSH || c & 0xf7 == op::ALU | op::RSH => k & 31,
            c if c == op::ALU | op::DIV || c == op::ALU | op::MOD => k.max(1),
            // Small offsets keep loads inside frames often enough to matter.
            op::LD_W_ABS | op::LD_H_ABS | op::LD_B_ABS | op::LDX_B_MSH => k % 96,
            op::LD_W_IND | op::LD_H_IND | op::LD_B_IND => k % 64,
            // Forward, or now and then back to an earlier instruction (a loop).
            op::JA if c[1] & 7 == 0 => (-(i64::from(c[2]) % (pc as i64 + 1)) - 1) as u32,
            op::JA => u32::from(c[2] % left),
            _ => k,
        };
        insns.push(CbpfInsn { code, jt, jf, k });
    }
    let ret = if body.len() > used && body[used] & 1 == 0 {
        op::RET_A
    } else {
        op::RET_K
    };
    insns.push(CbpfInsn {
        code: ret,
        jt: 0,
        jf: 0,
        k: 1,
    });
    (insns, body.get(used + 1..).unwrap_or(&[]))
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    // SAFETY: geteuid has no preconditions and cannot fail.
    *ROOT.get_or_init(|| unsafe { libc::geteuid() } == 0)
}

fuzz_target!(|data: &[u8]| {
    let (insns, rest) = program(data);
    if cbpf::validate(&insns).is_err() {
        return;
    }
    let code = translate(&insns, Hook::Xdp, Exit::Verdict).expect("valid programs translate");
    if !is_root() {
        return;
    }
    let looping = !cbpf::forward_only(&insns);
    let fd = match prog_load(ProgKind::Xdp, &code, "netcap_fuzz") {
        Ok(fd) => fd,
        // A loop the verifier cannot follow: fail open (the interpreter runs it).
        Err(_) if looping => return,
        Err(e) => panic!("verifier refused a forward-only program {insns:?}: {e}"),
    };
    let mut frame = rest.to_vec();
    frame.resize(frame.len().max(14), 0);
    let want = cbpf::run(&insns, &frame, frame.len() as u32) != 0;
    let got = test_run(fd.as_fd(), &frame, 1).expect("test run").retval;
    match got {
        VERDICT_ACCEPT => assert!(want, "native accepts, reference rejects: {insns:?}"),
        VERDICT_REJECT => assert!(!want, "native rejects, reference accepts: {insns:?}"),
        VERDICT_ERROR if looping => {}
        other => panic!("native returned {other} for {insns:?}"),
    }
});
