//! `netcap read` as a user runs it: the binary, its stdout, stderr and exit status.
//! Needs no privileges.
mod netcap_proc;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use netcap_proc::{read_pcap, stats, tempdir, udp_frames, write_pcap, Netcap};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

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

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} not found", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
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

/// Runs `netcap ARGS` to the end and returns its exit status and peak RSS in KiB.
///
/// The peak is the child's own `VmHWM`, polled from /proc while it runs. Not the
/// rusage of `wait4`: that counts the high-water mark of the memory the child had
/// before `exec`, which for a spawned child is this test process's own peak.
fn max_rss_kib(args: &[&str]) -> (Option<i32>, u64) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting netcap");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(st) = child.try_wait().expect("waitpid") {
            return (st.code(), peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn records_without_bytes_do_not_grow_memory() {
    // A pcap header followed by 128 MiB of zeros (a sparse file): 8 M records of 0
    // captured bytes. Before the frame cap a batch never filled by bytes and held them
    // all (about 32 bytes each: over 256 MB); tcpdump needs a few MB.
    let dir = tempdir();
    let path = dir.join("zeros.pcap");
    let mut hdr = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        hdr.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&path, &hdr).expect("writing the header");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("opening");
    f.set_len(24 + (128 << 20)).expect("extending");
    let p = path.to_str().expect("utf-8");
    for args in [&["read", p, "-F", "none"][..], &["read", p, "-c", "1"][..]] {
        let (status, rss) = max_rss_kib(args);
        assert_eq!(status, Some(0), "{args:?}");
        assert!(rss < 100 * 1024, "{args:?}: peak RSS {rss} KiB");
    }
}

/// The most workers there can be (256, a fanout group's limit) on a 3-frame file: memory
/// once grew with the square of `--workers` (10,000 took 4.2 GB); 27 MB here.
#[test]
fn the_most_workers_fit_in_little_memory() {
    let dir = tempdir();
    let path = dir.join("three.pcap");
    write_pcap(&path, &udp_frames(3, 60));
    let p = path.to_str().expect("utf-8");
    let (status, rss) = max_rss_kib(&["read", p, "--workers", "256", "-F", "line"]);
    assert_eq!(status, Some(0));
    assert!(rss < 150 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn max_flows_bounds_memory_under_a_flood_of_new_flows() {
    // 1 M frames, each a new flow. Before the bound every evicted flow's record was
    // kept until exit (about 190 bytes each: over 190 MB here).
    let dir = tempdir();
    let path = dir.join("flood.pcap");
    let template = &udp_frames(1, 60)[0];
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut put = |b: &[u8]| std::io::Write::write_all(&mut w, b).expect("write");
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        put(&v.to_le_bytes());
    }
    let mut f = template.clone();
    for i in 0..1_000_000u32 {
        f[28..30].copy_from_slice(&((i >> 16) as u16).to_be_bytes());
        f[34..36].copy_from_slice(&(i as u16).to_be_bytes());
        for v in [i, 0, f.len() as u32, f.len() as u32] {
            put(&v.to_le_bytes());
        }
        put(&f);
    }
    drop(w);
    let p = path.to_str().expect("utf-8");
    let args = [
        "read",
        p,
        "-F",
        "none",
        "--flows",
        "--max-flows",
        "100",
        "--workers",
        "1",
    ];
    let (status, rss) = max_rss_kib(&args);
    assert_eq!(status, Some(0));
    assert!(rss < 80 * 1024, "peak RSS {rss} KiB");
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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} not found", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .collect();
    files.sort();
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

/// Filters on files whose LINKTYPE differs from libpcap's DLT (ATM_CLIP 106 -> 19,
/// ATM_RFC1483 100 -> 11) compile and select what tcpdump selects.
#[test]
fn filters_on_old_link_types_select_what_tcpdump_selects() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    if !dir.is_dir() {
        eprintln!("skipped: {} not found", dir.display());
        return;
    }
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
