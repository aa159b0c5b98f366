//! The summary of a tool's runs: machine figures from the runs with the statistics
//! off, the kernel's from those with them on, their difference, the flagged runs.
use super::super::sample::StatsSeen;
use super::*;
use crate::bench::bpfstats::ProgDelta;

const SC: Scenario = Scenario {
    size: 64,
    rate_pps: None,
    all_cores: false,
    frames: 1_000_000,
};

/// A run of 1M frames that kept the machine busy `busy_s`, 0.1 s of it other
/// sessions'; its program ran `runs` times for `prog_ns` in all.
fn run(bpf_stats: bool, busy_s: f64, runs: u64, prog_ns: u64, seen: StatsSeen) -> Sample {
    Sample {
        bpf_stats,
        stats_seen: seen,
        asked: 1_000_000,
        generator_aborted: None,
        offered: 1_000_000,
        offered_pps: 1e6,
        host_rx: 1_000_000,
        captured: 1_000_000,
        filtered: 0,
        lost_own: 0,
        lost_by_cause: None,
        backend: "TC".into(),
        cpu_s: 0.05,
        cpu_total_s: 0.1,
        machine_cpu_s: busy_s + 0.1,
        machine_ticks_s: busy_s + 0.1,
        window_s: 1.2,
        foreign_cpu_s: 0.1,
        foreign_alive_only_cpu_s: 0.1,
        programs: vec![ProgDelta {
            name: "netcap_tc_in".into(),
            id: 7,
            run_time_ns: prog_ns,
            run_cnt: runs,
        }],
        exit_code: 0,
    }
}

#[test]
fn machine_figures_off_kernel_figures_on() {
    let off = |busy| run(false, busy, 0, 0, StatsSeen::default());
    let on = |busy, ns| run(true, busy, 1_000_000, ns, StatsSeen::default());
    // Baseline 1000 ns/frame; off 1.2-1.4 s (200-400 over), on 1.25-1.45 s.
    let s = summarise(
        "netcap tc -F none",
        SC,
        vec![off(1.3), off(1.2), off(1.4)],
        Some(vec![
            on(1.35, 130_000_000),
            on(1.25, 120_000_000),
            on(1.45, 140_000_000),
        ]),
        1000.0,
    );
    assert!((s.machine_ns_over_baseline.median - 300.0).abs() < 1e-6);
    assert!((s.machine_ns_over_baseline.min - 200.0).abs() < 1e-6);
    let o = s.stats_on.as_ref().expect("runs with the statistics on");
    assert!((o.machine_ns_over_baseline.median - 350.0).abs() < 1e-6);
    assert!((o.cost_ns_per_frame - 50.0).abs() < 1e-6);
    assert_eq!(s.kernel.len(), 1);
    assert!((s.kernel[0].ns_per_run.median - 130.0).abs() < 1e-9);
    assert_eq!(s.stats_intruded_runs, 0);
}

#[test]
fn runs_that_saw_the_statistics_on_are_counted() {
    let seen = StatsSeen {
        key_end: Some(true),
        ..StatsSeen::default()
    };
    let s = summarise(
        "tcpdump -w /dev/null -B 16384",
        SC,
        vec![
            run(false, 1.3, 0, 0, StatsSeen::default()),
            run(false, 1.3, 0, 0, seen),
            // The tool's own program counted runs: the key was on for a while.
            run(
                false,
                1.3,
                10,
                500,
                StatsSeen {
                    prog_runs_counted: true,
                    ..StatsSeen::default()
                },
            ),
        ],
        None,
        1000.0,
    );
    assert_eq!(s.stats_intruded_runs, 2);
    assert!(s.stats_on.is_none());
    // Without runs with the statistics on there are no kernel figures.
    assert!(s.kernel.is_empty());
}
