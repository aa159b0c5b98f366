//! Privileged tests (`cargo xtask test`) of `-Z USER`: while capturing, netcap runs as
//! USER with no effective capability; SIGINT still detaches every hook; rotated files
//! are still created (as USER), the first one handed to USER, and every frame is in
//! them. `-Z root` stays root.
mod common;
mod netcap_proc;

use std::os::unix::fs::MetadataExt;

use common::VethPair;
use netcap_proc::Netcap;

/// `(uids, CapEff)` of process `pid` from /proc/PID/status.
fn ids_and_caps(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {status}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (field("Uid:"), field("CapEff:"))
}

#[test]
fn z_nobody_runs_without_capabilities_detaches_on_sigint_and_rotates() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let iface = veth.host_if.as_str();
    let dir = netcap_proc::tempdir();
    let (pcap, stats) = (dir.join("r.pcap"), dir.join("stats.json"));
    let nc = Netcap::start(&[
        "capture",
        "--backend",
        "xdp",
        "-Z",
        "nobody",
        "-i",
        iface,
        "-F",
        "none",
        "-w",
        pcap.to_str().expect("utf-8"),
        "-C",
        "1k",
        "--stats-json",
        stats.to_str().expect("utf-8"),
    ]);
    let (uids, cap_eff) = ids_and_caps(nc.pid());
    assert_eq!(uids, "65534 65534 65534 65534", "uid while capturing");
    assert_eq!(
        cap_eff, "0000000000000000",
        "effective capabilities while capturing"
    );
    assert!(
        netcap_proc::xdp_attached(iface),
        "XDP attached while capturing"
    );
    assert_eq!(netcap_proc::tcx_egress_programs(iface), 1);
    // 40 frames of 100 bytes: about 9 per 1 KiB file.
    common::send_frames(&veth.ns, &veth.ns_if, &netcap_proc::udp_frames(40, 100));
    std::thread::sleep(std::time::Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!netcap_proc::xdp_attached(iface), "XDP left attached");
    assert_eq!(
        netcap_proc::tcx_egress_programs(iface),
        0,
        "tcx left attached"
    );
    // r.pcap, r.pcap1, ...: every one owned by nobody, all frames in them.
    let mut files: Vec<_> = std::fs::read_dir(&*dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("r.pcap"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "rotated files: {files:?}");
    let mut frames = 0;
    for f in &files {
        assert_eq!(
            std::fs::metadata(f).expect("stat").uid(),
            65534,
            "{}",
            f.display()
        );
        frames += netcap_proc::read_pcap(f).len();
    }
    assert_eq!(frames, 40, "{}", out.stderr);
    assert_eq!(netcap_proc::stats(&stats)["captured"], 40);
}

#[test]
fn z_root_stays_root() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let nc = Netcap::start(&["capture", "-Z", "root", "-i", &veth.host_if, "-F", "none"]);
    let (uids, cap_eff) = ids_and_caps(nc.pid());
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(uids, "0 0 0 0");
    assert_ne!(cap_eff, "0000000000000000");
    let missing = Netcap::run(&["capture", "-Z", "netcap-no-such-user", "-i", &veth.host_if]);
    assert_eq!(missing.status.code(), Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no such user"),
        "{}",
        missing.stderr
    );
}
