//! `cargo xtask bench capture|offline [--quick]`: end-to-end benchmarks of the release
//! binary against tcpdump (and xdpdump live; offline, the reference turtle decoder);
//! `cargo xtask bench soak [--secs N]`: a long run that checks itself (not in CI).
//!
//! - `capture` (root): a namespace and a veth pair ([`netns::Veth`]); `trafgen` in the
//!   namespace sends UDP/IPv4 frames of fixed sizes at top rate (from one core and from
//!   all) and at stepped rates to the host end, where one capture tool runs at a time,
//!   or none (the baseline). Each run records what was offered, what reached the
//!   interface, what the tool says it captured and lost, its CPU time, its eBPF
//!   programs' kernel time ([`bpfstats`]) and the whole machine's busy time.
//! - `offline`: a generated pcap of a realistic mix ([`pcapgen`]), read by netcap in
//!   every output format, by tcpdump, and by the reference decoder; wall and CPU time.
//! - `flows`: the same kind of generated pcap, read by netcap counting flows and
//!   exporting them (`--flows-json`, IPFIX over UDP), with 1 and 2 workers, beside
//!   `softflowd -r` exporting IPFIX ([`flows`]).
//! - `kernel` (root): BPF_PROG_TEST_RUN ns per frame of the XDP and TC hooks beside a
//!   one-byte-read floor, native filter and interpreter ([`kernel`]); writes
//!   `docs/bench/kernel.{md,json}`.
//! - `kernel-live` (root): the same hooks' ns per frame in a live capture (generic XDP,
//!   `kernel.bpf_stats_enabled`), part by part, beside the floor ([`kernel_live`]).
//! - `drain` (root): netcap stopped (SIGSTOP) while trafgen fills its per-CPU XDP
//!   rings, then timed draining them with 1 and 2 workers, and each thread's CPU time
//!   per frame ([`capture::drain`]); 5 runs each, once with `--quick`.
//! - `soak` (root): netcap with `--flows` and a rotating `-w` ring for `--secs` (600)
//!   of mixed traffic and flow floods; fails unless its RSS stays within the bound its
//!   flags give, every frame is accounted for and every file reads ([`soak`]).
//!
//! Results go to `target/bench/{capture,offline,flows,soak,drain}.{json,md}` and
//! `target/bench/capture.svg`. Benchmarks report; they never assert a time (the soak
//! asserts memory and counts, not time). Every capture and offline run is repeated (3
//! times, once with `--quick`) and reported as median and min–max.
//!
//! Cleanup: the veth pair and namespace are removed by a guard's `Drop` on every path,
//! and so is `kernel.bpf_stats_enabled` restored; Ctrl-C is caught
//! ([`check_interrupted`]) so that the current run ends, the guards drop and only then
//! the process exits. Leftovers of a killed run (`ncb<pid>` namespaces whose pid is
//! gone) are removed at the next start.
mod bpfstats;
mod capture;
mod flows;
mod kernel;
mod kernel_live;
mod netns;
mod offline;
mod pcapgen;
mod plot;
mod probe;
mod proc;
mod soak;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// Which benchmark to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Live capture on a veth pair: netcap (XDP, AF_PACKET) vs tcpdump (needs root).
    Capture,
    /// Reading a generated pcap: netcap's formats vs tcpdump vs the reference decoder.
    Offline,
    /// netcap for --secs with flows, rotation and flow floods; checks RSS and the counts (root).
    Soak,
    /// Flow accounting and export from a file (1 and 2 workers) beside softflowd -r.
    Flows,
    /// BPF_PROG_TEST_RUN ns per frame of the XDP and TC hooks beside a floor program,
    /// native filter vs interpreter (root); writes docs/bench/kernel.{md,json}.
    Kernel,
    /// The XDP program's ns per frame in a live capture (bpf_stats, generic mode), part
    /// by part, beside the floor (root); writes target/bench/kernel-live.{md,json}.
    KernelLive,
    /// Decode capacity from full XDP rings: netcap stopped while trafgen fills them, then
    /// timed draining them, 1 and 2 workers (root).
    Drain,
}

/// What to run.
pub struct Options {
    /// One run of each, fewer frames.
    pub quick: bool,
    /// Capture: tool names must contain one of these (all tools when empty). The
    /// no-capture baseline and tcpdump -w, which other rows are measured against, always run.
    pub only: Vec<String>,
    /// Capture: skip the stepped-rate scenarios.
    pub top_rate_only: bool,
    /// Capture: scenario labels must contain one of these (all when empty).
    pub scenario: Vec<String>,
    /// Capture: a second netcap binary whose rows run beside the first's.
    pub compare_bin: Option<std::path::PathBuf>,
    /// Capture: argument sets each netcap row runs with again, added to its own.
    pub variant: Vec<String>,
    /// Repetitions (default 3, 1 with `quick`).
    pub runs: Option<usize>,
    /// Capture: frames per top-rate run (default: from the calibrated rate).
    pub frames: Option<u64>,
    /// Soak: seconds of traffic.
    pub secs: u64,
}

/// Runs one benchmark with the release binary `bin` and the kernel bench's helper
/// `kbench` (`netcap/examples/kbench.rs`); results under `target/bench/` (the kernel
/// bench's under `docs/bench/`).
pub fn run(root: &Path, bin: &Path, kbench: &Path, kind: Kind, opts: &Options) -> Result<()> {
    let quick = opts.quick;
    install_interrupt_handler();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Others may rebuild target/release/netcap while the bench runs: time a copy.
    let copy = out.join("netcap");
    std::fs::copy(bin, &copy).with_context(|| format!("copying {}", bin.display()))?;
    let kbench_copy = out.join("kbench");
    std::fs::copy(kbench, &kbench_copy).with_context(|| format!("copying {}", kbench.display()))?;
    let machine = Machine::describe();
    eprintln!("bench: {}", machine.summary());
    let result = match kind {
        Kind::Capture => capture::run(root, &copy, &kbench_copy, &out, &machine, opts),
        Kind::Offline => offline::run(root, &copy, &out, &machine, quick),
        Kind::Soak => soak::run(root, &copy, &out, &machine, opts.secs),
        Kind::Flows => flows::run(&copy, &out, &machine, quick),
        Kind::Kernel => kernel::run(root, &kbench_copy, &machine, opts.runs, quick),
        Kind::KernelLive => {
            kernel_live::run(root, &copy, &kbench_copy, &machine, opts.runs, &opts.only)
        }
        Kind::Drain => capture::drain::run(&copy, &out, &machine, opts),
    };
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_file(&kbench_copy);
    eprintln!("bench: load average at the end: {}", load_average());
    result
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set a flag instead of killing xtask, so that guards can clean up.
/// The tools we started get the terminal's SIGINT too and stop by themselves.
fn install_interrupt_handler() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // sigaction struct is fully initialised (zeroed, then the handler set).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Fails once Ctrl-C was pressed; called between and inside runs.
pub fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// What ran the benchmark, for the reports.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub mem_gib: f64,
    pub kernel: String,
    pub tcpdump: String,
    pub netcap_commit: String,
    /// 1-minute load average when the bench started: this machine is shared.
    pub load_at_start: String,
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

impl Machine {
    fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']))
            })
            .unwrap_or("unknown")
            .to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let tcpdump = command_output("tcpdump", &["--version"])
            .lines()
            .next()
            .unwrap_or("tcpdump: not found")
            .to_owned();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_gib: (mem_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            kernel: command_output("uname", &["-r"]).trim().to_owned(),
            tcpdump,
            netcap_commit: command_output("git", &["rev-parse", "--short", "HEAD"])
                .trim()
                .to_owned(),
            load_at_start: load_average(),
        }
    }

    pub fn summary(&self) -> String {
        let Machine {
            cpu,
            cores,
            mem_gib,
            kernel,
            tcpdump,
            netcap_commit,
            load_at_start,
        } = self;
        format!(
            "{cores} x {cpu} (VM), {mem_gib} GiB, Linux {kernel}, {tcpdump}, netcap {netcap_commit}; \
             load average {load_at_start} at start (shared machine)"
        )
    }
}

/// stdout (and stderr) of a command, empty when it cannot run.
fn command_output(prog: &str, args: &[&str]) -> String {
    std::process::Command::new(prog)
        .args(args)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s
        })
        .unwrap_or_default()
}

/// Median and range of repeated measurements.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// `median (min–max)` with `fmt` applied to each number; just the median when the
    /// range looks the same (one run); `–` when no run gave a number.
    pub fn show(&self, fmt: impl Fn(f64) -> String) -> String {
        if !self.median.is_finite() {
            return "–".into();
        }
        let (median, min, max) = (fmt(self.median), fmt(self.min), fmt(self.max));
        if min == max {
            median
        } else {
            format!("{median} ({min}–{max})")
        }
    }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Writes `text` to `path`, saying so on stderr.
pub fn write_report(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("bench: wrote {}", path.display());
    Ok(())
}

/// `n` with thousands separators: 1234567 -> "1,234,567".
pub fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A path relative to the workspace root, for reports.
pub fn rel(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root)
        .map_or_else(|_| p.to_path_buf(), Path::to_path_buf)
}
