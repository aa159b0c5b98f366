//! Attaching `netcap_xdp` (the XDP backend's ingress hook) in the mode asked for, and
//! naming the XDP program in the way when the interface already has one.
use aya::{
    programs::{Xdp, XdpMode as AyaXdpMode},
    Ebpf,
};

use super::{error::Error, native_filter::NativeSetup, xdp::XdpConfig, XdpMode};
use crate::filter::ebpf::Hook;

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, Error> {
    ebpf.program_mut("netcap_xdp")
        .ok_or_else(|| Error::Unsupported("eBPF object has no netcap_xdp program".into()))?
        .try_into()
        .map_err(|e| Error::bpf("taking netcap_xdp as an XDP program", e))
}

/// Loads `netcap_xdp`, installs the native filter for it (if one is wanted) and
/// attaches it to `cfg.ifindex` in `cfg.mode`; returns its description.
pub(super) fn attach(
    ebpf: &mut Ebpf,
    cfg: &XdpConfig,
    native: &mut NativeSetup,
) -> Result<String, Error> {
    program(ebpf)?
        .load()
        .map_err(|e| Error::bpf("loading the BPF program", e))?;
    let (capture, progs) = super::native_filter::names(Hook::Xdp);
    native.install(ebpf, Hook::Xdp, capture, progs);
    let prog = program(ebpf)?;
    let modes: &[(AyaXdpMode, &str)] = match cfg.mode {
        XdpMode::Auto => &[(AyaXdpMode::Driver, "native"), (AyaXdpMode::Skb, "generic")],
        XdpMode::Native => &[(AyaXdpMode::Driver, "native")],
        XdpMode::Generic => &[(AyaXdpMode::Skb, "generic")],
    };
    let mut last_err = None;
    for &(mode, name) in modes {
        match prog.attach_to_if_index(cfg.ifindex, mode) {
            Ok(_) => return Ok(format!("XDP ({name} mode)")),
            Err(e) => last_err = Some((name, e)),
        }
    }
    let Some((name, e)) = last_err else {
        return Err(Error::Unsupported("no XDP mode to attach in".into()));
    };
    Err(match existing_xdp_program(&cfg.ifname) {
        Some(existing) => Error::Unsupported(format!(
            "{} already has an XDP program ({existing}); netcap never replaces it (use \
             --backend afpacket or tc)",
            cfg.ifname
        )),
        None => Error::bpf(format!("attaching XDP ({name} mode) to {}", cfg.ifname), e),
    })
}

/// Where iproute2's `ip` may live, in the order tried. Never looked up through `PATH`:
/// netcap runs as root, and a `PATH` entry the user controls would run their `ip`.
const IP_PATHS: [&str; 4] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];

/// Names the XDP program already on `ifname`, from `ip -d -j link show`.
fn existing_xdp_program(ifname: &str) -> Option<String> {
    let ip = IP_PATHS
        .iter()
        .find(|p| std::path::Path::new(p).is_file())?;
    let out = std::process::Command::new(ip)
        .args(["-d", "-j", "link", "show", "dev", ifname])
        .output()
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let xdp = json.get(0)?.get("xdp")?;
    let prog = xdp.get("prog").or_else(|| xdp.get("attached")?.get(0));
    let id = prog
        .and_then(|p| p.get("id"))
        .map(|v| v.to_string())
        .unwrap_or_default();
    let name = prog
        .and_then(|p| p.get("name"))
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_owned();
    Some(format!("id {id}, name {name}"))
}
