//! Runs the `netcap` binary for the end-to-end tests: start it, wait until it has
//! attached, signal it, collect its output (with a deadline, so a hang fails the test
//! instead of stalling CI); plus pcap and stats-file readers.
#![allow(
    dead_code,
    reason = "each test crate uses a different subset; `expect` would fail in the crates using all"
)]

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Longest a test waits for netcap to attach, or to finish.
const DEADLINE: Duration = Duration::from_secs(20);

pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

pub struct Netcap {
    child: Child,
    stderr: Arc<Mutex<String>>,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr_thread: std::thread::JoinHandle<()>,
}

impl Netcap {
    fn spawn(args: &[&str]) -> Self {
        Self::spawn_env(args, &[])
    }

    fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netcap"));
        cmd.args(args).envs(env.iter().copied());
        Self::spawn_command(cmd)
    }

    /// netcap run by `wrapper` (`setpriv ...`): `wrapper... netcap args...`.
    fn spawn_under(wrapper: &[&str], args: &[&str]) -> Self {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..])
            .arg(env!("CARGO_BIN_EXE_netcap"))
            .args(args);
        Self::spawn_command(cmd)
    }

    /// Starts netcap under `wrapper` and returns once it says it is capturing.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Self {
        Self::wait_started(Self::spawn_under(wrapper, args))
    }

    /// Runs netcap under `wrapper` to completion.
    pub fn run_under(wrapper: &[&str], args: &[&str]) -> Output {
        Self::spawn_under(wrapper, args).wait()
    }

    /// The process id (of the wrapper, when there is one: `setpriv` execs netcap).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn_command(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting netcap");
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        Self {
            child,
            stderr,
            stdout,
            stderr_thread,
        }
    }

    /// Starts netcap and returns once it says it is capturing (or has exited).
    pub fn start(args: &[&str]) -> Self {
        Self::wait_started(Self::spawn(args))
    }

    fn wait_started(nc: Self) -> Self {
        let t0 = Instant::now();
        loop {
            let text = nc.stderr_so_far();
            if text
                .split("netcap: capturing with")
                .nth(1)
                .is_some_and(|rest| rest.contains('\n'))
            {
                return nc;
            }
            let exited =
                nc.stderr_so_far().contains("frames seen") || nc.stderr_so_far().contains("error");
            assert!(
                !exited,
                "netcap ended before capturing: {}",
                nc.stderr_so_far()
            );
            assert!(
                t0.elapsed() < DEADLINE,
                "netcap did not start: {}",
                nc.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs netcap to completion with `env` added to its environment.
    pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
        Self::spawn_env(args, env).wait()
    }

    /// Runs netcap to completion.
    pub fn run(args: &[&str]) -> Output {
        Self::spawn(args).wait()
    }

    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process, whose pid is still ours to
        // use because we have not waited for it yet.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for netcap to end (killing it after the deadline, which fails the test).
    pub fn wait(mut self) -> Output {
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waitpid") {
                break s;
            }
            if t0.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "netcap did not finish in {DEADLINE:?}: {}",
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = self.stdout.join().expect("stdout reader");
        let _ = self.stderr_thread.join();
        let stderr = self.stderr.lock().expect("lock").clone();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

/// Frames of a pcap file as (original length, bytes), read with netcap's own lax
/// reader (`pcap-file` refuses records whose original length exceeds the snap length,
/// which is what a snap length makes).
pub fn read_pcap(path: &Path) -> Vec<(u32, Vec<u8>)> {
    use netcap::capture::{pcap_file::FileSource, Fill, Source};
    let mut src = FileSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    loop {
        // A fresh batch per fill: `fill` adds nothing to a batch that is already full.
        let mut batch = netcap::packet::Batch::default();
        let fill = src.fill(&mut batch, 1 << 20).expect("fill");
        frames.extend(batch.iter().map(|f| (f.meta.orig_len, f.data.to_vec())));
        if fill == Fill::End {
            return frames;
        }
    }
}

/// `n` Ethernet/IPv4/UDP frames of `size` bytes, numbered.
pub fn udp_frames(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut f = vec![0u8; size.max(42)];
            f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f[14] = 0x45;
            f[16..18].copy_from_slice(&((size.max(42) - 14) as u16).to_be_bytes());
            f[22] = 64;
            f[23] = 17;
            f[26..30].copy_from_slice(&[10, 0, 0, 1]);
            f[30..34].copy_from_slice(&[10, 0, 0, 2]);
            f[34..36].copy_from_slice(&(1000 + (i % 50) as u16).to_be_bytes());
            f[36..38].copy_from_slice(&53u16.to_be_bytes());
            f[38..40].copy_from_slice(&((size.max(42) - 34) as u16).to_be_bytes());
            f[42..]
                .iter_mut()
                .enumerate()
                .for_each(|(j, b)| *b = (i + j) as u8);
            f
        })
        .collect()
}

/// Writes an Ethernet pcap (microsecond timestamps, as the reference decoder reads).
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let f = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap_file::pcap::PcapWriter::new(f).expect("pcap writer");
    for (i, data) in frames.iter().enumerate() {
        let pkt = pcap_file::pcap::PcapPacket::new(
            Duration::from_secs(1_700_000_000 + i as u64),
            data.len() as u32,
            data,
        );
        w.write_packet(&pkt).expect("write");
    }
}

pub fn stats(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("stats JSON")
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file under `tests/golden/` (the golden outputs and their captures).
pub fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// tcpdump's test captures (`../shared/corpus/tcpdump-tests`, beside the project), or
/// `None`, said on stderr as a skip, when they are not there.
pub fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not found", dir.display());
        None
    }
}

/// The corpus's files, sorted, those ending in `.EXT` alone when `ext` is given; `None`
/// as [`corpus`].
pub fn corpus_files(ext: Option<&str>) -> Option<Vec<PathBuf>> {
    let dir = corpus()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    files.sort();
    Some(files)
}

pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let p = std::env::temp_dir().join(format!(
        "netcap-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&p).expect("temp dir");
    // Writable by anyone (sticky, as /tmp): netcap drops root after it has opened its
    // first file (to `tcpdump`, where that user exists, as Debian's tcpdump), and then
    // creates rotated files as that user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777)).expect("chmod temp dir");
    TempDir(p)
}

/// True when `ip` shows an XDP program on `ifname`.
pub fn xdp_attached(ifname: &str) -> bool {
    let out = Command::new("ip")
        .args(["-d", "link", "show", "dev", ifname])
        .output()
        .expect("ip");
    let text = String::from_utf8_lossy(&out.stdout);
    text.contains("xdp") || text.contains("prog/xdp")
}

/// Number of tcx egress programs on `ifname`.
pub fn tcx_egress_programs(ifname: &str) -> usize {
    aya::programs::SchedClassifier::query_tcx(ifname, aya::programs::tc::TcAttachType::Egress)
        .map(|(_, progs)| progs.len())
        .unwrap_or(0)
}

/// What one capture run left: its output, the frames it wrote with `-w`, and its
/// `--stats-json`.
pub struct Captured {
    pub out: Output,
    pub frames: Vec<(u32, Vec<u8>)>,
    pub stats: serde_json::Value,
}

/// Runs `netcap ARGS -w FILE --stats-json FILE` in a temporary directory: starts it,
/// calls `send`, then waits for it to end by itself (`-c`) or, with `interrupt`, stops
/// it with SIGINT once the frames have had time to arrive. Panics if netcap fails.
pub fn capture_to_files(args: &[&str], send: impl FnOnce(), interrupt: bool) -> Captured {
    let dir = tempdir();
    let (pcap, stats) = (dir.join("out.pcap"), dir.join("stats.json"));
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-w", pcap.to_str().expect("utf-8"), "--stats-json"]);
    all.push(stats.to_str().expect("utf-8"));
    let nc = Netcap::start(&all);
    send();
    if interrupt {
        std::thread::sleep(Duration::from_millis(300));
        nc.signal(libc::SIGINT);
    }
    let out = nc.wait();
    assert!(
        out.status.success(),
        "netcap {args:?} failed: {}",
        out.stderr
    );
    Captured {
        frames: read_pcap(&pcap),
        stats: self::stats(&stats),
        out,
    }
}
