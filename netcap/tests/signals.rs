//! Privileged tests of the signals a capture answers, as tcpdump does (`cargo xtask
//! test`): SIGHUP ends it like SIGINT, with the summary and a complete file; SIGUSR1
//! prints the counts so far and goes on; SIGUSR2 flushes `-w` while it goes on.
mod common;
mod netcap_proc;

use std::{net::Ipv4Addr, time::Duration};

use common::VethPair;
use netcap_proc::Netcap;

fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            common::eth_ipv4_udp(
                common::test_mac(2),
                common::test_mac(1),
                Ipv4Addr::new(10, 252, 0, 2),
                Ipv4Addr::new(10, 252, 0, 1),
                1000 + i as u16,
                9,
                &[i as u8; 40],
            )
        })
        .collect()
}

#[test]
fn sighup_ends_the_capture_with_every_frame_written_and_the_summary() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    for extra in [&[][..], &["-F", "json"][..]] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let file = dir.join("hup.pcap");
        let mut args = vec![
            "capture",
            "-i",
            &veth.host_if,
            "-w",
            file.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let nc = Netcap::start(&args);
        common::send_frames(&veth.ns, &veth.ns_if, &frames(100));
        std::thread::sleep(Duration::from_millis(300));
        nc.signal(libc::SIGHUP);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("100 captured"),
            "{extra:?}: {}",
            out.stderr
        );
        assert_eq!(netcap_proc::read_pcap(&file).len(), 100, "{extra:?}");
    }
}

#[test]
fn sigusr1_prints_the_counts_and_sigusr2_flushes_the_file_while_capturing() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    // The direct path (-w alone) and the decoding pipeline (-w with text).
    for extra in [&[][..], &["-F", "line"][..]] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let file = dir.join("usr.pcap");
        let mut args = vec![
            "capture",
            "-i",
            &veth.host_if,
            "-w",
            file.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let nc = Netcap::start(&args);
        common::send_frames(&veth.ns, &veth.ns_if, &frames(30));
        std::thread::sleep(Duration::from_millis(400));
        // 30 small frames sit in netcap's 1 MiB file buffer until something flushes it.
        let unflushed = std::fs::metadata(&file).map_or(0, |m| m.len());
        assert!(
            unflushed < 30 * 16,
            "{extra:?}: {unflushed} bytes reached the file before any flush"
        );
        nc.signal(libc::SIGUSR2);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            netcap_proc::read_pcap(&file).len(),
            30,
            "{extra:?}: frames in the file after SIGUSR2"
        );
        nc.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(300));
        let so_far = nc.stderr_so_far();
        let line = so_far.lines().find(|l| l.contains("so far")).unwrap_or("");
        assert!(line.contains("30 frames"), "{extra:?}: {so_far}");
        common::send_frames(&veth.ns, &veth.ns_if, &frames(5));
        std::thread::sleep(Duration::from_millis(300));
        nc.signal(libc::SIGINT);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("35 captured"),
            "{extra:?}: {}",
            out.stderr
        );
        assert_eq!(netcap_proc::read_pcap(&file).len(), 35, "{extra:?}");
    }
}
