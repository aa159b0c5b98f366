//! The soak bench's traffic: `trafgen` in the namespace, one phase at a time, running
//! in the background until it is told to stop, with a fixed gap between frames (`-t`,
//! trafgen's slow mode: one `sendto` per frame, from one core). A gap, not a rate: with
//! `-b 20000pps` trafgen 0.6.8 sends each second's frames in one burst at the start of
//! the second (the host end's `rx_packets` read every 100 ms steps by 20,000), where a
//! 20 us gap gives an even 22,000 frames a second here.
//!
//! - [`Phase::Mixed`]: a few long-lived flows, four kinds of frame in turn: 64-byte
//!   UDP, 512-byte TCP, 1,500-byte UDP and a 98-byte ICMP echo, each with its ports
//!   (or echo id) counting over 4 values: a dozen flows or so.
//! - [`Phase::Flood`]: random source addresses and ports (`drnd()`): nearly every
//!   frame is a new flow, half UDP, half TCP SYN.
//!
//! Frames go from the namespace end to a MAC that is not the host end's, as in the
//! capture bench (`capture/trafgen.rs`), so the host stack drops them early and never
//! answers. trafgen runs in a process group of its own: it forks a worker that a signal
//! to the parent alone leaves running (the parent then waits for it for ever), so
//! [`Generator::stop`] and `Drop` signal the group.
use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bench::netns::Veth;

/// Microseconds between frames (`-t`), both phases: about 22,000 frames a second on
/// the 2-core VM this was written on. Mixed, that is about 12 MB/s of `-w` output, so a
/// 10 MB file fills in about a second; flooding, 22,000 new flows a second fill a table
/// of 100,000 in 5 s, so most of each flood phase runs with the table full (evicting).
pub const GAP_US: u64 = 20;
/// How long trafgen may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Mixed,
    Flood,
}

impl Phase {
    /// The trafgen configuration of this phase.
    pub fn config(self) -> String {
        const ETH: &str = "eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02)";
        const IP: &str = "ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64)";
        match self {
            // Fill: frame length less 14 (Ethernet), 20 (IPv4), 8 (UDP) / 20 (TCP) / 8 (ICMP).
            Phase::Mixed => format!(
                "{{ {ETH}, {IP}, udp(sport=dinc(5000, 5003), dport=53), fill(0x41, 22) }}\n\
                 {{ {ETH}, {IP}, tcp(sport=dinc(40000, 40003), dport=443, ack, psh, \
                 win=65535), fill(0x42, 458) }}\n\
                 {{ {ETH}, {IP}, udp(sport=4433, dport=dinc(6000, 6003)), fill(0x43, 1458) }}\n\
                 {{ {ETH}, {IP}, icmp4(echorequest, id=dinc(1, 4), seq=dinc()), fill(0x44, 56) }}\n"
            ),
            Phase::Flood => format!(
                "{{ {ETH}, ipv4(saddr=drnd(), daddr=10.250.0.1, ttl=64), \
                 udp(sport=drnd(), dport=drnd()), fill(0x45, 22) }}\n\
                 {{ {ETH}, ipv4(saddr=drnd(), daddr=10.250.0.1, ttl=64), \
                 tcp(sport=drnd(), dport=80, syn, win=64240), fill(0x46, 10) }}\n"
            ),
        }
    }
}

/// trafgen sending one phase's traffic until [`Generator::stop`].
pub struct Generator {
    child: Child,
    reaped: bool,
}

impl Generator {
    /// Starts `phase` on `veth` with its configuration in `cfg` (written here).
    pub fn start(veth: &Veth, phase: Phase, cfg: &Path) -> Result<Generator> {
        std::fs::write(cfg, phase.config())
            .with_context(|| format!("writing {}", cfg.display()))?;
        let child = veth
            .trafgen(cfg)
            .args(["-t", &format!("{GAP_US}us"), "-P", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("starting trafgen")?;
        Ok(Generator {
            child,
            reaped: false,
        })
    }

    /// Fails with trafgen's stderr if it has exited (it never ends by itself).
    pub fn check(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            self.reaped = true;
            let mut text = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut text);
            }
            anyhow::bail!("trafgen exited early ({status}):\n{text}");
        }
        Ok(())
    }

    /// SIGINT to the group, then waits (SIGKILL after [`STOP_TIMEOUT`]).
    pub fn stop(mut self) -> Result<()> {
        self.signal(libc::SIGINT);
        let start = Instant::now();
        while self.child.try_wait()?.is_none() {
            if start.elapsed() > STOP_TIMEOUT {
                self.signal(libc::SIGKILL);
                self.child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.reaped = true;
        Ok(())
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory preconditions; the child leads its own process
        // group (process_group(0)) and is not reaped yet, so the group id is ours.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), sig) };
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
