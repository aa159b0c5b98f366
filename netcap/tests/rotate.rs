//! `-C`, `-G`, `-W`, `-z`: the `-w` file rotated as tcpdump rotates it. Every file is
//! checked by tcpdump and tshark, and the files together hold exactly the frames of an
//! unrotated `-w`, in order. The size tests read a file (no privileges); the clock
//! tests capture on a quiet veth (`cargo xtask test`).
mod common;
mod netcap_proc;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::{read_pcap, tempdir, write_pcap, Netcap};

/// `n` Ethernet/IPv4/UDP frames of 1,000 bytes, each different.
fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let dst = std::net::Ipv4Addr::new(198, 51, 100, 2);
            let src = std::net::Ipv4Addr::new(198, 51, 100, 1);
            let payload = vec![(i % 251) as u8; 958];
            common::eth_ipv4_udp(
                common::test_mac(1),
                common::test_mac(2),
                src,
                dst,
                1024 + i as u16,
                9,
                &payload,
            )
        })
        .collect()
}

/// `netcap read INPUT -w OUT EXTRA...`.
fn read_to(input: &Path, out: &Path, extra: &[&str]) -> netcap_proc::Output {
    let mut args = vec![
        "read",
        input.to_str().expect("utf-8"),
        "-w",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    Netcap::run(&args)
}

/// The files in `dir` whose names start with `prefix`, sorted by name.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
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
fn oracle_count(file: &Path) -> usize {
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

#[test]
fn size_rotation_splits_the_frames_without_loss_and_never_passes_the_size() {
    let dir = tempdir();
    let input = dir.join("in.pcap");
    let sent = frames(500);
    write_pcap(&input, &sent);
    let base = dir.join("part.pcap");
    let out = read_to(&input, &base, &["-C", "100k"]);
    assert!(out.status.success(), "{}", out.stderr);
    let parts = files(&dir, "part.pcap");
    // part.pcap, part.pcap1, ...: tcpdump's names without -W.
    let names: Vec<String> = parts
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    let want: Vec<String> = std::iter::once("part.pcap".to_owned())
        .chain((1..names.len()).map(|i| format!("part.pcap{i}")))
        .collect();
    let mut sorted_want = want.clone();
    sorted_want.sort();
    assert_eq!(names, sorted_want);
    assert!(parts.len() >= 5, "500 kB in 100 KiB files: {names:?}");
    let mut got = Vec::new();
    for name in &want {
        let part = dir.join(name);
        let len = std::fs::metadata(&part).expect("metadata").len();
        assert!(len <= 100 * 1024, "{name} is {len} bytes, above -C 100k");
        let frames = read_pcap(&part);
        assert_eq!(oracle_count(&part), frames.len(), "{name}");
        got.extend(frames.into_iter().map(|(_, data)| data));
    }
    assert!(
        got == sent,
        "the files together differ from the frames read"
    );
}

#[test]
fn a_ring_of_files_keeps_the_last_frames_under_padded_names() {
    let dir = tempdir();
    let input = dir.join("in.pcap");
    let sent = frames(500);
    write_pcap(&input, &sent);
    let base = dir.join("ring.pcap");
    let out = read_to(&input, &base, &["-C", "100k", "-W", "3"]);
    assert!(out.status.success(), "{}", out.stderr);
    let names: Vec<String> = files(&dir, "ring.pcap")
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["ring.pcap0", "ring.pcap1", "ring.pcap2"]);
    // About five files' worth went round a ring of three: the three hold the last
    // three files of the sequence, which, put in the order they were begun, end with
    // the last frame read.
    let mut parts: Vec<Vec<Vec<u8>>> = Vec::new();
    for name in &names {
        let part = dir.join(name);
        let frames: Vec<Vec<u8>> = read_pcap(&part).into_iter().map(|(_, d)| d).collect();
        assert_eq!(oracle_count(&part), frames.len(), "{name}");
        parts.push(frames);
    }
    let begun_at = |p: &Vec<Vec<u8>>| p.first().and_then(|f| sent.iter().position(|s| s == f));
    parts.sort_by_key(begun_at);
    let kept: Vec<Vec<u8>> = parts.concat();
    assert!(
        kept.len() > 100 && kept.len() < sent.len(),
        "{}",
        kept.len()
    );
    assert!(
        sent.ends_with(&kept),
        "the ring does not hold the last frames in order"
    );
}

#[test]
fn the_post_rotate_command_runs_on_each_closed_file() {
    let dir = tempdir();
    let input = dir.join("in.pcap");
    write_pcap(&input, &frames(500));
    let log = dir.join("closed.log");
    let script = dir.join("post.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", log.display()),
    )
    .expect("script");
    let chmod = Command::new("chmod").arg("755").arg(&script).status();
    assert!(chmod.is_ok_and(|s| s.success()));
    let base = dir.join("z.pcap");
    let out = read_to(
        &input,
        &base,
        &["-C", "100k", "-z", script.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let parts = files(&dir, "z.pcap");
    // Every file but the last (still open at exit, as tcpdump) was handed to -z.
    let want = parts.len() - 1;
    let t0 = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    while t0.elapsed() < Duration::from_secs(10) {
        seen = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if seen.len() >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen.sort();
    let mut closed: Vec<String> = parts[..].iter().map(|p| p.display().to_string()).collect();
    closed.retain(|p| !p.ends_with(&format!("z.pcap{}", want)));
    closed.sort();
    assert_eq!(seen, closed);
}

#[test]
fn rotation_flags_are_checked_before_the_run() {
    let dir = tempdir();
    let input = dir.join("in.pcap");
    write_pcap(&input, &frames(3));
    let input = input.to_str().expect("utf-8");
    let file = dir.join("x.pcap");
    let file = file.to_str().expect("utf-8");
    for (args, says) in [
        (vec!["-C", "1"], "need -w FILE"),
        (vec!["-w", "-", "-G", "5"], "need -w FILE"),
        (vec!["-w", file, "-W", "3"], "need -C SIZE or -G SECS"),
        (vec!["-w", file, "-C", "0"], "above 0"),
        (vec!["-w", file, "-C", "5x"], "suffix"),
    ] {
        let mut all = vec!["read", input];
        all.extend(args.iter().copied());
        let out = Netcap::run(&all);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn w_does_not_follow_a_symbolic_link() {
    let dir = tempdir();
    let input = dir.join("in.pcap");
    write_pcap(&input, &frames(3));
    let target = dir.join("precious");
    std::fs::write(&target, b"keep me").expect("target");
    let link = dir.join("planted.pcap");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = read_to(&input, &link, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(std::fs::read(&target).expect("target"), b"keep me");
}

/// The numbers in the names of `-G 1 -w DIR/t-%s.pcap` files: seconds since the epoch.
fn stamps(dir: &Path) -> Vec<u64> {
    let mut s: Vec<u64> = files(dir, "t-")
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            name.strip_prefix("t-")?.strip_suffix(".pcap")?.parse().ok()
        })
        .collect();
    s.sort();
    s
}

#[test]
fn time_rotation_goes_on_the_clock_on_a_quiet_link() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    let dir = tempdir();
    let template = dir.join("t-%s.pcap");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "-w",
        template.to_str().expect("utf-8"),
        "-G",
        "1",
    ]);
    std::thread::sleep(Duration::from_millis(3500));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let s = stamps(&dir);
    // No frame arrived: the files were begun by the clock alone, one a second.
    assert!(s.len() >= 3, "3.5 s of -G 1 gave {s:?}");
    assert!(
        s.windows(2).all(|w| w[1] == w[0] + 1),
        "not one a second: {s:?}"
    );
    for stamp in &s {
        let f = dir.join(format!("t-{stamp}.pcap"));
        assert_eq!(oracle_count(&f), 0, "{}", f.display());
    }
}

#[test]
fn time_rotation_with_w_stops_after_that_many_files() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    let dir = tempdir();
    let template = dir.join("t-%s.pcap");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "-F",
        "json",
        "-w",
        template.to_str().expect("utf-8"),
        "-G",
        "1",
        "-W",
        "2",
    ]);
    // The run ends by itself within the two periods (at most 2 s), and normally.
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("maximum file limit reached: 2"),
        "{}",
        out.stderr
    );
    let s = stamps(&dir);
    assert_eq!(s.len(), 2, "{s:?}");
    for stamp in &s {
        assert_eq!(oracle_count(&dir.join(format!("t-{stamp}.pcap"))), 0);
    }
}

#[test]
fn time_rotation_under_traffic_loses_and_repeats_no_frame() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    for extra in [&[][..], &["-F", "json"][..]] {
        let veth = VethPair::new();
        let dir = tempdir();
        let template = dir.join("t-%s.pcap");
        let mut args = vec![
            "capture",
            "-i",
            &veth.host_if,
            "-w",
            template.to_str().expect("utf-8"),
            "-G",
            "1",
        ];
        args.extend_from_slice(extra);
        let nc = Netcap::start(&args);
        let sent = frames(240);
        // 2.4 s of traffic, 20 frames every 200 ms: at least two boundaries crossed.
        for chunk in sent.chunks(20) {
            common::send_frames(&veth.ns, &veth.ns_if, chunk);
            std::thread::sleep(Duration::from_millis(200));
        }
        nc.signal(libc::SIGINT);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("240 captured"),
            "{extra:?}: {}",
            out.stderr
        );
        let s = stamps(&dir);
        assert!(s.len() >= 3, "{extra:?}: {s:?}");
        let mut got = Vec::new();
        for stamp in &s {
            let f = dir.join(format!("t-{stamp}.pcap"));
            let frames = read_pcap(&f);
            assert_eq!(oracle_count(&f), frames.len(), "{}", f.display());
            got.extend(frames.into_iter().map(|(_, d)| d));
        }
        assert!(
            got == sent,
            "{extra:?}: the files together differ from what was sent"
        );
    }
}

/// A small tmpfs, unmounted on drop (also when the test fails).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount tmpfs on {}", at.display());
        Self(at)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_ends_the_run_with_an_error_and_a_file_every_reader_takes() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let dir = tempdir();
    let input = dir.join("in.pcap");
    let sent = frames(500);
    write_pcap(&input, &sent);
    for format in [&[][..], &["--pcapng"][..]] {
        let disk = SmallDisk::mount(dir.join("disk"), "64k");
        let file = disk.0.join("full.pcap");
        let mut args = vec![
            "read",
            input.to_str().expect("utf-8"),
            "-w",
            file.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(format);
        let out = Netcap::run(&args);
        assert_eq!(out.status.code(), Some(1), "{format:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("No space left on device"),
            "{format:?}: {}",
            out.stderr
        );
        // Cut back to the last complete frame: no reader finds a cut record.
        let n = oracle_count(&file);
        let tcpdump = Command::new("tcpdump").arg("-r").arg(&file).output();
        let complaint = tcpdump.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(
            complaint.as_ref().is_ok_and(|e| !e.contains("truncated")),
            "{format:?}: {complaint:?}"
        );
        assert!(n > 10 && n < sent.len(), "{format:?}: {n} frames");
        if format.is_empty() {
            let got: Vec<Vec<u8>> = read_pcap(&file).into_iter().map(|(_, d)| d).collect();
            assert!(sent.starts_with(&got), "not the first frames, in order");
        }
        drop(disk);
    }
}

/// `-C` with `--pcapng` on a live capture: every file, closed with its interface
/// statistics block, is within the size. The frames are small, so most files are cut
/// with less room left than a statistics block takes; traffic lasts past the first
/// second, when the capture's counts are first published.
#[test]
fn pcapng_size_rotation_counts_the_options_and_the_statistics_block() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    let dir = tempdir();
    let base = dir.join("c.pcapng");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "--pcapng",
        "-w",
        base.to_str().expect("utf-8"),
        "-C",
        "2k",
        "udp and port 9",
    ]);
    // 60-byte frames, each different: about 17 to a 2 KiB file.
    let sent: Vec<Vec<u8>> = (0..260u16)
        .map(|i| {
            common::eth_ipv4_udp(
                common::test_mac(1),
                common::test_mac(2),
                std::net::Ipv4Addr::new(198, 51, 100, 1),
                std::net::Ipv4Addr::new(198, 51, 100, 2),
                3000 + i,
                9,
                &[i as u8; 18],
            )
        })
        .collect();
    for chunk in sent.chunks(20) {
        common::send_frames(&veth.ns, &veth.ns_if, chunk);
        std::thread::sleep(Duration::from_millis(120));
    }
    std::thread::sleep(Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    // c.pcapng, c.pcapng1, c.pcapng2, ...: in the order they were written.
    let mut parts = files(&dir, "c.pcapng");
    let number = |p: &PathBuf| -> u32 {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.trim_start_matches("c.pcapng").parse().unwrap_or(0)
    };
    parts.sort_by_key(number);
    assert!(parts.len() >= 10, "{} files", parts.len());
    let above: Vec<(PathBuf, u64)> = parts
        .iter()
        .map(|p| (p.clone(), std::fs::metadata(p).expect("metadata").len()))
        .filter(|&(_, len)| len > 2048)
        .collect();
    assert!(above.is_empty(), "files above -C 2k: {above:?}");
    let mut got = Vec::new();
    for part in &parts {
        let info = Command::new("capinfos")
            .arg(part)
            .output()
            .expect("capinfos");
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(
            info.contains("Number of stat entries = 1"),
            "{}: {info}",
            part.display()
        );
        let names = Command::new("tshark")
            .args(["-T", "fields", "-e", "frame.interface_name", "-r"])
            .arg(part)
            .output()
            .expect("tshark");
        assert!(names.status.success(), "tshark -r {}", part.display());
        let names = String::from_utf8_lossy(&names.stdout).into_owned();
        let frames = read_pcap(part);
        assert_eq!(names.lines().count(), frames.len(), "{}", part.display());
        assert!(
            names.lines().all(|n| n == veth.host_if),
            "{}: {names}",
            part.display()
        );
        got.extend(frames.into_iter().map(|(_, d)| d));
    }
    assert!(got == sent, "the files together differ from what was sent");
}

/// `-G 2`: files begun on the even seconds of the clock; and a `-z` command that
/// fails is reported on stderr without ending the run (exit status 0).
#[test]
fn time_rotation_aligns_to_its_period_and_a_failing_post_command_is_reported() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let veth = VethPair::new();
    let dir = tempdir();
    let template = dir.join("t-%s.pcap");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &veth.host_if,
        "-w",
        template.to_str().expect("utf-8"),
        "-G",
        "2",
        "-z",
        "/bin/false",
    ]);
    std::thread::sleep(Duration::from_millis(4500));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let s = stamps(&dir);
    assert!(s.len() >= 2, "4.5 s of -G 2 gave {s:?}");
    assert!(s.iter().all(|t| t % 2 == 0), "not on even seconds: {s:?}");
    assert!(s.windows(2).all(|w| w[1] == w[0] + 2), "{s:?}");
    // Every file but the last was closed and handed to -z, which failed.
    let first = dir.join(format!("t-{}.pcap", s[0]));
    let report = format!("-z /bin/false {}: exit status: 1", first.display());
    assert!(
        out.stderr.contains(&report),
        "no {report:?} in {}",
        out.stderr
    );
}

/// `-w` files are created with the process umask: 0600 under `umask 077`, for the
/// first file and the rotated ones.
#[test]
fn w_files_respect_the_umask() {
    let dir = tempdir();
    let input = dir.join("in.pcap");
    write_pcap(&input, &frames(300));
    let base = dir.join("u.pcap");
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_netcap"))
        .args(["read", input.to_str().expect("utf-8"), "-F", "none", "-w"])
        .arg(&base)
        .args(["-C", "100k"])
        .output()
        .expect("running netcap under sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parts = files(&dir, "u.pcap");
    assert!(parts.len() >= 2, "{parts:?}");
    for p in &parts {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}: {:o}", p.display(), mode);
    }
}
