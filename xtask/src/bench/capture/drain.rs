//! `bench drain`: how fast netcap decodes from full XDP rings, with 1 and 2 workers,
//! without trafgen competing for the cores while it does.
//!
//! One run: start `netcap capture --backend xdp --xdp-mode generic -F line -l
//! --workers N -B RING` on the host end of the bench's veth pair, its stdout a pipe
//! this bench reads; stop it with SIGSTOP (its own pid only); trafgen sends
//! [`FRAMES`] 64-byte frames from every core, which the XDP program puts into the
//! per-CPU rings (sized by `-B` to hold them all); SIGCONT; the bench reads netcap's
//! lines until none came for [`QUIET`]. The drain time is from SIGCONT to the last
//! line; frames per second are the lines (one per frame) over it. `-l` makes the writer
//! flush after every batch, so the last line is not held back in its buffer.
//!
//! Each thread's CPU time over the drain (from `/proc/PID/task/*/schedstat`, by thread
//! name) per frame is reported too: the busiest thread is the critical path, the
//! figure that says what the configuration can reach when every thread has a core,
//! where the wall clock on this shared 2-core VM also says how busy the neighbours
//! were. Runs of 1 and 2 workers alternate; medians.
//!
//! What the paths do (`run::live`): with 1 worker one capture thread reads both rings
//! and hands batches to the worker; when the worker's queue is full it holds the batch
//! and reads no more until the worker takes it (before 2026-12-07 it dropped the batch,
//! counted as `queue_full`, and went on reading: a drain of full rings then dropped
//! most frames in user space, and the capture thread's copying took CPU from the
//! worker); with 2 workers each worker reads its own ring. Either way every frame is
//! decoded.
use std::{
    io::Read,
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{trafgen, Scenario};
use crate::bench::{
    check_interrupted, load_average, netns::Veth, proc, write_json, write_report, Machine, Spread,
};

/// Frames per run: about half go to each CPU's ring. A 64-byte frame's record is 88
/// bytes in the per-CPU rings of 408bea6 (24-byte header, 8-byte aligned), 160 in the
/// BPF ring buffers before them (128-byte size class, its header, the ring's own).
const FRAMES: u64 = 1_500_000;
const FRAMES_QUICK: u64 = 400_000;
/// `-B` in KiB: 512 MiB, 256 MiB per CPU's ring (the most one ring takes), room for
/// 3M records of 88 bytes each (1.6M of the old 160); the `ring full` column shows if
/// it was not enough.
const RING_KIB: u32 = 512 * 1024;
/// The drain is over when netcap wrote nothing for this long.
const QUIET: Duration = Duration::from_millis(400);
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// The pipe netcap writes its lines into: the default `fs.pipe-max-size` (1 MiB).
const PIPE_BYTES: libc::c_int = 1 << 20;
/// Workers of the configurations compared.
const WORKERS: [usize; 2] = [1, 2];

/// What one run measured.
#[derive(Clone, Debug, Serialize)]
struct Sample {
    workers: usize,
    /// Frames trafgen sent while netcap was stopped.
    sent: u64,
    /// Lines netcap wrote after SIGCONT.
    lines: u64,
    /// From SIGCONT to the last line.
    drain_s: f64,
    frames_per_s: f64,
    /// netcap's own account (`--stats-json`).
    captured: u64,
    decoded: u64,
    lost_ring_full: u64,
    lost_queue_full: u64,
    /// CPU time of each thread over the drain, by name, nanoseconds per line.
    threads_ns_per_frame: Vec<(String, f64)>,
    /// CPU time of this bench's thread that reads netcap's stdout (and counts its
    /// lines), nanoseconds per line: it shares the machine's cores with netcap.
    reader_ns_per_frame: f64,
}

impl Sample {
    fn busiest(&self) -> f64 {
        self.threads_ns_per_frame
            .iter()
            .map(|(_, ns)| *ns)
            .fold(0.0, f64::max)
    }

    fn all_threads(&self) -> f64 {
        self.threads_ns_per_frame.iter().map(|(_, ns)| ns).sum()
    }
}

#[derive(Serialize)]
struct Row {
    workers: usize,
    frames_per_s: Spread,
    drain_s: Spread,
    lines: Spread,
    lost_queue_full: Spread,
    lost_ring_full: Spread,
    busiest_thread_ns_per_frame: Spread,
    all_threads_ns_per_frame: Spread,
    reader_ns_per_frame: Spread,
    /// Median per thread name.
    threads_ns_per_frame: Vec<(String, f64)>,
    samples: Vec<Sample>,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    frames: u64,
    ring_kib: u32,
    load_at_end: String,
    rows: Vec<Row>,
    /// The machine probe after each pair of runs (`bench::probe`).
    probes: Vec<crate::bench::probe::Probe>,
}

pub fn run(bin: &Path, out: &Path, machine: &Machine, opts: &crate::bench::Options) -> Result<()> {
    if !crate::is_root() {
        bail!("bench drain needs root (namespaces, veth, XDP): run it with sudo -E");
    }
    trafgen::ensure_tools()?;
    let runs = opts.runs.unwrap_or(if opts.quick { 1 } else { 5 }).max(1);
    let frames = if opts.quick { FRAMES_QUICK } else { FRAMES };
    let cfg = trafgen::cfg_path(out, 64);
    let stats = out.join("drain-stats.json");
    std::fs::write(&cfg, trafgen::config(64))?;
    let veth = Veth::create()?;
    let sc = Scenario {
        size: 64,
        rate_pps: None,
        all_cores: true,
        frames,
    };
    let mut samples: Vec<Sample> = Vec::new();
    let mut probes = Vec::new();
    let result = (|| -> Result<()> {
        for rep in 0..runs {
            for workers in WORKERS {
                check_interrupted()?;
                let s = run_once(bin, &veth, &sc, out, &stats, workers)
                    .with_context(|| format!("drain with {workers} worker(s)"))?;
                eprintln!(
                    "bench: drain run {}/{runs}, {workers} worker(s): {} lines in {:.3} s = \
                     {:.2} M frames/s; busiest thread {:.0} ns/frame, all {:.0}, bench \
                     reader {:.0}; dropped in user space {}, ring full {} (load {})",
                    rep + 1,
                    s.lines,
                    s.drain_s,
                    s.frames_per_s / 1e6,
                    s.busiest(),
                    s.all_threads(),
                    s.reader_ns_per_frame,
                    s.lost_queue_full,
                    s.lost_ring_full,
                    load_average(),
                );
                samples.push(s);
            }
            let probe = crate::bench::probe::run();
            eprintln!(
                "bench: machine probe: 2 threads at once {:.2}x the rate of 1",
                probe.ratio()
            );
            probes.push(probe);
        }
        Ok(())
    })();
    drop(veth);
    let _ = std::fs::remove_file(&cfg);
    let _ = std::fs::remove_file(&stats);
    result?;
    let rows: Vec<Row> = WORKERS
        .iter()
        .map(|&w| {
            row(
                w,
                samples.iter().filter(|s| s.workers == w).cloned().collect(),
            )
        })
        .collect();
    let report = Report {
        machine,
        frames,
        ring_kib: RING_KIB,
        load_at_end: load_average(),
        rows,
        probes,
    };
    write_json(&out.join("drain.json"), &report)?;
    let md = markdown(&report, runs);
    write_report(&out.join("drain.md"), &md)?;
    print!("{md}");
    Ok(())
}

fn row(workers: usize, samples: Vec<Sample>) -> Row {
    let spread = |f: fn(&Sample) -> f64| Spread::of(samples.iter().map(f));
    let mut names: Vec<String> = Vec::new();
    for (n, _) in samples.iter().flat_map(|s| &s.threads_ns_per_frame) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let threads = names
        .into_iter()
        .map(|n| {
            let each = samples.iter().map(|s| {
                s.threads_ns_per_frame
                    .iter()
                    .filter(|(m, _)| *m == n)
                    .map(|(_, ns)| ns)
                    .sum::<f64>()
            });
            let median = Spread::of(each).median;
            (n, median)
        })
        .filter(|(_, ns)| *ns >= 0.5)
        .collect();
    Row {
        workers,
        frames_per_s: spread(|s| s.frames_per_s),
        drain_s: spread(|s| s.drain_s),
        lines: spread(|s| s.lines as f64),
        lost_queue_full: spread(|s| s.lost_queue_full as f64),
        lost_ring_full: spread(|s| s.lost_ring_full as f64),
        busiest_thread_ns_per_frame: spread(Sample::busiest),
        all_threads_ns_per_frame: spread(Sample::all_threads),
        reader_ns_per_frame: spread(|s| s.reader_ns_per_frame),
        threads_ns_per_frame: threads,
        samples,
    }
}

fn markdown(r: &Report, runs: usize) -> String {
    let mut md = format!(
        "# Draining full XDP rings with 1 and 2 workers\n\n\
         `cargo xtask bench drain`: netcap (`--backend xdp --xdp-mode generic -F line -l \
         --workers N -B {}`, stdout a pipe the bench reads) stopped with SIGSTOP while \
         trafgen sends {} 64-byte UDP frames from every core into its per-CPU rings, then \
         SIGCONT: frames per second are the lines written over the time from SIGCONT to \
         the last line. Threads: CPU time over the drain per frame, by thread name \
         (schedstat), per line written, or for `main` (the capture loop with 1 worker) \
         per frame it read from the rings, dropped ones included; the busiest is the \
         critical path. `bench reader`: the CPU time of this bench's thread that reads \
         the pipe and counts the lines, per line. {runs} run(s) each, alternating, \
         median (min–max).\n\n{}; load average {} at the end.\n\n",
        r.ring_kib,
        crate::bench::thousands(r.frames as f64),
        r.machine.summary(),
        r.load_at_end,
    );
    md.push_str(
        "| workers | frames/s | drain s | lines | dropped in user space | ring full | \
         busiest thread ns/frame | all threads ns/frame | bench reader ns/frame | \
         threads (median ns/frame) |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    let num = |v: f64| crate::bench::thousands(v);
    for row in &r.rows {
        let threads: Vec<String> = row
            .threads_ns_per_frame
            .iter()
            .map(|(n, ns)| format!("{n} {ns:.0}"))
            .collect();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.workers,
            row.frames_per_s.show(num),
            row.drain_s.show(|v| format!("{v:.3}")),
            row.lines.show(num),
            row.lost_queue_full.show(num),
            row.lost_ring_full.show(num),
            row.busiest_thread_ns_per_frame.show(|v| format!("{v:.0}")),
            row.all_threads_ns_per_frame.show(|v| format!("{v:.0}")),
            row.reader_ns_per_frame.show(|v| format!("{v:.0}")),
            threads.join(", "),
        ));
    }
    if let [one, two] = r.rows.as_slice() {
        md.push_str(&format!(
            "\n2 workers / 1 worker: {:.2}x frames/s (medians); the busiest thread's CPU per \
             frame, 1 worker over 2 workers: {:.2}x.\n",
            two.frames_per_s.median / one.frames_per_s.median,
            one.busiest_thread_ns_per_frame.median / two.busiest_thread_ns_per_frame.median,
        ));
    }
    let probe = crate::bench::Spread::of(r.probes.iter().map(|p| p.ratio()));
    md.push_str(&format!(
        "Machine probe (after each pair of runs: the same CPU work on 1 thread, then on 2 at \
         once): 2 threads {} the rate of 1; the 2-worker ratio cannot beat it.\n",
        probe.show(|v| format!("{v:.2}x")),
    ));
    md
}

/// What the reader of netcap's stdout has seen.
#[derive(Default)]
struct Seen {
    bytes: u64,
    lines: u64,
    last: Option<Instant>,
}

fn run_once(
    bin: &Path,
    veth: &Veth,
    sc: &Scenario,
    out: &Path,
    stats: &Path,
    workers: usize,
) -> Result<Sample> {
    let _ = std::fs::remove_file(stats);
    let (mut reader, writer) = std::io::pipe().context("creating a pipe")?;
    // A large pipe: with the default 64 KiB, the drain's wall time measured how soon this
    // bench's reader thread got a CPU to empty it (about 0.7 M lines/s at load 5-6, for
    // 1 and 2 workers alike), not netcap.
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a pipe descriptor this function owns; F_SETPIPE_SZ takes an
        // int and touches no memory of ours. A refusal (above pipe-max-size) keeps the
        // default size.
        unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
    }
    let mut cmd = Command::new(bin);
    cmd.args(["capture", "-i", &veth.host_if, "--backend", "xdp"])
        .args(["--xdp-mode", "generic", "-F", "line", "-l"])
        .args(["--workers", &workers.to_string()])
        .args(["-B", &RING_KIB.to_string()])
        .arg("--stats-json")
        .arg(stats)
        .stdin(Stdio::null())
        .stdout(writer);
    let running = proc::Running::start(&mut cmd, "capturing with")?;
    // Only the child holds the write end now: the reader sees EOF when it exits.
    drop(cmd);
    let pid = running.pid();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = Arc::clone(&seen);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let read = std::thread::spawn(move || {
        // "/proc/thread-self" links to "PID/task/TID": where this thread's schedstat is.
        let _ = tid_tx.send(std::fs::read_link("/proc/thread-self").ok());
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let lines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            if let Ok(mut s) = sink.lock() {
                s.bytes += n as u64;
                s.lines += lines;
                s.last = Some(Instant::now());
            }
        }
    });
    signal(pid, libc::SIGSTOP)?;
    wait_state(pid, |s| s == 'T')?;
    let sent = trafgen::send(veth, sc, out, trafgen::peer_tx_packets(veth))?;
    // The last frames' softirq work ends with trafgen; a moment more for stragglers.
    std::thread::sleep(Duration::from_millis(200));
    if let Ok(mut s) = seen.lock() {
        *s = Seen::default();
    }
    let reader_task = tid_rx
        .recv()
        .ok()
        .flatten()
        .map(|t| Path::new("/proc").join(t));
    let reader_ns = || reader_task.as_deref().and_then(schedstat_ns).unwrap_or(0);
    let before = threads_ns(pid);
    let reader0 = reader_ns();
    let cont = Instant::now();
    signal(pid, libc::SIGCONT)?;
    let (lines, last) = loop {
        check_interrupted()?;
        std::thread::sleep(Duration::from_millis(50));
        let (lines, last) = seen.lock().map(|s| (s.lines, s.last)).unwrap_or((0, None));
        let quiet = last.map_or(cont.elapsed(), |t| t.elapsed());
        if (last.is_some() && quiet >= QUIET) || cont.elapsed() > DRAIN_LIMIT {
            break (lines, last);
        }
    };
    let after = threads_ns(pid);
    let reader_cpu = reader_ns().saturating_sub(reader0);
    let (_exited, stderr) = running.stop()?;
    let _ = read.join();
    let Some(last) = last else {
        bail!("netcap wrote nothing after SIGCONT; stderr:\n{stderr}");
    };
    let drain_s = last.duration_since(cont).as_secs_f64();
    let text = std::fs::read_to_string(stats)
        .with_context(|| format!("reading {} (stderr: {stderr})", stats.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let cause = |k: &str| {
        v.get("lost_by_cause")
            .and_then(|c| c.get(k))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let lost_queue_full = cause("queue_full");
    let mut threads: Vec<(String, f64)> = Vec::new();
    for (tid, name, ns) in &after {
        let ns0 = before
            .iter()
            .find(|(t, _, _)| t == tid)
            .map_or(0, |(_, _, n)| *n);
        // The main thread runs the capture loop with 1 worker: it reads every frame,
        // also those it then drops on a full queue; the others handle the lines.
        let (name, frames) = if *tid == pid {
            ("main".to_owned(), lines + lost_queue_full)
        } else {
            (name.clone(), lines)
        };
        let per_frame = ns.saturating_sub(ns0) as f64 / frames.max(1) as f64;
        match threads.iter_mut().find(|(n, _)| *n == name) {
            Some((_, sum)) => *sum += per_frame,
            None => threads.push((name, per_frame)),
        }
    }
    Ok(Sample {
        workers,
        sent: sent.frames,
        lines,
        drain_s,
        frames_per_s: lines as f64 / drain_s.max(1e-9),
        captured: num("captured"),
        decoded: num("decoded"),
        lost_ring_full: cause("ring_full"),
        lost_queue_full,
        threads_ns_per_frame: threads,
        reader_ns_per_frame: reader_cpu as f64 / lines.max(1) as f64,
    })
}

fn signal(pid: u32, sig: libc::c_int) -> Result<()> {
    // SAFETY: kill has no memory preconditions; pid is our own unreaped child.
    if unsafe { libc::kill(pid as libc::pid_t, sig) } != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the state letter of `pid` (/proc/PID/stat) satisfies `ok`.
fn wait_state(pid: u32, ok: impl Fn(char) -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next());
        if state.is_some_and(&ok) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(5) {
            bail!("netcap (pid {pid}) did not stop");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every thread of `pid`: (tid, name, on-CPU nanoseconds).
fn threads_ns(pid: u32) -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|t| {
            let tid = t.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let ns = schedstat_ns(&t.path())?;
            Some((tid, name.trim().to_owned(), ns))
        })
        .collect()
}

/// A task's on-CPU nanoseconds (the first field of its `schedstat`); `task` is its
/// `/proc/.../task/TID` directory.
fn schedstat_ns(task: &Path) -> Option<u64> {
    std::fs::read_to_string(task.join("schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
