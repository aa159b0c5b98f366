//! `netcap read` as a user runs it: the binary, its stdout, stderr and exit status.
//! Needs no privileges.
//! Memory bounds are tested in `cli_read_memory.rs`, the files `-w` writes in
//! `cli_read_write.rs`.
mod netcap_proc;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use netcap_proc::{golden, stats, tempdir, udp_frames, write_pcap, Netcap};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netcap")
}

#[test]
fn turtle_from_a_file_is_byte_identical_to_the_reference() {
    for name in ["dns_udp", "ipv4_tcp_http_xml_tso", "crafted"] {
        let out = Netcap::run(&[
            "read",
            golden(&format!("{name}.pcap")).to_str().expect("utf-8"),
        ]);
        assert!(out.status.success(), "{}", out.stderr);
        let expected = std::fs::read(golden(&format!("{name}.turtle.txt"))).expect("golden");
        assert!(
            out.stdout == expected,
            "{name}: turtle output differs from the reference"
        );
        assert!(
            out.stderr.contains("frames seen"),
            "summary goes to stderr: {}",
            out.stderr
        );
    }
}

#[test]
fn a_closed_pipe_ends_quietly_with_status_zero_and_the_summary() {
    let dir = tempdir();
    let pcap = dir.join("many.pcap");
    write_pcap(&pcap, &udp_frames(200_000, 200));
    for format in ["turtle", "line", "json"] {
        let mut child = Command::new(bin())
            .args(["read", pcap.to_str().expect("utf-8"), "-F", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("netcap starts");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 100];
        stdout.read_exact(&mut first).expect("some output");
        drop(stdout); // like `| head -c 100`
        let out = child.wait_with_output().expect("netcap ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{format}: status {:?}: {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("frames seen"),
            "summary still printed: {stderr}"
        );
    }
}

#[test]
fn stats_json_counts_a_replay_exactly() {
    let dir = tempdir();
    let pcap = dir.join("n.pcap");
    let frames = udp_frames(12_345, 100);
    write_pcap(&pcap, &frames);
    let sj = dir.join("stats.json");
    let out = Netcap::run(&[
        "read",
        pcap.to_str().expect("utf-8"),
        "-F",
        "none",
        "--stats-json",
        sj.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let s = stats(&sj);
    for key in ["seen", "captured", "decoded"] {
        assert_eq!(s[key], 12_345, "{key}: {s}");
    }
    assert_eq!(s["lost"], 0);
    assert_eq!(s["filtered"], 0);
    assert_eq!(s["bytes"], 12_345 * 100);
    // -c stops after exactly that many frames.
    let out = Netcap::run(&[
        "read",
        pcap.to_str().expect("utf-8"),
        "-c",
        "1000",
        "-F",
        "line",
        "--stats-json",
        sj.to_str().expect("utf-8"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1000);
    assert_eq!(stats(&sj)["decoded"], 1000);
}

#[test]
fn a_cut_file_prints_what_is_complete_and_says_what_was_cut() {
    let dir = tempdir();
    let pcap = dir.join("cut.pcap");
    write_pcap(&pcap, &udp_frames(10, 100));
    let mut bytes = std::fs::read(&pcap).expect("read");
    bytes.truncate(bytes.len() - 30);
    std::fs::write(&pcap, &bytes).expect("write");
    let out = Netcap::run(&["read", pcap.to_str().expect("utf-8"), "-F", "line"]);
    // Exit status 1, as tcpdump's for a cut file; what was complete is printed.
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 9);
    assert!(out.stderr.contains("record cut short"), "{}", out.stderr);
}

#[test]
fn garbage_and_missing_files_get_one_clear_message() {
    let dir = tempdir();
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"this is not a capture file at all").expect("write");
    let out = Netcap::run(&["read", junk.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("not a pcap or pcapng file"),
        "{}",
        out.stderr
    );
    let out = Netcap::run(&["read", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("opening /nonexistent/x.pcap"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn stdin_is_read_with_a_dash() {
    let src = golden("dns_udp.pcap");
    let out = Command::new(bin())
        .args(["read", "-", "-F", "turtle"])
        .stdin(std::fs::File::open(&src).expect("fixture"))
        .output()
        .expect("netcap");
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        std::fs::read(golden("dns_udp.turtle.txt")).expect("golden")
    );
}

/// Every capture of tcpdump's regression suite through the binary: no crash, no hang,
/// and every JSON line parses. Skipped when `../shared` is not beside the project.
#[test]
fn the_whole_tcpdump_corpus_is_read_without_a_crash() {
    let Some(files) = netcap_proc::corpus_files(None) else {
        return;
    };
    let mut frames = 0u64;
    for f in &files {
        let out = Netcap::run(&[
            "read",
            f.to_str().expect("utf-8"),
            "-F",
            "json",
            "--workers",
            "2",
        ]);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{}: status {:?}: {}",
            f.display(),
            out.status,
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{}: {}",
            f.display(),
            out.stderr
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{}: bad JSON line {line:?}: {e}", f.display()));
            frames += 1;
        }
    }
    assert!(
        files.len() >= 800,
        "the corpus has 830 files, found {}",
        files.len()
    );
    eprintln!("{} files, {frames} frames", files.len());
}

/// `netcap read FILE -F none EXTRA`: the frames it says it captured, and its output.
fn captured_by_netcap(
    file: &Path,
    extra: &[&str],
    work: &Path,
) -> (Option<u64>, netcap_proc::Output) {
    let stats_path = work.join("s.json");
    let mut args = vec![
        "read",
        file.to_str().expect("utf-8"),
        "-F",
        "none",
        "--stats-json",
        stats_path.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let out = Netcap::run(&args);
    (stats(&stats_path)["captured"].as_u64(), out)
}

/// Every pcapng file of tcpdump's test corpus gives as many frames as tshark reads,
/// including section headers without the end-of-options marker (`ospf-sr.pcapng`),
/// which `pcap-file` refused whole. Skipped when `../shared` is not beside the project.
#[test]
fn every_pcapng_of_the_corpus_has_the_frames_tshark_reads() {
    let Some(files) = netcap_proc::corpus_files(Some("pcapng")) else {
        return;
    };
    assert!(files.iter().any(|f| f.ends_with("ospf-sr.pcapng")));
    let work = tempdir();
    for f in &files {
        let tshark = Command::new("tshark")
            .arg("-r")
            .arg(f)
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
            .expect("running tshark");
        let theirs = String::from_utf8_lossy(&tshark.stdout).lines().count() as u64;
        let (ours, out) = captured_by_netcap(f, &[], &work);
        assert_eq!(ours, Some(theirs), "{}: {}", f.display(), out.stderr);
    }
}

/// Filters on files whose LINKTYPE differs from libpcap's DLT (ATM_CLIP 106 -> 19,
/// ATM_RFC1483 100 -> 11) compile and select what tcpdump selects.
#[test]
fn filters_on_old_link_types_select_what_tcpdump_selects() {
    let Some(dir) = netcap_proc::corpus() else {
        return;
    };
    let work = tempdir();
    for name in ["heap-overflow-2.pcap", "llc-xid-heapoverflow.pcap"] {
        let f = dir.join(name);
        for expr in ["ip", "not ip"] {
            let tcpdump = Command::new("tcpdump")
                .arg("-r")
                .arg(&f)
                .arg(expr)
                .stderr(Stdio::null())
                .output()
                .expect("running tcpdump");
            let theirs = String::from_utf8_lossy(&tcpdump.stdout).lines().count() as u64;
            let (ours, out) = captured_by_netcap(&f, &[expr], &work);
            assert!(out.status.success(), "{name} `{expr}`: {}", out.stderr);
            assert_eq!(ours, Some(theirs), "{name} `{expr}`");
        }
    }
}

/// Every kind of broken file ends `read` with status 1 and one message, never a panic,
/// and what came before the fault is still printed: a pcapng cut inside a block, a
/// pcap record claiming 0xFFFFFFFF bytes, a pcapng block whose length is not a
/// multiple of 4 or shorter than a block can be.
#[test]
fn broken_files_end_with_status_one_after_what_was_complete() {
    let dir = tempdir();
    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let good = std::fs::read(corpus.join("msnlb2.pcapng")).expect("corpus pcapng");
    // The section header's length sits at offset 4 (little- or big-endian, as the
    // byte-order magic says); the first block after it starts there.
    let le = good[8..12] == [0x4d, 0x3c, 0x2b, 0x1a];
    let word = |b: &[u8], at: usize| {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let put = |b: &mut Vec<u8>, at: usize, v: u32| {
        let w = if le { v.to_le_bytes() } else { v.to_be_bytes() };
        b[at..at + 4].copy_from_slice(&w);
    };
    let shb_len = word(&good, 4) as usize;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("cut.pcapng", good[..good.len() - 7].to_vec()));
    let mut odd = good.clone();
    put(&mut odd, shb_len + 4, 13);
    cases.push(("odd-length.pcapng", odd));
    let mut tiny = good.clone();
    put(&mut tiny, shb_len + 4, 4);
    cases.push(("tiny-block.pcapng", tiny));
    let pcap = dir.join("ok.pcap");
    write_pcap(&pcap, &udp_frames(3, 100));
    let mut huge = std::fs::read(&pcap).expect("read");
    // The third record's caplen (24-byte file header, 16-byte record headers).
    let third = 24 + 2 * (16 + 100);
    huge[third + 8..third + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(("huge-caplen.pcap", huge));
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write");
        let out = Netcap::run(&["read", path.to_str().expect("utf-8"), "-F", "json"]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains("frames seen"),
            "{name}: no summary: {}",
            out.stderr
        );
        if name == "huge-caplen.pcap" {
            let lines = String::from_utf8_lossy(&out.stdout).lines().count();
            assert_eq!(lines, 2, "{name}: the two good records come first");
        }
    }
}
