//! The native filter between the hook halves: the classic program translated to eBPF
//! (`filter/ebpf`), loaded through raw `bpf(2)` ([`super::bpf_sys`]) and put into
//! slot 0 of the hook's program array, with the hook's capture half in slot 1:
//!
//! ```text
//!  netcap_xdp ──tail call──> native filter ──accept, tail call──> netcap_xdp_capture
//!       │ (tail call failed)       │  └─reject: Filtered, XDP_PASS
//!       │                          └─(tail call failed): LostCopy, XDP_PASS
//!       └─> interpreter (FILTER map) ─> capture half
//! ```
//!
//! The hook was loaded with `NATIVE_FILTER = 1`; if anything here fails, its tail call
//! finds an empty slot and the frame goes through the interpreter, so a refusal costs
//! speed, never a frame.
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya::{
    maps::Map,
    programs::{SchedClassifier, Xdp},
    Ebpf,
};
use netcap_common::CbpfInsn;

use super::bpf_sys::{prog_array_set, prog_load, ProgKind};
use crate::filter::ebpf::{translate, Exit, Hook, SLOT_CAPTURE, SLOT_FILTER};

/// Program and map names of a hook in netcap's eBPF object (for TC, the egress hook's;
/// the ingress hook has its own, `capture::tcx::TcHook::names`).
pub fn names(hook: Hook) -> (&'static str, &'static str) {
    match hook {
        Hook::Xdp => ("netcap_xdp_capture", "XDP_PROGS"),
        Hook::Tc => ("netcap_tc_capture", "TC_PROGS"),
    }
}

/// Translates, loads and installs the filter for `hook`. Returns the native program
/// (kept open for its statistics), or why it was not installed.
pub fn install(ebpf: &mut Ebpf, insns: &[CbpfInsn], hook: Hook) -> Result<OwnedFd, String> {
    let (capture_name, progs_name) = names(hook);
    install_into(ebpf, insns, hook, capture_name, progs_name)
}

/// As [`install`], into the program array `progs_name` with the capture half
/// `capture_name` (a program of `hook`'s type).
pub fn install_into(
    ebpf: &mut Ebpf,
    insns: &[CbpfInsn],
    hook: Hook,
    capture_name: &str,
    progs_name: &str,
) -> Result<OwnedFd, String> {
    let counters_fd = match ebpf.map("COUNTERS") {
        Some(Map::PerCpuArray(m)) => m.fd().as_fd().as_raw_fd(),
        _ => return Err("the eBPF object has no COUNTERS per-CPU array".into()),
    };
    let progs_fd = match ebpf.map(progs_name) {
        Some(Map::ProgramArray(m)) => m.fd().as_fd().as_raw_fd(),
        _ => return Err(format!("the eBPF object has no {progs_name} program array")),
    };
    let code = translate(
        insns,
        hook,
        Exit::TailCall {
            counters_fd,
            progs_fd,
        },
    )
    .map_err(|e| e.to_string())?;
    let kind = match hook {
        Hook::Xdp => ProgKind::Xdp,
        Hook::Tc => ProgKind::Tc,
    };
    let native = prog_load(kind, &code, "netcap_filter").map_err(|e| e.to_string())?;
    let program = ebpf
        .program_mut(capture_name)
        .ok_or_else(|| format!("the eBPF object has no {capture_name} program"))?;
    let capture_fd = match hook {
        Hook::Xdp => {
            let p: &mut Xdp = program
                .try_into()
                .map_err(|e| format!("{capture_name}: {e}"))?;
            p.load()
                .map_err(|e| format!("loading {capture_name}: {e}"))?;
            p.fd()
                .map_err(|e| e.to_string())?
                .as_fd()
                .try_clone_to_owned()
        }
        Hook::Tc => {
            let p: &mut SchedClassifier = program
                .try_into()
                .map_err(|e| format!("{capture_name}: {e}"))?;
            p.load()
                .map_err(|e| format!("loading {capture_name}: {e}"))?;
            p.fd()
                .map_err(|e| e.to_string())?
                .as_fd()
                .try_clone_to_owned()
        }
    }
    .map_err(|e| e.to_string())?;
    let progs = match ebpf.map(progs_name) {
        Some(Map::ProgramArray(m)) => m.fd().as_fd(),
        _ => return Err(format!("the eBPF object has no {progs_name} program array")),
    };
    // The capture half first: once the filter is in slot 0, frames reach slot 1.
    prog_array_set(progs, SLOT_CAPTURE, capture_fd.as_fd())
        .map_err(|e| format!("{progs_name}[{SLOT_CAPTURE}] = {capture_name}: {e}"))?;
    prog_array_set(progs, SLOT_FILTER, native.as_fd())
        .map_err(|e| format!("{progs_name}[{SLOT_FILTER}] = native filter: {e}"))?;
    Ok(native)
}

/// The native filters installed so far, and the first refusal (said once on stderr).
#[derive(Default)]
pub(super) struct NativeSetup {
    pub(super) wanted: bool,
    /// The classic program to translate.
    pub(super) filter: Vec<CbpfInsn>,
    pub(super) fds: Vec<OwnedFd>,
    pub(super) failed: Option<String>,
}

impl NativeSetup {
    /// Installs the native filter for `hook` into the program array `progs` with the
    /// capture half `capture`; on failure says so once and leaves the array empty (the
    /// hook's tail call then falls back to the interpreter).
    pub(super) fn install(&mut self, ebpf: &mut Ebpf, hook: Hook, capture: &str, progs: &str) {
        if !self.wanted {
            return;
        }
        match install_into(ebpf, &self.filter, hook, capture, progs) {
            Ok(fd) => self.fds.push(fd),
            Err(e) => {
                if self.failed.is_none() {
                    eprintln!("netcap: native filter refused ({hook:?}: {e}); interpreting it");
                }
                self.failed.get_or_insert(e);
            }
        }
    }
}
