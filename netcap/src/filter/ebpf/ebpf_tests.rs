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

#[test]
fn fixed_loads_within_the_bound_read_data_directly_in_the_fast_copy() {
    let prog = [
        i(op::LD_H_ABS, 0, 0, 12),
        i(op::JEQ_K, 0, 3, 0x800),
        i(op::LD_B_ABS, 0, 0, 23),
        i(op::LD_W_ABS, 0, 0, 100),
        i(op::RET_A, 0, 0, 0),
        i(op::RET_K, 0, 0, 0),
    ];
    // [100] is past UPFRONT_MAX: the bound is [23]'s end.
    assert_eq!(upfront_bound(&prog), 24);
    let p = translate(&prog, Hook::Xdp, Exit::Verdict).expect("ok");
    well_formed(&p);
    let direct = |size: u8, off: i16| p.iter().any(|x| *x == ldx(size, R7, R9, off));
    assert!(direct(H, 12) && direct(B, 23), "{p:?}");
    // Both copies load [100] with its own check, and the slow copy [12] too.
    assert!(!direct(W, 100));
    let checks = p
        .iter()
        .filter(|x| x.code == JMP | JGT | X && x.dst() == R4 && x.src() == R3)
        .count();
    assert_eq!(
        checks,
        1 + 1 + 3,
        "the up-front one, the fast copy's [100], the slow copy's three"
    );
}

#[test]
fn programs_with_a_loop_or_no_fixed_load_have_one_copy() {
    let looped = [i(op::LD_B_ABS, 0, 0, 14), i(op::JA, 0, 0, (-2i32) as u32)];
    assert_eq!(upfront_bound(&looped), 0);
    let lengths = [i(op::LD_W_LEN, 0, 0, 0), i(op::RET_A, 0, 0, 0)];
    assert_eq!(upfront_bound(&lengths), 0);
    let far = [i(op::LD_B_ABS, 0, 0, 60), i(op::RET_A, 0, 0, 0)];
    assert_eq!(upfront_bound(&far), 0, "[60] ends past UPFRONT_MAX");
    let p = translate(&far, Hook::Tc, Exit::Verdict).expect("ok");
    assert!(!p.iter().any(|x| x.dst() == R9 || x.src() == R9), "{p:?}");
}
