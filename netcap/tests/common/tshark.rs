//! tshark as the oracle: its per-frame fields (`flows_tshark.rs`, `tcp_health.rs`).

use std::path::Path;
use std::process::Command;

/// `tshark -n -r PCAP [-Y FILTER] -T fields -E separator=/t -E occurrence=f -e F...`:
/// a line per frame (per frame `filter` selects), the first occurrence of each field,
/// tab-separated. Panics when tshark fails or prints what is not UTF-8.
pub fn fields(pcap: &Path, filter: Option<&str>, fields: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(pcap);
    if let Some(filter) = filter {
        cmd.args(["-Y", filter]);
    }
    cmd.args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("run tshark: {e}"));
    assert!(
        out.status.success(),
        "tshark {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("tshark output: {e}"))
}
