//! What netcap's kernel programs cost per frame, measured by the kernel: each hook
//! ([`Prog`]: XDP, TC ingress, TC egress) loaded from the embedded object as a capture loads it and run on one
//! buffer with `BPF_PROG_TEST_RUN` ([`Hooked`]), beside a floor ([`floor`]): the
//! smallest program of the same type that reads one packet byte. `cargo xtask bench
//! kernel` runs these (through `netcap/examples/kbench.rs`) and the capture bench
//! attaches the floor to its interface in generic XDP mode ([`attach_floor`]) or at
//! tcx ingress ([`attach_tc_floor`]); the
//! tests of the native filter in its place (`tests/filter_native_hook.rs`) use
//! [`Hooked`] too.
use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
};

use aya::{
    maps::{Array, PerCpuArray, ProgramArray},
    programs::{SchedClassifier, Xdp},
    Ebpf, EbpfLoader,
};
use netcap_common::{omit, CbpfInsn, Counter};

use super::bpf_sys::{self, prog_load, LoadError, ProgKind, TestRun};
use crate::filter::ebpf::{
    insn::{
        alu64_imm, exit, ldx, mov64_imm, mov64_reg, Insn, ADD, B, JGT, JMP, R0, R1, R2, R3, W, X,
    },
    Hook,
};

/// What the hooks return for every frame: `XDP_PASS`, and tcx's "next" (-1) as the
/// kernel hands it back (`u32`).
pub fn pass(hook: Hook) -> u32 {
    match hook {
        Hook::Xdp => 2,
        Hook::Tc => u32::MAX,
    }
}

/// The floor of `hook`: loads `data` and `data_end` from the context, checks that one
/// byte is inside, reads it and returns what netcap's hook returns (8 instructions).
pub fn floor(hook: Hook) -> Result<OwnedFd, LoadError> {
    // Offsets of `data` and `data_end` in `struct xdp_md` and `struct __sk_buff`.
    let (data, end, kind) = match hook {
        Hook::Xdp => (0, 4, ProgKind::Xdp),
        Hook::Tc => (76, 80, ProgKind::Tc),
    };
    let prog: [Insn; 8] = [
        ldx(W, R2, R1, data),
        ldx(W, R3, R1, end),
        mov64_imm(R0, pass(hook) as i32),
        mov64_reg(R1, R2),
        alu64_imm(ADD, R1, 1),
        Insn::new(JMP | JGT | X, R1, R3, 1, 0),
        ldx(B, R1, R2, 0),
        exit(),
    ];
    prog_load(kind, &prog, "netcap_floor")
}

/// The XDP floor attached to `ifindex` in generic mode, for live figures beside
/// netcap's (`kernel.bpf_stats_enabled`): (program, link); detached when both close.
pub fn attach_floor(ifindex: u32) -> Result<(OwnedFd, OwnedFd), String> {
    let prog = floor(Hook::Xdp).map_err(|e| e.to_string())?;
    let link = bpf_sys::xdp_link_generic(prog.as_fd(), ifindex)
        .map_err(|e| format!("attaching the floor to ifindex {ifindex}: {e}"))?;
    Ok((prog, link))
}

/// The TC floor attached first at tcx ingress of `ifindex`: (program, link).
pub fn attach_tc_floor(ifindex: u32) -> Result<(OwnedFd, OwnedFd), String> {
    let prog = floor(Hook::Tc).map_err(|e| e.to_string())?;
    let link = bpf_sys::tcx_ingress_link(prog.as_fd(), ifindex)
        .map_err(|e| format!("attaching the TC floor to ifindex {ifindex}: {e}"))?;
    Ok((prog, link))
}

/// How a loaded hook runs its filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterMode {
    /// Translated to eBPF and tail-called (`capture::native_filter`).
    Native,
    /// The classic-BPF interpreter inside the hook.
    Interp,
}

/// One of netcap's hook programs (the capture's entry points in the eBPF object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prog {
    /// `netcap_xdp`: received frames, the XDP backend.
    Xdp,
    /// `netcap_tc_in`: received frames at tcx ingress, `--backend tc`.
    TcIn,
    /// `netcap_tc`: sent frames at tcx egress, both eBPF backends.
    TcOut,
}

impl Prog {
    /// Every hook program, in the order the bench reports them.
    pub const ALL: [Prog; 3] = [Prog::Xdp, Prog::TcIn, Prog::TcOut];

    /// The program type the hook is (and its native filter is translated for).
    pub fn hook(self) -> Hook {
        match self {
            Prog::Xdp => Hook::Xdp,
            Prog::TcIn | Prog::TcOut => Hook::Tc,
        }
    }

    /// The bench's short name: `xdp`, `tc_in`, `tc` (egress, the name it had first).
    pub fn key(self) -> &'static str {
        match self {
            Prog::Xdp => "xdp",
            Prog::TcIn => "tc_in",
            Prog::TcOut => "tc",
        }
    }

    /// The hook program, its capture half and its program array in the eBPF object.
    pub fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Prog::Xdp => ("netcap_xdp", "netcap_xdp_capture", "XDP_PROGS"),
            Prog::TcIn => super::tcx::TcHook::Ingress.names(),
            Prog::TcOut => super::tcx::TcHook::Egress.names(),
        }
    }

    /// The cases the bench runs on this hook: every one of [`CASES`] and [`PARTS`] but
    /// the frame length helper's on TC (an skb has its length in its context).
    pub fn cases(self) -> impl Iterator<Item = &'static Case> {
        CASES
            .iter()
            .chain(&PARTS)
            .filter(move |c| self.hook() == Hook::Xdp || c.omit != omit::LEN)
    }
}

/// Bytes of the per-CPU rings of a [`Hooked`], shared by all CPUs: 200,000 records of
/// a 64-byte frame (88 bytes each) take 18 MB of one CPU's ring.
const RING_BYTES: u32 = 1 << 27;

/// netcap's object with one hook loaded (snap length `MAX_SNAPLEN`, wake-ups never
/// forced), the classic program `insns` in the interpreter's `FILTER` map and, with
/// [`FilterMode::Native`], the native filter installed between the hook halves.
pub struct Hooked {
    ebpf: Ebpf,
    prog: Prog,
    /// The native filter (closed after `ebpf`, which holds it in the program array).
    _native: Option<OwnedFd>,
}

impl Hooked {
    pub fn load(insns: &[CbpfInsn], prog: Prog, mode: FilterMode) -> Result<Self, String> {
        Self::load_omitting(insns, prog, mode, 0)
    }

    /// As [`Hooked::load`], with the parts `omit` ([`netcap_common::omit`]) left out.
    pub fn load_omitting(
        insns: &[CbpfInsn],
        prog: Prog,
        mode: FilterMode,
        omit: u32,
    ) -> Result<Self, String> {
        let object = super::xdp::EBPF_OBJECT;
        if object.is_empty() {
            return Err("netcap was built without its eBPF object (cargo xtask build)".into());
        }
        let len = u32::try_from(insns.len()).map_err(|e| e.to_string())?;
        let native = !insns.is_empty() && mode == FilterMode::Native;
        let native_flag = u32::from(native);
        let wakeup = 1u64 << 40;
        let plan = super::rings::Plan::new(RING_BYTES, netcap_common::MAX_SNAPLEN)
            .map_err(|e| format!("planning the rings: {e}"))?;
        let mut ebpf = plan
            .load(
                object,
                EbpfLoader::new()
                    .override_global("WAKEUP_BYTES", &wakeup, true)
                    .override_global("FILTER_LEN", &len, true)
                    .override_global("NATIVE_FILTER", &native_flag, true)
                    .override_global("OMIT", &omit, true),
            )
            .map_err(|e| format!("loading the eBPF object: {e}"))?;
        plan.create(&mut ebpf)
            .map_err(|e| format!("creating the rings: {e}"))?;
        let mut filter: Array<_, CbpfInsn> = ebpf
            .map_mut("FILTER")
            .ok_or("no FILTER map")
            .and_then(|m| Array::try_from(m).map_err(|_| "FILTER is not an array"))?;
        for (i, insn) in insns.iter().enumerate() {
            filter
                .set(i as u32, *insn, 0)
                .map_err(|e| format!("FILTER[{i}]: {e}"))?;
        }
        let (name, capture, progs) = prog.names();
        let program = ebpf.program_mut(name).ok_or("no hook program")?;
        match prog.hook() {
            Hook::Xdp => {
                let p: &mut Xdp = program.try_into().map_err(|e| format!("{name}: {e}"))?;
                p.load().map_err(|e| format!("loading {name}: {e}"))?;
            }
            Hook::Tc => {
                let p: &mut SchedClassifier =
                    program.try_into().map_err(|e| format!("{name}: {e}"))?;
                p.load().map_err(|e| format!("loading {name}: {e}"))?;
            }
        }
        let native = if native {
            Some(super::native_filter::install_into(
                &mut ebpf,
                insns,
                prog.hook(),
                capture,
                progs,
            )?)
        } else {
            None
        };
        Ok(Self {
            ebpf,
            prog,
            _native: native,
        })
    }

    /// The hook program's descriptor.
    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        let (name, _, _) = self.prog.names();
        let program = self
            .ebpf
            .program(name)
            .ok_or_else(|| io::Error::other(format!("no {name} program")))?;
        let fd = match self.prog.hook() {
            Hook::Xdp => <&Xdp>::try_from(program).and_then(|p| p.fd()),
            Hook::Tc => <&SchedClassifier>::try_from(program).and_then(|p| p.fd()),
        };
        fd.map(|f| f.as_fd()).map_err(io::Error::other)
    }

    /// Runs the hook `repeat` times on a copy of `frame`.
    pub fn run(&self, frame: &[u8], repeat: u32) -> io::Result<TestRun> {
        bpf_sys::test_run(self.fd()?, frame, repeat)
    }

    /// `counter` summed over the CPUs.
    pub fn counter(&self, counter: Counter) -> io::Result<u64> {
        let map = self
            .ebpf
            .map("COUNTERS")
            .ok_or_else(|| io::Error::other("no COUNTERS map"))?;
        let counters: PerCpuArray<_, u64> = PerCpuArray::try_from(map).map_err(io::Error::other)?;
        let values = counters
            .get(&(counter as u32), 0)
            .map_err(io::Error::other)?;
        Ok(values.iter().sum())
    }
}

impl Hooked {
    /// Empties `slot` of the hook's program array ([`crate::filter::ebpf::SLOT_FILTER`],
    /// [`crate::filter::ebpf::SLOT_CAPTURE`]), so the tail call into it fails: for the
    /// tests of what a frame ends in then.
    pub fn clear_slot(&mut self, slot: u32) -> Result<(), String> {
        let (_, _, progs) = self.prog.names();
        let map = self.ebpf.map_mut(progs).ok_or("no program array")?;
        let mut array = ProgramArray::try_from(map).map_err(|e| format!("{progs}: {e}"))?;
        array
            .clear_index(&slot)
            .map_err(|e| format!("{progs}[{slot}]: {e}"))
    }

    /// Frames the hook saw: the sum of the end counters ([`netcap_common::seen`]).
    pub fn seen(&self) -> io::Result<u64> {
        let mut err = None;
        let n = netcap_common::seen(|c| {
            self.counter(c).unwrap_or_else(|e| {
                err = Some(e);
                0
            })
        });
        err.map_or(Ok(n), Err)
    }
}

/// A 64-byte UDP/IPv4 frame from 10.0.0.1:`sport` to 10.0.0.2:`dport`.
pub fn udp_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&30u16.to_be_bytes());
    f
}

/// One program the kernel bench measures on each hook.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    /// The filter expression; empty for none.
    pub expr: &'static str,
    /// `None`: the floor program, not netcap's.
    pub mode: Option<FilterMode>,
    /// Parts of the hook left out ([`netcap_common::omit`]); 0 for the real program.
    pub omit: u32,
}

/// The 99%-rejecting filter of issue 14 (the capture bench's keeps 1% of its ports);
/// [`bench_frame`] is outside its range.
pub const REJECTING: &str = "udp src portrange 1024-1663";
/// The 20-instruction filter of issue 14 that accepts [`bench_frame`].
pub const ACCEPTING: &str = "tcp port 443 or (udp and not port 53)";

/// Compiles to one `ret #262144`: a native filter with no code of its own, so what it
/// adds to "no filter" is the two tail calls (hook to filter, filter to capture half).
pub const ACCEPT_ALL: &str = "1 = 1";

/// Every case, floor first.
pub const CASES: [Case; 7] = [
    Case {
        name: "floor (1 byte read)",
        expr: "",
        mode: None,
        omit: 0,
    },
    Case {
        name: "no filter",
        expr: "",
        mode: Some(FilterMode::Native),
        omit: 0,
    },
    Case {
        name: "rejects",
        expr: REJECTING,
        mode: Some(FilterMode::Native),
        omit: 0,
    },
    Case {
        name: "rejects",
        expr: REJECTING,
        mode: Some(FilterMode::Interp),
        omit: 0,
    },
    Case {
        name: "accepts",
        expr: ACCEPTING,
        mode: Some(FilterMode::Native),
        omit: 0,
    },
    Case {
        name: "accepts",
        expr: ACCEPTING,
        mode: Some(FilterMode::Interp),
        omit: 0,
    },
    Case {
        name: "accepts all (tail calls only)",
        expr: ACCEPT_ALL,
        mode: Some(FilterMode::Native),
        omit: 0,
    },
];

/// The capture half with no filter, each part left out in turn: what the part costs is
/// the difference to "no filter" ([`CASES`]).
pub const PARTS: [Case; 7] = [
    part("without the timestamp", omit::TIMESTAMP),
    part("without the copy", omit::COPY),
    part("without the wake-up decision", omit::QUERY),
    part("without the counter bumps", omit::COUNTERS),
    part("without the CPU number", omit::CPU),
    part("without the frame length helper", omit::LEN),
    part("without the record", omit::RECORD),
];

const fn part(name: &'static str, omit: u32) -> Case {
    Case {
        name,
        expr: "",
        mode: Some(FilterMode::Native),
        omit,
    }
}

/// The bench's frame: 64-byte UDP/IPv4, 10.0.0.1:5000 -> 10.0.0.2:9999.
pub fn bench_frame() -> Vec<u8> {
    udp_frame(5000, 9999)
}

/// Loads `case` for `prog` afresh (empty rings, zero counters), runs it `repeat` times
/// on [`bench_frame`] and returns the kernel's average ns per run. Checks itself: the
/// hook lets the frame pass, and the counters say that every run was seen and ended
/// where the user-space filter (`Filter::matches`) says, captured or filtered, none lost.
pub fn measure(prog: Prog, case: &Case, repeat: u32) -> Result<u32, String> {
    let hook = prog.hook();
    let frame = bench_frame();
    let Some(mode) = case.mode else {
        let fd = floor(hook).map_err(|e| e.to_string())?;
        let r = bpf_sys::test_run(fd.as_fd(), &frame, repeat).map_err(|e| e.to_string())?;
        if r.retval != pass(hook) {
            return Err(format!("the floor returned {}", r.retval));
        }
        return Ok(r.duration_ns);
    };
    let (insns, accepts) = if case.expr.is_empty() {
        (Vec::new(), true)
    } else {
        let f = crate::filter::Filter::compile(case.expr, crate::packet::LinkType::Ethernet, 65535)
            .map_err(|e| format!("{}: {e}", case.expr))?;
        let accepts = f.matches(&frame, frame.len() as u32);
        (f.insns().to_vec(), accepts)
    };
    let hooked = Hooked::load_omitting(&insns, prog, mode, case.omit)?;
    let r = hooked.run(&frame, repeat).map_err(|e| e.to_string())?;
    if r.retval != pass(hook) {
        return Err(format!("{prog:?} returned {}", r.retval));
    }
    let count = |c| hooked.counter(c).map_err(|e| e.to_string());
    let n = u64::from(repeat);
    let got = [
        hooked.seen().map_err(|e| e.to_string())?,
        count(Counter::Captured)?,
        count(Counter::Filtered)?,
        count(Counter::LostRingFull)? + count(Counter::LostCopy)?,
    ];
    let want = if case.omit & omit::COUNTERS != 0 {
        [0; 4]
    } else if accepts {
        [n, n, 0, 0]
    } else {
        [n, 0, n, 0]
    };
    if got != want {
        return Err(format!(
            "{prog:?} {}: [seen, captured, filtered, lost] = {got:?}, expected {want:?}",
            case.name
        ));
    }
    Ok(r.duration_ns)
}
