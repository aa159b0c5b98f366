//! Privileged tests of promiscuous mode (`cargo xtask test`): as tcpdump, every backend
//! puts the interface in promiscuous mode while it captures (`-p` not to), and the
//! kernel undoes it on any exit, `kill -9` included.
mod common;
mod netcap_proc;

use common::VethPair;
use netcap_proc::Netcap;

/// The interface's promiscuity count, from `ip -d -j link show`.
fn promiscuity(ifname: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", ifname])
        .output()
        .expect("running ip");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip's JSON");
    json[0]["promiscuity"]
        .as_u64()
        .unwrap_or_else(|| panic!("no promiscuity in {json}"))
}

#[test]
fn every_backend_is_promiscuous_unless_p_and_the_kernel_undoes_it_on_any_exit() {
    common::needs_privileges!();
    let veth = VethPair::new();
    assert_eq!(promiscuity(&veth.host_if), 0);
    for backend in ["afpacket", "xdp", "tc"] {
        for (signal, extra, want) in [
            (libc::SIGINT, None, 1),
            (libc::SIGKILL, None, 1),
            (libc::SIGINT, Some("-p"), 0),
        ] {
            let mut args = vec!["capture", "--backend", backend, "-i", &veth.host_if];
            args.extend(["-F", "none"]);
            args.extend(extra);
            let nc = Netcap::start(&args);
            assert_eq!(
                promiscuity(&veth.host_if),
                want,
                "{backend} {extra:?} while capturing"
            );
            nc.signal(signal);
            let _ = nc.wait();
            // Sockets close as the process dies; give the kernel a moment after kill -9.
            let t0 = std::time::Instant::now();
            while promiscuity(&veth.host_if) != 0
                && t0.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert_eq!(
                promiscuity(&veth.host_if),
                0,
                "{backend} {extra:?} after signal {signal}"
            );
        }
    }
}
