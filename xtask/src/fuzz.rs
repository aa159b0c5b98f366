//! `cargo xtask fuzz [--secs N]`: every cargo-fuzz target for a bounded time, as CI
//! runs them on each submission.
//!
//! cargo-fuzz is installed once under `$CARGO_HOME/netcap-tools/` (pinned version).
//! Each target starts from the corpus kept in the repository, `fuzz/seeds/TARGET`
//! (chosen corpus captures; inputs worth keeping from a run go there, minimised with
//! `cargo fuzz cmin`), and the working corpus `fuzz/corpus/TARGET` (not kept: it grows
//! with every run); a crash leaves its input
//! in `fuzz/artifacts/TARGET/` (kept: not ignored by git) and fails the run: commit it
//! and replay it as a unit test next to the code it broke.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::run_checked;

const CARGO_FUZZ_VERSION: &str = "0.13.1";
/// The targets in `fuzz/Cargo.toml`.
const TARGETS: [&str; 3] = ["decode_format", "file_read", "filter_native"];

fn cargo_fuzz() -> Result<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let root = cargo_home
        .join("netcap-tools")
        .join(format!("cargo-fuzz-{CARGO_FUZZ_VERSION}"));
    let bin = root.join("bin").join("cargo-fuzz");
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (about a minute, once)");
    run_checked(
        crate::cargo(None)
            .args([
                "install",
                "cargo-fuzz",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
            ])
            .arg("--root")
            .arg(&root),
        "cargo install cargo-fuzz (needs network access to crates.io)",
    )?;
    Ok(bin)
}

pub fn run(root: &Path, secs: u64) -> Result<()> {
    let bin = cargo_fuzz()?;
    let fuzz = root.join("fuzz");
    for target in TARGETS {
        let corpus = fuzz.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let seeds = fuzz.join("seeds").join(target);
        eprintln!("xtask: fuzzing {target} for {secs} s");
        // `cargo fuzz ...` is cargo-fuzz called with its subcommand name first; calling
        // the binary so does the same without putting it on PATH.
        let mut run = std::process::Command::new(&bin);
        run.current_dir(&fuzz)
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .args(["fuzz", "run", "--release", target])
            .arg(&corpus);
        if seeds.is_dir() {
            run.arg(&seeds);
        }
        run.args([
            "--",
            &format!("-max_total_time={secs}"),
            "-rss_limit_mb=2048",
        ]);
        run_checked(&mut run, &format!("cargo fuzz run {target}"))?;
    }
    Ok(())
}
