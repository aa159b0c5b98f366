//! Installs what building the eBPF program needs, without a human and idempotently.
//!
//! - The `nightly` toolchain's `rust-src` component (for `-Z build-std=core`).
//! - `bpf-linker`, built with `--features llvm-N` against the nightly toolchain's own
//!   `libLLVM` (the only LLVM on these machines). It is installed under
//!   `$CARGO_HOME/netcap-tools/bpf-linker-<llvm lib name>/`, keyed by the exact LLVM
//!   library, so a new nightly with a new LLVM gets a matching linker and nothing the
//!   user has in `PATH` is consulted or changed. The build takes about 90 s, once.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::run_checked;

/// Pinned so every machine links with the same linker.
const BPF_LINKER_VERSION: &str = "0.13.0";

pub struct Tools {
    /// Directory holding the `bpf-linker` executable (prepended to PATH for the eBPF build).
    pub bpf_linker_dir: PathBuf,
}

pub fn setup(_root: &Path) -> Result<Tools> {
    ensure_rust_src()?;
    ensure_libpcap_dev()?;
    let bpf_linker_dir = ensure_bpf_linker()?;
    Ok(Tools { bpf_linker_dir })
}

/// netcap links libpcap (its filter compiler, `pcap_compile`): installs Debian's
/// `libpcap-dev` when its header is missing and we are root; otherwise says what to do.
fn ensure_libpcap_dev() -> Result<()> {
    if ["/usr/include/pcap.h", "/usr/include/pcap/pcap.h"]
        .iter()
        .any(|p| Path::new(p).exists())
    {
        return Ok(());
    }
    if !crate::is_root() {
        eprintln!("xtask: libpcap-dev is missing: install it (sudo apt-get install libpcap-dev)");
        return Ok(());
    }
    eprintln!("xtask: installing libpcap-dev");
    run_checked(
        Command::new("apt-get").args(["update", "-qq"]),
        "apt-get update",
    )?;
    run_checked(
        Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "libpcap-dev"]),
        "apt-get install libpcap-dev",
    )
}

fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ensure_rust_src() -> Result<()> {
    let installed = output(
        Command::new("rustup").args(["component", "list", "--installed", "--toolchain", "nightly"]),
        "rustup component list --toolchain nightly (install rustup and a nightly toolchain: \
         `rustup toolchain install nightly`)",
    )?;
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    eprintln!("xtask: installing rust-src for the nightly toolchain");
    run_checked(
        Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]),
        "rustup component add rust-src --toolchain nightly",
    )
}

/// Finds the nightly toolchain's `lib/libLLVM.so.<ver>-rust-<...>-nightly`.
fn nightly_llvm() -> Result<(PathBuf, String)> {
    let sysroot = output(
        Command::new("rustc")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["+nightly", "--print", "sysroot"]),
        "rustc +nightly --print sysroot (install it with `rustup toolchain install nightly`)",
    )?;
    let lib = PathBuf::from(sysroot.trim()).join("lib");
    let entries = std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("libLLVM.so.") && name.contains("-rust-") {
            return Ok((entry.path(), name));
        }
    }
    bail!(
        "no libLLVM.so.*-rust-* in {}: the nightly toolchain should ship it; \
         reinstall it with `rustup toolchain install nightly`",
        lib.display()
    )
}

fn ensure_bpf_linker() -> Result<PathBuf> {
    let (llvm_lib, llvm_name) = nightly_llvm()?;
    // "libLLVM.so.22.1-rust-1.97.0-nightly" -> major "22"
    let major = llvm_name
        .trim_start_matches("libLLVM.so.")
        .split(['.', '-'])
        .next()
        .filter(|m| m.chars().all(|c| c.is_ascii_digit()) && !m.is_empty())
        .with_context(|| format!("cannot read the LLVM major version from {llvm_name}"))?
        .to_owned();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let base = cargo_home.join("netcap-tools");
    let key = llvm_name.trim_start_matches("libLLVM.so.");
    let root = base.join(format!("bpf-linker-{BPF_LINKER_VERSION}-llvm-{key}"));
    let bin_dir = root.join("bin");
    let linker = bin_dir.join("bpf-linker");
    if linker.is_file() {
        return Ok(bin_dir);
    }
    // bpf-linker's build finds LLVM as `$LLVM_PREFIX/lib/libLLVM.so`.
    let prefix = base.join(format!("llvm-{key}"));
    let prefix_lib = prefix.join("lib");
    std::fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("creating {}", prefix_lib.display()))?;
    let link = prefix_lib.join("libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&llvm_lib, &link)
        .with_context(|| format!("linking {} -> {}", link.display(), llvm_lib.display()))?;
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against {llvm_name} (about 90 s, once)"
    );
    run_checked(
        crate::cargo(None)
            .env("LLVM_PREFIX", &prefix)
            .args([
                "install",
                "bpf-linker",
                "--locked",
                "--version",
                BPF_LINKER_VERSION,
            ])
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{major}"),
            ])
            .arg("--root")
            .arg(&root),
        "cargo install bpf-linker (needs network access to crates.io)",
    )?;
    if !linker.is_file() {
        bail!("bpf-linker was built but {} is missing", linker.display());
    }
    Ok(bin_dir)
}
