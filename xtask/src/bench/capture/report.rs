//! The capture bench's markdown: what was measured, one table row per tool and
//! scenario, and the exact commands.
use std::path::Path;

use super::{
    tools::{Tool, BASELINE, FLOOR, MEM_FLOOR, TCPDUMP_REF},
    Report, StatsCostPerRun, Summary,
};
use crate::bench::{rel, thousands};

pub fn markdown(r: &Report, step_secs: f64) -> String {
    let mut s = format!(
        "Live capture on a veth pair: `{}` in a namespace sends UDP/IPv4 frames ({} flows, \
         repeating) to the host end, one capture tool at a time. Top rate: {} frames per \
         run (about {:.1} s of one core of trafgen, which reached {} pps before the \
         runs), for every size from one core (`-P 1`) and, for {} B frames, from all {} cores (trafgen's \
         default: one copy of the configuration per CPU, `-n` split between them); stepped \
         rates: one core, {} s of traffic. {} run(s) each with the kernel's run statistics \
         off, and as many with them on for the tools that load eBPF programs, all in a \
         rotating order; median (min–max).\n\
         Machine: {}.\n\n",
        r.generator.split(',').next().unwrap_or("trafgen"),
        thousands(super::trafgen::FLOWS as f64),
        thousands(r.frames as f64),
        r.frames as f64 / r.calibrated_top_pps.max(1.0),
        thousands(r.calibrated_top_pps),
        super::SIZES[0],
        r.machine.cores,
        step_secs,
        r.runs,
        r.machine.summary()
    );
    let c = &r.stats_cost_per_run;
    s.push_str(&format!(
        "- **captured %**: what the tool says it captured, or rejected with its kernel filter, \
         per frame trafgen sent. **lost (own)**: the losses the tool itself counted.\n\
         - **delivered %**: the host end's `rx_packets` delta per frame sent: below 100 the \
         capture changed the host's traffic (frames lost before any tool could see them). \
         \"trafgen gave up\": with the host end in native XDP mode (a 256-slot NAPI ring) a \
         trafgen worker fails on the full device (`Flushing TX_RING failed: Resource \
         temporarily unavailable`) and stops; the other per-frame figures of such a row \
         count only the frames that were sent (the namespace end's `tx_packets`).\n\
         - **machine ns/frame over baseline**: busy time of all CPUs from just before \
         trafgen starts until the tool has drained (wall time times CPUs less `/proc/stat`'s \
         idle, iowait and steal, which a tickless kernel keeps from the time stamps of \
         every idle period; `machine_ticks_s` in the JSON keeps the tick-sampled sum of \
         user, nice, system, irq, softirq and steal that the bench used before), less the \
         CPU time of the user-space processes that are not the bench's (other sessions' \
         builds and tests, as far as they live through the window: `foreign_cpu_s` in the \
         JSON, where `raw_machine_ns_per_frame` keeps the uncorrected figure), per frame \
         sent, minus the median of the `{BASELINE}` runs of the same scenario, which send \
         the same traffic with no capture at all (their row shows that median itself: \
         trafgen, veth and the host stack). This is what the machine pays for the capture, \
         kernel included, measured with the kernel's run statistics off for every row, as \
         users run. Other sessions' kernel work (their interrupts, writeback) still counts, \
         so the noise of this shared VM is a few hundred ns. **⚑N**: in N of the runs the \
         statistics were on all the same (another process had turned them on: the sysctl \
         read 1 or a probe program counted a run at the start or end of the window, or \
         the tool's own programs counted runs), so that run's figure includes their cost; \
         `stats_seen` in the JSON says which sign.\n\
         - **vs tcpdump**: the machine figure divided by `{TCPDUMP_REF}`'s in the same \
         scenario.\n\
         - **bpf_stats on** (the tools with eBPF programs): the machine figure of the \
         tool's own runs, interleaved with the others, with the statistics held on by a \
         `BPF_ENABLE_STATS` fd (the sysctl left alone), over the same baseline; **their \
         cost**: its median less the machine figure's, per frame sent: the two clock \
         reads per program run that the statistics add, and the rest of their \
         bookkeeping.\n\
         - What the statistics add to each program run, measured apart from the traffic: \
         {}.\n\
         - **kernel ns/run**: each eBPF program the tool loaded, `run_time_ns / run_cnt` \
         deltas over its runs with the statistics on; a program runs once per frame it \
         sees (`netcap_tc` only for sent frames, so none here). netcap's AF_PACKET \
         backend without a filter expression runs none; tcpdump's socket carries a \
         one-instruction classic filter (`ret #262144`, `ss -0 -b`), which the kernel \
         runs as a BPF program per frame with no fd to read it by: its cost is in \
         tcpdump's machine figure, and so was the statistics' while they were on.\n\
         - **tool CPU ns/frame**: the tool's own utime+stime from ready to drained, per frame \
         it handled (captured or filtered).\n\
         - The stepped-rate runs start with a burst of some 20k frames at full speed \
         (trafgen's pacing), so their reached rate is above the nominal one.\n\n",
        stats_cost_line(c),
    ));
    s.push_str(
        "| frames | tool | backend | offered (pps) | captured % | lost (own) | delivered % | \
         machine ns/frame over baseline | vs tcpdump | bpf_stats on | their cost | \
         kernel ns/run | tool CPU ns/frame |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n",
    );
    let ns = |v: f64| format!("{v:.0}");
    for x in &r.results {
        let mut machine = if x.tool == BASELINE {
            format!("(baseline) {}", x.machine_ns_per_frame.show(ns))
        } else {
            x.machine_ns_over_baseline.show(ns)
        };
        if x.stats_intruded_runs > 0 {
            machine.push_str(&format!(" ⚑{}", x.stats_intruded_runs));
        }
        let (on, cost) = x.stats_on.as_ref().map_or(("–".into(), "–".into()), |o| {
            (
                o.machine_ns_over_baseline.show(ns),
                format!("{:+.0}", o.cost_ns_per_frame),
            )
        });
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            x.scenario.label(),
            x.tool,
            short_backend(&x.backend),
            thousands(x.offered_pps.median),
            x.capture_pct.show(|v| format!("{v:.1}")),
            x.lost_own.show(thousands),
            delivered_cell(x),
            machine,
            ratio(x.vs_tcpdump),
            on,
            cost,
            kernel_cell(x),
            x.cpu_ns_per_frame.show(ns),
        ));
    }
    s
}

/// The kernel figures of the XDP rows beside the floor's, scenario by scenario:
/// `netcap_xdp`'s ns/run (tail-called filter and capture half included) less the
/// floor program's, medians of their own runs in the same bench.
pub fn above_floor(r: &Report) -> String {
    let median = |x: &Summary, prog: &str| {
        x.kernel
            .iter()
            .find(|k| k.name == prog)
            .map(|k| k.ns_per_run.median)
            .filter(|v| v.is_finite())
    };
    let mut s = format!(
        "\nKernel ns per frame above the floor (`{FLOOR}`: the smallest XDP program that \
         reads one packet byte, attached in generic mode by `kbench attach-floor` and \
         measured by `kernel.bpf_stats_enabled` in the same bench): `netcap_xdp`'s \
         `run_time_ns / run_cnt` (its tail calls into the native filter and the capture \
         half count in it) less the floor's, medians over the runs. Goals (issue 14): \
         capture every frame <= floor + 60, a filter rejecting 99% <= floor + 15, the \
         20-instruction filter that accepts <= floor + 80. When the bench ran the \
         memory floor of in-kernel flows (`{MEM_FLOOR}`, `kbench attach-mem-floor`), \
         the last columns are its ns/run and netcap's above it.\n\n\
         | frames | tool | netcap_xdp ns/run | floor ns/run | above floor | memory floor ns/run | above memory floor |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for floor in r.results.iter().filter(|x| x.tool == FLOOR) {
        let Some(f) = median(floor, "netcap_floor") else {
            continue;
        };
        let mem = r
            .results
            .iter()
            .find(|x| x.scenario == floor.scenario && x.tool == MEM_FLOOR)
            .and_then(|x| median(x, "netcap_memfloor"));
        for x in r
            .results
            .iter()
            .filter(|x| x.scenario == floor.scenario && x.tool.contains("xdp generic"))
        {
            let Some(v) = median(x, "netcap_xdp") else {
                continue;
            };
            let (m, above_m) = mem.map_or(("-".into(), "-".into()), |m| {
                (format!("{m:.0}"), format!("{:.0}", v - m))
            });
            s.push_str(&format!(
                "| {} | `{}` | {v:.0} | {f:.0} | {:.0} | {m} | {above_m} |\n",
                x.scenario.label(),
                x.tool,
                v - f
            ));
        }
    }
    s
}

/// The statistics' cost per program run, or why there is none.
fn stats_cost_line(c: &StatsCostPerRun) -> String {
    let how = format!(
        "`BPF_PROG_TEST_RUN` of a two-instruction program, {} runs",
        thousands(f64::from(c.repeat))
    );
    if c.off_runs == 0 {
        return format!(
            "not measured: another process held the statistics on at each of the {} \
             attempts with them off ({how}: {:.0} ns each with them on)",
            c.on_runs, c.on_ns.median
        );
    }
    format!(
        "{:.0} ns ({how}: {:.0} ns each with them off, {:.0} with them on, medians of {} \
         and {} measurements). The machine figures' difference above is that times the \
         program runs per frame, plus noise",
        c.cost_ns, c.off_ns.median, c.on_ns.median, c.off_runs, c.on_runs
    )
}

/// `100.0`, or `100.0 (trafgen gave up in 3/3 runs: sent 51 %)`.
fn delivered_cell(x: &Summary) -> String {
    let d = x.delivered_pct.show(|v| format!("{v:.1}"));
    if x.generator_aborted_runs == 0 {
        return d;
    }
    format!(
        "{d} (trafgen gave up in {}/{} runs: sent {} %)",
        x.generator_aborted_runs,
        x.samples.len(),
        x.sent_of_asked_pct.show(|v| format!("{v:.0}"))
    )
}

/// `netcap_xdp 85 (80–90), netcap_tc –`; `–` for a tool without programs.
fn kernel_cell(x: &Summary) -> String {
    if x.kernel.is_empty() {
        return "–".into();
    }
    x.kernel
        .iter()
        .map(|k| format!("{} {}", k.name, k.ns_per_run.show(|v| format!("{v:.0}"))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ratio(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}×"),
        _ => "–".into(),
    }
}

/// The command of every tool, with the veth's name as `IF` and paths from the root.
pub fn commands(root: &Path, tools: &[Tool], iface: &str, generator_cfg: &str) -> String {
    let mut md =
        String::from("\nCommands (IF is the host end of the veth pair; stdout to /dev/null):\n\n");
    for t in tools {
        if t.args.is_empty() {
            md.push_str(&format!("- {}: only the generator\n", t.name));
            continue;
        }
        let args: Vec<String> = t
            .args
            .iter()
            .map(|a| {
                if a == iface {
                    "IF".to_owned()
                } else {
                    rel(root, Path::new(a)).display().to_string()
                }
            })
            .map(|a| a.replace("target/bench/netcap", "target/release/netcap"))
            .collect();
        md.push_str(&format!("- {}: `{}`\n", t.name, args.join(" ")));
    }
    md.push_str(&format!(
        "- generator: `ip netns exec NS trafgen -o PEER -i CFG -n FRAMES --no-sock-mem \
         [-P 1] [-b RATEpps]`, CFG: `{}`\n",
        generator_cfg.trim()
    ));
    md
}

pub fn short_backend(b: &str) -> String {
    if b.contains("xdpdump") {
        "XDP skb (xdpdump)".into()
    } else if b.contains("native mode") {
        // Not a bare "native": "filter native" names the filter, not the XDP mode.
        "XDP native".into()
    } else if b.contains("generic mode") {
        "XDP generic".into()
    } else if b.starts_with("AF_PACKET (TPACKET") {
        if b.contains("fanout") {
            "AF_PACKET fanout".into()
        } else {
            "AF_PACKET".into()
        }
    } else {
        b.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Spread;

    #[test]
    fn the_statistics_cost_or_why_not() {
        let c = StatsCostPerRun {
            repeat: 1_000_000,
            off_ns: Spread::of([20.0, 21.0, 22.0]),
            on_ns: Spread::of([67.0, 68.0, 69.0]),
            cost_ns: 47.0,
            off_runs: 3,
            on_runs: 3,
        };
        let line = stats_cost_line(&c);
        assert!(line.starts_with("47 ns ("), "{line}");
        assert!(
            line.contains("21 ns each with them off, 68 with them on"),
            "{line}"
        );
        let none = StatsCostPerRun {
            off_ns: Spread::of([]),
            cost_ns: f64::NAN,
            off_runs: 0,
            ..c
        };
        assert!(stats_cost_line(&none).starts_with("not measured"));
    }
}
