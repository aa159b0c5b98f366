//! Opening a live capture: the backend policy in one place. [`open`] takes a
//! [`CaptureConfig`] (what the user asked for, already validated) and returns the
//! sources to read with a description for the startup line; the caller does not know
//! which backend it got beyond that, nor how many sockets.
//!
//! - `Backend::Auto` is tcx ingress + egress (`--backend tc`) where it can run, else
//!   AF_PACKET. Of the hooks measured (README, "Capture modes";
//!   `docs/bench/default-tc/capture-goal.md`, 5 interleaved runs per row, quiet) tcx
//!   costs the machine least per frame, with `-F none` and with `-w`, at 64, 512 and
//!   1500 bytes from one core and 64 bytes from both, and like AF_PACKET it changes
//!   nothing in the host's traffic. It runs where this process may load BPF programs
//!   (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN), on a kernel with tcx (Linux 6.6) and without
//!   `PREEMPT_RT`, on one Ethernet or loopback interface in netcap's own namespace;
//!   anywhere else, or when attaching fails for another reason (said on stderr), the
//!   capture is AF_PACKET's, which needs CAP_NET_RAW only and works on every device and
//!   kernel. Several interfaces (`-i any`, `--netns`) are read through AF_PACKET, one
//!   socket each; flow accounting too, resolved before this module sees the config
//!   (`cli/config.rs`: the fanout's symmetric hash keeps a conversation in one decoder
//!   thread, the per-CPU rings do not).
//! - AF_PACKET with `sockets > 1` opens a `PACKET_FANOUT` group, one socket per decoder
//!   thread, sharing the `-B` buffer. XDP always writes into one ring per CPU (sharing
//!   `-B`); `sockets` is how many sources read them (each source merges its rings by
//!   timestamp), one per decoder thread.
//! - AF_PACKET sees received frames with their VLAN tag already stripped by the kernel
//!   (the backend puts it back before user space sees the frame). A program compiled
//!   for tagged Ethernet, run on the stripped frame, can match what it should not
//!   (`udp` on a tagged UDP frame) and, for VLAN expressions, miss what it should
//!   match. So on AF_PACKET the program runs again in user space on the restored frame
//!   (`AfPacketConfig::recheck`), and expressions about VLAN/MPLS tags run only there.
//! - XDP sees frames with their tags in place, as a file holds them; tcx puts back a
//!   tag the kernel took out (`netcap-ebpf/src/tc.rs`). Each takes every
//!   frame the device receives, but the device only receives frames for other MACs (a
//!   mirror port) in promiscuous mode, which a membership socket holds for it.
use std::time::Duration;

use netcap_common::CbpfInsn;

use super::{
    af_packet::{AfPacket, AfPacketConfig, Fanout, Promisc, DEFAULT_BLOCK_SIZE},
    multi::{Member, Multi},
    netns::Netns,
    xdp, DirectionFilter, Error, Source,
};
use crate::{filter::Filter, packet::Interfaces};

/// Which kernel hook captures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// tcx where it can run, else AF_PACKET (see the module doc for why).
    #[default]
    Auto,
    /// XDP for received frames and a tcx egress program for sent ones.
    Xdp,
    /// tcx ingress for received frames, tcx egress for sent ones; no XDP.
    Tc,
    AfPacket,
}

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// Native (driver) mode, else generic.
    Auto,
    /// Native (driver) mode: for dedicated capture ports only (see the README).
    Native,
    /// Generic (skb) mode: the host's traffic is delivered as without netcap.
    #[default]
    Generic,
}

/// How the XDP/TC hooks run the filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelFilter {
    /// Translated to eBPF and JIT-compiled by the kernel (`filter/ebpf`); the
    /// interpreter takes over if the translator or the verifier refuses it.
    #[default]
    Native,
    /// The in-kernel classic BPF interpreter (for comparison).
    Interp,
}

/// A live capture to open: everything the backends need, nothing of the command line.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    pub ifname: String,
    pub ifindex: u32,
    pub backend: Backend,
    pub xdp_mode: XdpMode,
    pub direction: DirectionFilter,
    pub promisc: bool,
    /// Kernel buffer (`-B`), KiB.
    pub buffer_kib: u32,
    /// XDP: unread ring bytes that wake the reader (default 1/8 of the ring).
    pub wakeup_bytes: Option<u64>,
    pub snaplen: u32,
    /// The filter expression, as the user wrote it.
    pub expr: Option<String>,
    /// Its program for Ethernet frames; `None` when it takes every frame.
    pub filter: Option<Filter>,
    /// AF_PACKET sockets: more than one form a fanout group (one per decoder thread).
    pub sockets: usize,
    /// AF_PACKET block timeout: how long a frame may wait in a partly filled block.
    pub block_timeout: Duration,
    /// Count flows in the kernel hooks (XDP backend; nothing printed or written).
    pub kernel_flows: Option<crate::flow::FlowConfig>,
    /// XDP backend: how the hooks run the filter.
    pub kernel_filter: KernelFilter,
    /// Every interface to capture on (`ifname`/`ifindex` are the first); more than
    /// one, or one in another namespace, is read through [`super::multi::Multi`].
    pub targets: Vec<Target>,
    /// `-i any`: every interface that is up in each namespace of `netns`, and those that
    /// come up while capturing.
    pub any: bool,
    /// `--netns`, in order; empty: netcap's own.
    pub netns: Vec<Netns>,
    /// Set by [`open_all`] for an interface in another namespace.
    pub in_other_netns: bool,
}

/// One interface to capture on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As printed with its frames: `ns/ifname` when several namespaces are captured.
    pub label: String,
    pub ifname: String,
    pub ifindex: u32,
    pub netns: Option<Netns>,
}

impl CaptureConfig {
    /// True when the capture goes through [`super::multi::Multi`].
    pub fn several(&self) -> bool {
        self.any || self.targets.len() > 1 || self.targets.iter().any(|t| t.netns.is_some())
    }
}

/// What [`open`] returns: the sources, and what was opened in words.
pub struct Opened {
    pub sources: Vec<Box<dyn Source>>,
    /// For the startup line: the hook, its mode and the interface.
    pub description: String,
    /// Holds the interface promiscuous for a backend that does not do it itself.
    pub promisc: Option<Promisc>,
}

/// Opens the capture `cfg` describes; see the module doc for the policy.
pub fn open(cfg: &CaptureConfig) -> Result<Opened, Error> {
    let program: Vec<CbpfInsn> = cfg
        .filter
        .as_ref()
        .map_or(Vec::new(), |f| f.insns().to_vec());
    match cfg.backend {
        Backend::Xdp => open_ebpf(cfg, false, program),
        Backend::Tc => open_ebpf(cfg, true, program),
        Backend::AfPacket => open_af_packet(cfg, &socket_filter(cfg, program)),
        Backend::Auto => match tc_refused_by(cfg) {
            Some(_) => open_af_packet(cfg, &socket_filter(cfg, program)),
            None => open_ebpf(cfg, true, program.clone()).or_else(|e| {
                eprintln!("netcap: tcx capture refused ({e}); capturing with AF_PACKET instead");
                open_af_packet(cfg, &socket_filter(cfg, program))
            }),
        },
    }
}

/// Why `Backend::Auto` does not try tcx for `cfg` (None: it does): the checks that
/// need no attempt, so a user with CAP_NET_RAW alone, or an old kernel, gets AF_PACKET
/// without a word of noise.
pub fn tc_refused_by(cfg: &CaptureConfig) -> Option<&'static str> {
    if cfg.several() {
        return Some("several interfaces");
    }
    let have = super::caps::effective();
    if have.is_none_or(|h| !super::caps::missing(super::caps::BPF_CAPS, h).is_empty()) {
        return Some("no BPF privileges");
    }
    // Promiscuous mode is held by an AF_PACKET socket: without CAP_NET_RAW, AF_PACKET's
    // own refusal names what is missing.
    if cfg.promisc
        && have.is_none_or(|h| !super::caps::missing(super::caps::RAW_CAPS, h).is_empty())
    {
        return Some("no CAP_NET_RAW for promiscuous mode");
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if !kernel_at_least(&release, (6, 6)) {
        return Some("no tcx before Linux 6.6");
    }
    if std::fs::read_to_string("/sys/kernel/realtime").is_ok_and(|s| s.trim() == "1") {
        return Some("PREEMPT_RT");
    }
    let ethernet = super::ifaces::list()
        .unwrap_or_default()
        .into_iter()
        .find(|i| i.index == cfg.ifindex)
        .is_some_and(|i| matches!(i.hw_type, Some(libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK)));
    (!ethernet).then_some("not an Ethernet interface")
}

/// True when a kernel release string (`6.18.44-fc`) is at least `(major, minor)`; an
/// unreadable one is not.
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= want,
        _ => false,
    }
}

/// The classic program for AF_PACKET's socket filter: none for an expression about
/// VLAN or MPLS tags (module doc), which runs in user space only.
fn socket_filter(cfg: &CaptureConfig, program: Vec<CbpfInsn>) -> Vec<CbpfInsn> {
    match &cfg.expr {
        Some(e) if mentions_tags(e) => Vec::new(),
        _ => program,
    }
}

/// Opens the eBPF backend: XDP or (`tc_ingress`) tcx for received frames, tcx egress
/// for sent ones.
fn open_ebpf(
    cfg: &CaptureConfig,
    tc_ingress: bool,
    program: Vec<CbpfInsn>,
) -> Result<Opened, Error> {
    // Each frame on a loopback device passes egress and then ingress: keep the received
    // copy only, as libpcap does, unless sent frames alone were asked for.
    let direction = if cfg.direction == DirectionFilter::Both && is_loopback(cfg.ifindex) {
        DirectionFilter::In
    } else {
        cfg.direction
    };
    let xcfg = xdp::XdpConfig {
        ifname: cfg.ifname.clone(),
        ifindex: cfg.ifindex,
        mode: cfg.xdp_mode,
        tc_ingress,
        direction,
        snaplen: cfg.snaplen,
        ring_bytes: xdp::ring_bytes_for(cfg.buffer_kib),
        // The kernel's flow map is read by one source.
        sources: if cfg.kernel_flows.is_some() {
            1
        } else {
            cfg.sockets.max(1)
        },
        wakeup_bytes: cfg.wakeup_bytes,
        filter: program,
        kernel_flows: cfg.kernel_flows,
        other_netns: cfg.in_other_netns,
        kernel_filter: cfg.kernel_filter,
    };
    // The program first: without privileges, its error names all that is missing.
    let sources = xdp::XdpSource::open(&xcfg)?;
    let promisc = if cfg.promisc {
        Some(Promisc::hold(&cfg.ifname, cfg.ifindex)?)
    } else {
        None
    };
    let what = sources.first().map_or("", |s| s.description.as_str());
    let description = format!("{what} on {}", cfg.ifname);
    Ok(Opened {
        sources: sources
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn Source>)
            .collect(),
        description,
        promisc,
    })
}

fn is_loopback(ifindex: u32) -> bool {
    super::ifaces::list()
        .ok()
        .and_then(|all| all.into_iter().find(|i| i.index == ifindex))
        .is_some_and(|i| i.is_loopback())
}

/// Opens `cfg.sockets` AF_PACKET sockets; more than one form a `PACKET_FANOUT` group
/// and share the `-B` buffer.
fn open_af_packet(cfg: &CaptureConfig, filter: &[CbpfInsn]) -> Result<Opened, Error> {
    let ifname = &cfg.ifname;
    let mut acfg = AfPacketConfig::new(ifname.as_str());
    acfg.ifindex = Some(cfg.ifindex);
    acfg.block_timeout_ms = u32::try_from(cfg.block_timeout.as_millis()).unwrap_or(u32::MAX);
    acfg.snaplen = cfg.snaplen;
    acfg.promisc = cfg.promisc;
    acfg.recheck = cfg.filter.clone();
    let bare_ip = bare_ip_filter(cfg)?;
    let filter = match bare_ip {
        Some(f) if f.accepts_all() => {
            acfg.recheck = None;
            &[][..]
        }
        Some(f) => {
            acfg.recheck = Some(f);
            acfg.recheck.as_ref().map_or(&[][..], Filter::insns)
        }
        None => filter,
    };
    if !filter.is_empty() {
        if crate::filter::cbpf::forward_only(filter) {
            acfg.filter = Some(filter.to_vec());
        } else {
            // The kernel's socket filter refuses backward jumps; the same program runs
            // on every frame in user space instead (the VLAN re-check).
            eprintln!(
                "netcap: this filter loops (protochain), which a socket filter cannot: it \
                 runs in user space on every frame"
            );
        }
    }
    let sockets = cfg.sockets.max(1);
    acfg.buffer_bytes = xdp::ring_bytes_for(cfg.buffer_kib) as usize / sockets;
    acfg.block_size = block_size_for(acfg.buffer_bytes, cfg.snaplen);
    acfg.direction = cfg.direction;
    if sockets > 1 {
        // The first socket makes a group with an id no one else uses; the rest join it.
        acfg.fanout = Some(Fanout::New);
    }
    let mut opened: Vec<Box<dyn Source>> = Vec::with_capacity(sockets);
    let mut ring_bytes = 0;
    for _ in 0..sockets {
        let src = AfPacket::open(acfg.clone())?;
        ring_bytes = src.ring_bytes();
        if acfg.fanout == Some(Fanout::New) {
            let id = src.fanout_id().ok_or_else(|| {
                Error::Unsupported(format!("{ifname}: cannot read back the fanout group id"))
            })?;
            acfg.fanout = Some(Fanout::Join(id));
        }
        opened.push(Box::new(src));
    }
    let description = if sockets > 1 {
        format!(
            "AF_PACKET (TPACKET_V3, fanout by flow hash over {sockets} sockets, {} KiB ring \
             each) on {ifname}",
            ring_bytes / 1024
        )
    } else {
        format!(
            "AF_PACKET (TPACKET_V3, {} KiB ring) on {ifname}",
            ring_bytes / 1024
        )
    };
    Ok(Opened {
        sources: opened,
        description,
        promisc: None,
    })
}

/// The filter again, compiled for bare IP packets (libpcap's `DLT_RAW`), when `cfg`'s
/// interface has no Ethernet header (tun, WireGuard: `ARPHRD_NONE`), whose frames
/// AF_PACKET hands over as the IP packet alone, as tcpdump compiles it for such a
/// device; `None` for an Ethernet interface or no expression (the Ethernet program,
/// compiled with the configuration, is the one to run).
fn bare_ip_filter(cfg: &CaptureConfig) -> Result<Option<Filter>, Error> {
    let Some(expr) = cfg.expr.as_deref() else {
        return Ok(None);
    };
    let bare_ip = super::ifaces::list()
        .unwrap_or_default()
        .into_iter()
        .find(|i| i.index == cfg.ifindex)
        .is_some_and(|i| i.hw_type == Some(libc::ARPHRD_NONE));
    if !bare_ip {
        return Ok(None);
    }
    Filter::compile(expr, crate::packet::LinkType::Raw, cfg.snaplen)
        .map(Some)
        .map_err(|e| Error::Unsupported(format!("{}: {e}", cfg.ifname)))
}

/// Block size for an AF_PACKET ring of `bytes`: about 8 blocks, so that the kernel
/// always has free blocks while user space reads one, within 64 KiB and 1 MiB (the
/// default), and never smaller than a frame of `snaplen` bytes with its headers: the
/// kernel cuts a frame that does not fit in a block (TPACKET_V3 `max_frame_len`), so a
/// 64 KiB GSO frame needs a 128 KiB block and a 256 KiB snap length a 512 KiB one.
fn block_size_for(bytes: usize, snaplen: u32) -> usize {
    let eighth = (bytes / 8).max(1);
    // The largest power of two not above an eighth of the ring.
    let pow2 = 1usize << (usize::BITS - 1 - eighth.leading_zeros());
    // tpacket3_hdr, sockaddr_ll, the MAC alignment and the block descriptor fit in 512.
    let whole_frame = (snaplen as usize + 512).next_power_of_two();
    pow2.clamp(64 * 1024, DEFAULT_BLOCK_SIZE).max(whole_frame)
}

/// True when a filter expression tests VLAN or MPLS tags, which AF_PACKET's in-kernel
/// socket filter cannot see on received frames (the tag was stripped before it runs).
fn mentions_tags(expr: &str) -> bool {
    expr.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("vlan") || w.eq_ignore_ascii_case("mpls"))
}

/// Opens every interface of `cfg`: as [`open`] for one in netcap's own namespace, else
/// one source per interface (a single socket each, no fanout) read as one
/// [`Multi`] source, whose interfaces are added to `interfaces` in order.
pub fn open_all(cfg: &CaptureConfig, interfaces: &Interfaces) -> Result<Opened, Error> {
    if !cfg.several() {
        interfaces.add(&cfg.ifname);
        return open(cfg);
    }
    let mut members = Vec::new();
    let mut hook = String::new();
    for t in &cfg.targets {
        let (m, what) = open_member(cfg, t)?;
        hook = what;
        members.push(m);
    }
    let watch = if cfg.any {
        Some(Box::new(super::any::AnyWatch::new(cfg)?) as Box<dyn super::multi::Watch>)
    } else {
        None
    };
    let names: Vec<String> = members.iter().map(|m| m.name.to_string()).collect();
    let multi = Multi::new(members, interfaces, watch)?;
    let on = if cfg.any {
        format!("any ({})", names.join(", "))
    } else {
        names.join(", ")
    };
    Ok(Opened {
        sources: vec![Box::new(multi)],
        description: format!("{hook} on {on}"),
        promisc: None,
    })
}

/// Opens one interface of several (inside its namespace, if it has one); returns it
/// with the hook's description.
pub(super) fn open_member(cfg: &CaptureConfig, t: &Target) -> Result<(Member, String), Error> {
    let mut one = cfg.clone();
    one.ifname = t.ifname.clone();
    one.ifindex = t.ifindex;
    one.sockets = 1;
    one.in_other_netns = t.netns.is_some();
    let open_here = || -> Result<Opened, Error> {
        // Each frame on a loopback device is sent and received: keep the received
        // copy only, as libpcap does, unless sent frames alone were asked for.
        if one.direction == DirectionFilter::Both && is_loopback(t.ifindex) {
            let mut lo = one.clone();
            lo.direction = DirectionFilter::In;
            return open(&lo);
        }
        open(&one)
    };
    let mut opened = match &t.netns {
        Some(ns) => ns.enter(open_here)??,
        None => open_here()?,
    };
    let source = opened
        .sources
        .pop()
        .ok_or_else(|| Error::Unsupported(format!("{}: no capture source was opened", t.label)))?;
    let hook = opened
        .description
        .strip_suffix(&format!(" on {}", t.ifname))
        .unwrap_or(&opened.description)
        .to_owned();
    Ok((Member::new(&t.label, source, opened.promisc), hook))
}

#[cfg(test)]
mod tests {
    use super::kernel_at_least;

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("6.18.44-fc-v1272\n", (6, 6)));
        assert!(kernel_at_least("6.6.0", (6, 6)));
        assert!(!kernel_at_least("6.5.13-generic", (6, 6)));
        assert!(!kernel_at_least("5.15.0", (6, 6)));
        assert!(kernel_at_least("7.0-rc1", (6, 6)));
        assert!(!kernel_at_least("", (6, 6)));
        assert!(!kernel_at_least("garbage", (6, 6)));
    }
}
