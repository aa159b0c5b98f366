//! The kernel half of `cargo xtask bench kernel` and of the capture bench's floor row
//! (root; netcap built by `cargo xtask build`, which embeds the eBPF object):
//!
//! - `kbench test-run --runs N --repeat R`: every case of `netcap::capture::kbench`
//!   on every hook (`kbench::Prog`), `R` BPF_PROG_TEST_RUN runs each, `N` times with the order rotated
//!   per run; one JSON object per measurement on stdout (`run`, `hook`, `case`,
//!   `filter`, `expr`, `omit`, `ns`), then the same for the capture half with each of
//!   its parts left out (`kbench::PARTS`). The aggregation and the report are xtask's.
//! - `kbench attach-floor IFACE`: the XDP floor attached to IFACE in generic mode until
//!   SIGINT; says `floor attached` on stderr when it is.
//! - `kbench attach-tc-floor IFACE`: the TC floor attached first at tcx ingress of
//!   IFACE; says `floor attached` too.
//! - `kbench attach-mem-floor IFACE`: the same with the memory floor of in-kernel flows
//!   (`netcap::capture::flow_floor`); says `memory floor attached`.
//! - `kbench attach-capture-floor IFACE --hook xdp|tc --reader none|count|pcap`: a
//!   capture floor (`netcap::capture::capture_floor`) in generic XDP or first at tcx
//!   ingress: `none` the floor plus one clock read; `count` that plus the least record
//!   (timestamp, length, 64 bytes) into per-CPU rings a reader thread drains, counting;
//!   `pcap` the same reader also writing pcap records to `--out` (default `/dev/null`).
//!   Says `capture floor attached ... capturing with` on stderr when attached; on
//!   SIGINT or SIGTERM detaches, lets the reader finish, says what it read and lost
//!   (`kbench: N read, M lost`) and writes it as netcap's `--stats-json` does
//!   (`captured`, `filtered`, `lost`, `lost_by_cause`, `backend`).
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netcap::capture::kbench::{self, FilterMode, Prog};

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
    /// A capture floor (`netcap::capture::capture_floor`) and its reader.
    AttachCaptureFloor(capfloor::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().cmd {
        Cmd::TestRun { runs, repeat } => test_run(runs, repeat),
        Cmd::AttachFloor { iface } => attach_floor(&iface),
        Cmd::AttachTcFloor { iface } => attach_tc_floor(&iface),
        Cmd::AttachMemFloor { iface } => attach_mem_floor(&iface),
        Cmd::AttachCaptureFloor(args) => capfloor::run(&args),
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
    // Run statistics held on for the whole bench (`BPF_ENABLE_STATS`): the shared
    // sysctl other benches toggle then cannot shift the figures between cases. They add
    // two clock reads to every run, the floor's included.
    let _stats =
        netcap::capture::bpf_sys::enable_stats().map_err(|e| format!("BPF_ENABLE_STATS: {e}"))?;
    let mut all = Vec::new();
    for prog in Prog::ALL {
        all.extend(prog.cases().map(|c| (prog, c)));
    }
    for run in 0..runs {
        // Interleaved: each run starts one case later, so a noisy moment of this shared
        // machine falls on different cases.
        for k in 0..all.len() {
            let (prog, case) = all[(k + run) % all.len()];
            let ns = kbench::measure(prog, case, repeat)?;
            let line = serde_json::json!({
                "run": run,
                "hook": prog.key(),
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

/// `attach-capture-floor`.
mod capfloor {
    use std::sync::{atomic::AtomicBool, Arc};

    use clap::ValueEnum;
    use netcap::capture::{
        capture_floor::{CaptureFloor, Variant},
        capture_floor_reader::{self, Tally},
    };
    use netcap::filter::ebpf::Hook;

    #[derive(Clone, Copy, Debug, ValueEnum)]
    pub enum HookArg {
        Xdp,
        Tc,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
    pub enum Reader {
        /// No record, no reader: the floor plus one clock read.
        None,
        /// The record into per-CPU rings, a reader counting them.
        Count,
        /// The same, the reader also writing pcap records to `--out`.
        Pcap,
    }

    #[derive(clap::Args)]
    pub struct Args {
        iface: String,
        #[arg(long, value_enum, default_value = "xdp")]
        hook: HookArg,
        #[arg(long, value_enum, default_value = "count")]
        reader: Reader,
        /// Where `--reader pcap` writes.
        #[arg(long, default_value = "/dev/null")]
        out: std::path::PathBuf,
        /// Bytes of each CPU's ring, KiB (netcap's default: 16 MiB over 2 CPUs).
        #[arg(long, default_value_t = 8192)]
        ring_kib: u32,
        /// What was read and lost, as netcap's `--stats-json`.
        #[arg(long)]
        stats_json: Option<std::path::PathBuf>,
    }

    pub fn run(args: &Args) -> Result<(), String> {
        let (hook, hook_name) = match args.hook {
            HookArg::Xdp => (Hook::Xdp, "generic XDP"),
            HookArg::Tc => (Hook::Tc, "tcx ingress"),
        };
        let variant = match args.reader {
            Reader::None => Variant::Clock,
            Reader::Count | Reader::Pcap => Variant::Record,
        };
        let size = args
            .ring_kib
            .checked_mul(1024)
            .ok_or("--ring-kib too large")?;
        let signals = Signals::new()?;
        let floor = CaptureFloor::new(hook, variant, size)?;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = match args.reader {
            Reader::None => None,
            Reader::Count => Some(capture_floor_reader::spawn(&floor, None, stop.clone())?),
            Reader::Pcap => {
                let f = std::fs::File::create(&args.out)
                    .map_err(|e| format!("{}: {e}", args.out.display()))?;
                Some(capture_floor_reader::spawn(&floor, Some(f), stop.clone())?)
            }
        };
        let link = floor.attach(super::ifindex(&args.iface)?)?;
        let what = match variant {
            Variant::Clock => "1 byte read + clock".to_owned(),
            Variant::Record => format!(
                "1 byte read + clock + 64-byte record, reader {:?}",
                args.reader
            )
            .to_lowercase(),
        };
        let backend = format!("capture floor: {hook_name}, {what}");
        eprintln!(
            "kbench: capture floor attached to {} ({hook_name}, {what}); capturing with {} \
             ring(s) of {} KiB",
            args.iface, floor.cpus, args.ring_kib
        );
        signals.wait();
        // No new record once the link is gone; then the reader empties the rings.
        drop(link);
        stop.store(true, std::sync::atomic::Ordering::Release);
        let tally = match reader {
            None => Tally::default(),
            Some(r) => r.join().map_err(|e| format!("reader: {e}"))?,
        };
        let Tally {
            read,
            lost_full,
            lost_copy,
            written,
        } = tally;
        eprintln!(
            "kbench: {read} read, {} lost (ring full {lost_full}, copy failed {lost_copy}), \
             {written} bytes written",
            lost_full + lost_copy
        );
        if let Some(path) = &args.stats_json {
            let v = serde_json::json!({
                "captured": read,
                "filtered": 0,
                "lost": lost_full + lost_copy,
                "lost_by_cause": { "ring_full": lost_full, "copy_failed": lost_copy },
                "backend": backend,
                "written_bytes": written,
            });
            std::fs::write(path, v.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// SIGINT and SIGTERM, caught from before the floor is attached.
    struct Signals {
        rt: tokio::runtime::Runtime,
        int: tokio::signal::unix::Signal,
        term: tokio::signal::unix::Signal,
    }

    impl Signals {
        fn new() -> Result<Self, String> {
            use tokio::signal::unix::{signal, SignalKind};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("tokio: {e}"))?;
            let _in_rt = rt.enter();
            let int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
            let term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
            Ok(Self { rt, int, term })
        }

        /// Until either arrives.
        fn wait(self) {
            let Self {
                rt,
                mut int,
                mut term,
            } = self;
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
        }
    }
}
