//! `bench kernel` (root): what netcap's XDP and TC (ingress and egress) programs cost
//! per 64-byte frame, measured by the kernel with `BPF_PROG_TEST_RUN`, beside the floor
//! (the smallest program of the same type that reads one packet byte, loaded through
//! raw `bpf(2)`) measured in the same run: no filter, the 99%-rejecting and the accepting
//! 20-instruction filter of issue 14, each native and interpreted.
//!
//! The measuring is `netcap/examples/kbench.rs test-run` (netcap's own library loads the
//! programs as a capture does, and checks every measurement's counters against the
//! user-space filter); this module aggregates its lines: per hook and case the median
//! (min–max) of the runs, and the median of each run's difference to that run's floor
//! (the runs are interleaved, so a noisy moment falls on a floor and its cases alike).
//! Writes `docs/bench/kernel.{md,json}` and prints the markdown.
use std::{path::Path, process::Command};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{load_average, write_json, write_report, Machine, Spread};

/// Runs of each case, and `BPF_PROG_TEST_RUN` repetitions per run.
const RUNS: usize = 5;
const REPEAT: u32 = 200_000;
const REPEAT_QUICK: u32 = 50_000;

/// One line of `kbench test-run`.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct Line {
    run: usize,
    hook: String,
    case: String,
    filter: String,
    expr: String,
    /// Parts left out (`netcap_common::omit`), 0 for netcap's real program.
    #[serde(default)]
    omit: u32,
    ns: f64,
}

#[derive(Debug, Serialize)]
struct Row {
    hook: String,
    case: String,
    filter: String,
    expr: String,
    ns: Spread,
    above_floor: Spread,
    /// Issue 14's goal for the native filter, ns above the floor.
    goal_above_floor: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    runs: usize,
    repeat: u32,
    load_at_end: String,
    rows: Vec<Row>,
    parts: Vec<Part>,
    lines: Vec<Line>,
}

/// What one part of the capture half costs: "no filter" less the same with the part
/// left out, per run.
#[derive(Debug, Serialize)]
struct Part {
    hook: String,
    without: String,
    ns: Spread,
    cost: Spread,
}

/// Issue 14's goals (ns above the floor) for netcap's default, the native filter.
fn goal(case: &str, filter: &str) -> Option<f64> {
    match (case, filter) {
        ("no filter", _) => Some(60.0),
        ("rejects", "native") => Some(15.0),
        ("accepts", "native") => Some(80.0),
        _ => None,
    }
}

pub fn run(
    root: &Path,
    kbench: &Path,
    machine: &Machine,
    runs: Option<usize>,
    quick: bool,
) -> Result<()> {
    if !crate::is_root() {
        bail!("bench kernel needs root (loading BPF programs): run it with sudo -E");
    }
    let runs = runs.unwrap_or(if quick { 1 } else { RUNS }).max(1);
    let repeat = if quick { REPEAT_QUICK } else { REPEAT };
    eprintln!("bench: kernel, {runs} run(s) of {repeat} BPF_PROG_TEST_RUN repetitions per case");
    let out = Command::new(kbench)
        .args(["test-run", "--runs", &runs.to_string()])
        .args(["--repeat", &repeat.to_string()])
        .output()
        .with_context(|| format!("starting {}", kbench.display()))?;
    if !out.status.success() {
        bail!(
            "kbench test-run failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lines: Vec<Line> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("reading kbench's lines")?;
    let rows = rows(&lines);
    let parts = parts(&lines);
    let report = Report {
        machine,
        runs,
        repeat,
        load_at_end: load_average(),
        rows,
        parts,
        lines,
    };
    let docs = root.join("docs/bench");
    write_json(&docs.join("kernel.json"), &report)?;
    let md = markdown(&report);
    let path = docs.join("kernel.md");
    // The hand-written notes at the end of the report (from NOTES on) stay.
    let notes = std::fs::read_to_string(&path)
        .ok()
        .and_then(|old| old.find(NOTES).map(|at| old[at..].to_owned()))
        .unwrap_or_default();
    write_report(&path, &format!("{md}\n{notes}"))?;
    print!("{md}");
    Ok(())
}

/// The heading of the report's hand-written part, which a new run keeps.
const NOTES: &str = "## Notes (hand-written; `bench kernel` keeps this part)";

/// One row per (hook, case, filter), in the order of the first run's lines, hook by hook.
fn rows(lines: &[Line]) -> Vec<Row> {
    let mut keys: Vec<(&str, &str, &str, &str)> = Vec::new();
    for l in lines.iter().filter(|l| l.omit == 0) {
        let k = (
            l.hook.as_str(),
            l.case.as_str(),
            l.filter.as_str(),
            l.expr.as_str(),
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_by_key(|k| (hook_order(k.0), keys_order(k)));
    let floor = |run: usize, hook: &str| {
        lines
            .iter()
            .find(|l| l.run == run && l.hook == hook && l.case.starts_with("floor"))
            .map_or(f64::NAN, |l| l.ns)
    };
    keys.into_iter()
        .map(|(hook, case, filter, expr)| {
            let mine: Vec<&Line> = lines
                .iter()
                .filter(|l| l.hook == hook && l.case == case && l.filter == filter)
                .collect();
            Row {
                hook: hook.to_owned(),
                case: case.to_owned(),
                filter: filter.to_owned(),
                expr: expr.to_owned(),
                ns: Spread::of(mine.iter().map(|l| l.ns)),
                above_floor: Spread::of(mine.iter().map(|l| l.ns - floor(l.run, hook))),
                goal_above_floor: goal(case, filter),
            }
        })
        .collect()
}

/// The parts rows, hook by hook in the order of the first run.
fn parts(lines: &[Line]) -> Vec<Part> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for l in lines.iter().filter(|l| l.omit != 0) {
        if !keys.contains(&(l.hook.as_str(), l.case.as_str())) {
            keys.push((l.hook.as_str(), l.case.as_str()));
        }
    }
    keys.sort_by_key(|k| hook_order(k.0));
    let whole = |run: usize, hook: &str| {
        lines
            .iter()
            .find(|l| l.run == run && l.hook == hook && l.omit == 0 && l.case == "no filter")
            .map_or(f64::NAN, |l| l.ns)
    };
    keys.into_iter()
        .map(|(hook, case)| {
            let mine: Vec<&Line> = lines
                .iter()
                .filter(|l| l.hook == hook && l.case == case)
                .collect();
            Part {
                hook: hook.to_owned(),
                without: case.to_owned(),
                ns: Spread::of(mine.iter().map(|l| l.ns)),
                cost: Spread::of(mine.iter().map(|l| whole(l.run, hook) - l.ns)),
            }
        })
        .collect()
}

/// XDP, TC ingress, TC egress (`kbench::Prog::key`).
fn hook_order(hook: &str) -> usize {
    ["xdp", "tc_in", "tc"]
        .iter()
        .position(|h| *h == hook)
        .unwrap_or(usize::MAX)
}

/// The report's name of a hook.
fn hook_label(hook: &str) -> &str {
    match hook {
        "xdp" => "XDP",
        "tc_in" => "TC ingress",
        "tc" => "TC egress",
        other => other,
    }
}

/// Floor, no filter, rejecting, accepting; native before the interpreter.
fn keys_order(k: &(&str, &str, &str, &str)) -> (usize, bool) {
    let case = ["floor", "no filter", "rejects", "accepts"]
        .iter()
        .position(|c| k.1.starts_with(c))
        .unwrap_or(usize::MAX);
    (case, k.2 == "interp")
}

fn markdown(r: &Report) -> String {
    let ns = |v: f64| format!("{v:.0}");
    let expr_of = |case: &str| {
        r.rows
            .iter()
            .find(|x| x.case == case)
            .map_or("", |x| x.expr.as_str())
    };
    let mut s = format!(
        "# Kernel cost per frame: BPF_PROG_TEST_RUN\n\n\
         Written by `cargo xtask bench kernel` (root; `--runs N`, `--quick`). Each case is \
         one of netcap's hooks (XDP `netcap_xdp`; TC ingress `netcap_tc_in`, the received \
         frames of `--backend tc`; TC egress `netcap_tc`, the sent frames of both eBPF \
         backends) loaded from the embedded eBPF object as a capture loads it (rings, \
         `FILTER`, the native filter tail-called between the hook halves), run {} times on \
         one 64-byte UDP/IPv4 frame (10.0.0.1:5000 -> 10.0.0.2:9999) by \
         `BPF_PROG_TEST_RUN`: the kernel's average ns per run. Every measurement checks \
         itself: the hook passes the frame, and its counters say all {} runs were seen \
         (the sum of the counters a frame ends in) and captured or filtered as the \
         user-space filter decides, none lost. The floor is the smallest program of the \
         hook's type that reads one packet byte (8 instructions through raw `bpf(2)`), \
         measured in the same run (both TC hooks are of one program type: the same \
         floor program, measured for each). Run statistics are held on for the whole \
         bench (`BPF_ENABLE_STATS`), so another process switching \
         `kernel.bpf_stats_enabled` cannot shift the figures between cases; they add two \
         clock reads to every run, the floor's included. {} runs, cases interleaved (each \
         run starts one case later); median (min–max); **above floor** is the median of \
         each run's difference to that run's floor. The same breakdown in a live capture \
         (bpf_stats, generic XDP): `cargo xtask bench kernel-live`, \
         `docs/bench/kernel-live.md`.\n\n\
         Machine: {}; load average {} at the end.\n\n\
         Filters: rejecting `{}` (99% of the capture bench's ports; not this frame), \
         accepting `{}` (20 classic instructions). Goals (issue 14, for the default, \
         native): capture every frame <= floor + 60, reject <= floor + 15, the accepting \
         filter <= floor + 80.\n\n\
         | hook | case | filter | ns per frame | above floor | goal (above floor) |\n\
         | --- | --- | --- | ---: | ---: | --- |\n",
        crate::bench::thousands(f64::from(r.repeat)),
        crate::bench::thousands(f64::from(r.repeat)),
        r.runs,
        r.machine.summary(),
        r.load_at_end,
        expr_of("rejects"),
        expr_of("accepts"),
    );
    for row in &r.rows {
        let goal = match row.goal_above_floor {
            Some(g) if row.above_floor.median <= g => format!("<= {g:.0}: met"),
            Some(g) => format!("<= {g:.0}: not met"),
            None => "–".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {goal} |\n",
            hook_label(&row.hook),
            row.case,
            match row.filter.as_str() {
                "native" => "native",
                "interp" => "interpreter",
                _ => "–",
            },
            row.ns.show(ns),
            if row.case.starts_with("floor") {
                "0".into()
            } else {
                row.above_floor.show(ns)
            },
        ));
    }
    s.push_str(
        "\nWhat each part of the capture half costs: the \"no filter\" program loaded with \
         one part left out (`OMIT`, a read-only global only this bench sets; the verifier \
         removes the branches of the real program's 0), measured in the same runs; the \
         cost is \"no filter\" less that, per run, median (min–max). \"The record\" is \
         the space check, header, copy, publish and wake-up decision together (the per-CPU ring, \
         `netcap-ebpf/src/ring.rs`).\n\n\
         | hook | capture half | ns per frame | the part costs |\n\
         | --- | --- | ---: | ---: |\n",
    );
    for p in &r.parts {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            hook_label(&p.hook),
            p.without,
            p.ns.show(ns),
            p.cost.show(ns),
        ));
    }
    s
}
