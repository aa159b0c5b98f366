//! What a capture tool's eBPF programs cost inside the kernel, from the kernel's own
//! accounting: with `kernel.bpf_stats_enabled=1` (Linux 5.1) every program run adds its
//! duration to the program's `run_time_ns` and one to its `run_cnt` (a tail call counts
//! in its caller). The counters are per program, not per process.
//!
//! Which programs belong to a tool: those whose fds it holds (`/proc/PID/fd` links
//! `anon_inode:bpf-prog`); their counters come from `/proc/PID/fdinfo/FD` (`prog_id`,
//! `run_time_ns`, `run_cnt`), so a program that a concurrent test loads under the same
//! name is never counted. Names come from `bpftool -j prog show` (fdinfo has none).
//!
//! The statistics add two clock reads to every run of every program while enabled, so
//! a bench turns them on only while it needs them. Two switches, one static key: the
//! sysctl ([`StatsEnabled`]: restores the old value when it drops, at the end, on an
//! error and after Ctrl-C, which ends the run and unwinds to the guards, see
//! [`super::check_interrupted`]; a `kill -9` of xtask leaves them on), and the
//! `BPF_ENABLE_STATS` command of `bpf(2)` ([`StatsFd`], Linux 5.8): on while its fd is
//! open, so the kernel turns them off when the process ends, however it ends. The key
//! counts its holders: the sysctl is one (whatever it was set to how often), every fd
//! another. Reading the sysctl shows only its own part: 0 while another process
//! holds an fd and the statistics run. [`KeyProbe`] asks the key itself.
use std::{
    collections::HashMap,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    process::Command,
};

use anyhow::{Context, Result};
use serde::Serialize;

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// `kernel.bpf_stats_enabled=1` while it lives; the old value afterwards.
pub struct StatsEnabled {
    old: String,
}

impl StatsEnabled {
    pub fn enable() -> Result<StatsEnabled> {
        let old = std::fs::read_to_string(SYSCTL)
            .with_context(|| format!("reading {SYSCTL}"))?
            .trim()
            .to_owned();
        std::fs::write(SYSCTL, "1").with_context(|| format!("writing 1 to {SYSCTL}"))?;
        Ok(StatsEnabled { old })
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        let StatsEnabled { old } = self;
        if let Err(e) = std::fs::write(SYSCTL, old.as_bytes()) {
            eprintln!("bench: could not restore kernel.bpf_stats_enabled={old}: {e}");
        }
    }
}

/// `kernel.bpf_stats_enabled` as the sysctl reads: `Some(true)` for 1; `None` when it
/// cannot be read.
pub fn sysctl_on() -> Option<bool> {
    let v = std::fs::read_to_string(SYSCTL).ok()?;
    Some(v.trim() != "0")
}

/// `bpf(2)` commands and constants used here (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_STATS_RUN_TIME: u32 = 0;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// `bpf(cmd, attr, size)` with `attr` a zero-padded `union bpf_attr` of 128 bytes (the
/// kernel accepts a shorter one if the bytes it does not know are zero). Returns the
/// syscall's non-negative result.
fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a live, writable, 8-byte aligned buffer of the size passed; the
    // pointers inside it (set by the callers) point to live buffers of the sizes given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Takes ownership of a file descriptor a `bpf(2)` call returned.
fn owned_fd(r: libc::c_long) -> Result<OwnedFd> {
    let fd = i32::try_from(r).context("bpf(2) returned an fd out of range")?;
    // SAFETY: fd was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Run-time statistics on while it lives (`BPF_ENABLE_STATS`, `BPF_STATS_RUN_TIME`):
/// dropping it, or the process ending in any way, closes the fd and gives the kernel
/// back its count. Leaves the sysctl as it was.
pub struct StatsFd {
    /// Held for its close on drop.
    _fd: OwnedFd,
}

impl StatsFd {
    pub fn enable() -> Result<StatsFd> {
        let mut attr = [0u64; 16];
        attr[0] = u64::from(BPF_STATS_RUN_TIME);
        let r = bpf(BPF_ENABLE_STATS, &mut attr)
            .context("bpf(BPF_ENABLE_STATS, BPF_STATS_RUN_TIME) (Linux 5.8, CAP_SYS_ADMIN)")?;
        Ok(StatsFd { _fd: owned_fd(r)? })
    }
}

/// Asks whether the statistics are on right now, whoever turned them on: a program of
/// two instructions (`r0 = 0; exit`, a socket filter) run once by `BPF_PROG_TEST_RUN`,
/// which counts the run in its `run_cnt` only while the key is on.
pub struct KeyProbe(OwnedFd);

impl KeyProbe {
    pub fn load() -> Result<KeyProbe> {
        // mov64 r0, 0 (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT).
        let insns: [u64; 2] = [0xb7, 0x95];
        let license = c"GPL";
        let mut attr = [0u64; 16];
        attr[0] = u64::from(BPF_PROG_TYPE_SOCKET_FILTER) | (insns.len() as u64) << 32;
        attr[1] = insns.as_ptr() as u64;
        attr[2] = license.as_ptr() as u64;
        let r = bpf(BPF_PROG_LOAD, &mut attr).context("loading the statistics probe")?;
        Ok(KeyProbe(owned_fd(r)?))
    }

    /// Whether the statistics were on during one run of the probe.
    pub fn stats_on(&self) -> Result<bool> {
        let before = self.run_cnt()?;
        self.test_run(1)?;
        Ok(self.run_cnt()? > before)
    }

    /// The kernel's mean ns per run of the probe over `repeat` runs (the test run's
    /// `duration`): with the statistics on less with them off, what they add to every
    /// run of every program.
    pub fn ns_per_run(&self, repeat: u32) -> Result<u32> {
        self.test_run(repeat)
    }

    /// `BPF_PROG_TEST_RUN` of the probe `repeat` times; returns `duration`.
    fn test_run(&self, repeat: u32) -> Result<u32> {
        // An Ethernet frame of zeros: a socket filter's test run needs at least 14 bytes.
        let data = [0u8; 64];
        let mut attr = [0u64; 16];
        attr[0] = self.0.as_raw_fd() as u32 as u64;
        attr[1] = data.len() as u64; // data_size_in; data_size_out 0
        attr[2] = data.as_ptr() as u64;
        attr[4] = u64::from(repeat); // repeat; duration (out) in the upper half
        bpf(BPF_PROG_TEST_RUN, &mut attr).context("running the statistics probe")?;
        Ok((attr[4] >> 32) as u32)
    }

    fn run_cnt(&self) -> Result<u64> {
        let path = format!("/proc/self/fdinfo/{}", self.0.as_raw_fd());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Ok(parse_fdinfo(&text)
            .context("no prog_id in the probe's fdinfo")?
            .run_cnt)
    }
}

/// What the statistics add to one program run: mean ns per run of the probe by
/// `BPF_PROG_TEST_RUN` (`repeat` runs each time), `rounds` times with them off and on
/// in turn. A round whose off measurement found them on (another process holds them)
/// gives only its on figure.
pub fn cost_per_run(probe: &KeyProbe, repeat: u32, rounds: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        super::check_interrupted()?;
        if !probe.stats_on()? {
            let ns = probe.ns_per_run(repeat)?;
            if !probe.stats_on()? {
                off.push(f64::from(ns));
            }
        }
        let held = StatsFd::enable()?;
        on.push(f64::from(probe.ns_per_run(repeat)?));
        drop(held);
    }
    Ok((off, on))
}

/// One program's counters at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub id: u32,
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

/// The counters of every eBPF program that process `pid` holds an fd of, by id.
pub fn programs_of(pid: u32) -> Vec<Counters> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut out: Vec<Counters> = Vec::new();
    for fd in fds.flatten() {
        let is_prog =
            std::fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("anon_inode:bpf-prog"));
        if !is_prog {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let Some(c) = std::fs::read_to_string(info)
            .ok()
            .and_then(|t| parse_fdinfo(&t))
        else {
            continue;
        };
        if !out.iter().any(|o| o.id == c.id) {
            out.push(c);
        }
    }
    out.sort_by_key(|c| c.id);
    out
}

/// `prog_id`, `run_time_ns` and `run_cnt` of a bpf-prog fdinfo text.
fn parse_fdinfo(text: &str) -> Option<Counters> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().parse::<u64>().ok())?
        })
    };
    Some(Counters {
        id: u32::try_from(field("prog_id")?).ok()?,
        run_time_ns: field("run_time_ns").unwrap_or(0),
        run_cnt: field("run_cnt").unwrap_or(0),
    })
}

/// Program names by id from `bpftool -j prog show`; empty when bpftool cannot run.
pub fn names() -> HashMap<u32, String> {
    let Ok(out) = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
    else {
        return HashMap::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = u32::try_from(p.get("id")?.as_u64()?).ok()?;
            let name = p.get("name")?.as_str()?.to_owned();
            Some((id, name))
        })
        .collect()
}

/// What one program did during one run.
#[derive(Clone, Debug, Serialize)]
pub struct ProgDelta {
    pub name: String,
    pub id: u32,
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

/// Counter deltas from `before` to `after` of the programs in `after`, named from
/// `names` (`prog<ID>` when unknown). A program missing from `before` counts from zero.
pub fn deltas(
    before: &[Counters],
    after: &[Counters],
    names: &HashMap<u32, String>,
) -> Vec<ProgDelta> {
    after
        .iter()
        .map(|a| {
            let b = before.iter().find(|b| b.id == a.id);
            ProgDelta {
                name: names
                    .get(&a.id)
                    .cloned()
                    .unwrap_or_else(|| format!("prog{}", a.id)),
                id: a.id,
                run_time_ns: a.run_time_ns - b.map_or(0, |b| b.run_time_ns.min(a.run_time_ns)),
                run_cnt: a.run_cnt - b.map_or(0, |b| b.run_cnt.min(a.run_cnt)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_of_a_program() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1060\nprog_type:\t6\n\
                    prog_jited:\t1\nprog_tag:\t7766bffb358b225e\nmemlock:\t4096\n\
                    prog_id:\t109\nrun_time_ns:\t28926156\nrun_cnt:\t100005\n\
                    recursion_misses:\t0\nverified_insns:\t39\n";
        assert_eq!(
            parse_fdinfo(text),
            Some(Counters {
                id: 109,
                run_time_ns: 28_926_156,
                run_cnt: 100_005
            })
        );
        assert_eq!(parse_fdinfo("pos:\t0\nflags:\t02\n"), None);
    }

    #[test]
    fn deltas_by_id() {
        let c = |id, t, n| Counters {
            id,
            run_time_ns: t,
            run_cnt: n,
        };
        let names = HashMap::from([(7, "netcap_xdp".to_owned())]);
        let d = deltas(&[c(7, 100, 2)], &[c(7, 400, 5), c(8, 50, 1)], &names);
        assert_eq!(
            (d[0].name.as_str(), d[0].run_time_ns, d[0].run_cnt),
            ("netcap_xdp", 300, 3)
        );
        assert_eq!(
            (d[1].name.as_str(), d[1].run_time_ns, d[1].run_cnt),
            ("prog8", 50, 1)
        );
    }

    /// Root only (`NETCAP_PRIVILEGED_TESTS=1`): with a `BPF_ENABLE_STATS` fd open the
    /// probe sees the statistics on, and the sysctl reads as before. (After the fd
    /// closes they may still be on: another process may hold them.)
    #[test]
    fn stats_fd_turns_the_key_on() {
        if std::env::var_os("NETCAP_PRIVILEGED_TESTS").is_none() {
            eprintln!("skipped: set NETCAP_PRIVILEGED_TESTS=1 (needs root)");
            return;
        }
        let probe = KeyProbe::load().expect("probe loads");
        let sysctl = sysctl_on();
        let fd = StatsFd::enable().expect("BPF_ENABLE_STATS");
        assert!(probe.stats_on().expect("probe runs"));
        assert_eq!(sysctl_on(), sysctl);
        drop(fd);
        probe.stats_on().expect("probe runs");
        // Two clock reads and a per-CPU add per run: more than a two-instruction
        // program takes (when another process holds them on, no off figure).
        let (off, on) = cost_per_run(&probe, 100_000, 3).expect("test runs");
        assert_eq!(on.len(), 3);
        if !off.is_empty() {
            let (off, on) = (
                crate::bench::Spread::of(off).median,
                crate::bench::Spread::of(on).median,
            );
            eprintln!("probe: {off} ns per run without the statistics, {on} with them");
            assert!(on > off, "{on} <= {off}");
        }
    }
}
