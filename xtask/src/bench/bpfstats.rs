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
//! [`StatsEnabled`] turns them on only for the bench and restores the old value when
//! it drops: at the end, on an error and after Ctrl-C (which ends the run and unwinds
//! to the guards, see [`super::check_interrupted`]). A `kill -9` of xtask leaves them on.
use std::{collections::HashMap, path::Path, process::Command};

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
}
