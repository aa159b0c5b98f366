//! `bench kernel-live` (root): what netcap's XDP program costs per 64-byte frame in a
//! live capture, and what each of its parts costs there, beside the floor measured in
//! the same run. `bench kernel` gives the same breakdown by `BPF_PROG_TEST_RUN`; this is
//! the live counterpart, because the live figures are what issue 14's goals are about
//! and they differ (a real reader on the other CPU, cold ring lines, the stack around).
//!
//! One run of one case: netcap (`capture -i IF --backend xdp --xdp-mode generic -F none`,
//! with `NETCAP_BENCH_OMIT` naming the parts left out, `netcap_common::omit`) or the
//! floor (`kbench attach-floor IF`, the one-byte-read XDP program) on the host end of a
//! veth pair; `trafgen -P 1` in the namespace sends [`FRAMES`] 64-byte UDP frames; the
//! program's `run_time_ns / run_cnt` delta with `kernel.bpf_stats_enabled=1` is the
//! figure. Each run checks itself: the program ran once per frame sent, and netcap's
//! own summary accounts for every frame (`seen == captured + filtered + lost`, `seen`
//! the frames sent) unless its counters were left out.
//!
//! The cases are interleaved (each run starts one case later), so a noisy moment of a
//! shared machine falls on different cases; the report gives per case the median and
//! min–max of the runs and the median of each run's difference to its floor, and per
//! part "no filter" less the case without it. Writes `target/bench/kernel-live.{md,json}`.
use std::{path::Path, process::Command};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{
    bpfstats, check_interrupted, load_average, netns::Veth, proc::Running, write_json,
    write_report, Machine, Spread,
};

/// Frames per run: about 0.8 s of one core of trafgen here, millions of program runs
/// over a whole bench.
const FRAMES: u64 = 400_000;
const RUNS: usize = 5;

/// `netcap_common::omit`'s bits (xtask does not link netcap-common's kernel side).
const TIMESTAMP: u32 = 1 << 0;
const COPY: u32 = 1 << 1;
const QUERY: u32 = 1 << 2;
const COUNTERS: u32 = 1 << 3;
const RECORD: u32 = 1 << 4;
const CPU: u32 = 1 << 5;
const LEN: u32 = 1 << 6;

/// trafgen's source ports count through 1024..=51023: this keeps 500 of 50,000 (1%).
const REJECTING: &str = "udp src portrange 1024-1523";
/// Issue 14's 20-instruction filter; it accepts every frame trafgen sends.
const ACCEPTING: &str = "tcp port 443 or (udp and not port 53)";
/// Compiles to one `ret #262144`: a native filter with no code of its own, so the case
/// costs what the tail calls into and out of the native filter do.
const ACCEPT_ALL: &str = "1 = 1";
/// Names a second netcap binary (an older build, its eBPF object and translator
/// embedded) whose filter cases run in the same runs, `(base)` after their names.
const BASE_ENV: &str = "NETCAP_BENCH_BASE";

/// Which program a case attaches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prog {
    /// netcap's (`capture --backend xdp --xdp-mode generic`).
    Netcap,
    /// The one-byte-read floor (`kbench attach-floor`).
    Floor,
    /// The capture floor with one clock read (`kbench attach-capture-floor --reader
    /// none`, `netcap::capture::capture_floor`).
    Clock,
    /// The capture floor with the clock read and the least record (timestamp, length,
    /// 64 bytes) into per-CPU rings, a reader thread counting the records (`--reader
    /// count`).
    Record,
}

struct Case {
    name: &'static str,
    prog: Prog,
    omit: u32,
    expr: &'static str,
    /// Runs the binary named by [`BASE_ENV`].
    base: bool,
}

const fn netcap(name: &'static str, omit: u32, expr: &'static str) -> Case {
    Case {
        name,
        prog: Prog::Netcap,
        omit,
        expr,
        base: false,
    }
}

/// The same case run by the base binary.
const fn base(name: &'static str, expr: &'static str) -> Case {
    Case {
        name,
        prog: Prog::Netcap,
        omit: 0,
        expr,
        base: true,
    }
}

const fn floor(name: &'static str, prog: Prog) -> Case {
    Case {
        name,
        prog,
        omit: 0,
        expr: "",
        base: false,
    }
}

/// The capture floor with the record: what netcap's "no filter" is compared with.
const RECORD_FLOOR: &str = "capture floor: clock + 64-byte record";

const CASES: [Case; 14] = [
    floor("floor (1 byte read)", Prog::Floor),
    floor("capture floor: clock", Prog::Clock),
    floor(RECORD_FLOOR, Prog::Record),
    netcap("no filter", 0, ""),
    netcap("rejects 99%, native", 0, REJECTING),
    netcap("accepts, native (20 insns)", 0, ACCEPTING),
    netcap("accepts all, native (tail calls only)", 0, ACCEPT_ALL),
    netcap("without the timestamp", TIMESTAMP, ""),
    netcap("without the copy", COPY, ""),
    netcap("without the wake-up decision", QUERY, ""),
    netcap("without the counter bumps", COUNTERS, ""),
    netcap("without the CPU number", CPU, ""),
    netcap("without the frame length helper", LEN, ""),
    netcap("without the record", RECORD, ""),
];

/// The filter cases again with the base binary ([`BASE_ENV`]).
const BASE_CASES: [Case; 4] = [
    base("no filter (base)", ""),
    base("rejects 99%, native (base)", REJECTING),
    base("accepts, native (20 insns) (base)", ACCEPTING),
    base("accepts all, native (tail calls only) (base)", ACCEPT_ALL),
];

/// The cases of this bench: [`CASES`], and [`BASE_CASES`] when a base binary is named;
/// with `only`, the floors and netcap's cases whose name contains one of its strings.
fn cases(base: Option<&Path>, only: &[String]) -> Vec<&'static Case> {
    let extra = base.map_or(&[][..], |_| &BASE_CASES[..]);
    CASES
        .iter()
        .chain(extra)
        .filter(|c| {
            only.is_empty() || c.prog != Prog::Netcap || only.iter().any(|o| c.name.contains(o))
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
struct Measurement {
    run: usize,
    case: &'static str,
    omit: u32,
    expr: &'static str,
    frames: u64,
    run_cnt: u64,
    ns: f64,
}

#[derive(Debug, Serialize)]
struct Row {
    case: &'static str,
    ns: Spread,
    above_floor: Spread,
    /// Above the capture floor with its record ([`RECORD_FLOOR`]), per run.
    above_capture_floor: Spread,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    runs: usize,
    frames: u64,
    load_at_end: String,
    rows: Vec<Row>,
    lines: Vec<Measurement>,
}

pub fn run(
    root: &Path,
    bin: &Path,
    kbench: &Path,
    machine: &Machine,
    runs: Option<usize>,
    only: &[String],
) -> Result<()> {
    if !crate::is_root() {
        bail!("bench kernel-live needs root (XDP, namespaces): run it with sudo -E");
    }
    let runs = runs.unwrap_or(RUNS).max(1);
    let base = std::env::var_os(BASE_ENV).map(std::path::PathBuf::from);
    let cases = cases(base.as_deref(), only);
    let out = root.join("target/bench");
    let cfg = out.join("kernel-live-64.cfg");
    std::fs::write(&cfg, TRAFGEN_64).with_context(|| format!("writing {}", cfg.display()))?;
    let veth = Veth::create()?;
    let _stats = bpfstats::StatsEnabled::enable()?;
    eprintln!(
        "bench: kernel-live, {runs} run(s) of {} cases, {FRAMES} frames each",
        cases.len()
    );
    let mut lines = Vec::new();
    for run in 0..runs {
        for k in 0..cases.len() {
            let case = cases[(k + run) % cases.len()];
            let bin = match (&base, case.base) {
                (Some(b), true) => b.as_path(),
                _ => bin,
            };
            let m = measure(run, case, bin, kbench, &veth, &cfg)?;
            eprintln!("bench: run {run} {}: {:.1} ns/run", case.name, m.ns);
            lines.push(m);
        }
    }
    let rows = rows(&cases, &lines);
    let report = Report {
        machine,
        runs,
        frames: FRAMES,
        load_at_end: load_average(),
        rows,
        lines,
    };
    write_json(&out.join("kernel-live.json"), &report)?;
    let md = markdown(&report);
    write_report(&out.join("kernel-live.md"), &md)?;
    println!("{md}");
    Ok(())
}

/// trafgen's 64-byte frame, as in the capture bench (ports counting up).
const TRAFGEN_64: &str = "{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
     ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), \
     udp(sport=dinc(1024, 51023), dport=dinc(9, 40)), fill(0x41, 22) }\n";

fn measure(
    run: usize,
    case: &Case,
    bin: &Path,
    kbench: &Path,
    veth: &Veth,
    cfg: &Path,
) -> Result<Measurement> {
    check_interrupted()?;
    let stats = veth_stats_path(veth);
    let _ = std::fs::remove_file(&stats);
    let capture_floor = |reader: &str| {
        let mut c = Command::new(kbench);
        c.args(["attach-capture-floor", &veth.host_if, "--hook", "xdp"])
            .args(["--reader", reader, "--stats-json"])
            .arg(&stats);
        c
    };
    let (mut cmd, ready, prog) = match case.prog {
        Prog::Floor => {
            let mut c = Command::new(kbench);
            c.args(["attach-floor", &veth.host_if]);
            (c, "floor attached", "netcap_floor")
        }
        Prog::Clock => (capture_floor("none"), "floor attached", "capfloor_clock"),
        Prog::Record => (capture_floor("count"), "floor attached", "capfloor_rec"),
        Prog::Netcap => {
            let mut c = Command::new(bin);
            c.args(["capture", "-i", &veth.host_if, "--backend", "xdp"])
                .args(["--xdp-mode", "generic", "-F", "none"])
                .env("NETCAP_BENCH_OMIT", case.omit.to_string());
            if !case.expr.is_empty() {
                c.arg(case.expr);
            }
            (c, "capturing with", "netcap_xdp")
        }
    };
    cmd.stdout(std::process::Stdio::null());
    let tool = Running::start(&mut cmd, ready)?;
    let before = bpfstats::programs_of(tool.pid());
    let frames = send(veth, cfg)?;
    let after = bpfstats::programs_of(tool.pid());
    let names = bpfstats::names();
    let (_, stderr) = tool.stop()?;
    let d = bpfstats::deltas(&before, &after, &names)
        .into_iter()
        .find(|d| d.name == prog)
        .with_context(|| format!("{}: no {prog} program", case.name))?;
    // The host end has IPv6 off and sends nothing itself: the program runs once per
    // frame trafgen sent, no more, no fewer.
    if d.run_cnt != frames {
        bail!(
            "{}: {prog} ran {} times for {frames} frames sent",
            case.name,
            d.run_cnt
        );
    }
    match case.prog {
        Prog::Netcap if case.omit & COUNTERS == 0 => check_summary(case.name, &stderr, frames)?,
        Prog::Record => check_floor_read(case.name, &stats, frames)?,
        _ => {}
    }
    Ok(Measurement {
        run,
        case: case.name,
        omit: case.omit,
        expr: case.expr,
        frames,
        run_cnt: d.run_cnt,
        ns: d.run_time_ns as f64 / d.run_cnt.max(1) as f64,
    })
}

/// Sends [`FRAMES`] frames from one core; returns how many trafgen says it sent.
fn send(veth: &Veth, cfg: &Path) -> Result<u64> {
    let o = veth
        .trafgen(cfg)
        .args(["-n", &FRAMES.to_string(), "-P", "1"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("starting trafgen")?;
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        bail!("trafgen failed ({}): {text}", o.status);
    }
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix("packets outgoing")
                .and_then(|n| n.trim().parse().ok())
        })
        .with_context(|| format!("no packet count in trafgen's output:\n{text}"))
}

/// Where the capture floor writes what its reader read (one veth per bench).
fn veth_stats_path(veth: &Veth) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kernel-live-{}.json", veth.host_if))
}

/// The capture floor's reader must have read every frame sent, and lost none.
fn check_floor_read(case: &str, stats: &Path, frames: u64) -> Result<()> {
    let text = std::fs::read_to_string(stats)
        .with_context(|| format!("{case}: reading {}", stats.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    if num("captured") != Some(frames) || num("lost") != Some(0) {
        bail!("{case}: {frames} frames sent, the reader says {text}");
    }
    let _ = std::fs::remove_file(stats);
    Ok(())
}

/// netcap's summary line (`N frames seen, C captured, F filtered, L lost ...`) must
/// account for every frame sent.
fn check_summary(case: &str, stderr: &str, frames: u64) -> Result<()> {
    let line = stderr
        .lines()
        .find(|l| l.contains("frames seen"))
        .with_context(|| format!("{case}: no summary in netcap's stderr:\n{stderr}"))?;
    let num = |word: &str| -> Option<u64> {
        let words: Vec<&str> = line
            .split([' ', ',', '('])
            .filter(|w| !w.is_empty())
            .collect();
        let i = words.iter().position(|w| *w == word)?;
        words.get(i.checked_sub(1)?)?.parse().ok()
    };
    let (Some(seen), Some(captured), Some(filtered), Some(lost)) =
        (num("frames"), num("captured"), num("filtered"), num("lost"))
    else {
        bail!("{case}: cannot read the summary {line:?}");
    };
    if seen != frames || seen != captured + filtered + lost {
        bail!("{case}: {frames} frames sent, netcap says {line:?}");
    }
    Ok(())
}

fn rows(cases: &[&Case], lines: &[Measurement]) -> Vec<Row> {
    let of = |run, case: &str| {
        lines
            .iter()
            .find(|m| m.run == run && m.case == case)
            .map(|m| m.ns)
    };
    let floor = |run| of(run, CASES[0].name);
    let capture_floor = |run| of(run, RECORD_FLOOR);
    cases
        .iter()
        .map(|c| {
            let mine: Vec<&Measurement> = lines.iter().filter(|m| m.case == c.name).collect();
            Row {
                case: c.name,
                ns: Spread::of(mine.iter().map(|m| m.ns)),
                above_floor: Spread::of(mine.iter().filter_map(|m| floor(m.run).map(|f| m.ns - f))),
                above_capture_floor: Spread::of(
                    mine.iter()
                        .filter_map(|m| capture_floor(m.run).map(|f| m.ns - f)),
                ),
            }
        })
        .collect()
}

/// "no filter" less the case, per run.
fn part_cost(lines: &[Measurement], case: &str) -> Spread {
    let full = |run| {
        lines
            .iter()
            .find(|m| m.run == run && m.case == "no filter")
            .map(|m| m.ns)
    };
    Spread::of(
        lines
            .iter()
            .filter(|m| m.case == case)
            .filter_map(|m| full(m.run).map(|f| f - m.ns)),
    )
}

fn markdown(r: &Report) -> String {
    let ns = |v: f64| format!("{v:.0}");
    let mut md = String::from("# Kernel cost per frame, live: bpf_stats in generic XDP\n\n");
    md.push_str(&format!(
        "Written by `cargo xtask bench kernel-live` (root; `--runs N`, default {RUNS}). {}\n\n\
         Machine: {}; load average at the end {}.\n\n",
        "netcap on the host end of a veth pair (`capture --backend xdp --xdp-mode generic \
         -F none`, a reader draining its rings), trafgen sending 64-byte UDP frames from one \
         core in a namespace, `kernel.bpf_stats_enabled=1`: the program's `run_time_ns / \
         run_cnt` over the run (tail calls count in the caller). The floor is the one-byte-\
         read XDP program (`kbench attach-floor`) in the same runs; the capture floors \
         (`kbench attach-capture-floor --hook xdp --reader none|count`, \
         `netcap::capture::capture_floor`) add to it one stored clock read, then also the \
         least record (timestamp, length and the first 64 bytes into a per-CPU ring, \
         drained by a reader thread that counts; the run checks it read every frame). \
         Parts are left out with \
         the hidden `NETCAP_BENCH_OMIT` (the bits of `netcap_common::omit`). Each run checks \
         that the program ran once per frame sent and, where its counters are kept, that \
         netcap accounted for every frame. Cases interleaved; median (min–max); above \
         floor is the median of each run's difference to that run's floor.",
        r.machine.summary(),
        r.load_at_end
    ));
    md.push_str(&format!(
        "{} runs of {} frames.\n\n| case | ns per frame | above floor | above the capture \
         floor (clock + record) |\n| --- | ---: | ---: | ---: |\n",
        r.runs,
        super::thousands(r.frames as f64)
    ));
    for row in &r.rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.case,
            row.ns.show(ns),
            row.above_floor.show(ns),
            row.above_capture_floor.show(ns)
        ));
    }
    md.push_str("\n| part | costs (no filter less the case without it) |\n| --- | ---: |\n");
    for c in CASES
        .iter()
        .filter(|c| c.prog == Prog::Netcap && c.omit != 0 && !c.base)
        .filter(|c| r.rows.iter().any(|row| row.case == c.name))
    {
        md.push_str(&format!(
            "| {} | {} |\n",
            c.name.trim_start_matches("without "),
            part_cost(&r.lines, c.name).show(ns)
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_that_accounts_for_every_frame() {
        let ok = "netcap: 400000 frames seen, 399000 captured, 0 filtered, 1000 lost (ring \
                  full 1000, copy failed 0, queue full 0); not decoded (-F none), 399000 written";
        assert!(check_summary("c", ok, 400_000).is_ok());
        assert!(check_summary("c", ok, 400_001).is_err());
        let short = ok.replace("1000 lost", "999 lost");
        assert!(check_summary("c", &short, 400_000).is_err());
        assert!(check_summary("c", "nothing", 1).is_err());
    }
}
