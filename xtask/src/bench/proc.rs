//! Child processes for the benches: start one and wait for its "ready" line, read its
//! CPU time while it runs, stop it with SIGINT, and reap it with `wait4` to get its
//! resource usage. A [`Running`] that is dropped without [`Running::stop`] is killed
//! and reaped, so no tool outlives the bench.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::check_interrupted;

/// How long a tool may take to say it is ready (netcap loads and verifies its eBPF
/// program first, which takes well under a second here).
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a tool may take to exit after SIGINT (it drains its queues first).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Clock ticks per second for /proc/PID/stat times.
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of process `pid` (all its threads) in seconds.
pub fn process_cpu_s(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = f.get(11).context("no utime")?.parse()?;
    let stime: f64 = f.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / clk_tck())
}

/// On-CPU time of all live threads of `pid` in seconds, from
/// /proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat counts 10 ms ticks, too
/// coarse for a 100k-frame run). Falls back to [`process_cpu_s`].
pub fn threads_cpu_s(pid: u32) -> Result<f64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return process_cpu_s(pid);
    };
    let mut ns = 0u64;
    for task in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        ns += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    if ns == 0 {
        return process_cpu_s(pid);
    }
    Ok(ns as f64 * 1e-9)
}

/// The direct children of `pid` (`/proc/PID/task/*/children`, Linux 3.5).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// What a reaped child leaves behind.
#[derive(Debug)]
pub struct Exited {
    /// `WEXITSTATUS`, or 128 + signal number.
    pub code: i32,
    /// User + system CPU of the child and its threads over its whole life.
    pub cpu_s: f64,
    /// When it was reaped.
    pub at: Instant,
}

/// Reaps `pid`, polling so that a hung child cannot hang the bench; SIGKILL after `limit`.
fn reap(pid: u32, limit: Duration) -> Result<Exited> {
    let start = Instant::now();
    let mut killed = false;
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unreaped child; status and ru point to live locals.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut ru) };
        if r < 0 {
            bail!("wait4({pid}): {}", std::io::Error::last_os_error());
        }
        if r > 0 {
            let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            return Ok(Exited {
                code,
                cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
                at: Instant::now(),
            });
        }
        if !killed && start.elapsed() > limit {
            // SAFETY: kill has no memory preconditions; pid is our unreaped child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` to the end; returns wall time and its rusage.
pub fn run_timed(cmd: &mut Command) -> Result<(f64, Exited)> {
    check_interrupted()?;
    let start = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let ex = reap(child.id(), Duration::from_secs(3600))?;
    Ok((ex.at.duration_since(start).as_secs_f64(), ex))
}

/// A tool started in the background whose stderr is collected.
pub struct Running {
    child: Child,
    reaped: bool,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts `cmd` (its stderr is captured) and waits until a stderr line contains
    /// `ready`. Fails if it exits first or takes longer than [`READY_TIMEOUT`].
    pub fn start(cmd: &mut Command, ready: &str) -> Result<Running> {
        check_interrupted()?;
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        let mut pipe = child.stderr.take().context("no stderr pipe")?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&stderr);
        let pattern = ready.to_owned();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(&mut pipe);
            let mut line = String::new();
            while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
                if line.contains(&pattern) {
                    let _ = tx.send(());
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                }
                line.clear();
            }
        });
        let mut running = Running {
            child,
            reaped: false,
            stderr,
            reader: Some(reader),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            check_interrupted()?;
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => return Ok(running),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => {
                    let text = running.kill_and_collect();
                    bail!("{cmd:?} did not print {ready:?}; stderr:\n{text}");
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far by its live threads.
    /// CPU time of the tool's threads and of its direct children's (pmacctd's plugins
    /// are child processes), so that [`Running::wait_idle`] waits for them too.
    pub fn cpu_s(&self) -> Result<f64> {
        let mut total = threads_cpu_s(self.pid())?;
        for child in children(self.pid()) {
            total += threads_cpu_s(child).unwrap_or(0.0);
        }
        Ok(total)
    }

    /// Waits until the tool has used no CPU for `quiet` (it has drained what it was
    /// sent), at most `limit`.
    pub fn wait_idle(&self, quiet: Duration, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let mut last = self.cpu_s()?;
        while start.elapsed() < limit {
            check_interrupted()?;
            std::thread::sleep(quiet);
            let now = self.cpu_s()?;
            // Idle: under 2 % of one core over the window (timers and polls may tick).
            if now - last <= quiet.as_secs_f64() * 0.02 {
                break;
            }
            last = now;
        }
        Ok(())
    }

    /// Sends SIGINT, reaps the tool and returns how it ended and its stderr.
    pub fn stop(mut self) -> Result<(Exited, String)> {
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGINT) };
        let ex = reap(self.pid(), STOP_TIMEOUT)?;
        self.reaped = true;
        let text = self.collect_stderr();
        Ok((ex, text))
    }

    fn collect_stderr(&mut self) -> String {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn kill_and_collect(&mut self) -> String {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        self.collect_stderr()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
