//! TCP health per flow (`--flows-json`) against tshark's `tcp.analysis`, no privileges.
//!
//! `netcap read F --flows-json OUT -F none --workers 4` (and timeouts of a year) runs
//! on each capture; tshark reads the same file once with `-T fields`, printing per TCP
//! frame its endpoints, `tcp.len`, `tcp.stream`, `tcp.analysis.initial_rtt` and the
//! flags `tcp.analysis.retransmission`, `.out_of_order`, `.duplicate_ack` and
//! `.zero_window` (a flag's field is printed on exactly the frames
//! `-Y tcp.analysis.<flag>` selects). Per direction of each conversation, the frame
//! counts and the `tcp.len` of the retransmissions must equal netcap's `retrans_*`,
//! `retrans_bytes_*`, `out_of_order_*`, `dup_ack_*` and `zero_window_*`; per
//! conversation, `rtt_syn_us + rtt_ack_us` must be tshark's initial RTT in whole µs,
//! and null where tshark has none.
//!
//! Captures:
//! - generated (`simulate`, in `common/tcp_sim.rs`): 60 connections, IPv4 and IPv6, microsecond and
//!   nanosecond timestamps, with losses before the capture point (retransmitted after
//!   a timeout, or fast after three duplicate ACKs), losses after it, reordering within
//!   the RTT, duplicates, spurious retransmissions, zero windows with probes,
//!   keep-alives, retransmitted SYNs, connections whose handshake was not captured;
//! - tcpdump's test captures with TCP (`shared/corpus/tcpdump-tests`, skipped when
//!   absent), [`CORPUS`]: those with retransmissions, duplicate ACKs, out-of-order
//!   segments or handshakes, minus tunnels (tshark analyses the inner TCP, netcap
//!   counts the outer flow) and `kday4`, `kday7` (an IPv4 total length beyond the
//!   frame: tshark cuts the segment to the frame, netcap takes the length the IP
//!   header gives, as for a snap length).
//!
//! Deliberate difference (see `flow/tcp_health.rs`): netcap has no RTT halves when the
//! SYN/ACK was not captured (a refused connection: SYN then RST); tshark still gives an
//! initial RTT. Checked as such: where netcap is null and tshark is not, the
//! conversation must have no SYN/ACK.
//!
//! When tshark is missing the test prints "skipped" and passes.
mod netcap_proc;
#[path = "common/tcp_sim.rs"]
mod tcp_sim;
#[path = "common/tshark.rs"]
mod tshark;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use netcap_proc::{tempdir, Netcap};
use pcap_file::TsResolution;
use tcp_sim::{simulate, write_pcap};

/// tcpdump test captures with TCP events or handshakes that tshark and netcap both
/// see as plain TCP/IP (see the module doc).
const CORPUS: &[&str] = &[
    "pptp.pcap",     // every frame twice: retransmissions, dup ACKs
    "kday3.pcap",    // fuzzed: clocks jumping by weeks
    "mptcp-v0.pcap", // dup ACKs
    "mptcp-fclose.pcap",
    "ssh.pcap",                         // a FIN retransmitted, dup ACKs with D-SACK
    "bgp-shutdown-msg-variations.pcap", // SYNs with data, out of order
    "bgp-as-path-oobr.pcap",            // out of order
    "bgp-infinite-loop.pcap",           // 96-byte snap length
    "of10_inv_OFPST_FLOW.pcap",
    "bgp-4byte-asn.pcap", // handshakes: initial RTTs
    "bgp-bgpsec.pcap",
    "tfo-5c1fa7f9ae91.pcap", // TCP Fast Open
    "tcp-handshake-nano.pcap",
    "dns_tcp.pcap",
    "whois.pcap",
    "accecn_handshake.pcap",
    "resp_1_benchmark.pcap",
    "resp_3_malicious.pcap",
    "of10_pf5240.pcap",
    "print-flags.pcap",
];

/// Sender's figures in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Health {
    retrans: u64,
    retrans_bytes: u64,
    out_of_order: u64,
    dup_ack: u64,
    zero_window: u64,
}

type Endpoint = (IpAddr, u16);
/// Per (sender, receiver); only directions with something to count.
type Dirs = BTreeMap<(Endpoint, Endpoint), Health>;
/// Per conversation (endpoints ordered): the initial RTT in µs, if any.
type Rtts = BTreeMap<(Endpoint, Endpoint), Option<u64>>;

fn conv(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    (a.min(b), a.max(b))
}

/// netcap's records, added up per direction and conversation.
fn netcap_counts(pcap: &Path) -> (Dirs, Rtts) {
    let dir = tempdir();
    let out = dir.join("flows.jsonl");
    let run = Netcap::run(&[
        "read",
        &pcap.to_string_lossy(),
        "--flows-json",
        &out.to_string_lossy(),
        "-F",
        "none",
        // Timeouts of a year: the records must not split a conversation (each record
        // starts its analysis afresh), even in the fuzzed captures whose clocks jump
        // by weeks.
        "--flow-idle",
        "31536000",
        "--flow-active",
        "31536000",
        // Four workers: frames of one conversation decoded by different workers still
        // reach its shard in capture order (the writer forwards the updates in batch
        // order, pipeline/worker.rs), or the analysis would see reordering.
        "--workers",
        "4",
    ]);
    assert!(run.status.success(), "{}: {}", pcap.display(), run.stderr);
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let (mut dirs, mut rtts) = (Dirs::new(), Rtts::new());
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v["proto"] != 6 {
            continue;
        }
        let addr = |k: &str| -> IpAddr {
            v[k].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {line}"))
        };
        let num = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {line}"));
        let a = (addr("a_addr"), num("a_port") as u16);
        let b = (addr("b_addr"), num("b_port") as u16);
        for (from, to, d) in [(a, b, "ab"), (b, a, "ba")] {
            let h = Health {
                retrans: num(&format!("retrans_{d}")),
                retrans_bytes: num(&format!("retrans_bytes_{d}")),
                out_of_order: num(&format!("out_of_order_{d}")),
                dup_ack: num(&format!("dup_ack_{d}")),
                zero_window: num(&format!("zero_window_{d}")),
            };
            if h != Health::default() {
                let e = dirs.entry((from, to)).or_default();
                e.retrans += h.retrans;
                e.retrans_bytes += h.retrans_bytes;
                e.out_of_order += h.out_of_order;
                e.dup_ack += h.dup_ack;
                e.zero_window += h.zero_window;
            }
        }
        let rtt = match (v["rtt_syn_us"].as_u64(), v["rtt_ack_us"].as_u64()) {
            (Some(s), Some(a)) => Some(s + a),
            (None, None) => None,
            _ => panic!("one RTT half without the other: {line}"),
        };
        // A later record of the conversation (after a timeout) has no handshake.
        let slot = rtts.entry(conv(a, b)).or_default();
        *slot = slot.or(rtt);
    }
    (dirs, rtts)
}

const FIELDS: [&str; 14] = [
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tcp.len",
    "tcp.stream",
    "tcp.analysis.initial_rtt",
    "tcp.analysis.retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.zero_window",
    "tcp.flags",
];

/// tshark's view: the same maps, plus the conversations that had a SYN/ACK.
fn tshark_counts(pcap: &Path) -> (Dirs, Rtts, BTreeSet<(Endpoint, Endpoint)>) {
    let text = tshark::fields(pcap, Some("tcp"), &FIELDS);
    let (mut dirs, mut rtts, mut synack) = (Dirs::new(), Rtts::new(), BTreeSet::new());
    let mut streams: BTreeMap<(Endpoint, Endpoint), BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let f = |i: usize| c.get(i).copied().unwrap_or("");
        let addr = |v4: usize, v6: usize| -> IpAddr {
            let s = if f(v4).is_empty() { f(v6) } else { f(v4) };
            s.parse()
                .unwrap_or_else(|e| panic!("address {s:?} in {line:?}: {e}"))
        };
        let num = |s: &str| -> u64 {
            s.parse()
                .unwrap_or_else(|e| panic!("number {s:?} in {line:?}: {e}"))
        };
        let from = (addr(0, 1), num(f(2)) as u16);
        let to = (addr(3, 4), num(f(5)) as u16);
        let key = conv(from, to);
        streams.entry(key).or_default().insert(f(7).to_string());
        let rtt = (!f(8).is_empty()).then(|| epoch_ns(f(8)) / 1000);
        let slot = rtts.entry(key).or_default();
        *slot = slot.or(rtt);
        // No flags when the capture cut the TCP header.
        let flags = u64::from_str_radix(f(13).trim_start_matches("0x"), 16).unwrap_or(0);
        if flags & 0x12 == 0x12 {
            synack.insert(key);
        }
        let h = Health {
            retrans: u64::from(!f(9).is_empty()),
            retrans_bytes: if f(9).is_empty() { 0 } else { num(f(6)) },
            out_of_order: u64::from(!f(10).is_empty()),
            dup_ack: u64::from(!f(11).is_empty()),
            zero_window: u64::from(!f(12).is_empty()),
        };
        if h != Health::default() {
            let e = dirs.entry((from, to)).or_default();
            e.retrans += h.retrans;
            e.retrans_bytes += h.retrans_bytes;
            e.out_of_order += h.out_of_order;
            e.dup_ack += h.dup_ack;
            e.zero_window += h.zero_window;
        }
    }
    // Ports reused for a second connection: tshark's streams split it, netcap's record
    // does not, so its RTT is not compared.
    for (key, s) in streams {
        if s.len() > 1 {
            rtts.remove(&key);
        }
    }
    (dirs, rtts, synack)
}

/// `0.010000000` (tshark's relative times, up to 9 decimals) to ns, exactly.
fn epoch_ns(s: &str) -> u64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = secs.parse().unwrap_or_else(|e| panic!("time {s:?}: {e}"));
    let ns: u64 = format!("{frac:0<9}")
        .get(..9)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("time {s:?}"));
    secs * 1_000_000_000 + ns
}

/// Compares one capture; returns how many directions and RTTs agreed.
fn compare(pcap: &Path) -> (usize, usize) {
    let (got, got_rtt) = netcap_counts(pcap);
    let (want, want_rtt, synack) = tshark_counts(pcap);
    let mut diff = String::new();
    for k in got.keys().chain(want.keys()).collect::<BTreeSet<_>>() {
        let (g, w) = (got.get(k), want.get(k));
        if g != w {
            diff.push_str(&format!("{k:?}\n  netcap {g:?}\n  tshark {w:?}\n"));
        }
    }
    let mut rtts = 0;
    for (k, w) in &want_rtt {
        let g = got_rtt.get(k).copied().flatten();
        match (g, *w) {
            (g, w) if g == w => rtts += usize::from(w.is_some()),
            (None, Some(_)) if !synack.contains(k) => {} // no SYN/ACK: no halves
            (g, w) => diff.push_str(&format!("{k:?} RTT µs: netcap {g:?}, tshark {w:?}\n")),
        }
    }
    assert!(diff.is_empty(), "{}:\n{diff}", pcap.display());
    (want.len(), rtts)
}

fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: tshark not found");
    }
    ok
}

#[test]
fn generated_losses_and_reordering_match_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = tempdir();
    for (name, v6, res) in [
        ("v4_us.pcap", false, TsResolution::MicroSecond),
        ("v6_ns.pcap", true, TsResolution::NanoSecond),
    ] {
        let path = dir.join(name);
        let frames = simulate(30, v6, res == TsResolution::NanoSecond);
        write_pcap(&path, &frames, res);
        let (dirs, rtts) = compare(&path);
        eprintln!("{name}: {dirs} directions with events, {rtts} RTTs agree");
        // The generator must have produced each kind of event.
        let (want, _, _) = tshark_counts(&path);
        let sum = want.values().fold(Health::default(), |a, h| Health {
            retrans: a.retrans + h.retrans,
            retrans_bytes: a.retrans_bytes + h.retrans_bytes,
            out_of_order: a.out_of_order + h.out_of_order,
            dup_ack: a.dup_ack + h.dup_ack,
            zero_window: a.zero_window + h.zero_window,
        });
        assert!(
            sum.retrans >= 10 && sum.out_of_order >= 3 && sum.dup_ack >= 10,
            "{name}: {sum:?}"
        );
        assert!(
            sum.zero_window >= 3 && rtts >= 15,
            "{name}: {sum:?}, {rtts} RTTs"
        );
    }
}

#[test]
fn corpus_captures_match_tshark() {
    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    if !corpus.is_dir() {
        eprintln!("skipped: no corpus at {}", corpus.display());
        return;
    }
    if !have_tshark() {
        return;
    }
    let (mut dirs, mut rtts) = (0, 0);
    for name in CORPUS {
        let (d, r) = compare(&corpus.join(name));
        (dirs, rtts) = (dirs + d, rtts + r);
    }
    eprintln!(
        "{} captures: {dirs} directions with events, {rtts} RTTs agree",
        CORPUS.len()
    );
    assert!(dirs >= 12 && rtts >= 45, "{dirs} directions, {rtts} RTTs");
}
