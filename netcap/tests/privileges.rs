//! Privileged tests (`cargo xtask test`) of what each backend needs: netcap run by
//! `setpriv` (util-linux) as root with a bounding set of exactly some capabilities
//! (so its effective set is that, and nothing else) says plainly which ones are
//! missing, and captures with the full set the README lists.
mod common;
mod netcap_proc;

use common::VethPair;
use netcap_proc::Netcap;

/// `setpriv` keeping only `caps` (e.g. `+bpf,+net_admin`; empty for none).
fn only(caps: &str) -> Vec<String> {
    let bounding = if caps.is_empty() {
        "-all".to_owned()
    } else {
        format!("-all,{caps}")
    };
    vec![
        "setpriv".into(),
        "--inh-caps=-all".into(),
        format!("--bounding-set={bounding}"),
    ]
}

#[test]
fn each_missing_capability_is_named_and_the_full_sets_capture() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let iface = veth.host_if.as_str();
    // (backend, extra flags, capabilities, what the message must name as lacking)
    let refused = [
        ("xdp", "", "+bpf,+net_admin", "lacks CAP_PERFMON"),
        ("xdp", "", "+bpf,+perfmon", "lacks CAP_NET_ADMIN"),
        (
            "xdp",
            "",
            "+net_raw",
            "lacks CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (--backend afpacket needs only \
             CAP_NET_RAW, which this process has)",
        ),
        (
            "xdp",
            "",
            "+bpf,+perfmon,+net_admin",
            "needs CAP_NET_RAW (or root); this process lacks CAP_NET_RAW (-p captures",
        ),
        (
            "afpacket",
            "",
            "",
            "needs CAP_NET_RAW (or root); this process lacks CAP_NET_RAW",
        ),
        ("afpacket", "", "+bpf,+net_admin", "lacks CAP_NET_RAW"),
        // The default takes tcx only where it can; else AF_PACKET says what it lacks.
        (
            "auto",
            "",
            "",
            "needs CAP_NET_RAW (or root); this process lacks CAP_NET_RAW",
        ),
        ("auto", "", "+bpf,+perfmon,+net_admin", "lacks CAP_NET_RAW"),
    ];
    for (backend, extra, caps, want) in refused {
        let wrapper = only(caps);
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        let mut args = vec!["capture", "--backend", backend, "-i", iface, "-F", "none"];
        args.extend(extra.split_whitespace());
        let out = Netcap::run_under(&wrapper, &args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{backend} {caps}: {}",
            out.stderr
        );
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one line for {backend} {caps}: {}",
            out.stderr
        );
        assert!(
            lines[0].contains(want),
            "{backend} with {caps:?}: wanted {want:?} in {}",
            out.stderr
        );
    }
    // The full sets the README gives: each captures the frames sent, on the hook named.
    let full = [
        ("afpacket", "", "+net_raw", "AF_PACKET"),
        ("xdp", "", "+bpf,+perfmon,+net_admin,+net_raw", "XDP"),
        ("xdp", "-p", "+bpf,+perfmon,+net_admin", "XDP"),
        // The default: AF_PACKET with CAP_NET_RAW alone, without a word about tcx;
        // tcx with the BPF capabilities.
        ("auto", "", "+net_raw", "capturing with AF_PACKET"),
        (
            "auto",
            "",
            "+bpf,+perfmon,+net_admin,+net_raw",
            "capturing with TC ingress",
        ),
        (
            "auto",
            "-p",
            "+bpf,+perfmon,+net_admin",
            "capturing with TC ingress",
        ),
    ];
    let frames = netcap_proc::udp_frames(5, 100);
    for (backend, extra, caps, hook) in full {
        let wrapper = only(caps);
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        let mut args = vec!["capture", "--backend", backend, "-i", iface, "-c", "5"];
        args.extend(["-F", "json"]);
        args.extend(extra.split_whitespace());
        let nc = Netcap::start_under(&wrapper, &args);
        common::send_frames(&veth.ns, &veth.ns_if, &frames);
        let out = nc.wait();
        assert!(out.status.success(), "{backend} {caps}: {}", out.stderr);
        let n = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(n, 5, "{backend} with {caps}: {}", out.stderr);
        assert!(
            out.stderr.contains(hook) && !out.stderr.contains("refused"),
            "{backend} with {caps}: wanted {hook:?} in {}",
            out.stderr
        );
    }
}
