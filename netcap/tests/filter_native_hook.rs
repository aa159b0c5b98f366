//! The native filter in its place: netcap's XDP and TC hooks loaded with
//! `NATIVE_FILTER = 1`, the translated program installed between the hook half and the
//! capture half (`capture::native_filter`), every frame of the filter fixture `mix.pcap`
//! run through the hook with BPF_PROG_TEST_RUN. The counters must say what the
//! user-space reference says, frame for frame in total: `seen == filtered + captured`,
//! `captured` = the frames `Filter::matches` accepts, and the ring holds them.
//!
//! The `#[ignore]`d `kernel_ns_per_frame` is the BPF_PROG_TEST_RUN half of the kernel
//! bench (run it with `-- --ignored --nocapture`).
//!
//! Needs root: runs under `cargo xtask test` (`NETCAP_PRIVILEGED_TESTS=1`).
mod common;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::maps::{Array, PerCpuArray};
use aya::programs::{SchedClassifier, TestRun, TestRunOptions, Xdp};
use aya::Ebpf;
use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::filter::ebpf::Hook;
use netcap::filter::Filter;
use netcap::packet::{Batch, LinkType};
use netcap_common::{CbpfInsn, Counter};

fn ebpf_object() -> PathBuf {
    std::env::var_os("NETCAP_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/ebpf/bpfel-unknown-none/release/netcap")
        })
}

fn mix_frames() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter/mix.pcap");
    let mut source = FileSource::open(&path).expect("mix.pcap");
    let mut batch = Batch::default();
    while source.fill(&mut batch, usize::MAX).expect("reads") != Fill::End {}
    batch.iter().map(|f| f.data.to_vec()).collect()
}

/// netcap's object with `prog` in FILTER (the interpreter's copy) and, when `native`,
/// the hooks' tail call on and the native filter installed for `hook`.
fn load(prog: &[CbpfInsn], hook: Hook, native: bool) -> (Ebpf, Option<std::os::fd::OwnedFd>) {
    let len = prog.len() as u32;
    let native_flag = u32::from(native);
    let (snaplen, wakeup) = (netcap_common::MAX_SNAPLEN, 1u64 << 30);
    let mut ebpf = aya::EbpfLoader::new()
        .override_global("SNAPLEN", &snaplen, true)
        .override_global("WAKEUP_BYTES", &wakeup, true)
        .override_global("FILTER_LEN", &len, true)
        .override_global("NATIVE_FILTER", &native_flag, true)
        .load_file(ebpf_object())
        .expect("loading the eBPF object");
    // The per-CPU rings, in RINGS' slots (the kernel keeps them while RINGS holds them).
    netcap::capture::rings::Plan::new(1 << 26)
        .expect("a ring plan")
        .create(&mut ebpf)
        .expect("creating the rings");
    let mut filter: Array<_, CbpfInsn> =
        Array::try_from(ebpf.map_mut("FILTER").expect("FILTER")).expect("an array");
    for (i, insn) in prog.iter().enumerate() {
        filter.set(i as u32, *insn, 0).expect("FILTER slot");
    }
    match hook {
        Hook::Xdp => {
            let p: &mut Xdp = ebpf
                .program_mut("netcap_xdp")
                .expect("xdp")
                .try_into()
                .expect("XDP");
            p.load().expect("the verifier accepts netcap_xdp");
        }
        Hook::Tc => {
            let p: &mut SchedClassifier = ebpf
                .program_mut("netcap_tc")
                .expect("tc")
                .try_into()
                .expect("TC");
            p.load().expect("the verifier accepts netcap_tc");
        }
    }
    let fd = native.then(|| {
        netcap::capture::native_filter::install(&mut ebpf, prog, hook)
            .unwrap_or_else(|e| panic!("native filter for {hook:?}: {e}"))
    });
    (ebpf, fd)
}

/// Runs `frame` through the hook `repeat` times; returns (return value, ns per run).
fn run(ebpf: &Ebpf, hook: Hook, frame: &[u8], repeat: u32) -> (u32, u64) {
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.repeat = repeat;
    let r = match hook {
        Hook::Xdp => {
            let p: &Xdp = ebpf
                .program("netcap_xdp")
                .expect("xdp")
                .try_into()
                .expect("XDP");
            p.test_run(opts)
        }
        Hook::Tc => {
            let p: &SchedClassifier = ebpf
                .program("netcap_tc")
                .expect("tc")
                .try_into()
                .expect("TC");
            p.test_run(opts)
        }
    }
    .expect("test run");
    (r.return_value, r.duration.as_nanos() as u64)
}

fn counter(ebpf: &Ebpf, c: Counter) -> u64 {
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map("COUNTERS").expect("COUNTERS")).expect("per-CPU");
    counters.get(&(c as u32), 0).expect("counter").iter().sum()
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
            let (ebpf, _native) = load(f.insns(), hook, true);
            let pass = match hook {
                Hook::Xdp => 2,
                Hook::Tc => u32::MAX, // TCX_NEXT (-1)
            };
            for fr in &frames {
                assert_eq!(
                    run(&ebpf, hook, fr, 1).0,
                    pass,
                    "{expr} {hook:?}: lets it pass"
                );
            }
            let got = [
                counter(&ebpf, Counter::Seen),
                counter(&ebpf, Counter::Filtered),
                counter(&ebpf, Counter::Captured),
                counter(&ebpf, Counter::FilterError),
                counter(&ebpf, Counter::LostCopy),
            ];
            assert_eq!(
                got,
                [total, total - want, want, 0, 0],
                "{expr} {hook:?}: [seen, filtered, captured, errors, lost]"
            );
        }
    }
}

/// A 64-byte UDP/IPv4 frame from 10.0.0.1:`sport` to 10.0.0.2:`dport`.
fn udp_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&30u16.to_be_bytes());
    f
}

#[test]
#[ignore = "a bench: cargo test --release --test filter_native_hook -- --ignored --nocapture"]
fn kernel_ns_per_frame() {
    use netcap::capture::bpf_sys::{prog_load, test_run, ProgKind};
    use netcap::filter::ebpf::insn::{
        alu64_imm, exit, ldx, mov64_imm, mov64_reg, Insn, ADD, B, JGT, JMP, R0, R1, R2, R3, W, X,
    };
    const REPEAT: u32 = 200_000;
    // The floor: read one packet byte (bounds-checked), return XDP_PASS.
    let floor_prog = [
        ldx(W, R2, R1, 0),
        ldx(W, R3, R1, 4),
        mov64_imm(R0, 2),
        mov64_reg(R1, R2),
        alu64_imm(ADD, R1, 1),
        Insn::new(JMP | JGT | X, R1, R3, 1, 0),
        ldx(B, R1, R2, 0),
        exit(),
    ];
    let floor = prog_load(ProgKind::Xdp, &floor_prog, "netcap_floor").expect("floor loads");
    let frame = udp_frame(5000, 9999); // rejected by the portrange filter, matched by udp
    let floor_ns = test_run(floor.as_fd(), &frame, REPEAT)
        .expect("floor runs")
        .duration_ns;
    println!("| case | filter | XDP ns/run | floor ns | above floor |");
    println!("|---|---|---|---|---|");
    println!("| floor (1 byte read) | - | {floor_ns} | {floor_ns} | 0 |");
    let cases = [
        ("no filter", ""),
        ("rejects (portrange)", "udp src portrange 1024-1663"),
        (
            "accepts (20 insns)",
            "tcp port 443 or (udp and not port 53)",
        ),
    ];
    for (name, expr) in cases {
        let insns = if expr.is_empty() {
            Vec::new()
        } else {
            Filter::compile(expr, LinkType::Ethernet, 65535)
                .expect("compiles")
                .insns()
                .to_vec()
        };
        for native in [false, true] {
            if expr.is_empty() && native {
                continue;
            }
            let (ebpf, _fd) = load(&insns, Hook::Xdp, native);
            let (_, ns) = run(&ebpf, Hook::Xdp, &frame, REPEAT);
            let how = if expr.is_empty() {
                "-"
            } else if native {
                "native"
            } else {
                "interp"
            };
            println!(
                "| {name} | {how} | {ns} | {floor_ns} | {} |",
                ns as i64 - i64::from(floor_ns)
            );
        }
    }
}
