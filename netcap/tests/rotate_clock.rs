//! `-G` (with `-W` and `-z`): the `-w` file rotated on the clock as tcpdump rotates it,
//! capturing on a quiet veth (`cargo xtask test`). Every file is checked by tcpdump and
//! tshark. Rotation by size is tested in `rotate.rs`.
mod common;
mod netcap_proc;
#[path = "common/rotate.rs"]
mod rotate_common;

use std::{path::Path, time::Duration};

use common::VethPair;
use netcap_proc::{read_pcap, tempdir, Netcap};
use rotate_common::{files, frames, oracle_count};

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
    common::needs_privileges!();
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
    common::needs_privileges!();
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

/// `-G 1 -W 2` under traffic: the run ends by itself after its two files, and every
/// frame in them counts as written, also those of the last file, closed whole when the
/// limit was reached (they were left out of `written`, up to a second of frames, until
/// 2026-12-07). The direct path (`-w` alone) and the writer (`-w` with text).
#[test]
fn time_rotation_with_w_counts_every_frame_of_its_files_as_written() {
    common::needs_privileges!();
    for extra in [&[][..], &["-F", "json"][..]] {
        let veth = VethPair::new();
        let dir = tempdir();
        let template = dir.join("t-%s.pcap");
        let stats = dir.join("stats.json");
        let mut args = vec![
            "capture",
            "-i",
            &veth.host_if,
            "--direction",
            "in",
            "-w",
            template.to_str().expect("utf-8"),
            "-G",
            "1",
            "-W",
            "2",
            "--stats-json",
            stats.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let nc = Netcap::start(&args);
        let done = std::sync::atomic::AtomicBool::new(false);
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                // 10 frames every 50 ms until netcap has ended (at most 2 s).
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    common::send_frames(&veth.ns, &veth.ns_if, &frames(10));
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let out = nc.wait();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            out
        });
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", out.stderr);
        let in_files: usize = stamps(&dir)
            .iter()
            .map(|st| oracle_count(&dir.join(format!("t-{st}.pcap"))))
            .sum();
        assert!(in_files > 0, "{extra:?}: no frame reached the files");
        let s = netcap_proc::stats(&stats);
        assert_eq!(
            s["written"].as_u64(),
            Some(in_files as u64),
            "{extra:?}: {s}"
        );
    }
}

#[test]
fn time_rotation_under_traffic_loses_and_repeats_no_frame() {
    common::needs_privileges!();
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

/// `-G 2`: files begun on the even seconds of the clock; and a `-z` command that
/// fails is reported on stderr without ending the run (exit status 0).
#[test]
fn time_rotation_aligns_to_its_period_and_a_failing_post_command_is_reported() {
    common::needs_privileges!();
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
