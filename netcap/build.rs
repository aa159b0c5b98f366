//! Embeds the eBPF object built by `cargo xtask build` into the binary.
//!
//! The object lives at `target/ebpf/bpfel-unknown-none/release/netcap` (or wherever
//! `NETCAP_EBPF_OBJ` points). When it is missing, as in a plain `cargo check` or `cargo
//! clippy` on a machine without the BPF toolchain, the binary is built without it and
//! says at run time to use `cargo xtask build`.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(netcap_ebpf)");
    println!("cargo::rerun-if-env-changed=NETCAP_EBPF_OBJ");
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let default = manifest.join("../target/ebpf/bpfel-unknown-none/release/netcap");
    let obj = env::var_os("NETCAP_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or(default);
    println!("cargo::rerun-if-changed={}", obj.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("netcap.bpf.o");
    match fs::read(&obj) {
        Ok(bytes) => {
            fs::write(&out, bytes).expect("write OUT_DIR/netcap.bpf.o");
            println!("cargo::rustc-cfg=netcap_ebpf");
        }
        Err(_) => {
            let _ = fs::remove_file(&out);
        }
    }
}
