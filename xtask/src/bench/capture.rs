//! `bench capture`: live capture on a veth pair; netcap against tcpdump and xdpdump, and
//! against no capture at all, so that every row says what the machine pays for it.
//!
//! One run: start the tool on the host end and wait for its ready line; read the
//! counters (the tool's CPU, its eBPF programs' `run_time_ns`/`run_cnt`, the host end's
//! `rx_packets`, the machine's busy CPU); `trafgen` in the namespace sends a fixed
//! number of UDP/IPv4 frames (100,000 flows, repeating: [`trafgen::FLOWS`]); wait until the
//! tool has used no CPU for a moment (drained); read the counters again; SIGINT;
//! collect its own account (netcap `--stats-json`, tcpdump's and xdpdump's closing
//! lines). The pseudo-tool [`tools::BASELINE`] starts nothing and waits one idle window:
//! the machine's cost of the same traffic with no capture, subtracted from every other
//! row. Runs are interleaved (repetition, then scenario, then tool, the tools' order
//! rotating per repetition) so that the machine's noise spreads over all tools alike.
//!
//! The kernel's run statistics (`kernel.bpf_stats_enabled`) put two clock reads into
//! every run of every eBPF program while they are on, which users do not pay. So every
//! tool's machine figure comes from runs with them off, as the bench found them (each
//! run records whether they were on anyway: [`sample::StatsSeen`], since other
//! processes may turn them on), and every tool that loads eBPF programs
//! ([`tools::Tool::loads_bpf`]) has runs of its own in the same rotation with them held
//! on by a `BPF_ENABLE_STATS` fd ([`bpfstats::StatsFd`]): its programs' ns per run, and
//! their machine figure beside the other, whose difference is what the statistics cost
//! per frame. The bench never writes the sysctl.
mod account;
mod busy;
pub(super) mod drain;
mod foreign;
mod plan;
mod report;
mod sample;
mod summary;
mod tools;
mod trafgen;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use self::plan::{calibrate, frames_for, scenarios};
use self::sample::{run_once, Sample};
use self::summary::summarise;
use self::tools::{Family, FlowFiles, Tool, BASELINE, TCPDUMP_REF};
use super::{
    bpfstats::{self, KeyProbe},
    check_interrupted,
    netns::Veth,
    plot, thousands, write_json, write_report, Machine, Spread,
};

/// Seconds of traffic per top-rate run, at the rate one core of trafgen reached at the
/// start ([`calibrate`]; 0.35-1.6 Mpps on the 2-core VMs this ran on). /proc/stat counts
/// 10 ms ticks: at 1.6 Mpps, 0.8 s is 1.3M frames and a tick is under 10 ns per frame,
/// where 100k frames made it 100. With 18 tools, the top-rate scenarios take about
/// 2 s per run (7.4 min for 3 repetitions, measured), the full bench about 14 minutes
/// and `--quick` about 3.
const TOP_SECS: f64 = 0.8;
const TOP_SECS_QUICK: f64 = 0.3;
/// Bounds of the frames per top-rate run, whatever the measured rate.
const FRAMES_MIN: u64 = 200_000;
const FRAMES_MAX: u64 = 2_000_000;
/// Frames of each of the two calibration blasts (no capture).
const CALIBRATION_FRAMES: u64 = 300_000;
/// Frame lengths (without FCS): minimum, middle, full MTU.
const SIZES: [usize; 3] = [64, 512, 1500];
/// Stepped rates (frames/s) for the smallest frames, below the generator's top rate.
const RATES: [u64; 3] = [50_000, 100_000, 200_000];
/// Seconds of traffic per stepped-rate run (frames = rate x this, at most the top-rate count).
const STEP_SECS: f64 = 1.5;
const STEP_SECS_QUICK: f64 = 0.7;
/// A tool has drained when it used at most 2 % of a core in this window; the baseline
/// waits this long once, so every run's machine window ends with at least one.
const IDLE_WINDOW: Duration = Duration::from_millis(200);
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// libpcap's TPACKET_V3 block timeout is its read timeout, 1000 ms: frames in a
/// partly filled block reach tcpdump only then, and tcpdump does not read that block
/// on SIGINT. So tcpdump gets this long after the last frame before it is stopped
/// (outside the machine CPU window: that last block is at most a few thousand frames).
const TCPDUMP_MIN_DRAIN: Duration = Duration::from_millis(1200);

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
struct Scenario {
    size: usize,
    /// `None`: as fast as trafgen can.
    rate_pps: Option<u64>,
    /// trafgen on every CPU (its default) instead of one (`-P 1`).
    all_cores: bool,
    frames: u64,
}

impl Scenario {
    fn label(&self) -> String {
        match (self.rate_pps, self.all_cores) {
            (None, false) => format!("{} B, top rate, 1 core", self.size),
            (None, true) => format!("{} B, top rate, all cores", self.size),
            (Some(r), _) => format!("{} B, {} kpps", self.size, r / 1000),
        }
    }
}

/// One eBPF program of a tool, over the runs of one scenario.
#[derive(Debug, Serialize)]
struct KernelProg {
    name: String,
    /// delta run_time_ns / delta run_cnt.
    ns_per_run: Spread,
    /// delta run_cnt / offered: below 1 when frames were lost before the hook.
    runs_per_offered: Spread,
    /// delta run_time_ns / offered.
    ns_per_offered: Spread,
}

#[derive(Debug, Serialize)]
struct Summary {
    tool: String,
    scenario: Scenario,
    backend: String,
    offered: Spread,
    offered_pps: Spread,
    captured: Spread,
    capture_pct: Spread,
    lost_own: Spread,
    lost_vs_offered: Spread,
    /// host_rx per offered frame.
    delivered_pct: Spread,
    /// Frames sent per frame asked (below 100 when trafgen gave up).
    sent_of_asked_pct: Spread,
    /// Runs in which trafgen gave up on a full device.
    generator_aborted_runs: usize,
    cpu_s: Spread,
    cpu_ns_per_frame: Spread,
    machine_cpu_s: Spread,
    /// Other sessions' processes over the same windows.
    foreign_cpu_s: Spread,
    /// Busy CPU of all cores per frame sent, as /proc/stat counts it.
    raw_machine_ns_per_frame: Spread,
    /// The machine figure by /proc/stat's tick-sampled fields (the bench's before).
    ticks_machine_ns_per_frame: Spread,
    /// The same without other sessions' processes: the figure the baseline is taken from.
    machine_ns_per_frame: Spread,
    /// Median machine ns/frame of the baseline runs of this scenario.
    baseline_ns_per_frame: f64,
    /// machine_ns_per_frame of each run minus baseline_ns_per_frame.
    machine_ns_over_baseline: Spread,
    /// Median machine_ns_over_baseline over that of tcpdump -w in this scenario.
    vs_tcpdump: Option<f64>,
    /// Runs in `samples` (statistics off) that saw the statistics on all the same.
    stats_intruded_runs: usize,
    /// The eBPF programs' cost, from the runs with the statistics on.
    kernel: Vec<KernelProg>,
    /// The tool's runs with the statistics held on; `None` for tools without programs.
    stats_on: Option<StatsOn>,
    /// The runs with the statistics off: every figure above comes from these.
    samples: Vec<Sample>,
}

/// A tool's runs with the statistics held on.
#[derive(Debug, Serialize)]
struct StatsOn {
    offered_pps: Spread,
    capture_pct: Spread,
    delivered_pct: Spread,
    machine_ns_per_frame: Spread,
    /// Over the same baseline as the runs with them off (the baseline loads no program).
    machine_ns_over_baseline: Spread,
    /// Median machine_ns_over_baseline with them on less that with them off: what the
    /// statistics cost the machine per frame.
    cost_ns_per_frame: f64,
    samples: Vec<Sample>,
}

/// What the statistics add to every program run, by `BPF_PROG_TEST_RUN` of the
/// two-instruction probe ([`bpfstats::cost_per_run`]), before the runs.
#[derive(Debug, Serialize)]
struct StatsCostPerRun {
    repeat: u32,
    off_ns: Spread,
    on_ns: Spread,
    /// Median on less median off.
    cost_ns: f64,
    /// Measurements each way (off: those that found the statistics off throughout).
    off_runs: usize,
    on_runs: usize,
}

/// Test runs per measurement and measurements each way (about 0.1 s in all).
const COST_REPEAT: u32 = 1_000_000;
const COST_ROUNDS: usize = 7;

fn stats_cost_per_run(probe: &KeyProbe) -> Result<StatsCostPerRun> {
    let (off, on) = bpfstats::cost_per_run(probe, COST_REPEAT, COST_ROUNDS)?;
    let (off_runs, on_runs) = (off.len(), on.len());
    let (off_ns, on_ns) = (Spread::of(off), Spread::of(on));
    Ok(StatsCostPerRun {
        repeat: COST_REPEAT,
        off_runs,
        on_runs,
        cost_ns: on_ns.median - off_ns.median,
        off_ns,
        on_ns,
    })
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    quick: bool,
    runs: usize,
    generator: String,
    /// One core of trafgen with no capture, measured before the runs.
    calibrated_top_pps: f64,
    /// Frames per top-rate run, from that rate.
    frames: u64,
    baseline: &'static str,
    tcpdump_reference: &'static str,
    stats_cost_per_run: StatsCostPerRun,
    results: Vec<Summary>,
}

pub fn run(
    root: &Path,
    bin: &Path,
    kbench: &Path,
    out: &Path,
    machine: &Machine,
    opts: &super::Options,
) -> Result<()> {
    let quick = opts.quick;
    if !crate::is_root() {
        bail!("bench capture needs root (namespaces, veth, XDP): run it with sudo -E");
    }
    trafgen::ensure_tools()?;
    let runs = opts.runs.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let step_secs = if quick { STEP_SECS_QUICK } else { STEP_SECS };
    let stats = out.join("capture-stats.json");
    let wfile = out.join("capture-w.pcap");
    let mut temp = TempFiles(vec![stats.clone(), wfile.clone()]);
    for size in SIZES {
        let cfg = trafgen::cfg_path(out, size);
        temp.0.push(cfg.clone());
        std::fs::write(&cfg, trafgen::config(size))?;
    }

    let probe = KeyProbe::load()?;
    let stats_cost = stats_cost_per_run(&probe)?;
    eprintln!(
        "bench: the run statistics add {:.0} ns to a program run (BPF_PROG_TEST_RUN: \
         {:.0} ns off, {:.0} on)",
        stats_cost.cost_ns, stats_cost.off_ns.median, stats_cost.on_ns.median
    );
    let veth = Veth::create()?;
    let top_pps = calibrate(&veth, out)?;
    let frames = opts
        .frames
        .unwrap_or_else(|| frames_for(top_pps, if quick { TOP_SECS_QUICK } else { TOP_SECS }));
    eprintln!(
        "bench: trafgen reaches {} pps from one core: {} frames per top-rate run",
        thousands(top_pps),
        thousands(frames as f64)
    );
    let mut scenarios = scenarios(frames, step_secs, opts.top_rate_only);
    if !opts.scenario.is_empty() {
        scenarios.retain(|sc| {
            opts.scenario
                .iter()
                .any(|o| sc.label().contains(o.as_str()))
        });
        if scenarios.is_empty() {
            bail!("--scenario matches no scenario");
        }
    }
    let veth_name = veth.host_if.clone();
    let flow_files = FlowFiles::under(out);
    std::fs::write(
        &flow_files.pmacctd_conf,
        tools::pmacctd_config(&veth.host_if, &flow_files.pmacctd_pipe),
    )?;
    temp.0.extend([
        flow_files.pmacctd_conf.clone(),
        flow_files.pmacctd_pipe.clone(),
        flow_files.softflowd_ctl.clone(),
    ]);
    let mut tools = tools::tools(bin, kbench, &veth.host_if, &stats, &wfile, &flow_files);
    if !opts.only.is_empty() {
        tools.retain(|t| t.is_reference() || opts.only.iter().any(|o| t.name.contains(o.as_str())));
        if tools.iter().all(Tool::is_reference) {
            bail!("--only matches no tool");
        }
    }
    let mut twins: Vec<Tool> = Vec::new();
    if let Some(other) = &opts.compare_bin {
        twins.extend(tools.iter().filter_map(|t| t.with_binary(bin, other)));
    }
    for extra in &opts.variant {
        twins.extend(tools.iter().filter_map(|t| t.with_args(bin, extra)));
    }
    tools.extend(twins);
    // Every tool with the statistics off, and each that loads programs with them on
    // right after it, the pairs rotating together.
    let variants: Vec<(usize, bool)> = tools
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| std::iter::once((ti, false)).chain(t.loads_bpf().then_some((ti, true))))
        .collect();
    let started = Instant::now();
    let mut samples: Vec<Vec<Vec<Sample>>> =
        vec![vec![Vec::new(); variants.len()]; scenarios.len()];
    let result = (|| -> Result<()> {
        for rep in 0..runs {
            for (si, sc) in scenarios.iter().enumerate() {
                for k in 0..variants.len() {
                    let vi = (k + rep) % variants.len();
                    let (ti, on) = variants[vi];
                    let tool = &tools[ti];
                    check_interrupted()?;
                    let s = run_once(&veth, tool, sc, out, &stats, on, &probe)
                        .with_context(|| format!("{} on {}", tool.name, sc.label()))?;
                    let _ = std::fs::remove_file(&wfile);
                    if !on && !s.programs.is_empty() && !tool.loads_bpf() {
                        eprintln!(
                            "bench: warning: {} loaded eBPF programs but has no runs with \
                             the statistics on (tools::Tool::loads_bpf)",
                            tool.name
                        );
                    }
                    eprintln!(
                        "bench: [{:>3.0} s] run {}/{runs} {:<26} {:<38}{} offered {:>7} at {:>7} \
                         pps, captured {:5.1} %, delivered {:5.1} %, machine {:>5.0} ns/frame \
                         (others {:.0}), cpu {:.2} s{}{}",
                        started.elapsed().as_secs_f64(),
                        rep + 1,
                        sc.label(),
                        tool.name,
                        if on { " [bpf_stats on]" } else { "" },
                        s.offered,
                        thousands(s.offered_pps),
                        pct(s.captured + s.filtered, s.offered),
                        pct(s.host_rx, s.offered),
                        s.machine_ns_per_frame(),
                        s.foreign_cpu_s * 1e9 / s.offered.max(1) as f64,
                        s.cpu_s,
                        s.generator_aborted
                            .as_deref()
                            .map(|e| format!("; trafgen gave up ({e})"))
                            .unwrap_or_default(),
                        if s.stats_intruded() {
                            "; bpf_stats were on (another process)"
                        } else {
                            ""
                        },
                    );
                    samples[si][vi].push(s);
                }
            }
        }
        Ok(())
    })();
    drop(veth);
    drop(probe);
    drop(temp);
    result?;

    let mut results = Vec::new();
    for (si, sc) in scenarios.iter().enumerate() {
        let mut take = |ti: usize, on: bool| {
            variants
                .iter()
                .position(|&v| v == (ti, on))
                .map(|vi| std::mem::take(&mut samples[si][vi]))
        };
        let mut by_tool: Vec<(Vec<Sample>, Option<Vec<Sample>>)> = (0..tools.len())
            .map(|ti| (take(ti, false).unwrap_or_default(), take(ti, true)))
            .collect();
        let base = tools
            .iter()
            .position(|t| t.name == BASELINE)
            .map_or(f64::NAN, |ni| {
                Spread::of(by_tool[ni].0.iter().map(Sample::machine_ns_per_frame)).median
            });
        let mut rows: Vec<Summary> = tools
            .iter()
            .zip(by_tool.iter_mut())
            .map(|(t, (off, on))| summarise(t.name, *sc, std::mem::take(off), on.take(), base))
            .collect();
        let reference = rows
            .iter()
            .find(|r| r.tool == TCPDUMP_REF)
            .map(|r| r.machine_ns_over_baseline.median)
            .filter(|v| *v > 0.0);
        for r in rows.iter_mut().filter(|r| r.tool != BASELINE) {
            r.vs_tcpdump = reference.map(|t| r.machine_ns_over_baseline.median / t);
        }
        results.extend(rows);
    }
    let report = Report {
        machine,
        quick,
        runs,
        generator: trafgen::version(),
        calibrated_top_pps: top_pps,
        frames,
        baseline: BASELINE,
        tcpdump_reference: TCPDUMP_REF,
        stats_cost_per_run: stats_cost,
        results,
    };
    write_json(&out.join("capture.json"), &report)?;
    let mut md = report::markdown(&report, step_secs);
    md.push_str(&report::above_floor(&report));
    md.push_str(&report::commands(
        root,
        &tools,
        &veth_name,
        &trafgen::config(SIZES[0]),
    ));
    write_report(&out.join("capture.md"), &md)?;
    let series: Vec<plot::Series> = tools
        .iter()
        .filter(|t| !matches!(t.family, Family::None | Family::Floor))
        .map(|t| plot::Series {
            name: t.name.to_owned(),
            points: report
                .results
                .iter()
                .filter(|r| r.tool == t.name && r.scenario.size == SIZES[0])
                .map(|r| (r.offered_pps.median / 1000.0, r.capture_pct.median))
                .collect(),
        })
        .collect();
    let svg = out.join("capture.svg");
    plot::capture_ratio(
        &svg,
        &series,
        &format!(
            "Capture ratio vs offered rate, {} B UDP frames, veth",
            SIZES[0]
        ),
    )?;
    eprintln!("bench: wrote {}", svg.display());
    eprintln!(
        "bench: capture bench took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    print!("{md}");
    Ok(())
}

/// Files of the bench's own, removed when it drops (on every path).
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
