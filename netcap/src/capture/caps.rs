//! Linux capabilities: which ones a hook needs, which ones this process holds (its
//! effective set, from `/proc/self/status`), and the plain sentence a refusal is told
//! with. The kernel's own checks decide (an `EPERM`/`EACCES` from the call, see
//! `error.rs`); this only names what was missing, so the user can grant exactly that.
use std::fmt;

/// A capability netcap can need, numbered as in `linux/capability.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    SetGid = 6,
    SetUid = 7,
    NetAdmin = 12,
    NetRaw = 13,
    SysAdmin = 21,
    Perfmon = 38,
    Bpf = 39,
}

impl Cap {
    pub fn name(self) -> &'static str {
        match self {
            Self::SetGid => "CAP_SETGID",
            Self::SetUid => "CAP_SETUID",
            Self::NetAdmin => "CAP_NET_ADMIN",
            Self::NetRaw => "CAP_NET_RAW",
            Self::SysAdmin => "CAP_SYS_ADMIN",
            Self::Perfmon => "CAP_PERFMON",
            Self::Bpf => "CAP_BPF",
        }
    }
}

/// Loading the XDP and tcx programs and attaching them: without CAP_PERFMON the
/// verifier refuses the programs' pointer arithmetic (Linux 5.8+ split these out of
/// CAP_SYS_ADMIN, which still stands for CAP_BPF and CAP_PERFMON).
pub const BPF_CAPS: &[Cap] = &[Cap::Bpf, Cap::Perfmon, Cap::NetAdmin];
/// An AF_PACKET socket (the AF_PACKET backend, and promiscuous mode for XDP).
pub const RAW_CAPS: &[Cap] = &[Cap::NetRaw];

/// What a refused step needed; [`fmt::Display`] gives the sentence, naming what this
/// process lacks and the way around it, if there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// The eBPF programs (XDP backend).
    Bpf,
    /// An AF_PACKET socket for the AF_PACKET backend.
    Raw,
    /// The AF_PACKET socket that holds promiscuous mode for the XDP backend.
    RawPromisc,
    /// Entering another network namespace (`--netns`).
    Netns,
}

impl Needs {
    pub fn caps(self) -> &'static [Cap] {
        match self {
            Self::Bpf => BPF_CAPS,
            Self::Raw | Self::RawPromisc => RAW_CAPS,
            Self::Netns => &[Cap::SysAdmin],
        }
    }
}

/// The effective capability set of this process, from `/proc/self/status`.
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The capabilities of `needed` missing from the set `have` (CAP_SYS_ADMIN standing
/// for CAP_BPF and CAP_PERFMON, as the kernel's `bpf_capable`/`perfmon_capable`).
pub fn missing(needed: &[Cap], have: u64) -> Vec<Cap> {
    let held = |c: Cap| have & (1u64 << c as u32) != 0;
    needed
        .iter()
        .copied()
        .filter(|&c| {
            let stands_in = matches!(c, Cap::Bpf | Cap::Perfmon) && held(Cap::SysAdmin);
            !held(c) && !stands_in
        })
        .collect()
}

/// `A, B and C`.
pub fn names(caps: &[Cap]) -> String {
    let n: Vec<&str> = caps.iter().map(|c| c.name()).collect();
    match n.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

impl Needs {
    /// The sentence for a process holding `have` (None: unknown).
    pub fn explain(self, have: Option<u64>) -> String {
        let mut s = format!("needs {} (or root)", names(self.caps()));
        let lacks = |caps: &[Cap]| have.map(|h| missing(caps, h));
        if let Some(m) = lacks(self.caps()).filter(|m| !m.is_empty()) {
            s.push_str(&format!("; this process lacks {}", names(&m)));
        }
        let fallback = match self {
            Self::Bpf => match lacks(RAW_CAPS) {
                Some(m) if m.is_empty() => {
                    " (--backend afpacket needs only CAP_NET_RAW, which this process has)".into()
                }
                _ => " (--backend afpacket needs only CAP_NET_RAW)".to_owned(),
            },
            Self::RawPromisc => " (-p captures without promiscuous mode, which needs no \
                                 CAP_NET_RAW with --backend xdp)"
                .to_owned(),
            Self::Raw => match lacks(BPF_CAPS) {
                Some(m) if m.is_empty() => " (--backend xdp -p needs CAP_BPF, CAP_PERFMON \
                                            and CAP_NET_ADMIN, which this process has)"
                    .into(),
                _ => String::new(),
            },
            Self::Netns => String::new(),
        };
        s.push_str(&fallback);
        s
    }
}

impl fmt::Display for Needs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explain(effective()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(caps: &[Cap]) -> u64 {
        caps.iter().fold(0, |s, &c| s | 1 << c as u32)
    }

    #[test]
    fn names_what_is_missing_and_the_way_around() {
        let have = set(&[Cap::Bpf, Cap::NetAdmin]);
        assert_eq!(missing(BPF_CAPS, have), vec![Cap::Perfmon]);
        assert_eq!(
            Needs::Bpf.explain(Some(have)),
            "needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or root); this process lacks \
             CAP_PERFMON (--backend afpacket needs only CAP_NET_RAW)"
        );
        let raw = set(&[Cap::NetRaw]);
        assert!(Needs::Bpf
            .explain(Some(raw))
            .ends_with("which this process has)"));
        assert_eq!(
            Needs::Raw.explain(Some(0)),
            "needs CAP_NET_RAW (or root); this process lacks CAP_NET_RAW"
        );
        assert!(Needs::Raw
            .explain(Some(set(BPF_CAPS)))
            .contains("--backend xdp -p"));
    }

    #[test]
    fn sys_admin_stands_for_bpf_and_perfmon() {
        let have = set(&[Cap::SysAdmin, Cap::NetAdmin]);
        assert!(missing(BPF_CAPS, have).is_empty());
        assert_eq!(missing(RAW_CAPS, have), vec![Cap::NetRaw]);
    }

    #[test]
    fn this_process_has_a_readable_set() {
        assert!(effective().is_some());
    }
}
