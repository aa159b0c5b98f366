//! Attaching netcap's TC programs with tcx (Linux 6.6): `netcap_tc` on egress (both
//! eBPF backends) and `netcap_tc_in` on ingress (`--backend tc`).
//!
//! Each is attached **first** in its tcx chain (`BPF_F_BEFORE` with no anchor), so a
//! program already there that drops or redirects a frame does not hide it from the
//! capture (AF_PACKET too sees received frames before tc). tcx runs before the legacy
//! clsact filters, so those cannot hide frames either. netcap's programs always return
//! `TCX_NEXT`, so whatever was attached before decides as it did without netcap. A
//! program attached first after netcap runs before it; netcap cannot prevent that.
use aya::{
    programs::{
        links::LinkOrder,
        tc::{TcAttachOptions, TcAttachType},
        SchedClassifier,
    },
    Ebpf,
};

use super::{error::Error, native_filter::NativeSetup};
use crate::filter::ebpf::Hook;

/// Which tcx hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcHook {
    Ingress,
    Egress,
}

impl TcHook {
    /// The hook program, its capture half and its program array in the eBPF object.
    pub fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            TcHook::Ingress => ("netcap_tc_in", "netcap_tc_in_capture", "TC_IN_PROGS"),
            TcHook::Egress => ("netcap_tc", "netcap_tc_capture", "TC_PROGS"),
        }
    }

    fn attach_type(self) -> TcAttachType {
        match self {
            TcHook::Ingress => TcAttachType::Ingress,
            TcHook::Egress => TcAttachType::Egress,
        }
    }

    fn what(self) -> &'static str {
        match self {
            TcHook::Ingress => "ingress",
            TcHook::Egress => "egress",
        }
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut SchedClassifier, Error> {
    ebpf.program_mut(name)
        .ok_or_else(|| Error::Unsupported(format!("eBPF object has no {name} program")))?
        .try_into()
        .map_err(|e| Error::bpf(format!("taking {name} as a TC program"), e))
}

/// Loads the program of `hook`, installs the native filter for it (if one is wanted)
/// and attaches it first on `ifname`; returns its description for the startup line.
pub(super) fn attach(
    ebpf: &mut Ebpf,
    ifname: &str,
    hook: TcHook,
    native: &mut NativeSetup,
) -> Result<String, Error> {
    let (name, capture, progs) = hook.names();
    program(ebpf, name)?
        .load()
        .map_err(|e| Error::bpf(format!("loading {name}"), e))?;
    native.install(ebpf, Hook::Tc, capture, progs);
    program(ebpf, name)?
        .attach_with_options(
            ifname,
            hook.attach_type(),
            TcAttachOptions::TcxOrder(LinkOrder::first()),
        )
        .map_err(|e| {
            let what = format!("attaching the TC {} program to {ifname}", hook.what());
            Error::bpf(what, e)
        })?;
    Ok(format!("TC {} (tcx, first)", hook.what()))
}
