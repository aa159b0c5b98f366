//! `cargo xtask`: what cargo alone cannot do for netcap.
//!
//! - `setup`: the nightly `rust-src` component and a `bpf-linker` built against the
//!   nightly toolchain's own LLVM (idempotent; a second run takes well under a second).
//! - `build`: the eBPF object (nightly, `bpfel-unknown-none`) and then the release
//!   user-space binary, which embeds it.
//! - `run [-- ARGS]`: build, then `netcap capture ARGS` (as root, through sudo if needed).
//! - `test`: build, then every test, with the privileged (veth, XDP) ones enabled.
//! - `fuzz [--secs N]`: every cargo-fuzz target for N seconds (CI: 60), see `fuzz.rs`.
//! - `bench capture|offline|flows|kernel|drain [--quick]`, `bench soak [--secs N]`: build, then the
//!   end-to-end benchmarks (see `bench.rs`); results under `target/bench/`.
mod bench;
mod fuzz;
mod setup;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "netcap's build, run, test and bench tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the build needs: nightly rust-src and bpf-linker.
    Setup,
    /// Build the eBPF object and the release binary that embeds it.
    Build,
    /// Build, then run `netcap capture ARGS` with the privileges it needs.
    Run {
        /// Arguments for `netcap capture` (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every cargo-fuzz target for a bounded time (nightly; installs cargo-fuzz).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        secs: u64,
    },
    /// Build, then run all tests, including the privileged ones.
    Test {
        /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build, then benchmark live capture or file decoding against tcpdump.
    Bench {
        kind: bench::Kind,
        /// One run of each, fewer frames (about 3 minutes).
        #[arg(long)]
        quick: bool,
        /// Capture: only the tools whose name contains this (repeatable), e.g. "-F none";
        /// kernel-live: only netcap's cases whose name contains it (the floors always run).
        #[arg(long, allow_hyphen_values = true)]
        only: Vec<String>,
        /// Capture: only the top-rate scenarios, not the stepped rates.
        #[arg(long)]
        top_rate_only: bool,
        /// Capture: only the scenarios whose label contains this (repeatable), e.g.
        /// "512 B" or "all cores".
        #[arg(long)]
        scenario: Vec<String>,
        /// Capture: every netcap row again with this binary (an A/B of two builds in one
        /// interleaved run); its rows are named with " [B]".
        #[arg(long)]
        compare_bin: Option<std::path::PathBuf>,
        /// Capture: every netcap row again with these arguments added (repeatable, each
        /// a variant of its own, e.g. "-B 65536"); its rows are named with " [ARGS]".
        #[arg(long, allow_hyphen_values = true)]
        variant: Vec<String>,
        /// Repetitions of each run (default 3, 1 with --quick).
        #[arg(long)]
        runs: Option<usize>,
        /// Capture: frames per top-rate run, instead of what one core of trafgen sends
        /// in 0.8 s (more frames, finer /proc/stat figures).
        #[arg(long)]
        frames: Option<u64>,
        /// Soak: seconds of traffic.
        #[arg(long, default_value_t = 600)]
        secs: u64,
    },
}

fn main() {
    if let Err(err) = real_main() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root()?;
    match cli.cmd {
        Cmd::Setup => setup::setup(&root).map(|_| ()),
        Cmd::Build => build(&root).map(|_| ()),
        Cmd::Run { args } => {
            let bin = build(&root)?;
            let mut cmd = privileged(&bin);
            cmd.arg("capture").args(&args);
            let status = cmd.status().context("starting netcap")?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::Test { args } => test(&root, &args),
        Cmd::Fuzz { secs } => fuzz::run(&root, secs),
        Cmd::Bench {
            kind,
            quick,
            only,
            top_rate_only,
            scenario,
            compare_bin,
            variant,
            runs,
            frames,
            secs,
        } => {
            let bin = build(&root)?;
            let kbench = build_kbench(&root)?;
            let opts = bench::Options {
                quick,
                only,
                top_rate_only,
                scenario,
                compare_bin,
                variant,
                runs,
                frames,
                secs,
            };
            bench::run(&root, &bin, &kbench, kind, &opts)
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .context("run this through `cargo xtask`, which sets CARGO_MANIFEST_DIR")?;
    let root = Path::new(&manifest)
        .parent()
        .context("xtask's manifest dir has no parent")?
        .to_path_buf();
    Ok(root)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command for `bin` that runs as root: directly when we are root, else via sudo.
pub fn privileged(bin: &Path) -> Command {
    if is_root() {
        Command::new(bin)
    } else {
        let mut cmd = Command::new("sudo");
        cmd.arg("-E").arg(bin);
        cmd
    }
}

/// `cargo` with the environment of the outer `cargo xtask` removed, so the inner build
/// picks its own toolchain.
pub fn cargo(toolchain: Option<&str>) -> Command {
    let mut cmd = Command::new("cargo");
    if let Some(tc) = toolchain {
        cmd.arg(format!("+{tc}"));
    }
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTDOC",
        "CARGO",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Builds everything; returns the path of the release binary.
fn build(root: &Path) -> Result<PathBuf> {
    let tools = setup::setup(root)?;
    let obj = build_ebpf(root, &tools)?;
    run_checked(
        cargo(None)
            .current_dir(root)
            .env("NETCAP_EBPF_OBJ", &obj)
            .args(["build", "--release", "--package", "netcap"]),
        "cargo build --release --package netcap",
    )?;
    Ok(root.join("target/release/netcap"))
}

/// Builds the kernel bench's helper (`netcap/examples/kbench.rs`) after [`build`];
/// returns its path.
fn build_kbench(root: &Path) -> Result<PathBuf> {
    let obj = root.join("target/ebpf/bpfel-unknown-none/release/netcap");
    run_checked(
        cargo(None)
            .current_dir(root)
            .env("NETCAP_EBPF_OBJ", &obj)
            .args([
                "build",
                "--release",
                "--package",
                "netcap",
                "--example",
                "kbench",
            ]),
        "cargo build --release --package netcap --example kbench",
    )?;
    Ok(root.join("target/release/examples/kbench"))
}

fn build_ebpf(root: &Path, tools: &setup::Tools) -> Result<PathBuf> {
    let path = std::env::join_paths(std::iter::once(tools.bpf_linker_dir.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    run_checked(
        cargo(Some("nightly"))
            .current_dir(root.join("netcap-ebpf"))
            .env("PATH", path)
            // BTF with func_info: the verifier refuses a callback (the filter's
            // `bpf_loop` step function) in a program without it ("missing btf func_info").
            .env(
                "CARGO_TARGET_BPFEL_UNKNOWN_NONE_RUSTFLAGS",
                "-C debuginfo=2 -C link-arg=--btf",
            )
            .args([
                "build",
                "--release",
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
            ])
            .arg("--target-dir")
            .arg(root.join("target/ebpf")),
        "building the eBPF program (cargo +nightly build --target bpfel-unknown-none)",
    )?;
    Ok(root.join("target/ebpf/bpfel-unknown-none/release/netcap"))
}

fn test(root: &Path, args: &[String]) -> Result<()> {
    let _bin = build(root)?;
    let obj = root.join("target/ebpf/bpfel-unknown-none/release/netcap");
    let mut cmd = cargo(None);
    cmd.current_dir(root)
        .env("NETCAP_EBPF_OBJ", &obj)
        .env("NETCAP_PRIVILEGED_TESTS", "1")
        .args(["test", "--workspace", "--release"])
        .args(args);
    if !is_root() {
        // Test binaries need root for namespaces, veth and BPF: let cargo start them via sudo.
        cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
    }
    run_checked(&mut cmd, "cargo test --workspace")
}
