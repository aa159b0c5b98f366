//! IPFIX files (`--ipfix-file`, RFC 5655) read by `tshark`: the same records as
//! tshark's per-direction oracle over the generated capture; with `--ipfix-biflow`,
//! one record per conversation with the reverse direction in RFC 5103 elements.
//! The collectors' tests are in `ipfix.rs`. A missing tshark skips the tests, except
//! under CI.
mod common;
#[path = "common/ipfix.rs"]
mod ipfix_common;
mod netcap_proc;

use ipfix_common::*;
use netcap_proc::tempdir;
use std::path::Path;
use std::process::Command;

#[test]
fn the_ipfix_file_holds_the_same_records_for_tshark() {
    if !tool("tshark") {
        return;
    }
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let (want, _) = oracle(&pcap);
    let file = dir.join("mix.ipfix");
    run_netcap(&[
        pcap.to_str().expect("utf-8"),
        "--ipfix-file",
        file.to_str().expect("utf-8"),
        "--ipfix-domain",
        "42",
    ]);
    let (msgs, records) = tshark_ipfix(&file);
    assert!(msgs.iter().all(|m| m["cflow.od_id"] == "42"), "{msgs:?}");
    assert!(
        msgs[0].keys().any(|k| k.contains("Template")),
        "{:?}",
        msgs[0]
    );
    let got: Records = records
        .iter()
        .map(|r| {
            let (key, fwd, _) = tshark_record(r);
            (key, fwd)
        })
        .collect();
    assert_eq!(records.len(), got.len(), "one record per direction");
    assert_eq!(
        got, want,
        "tshark's reading of the file (left) against the capture"
    );
}

#[test]
fn biflow_records_carry_the_reverse_direction() {
    if !tool("tshark") {
        return;
    }
    let dir = tempdir();
    let pcap = write_mix(&dir);
    let (want, _) = oracle(&pcap);
    let file = dir.join("bi.ipfix");
    run_netcap(&[
        pcap.to_str().expect("utf-8"),
        "--ipfix-file",
        file.to_str().expect("utf-8"),
        "--ipfix-biflow",
    ]);
    let (_, records) = tshark_ipfix(&file);
    // 7 conversations (ICMP has no ports: the replies meet their requests).
    assert_eq!(records.len(), 7);
    for r in &records {
        let (key, fwd, rev) = tshark_record(r);
        assert_eq!(Some(&fwd), want.get(&key), "{key:?}");
        let back = (key.1, key.0, key.2, key.4, key.3);
        assert_eq!(
            rev.unwrap_or_default(),
            want.get(&back).copied().unwrap_or_default()
        );
    }
    // tshark names the reverse elements as RFC 5103 defines them.
    let text = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-O", "cflow", "-V"])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.matches("(Reverse Type 1 BYTES)").count(), 7, "{text}");
}

/// tshark's JSON for an IPFIX file: each message's fields, and each data record's.
fn tshark_ipfix(
    file: &Path,
) -> (
    Vec<serde_json::Map<String, serde_json::Value>>,
    Vec<serde_json::Value>,
) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "json", "--no-duplicate-keys"])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    let (mut msgs, mut records) = (Vec::new(), Vec::new());
    for frame in frames.as_array().expect("frames") {
        let cflow = frame["_source"]["layers"]["cflow"]
            .as_object()
            .expect("cflow")
            .clone();
        for (k, set) in &cflow {
            if !k.starts_with("Set ") {
                continue;
            }
            for (k, rec) in set.as_object().expect("set") {
                if k.starts_with("Flow ") {
                    records.push(rec.clone());
                }
            }
        }
        msgs.push(cflow);
    }
    assert!(
        !records.is_empty(),
        "tshark found no records in {}",
        file.display()
    );
    (msgs, records)
}

/// One record from tshark's JSON: its key, its counts, and with biflow the reverse's.
fn tshark_record(r: &serde_json::Value) -> (Key, Count, Option<Count>) {
    let text = |name: &str| -> Vec<String> {
        match &r[name] {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let one = |names: &[&str]| -> String {
        names
            .iter()
            .find_map(|n| text(n).into_iter().next())
            .unwrap_or_else(|| panic!("no {names:?} in {r}"))
    };
    let proto: u8 = one(&["cflow.protocol"]).parse().expect("protocol");
    let port = |n: &str| {
        if matches!(proto, 6 | 17) {
            one(&[n]).parse().expect("port")
        } else {
            0
        }
    };
    let key = (
        one(&["cflow.srcaddr", "cflow.srcaddrv6"])
            .parse()
            .expect("src"),
        one(&["cflow.dstaddr", "cflow.dstaddrv6"])
            .parse()
            .expect("dst"),
        proto,
        port("cflow.srcport"),
        port("cflow.dstport"),
    );
    let nums =
        |n: &str| -> Vec<u64> { text(n).iter().map(|s| s.parse().expect("number")).collect() };
    let (octets, packets) = (nums("cflow.octets"), nums("cflow.packets"));
    let fwd = Count {
        packets: packets[0],
        octets: octets[0],
    };
    let rev = (octets.len() > 1).then(|| Count {
        packets: packets[1],
        octets: octets[1],
    });
    (key, fwd, rev)
}
