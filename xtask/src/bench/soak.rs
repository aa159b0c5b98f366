//! `bench soak` (root; not run in CI): netcap left running for `--secs` (600 by
//! default) with flows counted, its `-w` file rotating in a ring and the traffic
//! switching between a few mixed flows and a flood of new ones, to show that its memory
//! stays within what its flags allow and that every frame is accounted for.
//!
//! One run: a namespace and a veth pair ([`Veth`]); netcap on the host end with
//! `--flows --max-flows 100000 -w DIR/soak.pcap -C 10 -W 5 -F none`; `trafgen` in the
//! namespace alternating [`Phase::Mixed`] and [`Phase::Flood`] (phases of a quarter of
//! the run, at most [`PHASE_SECS_MAX`]); netcap's `VmRSS` (/proc/PID/status) read every
//! second, its `VmHWM` until it has exited (so the flow report at exit counts too). At
//! the end: SIGINT, then the checks, each a line of the summary, all of which must hold:
//!
//! - netcap exited with status 0;
//! - `seen == captured + filtered + lost` in its `--stats-json`;
//! - the ring was used (at least two files) and `tcpdump -r` reads every file whole;
//! - the highest RSS sample and `VmHWM` stay within [`Bound`], computed from the flags.
//!
//! Results: `target/bench/soak.{json,md}`; the pcap ring and netcap's statistics are
//! written under `target/bench/soak/` and removed at the end, on every path.
mod report;
mod traffic;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use self::report::{checks, late_growth, markdown, mib};
use self::traffic::{Generator, Phase};
use super::{check_interrupted, netns::Veth, proc, thousands, write_json, write_report, Machine};

/// Longest phase; shorter runs get four phases (mixed, flood, mixed, flood). 30 s is
/// long enough for the flow table to fill and evict through most of a flood phase, and
/// gives a 600 s run ten of each.
const PHASE_SECS_MAX: f64 = 30.0;
/// Shortest phase, whatever `--secs` says.
const PHASE_SECS_MIN: f64 = 2.0;
/// `--max-flows`: small enough that a flood phase fills it within seconds (see
/// [`traffic::GAP_US`]), large enough that the flow table is most of the bound.
const MAX_FLOWS: usize = 100_000;
/// `-C` (millions of bytes, as tcpdump) and `-W`: a ring of five 10 MB files.
const FILE_MB: u64 = 10;
const FILES: u32 = 5;
/// `-B`: netcap's default ring, in KiB, passed explicitly because the bound counts it.
const BUFFER_KIB: u64 = 16_384;
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// netcap's tuning constants the bound counts (netcap/src/pipeline/mod.rs): batches of
/// at most `BATCH_BYTES` of frame data, `QUEUE_PER_WORKER` of them queued per worker,
/// `POOL_BATCHES` kept for reuse.
const BATCH_BYTES: u64 = 256 * 1024;
const QUEUE_PER_WORKER: u64 = 8;
const POOL_BATCHES: u64 = 64;
/// README ("Memory is bounded by the flags"): each flow shard keeps at most
/// `--max-flows / workers` live flows plus `max(--max-flows, 16384)` finished records,
/// "about 200 bytes each".
const FLOW_BYTES: u64 = 200;
const FINISHED_FLOOR: u64 = 16_384;
/// What the flags do not cover: the writer's and the files' buffers, the histograms,
/// thread stacks, the allocator's per-thread arenas and a hash map's doubling.
const SLACK_MIB: u64 = 32;

const MIB: u64 = 1024 * 1024;

/// The memory netcap may use with the soak's flags, in bytes, by part.
#[derive(Clone, Debug, Serialize)]
struct Bound {
    /// VmRSS when netcap said it was capturing, before any traffic: the binary, its
    /// libraries and what it set up.
    at_start: u64,
    /// `-B`, rounded up to a power of two as netcap does: the mapped kernel ring(s).
    ring: u64,
    /// (workers x QUEUE_PER_WORKER + POOL_BATCHES) x BATCH_BYTES.
    batches: u64,
    /// workers x (max_flows / workers + max(max_flows, 16384)) x 200 B (README).
    flows: u64,
    slack: u64,
    total: u64,
}

impl Bound {
    fn new(at_start: u64, workers: u64) -> Bound {
        let ring = (BUFFER_KIB * 1024).next_power_of_two();
        let batches = (workers * QUEUE_PER_WORKER + POOL_BATCHES) * BATCH_BYTES;
        let max_flows = MAX_FLOWS as u64;
        let flows =
            workers * (max_flows.div_ceil(workers) + max_flows.max(FINISHED_FLOOR)) * FLOW_BYTES;
        let slack = SLACK_MIB * MIB;
        Bound {
            at_start,
            ring,
            batches,
            flows,
            slack,
            total: at_start + ring + batches + flows + slack,
        }
    }

    fn explain(&self) -> String {
        let Bound {
            at_start,
            ring,
            batches,
            flows,
            slack,
            total,
        } = self;
        format!(
            "{} MiB = {} at start + {} ring (-B) + {} batches + {} flows (README: live \
             flows and finished records, 200 B each) + {} slack",
            mib(*total),
            mib(*at_start),
            mib(*ring),
            mib(*batches),
            mib(*flows),
            mib(*slack)
        )
    }
}

/// One phase as it ran.
#[derive(Debug, Serialize)]
struct PhaseRun {
    phase: Phase,
    secs: f64,
    /// The host end's `rx_packets` delta over the phase.
    host_rx: u64,
    /// Highest VmRSS sample in the phase, bytes.
    rss_max: u64,
}

/// One file of the ring, as `tcpdump -r` read it.
#[derive(Debug, Serialize)]
struct FileCheck {
    name: String,
    bytes: u64,
    frames: u64,
    /// tcpdump's complaint, when it had one.
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Check {
    name: String,
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    command: String,
    secs: f64,
    workers: u64,
    phases: Vec<PhaseRun>,
    /// VmRSS every second, bytes.
    rss: Vec<u64>,
    rss_max: u64,
    /// VmHWM just before netcap's mm went away (the exit's flow report included).
    hwm: u64,
    /// Highest sample of the last quarter over the highest of the second: a leak shows
    /// as growth here long before it reaches the bound.
    rss_late_growth: i64,
    bound: Bound,
    host_rx: u64,
    files: Vec<FileCheck>,
    exit_code: i32,
    /// netcap's own `--stats-json`.
    stats: serde_json::Value,
    checks: Vec<Check>,
    pass: bool,
}

pub fn run(root: &Path, bin: &Path, out: &Path, machine: &Machine, secs: u64) -> Result<()> {
    if !crate::is_root() {
        bail!("bench soak needs root (namespaces, veth, packet sockets): run it with sudo -E");
    }
    for prog in ["trafgen", "tcpdump"] {
        if Command::new(prog).arg("--version").output().is_err() {
            bail!("{prog} not found: apt-get install netsniff-ng tcpdump");
        }
    }
    let secs = secs.max(1) as f64;
    let dir = out.join("soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _cleanup = RemoveDir(dir.clone());
    let stats = dir.join("stats.json");
    let wfile = dir.join("soak.pcap");
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;

    let veth = Veth::create()?;
    let args: Vec<String> = [
        "capture",
        "-i",
        &veth.host_if,
        "--flows",
        "--max-flows",
        &MAX_FLOWS.to_string(),
        "--workers",
        &workers.to_string(),
        "-B",
        &BUFFER_KIB.to_string(),
        "-w",
        &wfile.display().to_string(),
        "-C",
        &FILE_MB.to_string(),
        "-W",
        &FILES.to_string(),
        "--stats-json",
        &stats.display().to_string(),
        "-F",
        "none",
    ]
    .map(str::to_owned)
    .into();
    // Paths relative to the workspace, for the reports.
    let command = format!("netcap {}", args.join(" ")).replace(&format!("{}/", root.display()), "");
    eprintln!("bench: soak for {secs:.0} s: {command}");
    let mut cmd = Command::new(bin);
    cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null());
    let netcap = proc::Running::start(&mut cmd, "capturing with")?;
    let pid = netcap.pid();
    let bound = Bound::new(vm_bytes(pid, "VmRSS")?, workers);
    eprintln!("bench: bound {}", bound.explain());

    let rx0 = veth.host_counter("rx_packets");
    let (phases, rss) = drive(&veth, &dir, pid, secs)?;
    let host_rx = veth.host_counter("rx_packets").saturating_sub(rx0);
    // Frames still in the kernel ring or a block not yet retired reach netcap first.
    netcap.wait_idle(Duration::from_millis(300), Duration::from_secs(10))?;
    let hwm = HwmWatch::start(pid);
    let (exited, stderr) = netcap.stop()?;
    let hwm = hwm.finish();
    drop(veth);

    let stats_json: serde_json::Value = std::fs::read_to_string(&stats)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .with_context(|| {
            format!(
                "no readable {}; netcap's stderr:\n{stderr}",
                stats.display()
            )
        })?;
    let files = check_files(&dir, &wfile)?;
    let rss_max = rss.iter().copied().max().unwrap_or(0);
    let checks = checks(
        &stats_json,
        exited.code,
        &files,
        rss_max,
        hwm,
        &bound,
        &stderr,
    );
    let pass = checks.iter().all(|c| c.ok);
    let report = Report {
        machine,
        command,
        secs,
        workers,
        phases,
        rss_late_growth: late_growth(&rss),
        rss,
        rss_max,
        hwm,
        bound,
        host_rx,
        files,
        exit_code: exited.code,
        stats: stats_json,
        checks,
        pass,
    };
    write_json(&out.join("soak.json"), &report)?;
    let md = markdown(&report);
    write_report(&out.join("soak.md"), &md)?;
    for c in &report.checks {
        eprintln!(
            "bench: soak {} {}: {}",
            if c.ok { "PASS" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    if !pass {
        bail!("soak failed; netcap's stderr:\n{stderr}");
    }
    eprintln!("bench: soak PASSED");
    Ok(())
}

/// Runs the phases for `secs`, sampling netcap's RSS every second; returns the phases
/// and the samples.
fn drive(veth: &Veth, dir: &Path, pid: u32, secs: f64) -> Result<(Vec<PhaseRun>, Vec<u64>)> {
    let phase_secs = (secs / 4.0).clamp(PHASE_SECS_MIN, PHASE_SECS_MAX);
    let cfg = dir.join("trafgen.cfg");
    let start = Instant::now();
    let mut phases = Vec::new();
    let mut rss = Vec::new();
    let mut next_sample = start;
    let mut phase = Phase::Mixed;
    while start.elapsed().as_secs_f64() < secs {
        let began = Instant::now();
        let rx0 = veth.host_counter("rx_packets");
        let length = phase_secs.min(secs - start.elapsed().as_secs_f64());
        let mut gen = Generator::start(veth, phase, &cfg)?;
        let mut rss_max = 0;
        while began.elapsed().as_secs_f64() < length {
            check_interrupted()?;
            gen.check()?;
            if Instant::now() >= next_sample {
                let v = vm_bytes(pid, "VmRSS")?;
                rss.push(v);
                rss_max = rss_max.max(v);
                next_sample += SAMPLE_EVERY;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        gen.stop()?;
        let run = PhaseRun {
            phase,
            secs: began.elapsed().as_secs_f64(),
            host_rx: veth.host_counter("rx_packets").saturating_sub(rx0),
            rss_max,
        };
        eprintln!(
            "bench: [{:>4.0} s] {:<5} {:>5.1} s, {:>9} frames at {:>7} pps, RSS max {} MiB",
            start.elapsed().as_secs_f64(),
            format!("{:?}", run.phase).to_lowercase(),
            run.secs,
            thousands(run.host_rx as f64),
            thousands(run.host_rx as f64 / run.secs.max(1e-9)),
            mib(run.rss_max),
        );
        phases.push(run);
        phase = match phase {
            Phase::Mixed => Phase::Flood,
            Phase::Flood => Phase::Mixed,
        };
    }
    Ok((phases, rss))
}

/// A `kB` line of /proc/PID/status (`VmRSS`, `VmHWM`) in bytes.
fn vm_bytes(pid: u32, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// Reads `VmHWM` every 10 ms on a thread until it is gone (the process has released
/// its memory), so that what netcap does after SIGINT counts too.
struct HwmWatch {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl HwmWatch {
    fn start(pid: u32) -> HwmWatch {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let mut last = 0;
            while let Ok(v) = vm_bytes(pid, "VmHWM") {
                last = v;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            last
        });
        HwmWatch { done, thread }
    }

    fn finish(self) -> u64 {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or(0)
    }
}

/// Every file of the ring (`soak.pcap0` .. `soak.pcap4`), read whole by tcpdump.
fn check_files(dir: &Path, wfile: &Path) -> Result<Vec<FileCheck>> {
    let stem = wfile.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(stem))
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let o = Command::new("tcpdump")
                .args(["-n", "-q", "-r"])
                .arg(p)
                .output()
                .context("starting tcpdump")?;
            let err = String::from_utf8_lossy(&o.stderr);
            // tcpdump says "reading from file ..." on stderr; anything else is a fault.
            let complaint: Vec<&str> = err
                .lines()
                .filter(|l| !l.starts_with("reading from file"))
                .collect();
            Ok(FileCheck {
                name: p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                bytes: std::fs::metadata(p).map_or(0, |m| m.len()),
                frames: o.stdout.iter().filter(|&&b| b == b'\n').count() as u64,
                error: (!o.status.success() || !complaint.is_empty())
                    .then(|| format!("{}: {}", o.status, complaint.join("; "))),
            })
        })
        .collect()
}

/// Removes the bench's working directory when dropped (on every path).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
