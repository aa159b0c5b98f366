//! Filter expressions against tcpdump: every expression of `tests/filter/exprs.txt`
//! must select exactly the frames tcpdump selects, over every fixture in
//! `tests/filter/` (real captures from tcpdump's test suite with VLAN, QinQ, GRE, IPv6
//! extension headers and ARP, plus `mix.pcap`, made by `gen_mix.py` with one frame per
//! case: TCP flags, IPv4 options and fragments, IPv6 fragment/routing/hop-by-hop
//! headers, a truncated frame).
//!
//! tcpdump's answers were recorded once in `golden.json` by `make_golden.py`; the tests
//! need no tcpdump. Frames are read with netcap's own file reader, compiled with
//! libpcap (the same library tcpdump uses) and evaluated by netcap's classic BPF machine
//! (`Filter::matches`); a few cases also go through the `netcap read ... -w` binary.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::filter::Filter;
use netcap::packet::{Batch, LinkType};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter")
}

struct Case {
    expr: String,
    /// Fixture file name -> 0-based indexes of the frames tcpdump selected.
    selected: BTreeMap<String, Vec<usize>>,
}

fn golden() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("golden.json")).expect("golden.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("golden.json is JSON");
    let cases = json["cases"].as_array().expect("cases");
    cases
        .iter()
        .map(|c| Case {
            expr: c["expr"].as_str().expect("expr").to_owned(),
            selected: c["selected"]
                .as_object()
                .expect("selected")
                .iter()
                .map(|(file, idx)| {
                    let idx = idx.as_array().expect("indexes");
                    (
                        file.clone(),
                        idx.iter()
                            .map(|i| i.as_u64().expect("index") as usize)
                            .collect(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// All frames of a fixture, through netcap's own pcap reader.
fn frames(file: &str) -> Batch {
    let mut source = FileSource::open(&dir().join(file)).expect("fixture opens");
    let mut batch = Batch::default();
    while source.fill(&mut batch, usize::MAX).expect("fixture reads") != Fill::End {}
    batch
}

#[test]
fn table_has_enough_expressions_and_fixtures() {
    let cases = golden();
    assert!(cases.len() >= 40, "only {} expressions", cases.len());
    let listed = std::fs::read_to_string(dir().join("exprs.txt")).expect("exprs.txt");
    let listed: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let recorded: Vec<&str> = cases.iter().map(|c| c.expr.as_str()).collect();
    assert_eq!(listed, recorded, "exprs.txt changed: rerun make_golden.py");
    // Every case selects something somewhere, and none selects everything everywhere.
    for c in &cases {
        assert!(
            c.selected.values().any(|v| !v.is_empty()),
            "{:?} selects nothing",
            c.expr
        );
    }
}

#[test]
fn every_expression_selects_what_tcpdump_selects() {
    let cases = golden();
    let files: Vec<String> = cases[0].selected.keys().cloned().collect();
    let fixtures: Vec<(String, Batch)> = files.iter().map(|f| (f.clone(), frames(f))).collect();
    let mut failures = Vec::new();
    for case in &cases {
        let filter = Filter::compile(&case.expr, LinkType::Ethernet, 262_144)
            .unwrap_or_else(|e| panic!("{:?} does not compile: {e}", case.expr));
        for (file, batch) in &fixtures {
            let got: Vec<usize> = batch
                .iter()
                .enumerate()
                .filter(|(_, f)| filter.matches(f.data, f.meta.orig_len))
                .map(|(i, _)| i)
                .collect();
            let want = &case.selected[file];
            if &got != want {
                failures.push(format!(
                    "{:?} on {file}: netcap {got:?}, tcpdump {want:?}",
                    case.expr
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `netcap read FILE EXPR -w OUT` and returns the frames of OUT.
fn netcap_read(file: &str, expr: &str, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netcap"))
        .arg("read")
        .arg(dir().join(file))
        .arg("-w")
        .arg(out)
        .args(expr.split(' '))
        .output()
        .expect("netcap runs")
}

#[test]
fn netcap_read_writes_exactly_the_selected_frames() {
    let cases = golden();
    let tmp = std::env::temp_dir().join(format!("netcap-filter-table-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let picks = [
        ("tcp port 443 and not host 10.0.0.5", "mix.pcap"),
        ("vlan and udp", "mix.pcap"),
        ("ip[6:2] & 0x3fff != 0", "mix.pcap"),
        ("ip6 protochain 17", "mix.pcap"),
        ("vlan 1213 and ip", "various_gre.pcap"),
        ("arp host 192.1.2.23", "isakmp4500.pcap"),
        ("tcp[tcpflags] & tcp-syn != 0", "bgp-4byte-asn.pcap"),
    ];
    for (expr, file) in picks {
        let case = cases
            .iter()
            .find(|c| c.expr == expr)
            .expect("expression in the table");
        let out = tmp.join("out.pcap");
        let run = netcap_read(file, expr, &out);
        assert!(
            run.status.success(),
            "{expr}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let all = frames(file);
        let want: Vec<Vec<u8>> = case.selected[file]
            .iter()
            .map(|&i| all.get(i).expect("index in range").data.to_vec())
            .collect();
        let got: Vec<Vec<u8>> = frames_at(&out);
        assert_eq!(got, want, "{expr} on {file}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn frames_at(path: &Path) -> Vec<Vec<u8>> {
    let mut source = FileSource::open(path).expect("output opens");
    let mut batch = Batch::default();
    while source.fill(&mut batch, usize::MAX).expect("output reads") != Fill::End {}
    batch.iter().map(|f| f.data.to_vec()).collect()
}

#[test]
fn netcap_read_reports_libpcap_errors_before_output() {
    let tmp = std::env::temp_dir().join(format!("netcap-filter-err-{}.pcap", std::process::id()));
    let run = netcap_read("mix.pcap", "tcp port", &tmp);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("syntax error"), "{stderr}");
    let _ = std::fs::remove_file(&tmp);
}

#[test]
fn netcap_read_counts_filtered_frames() {
    let stats =
        std::env::temp_dir().join(format!("netcap-filter-stats-{}.json", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_netcap"))
        .arg("read")
        .arg(dir().join("mix.pcap"))
        .args(["-F", "none", "--stats-json"])
        .arg(&stats)
        .args(["udp"])
        .output()
        .expect("netcap runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&stats).expect("stats written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("stats are JSON");
    let selected = golden()
        .into_iter()
        .find(|c| c.expr == "udp")
        .expect("udp case")
        .selected["mix.pcap"]
        .len() as u64;
    let total = frames("mix.pcap").len() as u64;
    let text = json.to_string();
    assert!(
        text.contains(&format!("\"filtered\":{}", total - selected)),
        "{text}"
    );
    let _ = std::fs::remove_file(&stats);
}
