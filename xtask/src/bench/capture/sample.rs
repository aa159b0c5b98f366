//! One run of one tool on one scenario, with `kernel.bpf_stats_enabled`'s key off (the
//! machine figure) or held on by a `BPF_ENABLE_STATS` fd (the kernel ns/run).
use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Result};
use serde::Serialize;

use super::{
    account::{self, Account},
    busy::CpuClock,
    foreign::Foreign,
    tools::{Family, Tool},
    trafgen, Scenario, DRAIN_LIMIT, IDLE_WINDOW, TCPDUMP_MIN_DRAIN,
};
use crate::bench::{
    bpfstats::{self, KeyProbe, ProgDelta, StatsFd},
    netns::Veth,
    proc,
};

/// Whether the run statistics were on around a run's window, by every sign there is.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StatsSeen {
    /// `kernel.bpf_stats_enabled` read 1 just before the window / just after it.
    pub sysctl_start: Option<bool>,
    pub sysctl_end: Option<bool>,
    /// The key itself ([`KeyProbe`]: the sysctl misses other processes' fds).
    pub key_start: Option<bool>,
    pub key_end: Option<bool>,
    /// The tool's own programs counted runs in the window, which they do only while
    /// the key is on (the one sign of a switch on and off again inside the window).
    pub prog_runs_counted: bool,
}

impl StatsSeen {
    /// Any sign that the statistics were on.
    pub fn any(&self) -> bool {
        let StatsSeen {
            sysctl_start,
            sysctl_end,
            key_start,
            key_end,
            prog_runs_counted,
        } = *self;
        [sysctl_start, sysctl_end, key_start, key_end]
            .into_iter()
            .any(|v| v == Some(true))
            || prog_runs_counted
    }

    fn at_start(probe: &KeyProbe) -> StatsSeen {
        StatsSeen {
            sysctl_start: bpfstats::sysctl_on(),
            key_start: probe.stats_on().ok(),
            ..StatsSeen::default()
        }
    }

    fn at_end(self, probe: &KeyProbe, programs: &[ProgDelta]) -> StatsSeen {
        StatsSeen {
            sysctl_end: bpfstats::sysctl_on(),
            key_end: probe.stats_on().ok(),
            prog_runs_counted: programs.iter().any(|p| p.run_cnt > 0),
            ..self
        }
    }
}

/// One run of one tool on one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// The run held the statistics on (`BPF_ENABLE_STATS`); otherwise it left them as
    /// it found them, which [`Sample::stats_seen`] tells.
    pub bpf_stats: bool,
    pub stats_seen: StatsSeen,
    /// Frames trafgen was told to send.
    pub asked: u64,
    /// trafgen's error when a worker gave up on a full device (see [`trafgen`]).
    pub generator_aborted: Option<String>,
    /// Frames sent: trafgen's count, or the namespace end's tx_packets delta if it aborted.
    pub offered: u64,
    pub offered_pps: f64,
    /// Frames the host end of the veth received (its rx_packets delta over the window).
    pub host_rx: u64,
    pub captured: u64,
    /// Frames the tool's kernel filter rejected (accounted for, not lost).
    pub filtered: u64,
    pub lost_own: u64,
    pub lost_by_cause: Option<serde_json::Value>,
    pub backend: String,
    /// utime+stime of the tool from ready to just before SIGINT.
    pub cpu_s: f64,
    /// The tool's whole life (wait4 rusage), including start-up and teardown.
    pub cpu_total_s: f64,
    /// Busy CPU of the whole machine from just before sending to drained: wall time
    /// times CPUs less idle, iowait and steal ([`CpuClock::busy_since`]).
    pub machine_cpu_s: f64,
    /// The same window by the tick-sampled fields of /proc/stat, steal included (the
    /// bench's figure before; [`CpuClock::ticks_since`]).
    pub machine_ticks_s: f64,
    /// Wall time of the window.
    pub window_s: f64,
    /// The part of it used by other sessions' processes ([`Foreign`]).
    pub foreign_cpu_s: f64,
    /// The same as the bench counted it before: without the processes that start and
    /// end inside the window ([`Foreign::alive_only_since`]).
    pub foreign_alive_only_cpu_s: f64,
    /// The tool's eBPF programs over the same window.
    pub programs: Vec<ProgDelta>,
    pub exit_code: i32,
}

impl Sample {
    /// Busy CPU of the machine without other sessions' processes, per frame sent.
    pub fn machine_ns_per_frame(&self) -> f64 {
        (self.machine_cpu_s - self.foreign_cpu_s) * 1e9 / self.offered.max(1) as f64
    }

    /// The same with everything /proc/stat counted.
    pub fn raw_machine_ns_per_frame(&self) -> f64 {
        self.machine_cpu_s * 1e9 / self.offered.max(1) as f64
    }

    /// The machine figure by the tick-sampled fields, foreign CPU taken off as well.
    pub fn ticks_machine_ns_per_frame(&self) -> f64 {
        (self.machine_ticks_s - self.foreign_cpu_s) * 1e9 / self.offered.max(1) as f64
    }

    /// A run meant to be without statistics that saw them on.
    pub fn stats_intruded(&self) -> bool {
        !self.bpf_stats && self.stats_seen.any()
    }
}

/// The inode of the bench's network namespace (`ip netns` bind-mounts it).
fn veth_netns(veth: &Veth) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", veth.ns))
        .ok()
        .map(|m| m.ino())
}

/// Runs `tool` once on `sc`; with `bpf_stats`, holds the statistics on from before the
/// tool starts until it has stopped.
pub fn run_once(
    veth: &Veth,
    tool: &Tool,
    sc: &Scenario,
    out: &Path,
    stats: &Path,
    bpf_stats: bool,
    probe: &KeyProbe,
) -> Result<Sample> {
    let _ = std::fs::remove_file(stats);
    // Before the tool starts: turning the key on patches the kernel's text.
    let stats_fd = if bpf_stats {
        Some(StatsFd::enable()?)
    } else {
        None
    };
    let running = match tool.family {
        Family::None => None,
        _ => {
            let mut cmd = Command::new(&tool.args[0]);
            cmd.args(&tool.args[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            Some(proc::Running::start(&mut cmd, tool.family.ready())?)
        }
    };
    let pid = running.as_ref().map(proc::Running::pid);
    let progs0 = pid.map(bpfstats::programs_of).unwrap_or_default();
    let names = if progs0.is_empty() {
        Default::default()
    } else {
        bpfstats::names()
    };
    let cpu0 = running.as_ref().map_or(Ok(0.0), proc::Running::cpu_s)?;
    let peer_tx0 = trafgen::peer_tx_packets(veth);
    let rx0 = veth.host_counter("rx_packets");
    let netns = veth_netns(veth);
    let seen = StatsSeen::at_start(probe);
    if bpf_stats && seen.key_start != Some(true) {
        bail!("BPF_ENABLE_STATS held, yet the probe saw the statistics off");
    }
    let foreign0 = Foreign::snapshot(netns);
    let clock0 = CpuClock::read()?;

    let sent = trafgen::send(veth, sc, out, peer_tx0)?;
    let sent_at = Instant::now();
    let offered = sent.frames;
    let offered_pps = offered as f64 / sent.secs.max(1e-6);

    match &running {
        Some(r) => r.wait_idle(IDLE_WINDOW, DRAIN_LIMIT)?,
        None => std::thread::sleep(IDLE_WINDOW),
    }
    // Before tcpdump's extra wait, which would only add other processes' CPU.
    let clock1 = CpuClock::read()?;
    let foreign1 = Foreign::snapshot(netns);
    let foreign_alive_only_cpu_s = foreign1.alive_only_since(&foreign0);
    let machine_cpu_s = clock1.busy_since(&clock0);
    // More than the machine was busy: a reaped child's earlier life was counted (one
    // whose times could not be read before); the narrower count then.
    let foreign_cpu_s = Some(foreign1.since(&foreign0))
        .filter(|f| *f <= machine_cpu_s)
        .unwrap_or(foreign_alive_only_cpu_s);
    let host_rx = veth.host_counter("rx_packets").saturating_sub(rx0);
    let progs1 = pid.map(bpfstats::programs_of).unwrap_or_default();
    let programs = bpfstats::deltas(&progs0, &progs1, &names);
    let stats_seen = seen.at_end(probe, &programs);
    let mut sample = Sample {
        bpf_stats,
        stats_seen,
        asked: sc.frames,
        generator_aborted: sent.aborted,
        offered,
        offered_pps,
        host_rx,
        captured: 0,
        filtered: 0,
        lost_own: 0,
        lost_by_cause: None,
        backend: Account::nothing().backend,
        cpu_s: 0.0,
        cpu_total_s: 0.0,
        machine_cpu_s,
        machine_ticks_s: clock1.ticks_since(&clock0),
        window_s: clock1.wall_since(&clock0),
        foreign_cpu_s,
        foreign_alive_only_cpu_s,
        programs,
        exit_code: 0,
    };
    let Some(running) = running else {
        return Ok(sample);
    };
    if matches!(
        tool.family,
        Family::Tcpdump | Family::Softflowd | Family::Pmacctd
    ) {
        // libpcap's block timeout, as for tcpdump.
        let waited = sent_at.elapsed();
        if waited < TCPDUMP_MIN_DRAIN {
            std::thread::sleep(TCPDUMP_MIN_DRAIN - waited);
        }
    }
    let cpu1 = running.cpu_s()?;
    let queried = account::query(tool)?;
    let (exited, stderr) = running.stop()?;
    drop(stats_fd);
    if exited.code != 0 && exited.code != 128 + libc::SIGINT {
        bail!("exited with {}; stderr:\n{stderr}", exited.code);
    }
    let Account {
        captured,
        filtered,
        lost_own,
        lost_by_cause,
        backend,
    } = Account::read(tool.family, stats, &stderr, &queried)?;
    sample.captured = captured;
    sample.filtered = filtered;
    sample.lost_own = lost_own;
    sample.lost_by_cause = lost_by_cause;
    sample.backend = backend;
    sample.cpu_s = cpu1 - cpu0;
    sample.cpu_total_s = exited.cpu_s;
    sample.exit_code = exited.code;
    Ok(sample)
}
