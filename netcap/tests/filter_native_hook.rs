//! The filter in its place: netcap's XDP and TC (ingress, egress) hooks loaded with
//! `NATIVE_FILTER = 1`, the translated program installed between the hook half and the
//! capture half (`capture::native_filter`), or with the interpreter, every frame of the
//! filter fixture `mix.pcap` run through the hook with BPF_PROG_TEST_RUN. The counters
//! must say what the user-space reference says, frame for frame in total: `seen` (the
//! sum of the end counters) is the frames run, `filtered + captured` too, `captured` =
//! the frames `Filter::matches` accepts: a path that ends in no counter, or in two,
//! fails here.
//!
//! The kernel bench's cases (`capture::kbench`, `cargo xtask bench kernel`) are run here
//! a few times each, for their own checks.
//!
//! Needs root: runs under `cargo xtask test` (`NETCAP_PRIVILEGED_TESTS=1`).
mod common;

use std::path::Path;

use netcap::capture::kbench::{self, FilterMode, Hooked, Prog};
use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::filter::ebpf::{SLOT_CAPTURE, SLOT_FILTER};
use netcap::filter::Filter;
use netcap::packet::{Batch, LinkType};
use netcap_common::{CbpfInsn, Counter};

fn mix_frames() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter/mix.pcap");
    let mut source = FileSource::open(&path).expect("mix.pcap");
    let mut batch = Batch::default();
    while source.fill(&mut batch, usize::MAX).expect("reads") != Fill::End {}
    batch.iter().map(|f| f.data.to_vec()).collect()
}

/// Every frame of mix.pcap through `prog` loaded with `insns` the way `mode` says (and,
/// if `cleared`, that slot of its program array emptied): `[seen, filtered, captured,
/// filter errors, lost to a failed copy or tail call]`, `seen` derived from the end
/// counters.
fn counts(
    frames: &[Vec<u8>],
    insns: &[CbpfInsn],
    prog: Prog,
    mode: FilterMode,
    cleared: Option<u32>,
) -> [u64; 5] {
    let what = format!("{prog:?} {mode:?} cleared {cleared:?}");
    let mut hooked =
        Hooked::load(insns, prog, mode).unwrap_or_else(|e| panic!("{what}: loading: {e}"));
    if let Some(slot) = cleared {
        hooked.clear_slot(slot).expect("clearing the slot");
    }
    for fr in frames {
        assert_eq!(
            hooked.run(fr, 1).expect("test run").retval,
            kbench::pass(prog.hook()),
            "{what}: lets it pass"
        );
    }
    let counter = |c| hooked.counter(c).expect("counter");
    assert_eq!(counter(Counter::LostRingFull), 0, "{what}");
    assert_eq!(counter(Counter::Aggregated), 0, "{what}");
    [
        hooked.seen().expect("seen"),
        counter(Counter::Filtered),
        counter(Counter::Captured),
        counter(Counter::FilterError),
        counter(Counter::LostCopy),
    ]
}

/// Every path through the hooks ends in exactly one end counter (the frames seen are
/// derived from them): each frame is counted once where the user-space filter says, on
/// every hook, with the filter native or interpreted.
#[test]
fn the_filter_counts_every_frame_like_user_space_on_every_hook() {
    common::needs_privileges!();
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
        for prog in Prog::ALL {
            for mode in [FilterMode::Native, FilterMode::Interp] {
                assert_eq!(
                    counts(&frames, f.insns(), prog, mode, None),
                    [total, total - want, want, 0, 0],
                    "{expr} {prog:?} {mode:?}: [seen, filtered, captured, errors, lost]"
                );
            }
        }
    }
}

/// The paths off the usual ones end in one counter too: a native filter whose tail call
/// into the capture half fails (`LostCopy` for each frame it accepts), a hook whose tail
/// call into the native filter fails (the interpreter takes the frame), an interpreted
/// program that fails open (`FilterError` beside `Captured`), no filter at all.
#[test]
fn failed_tail_calls_and_filter_errors_end_in_one_counter_on_every_hook() {
    common::needs_privileges!();
    let frames = mix_frames();
    let total = frames.len() as u64;
    let f = Filter::compile("udp port 53 or arp", LinkType::Ethernet, 65535).expect("compiles");
    let want = frames
        .iter()
        .filter(|x| f.matches(x, x.len() as u32))
        .count() as u64;
    assert!(want > 0 && want < total, "a useless test");
    let bad = [
        CbpfInsn {
            code: 0xff,
            jt: 0,
            jf: 0,
            k: 0,
        },
        CbpfInsn {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    for prog in Prog::ALL {
        let native = FilterMode::Native;
        assert_eq!(
            counts(&frames, f.insns(), prog, native, Some(SLOT_CAPTURE)),
            [total, total - want, 0, 0, want],
            "{prog:?}: the capture half's slot empty"
        );
        assert_eq!(
            counts(&frames, f.insns(), prog, native, Some(SLOT_FILTER)),
            [total, total - want, want, 0, 0],
            "{prog:?}: the native filter's slot empty"
        );
        assert_eq!(
            counts(&frames, &bad, prog, FilterMode::Interp, None),
            [total, 0, total, total, 0],
            "{prog:?}: an unknown opcode fails open"
        );
        assert_eq!(
            counts(&frames, &[], prog, native, None),
            [total, 0, total, 0, 0],
            "{prog:?}: no filter"
        );
    }
}

/// The kernel bench's cases (`cargo xtask bench kernel`) run and check themselves on
/// every hook: each returns the hook's verdict and counts every run where the
/// user-space filter says, none lost (a few runs each: the check, not the timing).
#[test]
fn every_kernel_bench_case_counts_its_runs_on_every_hook() {
    common::needs_privileges!();
    for prog in Prog::ALL {
        for case in prog.cases() {
            if let Err(e) = kbench::measure(prog, case, 7) {
                panic!("{prog:?} {} {:?}: {e}", case.name, case.mode);
            }
        }
    }
}
