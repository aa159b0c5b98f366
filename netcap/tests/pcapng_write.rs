//! The pcapng file `-w --pcapng` writes says what dumpcap's say, checked with tshark
//! and capinfos (privileged, `cargo xtask test`): the OS, the application and the
//! machine; the interface's name, the filter and the snap length; and each frame's
//! direction, on both backends.
mod common;
mod netcap_proc;

use std::{net::Ipv4Addr, process::Command, time::Duration};

use common::VethPair;
use netcap_proc::Netcap;

fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            common::eth_ipv4_udp(
                common::test_mac(1),
                common::test_mac(2),
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(198, 51, 100, 2),
                2000 + i as u16,
                9,
                b"meta",
            )
        })
        .collect()
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (installed by .ci/run): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pcapng_names_the_interface_the_filter_and_each_frames_direction() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    for backend in ["afpacket", "xdp"] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let file = dir.join("meta.pcapng");
        let path = file.to_str().expect("utf-8");
        let nc = Netcap::start(&[
            "capture",
            "-i",
            &veth.host_if,
            "--backend",
            backend,
            "--pcapng",
            "-w",
            path,
            "udp and port 9",
        ]);
        // Three received on the host's end, two sent from it.
        common::send_frames(&veth.ns, &veth.ns_if, &frames(3));
        common::send_frames_from_host(&veth.host_if, &frames(2));
        std::thread::sleep(Duration::from_millis(300));
        nc.signal(libc::SIGINT);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", out.stderr);
        let fields = run(
            "tshark",
            &[
                "-r",
                path,
                "-T",
                "fields",
                "-e",
                "frame.interface_name",
                "-e",
                "frame.packet_flags_direction",
            ],
        );
        let mut rows: Vec<&str> = fields.lines().collect();
        rows.sort();
        let inbound = format!("{}\t0x00000001", veth.host_if);
        let outbound = format!("{}\t0x00000002", veth.host_if);
        assert_eq!(
            rows,
            [&inbound, &inbound, &inbound, &outbound, &outbound],
            "{backend}"
        );
        let info = run("capinfos", &[path]);
        for want in [
            "Capture application: netcap".to_owned(),
            "Capture oper-sys:    Linux".to_owned(),
            format!("Name = {}", veth.host_if),
            "Capture length = 262144".to_owned(),
            "Filter string = udp and port 9".to_owned(),
        ] {
            assert!(info.contains(&want), "{backend}: no {want:?} in\n{info}");
        }
    }
}
