//! `netcap read` of pcapng keeps what the file says about each packet and interface:
//! the interface's name (`if_name`), the direction and drop count of each packet
//! (`epb_flags`, `epb_dropcount`) and the interface statistics blocks. tshark reads
//! the same files as the oracle. Needs no privileges.
mod netcap_proc;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use netcap_proc::{stats, tempdir, Netcap};

/// One little-endian pcapng block of `kind` around `body` (padded to 4 bytes).
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().next_multiple_of(4);
    let len = (12 + padded) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// Options as pcapng lays them out, ended by `opt_endofopt`.
fn options(opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut o = Vec::new();
    for (code, value) in opts {
        o.extend_from_slice(&code.to_le_bytes());
        o.extend_from_slice(&(value.len() as u16).to_le_bytes());
        o.extend_from_slice(value);
        o.resize(o.len().next_multiple_of(4), 0);
    }
    o.extend_from_slice(&[0, 0, 0, 0]);
    o
}

fn idb(name: &str, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = vec![1, 0, 0, 0, 0, 0, 4, 0];
    let resol = tsresol.map(|r| [r]);
    let mut opts: Vec<(u16, &[u8])> = vec![(2, name.as_bytes())];
    if let Some(r) = &resol {
        opts.push((9, r));
    }
    body.extend(options(&opts));
    block(1, &body)
}

/// An enhanced packet block: a 60-byte UDP frame numbered `n`.
fn epb(iface: u32, ts: u64, n: u8, flags: Option<u32>, drops: Option<u64>) -> Vec<u8> {
    let mut frame = vec![0u8; 60];
    frame[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    frame[16..18].copy_from_slice(&46u16.to_be_bytes());
    frame[22] = 64;
    frame[23] = 17;
    frame[26..30].copy_from_slice(&[10, 0, 0, 1]);
    frame[30..34].copy_from_slice(&[10, 0, 0, n]);
    frame[34..36].copy_from_slice(&1000u16.to_be_bytes());
    frame[36..38].copy_from_slice(&2000u16.to_be_bytes());
    frame[38..40].copy_from_slice(&26u16.to_be_bytes());
    let mut body = Vec::new();
    for v in [iface, (ts >> 32) as u32, ts as u32, 60, 60] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.extend_from_slice(&frame);
    let (f, d) = (flags.map(u32::to_le_bytes), drops.map(u64::to_le_bytes));
    let mut opts: Vec<(u16, &[u8])> = Vec::new();
    if let Some(f) = &f {
        opts.push((2, f));
    }
    if let Some(d) = &d {
        opts.push((4, d));
    }
    body.extend(options(&opts));
    block(6, &body)
}

/// A file with two interfaces, packets in both directions, a drop count and a
/// statistics block for the first interface.
fn two_interfaces() -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    shb.extend(options(&[]));
    let t = 1_700_000_000u64;
    let mut isb = Vec::new();
    for v in [
        0u32,
        ((t * 1_000_000_000) >> 32) as u32,
        (t * 1_000_000_000) as u32,
    ] {
        isb.extend_from_slice(&v.to_le_bytes());
    }
    let counts: Vec<[u8; 8]> = [10u64, 2, 5, 1, 3].map(u64::to_le_bytes).to_vec();
    isb.extend(options(&[
        (4, &counts[0]),
        (5, &counts[1]),
        (6, &counts[2]),
        (7, &counts[3]),
        (8, &counts[4]),
    ]));
    [
        block(0x0A0D_0D0A, &shb),
        idb("eth0", Some(9)),
        idb("wlan0", None),
        epb(0, t * 1_000_000_000, 1, Some(1), None),
        epb(1, t * 1_000_000 + 1, 2, Some(2), Some(3)),
        epb(0, t * 1_000_000_000 + 2_000, 3, None, None),
        block(5, &isb),
    ]
    .concat()
}

/// tshark's interface name, direction and drop count of each frame.
fn tshark_fields(file: &Path) -> Vec<(String, String, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-E", "occurrence=f"])
        .args(["-e", "frame.interface_name"])
        .args(["-e", "frame.packet_flags_direction"])
        .args(["-e", "frame.drop_count"])
        .output()
        .expect("running tshark");
    assert!(out.status.success(), "tshark -r {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut f = l.split('\t').map(str::to_owned);
            let mut next = || f.next().unwrap_or_default();
            (next(), next(), next())
        })
        .collect()
}

/// netcap's `ifname`, `dir` and `drops` of each frame, in tshark's spelling: the name
/// or `unknown`, the direction as the flag's number (1 inbound, 2 outbound) or empty,
/// the drop count or empty.
fn netcap_fields(file: &Path) -> Vec<(String, String, String)> {
    let out = Netcap::run(&["read", file.to_str().expect("utf-8"), "-F", "json"]);
    assert!(out.status.success(), "{}: {}", file.display(), out.stderr);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let name = v["ifname"].as_str().unwrap_or("unknown").to_owned();
            let dir = match v["dir"].as_str() {
                Some("in") => "1",
                Some("out") => "2",
                _ => "",
            };
            let drops = v["drops"].as_u64().map_or(String::new(), |d| d.to_string());
            (name, dir.to_owned(), drops)
        })
        .collect()
}

/// tshark's direction (`0x00000001`) as a number, and a direction of 0 (`epb_flags`
/// present, direction not given) as absent: netcap calls both unknown.
fn unknown_direction_as_absent(
    mut rows: Vec<(String, String, String)>,
) -> Vec<(String, String, String)> {
    for r in &mut rows {
        r.1 = match u32::from_str_radix(r.1.trim_start_matches("0x"), 16) {
            Ok(0) | Err(_) => String::new(),
            Ok(n) => n.to_string(),
        };
    }
    rows
}

#[test]
fn names_directions_and_drops_are_what_tshark_reads() {
    let dir = tempdir();
    let file = dir.join("two.pcapng");
    std::fs::write(&file, two_interfaces()).expect("writing the file");
    let ours = netcap_fields(&file);
    assert_eq!(ours.len(), 3);
    assert_eq!(ours, unknown_direction_as_absent(tshark_fields(&file)));
    assert_eq!(ours[1], ("wlan0".into(), "2".into(), "3".into()));
}

#[test]
fn line_marks_interface_and_direction_when_the_file_has_several() {
    let dir = tempdir();
    let file = dir.join("two.pcapng");
    std::fs::write(&file, two_interfaces()).expect("writing the file");
    let out = Netcap::run_env(
        &["read", file.to_str().expect("utf-8"), "-F", "line"],
        &[("TZ", "UTC")],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_once(' ').map_or("", |(_, rest)| rest).to_owned())
        .collect();
    assert_eq!(lines.len(), 3);
    // As tcpdump -i any prints them: the name padded to 5, the direction to 3.
    assert!(
        lines[0].starts_with("eth0  In  IP 10.0.0.1.1000 > 10.0.0.1.2000"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("wlan0 Out IP 10.0.0.1.1000 > 10.0.0.2.2000"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("eth0  ?   IP "), "{}", lines[2]);
}

#[test]
fn the_files_statistics_blocks_reach_stats_json_and_the_summary() {
    let dir = tempdir();
    let file = dir.join("two.pcapng");
    std::fs::write(&file, two_interfaces()).expect("writing the file");
    let json = dir.join("s.json");
    let out = Netcap::run(&[
        "read",
        file.to_str().expect("utf-8"),
        "-F",
        "none",
        "--stats-json",
        json.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let s = stats(&json);
    let fs = &s["file_stats"];
    assert_eq!(fs.as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(fs[0]["interface"], "eth0");
    for (key, want) in [
        ("ifrecv", 10),
        ("ifdrop", 2),
        ("filteraccept", 5),
        ("osdrop", 1),
        ("usrdeliv", 3),
    ] {
        assert_eq!(fs[0][key].as_u64(), Some(want), "{key}: {s}");
    }
    assert!(
        out.stderr
            .contains("the file's statistics for eth0: 10 received, 2 dropped by the capture, 1 by the interface"),
        "{}",
        out.stderr
    );
}

/// Every pcapng of tcpdump's corpus: each frame's interface name, direction and drop
/// count as tshark reads them. Skipped when `../shared` is not beside the project.
#[test]
fn every_pcapng_of_the_corpus_names_its_interfaces_as_tshark_does() {
    let Some(files) = netcap_proc::corpus_files(Some("pcapng")) else {
        return;
    };
    let mut named = 0;
    for f in &files {
        let ours = netcap_fields(f);
        named += ours.iter().filter(|r| r.0 != "unknown").count();
        assert_eq!(
            ours,
            unknown_direction_as_absent(tshark_fields(f)),
            "{}",
            f.display()
        );
    }
    assert!(
        named > 50,
        "the corpus has named interfaces: {named} frames"
    );
}

/// `netcap read --pcapng -w` keeps what tshark reads of each frame: one interface
/// block per source interface with its name, and each frame's interface, direction
/// and drop count; on the two-interface file and on corpus files with named
/// interfaces (other link types among them).
#[test]
fn pcapng_written_by_read_keeps_interfaces_directions_and_drops() {
    let dir = tempdir();
    let two = dir.join("two.pcapng");
    std::fs::write(&two, two_interfaces()).expect("writing the file");
    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let mut inputs = vec![two];
    inputs.extend(
        [
            "dhcp-option-108",
            "vsock-1",
            "ospf-sr",
            "smb_data_print-oobr",
        ]
        .iter()
        .map(|n| corpus.join(format!("{n}.pcapng")))
        .filter(|p| p.exists()),
    );
    for (i, input) in inputs.iter().enumerate() {
        let out = dir.join(format!("out{i}.pcapng"));
        let run = Netcap::run(&[
            "read",
            input.to_str().expect("utf-8"),
            "-F",
            "none",
            "--pcapng",
            "-w",
            out.to_str().expect("utf-8"),
        ]);
        assert!(run.status.success(), "{}: {}", input.display(), run.stderr);
        let want = unknown_direction_as_absent(tshark_fields(input));
        assert!(!want.is_empty(), "{}", input.display());
        assert_eq!(
            unknown_direction_as_absent(tshark_fields(&out)),
            want,
            "{}",
            input.display()
        );
    }
    // Two interface blocks, named as in the source.
    let info = Command::new("capinfos")
        .arg(dir.join("out0.pcapng"))
        .output()
        .expect("capinfos");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Number of interfaces in file: 2"), "{info}");
    assert!(
        info.contains("Name = eth0") && info.contains("Name = wlan0"),
        "{info}"
    );
}
