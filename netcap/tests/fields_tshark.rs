//! `-F fields` against `tshark -T fields`, value for value.
//!
//! Both tools print every field netcap knows for each frame of a set of tcpdump's test
//! captures (Ethernet, 802.1Q and 802.1ad tags, ARP, IPv4, IPv6 with extension headers,
//! TCP with MPTCP and other options, UDP, ICMP, DNS over UDP and TCP, EDNS), tshark
//! with `-E occurrence=f` (the outermost header's value, as netcap prints) and absolute
//! sequence numbers (`-o tcp.relative_sequence_numbers:FALSE`, see
//! `netcap/src/output/fields.rs`). Every value must be the same, an absent field
//! empty in both; the test prints how many values it compared.
//!
//! Needs `tshark` on the PATH and the corpus next to the repository (`../shared`); the
//! test says so and passes when either is missing.
use std::path::{Path, PathBuf};
use std::process::Command;

/// Captures on which the two agree on every value (chosen for the protocols they
/// cover; tshark decodes beyond netcap elsewhere: tunnels, other link types).
const FILES: &[&str] = &[
    "802.1ad_QinQ.pcap",
    "dns_udp.pcap",
    "dns_tcp.pcap",
    "edns-opts.pcap",
    "mptcp-v0.pcap",
    "bgp-4byte-asn.pcap",
    "print-flags.pcap",
    "babel_rfc6126bis.pcap",
    "OSPFv3_with_AH.pcap",
    "dhcp-rfc4388.pcap",
    "IGMP_V2.pcap",
    "icmp-rfc8335.pcap",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests")
}

/// Every field `-F fields` knows, from the list its error message gives.
fn all_fields() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(["read", "-", "-F", "fields", "-e", "no.such.field"])
        .output()
        .expect("netcap runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let list = err
        .lines()
        .find_map(|l| l.split_once("known: ").map(|(_, names)| names.to_owned()))
        .expect("the error lists the fields");
    list.split(' ').map(str::to_owned).collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn fields_match_tshark() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("skipped: no tshark on the PATH");
        return;
    }
    if !corpus().is_dir() {
        eprintln!("skipped: no corpus at {}", corpus().display());
        return;
    }
    let fields = all_fields();
    assert!(fields.len() > 40, "{fields:?}");
    let mut compared = 0;
    let mut present = 0;
    let mut diffs = Vec::new();
    for name in FILES {
        let file = corpus().join(name);
        let mut nc = Command::new(env!("CARGO_BIN_EXE_netcap"));
        nc.arg("read").arg(&file).args(["-F", "fields"]);
        let mut ts = Command::new("tshark");
        ts.arg("-r").arg(&file).args([
            "-T",
            "fields",
            "-E",
            "occurrence=f",
            "-o",
            "tcp.relative_sequence_numbers:FALSE",
        ]);
        for f in &fields {
            nc.args(["-e", f]);
            ts.args(["-e", f]);
        }
        let (ours, theirs) = (run(&mut nc), run(&mut ts));
        assert_eq!(
            ours.lines().count(),
            theirs.lines().count(),
            "{name}: frames"
        );
        for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
            let (a, b): (Vec<&str>, Vec<&str>) = (a.split('\t').collect(), b.split('\t').collect());
            assert_eq!(a.len(), fields.len(), "{name} #{}: {a:?}", i + 1);
            for (j, f) in fields.iter().enumerate() {
                let (x, y) = (a[j], b.get(j).copied().unwrap_or(""));
                compared += 1;
                present += usize::from(!y.is_empty());
                if x != y {
                    diffs.push(format!("{name} #{} {f}: netcap {x:?}, tshark {y:?}", i + 1));
                }
            }
        }
    }
    eprintln!(
        "{} files, {} fields: {compared} values compared ({present} present in tshark's), \
         {} differ",
        FILES.len(),
        fields.len(),
        diffs.len()
    );
    assert!(
        present > 10_000,
        "too few values to mean anything: {present}"
    );
    assert!(
        diffs.is_empty(),
        "{}",
        diffs[..diffs.len().min(20)].join("\n")
    );
}
