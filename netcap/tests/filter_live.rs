//! The filter in the kernel: `netcap capture EXPR` on a veth must capture exactly the
//! frames that `Filter::matches` (checked against tcpdump by `filter_table.rs`) selects,
//! and count every other frame as `filtered`, on the XDP (ingress) and TC (egress) hooks.
//!
//! The frames are those of `tests/filter/mix.pcap` (VLAN, QinQ, IPv6 extension
//! headers, fragments, ARP, ...). Privileged: run by `cargo xtask test`.
mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::VethPair;
use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::filter::Filter;
use netcap::packet::{Batch, LinkType};

const DEADLINE: Duration = Duration::from_secs(20);

/// Whole frames of mix.pcap (the one cut short by its snap length cannot be sent).
fn mix_frames() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter/mix.pcap");
    let mut src = FileSource::open(&path).expect("mix.pcap opens");
    let mut batch = Batch::default();
    while src.fill(&mut batch, usize::MAX).expect("mix.pcap reads") != Fill::End {}
    batch
        .iter()
        .filter(|f| f.data.len() == f.meta.orig_len as usize)
        .map(|f| f.data.to_vec())
        .collect()
}

fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    // With nothing captured, the writer may not have written even the file header.
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Vec::new();
    }
    let mut src = FileSource::open(path).expect("output opens");
    let mut batch = Batch::default();
    while src.fill(&mut batch, usize::MAX).expect("output reads") != Fill::End {}
    batch.iter().map(|f| f.data.to_vec()).collect()
}

/// A running `netcap capture`, killed (and its hooks detached) if the test panics.
struct Capture {
    child: Child,
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts netcap and waits for its "capturing with" line; returns it and its stderr.
fn start(args: &[&str]) -> (Capture, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting netcap");
    let mut err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    let cap = Capture { child };
    let mut text = String::new();
    let t0 = Instant::now();
    while !text.contains("capturing with") {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(s) => text.push_str(&s),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("netcap ended before capturing: {text}")
            }
            Err(_) => assert!(t0.elapsed() < DEADLINE, "netcap did not start: {text}"),
        }
    }
    (cap, rx)
}

/// Sends SIGINT and waits for the exit; returns the rest of stderr.
fn stop(mut cap: Capture, rx: std::sync::mpsc::Receiver<String>) -> String {
    // SAFETY: signalling our own child, not yet waited for, so its pid is still ours.
    unsafe { libc::kill(cap.child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    loop {
        if let Some(status) = cap.child.try_wait().expect("waitpid") {
            let rest: String = rx.try_iter().collect();
            assert!(status.success(), "netcap failed ({status}): {rest}");
            return rest;
        }
        assert!(t0.elapsed() < DEADLINE, "netcap did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Outcome {
    stats: serde_json::Value,
    written: Vec<Vec<u8>>,
}

/// Captures on the veth with `expr` while `send` puts `frames` on it.
fn capture_with_filter(
    pair: &VethPair,
    direction: &str,
    expr: &str,
    send: impl FnOnce(),
) -> Outcome {
    capture_with(pair, &["--backend", "xdp"], direction, expr, send)
}

/// As [`capture_with_filter`], with `backend` (`--backend ...` and other options).
fn capture_with(
    pair: &VethPair,
    backend: &[&str],
    direction: &str,
    expr: &str,
    send: impl FnOnce(),
) -> Outcome {
    let dir = std::env::temp_dir().join(format!("netcap-filter-live-{}", pair.host_if));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (out, stats): (PathBuf, PathBuf) = (dir.join("out.pcap"), dir.join("stats.json"));
    let mut args = vec!["capture", "-i", &pair.host_if];
    args.extend(backend);
    args.extend(["--direction", direction]);
    args.extend(["-F", "none", "-w"]);
    let (out_s, stats_s) = (out.display().to_string(), stats.display().to_string());
    args.extend([out_s.as_str(), "--stats-json", stats_s.as_str()]);
    args.extend(expr.split(' '));
    let (cap, rx) = start(&args);
    send();
    std::thread::sleep(Duration::from_millis(500));
    let stderr = stop(cap, rx);
    let text = std::fs::read_to_string(&stats).unwrap_or_else(|e| panic!("{stderr}: {e}"));
    let outcome = Outcome {
        stats: serde_json::from_str(&text).expect("stats are JSON"),
        written: frames_of(&out),
    };
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn check(expr: &str, frames: &[Vec<u8>], got: &Outcome) {
    let filter = Filter::compile(expr, LinkType::Ethernet, 65535).expect("compiles");
    let want: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| filter.matches(f, f.len() as u32))
        .cloned()
        .collect();
    assert!(
        !want.is_empty() && want.len() < frames.len(),
        "{expr}: a useless test"
    );
    let s = &got.stats;
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(n("seen"), frames.len() as u64, "{expr}: {s}");
    assert_eq!(
        n("filtered"),
        (frames.len() - want.len()) as u64,
        "{expr}: {s}"
    );
    assert_eq!(n("captured"), want.len() as u64, "{expr}: {s}");
    assert_eq!(n("filter_errors"), 0, "{expr}: {s}");
    assert_eq!(got.written, want, "{expr}: captured frames differ");
}

#[test]
fn xdp_filter_captures_exactly_the_matching_frames() {
    common::needs_privileges!();
    let frames = mix_frames();
    let pair = VethPair::new();
    for expr in [
        "udp port 53 or (vlan and tcp) or arp",
        "tcp[tcpflags] & tcp-syn != 0 and not src host 10.0.0.5",
        // A loop in the program (backward jump): IPv6 extension headers walked.
        "ip6 protochain 17",
        "greater 100 and (ip[6:2] & 0x3fff != 0 or ip6)",
    ] {
        let got = capture_with_filter(&pair, "in", expr, || {
            common::send_frames(&pair.ns, &pair.ns_if, &frames)
        });
        check(expr, &frames, &got);
    }
}

#[test]
fn tc_egress_filter_captures_exactly_the_matching_frames() {
    common::needs_privileges!();
    let frames = mix_frames();
    let pair = VethPair::new();
    let expr = "ip and (udp or icmp)";
    let got = capture_with_filter(&pair, "out", expr, || {
        common::send_frames_from_host(&pair.host_if, &frames)
    });
    check(expr, &frames, &got);
}

/// Every hook (XDP ingress, tcx ingress, tcx egress) with the filter native and
/// interpreted: each frame sent counted once (`seen`, derived from the counters a frame
/// ends in, equals the frames sent) and captured or filtered as `Filter::matches` says.
#[test]
fn every_hook_and_filter_kind_counts_each_frame_once() {
    common::needs_privileges!();
    let frames = mix_frames();
    let pair = VethPair::new();
    let expr = "udp port 53 or (vlan and tcp) or arp";
    for (backend, direction) in [("xdp", "in"), ("tc", "in"), ("tc", "out")] {
        for kernel_filter in ["native", "interp"] {
            let opts = ["--backend", backend, "--kernel-filter", kernel_filter];
            let got = capture_with(&pair, &opts, direction, expr, || {
                if direction == "in" {
                    common::send_frames(&pair.ns, &pair.ns_if, &frames)
                } else {
                    common::send_frames_from_host(&pair.host_if, &frames)
                }
            });
            check(expr, &frames, &got);
        }
    }
}

#[test]
fn a_bad_expression_fails_before_anything_is_attached() {
    common::needs_privileges!();
    let pair = VethPair::new();
    let out = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(["capture", "-i", &pair.host_if, "tcp", "port"])
        .output()
        .expect("netcap runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(!stderr.contains("capturing with"), "{stderr}");
}

/// The eBPF object `cargo xtask test` built (it sets `NETCAP_EBPF_OBJ`).
fn ebpf_object() -> PathBuf {
    std::env::var_os("NETCAP_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/ebpf/bpfel-unknown-none/release/netcap")
        })
}

/// Loads the XDP program with `prog` in `FILTER`, runs every frame through it with
/// `BPF_PROG_TEST_RUN` and returns the counters (seen, filtered, captured, errors).
fn test_run(prog: &[netcap_common::CbpfInsn], frames: &[Vec<u8>]) -> [u64; 4] {
    use aya::maps::{Array, PerCpuArray};
    use aya::programs::{TestRun, TestRunOptions, Xdp};
    use netcap_common::Counter;
    let len = prog.len() as u32;
    let (snaplen, wakeup) = (netcap_common::MAX_SNAPLEN, 1u64 << 17);
    let plan = netcap::capture::rings::Plan::new(1 << 20, snaplen).expect("a ring plan");
    let object = std::fs::read(ebpf_object()).expect("reading the eBPF object");
    let mut ebpf = plan
        .load(
            &object,
            aya::EbpfLoader::new()
                .override_global("WAKEUP_BYTES", &wakeup, true)
                .override_global("FILTER_LEN", &len, true),
        )
        .expect("loading the eBPF object");
    // The per-CPU rings (the kernel keeps the wake-up rings while RINGS holds them).
    let _rings = plan.create(&mut ebpf).expect("creating the rings");
    let mut filter: Array<_, netcap_common::CbpfInsn> =
        Array::try_from(ebpf.map_mut("FILTER").expect("FILTER")).expect("an array");
    for (i, insn) in prog.iter().enumerate() {
        filter.set(i as u32, *insn, 0).expect("FILTER slot");
    }
    let xdp: &mut Xdp = ebpf
        .program_mut("netcap_xdp")
        .expect("netcap_xdp")
        .try_into()
        .expect("XDP");
    xdp.load().expect("the verifier accepts netcap_xdp");
    for f in frames {
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(f);
        opts.repeat = 1;
        let ret = xdp.test_run(opts).expect("test run").return_value;
        assert_eq!(ret, 2, "always XDP_PASS");
    }
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map("COUNTERS").expect("COUNTERS")).expect("per-CPU");
    let n = |c: Counter| {
        counters
            .get(&(c as u32), 0)
            .expect("counter")
            .iter()
            .sum::<u64>()
    };
    [
        netcap_common::seen(n),
        n(Counter::Filtered),
        n(Counter::Captured),
        n(Counter::FilterError),
    ]
}

#[test]
fn test_run_filters_like_user_space_and_fails_open() {
    common::needs_privileges!();
    use netcap_common::CbpfInsn;
    let frames = mix_frames();
    let total = frames.len() as u64;
    for expr in [
        "udp port 53 or arp",
        "ip6 protochain 6",
        "vlan and vlan 400",
        "less 60",
    ] {
        let f = Filter::compile(expr, LinkType::Ethernet, 65535).expect("compiles");
        let want = frames
            .iter()
            .filter(|x| f.matches(x, x.len() as u32))
            .count() as u64;
        let got = test_run(f.insns(), &frames);
        assert_eq!(
            got,
            [total, total - want, want, 0],
            "{expr}: [seen, filtered, captured, errors]"
        );
    }
    // An unknown opcode, then a loop that never ends: every frame captured, and counted.
    let bad = [
        CbpfInsn {
            code: 0xff,
            jt: 0,
            jf: 0,
            k: 0,
        },
        CbpfInsn {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    assert_eq!(test_run(&bad, &frames), [total, 0, total, total]);
    let forever = [CbpfInsn {
        code: 0x05,
        jt: 0,
        jf: 0,
        k: u32::MAX,
    }];
    assert_eq!(test_run(&forever, &frames), [total, 0, total, total]);
}
