//! One tool's runs on one scenario, summed up: medians and spreads of its samples,
//! and its kernel programs' cost per run and per offered frame.
use super::{
    pct,
    tools::{BASELINE, FLOOR, MEM_FLOOR, TC_FLOOR},
    KernelProg, Sample, Scenario, Spread, StatsOn, Summary,
};

/// The runs of one tool on one scenario, with the statistics off (`samples`) and, for
/// a tool with eBPF programs, on (`on`); `baseline` is the median machine ns/frame of
/// the no-capture runs of that scenario. `vs_tcpdump` is filled in by the caller.
pub(super) fn summarise(
    tool: &str,
    scenario: Scenario,
    samples: Vec<Sample>,
    on: Option<Vec<Sample>>,
    baseline: f64,
) -> Summary {
    let sp = |f: &dyn Fn(&Sample) -> f64| Spread::of(samples.iter().map(f));
    // Neither the baseline nor the floor captures anything.
    let is_baseline = tool == BASELINE || tool == FLOOR || tool == TC_FLOOR || tool == MEM_FLOOR;
    let over = sp(&|s| s.machine_ns_per_frame() - baseline);
    let stats_on = on.map(|on| {
        let sp = |f: &dyn Fn(&Sample) -> f64| Spread::of(on.iter().map(f));
        let machine_ns_over_baseline = sp(&|s| s.machine_ns_per_frame() - baseline);
        StatsOn {
            offered_pps: sp(&|s| s.offered_pps),
            capture_pct: sp(&|s| {
                if is_baseline {
                    f64::NAN
                } else {
                    pct(s.captured + s.filtered, s.offered)
                }
            }),
            delivered_pct: sp(&|s| pct(s.host_rx, s.offered)),
            machine_ns_per_frame: sp(&Sample::machine_ns_per_frame),
            cost_ns_per_frame: machine_ns_over_baseline.median - over.median,
            machine_ns_over_baseline,
            samples: on,
        }
    });
    Summary {
        tool: tool.to_owned(),
        scenario,
        backend: samples
            .first()
            .map(|s| s.backend.clone())
            .unwrap_or_default(),
        offered: sp(&|s| s.offered as f64),
        offered_pps: sp(&|s| s.offered_pps),
        captured: sp(&|s| {
            if is_baseline {
                f64::NAN
            } else {
                s.captured as f64
            }
        }),
        capture_pct: sp(&|s| {
            if is_baseline {
                f64::NAN
            } else {
                pct(s.captured + s.filtered, s.offered)
            }
        }),
        lost_own: sp(&|s| {
            if is_baseline {
                f64::NAN
            } else {
                s.lost_own as f64
            }
        }),
        lost_vs_offered: sp(&|s| {
            if is_baseline {
                f64::NAN
            } else {
                s.offered as f64 - (s.captured + s.filtered) as f64
            }
        }),
        delivered_pct: sp(&|s| pct(s.host_rx, s.offered)),
        sent_of_asked_pct: sp(&|s| pct(s.offered, s.asked)),
        generator_aborted_runs: samples
            .iter()
            .filter(|s| s.generator_aborted.is_some())
            .count(),
        cpu_s: sp(&|s| if is_baseline { f64::NAN } else { s.cpu_s }),
        cpu_ns_per_frame: sp(&|s| {
            // A row whose kernel filter drops every frame uncounted (the socket-filter
            // floor) handled none: no figure rather than its CPU over one frame.
            if is_baseline || s.captured + s.filtered == 0 {
                f64::NAN
            } else {
                s.cpu_s * 1e9 / (s.captured + s.filtered).max(1) as f64
            }
        }),
        machine_cpu_s: sp(&|s| s.machine_cpu_s),
        foreign_cpu_s: sp(&|s| s.foreign_cpu_s),
        raw_machine_ns_per_frame: sp(&Sample::raw_machine_ns_per_frame),
        machine_ns_per_frame: sp(&Sample::machine_ns_per_frame),
        baseline_ns_per_frame: baseline,
        ticks_machine_ns_per_frame: sp(&Sample::ticks_machine_ns_per_frame),
        machine_ns_over_baseline: over,
        vs_tcpdump: None,
        stats_intruded_runs: samples.iter().filter(|s| s.stats_intruded()).count(),
        // The programs' figures from the runs that held the statistics on: in the others
        // they count only while someone else does.
        kernel: stats_on
            .as_ref()
            .map(|o| kernel_programs(&o.samples))
            .unwrap_or_default(),
        stats_on,
        samples,
    }
}

/// Per program name (in order of appearance), over the runs; programs of one name
/// (one per fanout worker, say) are added up.
fn kernel_programs(samples: &[Sample]) -> Vec<KernelProg> {
    let mut names: Vec<&str> = Vec::new();
    for p in samples.iter().flat_map(|s| &s.programs) {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let per_run: Vec<(f64, f64, f64)> = samples
                .iter()
                .map(|s| {
                    let (t, n) = s
                        .programs
                        .iter()
                        .filter(|p| p.name == name)
                        .fold((0u64, 0u64), |(t, n), p| (t + p.run_time_ns, n + p.run_cnt));
                    (t as f64, n as f64, s.offered.max(1) as f64)
                })
                .collect();
            KernelProg {
                name: name.to_owned(),
                ns_per_run: Spread::of(per_run.iter().map(|&(t, n, _)| t / n)),
                runs_per_offered: Spread::of(per_run.iter().map(|&(_, n, o)| n / o)),
                ns_per_offered: Spread::of(per_run.iter().map(|&(t, _, o)| t / o)),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
