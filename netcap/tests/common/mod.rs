//! Shared helpers for the privileged integration tests: a throw-away network namespace
//! joined to the root namespace by a veth pair, and a raw sender that puts crafted frames
//! on either end; the builders of those frames are in `frames.rs`, re-exported here.
//!
//! Privileged tests run only under `cargo xtask test`, which sets
//! `NETCAP_PRIVILEGED_TESTS=1`; every test starts with
//! `common::needs_privileges!();`, which returns (saying so) when they were not asked
//! for.
//!
//! Nothing here touches an existing interface: each [`VethPair`] has names unique to the
//! process and call, and removes itself on drop, also when the test panics. The pair
//! carries no addresses, has IPv6 and IPv4 forwarding disabled, so the only frames on it
//! are the ones a test sends (no router solicitations, MLD reports or DAD probes).
//! Frames are built with TEST-NET addresses and a non-local destination MAC.
#![allow(
    dead_code,
    reason = "each test crate uses a different subset; `expect` would fail in the crates using all"
)]

pub mod flow_cost;
mod frames;

#[allow(
    unused_imports,
    reason = "crates that send no crafted frames use none of them; `expect` would fail in the others"
)]
pub use frames::*;

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// True when the privileged tests should run (`NETCAP_PRIVILEGED_TESTS=1`).
///
/// Panics when they were asked for but the process is not root, so that CI cannot
/// silently skip them.
pub fn privileged() -> bool {
    if std::env::var_os("NETCAP_PRIVILEGED_TESTS").is_none_or(|v| v != "1") {
        return false;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "NETCAP_PRIVILEGED_TESTS=1 but euid is {euid}: the privileged tests need root \
         (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN); run them with `sudo -E cargo xtask test`"
    );
    true
}

/// Returns from the calling test, saying so on stderr, unless the privileged tests were
/// asked for (see [`privileged`]).
#[allow(
    unused_macros,
    reason = "crates with no privileged test use none; `expect` would fail in the others"
)]
macro_rules! needs_privileges {
    () => {
        if !$crate::common::privileged() {
            eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
            return;
        }
    };
}
#[allow(
    unused_imports,
    reason = "crates with no privileged test use none; `expect` would fail in the others"
)]
pub(crate) use needs_privileges;

/// Runs a command and panics, with its stderr, when it fails.
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Polls `ip ... link show` until the link's state is UP (at most 5 s).
fn wait_until_up(args: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let out = Command::new(args[0]).args(&args[1..]).output();
        if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("state UP")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{args:?}: link did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Runs a command, ignoring failure (cleanup).
fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

/// A network namespace `ns` holding `ns_if`, the peer of `host_if` in the root namespace.
/// Both ends are up. Dropping it deletes the link and the namespace.
#[derive(Debug)]
pub struct VethPair {
    pub ns: String,
    pub host_if: String,
    pub ns_if: String,
    pub host_ifindex: u32,
}

impl VethPair {
    pub fn new() -> VethPair {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // "nch" + up to 7 pid digits + "_" + counter: at most 15 bytes (IFNAMSIZ - 1)
        // for any pid below 2^22 (the kernel's pid_max limit) and 1000 pairs.
        let pair = VethPair {
            ns: format!("ncns{pid}_{n}"),
            host_if: format!("nch{pid}_{n}"),
            ns_if: format!("ncp{pid}_{n}"),
            host_ifindex: 0,
        };
        assert!(
            pair.host_if.len() < 16 && pair.ns_if.len() < 16,
            "name too long: {pair:?}"
        );
        // From here on, Drop cleans up whatever was created, also on a panic.
        let mut pair = pair;
        let (ns, host, peer) = (pair.ns.clone(), pair.host_if.clone(), pair.ns_if.clone());
        run(&["ip", "netns", "add", &ns]);
        run(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer, "netns", &ns,
        ]);
        // Before `up`, so that no DAD probe or router solicitation is ever sent.
        run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{host}.disable_ipv6=1"),
        ]);
        run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{host}.forwarding=0"),
        ]);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{peer}.disable_ipv6=1"),
        ]);
        run(&["ip", "link", "set", "dev", &host, "up"]);
        run(&["ip", "-n", &ns, "link", "set", "dev", &peer, "up"]);
        // The kernel attaches a link's qdisc (and reports it UP) from its link-watch
        // work, which is rate limited and can lag up to a second behind `ip link set up`
        // when many links change at once; until then frames sent on it are dropped.
        wait_until_up(&["ip", "-o", "link", "show", "dev", &host]);
        wait_until_up(&["ip", "-n", &ns, "-o", "link", "show", "dev", &peer]);
        pair.host_ifindex =
            ifindex(&host).unwrap_or_else(|e| panic!("if_nametoindex({host}): {e}"));
        pair
    }

    /// The arguments of `netcap capture --backend BACKEND -i HOST_IF`, then `rest`.
    pub fn capture<'a>(&'a self, backend: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["capture", "--backend", backend, "-i", &self.host_if];
        args.extend_from_slice(rest);
        args
    }
}

impl Default for VethPair {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let Self {
            ns,
            host_if,
            ns_if: _,
            host_ifindex: _,
        } = self;
        // Deleting one end deletes both; deleting the namespace would too, but the
        // explicit delete also covers a link created before its namespace vanished.
        run_quiet(&["ip", "link", "del", "dev", host_if]);
        run_quiet(&["ip", "netns", "del", ns]);
    }
}

/// The index of interface `name` in the calling thread's network namespace.
fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx)
}

/// `rx_packets` of `ifname` (root namespace).
pub fn rx_packets(ifname: &str) -> u64 {
    let path = format!("/sys/class/net/{ifname}/statistics/rx_packets");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What one trafgen run sent: its packet count, and the CPU it names first (`-P 1`
/// sends from one).
pub struct Sent {
    pub frames: u64,
    pub cpu: Option<usize>,
}

/// Sends `frames` frames of the trafgen configuration `cfg` (written to `dir`) from
/// the namespace end of `veth` as fast as trafgen can, on every CPU (its default) or
/// on one (`-P 1`). Panics, with trafgen's output, when it fails.
pub fn trafgen(
    veth: &VethPair,
    dir: &std::path::Path,
    cfg: &str,
    frames: u64,
    one_cpu: bool,
) -> Sent {
    let path = dir.join("trafgen.cfg");
    std::fs::write(&path, cfg).expect("writing the trafgen config");
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &veth.ns,
        "trafgen",
        "-o",
        &veth.ns_if,
        "-i",
    ])
    .arg(&path)
    .args(["-n", &frames.to_string(), "--no-sock-mem"]);
    if one_cpu {
        cmd.args(["-P", "1"]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running trafgen (apt-get install netsniff-ng)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "trafgen failed: {text}");
    let frames = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix("packets outgoing")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no packet count in trafgen's output: {text}"));
    // "   0 sec, 841756 usec on CPU0 (1000000 packets)"
    let cpu = text
        .lines()
        .find_map(|l| l.split(" on CPU").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Sent { frames, cpu }
}

/// Sends each frame as-is from inside namespace `ns`, out of its interface `ifname`.
///
/// Runs on a fresh thread that joins the namespace, so the caller's namespace is not
/// changed. Panics (with the failing call) when a frame cannot be sent.
pub fn send_frames(ns: &str, ifname: &str, frames: &[Vec<u8>]) {
    let path = format!("/var/run/netns/{ns}");
    let ifname = ifname.to_owned();
    let frames = frames.to_vec();
    let res = std::thread::spawn(move || -> Result<(), String> {
        let f = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        // SAFETY: `f` is an open namespace file; setns only changes this thread's
        // network namespace, and the thread ends right after sending.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns({path}): {}", io::Error::last_os_error()));
        }
        send_raw(&ifname, &frames)
    })
    .join();
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("send_frames in {ns}: {e}"),
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Sends each frame as-is out of `ifname` in the root (the test's) namespace: egress.
pub fn send_frames_from_host(ifname: &str, frames: &[Vec<u8>]) {
    if let Err(e) = send_raw(ifname, frames) {
        panic!("send_frames_from_host: {e}");
    }
}

/// One `AF_PACKET`/`SOCK_RAW` socket bound to `ifname`; one `send` per frame.
///
/// The socket's protocol is 0, so it receives nothing; the thread is pinned to its
/// current CPU so the frames enter that CPU's backlog in order.
fn send_raw(ifname: &str, frames: &[Vec<u8>]) -> Result<(), String> {
    pin_to_current_cpu();
    let idx = ifindex(ifname).map_err(|e| format!("if_nametoindex({ifname}): {e}"))?;
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(format!("socket(AF_PACKET): {}", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = idx as i32;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll and `len` its size.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const sll).cast(), len) };
    if rc != 0 {
        return Err(format!(
            "bind(AF_PACKET, {ifname}): {}",
            io::Error::last_os_error()
        ));
    }
    for (i, frame) in frames.iter().enumerate() {
        // SAFETY: the pointer and length describe `frame`, alive for the call.
        let n = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 || n as usize != frame.len() {
            let err = io::Error::last_os_error();
            return Err(format!(
                "send frame {i} ({} bytes) on {ifname}: {n} {err}",
                frame.len()
            ));
        }
    }
    Ok(())
}

/// Pins the calling thread to the CPU it is running on.
pub fn pin_to_current_cpu() {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 {
        return;
    }
    // SAFETY: cpu_set_t is plain old data; CPU_SET writes within it for cpu < 1024;
    // sched_setaffinity(0) applies to the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
