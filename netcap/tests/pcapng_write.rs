//! The pcapng file `-w --pcapng` writes says what dumpcap's say, checked with tshark
//! and capinfos (privileged, `cargo xtask test`): the OS, the application and the
//! machine; the interface's name, the filter and the snap length; and each frame's
//! direction, on both backends; and the interface statistics block it ends with holds
//! the summary's counts.
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
    common::needs_privileges!();
    // The fanout group's workers publish their sockets' counts themselves.
    let fanout: &[&str] = &["--backend", "afpacket", "--workers", "2", "-F", "json"];
    for (backend, args) in [
        ("afpacket", &["--backend", "afpacket"][..]),
        ("xdp", &["--backend", "xdp"][..]),
        ("afpacket fanout", fanout),
    ] {
        let veth = VethPair::new();
        let dir = netcap_proc::tempdir();
        let file = dir.join("meta.pcapng");
        let path = file.to_str().expect("utf-8");
        let stats_file = dir.join("stats.json");
        let mut cmd = vec![
            "capture",
            "--stats-json",
            stats_file.to_str().expect("utf-8"),
            "-i",
            &veth.host_if,
            "--pcapng",
            "-w",
            path,
        ];
        cmd.extend_from_slice(args);
        cmd.push("udp and port 9");
        let nc = Netcap::start(&cmd);
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
        assert!(
            info.contains("Number of stat entries = 1"),
            "{backend}: {info}"
        );
        let stats = netcap_proc::stats(&stats_file);
        let isb = last_isb(&std::fs::read(&file).expect("read back"));
        let count = |k: &str| stats[k].as_u64().unwrap_or(u64::MAX);
        // isb_ifrecv, isb_ifdrop, isb_usrdeliv
        assert_eq!(isb.get(&4), Some(&count("seen")), "{backend}: {isb:?}");
        assert_eq!(isb.get(&5), Some(&count("lost")), "{backend}: {isb:?}");
        assert_eq!(isb.get(&8), Some(&count("captured")), "{backend}: {isb:?}");
        assert_eq!(count("captured"), 5, "{backend}");
        if backend.ends_with("fanout") {
            let sockets = stats["fanout_captured"].as_array().map(Vec::len);
            assert_eq!(sockets, Some(2), "{backend}: {stats}");
        }
    }
}

/// The 8-byte options of the last interface statistics block of a pcapng file, by
/// option code, read by hand (not by the library that wrote it).
fn last_isb(file: &[u8]) -> std::collections::BTreeMap<u16, u64> {
    let big = file.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d][..]);
    let u32_at = |b: &[u8], i: usize| {
        let w: [u8; 4] = b[i..i + 4].try_into().expect("4 bytes");
        if big {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    let u16_at = |b: &[u8], i: usize| {
        let w: [u8; 2] = b[i..i + 2].try_into().expect("2 bytes");
        if big {
            u16::from_be_bytes(w)
        } else {
            u16::from_le_bytes(w)
        }
    };
    let mut found = std::collections::BTreeMap::new();
    let mut at = 0;
    while at + 12 <= file.len() {
        let (kind, len) = (u32_at(file, at), u32_at(file, at + 4) as usize);
        assert!(len >= 12 && at + len <= file.len(), "bad block at {at}");
        if kind == 5 {
            found.clear();
            let body = &file[at + 8..at + len - 4];
            let mut o = 12;
            while o + 4 <= body.len() {
                let (code, olen) = (u16_at(body, o), u16_at(body, o + 2) as usize);
                if code == 0 {
                    break;
                }
                if olen == 8 {
                    // A 64-bit value in the section's byte order, read as two words.
                    let hi = u64::from(u32_at(body, o + 4));
                    let lo = u64::from(u32_at(body, o + 8));
                    let v = if big {
                        (hi << 32) | lo
                    } else {
                        (lo << 32) | hi
                    };
                    found.insert(code, v);
                }
                o += 4 + olen.div_ceil(4) * 4;
            }
        }
        at += len;
    }
    found
}

/// The drop count a pcapng file ends with is the summary's `lost`: netcap is stopped
/// (SIGSTOP) while frames fill its small ring, then goes on and is interrupted.
/// capinfos 4.0 shows the statistics block but not its counts, so the count is read
/// with tshark's dissector of the pcapng format itself; capinfos shows the section
/// header's hardware, OS and application.
#[test]
fn pcapng_drop_count_is_the_summarys_lost() {
    common::needs_privileges!();
    let veth = VethPair::new();
    let dir = netcap_proc::tempdir();
    let file = dir.join("lost.pcapng");
    let path = file.to_str().expect("utf-8");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "-B",
        "64",
        "-s",
        "128",
        "-F",
        "none",
        "--pcapng",
        "-w",
        path,
    ]);
    nc.signal(libc::SIGSTOP);
    common::send_frames(&veth.ns, &veth.ns_if, &frames(20_000));
    nc.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(500));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    // "netcap: S frames seen, C captured, F filtered, N lost (ring full ..."
    let lost: Option<u64> = out
        .stderr
        .lines()
        .find(|l| l.contains("frames seen"))
        .and_then(|l| l.split(" lost").next()?.rsplit(' ').next()?.parse().ok());
    let lost = lost.unwrap_or_else(|| panic!("no lost count in {}", out.stderr));
    assert!(lost > 0, "the ring lost nothing: {}", out.stderr);
    let dropped = run(
        "tshark",
        &[
            "-r",
            path,
            "-X",
            "read_format:MIME Files Format",
            "-T",
            "fields",
            "-e",
            "pcapng.options.option.data.interface.dropped",
        ],
    );
    let dropped: Vec<&str> = dropped.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(dropped, [lost.to_string()], "{}", out.stderr);
    let info = run("capinfos", &[path]);
    for want in [
        format!("Capture hardware:    {}", std::env::consts::ARCH),
        "Capture oper-sys:    Linux".to_owned(),
        "Capture application: netcap".to_owned(),
        "Number of stat entries = 1".to_owned(),
    ] {
        assert!(info.contains(&want), "no {want:?} in\n{info}");
    }
}
