//! The capture floors, for the live benches: the least a capture that timestamps every
//! frame and hands it to user space can cost, built from the one-byte-read floor
//! ([`super::kbench::floor`]) by hand-assembled eBPF (loaded by raw `bpf(2)`, like
//! [`super::flow_floor`]), for generic XDP and for tcx ingress:
//!
//! - [`Variant::Clock`]: the floor plus one `bpf_ktime_get_ns`, its result stored on
//!   the stack (neither the verifier nor the JIT removes a helper call or a store);
//! - [`Variant::Record`]: that plus the least record a capture must write: the
//!   timestamp, the frame's length and its first [`SNAP`] bytes (`bpf_xdp_load_bytes` /
//!   `bpf_skb_load_bytes`), into this CPU's single-producer ring in an mmapable array
//!   (the layout of netcap's own rings, `netcap_common::ring`: a control page with the
//!   producer position at 0 and the consumer's at 128, then the data area), the
//!   producer position stored with release after the record. No counters but a lost
//!   count on a full ring (or a failed copy), no wake-ups, no filter, no interface or
//!   direction in the record. User space reads the rings with
//!   [`super::capture_floor_reader`], counting the records or also writing them as
//!   pcap records.
//!
//! The wire length comes from `bpf_xdp_get_buff_len` (XDP: the program is declared
//! with `frags`, as netcap's, so a frame may have fragments) or `skb->len` (tcx), the
//! same sources netcap uses. Records are 8-byte aligned: a 16-byte header (`ts_ns`
//! u64, `len` u32, `cap` u32) and `cap` bytes, padded.
//!
//! `cargo xtask bench kernel-live` and the capture bench attach these through
//! `kbench attach-capture-floor`; `tests/capture_floor.rs` checks that every variant
//! loads, and that the reader reads exactly the frames sent.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::bpf_sys::{
    array_map_create_flags, prog_load, tcx_ingress_link, xdp_link_generic, ProgKind, BPF_F_MMAPABLE,
};
use super::kbench::pass;
use crate::filter::ebpf::{
    insn::{
        alu64_imm, alu64_reg, call, exit, ld_map_fd, ldx, mov64_imm, mov64_reg, stx, Insn, ADD,
        AND, B, DW, FP, HELPER_MAP_LOOKUP_ELEM, HELPER_SKB_LOAD_BYTES, HELPER_XDP_GET_BUFF_LEN,
        HELPER_XDP_LOAD_BYTES, JEQ, JGT, JLE, JMP, JNE, K, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9,
        STX, SUB, W, X,
    },
    Hook,
};

/// Frame bytes each record keeps (a snap length of 64).
pub const SNAP: u32 = 64;
/// Bytes of a record's header: `ts_ns` (u64), `len` (u32), `cap` (u32).
pub const HEADER: u32 = 16;
/// Offset of the producer position in a ring's control page (as netcap's rings).
pub const PRODUCER: usize = 0;
/// Offset of the count of frames lost to a full ring, written by the program only.
pub const LOST_FULL: usize = 64;
/// Offset of the count of frames whose copy failed, written by the program only.
pub const LOST_COPY: usize = 72;
/// Offset of the consumer position (its own 128-byte pair of lines).
pub const CONSUMER: usize = 128;
/// Offset of the data area: one page.
pub const DATA: usize = 4096;

const HELPER_KTIME_GET_NS: i32 = 5;
/// `BPF_JSLT`: signed `<`.
const JSLT: u8 = 0xc0;
const HELPER_GET_SMP_PROCESSOR_ID: i32 = 8;
/// `BPF_ATOMIC` mode and its load-acquire / store-release operations (Linux 6.15).
const ATOMIC: u8 = 0xc0;
const LOAD_ACQ: i32 = 0x100;
const STORE_REL: i32 = 0x110;

/// Ring bytes a record of `cap` frame bytes takes.
pub const fn record_span(cap: u32) -> u32 {
    (HEADER + cap + 7) & !7
}

/// Bytes of one ring element for a data area of `size` bytes: the control page, the
/// data and a slack of one largest record (a record starting near the end runs on into
/// it), rounded up to a page.
pub const fn value_size(size: u32) -> u32 {
    let raw = DATA as u32 + size + record_span(SNAP);
    raw.div_ceil(DATA as u32) * DATA as u32
}

/// What the floor program does beyond the one-byte read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// One clock read, stored.
    Clock,
    /// The clock read and the record into this CPU's ring.
    Record,
}

/// Which program, on which hook: its name as bpf_stats and bpftool show it.
pub fn prog_name(hook: Hook, variant: Variant) -> &'static str {
    match (hook, variant) {
        (Hook::Xdp, Variant::Clock) => "capfloor_clock",
        (Hook::Xdp, Variant::Record) => "capfloor_rec",
        (Hook::Tc, Variant::Clock) => "capfloor_tclock",
        (Hook::Tc, Variant::Record) => "capfloor_trec",
    }
}

/// A forward jump to a label, patched by [`Asm::finish`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Pass,
    Full,
    CopyFailed,
}

/// Instructions with forward jumps to [`Label`]s.
struct Asm {
    p: Vec<Insn>,
    jumps: Vec<(usize, Label)>,
}

impl Asm {
    fn jump(&mut self, mut insn: Insn, to: Label) {
        insn.off = 0;
        self.jumps.push((self.p.len(), to));
        self.p.push(insn);
    }

    /// `*(u64 *)(r8 + at) += 1` and on to the end.
    fn count_at(&mut self, at: usize) {
        self.p.extend([
            ldx(DW, R1, R8, at as i16),
            alu64_imm(ADD, R1, 1),
            stx(DW, R8, R1, at as i16),
        ]);
        self.jump(Insn::new(JMP, 0, 0, 0, 0), Label::Pass);
    }

    /// Appends the labelled tails (`Full`, `CopyFailed` when used; `Pass`) and patches
    /// every jump.
    fn finish(mut self, hook: Hook) -> Vec<Insn> {
        let mut at = Vec::new();
        for (label, counter) in [(Label::Full, LOST_FULL), (Label::CopyFailed, LOST_COPY)] {
            if self.jumps.iter().any(|&(_, l)| l == label) {
                at.push((label, self.p.len()));
                self.count_at(counter);
            }
        }
        at.push((Label::Pass, self.p.len()));
        self.p.extend([mov64_imm(R0, pass(hook) as i32), exit()]);
        for &(i, label) in &self.jumps {
            if let Some(&(_, target)) = at.iter().find(|(l, _)| *l == label) {
                self.p[i].off = (target - i - 1) as i16;
            }
        }
        self.p
    }
}

/// The program of `variant` on `hook`; `ring` is the rings' map descriptor and `size`
/// the bytes of each ring's data area (a power of two) for [`Variant::Record`].
pub fn program(hook: Hook, variant: Variant, ring: i32, size: u32) -> Vec<Insn> {
    // Offsets of `data` and `data_end` in `struct xdp_md` and `struct __sk_buff`.
    let (data, end) = match hook {
        Hook::Xdp => (0, 4),
        Hook::Tc => (76, 80),
    };
    let mut a = Asm {
        p: vec![
            mov64_reg(R6, R1),
            ldx(W, R2, R6, data),
            ldx(W, R3, R6, end),
            mov64_reg(R1, R2),
            alu64_imm(ADD, R1, 1),
        ],
        jumps: Vec::new(),
    };
    a.jump(Insn::new(JMP | JGT | X, R1, R3, 0, 0), Label::Pass);
    a.p.extend([ldx(B, R1, R2, 0), call(HELPER_KTIME_GET_NS)]);
    if variant == Variant::Clock {
        a.p.push(stx(DW, FP, R0, -8));
        return a.finish(hook);
    }
    a.p.extend([
        mov64_reg(R7, R0), // the timestamp
        call(HELPER_GET_SMP_PROCESSOR_ID),
        stx(W, FP, R0, -4),
    ]);
    a.p.extend(ld_map_fd(R1, ring));
    a.p.extend([
        mov64_reg(R2, FP),
        alu64_imm(ADD, R2, -4),
        call(HELPER_MAP_LOOKUP_ELEM),
    ]);
    a.jump(Insn::new(JMP | JEQ | K, R0, 0, 0, 0), Label::Pass);
    a.p.push(mov64_reg(R8, R0)); // this CPU's ring
    match hook {
        Hook::Xdp => a.p.extend([
            mov64_reg(R1, R6),
            call(HELPER_XDP_GET_BUFF_LEN),
            mov64_reg(R9, R0),
        ]),
        Hook::Tc => a.p.push(ldx(W, R9, R6, 0)), // skb->len
    }
    a.p.extend([
        ldx(DW, R1, R8, PRODUCER as i16), // written by this program only
        // The consumer position, with acquire: the space it hands back was read.
        Insn::new(STX | ATOMIC | DW, R2, R8, CONSUMER as i16, LOAD_ACQ),
        mov64_reg(R4, R9),
        Insn::new(JMP | JLE | K, R4, 0, 1, SNAP as i32),
        mov64_imm(R4, SNAP as i32),
    ]);
    // The verifier must see 1 <= cap <= SNAP on the register the helper gets.
    a.jump(Insn::new(JMP | JSLT | K, R4, 0, 0, 1), Label::Pass);
    a.p.extend([
        mov64_reg(R5, R4),
        alu64_imm(ADD, R5, (HEADER + 7) as i32),
        alu64_imm(AND, R5, -8), // the record's span
        mov64_reg(R3, R1),
        alu64_reg(SUB, R3, R2), // unread bytes
        alu64_reg(ADD, R3, R5),
    ]);
    a.jump(Insn::new(JMP | JGT | K, R3, 0, 0, size as i32), Label::Full);
    a.p.extend([
        mov64_reg(R2, R1),
        alu64_imm(AND, R2, ((size - 1) & !7) as i32),
        mov64_reg(R3, R8),
        alu64_reg(ADD, R3, R2),
        alu64_imm(ADD, R3, DATA as i32), // the record
        stx(DW, R3, R7, 0),
        stx(W, R3, R9, 8),
        stx(W, R3, R4, 12),
        mov64_reg(R9, R1),
        alu64_reg(ADD, R9, R5), // the producer position after the record
        mov64_reg(R1, R6),
        mov64_imm(R2, 0),
        alu64_imm(ADD, R3, HEADER as i32),
        call(match hook {
            Hook::Xdp => HELPER_XDP_LOAD_BYTES,
            Hook::Tc => HELPER_SKB_LOAD_BYTES,
        }),
    ]);
    a.jump(Insn::new(JMP | JNE | K, R0, 0, 0, 0), Label::CopyFailed);
    // Published: every store above is visible before the new position.
    a.p.push(Insn::new(
        STX | ATOMIC | DW,
        R8,
        R9,
        PRODUCER as i16,
        STORE_REL,
    ));
    a.jump(Insn::new(JMP, 0, 0, 0, 0), Label::Pass); // over the lost counts
    a.finish(hook)
}

/// A capture floor, loaded: its program and, for [`Variant::Record`], its rings.
pub struct CaptureFloor {
    pub hook: Hook,
    pub variant: Variant,
    /// Closed before the rings (field order); the program holds a reference anyway.
    prog: OwnedFd,
    rings: Option<OwnedFd>,
    /// Rings (one per possible CPU) and the bytes of each one's data area.
    pub cpus: u32,
    pub size: u32,
}

impl CaptureFloor {
    /// Loads the floor of `variant` for `hook`, with rings of `size` data bytes each
    /// (a power of two, at least a page) for [`Variant::Record`].
    pub fn new(hook: Hook, variant: Variant, size: u32) -> Result<Self, String> {
        if !size.is_power_of_two() || size < DATA as u32 || size > 1 << 30 {
            return Err(format!(
                "ring of {size} bytes: a power of two from 4 KiB to 1 GiB"
            ));
        }
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| format!("{what}: {e}"))? as u32;
        let rings = match variant {
            Variant::Clock => None,
            Variant::Record => Some(
                array_map_create_flags(value_size(size), cpus, BPF_F_MMAPABLE)
                    .map_err(|e| format!("creating {cpus} rings of {size} bytes: {e}"))?,
            ),
        };
        let fd = rings.as_ref().map_or(-1, |r| r.as_raw_fd());
        let kind = match hook {
            Hook::Xdp => ProgKind::Xdp,
            Hook::Tc => ProgKind::Tc,
        };
        let prog = prog_load(
            kind,
            &program(hook, variant, fd, size),
            prog_name(hook, variant),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            hook,
            variant,
            prog,
            rings,
            cpus,
            size,
        })
    }

    /// The program's descriptor (for `BPF_PROG_TEST_RUN` and its bpf_stats).
    pub fn prog(&self) -> BorrowedFd<'_> {
        self.prog.as_fd()
    }

    /// The rings' array map ([`Variant::Record`]).
    pub fn rings(&self) -> Option<BorrowedFd<'_>> {
        self.rings.as_ref().map(|r| r.as_fd())
    }

    /// Attaches the program to `ifindex`: generic XDP, or first at tcx ingress;
    /// detached when the returned link closes.
    pub fn attach(&self, ifindex: u32) -> Result<OwnedFd, String> {
        let link = match self.hook {
            Hook::Xdp => xdp_link_generic(self.prog(), ifindex),
            Hook::Tc => tcx_ingress_link(self.prog(), ifindex),
        };
        link.map_err(|e| format!("attaching the capture floor to ifindex {ifindex}: {e}"))
    }
}
