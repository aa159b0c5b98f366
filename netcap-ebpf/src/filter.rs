//! The capture filter in the kernel: a classic BPF interpreter over the program the
//! loader put in `FILTER` (libpcap's output for the user's expression).
//!
//! This is the fallback: by default user space translates the program to eBPF
//! (`netcap/src/filter/ebpf`) and the hook tail-calls it; the interpreter runs when that
//! tail call fails (the kernel refused the translation) or with `--kernel-filter interp`.
//!
//! One classic instruction runs per `bpf_loop` iteration (kernel >= 5.17), so the
//! verifier checks the step function once instead of unrolling a loop of 256 steps
//! with a branch per opcode. The machine (A, X, M[16], pc) lives on the hook's stack
//! and is reached through the loop's context pointer.
//!
//! Semantics match the kernel's socket filters and netcap's user-space reference
//! (`netcap/src/filter/cbpf.rs`): loads are big-endian, a load past the frame or a
//! division by zero rejects the frame, `len` is the frame's wire length. Unconditional
//! jumps may go backwards (libpcap's `protochain` loops over IPv6 extension headers).
//!
//! Fail open: an unknown opcode, a jump outside the program, a missing instruction or
//! an exhausted step budget captures the frame and bumps `FilterError`.
use aya_ebpf::{cty::c_void, helpers::bpf_loop, macros::map, maps::Array, Global};
use netcap_common::{CbpfInsn, Counter, MAX_CBPF_INSNS};

use crate::{bump, Frame};

/// Instructions in `FILTER`; 0 = no filter (accept all). Set by the loader.
#[no_mangle]
static FILTER_LEN: Global<u32> = Global::new(0);

/// The classic BPF program, one `struct sock_filter` per slot; filled by the loader.
#[map]
static FILTER: Array<CbpfInsn> = Array::with_max_entries(MAX_CBPF_INSNS, 0);

/// Most instructions one frame may execute. A forward-only program (all but
/// `protochain`) runs at most `MAX_CBPF_INSNS` steps; a `protochain` loop turns about
/// ten instructions per IPv6 extension header, so this allows hundreds of headers.
const BUDGET: u32 = 8192;

const RUNNING: u32 = 0;
const ACCEPT: u32 = 1;
const REJECT: u32 = 2;
const ERROR: u32 = 3;

/// The machine's state, on the hook's stack; `ctx` first so it is 8-byte aligned (the
/// verifier then keeps its type when the step function reads it back).
#[repr(C)]
struct Machine {
    ctx: *mut c_void,
    a: u32,
    x: u32,
    pc: u32,
    len: u32,
    wire_len: u32,
    state: u32,
    mem: [u32; 16],
}

/// Loads `size` (1, 2 or 4) bytes big-endian at `off`, or `None` past the frame.
#[inline(always)]
fn load<F: Frame>(ctx: *mut c_void, off: u32, size: u32) -> Option<u32> {
    let mut buf = [0u8; 4];
    let dst = buf.as_mut_ptr();
    let rc = match size {
        4 => F::load_at(ctx, off, dst, 4),
        2 => F::load_at(ctx, off, dst, 2),
        _ => F::load_at(ctx, off, dst, 1),
    };
    if rc != 0 {
        return None;
    }
    Some(match size {
        4 => u32::from_be_bytes(buf),
        2 => u32::from(u16::from_be_bytes([buf[0], buf[1]])),
        _ => u32::from(buf[0]),
    })
}

/// Size in bytes of a load, from the `BPF_SIZE` bits.
#[inline(always)]
fn size_of(code: u16) -> u32 {
    match code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        _ => 1,
    }
}

/// Executes one instruction. Sets `m.state` when the program ends.
#[inline(always)]
fn exec<F: Frame>(m: &mut Machine) {
    if m.pc >= m.len {
        m.state = ERROR;
        return;
    }
    let Some(ins) = FILTER.get(m.pc) else {
        m.state = ERROR;
        return;
    };
    let (code, jt, jf, k) = (ins.code, ins.jt, ins.jf, ins.k);
    m.pc += 1;
    let slot = (k & 15) as usize;
    let mut value: Option<u32> = None;
    match code & 0x07 {
        // BPF_LD: A = ...
        0x00 => {
            value = match code & 0xe0 {
                0x00 if code == 0x00 => Some(k),
                0x20 => load::<F>(m.ctx, k, size_of(code)),
                0x40 => {
                    m.x.checked_add(k)
                        .and_then(|o| load::<F>(m.ctx, o, size_of(code)))
                }
                0x60 if code == 0x60 => Some(m.mem[slot]),
                0x80 if code == 0x80 => Some(m.wire_len),
                _ => {
                    m.state = ERROR;
                    return;
                }
            };
        }
        // BPF_LDX: X = ...
        0x01 => {
            let x = match code {
                0x01 => Some(k),
                0x61 => Some(m.mem[slot]),
                0x81 => Some(m.wire_len),
                0xb1 => load::<F>(m.ctx, k, 1).map(|b| (b & 0x0f) << 2),
                _ => {
                    m.state = ERROR;
                    return;
                }
            };
            match x {
                Some(x) => m.x = x,
                None => m.state = REJECT,
            }
            return;
        }
        0x02 if code == 0x02 => m.mem[slot] = m.a,
        0x03 if code == 0x03 => m.mem[slot] = m.x,
        // BPF_ALU
        0x04 => {
            let src = if code & 0x08 != 0 { m.x } else { k };
            let a = m.a;
            value = match code & 0xf0 {
                0x00 => Some(a.wrapping_add(src)),
                0x10 => Some(a.wrapping_sub(src)),
                0x20 => Some(a.wrapping_mul(src)),
                0x30 => a.checked_div(src),
                0x40 => Some(a | src),
                0x50 => Some(a & src),
                0x60 => Some(a.wrapping_shl(src)),
                0x70 => Some(a.wrapping_shr(src)),
                0x80 => Some(a.wrapping_neg()),
                0x90 => a.checked_rem(src),
                0xa0 => Some(a ^ src),
                _ => {
                    m.state = ERROR;
                    return;
                }
            };
        }
        // BPF_JMP
        0x05 => {
            if code == 0x05 {
                // Signed offset: libpcap's protochain jumps backwards.
                m.pc = m.pc.wrapping_add(k);
                return;
            }
            let src = if code & 0x08 != 0 { m.x } else { k };
            let taken = match code & 0xf0 {
                0x10 => m.a == src,
                0x20 => m.a > src,
                0x30 => m.a >= src,
                0x40 => m.a & src != 0,
                _ => {
                    m.state = ERROR;
                    return;
                }
            };
            m.pc += u32::from(if taken { jt } else { jf });
        }
        // BPF_RET
        0x06 => {
            let ret = match code {
                0x06 => k,
                0x16 => m.a,
                _ => {
                    m.state = ERROR;
                    return;
                }
            };
            m.state = if ret != 0 { ACCEPT } else { REJECT };
        }
        // BPF_MISC
        0x07 => match code {
            0x07 => m.x = m.a,
            0x87 => m.a = m.x,
            _ => m.state = ERROR,
        },
        _ => m.state = ERROR,
    }
    if code & 0x07 == 0x00 || code & 0x07 == 0x04 {
        match value {
            Some(v) => m.a = v,
            // Out-of-bounds load, or division by zero: the kernel returns 0.
            None => m.state = REJECT,
        }
    }
}

/// `bpf_loop` callback: one instruction; returns 1 (stop) once the program has ended.
extern "C" fn step<F: Frame>(_index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `Machine` that `accepts` passed to bpf_loop; it lives on
    // that caller's stack for the whole loop and nothing else refers to it meanwhile.
    let m = unsafe { &mut *ctx.cast::<Machine>() };
    exec::<F>(m);
    i64::from(m.state != RUNNING)
}

/// Runs the filter over the frame; true when it is to be captured. Bumps
/// `FilterError` (and captures) when the program cannot be evaluated.
#[inline(always)]
pub fn accepts<F: Frame>(frame: &F, frame_len: u32) -> bool {
    let len = FILTER_LEN.load();
    if len == 0 {
        return true;
    }
    let mut m = Machine {
        ctx: frame.raw(),
        a: 0,
        x: 0,
        pc: 0,
        len,
        wire_len: frame_len,
        state: RUNNING,
        mem: [0; 16],
    };
    // SAFETY: `step::<F>` is a static function of the signature bpf_loop expects, and
    // `m` outlives the call (the helper returns only after the last iteration).
    unsafe {
        bpf_loop(
            BUDGET,
            step::<F> as *mut c_void,
            (&mut m as *mut Machine).cast(),
            0,
        );
    }
    match m.state {
        REJECT => false,
        ACCEPT => true,
        _ => {
            bump(Counter::FilterError);
            true
        }
    }
}
