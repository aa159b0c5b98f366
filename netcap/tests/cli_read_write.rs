//! `netcap read -w`: the pcap it writes, to stdout or a file, read back by tcpdump,
//! tshark and netcap (empty, cut to a snap length, micro- and nanosecond stamps).
//! Needs no privileges.
mod netcap_proc;

use std::{path::Path, process::Command};

use netcap_proc::{golden, read_pcap, tempdir, udp_frames, write_pcap, Netcap};

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn pcap_written_to_stdout_is_read_back_identically_by_tcpdump_and_netcap() {
    let dir = tempdir();
    let src = golden("ipv4_tcp_http_xml_tso.pcap");
    let out = Netcap::run(&["read", src.to_str().expect("utf-8"), "-w", "-"]);
    assert!(out.status.success(), "{}", out.stderr);
    let copy = dir.join("copy.pcap");
    std::fs::write(&copy, &out.stdout).expect("write copy");
    assert_eq!(read_pcap(&copy), read_pcap(&src), "same frames and lengths");
    if which("tcpdump") {
        // tcpdump must read the file netcap wrote and print the same as for the original.
        let show = |p: &Path| {
            let o = Command::new("tcpdump")
                .args(["-nn", "-r"])
                .arg(p)
                .output()
                .expect("tcpdump");
            assert!(
                o.status.success(),
                "tcpdump -r: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            o.stdout
        };
        assert_eq!(show(&copy), show(&src));
    }
    if which("tshark") {
        let o = Command::new("tshark")
            .args(["-r"])
            .arg(&copy)
            .output()
            .expect("tshark");
        assert!(
            o.status.success(),
            "tshark -r: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // pcapng too.
    let out = Netcap::run(&["read", src.to_str().expect("utf-8"), "--pcapng", "-w", "-"]);
    let ng = dir.join("copy.pcapng");
    std::fs::write(&ng, &out.stdout).expect("write");
    assert_eq!(read_pcap(&ng), read_pcap(&src));
}

#[test]
fn a_filter_that_keeps_nothing_still_writes_a_valid_empty_file() {
    let dir = tempdir();
    let src = golden("ipv4_tcp_http_xml_tso.pcap");
    for (name, extra) in [("empty.pcap", None), ("empty.pcapng", Some("--pcapng"))] {
        let path = dir.join(name);
        let mut args = vec![
            "read",
            src.to_str().expect("utf-8"),
            "-w",
            path.to_str().expect("utf-8"),
        ];
        args.extend(extra);
        args.extend(["udp", "port", "4"]);
        let out = Netcap::run(&args);
        assert!(out.status.success(), "{}", out.stderr);
        // A header and no records, as tcpdump writes: readable by every reader.
        assert_eq!(read_pcap(&path), Vec::new(), "{name}");
        if which("tcpdump") {
            let o = Command::new("tcpdump")
                .args(["-nn", "-r"])
                .arg(&path)
                .output()
                .expect("tcpdump");
            assert!(
                o.status.success(),
                "tcpdump -r {name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

#[test]
fn read_with_a_snap_length_writes_records_no_longer_than_the_header_says() {
    let dir = tempdir();
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    write_pcap(&input, &udp_frames(5, 100));
    let out = Netcap::run(&[
        "read",
        input.to_str().expect("utf-8"),
        "-s",
        "60",
        "-w",
        output.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let t = Command::new("tshark")
        .arg("-r")
        .arg(&output)
        .args(["-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"])
        .output()
        .expect("running tshark");
    let text = String::from_utf8_lossy(&t.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec!["100\t60"; 5],
        "{text}"
    );
}

/// `tcpdump -tt` of `file`, at `precision`.
fn tcpdump_times(file: &Path, precision: &str) -> String {
    let out = Command::new("tcpdump")
        .args(["-n", "-tt", "--time-stamp-precision", precision, "-r"])
        .arg(file)
        .output()
        .expect("tcpdump (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn w_writes_microseconds_as_tcpdump_does_and_nanoseconds_with_nano() {
    let dir = tempdir();
    // A nanosecond capture file, as the kernel stamps frames.
    let input = dir.join("ns.pcap");
    let out = Netcap::run(&[
        "read",
        golden("dns_udp.pcap").to_str().expect("utf-8"),
        "--nano",
        "-w",
        input.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    for (flags, magic, precision) in [
        (&[][..], [0xd4, 0xc3, 0xb2, 0xa1], "micro"),
        (
            &["--time-stamp-precision", "micro"][..],
            [0xd4, 0xc3, 0xb2, 0xa1],
            "micro",
        ),
        (&["--nano"][..], [0x4d, 0x3c, 0xb2, 0xa1], "nano"),
        (
            &["--time-stamp-precision", "nano"][..],
            [0x4d, 0x3c, 0xb2, 0xa1],
            "nano",
        ),
    ] {
        let file = dir.join("out.pcap");
        let mut args = vec![
            "read",
            input.to_str().expect("utf-8"),
            "-w",
            file.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(flags);
        let out = Netcap::run(&args);
        assert!(out.status.success(), "{flags:?}: {}", out.stderr);
        let bytes = std::fs::read(&file).expect("written");
        assert_eq!(bytes.get(..4), Some(&magic[..]), "{flags:?}");
        assert_eq!(
            tcpdump_times(&file, precision),
            tcpdump_times(&input, precision),
            "{flags:?}"
        );
    }
}
