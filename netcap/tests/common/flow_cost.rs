//! What the kernel-flow cost benches share (`kernel_flows_cost.rs`,
//! `kernel_flows_floors.rs`): the crafted frames and trafgen's flows, the plain floor
//! program, one `BPF_PROG_TEST_RUN` per frame, a trafgen blast on a veth and the
//! bpf_stats arithmetic.
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use netcap::capture::bpf_sys::{prog_load, test_run, ProgKind};

use super::VethPair;

/// Frames per trafgen blast.
pub const BLAST: u64 = 500_000;

/// A 64-byte Ethernet + IPv4 + UDP frame; flow `i` has its own port pair.
pub fn udp_frame(i: u32) -> Vec<u8> {
    let (sport, dport) = (1024 + (i % 50_000) as u16, 9 + (i / 50_000) as u16);
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[10, 250, 0, 2, 10, 250, 0, 1]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&30u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(64, 0x41);
    f
}

/// Mean ns per run over one `BPF_PROG_TEST_RUN` call per frame; every run must pass
/// the frame (`XDP_PASS`).
pub fn cycle(prog: BorrowedFd<'_>, frames: &[Vec<u8>]) -> f64 {
    let total: u64 = frames
        .iter()
        .map(|f| {
            let r = test_run(prog, f, 1).expect("test run");
            assert_eq!(r.retval, 2, "XDP_PASS");
            u64::from(r.duration_ns)
        })
        .sum();
    total as f64 / frames.len() as f64
}

/// Mean ns per run of `frame` run `repeat` times by the kernel in one call.
pub fn repeated(prog: BorrowedFd<'_>, frame: &[u8], repeat: u32) -> f64 {
    let r = test_run(prog, frame, repeat).expect("repeated run");
    assert_eq!(r.retval, 2, "XDP_PASS");
    f64::from(r.duration_ns)
}

/// The floor: an XDP program that reads one packet byte (bounds-checked) and passes.
pub fn floor() -> OwnedFd {
    use netcap::filter::ebpf::insn::{
        alu64_imm, exit, ldx, mov64_imm, mov64_reg, Insn, ADD, B, JGT, JMP, R0, R1, R2, R3, W, X,
    };
    let floor_prog = [
        ldx(W, R2, R1, 0),
        ldx(W, R3, R1, 4),
        mov64_imm(R0, 2),
        mov64_reg(R1, R2),
        alu64_imm(ADD, R1, 1),
        Insn::new(JMP | JGT | X, R1, R3, 1, 0),
        ldx(B, R1, R2, 0),
        exit(),
    ];
    prog_load(ProgKind::Xdp, &floor_prog, "netcap_floor").expect("floor loads")
}

/// trafgen's configuration: 64-byte UDP/IPv4 frames over `flows` flows (the capture
/// bench's 100,000: source port through 50,000 values, destination port through 32 at
/// once; or destination port through `flows` values alone).
pub fn trafgen_config(flows: u32) -> String {
    let udp = if flows > 40 {
        "udp(sport=dinc(1024, 51023), dport=dinc(9, 40))".to_owned()
    } else {
        format!("udp(sport=1024, dport=dinc(9, {}))", 8 + flows)
    };
    format!(
        "{{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), \
         ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), {udp}, fill(0x41, 22) }}\n"
    )
}

/// [`BLAST`] frames from trafgen on one core, from the namespace's end of `veth`.
pub fn blast(veth: &VethPair, cfg: &Path) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &veth.ns,
            "trafgen",
            "-o",
            &veth.ns_if,
            "-i",
        ])
        .arg(cfg)
        .args([
            "-n",
            &BLAST.to_string(),
            "--no-sock-mem",
            "--cpus",
            "1",
            "-q",
        ])
        .output()
        .expect("trafgen runs");
    assert!(out.status.success(), "trafgen: {out:?}");
}

/// ns per run between two (run_time_ns, run_cnt) readings.
pub fn per_run(before: (u64, u64), after: (u64, u64)) -> f64 {
    (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64
}

/// ns per run of `prog` (attached already) over one blast; `None` unless the kernel
/// counted exactly one run per frame sent. Statistics must be on ([`stats_on`]).
pub fn blast_ns(prog: BorrowedFd<'_>, veth: &VethPair, cfg: &Path) -> Option<f64> {
    let stats = |p| {
        let (_, t, n) = netcap::capture::bpf_sys::prog_stats(p).expect("stats");
        (t, n)
    };
    let before = stats(prog);
    blast(veth, cfg);
    let after = stats(prog);
    (after.1 - before.1 == BLAST).then(|| per_run(before, after))
}

/// Programs' run-time statistics on while the descriptor lives (`BPF_ENABLE_STATS`:
/// independent of `kernel.bpf_stats_enabled`, which other processes on a shared
/// machine switch on and off, and which this leaves as it is).
pub fn stats_on() -> OwnedFd {
    netcap::capture::bpf_sys::enable_stats().expect("BPF_ENABLE_STATS")
}
