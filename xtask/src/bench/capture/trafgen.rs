//! The capture bench's traffic: `trafgen` (netsniff-ng) in the namespace, and the
//! Debian packages of the tools the bench runs.
//!
//! trafgen uses every online CPU unless told otherwise (`-P 1` / `--cpus 1` for one):
//! it runs one copy of the configuration on each, so `dinc()` counters start afresh per
//! CPU, and `-n N` is split between them (N/CPUs each). It prints one
//! "S sec, U usec on CPUn (P packets)" line per CPU: the send time is the longest.
//!
//! A worker that the device pushes back on gives up: with native XDP on the host end,
//! the veth queues frames in a 256-slot NAPI ring, and at full rate from both cores one
//! of trafgen's workers soon fails with "Flushing TX_RING failed: Resource temporarily
//! unavailable" (Linux 6.18; the others finish) and trafgen exits 1 without its totals.
//! [`send`] then counts what the namespace end transmitted (its `tx_packets` delta) and
//! says so in [`Sent::aborted`]: that is the capture changing the host's traffic too.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

use super::Scenario;
use crate::bench::{check_interrupted, netns::Veth};

/// (program, Debian package) of every tool the bench starts.
const NEEDED: [(&str, &str); 6] = [
    ("trafgen", "netsniff-ng"),
    ("tcpdump", "tcpdump"),
    ("xdpdump", "xdp-tools"),
    ("bpftool", "bpftool"),
    ("softflowd", "softflowd"),
    ("pmacctd", "pmacct"),
];

/// Installs (apt-get) the packages of the tools that are not on PATH.
pub fn ensure_tools() -> Result<()> {
    let missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(prog, _)| {
            Command::new(prog)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("bench: installing {}", missing.join(" "));
    let ok = Command::new("apt-get")
        .args(["install", "-y"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "`apt-get install -y {}` failed (try apt-get update)",
            missing.join(" ")
        );
    }
    Ok(())
}

pub fn version() -> String {
    Command::new("trafgen")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

pub fn cfg_path(out: &Path, size: usize) -> PathBuf {
    out.join(format!("trafgen-{size}.cfg"))
}

/// Distinct flows in the traffic, each coming back every this many frames (per
/// trafgen CPU): the source port counts through 50,000 values and the destination port
/// through 32 at the same time, and lcm(50,000, 32) is 100,000.
pub const FLOWS: u64 = 100_000;
/// The source ports: 1024..=51023.
pub const SPORT_FIRST: u16 = 1024;
pub const SPORTS: u16 = 50_000;

/// A UDP/IPv4 frame of `size` bytes (without FCS) from the namespace end to a MAC that
/// is not the host end's, so the host stack drops it early and never answers. The
/// ports count up: [`FLOWS`] flows, over and over (the flow load of issue #19: a flow
/// table sees a new flow in the first 100,000 frames and lookups after).
pub fn config(size: usize) -> String {
    let fill = size - 14 - 20 - 8;
    let last = SPORT_FIRST + (SPORTS - 1);
    format!(
        "{{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
         ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), \
         udp(sport=dinc({SPORT_FIRST}, {last}), dport=dinc(9, 40)), fill(0x41, {fill}) }}\n"
    )
}

/// What one blast sent.
pub struct Sent {
    pub frames: u64,
    /// trafgen's own send time (its slowest CPU), or the wall time when it aborted.
    pub secs: f64,
    /// trafgen's error line when a worker gave up (then `frames` is the namespace end's
    /// `tx_packets` delta).
    pub aborted: Option<String>,
}

/// The namespace end's `tx_packets`; 0 when it cannot be read.
pub fn peer_tx_packets(veth: &Veth) -> u64 {
    let path = format!("/sys/class/net/{}/statistics/tx_packets", veth.ns_if);
    Command::new("ip")
        .args(["netns", "exec", &veth.ns, "cat", &path])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// The line of trafgen's output that says a worker gave up on a full device.
const PUSHED_BACK: &str = "Flushing TX_RING failed";

/// Sends the scenario's frames. `peer_tx0` is [`peer_tx_packets`] just before, used
/// only when trafgen aborts.
pub fn send(veth: &Veth, sc: &Scenario, out: &Path, peer_tx0: u64) -> Result<Sent> {
    check_interrupted()?;
    let cfg = cfg_path(out, sc.size);
    let mut cmd = veth.trafgen(&cfg);
    cmd.args(["-n", &sc.frames.to_string()]);
    if !sc.all_cores {
        cmd.args(["-P", "1"]);
    }
    if let Some(r) = sc.rate_pps {
        cmd.args(["-b", &format!("{r}pps")]);
    }
    let start = Instant::now();
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .context("starting trafgen")?;
    let wall = start.elapsed().as_secs_f64();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        check_interrupted()?;
        let Some(line) = text.lines().find(|l| l.contains(PUSHED_BACK)) else {
            bail!("trafgen failed ({}):\n{text}", o.status);
        };
        return Ok(Sent {
            frames: peer_tx_packets(veth).saturating_sub(peer_tx0),
            secs: wall,
            aborted: Some(line.trim().to_owned()),
        });
    }
    let sent = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix("packets outgoing")
                .and_then(|n| n.trim().parse().ok())
        })
        .with_context(|| format!("no packet count in trafgen's output:\n{text}"))?;
    Ok(Sent {
        frames: sent,
        secs: send_secs(&text).unwrap_or(wall),
        aborted: None,
    })
}

/// The longest of trafgen's per-CPU send times
/// ("   2 sec, 841756 usec on CPU0 (1000000 packets)").
fn send_secs(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| {
            let (s, rest) = l.trim().split_once(" sec, ")?;
            let us = rest.split_whitespace().next()?;
            Some(s.trim().parse::<f64>().ok()? + us.parse::<f64>().ok()? * 1e-6)
        })
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_is_the_slowest_cpu() {
        let text = "      100000 packets outgoing\n     6400000 bytes outgoing\n\
                    \x20          0 sec, 68585 usec on CPU0 (50000 packets)\n\
                    \x20          1 sec, 5516 usec on CPU1 (50000 packets)\n";
        let s = send_secs(text).expect("times found");
        assert!((s - 1.005516).abs() < 1e-9, "{s}");
        assert_eq!(send_secs("nothing"), None);
    }
}
