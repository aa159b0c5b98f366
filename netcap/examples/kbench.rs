//! The kernel half of `cargo xtask bench kernel` and of the capture bench's floor row
//! (root; netcap built by `cargo xtask build`, which embeds the eBPF object):
//!
//! - `kbench test-run --runs N --repeat R`: every case of `netcap::capture::kbench`
//!   on both hooks, `R` BPF_PROG_TEST_RUN runs each, `N` times with the order rotated
//!   per run; one JSON object per measurement on stdout (`run`, `hook`, `case`,
//!   `filter`, `expr`, `omit`, `ns`), then the same for the capture half with each of
//!   its parts left out (`kbench::PARTS`). The aggregation and the report are xtask's.
//! - `kbench attach-floor IFACE`: the XDP floor attached to IFACE in generic mode until
//!   SIGINT; says `floor attached` on stderr when it is.
//! - `kbench attach-tc-floor IFACE`: the TC floor attached first at tcx ingress of
//!   IFACE; says `floor attached` too.
//! - `kbench attach-mem-floor IFACE`: the same with the memory floor of in-kernel flows
//!   (`netcap::capture::flow_floor`); says `memory floor attached`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netcap::capture::kbench::{self, FilterMode, CASES, PARTS};
use netcap::filter::ebpf::Hook;
use netcap_common::omit;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    TestRun {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 200_000)]
        repeat: u32,
    },
    AttachFloor {
        iface: String,
    },
    /// The TC floor at tcx ingress instead.
    AttachTcFloor {
        iface: String,
    },
    /// The memory floor of in-kernel flows (`netcap::capture::flow_floor`) instead.
    AttachMemFloor {
        iface: String,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().cmd {
        Cmd::TestRun { runs, repeat } => test_run(runs, repeat),
        Cmd::AttachFloor { iface } => attach_floor(&iface),
        Cmd::AttachTcFloor { iface } => attach_tc_floor(&iface),
        Cmd::AttachMemFloor { iface } => attach_mem_floor(&iface),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kbench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn test_run(runs: usize, repeat: u32) -> Result<(), String> {
    let mut all = Vec::new();
    for hook in [Hook::Xdp, Hook::Tc] {
        all.extend(
            CASES
                .iter()
                .chain(&PARTS)
                // A TC hook has its length in its context: no helper to leave out.
                .filter(|c| !(hook == Hook::Tc && c.omit == omit::LEN))
                .map(|c| (hook, c)),
        );
    }
    for run in 0..runs {
        // Interleaved: each run starts one case later, so a noisy moment of this shared
        // machine falls on different cases.
        for k in 0..all.len() {
            let (hook, case) = all[(k + run) % all.len()];
            let ns = kbench::measure(hook, case, repeat)?;
            let line = serde_json::json!({
                "run": run,
                "hook": match hook { Hook::Xdp => "xdp", Hook::Tc => "tc" },
                "case": case.name,
                "filter": match case.mode {
                    None => "-",
                    Some(_) if case.expr.is_empty() => "-",
                    Some(FilterMode::Native) => "native",
                    Some(FilterMode::Interp) => "interp",
                },
                "expr": case.expr,
                "omit": case.omit,
                "ns": ns,
            });
            println!("{line}");
        }
    }
    Ok(())
}

fn ifindex(iface: &str) -> Result<u32, String> {
    let path = format!("/sys/class/net/{iface}/ifindex");
    std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{path}: {e}"))
}

fn attach_floor(iface: &str) -> Result<(), String> {
    let _attached = kbench::attach_floor(ifindex(iface)?)?;
    eprintln!("kbench: floor attached to {iface} (generic XDP)");
    park()
}

fn attach_tc_floor(iface: &str) -> Result<(), String> {
    let _attached = kbench::attach_tc_floor(ifindex(iface)?)?;
    eprintln!("kbench: floor attached to {iface} (tcx ingress)");
    park()
}

fn attach_mem_floor(iface: &str) -> Result<(), String> {
    let floor =
        netcap::capture::flow_floor::FlowFloor::new(netcap::capture::xdp::KERNEL_FLOW_HOT_SLOTS)?;
    let _link = floor.attach_generic(ifindex(iface)?)?;
    eprintln!("kbench: memory floor attached to {iface} (generic XDP)");
    park()
}

/// Until SIGINT, whose default action ends the process: the link closes with it.
fn park() -> Result<(), String> {
    loop {
        std::thread::park();
    }
}
