//! Privileged tests of the tcx backend (`--backend tc`, and `--backend auto` where tcx
//! is there): it records what tcpdump records, byte for byte, VLAN tags included (the
//! kernel takes the tag out of a received frame before tc; netcap puts it back as
//! libpcap does), and it sees frames that another tcx program drops (netcap attaches
//! first). Run by `cargo xtask test`.
mod common;
mod netcap_proc;

use std::{
    io::Read,
    os::fd::AsFd,
    path::Path,
    process::{Child, ChildStderr, Command, Stdio},
    time::{Duration, Instant},
};

use common::{numbered_frames, vlan_tagged, VethPair};
use netcap::{
    capture::bpf_sys::{prog_load, tcx_ingress_link, ProgKind},
    filter::ebpf::insn::{exit, mov64_imm, Insn, R0},
};
use netcap_proc::{read_pcap, Netcap};

/// tcpdump writing every frame of `ifname` to `file`, once it says it listens; with the
/// read end of its stderr, kept open until it has ended.
fn tcpdump(ifname: &str, file: &Path) -> (Child, ChildStderr) {
    let mut td = Command::new("tcpdump")
        .args(["-i", ifname, "-B", "16384", "-Z", "root", "-U", "-w"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tcpdump");
    let mut err = td.stderr.take().expect("piped");
    let mut seen = String::new();
    let t0 = Instant::now();
    while !seen.contains("listening on") && t0.elapsed() < Duration::from_secs(10) {
        let mut b = [0u8; 256];
        match err.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&b[..n])),
        }
    }
    assert!(seen.contains("listening on"), "tcpdump: {seen}");
    (td, err)
}

/// Stops tcpdump; returns what it said on stderr after it started.
fn stop((mut td, mut err): (Child, ChildStderr)) -> String {
    // SAFETY: signalling our own child, not yet waited for.
    unsafe { libc::kill(td.id() as i32, libc::SIGINT) };
    let status = td.wait().expect("tcpdump");
    let mut said = String::new();
    let _ = err.read_to_string(&mut said);
    assert!(status.success(), "tcpdump failed: {said}");
    said
}

/// Tagged (802.1Q and 802.1ad) and untagged frames, different lengths.
fn mixed_frames() -> Vec<Vec<u8>> {
    let plain = numbered_frames(6, 90);
    let mut qinq = vlan_tagged(&plain[4], 9);
    qinq[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
    vec![
        vlan_tagged(&plain[0], 5),
        plain[1].clone(),
        vlan_tagged(&plain[2], 4094),
        plain[3].clone(),
        qinq,
        plain[5][..60].to_vec(),
    ]
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
fn tc_records_vlan_tagged_frames_byte_for_byte_as_tcpdump_does() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let (ours, theirs) = (dir.join("netcap.pcap"), dir.join("tcpdump.pcap"));
    let frames = mixed_frames();
    let td = tcpdump(&veth.host_if, &theirs);
    let nc = Netcap::start(&veth.capture("tc", &["-w", ours.to_str().expect("utf-8")]));
    assert!(
        nc.stderr_so_far().contains("TC ingress (tcx, first)"),
        "{}",
        nc.stderr_so_far()
    );
    // Received (the kernel untags them before tc) and sent (tags in the frame).
    common::send_frames(&veth.ns, &veth.ns_if, &frames);
    common::send_frames_from_host(&veth.host_if, &frames);
    // libpcap hands frames over when a ring block is full or its timeout (1 s without
    // a terminal) has passed, and tcpdump drops what an open block holds at SIGINT:
    // wait until its file holds every frame (pcap header, then 16 bytes and the frame
    // each), or 10 s.
    let whole = 24 + frames.iter().map(|f| 16 + f.len() as u64).sum::<u64>() * 2;
    let t0 = Instant::now();
    while std::fs::metadata(&theirs).map_or(0, |m| m.len()) < whole
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    let said = stop(td);

    let ours: Vec<(u32, Vec<u8>)> = read_pcap(&ours);
    let theirs: Vec<Vec<u8>> = read_pcap(&theirs).into_iter().map(|f| f.1).collect();
    for (len, data) in &ours {
        assert_eq!(*len as usize, data.len(), "a frame was cut");
    }
    let ours: Vec<Vec<u8>> = ours.into_iter().map(|f| f.1).collect();
    // Each frame once per direction, as sent, and as tcpdump recorded it (the order
    // across the two hooks may differ: compare as multisets).
    let sent = sorted(frames.iter().chain(&frames).cloned().collect());
    assert_eq!(
        sorted(theirs),
        sent,
        "tcpdump's frames vs the frames sent: {said}"
    );
    assert_eq!(sorted(ours), sent, "netcap's frames vs tcpdump's");
}

#[test]
fn tc_filters_see_the_tag_the_kernel_took_out() {
    common::needs_privileges!();
    let frames = mixed_frames();
    // As `tcpdump -r` selects on these frames: `udp` does not look inside a tag.
    for (expr, want) in [
        ("vlan 5 and udp", vec![0]),
        ("udp", vec![1, 3, 5]),
        ("vlan", vec![0, 2, 4]),
    ] {
        let veth = VethPair::new();
        let run = netcap_proc::capture_to_files(
            &veth.capture("tc", &["--direction", "in", expr]),
            || common::send_frames(&veth.ns, &veth.ns_if, &frames),
            true,
        );
        let got: Vec<Vec<u8>> = run.frames.into_iter().map(|f| f.1).collect();
        let expected: Vec<Vec<u8>> = want.iter().map(|&i| frames[i].clone()).collect();
        assert_eq!(got, expected, "`{expr}`");
        let s = run.stats;
        assert_eq!(s["seen"].as_u64(), Some(frames.len() as u64), "{s}");
        assert_eq!(s["captured"].as_u64(), Some(want.len() as u64), "{s}");
    }
}

#[test]
fn tc_sees_frames_that_another_tcx_program_drops() {
    common::needs_privileges!();
    let veth = VethPair::new();
    // Another program already at tcx ingress that drops every frame (TCX_DROP).
    let drop_all: [Insn; 2] = [mov64_imm(R0, 2), exit()];
    let prog = prog_load(ProgKind::Tc, &drop_all, "test_drop").expect("loading the dropper");
    let _link = tcx_ingress_link(prog.as_fd(), veth.host_ifindex).expect("attaching the dropper");
    let frames = numbered_frames(20, 100);
    let run = netcap_proc::capture_to_files(
        &["capture", "-i", &veth.host_if, "--backend", "tc"],
        || common::send_frames(&veth.ns, &veth.ns_if, &frames),
        true,
    );
    let got: Vec<Vec<u8>> = run.frames.into_iter().map(|f| f.1).collect();
    assert_eq!(
        got, frames,
        "netcap runs first and sees what the dropper drops"
    );
}

#[test]
fn tc_gives_the_golden_output_for_the_golden_frames() {
    common::needs_privileges!();
    let frames = common::golden_frames();
    let count = frames.len().to_string();
    let expected =
        std::fs::read(common::capture_fixture("golden_frames.turtle")).expect("golden file");
    let veth = VethPair::new();
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "--direction",
        "in",
        "--backend",
        "tc",
        "-c",
        &count,
        "-F",
        "turtle",
    ]);
    common::send_frames(&veth.ns, &veth.ns_if, &frames);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn tc_direction_keeps_only_the_frames_asked_for() {
    common::needs_privileges!();
    let received = numbered_frames(5, 100);
    let sent = numbered_frames(7, 140);
    for (direction, want, hooks) in [("in", &received, "TC ingress"), ("out", &sent, "TC egress")] {
        let veth = VethPair::new();
        let run = netcap_proc::capture_to_files(
            &veth.capture("tc", &["--direction", direction]),
            || {
                common::send_frames(&veth.ns, &veth.ns_if, &received);
                common::send_frames_from_host(&veth.host_if, &sent);
            },
            true,
        );
        let got: Vec<Vec<u8>> = run.frames.into_iter().map(|f| f.1).collect();
        assert_eq!(&got, want, "--direction {direction}");
        // Only the hook of that direction is attached.
        assert!(run.out.stderr.contains(hooks), "{}", run.out.stderr);
        assert_eq!(
            run.out.stderr.matches("(tcx, first)").count(),
            1,
            "{}",
            run.out.stderr
        );
    }
}

/// Programs at tcx ingress and egress of `ifname`.
fn tcx_programs(ifname: &str) -> (usize, usize) {
    use aya::programs::{tc::TcAttachType, SchedClassifier};
    let count = |at| SchedClassifier::query_tcx(ifname, at).map_or(0, |(_, p)| p.len());
    (count(TcAttachType::Ingress), count(TcAttachType::Egress))
}

#[test]
fn tc_leaves_nothing_attached_after_any_signal() {
    common::needs_privileges!();
    let veth = VethPair::new();
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGKILL] {
        let nc = Netcap::start(&veth.capture("tc", &["-F", "none"]));
        assert_eq!(
            tcx_programs(&veth.host_if),
            (1, 1),
            "attached while running"
        );
        nc.signal(signal);
        let out = nc.wait();
        assert_eq!(
            out.status.success(),
            signal != libc::SIGKILL,
            "signal {signal}: {}",
            out.stderr
        );
        assert_eq!(
            tcx_programs(&veth.host_if),
            (0, 0),
            "detached after signal {signal}"
        );
    }
}
