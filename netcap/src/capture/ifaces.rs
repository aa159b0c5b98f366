//! The interfaces of the calling thread's network namespace, and which of netcap's
//! hooks each allows: for `-D` (as `tcpdump -D` and `xdpdump -D`) and for `-i any`.
//!
//! Everything is asked of the kernel through the calling thread's own sockets
//! (`if_nameindex`, `SIOCGIFFLAGS`, `SIOCGIFHWADDR`, `ETHTOOL_GDRVINFO`), not sysfs,
//! whose `/sys/class/net` shows the namespace sysfs was mounted in: so the list is
//! right inside `--netns` too.
use std::{
    ffi::CStr,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// One interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfInfo {
    pub index: u32,
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    /// `ARPHRD_*` hardware type.
    pub hw_type: Option<u16>,
    /// The driver, as `ethtool -i` names it.
    pub driver: Option<String>,
}

/// Drivers with native (driver mode) XDP in Linux 6.x (those implementing
/// `ndo_bpf`'s `XDP_SETUP_PROG`). An unlisted driver may have it too: `--xdp-mode
/// auto` tries native first and says which mode it got.
const NATIVE_XDP_DRIVERS: &[&str] = &[
    "veth",
    "virtio_net",
    "tun",
    "bonding",
    "netkit",
    "ixgbe",
    "ixgbevf",
    "i40e",
    "ice",
    "igb",
    "igc",
    "mlx4_en",
    "mlx5_core",
    "bnxt_en",
    "nfp",
    "qede",
    "ena",
    "gve",
    "sfc",
    "hv_netvsc",
    "vmxnet3",
    "xen-netfront",
    "nicvf",
    "mvneta",
    "mvpp2",
    "stmmaceth",
    "fec",
    "dpaa2-eth",
    "enetc",
    "tsnep",
    "lan966x-switch",
    "cpsw",
    "octeontx2-nicpf",
];

impl IfInfo {
    pub fn is_up(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }

    pub fn is_loopback(&self) -> bool {
        self.flags & libc::IFF_LOOPBACK as u32 != 0
    }

    /// Frames netcap can read here: Ethernet (loopback's too) or bare IP.
    pub fn capturable(&self) -> bool {
        matches!(
            self.hw_type,
            Some(libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK | libc::ARPHRD_NONE)
        )
    }

    /// What netcap can use on this interface, in words.
    pub fn hooks(&self) -> String {
        if !self.capturable() {
            return match self.hw_type {
                Some(t) => format!("none (link type ARPHRD {t})"),
                None => "none (unknown link type)".into(),
            };
        }
        let ethernet = matches!(
            self.hw_type,
            Some(libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK)
        );
        let native = self
            .driver
            .as_deref()
            .is_some_and(|d| NATIVE_XDP_DRIVERS.contains(&d));
        let mut hooks = Vec::new();
        if ethernet {
            hooks.push(if native {
                "XDP native and generic"
            } else {
                "XDP generic"
            });
            hooks.push("tcx");
        }
        hooks.push("AF_PACKET");
        hooks.join(", ")
    }

    /// `[Up, Running, Loopback]`, as tcpdump -D.
    pub fn state(&self) -> String {
        let mut s = Vec::new();
        if self.is_up() {
            s.push("Up");
        } else {
            s.push("Down");
        }
        if self.flags & libc::IFF_RUNNING as u32 != 0 {
            s.push("Running");
        }
        if self.is_loopback() {
            s.push("Loopback");
        }
        format!("[{}]", s.join(", "))
    }

    /// The line `-D` prints.
    pub fn line(&self) -> String {
        let driver = self
            .driver
            .as_deref()
            .map(|d| format!(" driver {d};"))
            .unwrap_or_default();
        format!(
            "{}.{} {}{driver} {}",
            self.index,
            self.name,
            self.state(),
            self.hooks()
        )
    }
}

/// Every interface of the calling thread's network namespace, by index.
pub fn list() -> io::Result<Vec<IfInfo>> {
    let sock = inet_socket()?;
    let mut all = Vec::new();
    for (index, name) in name_index()? {
        let Ok(flags) = flags(&sock, &name) else {
            continue; // gone meanwhile
        };
        all.push(IfInfo {
            index,
            hw_type: hw_type(&sock, &name).ok(),
            driver: driver(&sock, &name),
            flags,
            name,
        });
    }
    all.sort_by_key(|i| i.index);
    Ok(all)
}

fn inet_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket has no memory preconditions; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `if_nameindex()`, copied out and freed.
fn name_index() -> io::Result<Vec<(u32, String)>> {
    // SAFETY: no preconditions; a null result is an error, checked below.
    let head = unsafe { libc::if_nameindex() };
    if head.is_null() {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut p = head;
    loop {
        // SAFETY: `p` points into the array if_nameindex returned, which ends with an
        // entry of index 0 and a null name; we stop there.
        let e = unsafe { &*p };
        if e.if_index == 0 || e.if_name.is_null() {
            break;
        }
        // SAFETY: a non-null if_name is a NUL-terminated string owned by the array.
        let name = unsafe { CStr::from_ptr(e.if_name) };
        out.push((e.if_index, name.to_string_lossy().into_owned()));
        // SAFETY: the terminating entry has not been reached, so the next one exists.
        p = unsafe { p.add(1) };
    }
    // SAFETY: `head` came from if_nameindex and is freed once; nothing refers to it now.
    unsafe { libc::if_freenameindex(head) };
    Ok(out)
}

/// A zeroed `ifreq` naming `name`.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain data, valid when zeroed.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= ifr.ifr_name.len() || bytes.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(ifr)
}

fn ioctl(sock: &OwnedFd, req: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: `ifr` is a valid ifreq for the call's duration, as the requests used here
    // (SIOCGIFFLAGS, SIOCGIFHWADDR, SIOCETHTOOL with a live ifru_data) expect.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), req as _, std::ptr::from_mut(ifr)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn flags(sock: &OwnedFd, name: &str) -> io::Result<u32> {
    let mut ifr = ifreq(name)?;
    ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled ifru_flags.
    Ok(u32::from(unsafe { ifr.ifr_ifru.ifru_flags } as u16))
}

fn hw_type(sock: &OwnedFd, name: &str) -> io::Result<u16> {
    let mut ifr = ifreq(name)?;
    ioctl(sock, libc::SIOCGIFHWADDR, &mut ifr)?;
    // SAFETY: SIOCGIFHWADDR filled ifru_hwaddr.
    Ok(unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_family })
}

/// `struct ethtool_drvinfo` (linux/ethtool.h).
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

const ETHTOOL_GDRVINFO: u32 = 3;

fn driver(sock: &OwnedFd, name: &str) -> Option<String> {
    // SAFETY: DrvInfo is plain data, valid when zeroed.
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    let mut ifr = ifreq(name).ok()?;
    ifr.ifr_ifru.ifru_data = (&raw mut info).cast();
    ioctl(sock, libc::SIOCETHTOOL, &mut ifr).ok()?;
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    let d = String::from_utf8_lossy(&info.driver[..end]).into_owned();
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_hooks() {
        let all = list().expect("listing interfaces");
        let lo = all.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.is_loopback() && lo.is_up());
        assert_eq!(lo.hooks(), "XDP generic, tcx, AF_PACKET");
        assert!(
            lo.line().starts_with(&format!("{}.lo [Up", lo.index)),
            "{}",
            lo.line()
        );
    }

    #[test]
    fn a_listed_driver_has_native_xdp() {
        let veth = IfInfo {
            index: 7,
            name: "v0".into(),
            flags: libc::IFF_UP as u32,
            hw_type: Some(libc::ARPHRD_ETHER),
            driver: Some("veth".into()),
        };
        assert_eq!(
            veth.line(),
            "7.v0 [Up] driver veth; XDP native and generic, tcx, AF_PACKET"
        );
        let tun = IfInfo {
            hw_type: Some(libc::ARPHRD_NONE),
            driver: Some("tun".into()),
            ..veth.clone()
        };
        assert_eq!(tun.hooks(), "AF_PACKET");
        let gre = IfInfo {
            hw_type: Some(778),
            ..veth
        };
        assert_eq!(gre.hooks(), "none (link type ARPHRD 778)");
    }
}
