//! `bench flows`: flow accounting and export on a file. The generated pcap of the
//! offline bench ([`super::pcapgen`]), read by netcap counting flows and exporting each
//! record as it ends (`--flows-json` to /dev/null, and IPFIX over UDP to a socket this
//! bench drains), with one worker and with two; and by softflowd (`softflowd -r`,
//! IPFIX to the same kind of socket), the user-space exporter collectors already hear
//! from. Wall and CPU time per run, as frames per second; medians of the runs.
//!
//! Not a test: it reports and never asserts a time. softflowd is skipped when it is
//! not installed (`apt-get install softflowd`).
use std::{
    net::UdpSocket,
    path::Path,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{pcapgen, proc, thousands, write_json, write_report, Machine, Spread};

const FRAMES_FULL: u64 = 1_000_000;
const FRAMES_QUICK: u64 = 200_000;
const SEED: u64 = 0x666c_6f77;

#[derive(Debug, Serialize)]
struct Outcome {
    name: String,
    command: String,
    wall_s: Spread,
    cpu_s: Spread,
    frames_per_s: Spread,
    /// UDP datagrams the collector socket got, last run.
    datagrams: u64,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    frames: u64,
    runs: usize,
    results: Vec<Outcome>,
}

/// A UDP socket that takes and counts whatever is sent to it, until dropped.
struct Collector {
    port: u16,
    datagrams: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start() -> Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0").context("binding the collector socket")?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let port = sock.local_addr()?.port();
        let (datagrams, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (d, s) = (datagrams.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                if sock.recv(&mut buf).is_ok() {
                    d.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            port,
            datagrams,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True when this netcap has the IPFIX exporter.
fn netcap_has_ipfix(bin: &Path) -> bool {
    Command::new(bin)
        .args(["read", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--ipfix"))
}

pub fn run(bin: &Path, out: &Path, machine: &Machine, quick: bool) -> Result<()> {
    let frames = if quick { FRAMES_QUICK } else { FRAMES_FULL };
    let runs = if quick { 1 } else { 3 };
    let file = out.join(format!("flows-{frames}.pcap"));
    eprintln!(
        "bench: generating {} ({} frames)",
        file.display(),
        thousands(frames as f64)
    );
    pcapgen::generate(&file, frames, SEED)?;
    let collector = Collector::start()?;
    let dest = format!("127.0.0.1:{}", collector.port);
    let f = file.display().to_string();
    let b = bin.display().to_string();
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    for workers in ["1", "2"] {
        let base = [b.as_str(), "read", &f, "-F", "none", "--workers", workers];
        let mut json: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        json.extend(["--flows-json".into(), "/dev/null".into()]);
        cases.push((format!("netcap --flows-json, {workers} worker(s)"), json));
        if netcap_has_ipfix(bin) {
            let mut ipfix: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            ipfix.extend(["--ipfix".into(), dest.clone()]);
            cases.push((format!("netcap --ipfix (UDP), {workers} worker(s)"), ipfix));
        }
    }
    if has("softflowd") {
        let argv = ["softflowd", "-d", "-r", &f, "-n", &dest, "-v", "10", "-6"];
        cases.push((
            "softflowd -r (IPFIX, UDP)".into(),
            argv.iter().map(|s| s.to_string()).collect(),
        ));
    } else {
        eprintln!("bench: softflowd not installed; its row is skipped");
    }
    let mut results = Vec::new();
    for (name, argv) in cases {
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        let mut datagrams = 0;
        for _ in 0..runs {
            let before = collector.datagrams.load(Ordering::Relaxed);
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let (w, ex) = proc::run_timed(&mut cmd)?;
            if ex.code != 0 {
                bail!("{} exited with {}", argv.join(" "), ex.code);
            }
            // The last datagrams may still be in the socket's queue.
            std::thread::sleep(Duration::from_millis(200));
            datagrams = collector.datagrams.load(Ordering::Relaxed) - before;
            wall.push(w);
            cpu.push(ex.cpu_s);
        }
        let fps = Spread::of(wall.iter().map(|w| frames as f64 / w));
        eprintln!("bench: {name:<36} {:>12} frames/s", thousands(fps.median));
        results.push(Outcome {
            name,
            command: argv.join(" ").replace(&f, "FILE").replace(&b, "netcap"),
            wall_s: Spread::of(wall),
            cpu_s: Spread::of(cpu),
            frames_per_s: fps,
            datagrams,
        });
    }
    drop(collector);
    let report = Report {
        machine,
        frames,
        runs,
        results,
    };
    write_json(&out.join("flows.json"), &report)?;
    write_report(&out.join("flows.md"), &markdown(&report))?;
    print!("{}", markdown(&report));
    let _ = std::fs::remove_file(&file);
    Ok(())
}

fn markdown(r: &Report) -> String {
    let mut s = format!(
        "Flow accounting and export: {} frames of the offline bench's generated mix, read from \
         a file. {} run(s) each, median (min–max). IPFIX goes over UDP to a socket on \
         127.0.0.1 that the bench drains.\nMachine: {}.\n\n\
         | command | wall s | CPU s | frames/s | datagrams |\n| --- | ---: | ---: | ---: | ---: |\n",
        thousands(r.frames as f64),
        r.runs,
        r.machine.summary()
    );
    for o in &r.results {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            o.command,
            o.wall_s.show(|x| format!("{x:.2}")),
            o.cpu_s.show(|x| format!("{x:.2}")),
            thousands(o.frames_per_s.median),
            o.datagrams
        ));
    }
    s
}
