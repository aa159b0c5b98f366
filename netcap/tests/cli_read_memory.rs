//! `netcap read`'s memory: bounded whatever the file holds (records without bytes,
//! a flood of new flows, the most workers), measured as the child's peak RSS.
//! Needs no privileges.
mod netcap_proc;

use std::process::{Command, Stdio};

use netcap_proc::{tempdir, udp_frames, write_pcap};

/// Runs `netcap ARGS` to the end and returns its exit status and peak RSS in KiB.
///
/// The peak is the child's own `VmHWM`, polled from /proc while it runs. Not the
/// rusage of `wait4`: that counts the high-water mark of the memory the child had
/// before `exec`, which for a spawned child is this test process's own peak.
fn max_rss_kib(args: &[&str]) -> (Option<i32>, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netcap"))
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
