//! Shape checks of the translation; the verdicts themselves are checked in the kernel
//! (`tests/filter_native.rs`, BPF_PROG_TEST_RUN against `cbpf::run`).
use super::*;

fn i(code: u16, jt: u8, jf: u8, k: u32) -> CbpfInsn {
    CbpfInsn { code, jt, jf, k }
}

/// Every jump lands inside the program, and the last instruction is an exit.
fn well_formed(p: &[Insn]) {
    assert_eq!(p.last().map(|i| i.code), Some(JMP | EXIT));
    let mut at = 0;
    while at < p.len() {
        let ins = p[at];
        let class = ins.code & 0x07;
        let op = ins.code & 0xf0;
        if (class == JMP || class == JMP32) && op != CALL && op != EXIT {
            let to = at as i64 + 1 + i64::from(ins.off);
            assert!((0..p.len() as i64).contains(&to), "jump at {at} to {to}");
        }
        at += if ins.code == LD | DW | IMM { 2 } else { 1 };
    }
}

#[test]
fn accept_all_is_a_few_instructions() {
    let p = translate(&[i(op::RET_K, 0, 0, 0x40000)], Hook::Xdp, Exit::Verdict).expect("ok");
    well_formed(&p);
    assert!(p.len() < 12, "{p:?}");
}

#[test]
fn invalid_programs_are_refused() {
    let bad = [i(op::LD_IMM, 0, 0, 1)];
    assert!(matches!(
        translate(&bad, Hook::Tc, Exit::Verdict),
        Err(Error::Invalid { .. })
    ));
    let div0 = [i(op::ALU | op::DIV, 0, 0, 0), i(op::RET_K, 0, 0, 1)];
    assert!(translate(&div0, Hook::Xdp, Exit::Verdict).is_err());
}

#[test]
fn a_backward_jump_goes_through_may_goto() {
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
    for hook in [Hook::Xdp, Hook::Tc] {
        let p = translate(&prog, hook, Exit::Verdict).expect("ok");
        well_formed(&p);
        let may_goto = p
            .iter()
            .position(|i| i.code == JMP | JCOND)
            .expect("may_goto");
        assert!(p[may_goto + 1].off < 0, "followed by the backward jump");
    }
}

#[test]
fn the_tail_call_exit_uses_both_maps() {
    let prog = [i(op::LD_W_LEN, 0, 0, 0), i(op::RET_A, 0, 0, 0)];
    let exit = Exit::TailCall {
        counters_fd: 41,
        progs_fd: 42,
    };
    let p = translate(&prog, Hook::Tc, exit).expect("ok");
    well_formed(&p);
    let maps: Vec<i32> = p
        .iter()
        .filter(|i| i.code == LD | DW | IMM && i.src() == PSEUDO_MAP_FD)
        .map(|i| i.imm)
        .collect();
    assert!(maps.contains(&41) && maps.contains(&42), "{maps:?}");
    assert!(p
        .iter()
        .any(|i| i.code == JMP | CALL && i.imm == HELPER_TAIL_CALL));
}

#[test]
fn loads_use_the_hooks_helper() {
    let prog = [i(op::LD_H_ABS, 0, 0, 12), i(op::RET_A, 0, 0, 0)];
    let xdp = translate(&prog, Hook::Xdp, Exit::Verdict).expect("ok");
    let tc = translate(&prog, Hook::Tc, Exit::Verdict).expect("ok");
    let helpers = |p: &[Insn]| -> Vec<i32> {
        p.iter()
            .filter(|i| i.code == JMP | CALL)
            .map(|i| i.imm)
            .collect()
    };
    assert_eq!(helpers(&xdp), vec![HELPER_XDP_LOAD_BYTES]);
    assert_eq!(helpers(&tc), vec![HELPER_SKB_LOAD_BYTES]);
    assert!(xdp.iter().any(|i| i.code == ALU | END | X && i.imm == 16));
}
