//! The live benches' private network (capture, soak): a namespace `ncb<pid>` holding
//! `ncbp<pid>`, the peer of `ncbh<pid>` in the root namespace. Nothing is ever attached
//! to or sent on another interface. IPv6 is off on both ends before they go up (no DAD
//! or router solicitation), and the host end has no address, so the host stack sends
//! nothing.
use std::{path::Path, process::Command};

use anyhow::{bail, Context, Result};

/// Prefix of everything this module creates; `ncb<pid>` namespaces of dead pids are
/// leftovers of a killed bench.
const PREFIX: &str = "ncb";

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("starting {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

/// The veth pair; dropping it deletes the link and the namespace.
#[derive(Debug)]
pub struct Veth {
    pub ns: String,
    pub host_if: String,
    pub ns_if: String,
}

impl Veth {
    pub fn create() -> Result<Veth> {
        remove_leftovers();
        let pid = std::process::id();
        let veth = Veth {
            ns: format!("{PREFIX}{pid}"),
            host_if: format!("{PREFIX}h{pid}"),
            ns_if: format!("{PREFIX}p{pid}"),
        };
        // From here on, Drop removes whatever was created, on every path.
        let Veth { ns, host_if, ns_if } = &veth;
        run(&["ip", "netns", "add", ns])?;
        run(&[
            "ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns,
        ])?;
        run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{host_if}.disable_ipv6=1"),
        ])?;
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{ns_if}.disable_ipv6=1"),
        ])?;
        run(&["ip", "link", "set", "dev", host_if, "up"])?;
        run(&["ip", "-n", ns, "link", "set", "dev", ns_if, "up"])?;
        Ok(veth)
    }

    /// `trafgen` in the namespace, sending on its end of the pair what `cfg` describes,
    /// with the system's socket memory left alone; the caller adds count, rate, CPUs.
    pub fn trafgen(&self, cfg: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.ns,
            "trafgen",
            "-o",
            &self.ns_if,
            "-i",
        ])
        .arg(cfg)
        .arg("--no-sock-mem");
        cmd
    }

    /// A counter of the host end from /sys/class/net/IF/statistics (e.g. `rx_packets`).
    pub fn host_counter(&self, name: &str) -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{}/statistics/{name}", self.host_if))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let Veth {
            ns,
            host_if,
            ns_if: _,
        } = self;
        // Deleting one end deletes both; the namespace delete covers the rest.
        run_quiet(&["ip", "link", "del", "dev", host_if]);
        run_quiet(&["ip", "netns", "del", ns]);
    }
}

/// Deletes `ncb<pid>` namespaces (and their host links) whose pid no longer exists.
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        eprintln!("bench: removing leftover namespace {name}");
        run_quiet(&["ip", "link", "del", "dev", &format!("{PREFIX}h{pid}")]);
        run_quiet(&["ip", "netns", "del", name]);
    }
}
