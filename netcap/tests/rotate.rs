//! `-C`, `-W`, `-z`: the `-w` file rotated by size as tcpdump rotates it. Every file is
//! checked by tcpdump and tshark, and the files together hold exactly the frames of an
//! unrotated `-w`, in order. Most read a file (no privileges); the full disk and pcapng
//! tests capture on a quiet veth (`cargo xtask test`). Rotation on the clock (`-G`) is
//! tested in `rotate_clock.rs`.
mod common;
mod netcap_proc;
#[path = "common/rotate.rs"]
mod rotate_common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::{read_pcap, tempdir, write_pcap, Netcap};
use rotate_common::{files, frames, oracle_count};

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
    common::needs_privileges!();
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
    common::needs_privileges!();
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
