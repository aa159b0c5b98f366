//! `bench capture`: live capture on a veth pair, netcap against tcpdump.
//!
//! One run: start the tool on the host end and wait for its ready line; `trafgen` in the
//! namespace sends a fixed number of UDP/IPv4 frames (source port counting up, so flows
//! differ); wait until the tool has used no CPU for a moment (drained); read its CPU
//! time; SIGINT; collect its own account (netcap `--stats-json`, tcpdump's closing
//! lines). Runs are interleaved (repetition, then scenario, then tool) so that the
//! machine's noise spreads over all tools alike.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{
    check_interrupted, netns::Veth, plot, proc, thousands, write_json, write_report, Machine,
    Spread,
};

/// Frames per top-rate run. trafgen with one CPU reaches only 0.1-0.35 Mpps on this
/// shared 2-core VM, so 300k frames is 1-3 s of traffic per run and the whole full
/// bench (3 sizes + 3 stepped rates, 9 tools, 3 repetitions) stays under 10 minutes.
const FRAMES_FULL: u64 = 300_000;
const FRAMES_QUICK: u64 = 100_000;
/// Frame lengths (without FCS): minimum, middle, full MTU.
const SIZES: [usize; 3] = [64, 512, 1500];
/// Stepped rates (frames/s) for the smallest frames, below the generator's top rate.
const RATES: [u64; 3] = [50_000, 100_000, 200_000];
/// Seconds of traffic per stepped-rate run (frames = rate x this, at most the top-rate count).
const STEP_SECS: f64 = 1.5;
const STEP_SECS_QUICK: f64 = 0.7;
/// A tool has drained when it used at most one clock tick in this window.
const IDLE_WINDOW: Duration = Duration::from_millis(200);
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// libpcap's TPACKET_V3 block timeout is its read timeout, 1000 ms: frames in a
/// partly filled block reach tcpdump only then, and tcpdump does not read that block
/// on SIGINT. So tcpdump gets this long after the last frame before it is stopped.
const TCPDUMP_MIN_DRAIN: Duration = Duration::from_millis(1200);
/// netcap's default ring is 16 MiB; tcpdump -w gets the same buffer.
const BUFFER_KIB: &str = "16384";

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
struct Scenario {
    size: usize,
    /// `None`: as fast as trafgen can.
    rate_pps: Option<u64>,
    frames: u64,
}

impl Scenario {
    fn label(&self) -> String {
        match self.rate_pps {
            None => format!("{} B, top rate", self.size),
            Some(r) => format!("{} B, {} kpps", self.size, r / 1000),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Netcap,
    Tcpdump,
}

struct Tool {
    name: &'static str,
    family: Family,
    args: Vec<String>,
}

fn tools(bin: &Path, iface: &str, stats: &Path, wfile: &Path) -> Vec<Tool> {
    let nc = |name, extra: &[&str]| {
        let mut args: Vec<String> = vec![bin.display().to_string(), "capture".into(), "-i".into()];
        args.push(iface.into());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--stats-json".into(), stats.display().to_string()]);
        Tool {
            name,
            family: Family::Netcap,
            args,
        }
    };
    let td = |name, extra: &[&str]| {
        let mut args: Vec<String> = vec!["tcpdump".into(), "-i".into(), iface.into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Tool {
            name,
            family: Family::Tcpdump,
            args,
        }
    };
    let w = wfile.display().to_string();
    vec![
        nc(
            "netcap xdp native -F none",
            &["--backend", "xdp", "--xdp-mode", "native", "-F", "none"],
        ),
        nc(
            "netcap xdp generic -F none",
            &["--backend", "xdp", "--xdp-mode", "generic", "-F", "none"],
        ),
        nc(
            "netcap xdp generic -F none, unbatched wake-ups",
            &[
                "--backend",
                "xdp",
                "--xdp-mode",
                "generic",
                "-F",
                "none",
                "--wakeup-bytes",
                "0",
            ],
        ),
        nc(
            "netcap xdp generic -F none, filter keeps 1%",
            &[
                "--backend",
                "xdp",
                "--xdp-mode",
                "generic",
                "-F",
                "none",
                // trafgen's source port counts 1024..=65000: 640 of 63,977 ports.
                "udp src portrange 1024-1663",
            ],
        ),
        nc(
            "netcap xdp generic -F turtle",
            &["--backend", "xdp", "--xdp-mode", "generic", "-F", "turtle"],
        ),
        nc(
            "netcap xdp generic -F line",
            &["--backend", "xdp", "--xdp-mode", "generic", "-F", "line"],
        ),
        nc(
            "netcap xdp generic -F json",
            &["--backend", "xdp", "--xdp-mode", "generic", "-F", "json"],
        ),
        nc(
            "netcap xdp generic -w FILE",
            &["--backend", "xdp", "--xdp-mode", "generic", "-w", &w],
        ),
        nc(
            "netcap xdp native -w /dev/null",
            &[
                "--backend",
                "xdp",
                "--xdp-mode",
                "native",
                "-w",
                "/dev/null",
            ],
        ),
        nc(
            "netcap afpacket -F none",
            &["--backend", "afpacket", "-F", "none"],
        ),
        nc(
            "netcap afpacket -w /dev/null",
            &["--backend", "afpacket", "-w", "/dev/null"],
        ),
        nc(
            "netcap afpacket -F line, fanout over 2 workers",
            &["--backend", "afpacket", "-F", "line", "--workers", "2"],
        ),
        td(
            "tcpdump -w /dev/null -B 16384",
            &["-w", "/dev/null", "-B", BUFFER_KIB],
        ),
        td("tcpdump -n > /dev/null", &["-n"]),
    ]
}

/// One run of one tool on one scenario.
#[derive(Clone, Debug, Serialize)]
struct Sample {
    offered: u64,
    offered_pps: f64,
    /// Frames the host end of the veth received (its rx_packets delta).
    host_rx: u64,
    captured: u64,
    /// Frames the tool's kernel filter rejected (accounted for, not lost).
    filtered: u64,
    lost_own: u64,
    lost_by_cause: Option<serde_json::Value>,
    backend: String,
    /// utime+stime of the tool from ready to just before SIGINT.
    cpu_s: f64,
    /// The tool's whole life (wait4 rusage), including start-up and teardown.
    cpu_total_s: f64,
    /// Busy CPU of the whole machine (/proc/stat) from just before sending to drained.
    machine_cpu_s: f64,
    exit_code: i32,
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
    cpu_s: Spread,
    cpu_ns_per_frame: Spread,
    machine_cpu_s: Spread,
    machine_ns_per_frame: Spread,
    samples: Vec<Sample>,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    quick: bool,
    runs: usize,
    generator: String,
    results: Vec<Summary>,
}

pub fn run(
    root: &Path,
    bin: &Path,
    out: &Path,
    machine: &Machine,
    opts: &super::Options,
) -> Result<()> {
    let quick = opts.quick;
    if !crate::is_root() {
        bail!("bench capture needs root (namespaces, veth, XDP): run it with sudo -E");
    }
    ensure_trafgen()?;
    let frames = if quick { FRAMES_QUICK } else { FRAMES_FULL };
    let runs = opts.runs.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let step_secs = if quick { STEP_SECS_QUICK } else { STEP_SECS };
    let mut scenarios: Vec<Scenario> = SIZES
        .iter()
        .map(|&size| Scenario {
            size,
            rate_pps: None,
            frames,
        })
        .collect();
    for rate in RATES.iter().copied().filter(|_| !opts.top_rate_only) {
        let n = ((rate as f64 * step_secs) as u64).min(frames);
        scenarios.push(Scenario {
            size: SIZES[0],
            rate_pps: Some(rate),
            frames: n,
        });
    }
    for size in SIZES {
        std::fs::write(trafgen_cfg(out, size), trafgen_config(size))?;
    }
    let stats = out.join("capture-stats.json");
    let wfile = out.join("capture-w.pcap");

    let veth = Veth::create()?;
    let veth_name = veth.host_if.clone();
    let mut tools = tools(bin, &veth.host_if, &stats, &wfile);
    if !opts.only.is_empty() {
        tools.retain(|t| opts.only.iter().any(|o| t.name.contains(o.as_str())));
        if tools.is_empty() {
            bail!("--only matches no tool");
        }
    }
    let started = Instant::now();
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); tools.len()]; scenarios.len()];
    let result = (|| -> Result<()> {
        for rep in 0..runs {
            for (si, sc) in scenarios.iter().enumerate() {
                for (ti, tool) in tools.iter().enumerate() {
                    check_interrupted()?;
                    let s = run_once(&veth, tool, sc, out, &stats)
                        .with_context(|| format!("{} on {}", tool.name, sc.label()))?;
                    let _ = std::fs::remove_file(&wfile);
                    eprintln!(
                        "bench: [{:>3.0} s] run {}/{runs} {:<18} {:<30} offered {:>8} at {:>7} pps, \
                         captured {:>8} ({:5.1} %), cpu {:.2} s",
                        started.elapsed().as_secs_f64(),
                        rep + 1,
                        sc.label(),
                        tool.name,
                        s.offered,
                        thousands(s.offered_pps),
                        s.captured,
                        pct(s.captured, s.offered),
                        s.cpu_s,
                    );
                    samples[si][ti].push(s);
                }
            }
        }
        Ok(())
    })();
    drop(veth);
    let _ = std::fs::remove_file(&wfile);
    let _ = std::fs::remove_file(&stats);
    for size in SIZES {
        let _ = std::fs::remove_file(trafgen_cfg(out, size));
    }
    result?;

    let mut results = Vec::new();
    for (si, sc) in scenarios.iter().enumerate() {
        for (ti, tool) in tools.iter().enumerate() {
            results.push(summarise(
                tool.name,
                *sc,
                std::mem::take(&mut samples[si][ti]),
            ));
        }
    }
    let report = Report {
        machine,
        quick,
        runs,
        generator: trafgen_version(),
        results,
    };
    write_json(&out.join("capture.json"), &report)?;
    let mut md = markdown(&report, frames, step_secs);
    md.push_str("\nCommands (IF is the host end of the veth pair; stdout to /dev/null):\n\n");
    for t in &tools {
        let args: Vec<String> = t
            .args
            .iter()
            .map(|a| {
                if a == &veth_name {
                    "IF".to_owned()
                } else {
                    super::rel(root, Path::new(a)).display().to_string()
                }
            })
            .map(|a| a.replace("target/bench/netcap", "target/release/netcap"))
            .collect();
        md.push_str(&format!("- {}: `{}`\n", t.name, args.join(" ")));
    }
    md.push_str(&format!(
        "- generator: `ip netns exec NS trafgen -o PEER -i CFG -n FRAMES -P 1 --no-sock-mem \
         [-b RATEpps]`, CFG: `{}`\n",
        trafgen_config(64).trim()
    ));
    write_report(&out.join("capture.md"), &md)?;
    let series: Vec<plot::Series> = tools
        .iter()
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

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn run_once(veth: &Veth, tool: &Tool, sc: &Scenario, out: &Path, stats: &Path) -> Result<Sample> {
    let _ = std::fs::remove_file(stats);
    let mut cmd = Command::new(&tool.args[0]);
    cmd.args(&tool.args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let ready = match tool.family {
        Family::Netcap => "capturing with",
        Family::Tcpdump => "listening on",
    };
    let rx0 = veth.host_counter("rx_packets");
    let running = proc::Running::start(&mut cmd, ready)?;
    let cpu0 = running.cpu_s()?;
    let (busy0, _) = proc::machine_cpu_s()?;

    let (offered, send_s) = trafgen(veth, sc, out)?;
    let sent_at = Instant::now();

    running.wait_idle(IDLE_WINDOW, DRAIN_LIMIT)?;
    // Before tcpdump's extra wait, which would only add other processes' CPU.
    let (busy1, _) = proc::machine_cpu_s()?;
    if tool.family == Family::Tcpdump {
        let waited = sent_at.elapsed();
        if waited < TCPDUMP_MIN_DRAIN {
            std::thread::sleep(TCPDUMP_MIN_DRAIN - waited);
        }
    }
    let cpu1 = running.cpu_s()?;
    let host_rx = veth.host_counter("rx_packets").saturating_sub(rx0);
    let (exited, stderr) = running.stop()?;
    if exited.code != 0 && exited.code != 128 + libc::SIGINT {
        bail!("exited with {}; stderr:\n{stderr}", exited.code);
    }
    let (captured, filtered, lost_own, lost_by_cause, backend) = match tool.family {
        Family::Netcap => netcap_account(stats, &stderr)?,
        Family::Tcpdump => tcpdump_account(&stderr)?,
    };
    Ok(Sample {
        offered,
        offered_pps: offered as f64 / send_s.max(1e-6),
        host_rx,
        captured,
        filtered,
        lost_own,
        lost_by_cause,
        backend,
        cpu_s: cpu1 - cpu0,
        cpu_total_s: exited.cpu_s,
        machine_cpu_s: busy1 - busy0,
        exit_code: exited.code,
    })
}

/// (captured, filtered in the kernel, lost by the tool's count, losses by cause, backend)
type Account = (u64, u64, u64, Option<serde_json::Value>, String);

fn netcap_account(stats: &Path, stderr: &str) -> Result<Account> {
    let text = std::fs::read_to_string(stats)
        .with_context(|| format!("reading {} (stderr: {stderr})", stats.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let backend = v
        .get("backend")
        .and_then(|b| b.as_str())
        .unwrap_or("?")
        .to_owned();
    Ok((
        num("captured"),
        num("filtered"),
        num("lost"),
        v.get("lost_by_cause").cloned(),
        backend,
    ))
}

/// tcpdump's closing lines: "N packets captured", "N packets dropped by kernel".
fn tcpdump_account(stderr: &str) -> Result<Account> {
    let find = |what: &str| {
        stderr.lines().find_map(|l| {
            let l = l.trim();
            l.strip_suffix(what)
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
    };
    let captured =
        find("packets captured").with_context(|| format!("no tcpdump summary in:\n{stderr}"))?;
    let dropped = find("packets dropped by kernel").unwrap_or(0);
    let buffer = if stderr.contains("listening on") {
        "AF_PACKET (libpcap)"
    } else {
        "?"
    };
    Ok((
        captured,
        0,
        dropped,
        Some(serde_json::json!({ "dropped_by_kernel": dropped })),
        buffer.into(),
    ))
}

fn summarise(tool: &str, scenario: Scenario, samples: Vec<Sample>) -> Summary {
    let sp = |f: &dyn Fn(&Sample) -> f64| Spread::of(samples.iter().map(f));
    Summary {
        tool: tool.to_owned(),
        scenario,
        backend: samples
            .first()
            .map(|s| s.backend.clone())
            .unwrap_or_default(),
        offered: sp(&|s| s.offered as f64),
        offered_pps: sp(&|s| s.offered_pps),
        captured: sp(&|s| s.captured as f64),
        capture_pct: sp(&|s| pct(s.captured + s.filtered, s.offered)),
        lost_own: sp(&|s| s.lost_own as f64),
        lost_vs_offered: sp(&|s| s.offered as f64 - (s.captured + s.filtered) as f64),
        cpu_s: sp(&|s| s.cpu_s),
        cpu_ns_per_frame: sp(&|s| s.cpu_s * 1e9 / (s.captured + s.filtered).max(1) as f64),
        machine_cpu_s: sp(&|s| s.machine_cpu_s),
        machine_ns_per_frame: sp(&|s| s.machine_cpu_s * 1e9 / s.offered.max(1) as f64),
        samples,
    }
}

// ---- generator ----

fn ensure_trafgen() -> Result<()> {
    if Command::new("trafgen").arg("-v").output().is_ok() {
        return Ok(());
    }
    eprintln!("bench: installing netsniff-ng (trafgen)");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "netsniff-ng"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "trafgen is missing and `apt-get install -y netsniff-ng` failed (try apt-get update)"
        );
    }
    Ok(())
}

fn trafgen_version() -> String {
    Command::new("trafgen")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn trafgen_cfg(out: &Path, size: usize) -> PathBuf {
    out.join(format!("trafgen-{size}.cfg"))
}

/// A UDP/IPv4 frame of `size` bytes (without FCS) from the namespace end to a MAC that
/// is not the host end's, so the host stack drops it early and never answers. The
/// source port counts up: every frame is a new flow for flow tables.
fn trafgen_config(size: usize) -> String {
    let fill = size - 14 - 20 - 8;
    format!(
        "{{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
         ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), \
         udp(sport=dinc(1024, 65000), dport=9), fill(0x41, {fill}) }}\n"
    )
}

/// Sends the scenario's frames; returns (frames sent, seconds trafgen took to send).
fn trafgen(veth: &Veth, sc: &Scenario, out: &Path) -> Result<(u64, f64)> {
    check_interrupted()?;
    let cfg = trafgen_cfg(out, sc.size);
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &veth.ns,
        "trafgen",
        "-o",
        &veth.ns_if,
        "-i",
    ])
    .arg(&cfg)
    .args(["-n", &sc.frames.to_string(), "-P", "1", "--no-sock-mem"]);
    if let Some(r) = sc.rate_pps {
        cmd.args(["-b", &format!("{r}pps")]);
    }
    let start = Instant::now();
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .context("starting trafgen")?;
    let wall = start.elapsed().as_secs_f64();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        check_interrupted()?;
        bail!("trafgen failed ({}):\n{text}", o.status);
    }
    let sent = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix("packets outgoing")
                .and_then(|n| n.trim().parse().ok())
        })
        .with_context(|| format!("no packet count in trafgen's output:\n{text}"))?;
    // "   2 sec, 841756 usec on CPU0 (1000000 packets)": its own send time.
    let secs = text
        .lines()
        .find_map(|l| {
            let (s, rest) = l.trim().split_once(" sec, ")?;
            let us = rest.split_whitespace().next()?;
            Some(s.trim().parse::<f64>().ok()? + us.parse::<f64>().ok()? * 1e-6)
        })
        .unwrap_or(wall);
    Ok((sent, secs))
}

// ---- report ----

fn markdown(r: &Report, frames: u64, step_secs: f64) -> String {
    let mut s = format!(
        "Live capture on a veth pair: `{}` in a namespace sends UDP/IPv4 frames (source port \
         counting up) to the host end, one capture tool at a time. Top rate: {} frames per \
         size; stepped rates: {} s of traffic. {} run(s) each, median (min–max).\n\
         Machine: {}.\n\n",
        r.generator.split(',').next().unwrap_or("trafgen"),
        thousands(frames as f64),
        step_secs,
        r.runs,
        r.machine.summary()
    );
    s.push_str(
        "CPU/frame is the tool's own CPU (utime+stime from ready to drained) per frame it \
         handled (captured, or rejected by its kernel filter); capture % counts both, so a \
         filtering tool that loses nothing shows 100 %; \
         machine CPU is the busy time of all cores over the same window (it includes trafgen \
         and the kernel's veth path, and on a shared machine other sessions' work too) per \
         offered frame. The stepped-rate runs start with a burst of some 20k frames at full \
         speed (trafgen's pacing), so their reached rate is above the nominal one.\n\n",
    );
    s.push_str(
        "| frames | tool | backend | offered (pps) | captured | capture % | lost (own count) | \
         offered − captured | tool CPU s | CPU ns/frame | machine ns/frame |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for x in &r.results {
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            x.scenario.label(),
            x.tool,
            short_backend(&x.backend),
            thousands(x.offered_pps.median),
            x.captured.show(thousands),
            x.capture_pct.show(|v| format!("{v:.1}")),
            x.lost_own.show(thousands),
            x.lost_vs_offered.show(thousands),
            x.cpu_s.show(|v| format!("{v:.2}")),
            x.cpu_ns_per_frame.show(|v| format!("{v:.0}")),
            x.machine_ns_per_frame.show(|v| format!("{v:.0}")),
        ));
    }
    s
}

fn short_backend(b: &str) -> String {
    if b.contains("native") {
        "XDP native".into()
    } else if b.contains("generic") {
        "XDP generic".into()
    } else if b.starts_with("AF_PACKET (TPACKET") {
        "AF_PACKET".into()
    } else {
        b.into()
    }
}
