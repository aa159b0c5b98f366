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
//! - generated here ([`simulate`]): 60 connections, IPv4 and IPv6, microsecond and
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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netcap_proc::{tempdir, Netcap};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

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
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(pcap).args([
        "-Y",
        "tcp",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=f",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("run tshark: {e}"));
    assert!(
        out.status.success(),
        "tshark {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
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

// ---- the generator ----

const PSH_ACK: u8 = 0x18;
const ACK: u8 = 0x10;
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// A captured frame: time (ns since the epoch) and bytes.
type Frame = (u64, Vec<u8>);

/// One connection as the capture point sees it; times in ns.
struct Conn<'a> {
    client: Endpoint,
    server: Endpoint,
    t: u64,
    frames: &'a mut Vec<Frame>,
    /// Next sequence number each side sends, and what the server has received in order.
    cseq: u32,
    sseq: u32,
    rcv_next: u32,
    /// Segments the server holds above a hole: (seq, len).
    held: Vec<(u32, u32)>,
    window: u16,
}

impl Conn<'_> {
    fn emit(&mut self, from_client: bool, flags: u8, seq: u32, ack: u32, len: u32, win: u16) {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let f = tcp_frame(src, dst, flags, seq, ack, win, len as usize);
        self.frames.push((self.t, f));
    }

    fn wait_us(&mut self, us: u64) {
        self.t += us * 1000;
    }

    /// The server's cumulative ACK (a duplicate when nothing new arrived in order).
    fn server_ack(&mut self) {
        let (seq, ack, w) = (self.sseq, self.rcv_next, self.window);
        self.emit(false, ACK, seq, ack, 0, w);
    }

    /// The server receives a client segment (it may be a duplicate or out of order).
    fn arrive(&mut self, seq: u32, len: u32) {
        if seq == self.rcv_next {
            self.rcv_next = seq.wrapping_add(len);
            loop {
                let next = self.rcv_next;
                let Some(i) = self.held.iter().position(|&(s, _)| s == next) else {
                    break;
                };
                let (s, l) = self.held.swap_remove(i);
                self.rcv_next = s.wrapping_add(l);
            }
        } else if (seq.wrapping_sub(self.rcv_next) as i32) > 0 {
            self.held.push((seq, len));
        }
    }
}

/// `n` connections with random faults; see the module doc.
fn simulate(n: u16, v6: bool, ns: bool) -> Vec<Frame> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(n) ^ u64::from(v6));
    let mut frames = Vec::new();
    for i in 0..n {
        let host = |net: u16, h: u16| -> IpAddr {
            if v6 {
                Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, 0, h).into()
            } else {
                Ipv4Addr::new(10, net as u8, (h >> 8) as u8, h as u8).into()
            }
        };
        let mut c = Conn {
            client: (host(1, i + 1), 33000 + i),
            server: (host(2, 1 + i % 7), 44444),
            t: 1_700_000_000_000_000_000 + u64::from(i) * 3_000_000_000,
            frames: &mut frames,
            cseq: rng.next() as u32,
            sseq: rng.next() as u32,
            rcv_next: 0,
            held: Vec::new(),
            window: rng.range(2000, 65535) as u16,
        };
        if ns {
            c.t += rng.range(0, 1000); // sub-µs times
        }
        let (rtt_a, rtt_b) = (rng.range(500, 20_000), rng.range(100, 20_000));
        if !rng.one_in(5) {
            let (cs, ss) = (c.cseq, c.sseq);
            c.emit(true, SYN, cs, 0, 0, 64240);
            if rng.one_in(4) {
                c.wait_us(1_000_000);
                c.emit(true, SYN, cs, 0, 0, 64240); // retransmitted SYN
            }
            c.wait_us(rtt_a);
            c.emit(false, SYN | ACK, ss, cs.wrapping_add(1), 0, 65160);
            c.wait_us(rtt_b);
            c.cseq = cs.wrapping_add(1);
            c.sseq = ss.wrapping_add(1);
            let (cs, ss) = (c.cseq, c.sseq);
            c.emit(true, ACK, cs, ss, 0, 1000);
        }
        c.rcv_next = c.cseq;
        transfer(&mut c, &mut rng, rtt_a + rtt_b);
    }
    frames.sort_by_key(|f| f.0);
    frames
}

/// Client data with faults, the server's ACKs, a response, keep-alives and the close.
fn transfer(c: &mut Conn<'_>, rng: &mut Rng, rtt_us: u64) {
    let mut lost: Vec<(u32, u32)> = Vec::new();
    let mut held_back: Option<(u32, u32)> = None;
    let mut dup_acks = 0;
    let mut prev = None;
    for _ in 0..rng.range(5, 25) {
        let len = rng.range(1, 1400) as u32;
        let seq = c.cseq;
        c.cseq = seq.wrapping_add(len);
        let ack = c.sseq;
        c.wait_us(rng.range(50, 3000));
        match rng.next() % 12 {
            // Lost before the capture point: neither seen nor received.
            0 if lost.is_empty() => {
                lost.push((seq, len));
                continue;
            }
            // Overtaken by the next segment (within the RTT).
            1 if held_back.is_none() => {
                held_back = Some((seq, len));
                continue;
            }
            _ => {}
        }
        c.emit(true, PSH_ACK, seq, ack, len, 1000);
        c.arrive(seq, len);
        if let Some((s, l)) = held_back.take() {
            c.server_ack();
            c.wait_us(rng.range(10, rtt_us.max(20) / 2));
            c.emit(true, PSH_ACK, s, ack, l, 1000);
            c.arrive(s, l);
        }
        let before = c.rcv_next;
        c.wait_us(rng.range(20, 400));
        c.server_ack();
        dup_acks = if lost.is_empty() || c.rcv_next != before {
            0
        } else {
            dup_acks + 1
        };
        if let Some(&(s, l)) = lost.first() {
            // Fast retransmission after three duplicates, else after a timeout.
            if dup_acks >= 3 || rng.one_in(6) {
                c.wait_us(if dup_acks >= 3 {
                    rng.range(10, 900)
                } else {
                    300_000
                });
                c.emit(true, PSH_ACK, s, ack, l, 1000);
                c.arrive(s, l);
                lost.clear();
                c.wait_us(rng.range(20, 400));
                c.server_ack();
            }
        }
        match rng.next() % 20 {
            // A segment the capture saw sent again, after a timeout or at once: a
            // retransmission.
            0 => {
                c.wait_us(250_000);
                c.emit(true, PSH_ACK, seq, ack, len, 1000);
            }
            1 => {
                c.wait_us(5);
                c.emit(true, PSH_ACK, seq, ack, len, 1000);
            }
            // The one before, already acknowledged, at once: a spurious retransmission
            // (within the RTT, out of order but for the ACK).
            2 => {
                if let Some((s, l)) = prev {
                    c.wait_us(5);
                    c.emit(true, PSH_ACK, s, ack, l, 1000);
                }
            }
            _ => {}
        }
        prev = Some((seq, len));
    }
    for (s, l) in lost.drain(..) {
        c.wait_us(400_000);
        let ack = c.sseq;
        c.emit(true, PSH_ACK, s, ack, l, 1000);
        c.arrive(s, l);
        c.server_ack();
    }
    if rng.one_in(3) {
        // The server's window closes; the client probes twice, then the window opens.
        let w = c.window;
        c.window = 0;
        c.server_ack();
        for _ in 0..2 {
            c.wait_us(200_000);
            let (cs, ss) = (c.cseq, c.sseq);
            c.emit(true, ACK, cs, ss, 1, 1000);
            c.server_ack();
        }
        c.window = w;
        c.wait_us(50_000);
        c.server_ack();
    }
    // The server answers; the client acknowledges each segment.
    for _ in 0..rng.range(0, 4) {
        let len = rng.range(1, 1400) as u32;
        let (cs, ss, w) = (c.cseq, c.sseq, c.window);
        c.wait_us(rng.range(100, 2000));
        c.emit(false, PSH_ACK, ss, cs, len, w);
        c.sseq = ss.wrapping_add(len);
        c.wait_us(rng.range(20, 400));
        let ss = c.sseq;
        c.emit(true, ACK, cs, ss, 0, 1000);
        if rng.one_in(4) {
            c.emit(true, ACK, cs, ss, 0, 1000); // a duplicate ACK
        }
    }
    if rng.one_in(4) {
        // Idle, a keep-alive and its ACK.
        c.wait_us(2_000_000);
        let (cs, ss) = (c.cseq, c.sseq);
        c.emit(true, ACK, cs.wrapping_sub(1), ss, 0, 1000);
        c.wait_us(300);
        c.server_ack();
    }
    let (cs, ss, w) = (c.cseq, c.sseq, c.window);
    c.wait_us(1000);
    c.emit(true, FIN | ACK, cs, ss, 0, 1000);
    c.wait_us(300);
    c.emit(false, FIN | ACK, ss, cs.wrapping_add(1), 0, w);
    c.wait_us(300);
    c.emit(true, ACK, cs.wrapping_add(1), ss.wrapping_add(1), 0, 1000);
}

/// Ethernet + IPv4 or IPv6 + TCP (no options, checksummed) + `len` bytes of payload.
/// (`common::eth_ipv4_tcp` has a fixed window and no IPv6.)
fn tcp_frame(
    src: Endpoint,
    dst: Endpoint,
    flags: u8,
    seq: u32,
    ack: u32,
    window: u16,
    len: usize,
) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + len);
    tcp.extend_from_slice(&src.1.to_be_bytes());
    tcp.extend_from_slice(&dst.1.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags]);
    tcp.extend_from_slice(&window.to_be_bytes());
    tcp.extend_from_slice(&[0; 4]);
    tcp.extend((0..len).map(|i| i as u8));
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    let mut pseudo = Vec::new();
    match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&ip);
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
            f.extend_from_slice(&[6, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
        }
        _ => panic!("mixed address families"),
    }
    pseudo.extend_from_slice(&tcp);
    let sum = checksum(&pseudo);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&tcp);
    f
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn write_pcap(path: &Path, frames: &[Frame], res: TsResolution) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: res,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(file), header)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (ts, data) in frames {
        let pkt = PcapPacket::new(Duration::from_nanos(*ts), data.len() as u32, data);
        w.write_packet(&pkt)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
