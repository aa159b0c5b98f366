//! The native filter (classic BPF translated to eBPF, `filter/ebpf`) against the
//! reference machine (`filter/cbpf.rs`): for every expression of the filter table
//! (`tests/filter/exprs.txt`) and a few more (loops, arithmetic, lengths), over the
//! frames of tcpdump's test captures (Ethernet ones, at most `PER_FILE` frames each)
//! and the table's fixtures, the program run by the kernel through BPF_PROG_TEST_RUN
//! returns the verdict `cbpf::run` gives, as an XDP and as a SCHED_CLS program.
//! Frames longer than a page also run as XDP, where they arrive in fragments and the
//! loads past `data_end` go through `bpf_xdp_load_bytes`.
//!
//! Needs root (loading BPF): runs under `cargo xtask test`, which sets
//! `NETCAP_PRIVILEGED_TESTS=1`; elsewhere it says it was skipped.
use std::path::{Path, PathBuf};

use netcap::capture::bpf_sys::{prog_load, test_run, ProgKind};
use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::filter::ebpf::{translate, Exit, Hook, VERDICT_ACCEPT, VERDICT_REJECT};
use netcap::filter::{cbpf, Filter};
use netcap::packet::{Batch, LinkType};

/// Frames taken from each corpus capture: enough variety, a few seconds in all.
const PER_FILE: usize = 12;
/// The largest frame BPF_PROG_TEST_RUN takes for SCHED_CLS (one page, less headroom).
const TC_MAX: usize = 3000;
/// XDP test runs put what does not fit a page into fragments, at most 17 of them
/// (`MAX_SKB_FRAGS`); larger frames are refused with ENOMEM.
const XDP_MAX: usize = 16_000;

fn privileged() -> bool {
    let on = std::env::var_os("NETCAP_PRIVILEGED_TESTS").is_some_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
    }
    on
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter")
}

/// Ethernet frames of `path`, at most `max`; none if it is not an Ethernet capture.
fn frames_of(path: &Path, max: usize) -> Vec<Vec<u8>> {
    let Ok(mut source) = FileSource::open(path) else {
        return Vec::new();
    };
    if source.link() != Some(LinkType::Ethernet) {
        return Vec::new();
    }
    let mut batch = Batch::default();
    // `fill` takes a byte budget: one more MiB per call.
    loop {
        let budget = batch.bytes().saturating_add(1 << 20);
        let Ok(fill) = source.fill(&mut batch, budget) else {
            break;
        };
        if fill == Fill::End || batch.len() >= max {
            break;
        }
    }
    batch.iter().take(max).map(|f| f.data.to_vec()).collect()
}

fn corpus() -> Vec<Vec<u8>> {
    // The corpus lives beside the repository (`../shared`), as for the other corpus
    // tests; a missing corpus fails the test rather than shrinking it to the fixtures.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let dir = std::env::var_os("NETCAP_CORPUS").map_or(dir, PathBuf::from);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading the corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for f in &files {
        frames.extend(frames_of(f, PER_FILE));
    }
    let mut local: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/filter")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    local.sort();
    for f in &local {
        frames.extend(frames_of(f, usize::MAX));
    }
    assert!(
        frames.len() > 2000,
        "only {} frames: is the tcpdump corpus at {}?",
        frames.len(),
        dir.display()
    );
    // Long frames: XDP hands the part past the first page over in fragments.
    let long: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= 200)
        .step_by(50)
        .map(|f| {
            let mut g = f.clone();
            g.resize(6000, 0x5a);
            g
        })
        .collect();
    frames.extend(long);
    // Frames cut around the native filter's up-front bound (`ebpf::UPFRONT_MAX`, and
    // the bounds below it the table's programs check), so each program runs both its
    // fast copy and its slow one (a frame shorter than its bound) on the same headers.
    let cut: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= 80)
        .step_by(40)
        .flat_map(|f| {
            [54, 56, 57, 58, 59, 60, 61]
                .into_iter()
                .map(|n| f[..n].to_vec())
        })
        .collect();
    frames.extend(cut);
    frames.retain(|f| f.len() >= 14);
    frames
}

fn expressions() -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("exprs.txt")).expect("exprs.txt");
    let mut exprs: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    exprs.extend(
        [
            "udp src portrange 1024-1663",
            "tcp port 443 or (udp and not port 53)",
            "ip protochain 6",
            "ip6 protochain 6",
            "protochain 17",
            "len > 100 and len < 1000",
            "greater 4000",
            "ip[2:2] / 4 > 10 and ip[2:2] % 7 = 3",
            "ip[0] & 0xf << 2 > 20 or ip[8] >> 1 = 32",
            "ether[5000] = 0x5a",
            "ether[3990:4] = 0x5a5a5a5a",
            "tcp[(tcp[12] >> 4) * 4] = 0x47",
        ]
        .map(str::to_owned),
    );
    exprs
}

#[test]
fn native_filter_gives_the_reference_verdict_on_every_corpus_frame() {
    if !privileged() {
        return;
    }
    let t0 = std::time::Instant::now();
    let frames = corpus();
    eprintln!("{} frames read in {:?}", frames.len(), t0.elapsed());
    let mut failures = Vec::new();
    let mut runs = 0u64;
    let mut accepted = 0u64;
    let mut skipped = 0u64;
    for expr in expressions() {
        let filter = Filter::compile(&expr, LinkType::Ethernet, 262_144)
            .unwrap_or_else(|e| panic!("{expr:?} does not compile: {e}"));
        let insns = filter.insns();
        for (hook, kind) in [(Hook::Xdp, ProgKind::Xdp), (Hook::Tc, ProgKind::Tc)] {
            let prog = translate(insns, hook, Exit::Verdict)
                .unwrap_or_else(|e| panic!("{expr:?} does not translate: {e}"));
            let fd = prog_load(kind, &prog, "netcap_ftest")
                .unwrap_or_else(|e| panic!("{expr:?} as {hook:?} refused: {e}"));
            for (n, frame) in frames.iter().enumerate() {
                let max = if hook == Hook::Tc { TC_MAX } else { XDP_MAX };
                if frame.len() > max {
                    continue;
                }
                let want = cbpf::run(insns, frame, frame.len() as u32) != 0;
                let got = match test_run(std::os::fd::AsFd::as_fd(&fd), frame, 1) {
                    Ok(r) => r.retval,
                    // SCHED_CLS test runs pull the IPv4/IPv6 header into the linear
                    // part and refuse a frame too short for it.
                    Err(e) if hook == Hook::Tc && frame.len() < 54 => {
                        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
                        skipped += 1;
                        continue;
                    }
                    Err(e) => panic!(
                        "test run of {expr:?} ({hook:?}) frame {n} of {} bytes: {e}",
                        frame.len()
                    ),
                };
                runs += 1;
                accepted += u64::from(got == VERDICT_ACCEPT);
                let ok = match got {
                    VERDICT_ACCEPT => want,
                    VERDICT_REJECT => !want,
                    _ => false,
                };
                if !ok && failures.len() < 40 {
                    failures.push(format!(
                        "{expr:?} {hook:?} frame {n} ({} bytes): native {got}, reference {want}",
                        frame.len()
                    ));
                }
            }
        }
    }
    eprintln!(
        "{runs} runs over {} frames, {accepted} accepted, {skipped} short frames not run as TC",
        frames.len()
    );
    assert!(skipped < runs / 50, "{skipped} skipped");
    assert!(
        accepted > 1000 && accepted < runs / 2,
        "{accepted} of {runs}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
