//! `-i any`: every interface that is up, and those that come up while capturing.
//!
//! Unlike libpcap's `any` (one cooked-mode socket for the whole host), each interface
//! gets its own source on the chosen backend, so frames keep their Ethernet header and
//! XDP can be used. A `NETLINK_ROUTE` socket subscribed to link changes
//! (`RTMGRP_LINK`) says when to look again; the list itself comes from
//! [`super::ifaces::list`], in the namespace the socket was made in.
use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    sync::Arc,
};

use super::{
    ifaces::{self, IfInfo},
    multi::{Member, Watch},
    netns::Netns,
    open::{open_member, CaptureConfig, Target},
    Error,
};

/// The interfaces `-i any` takes now in `ns` (None: netcap's own): up, and of a link
/// type netcap reads.
pub fn targets(ns: Option<&Netns>, qualify: bool) -> Result<Vec<Target>, Error> {
    let listed = match ns {
        Some(ns) => ns.enter(ifaces::list)?,
        None => ifaces::list(),
    }
    .map_err(|e| Error::io("listing the interfaces", e))?;
    Ok(listed
        .into_iter()
        .filter(|i| i.is_up() && i.capturable())
        .map(|i| target(i, ns, qualify))
        .collect())
}

/// The label of `ifname` in `ns`: `ns/ifname` when several namespaces are captured.
pub fn label(ifname: &str, ns: Option<&Netns>, qualify: bool) -> String {
    match ns {
        Some(ns) if qualify => format!("{}/{ifname}", ns.name),
        None if qualify => format!("-/{ifname}"),
        _ => ifname.to_owned(),
    }
}

fn target(i: IfInfo, ns: Option<&Netns>, qualify: bool) -> Target {
    Target {
        label: label(&i.name, ns, qualify),
        ifindex: i.index,
        ifname: i.name,
        netns: ns.cloned(),
    }
}

/// Watches each namespace of a `-i any` capture for interfaces coming up.
pub struct AnyWatch {
    cfg: CaptureConfig,
    /// One link-change socket per namespace (None: netcap's own).
    sockets: Vec<(Option<Netns>, OwnedFd)>,
}

impl AnyWatch {
    pub fn new(cfg: &CaptureConfig) -> Result<Self, Error> {
        let spaces: Vec<Option<Netns>> = if cfg.netns.is_empty() {
            vec![None]
        } else {
            cfg.netns.iter().cloned().map(Some).collect()
        };
        let mut sockets = Vec::new();
        for ns in spaces {
            let fd = match &ns {
                Some(n) => n.enter(link_socket)?,
                None => link_socket(),
            }
            .map_err(|e| Error::io("socket(NETLINK_ROUTE) for link changes", e))?;
            sockets.push((ns, fd));
        }
        Ok(Self {
            cfg: cfg.clone(),
            sockets,
        })
    }
}

impl Watch for AnyWatch {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.sockets.iter().map(|(_, fd)| fd.as_fd()).collect()
    }

    fn poll(&mut self, known: &[Arc<str>]) -> Vec<Member> {
        let qualify = self.cfg.netns.len() > 1;
        let mut found = Vec::new();
        for (ns, fd) in &self.sockets {
            if !drain(fd) {
                continue;
            }
            let now = match targets(ns.as_ref(), qualify) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("netcap: -i any: {e}");
                    continue;
                }
            };
            for t in now {
                if known.iter().any(|k| **k == *t.label) {
                    continue;
                }
                match open_member(&self.cfg, &t) {
                    Ok((m, _)) => found.push(m),
                    Err(e) => eprintln!("netcap: -i any: {}: {e}", t.label),
                }
            }
        }
        found
    }
}

/// A non-blocking `NETLINK_ROUTE` socket that receives link changes.
fn link_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: socket has no memory preconditions; the result is checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data, valid when zeroed.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = libc::RTMGRP_LINK as u32;
    let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `sa` is a valid sockaddr_nl of `len` bytes for the call's duration.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Reads every pending message; true when there was any (or the socket overflowed,
/// which also means: look again).
fn drain(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 8192];
    let mut any = false;
    loop {
        // SAFETY: `buf` is writable for its whole length during the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            any = true;
            continue;
        }
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
            any = true;
            continue;
        }
        return any;
    }
}
