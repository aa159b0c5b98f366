//! Helpers of the `-w` rotation tests (`rotate.rs`, `rotate_clock.rs`): distinct
//! frames to rotate, the files a run left, and the frame count tcpdump and tshark
//! agree a file holds.
#![allow(
    dead_code,
    reason = "each test crate uses a different subset; `expect` would fail in the crates using all"
)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// `n` Ethernet/IPv4/UDP frames of 1,000 bytes, each different.
pub fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let dst = std::net::Ipv4Addr::new(198, 51, 100, 2);
            let src = std::net::Ipv4Addr::new(198, 51, 100, 1);
            let payload = vec![(i % 251) as u8; 958];
            crate::common::eth_ipv4_udp(
                crate::common::test_mac(1),
                crate::common::test_mac(2),
                src,
                dst,
                1024 + i as u16,
                9,
                &payload,
            )
        })
        .collect()
}

/// The files in `dir` whose names start with `prefix`, sorted by name.
pub fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// Frames tcpdump and tshark read from `file`; both must accept it whole.
pub fn oracle_count(file: &Path) -> usize {
    let tcpdump = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(file)
        .output()
        .expect("tcpdump (installed by .ci/run)");
    assert!(
        tcpdump.status.success(),
        "tcpdump -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&tcpdump.stderr)
    );
    let tshark = Command::new("tshark")
        .args(["-n", "-T", "fields", "-e", "frame.number", "-r"])
        .arg(file)
        .output()
        .expect("tshark (installed by .ci/run)");
    assert!(
        tshark.status.success(),
        "tshark -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&tshark.stderr)
    );
    let n = String::from_utf8_lossy(&tcpdump.stdout).lines().count();
    let m = String::from_utf8_lossy(&tshark.stdout).lines().count();
    assert_eq!(n, m, "{}: tcpdump and tshark disagree", file.display());
    n
}
