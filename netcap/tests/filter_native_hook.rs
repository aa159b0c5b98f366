//! The native filter in its place: netcap's XDP and TC hooks loaded with
//! `NATIVE_FILTER = 1`, the translated program installed between the hook half and the
//! capture half (`capture::native_filter`), every frame of the filter fixture `mix.pcap`
//! run through the hook with BPF_PROG_TEST_RUN. The counters must say what the
//! user-space reference says, frame for frame in total: `seen == filtered + captured`,
//! `captured` = the frames `Filter::matches` accepts, and the ring holds them.
//!
//! The kernel bench's cases (`capture::kbench`, `cargo xtask bench kernel`) are run here
//! a few times each, for their own checks.
//!
//! Needs root: runs under `cargo xtask test` (`NETCAP_PRIVILEGED_TESTS=1`).
mod common;

use std::path::Path;

use netcap::capture::kbench::{self, FilterMode, Hooked, CASES};
use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::filter::ebpf::Hook;
use netcap::filter::Filter;
use netcap::packet::{Batch, LinkType};
use netcap_common::Counter;

fn mix_frames() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter/mix.pcap");
    let mut source = FileSource::open(&path).expect("mix.pcap");
    let mut batch = Batch::default();
    while source.fill(&mut batch, usize::MAX).expect("reads") != Fill::End {}
    batch.iter().map(|f| f.data.to_vec()).collect()
}

#[test]
fn the_native_filter_counts_every_frame_like_user_space_on_both_hooks() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    let frames = mix_frames();
    let total = frames.len() as u64;
    for expr in [
        "udp port 53 or arp",
        "ip6 protochain 6",
        "vlan and udp",
        "tcp port 443 or (udp and not port 53)",
        "less 60",
    ] {
        let f = Filter::compile(expr, LinkType::Ethernet, 65535).expect("compiles");
        let want = frames
            .iter()
            .filter(|x| f.matches(x, x.len() as u32))
            .count() as u64;
        for hook in [Hook::Xdp, Hook::Tc] {
            let hooked = Hooked::load(f.insns(), hook, FilterMode::Native)
                .unwrap_or_else(|e| panic!("{expr} {hook:?}: {e}"));
            for fr in &frames {
                assert_eq!(
                    hooked.run(fr, 1).expect("test run").retval,
                    kbench::pass(hook),
                    "{expr} {hook:?}: lets it pass"
                );
            }
            let counter = |c| hooked.counter(c).expect("counter");
            let got = [
                counter(Counter::Seen),
                counter(Counter::Filtered),
                counter(Counter::Captured),
                counter(Counter::FilterError),
                counter(Counter::LostCopy),
            ];
            assert_eq!(
                got,
                [total, total - want, want, 0, 0],
                "{expr} {hook:?}: [seen, filtered, captured, errors, lost]"
            );
        }
    }
}

/// The kernel bench's cases (`cargo xtask bench kernel`) run and check themselves on
/// both hooks: each returns the hook's verdict and counts every run where the
/// user-space filter says, none lost (a few runs each: the check, not the timing).
#[test]
fn every_kernel_bench_case_counts_its_runs_on_both_hooks() {
    if !common::privileged() {
        eprintln!("skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)");
        return;
    }
    for hook in [Hook::Xdp, Hook::Tc] {
        for case in &CASES {
            if let Err(e) = kbench::measure(hook, case, 7) {
                panic!("{hook:?} {} {:?}: {e}", case.name, case.mode);
            }
        }
    }
}
