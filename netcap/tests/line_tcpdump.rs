//! `-F line` against `tcpdump -n` (4.99), line for line, on tcpdump's own test captures.
//!
//! Every capture of `shared/corpus/tcpdump-tests` is read by `netcap read F -F line` and
//! by `tcpdump -n -r F`, both under the same `TZ` ([`TZ`]). Lines are paired by frame
//! index: both outputs are cut into records at the lines that start with a time stamp
//! (a continuation line, such as a hex dump's, joins the record before it).
//! The test prints the share of identical lines among the frames in scope, the
//! mismatches per category (and `NETCAP_LINE_DIFFS=FILE` writes every mismatched pair
//! there), and fails when the share falls below [`FLOOR`]: a ratchet, raised as the
//! printer gets closer, never lowered to make a change pass.
//!
//! # Scope: the frames whose protocols netcap decodes
//!
//! A frame is in scope when netcap's own decoder ([`netcap::decode::decode`], on the
//! frames of netcap's own reader) finds, and tcpdump does not go beyond:
//!
//! - a link netcap decodes: Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1/v2,
//!   raw IPv4/IPv6;
//! - then ARP, or IPv4/IPv6 (with IPv6 extension headers) carrying TCP, UDP, ICMP or
//!   ICMPv6, or a later fragment of one of those;
//! - a frame cut short or invalid in one of those layers (category `truncated`);
//! - and no application payload that tcpdump dissects and netcap does not: a UDP
//!   datagram (whole or cut) is out when tcpdump's record does not say `: UDP, ` or
//!   complain about the UDP header (it named an application protocol: NTP, SNMP, ...),
//!   or says it only of a packet tunnelled inside (VXLAN); a TCP segment with data is
//!   out when tcpdump
//!   prints more after its `, length N` than a truncation mark (`: HTTP: ...`, `: BGP`).
//!   DNS (port 53, UDP and TCP; multicast DNS, UDP 5353) is in scope once netcap
//!   prints it ([`DNS_PRINTED`]), as category `dns`; NTP and BOOTP/DHCP, which netcap
//!   prints, are in scope when tcpdump's record names them ([`UDP_APPS`]), as
//!   categories `ntp` and `bootp`. With `-v`, a TCP segment is out when tcpdump prints
//!   lines after it (an application it dissects there).
//!
//! With `-v` the whole corpus is compared again ([`VERBOSE_FLOOR`]); tcpdump's record
//! then starts with the IPv4 header on a line of its own, and the scope is read from
//! it and the line after.
//!
//! The differences the README lists as deliberate are left out by name
//! ([`deliberate`]): times from 2038 on (tcpdump: `[Error converting time]`) and a time
//! stamp fraction of a second or more.
//!
//! Everything else (other link types, EtherTypes and IP protocols: STP, LLC, GRE, OSPF,
//! ...) is counted per reason and left out. Frames only one side printed (the two
//! readers give up on a broken file at different places) are counted, not compared.
//!
//! Needs `tcpdump` on the PATH and the corpus next to the repository (`../shared`); the
//! test says so and passes when either is missing. Files run on all cores; the whole
//! corpus takes a few seconds.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use netcap::capture::pcap_file::FileSource;
use netcap::capture::{Fill, Source};
use netcap::decode::{decode, Decoded, IpProtocol, Net, Transport};
use netcap::packet::LinkType;

/// Least share of identical lines in scope, in percent (measured, rounded down).
const FLOOR: f64 = 100.0;

/// Sets of tcpdump's printing flags and the least share of identical lines with them
/// (measured, rounded down): each flag of `-t -tt -ttt -tttt -ttttt -S -e -x -xx -X
/// -XX -A -q` is in one (tcpdump's `-X` wins over `-x`, and `-x` over `-A`); `-q` also
/// with `-e` and `-v`.
const FLAG_FLOORS: [(&str, f64); 9] = [
    ("-S -e -tt -x", 99.43),
    ("-ttt -XX", 99.85),
    ("-tttt -A", 99.43),
    ("-ttttt -xx", 99.85),
    ("-t -X", 99.15),
    ("-v -e", 99.43),
    ("-q", 100.0),
    ("-q -e", 100.0),
    ("-q -v", 99.77),
];

/// The least share of identical lines with `-v`, over the whole corpus (measured,
/// rounded down): [`line_verbose_matches_tcpdump_on_the_corpus`].
const VERBOSE_FLOOR: f64 = 99.43;

/// True once netcap prints DNS summaries: port 53 is then in scope.
const DNS_PRINTED: bool = true;

/// The UDP applications netcap prints beside DNS, each its own category: the words
/// tcpdump's record starts their summary with, and the category.
const UDP_APPS: [(&str, &str); 2] = [("NTPv", "ntp"), ("BOOTP/DHCP, ", "bootp")];

/// True when a UDP summary in `record` starts with `words`: after the addresses
/// (`: `), or with `-v` after the checksum's verdict over IPv6 (`[udp sum ok] `).
fn udp_says(record: &str, words: &str) -> bool {
    [": ", "] "]
        .iter()
        .any(|before| record.contains(&format!("{before}{words}")))
}

/// The time zone both tools run under.
const TZ: &str = "ACST-9:30ACDT,M10.1.0,M4.1.0/3";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests")
}

fn tcpdump_version() -> Option<String> {
    let out = Command::new("tcpdump").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().next().map(str::to_owned)
}

/// What one frame is, for the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    In(&'static str),
    Out(&'static str),
}

/// The netcap side of the scope: what netcap's decoder found.
fn decoded_scope(link: LinkType, d: &Decoded) -> Scope {
    if let LinkType::Unknown(_) = link {
        return Scope::Out("link type");
    }
    if d.issue.is_some() {
        return Scope::In("truncated");
    }
    let ip_proto = d.ip_proto.map(u8::from);
    match (&d.net, &d.transport) {
        (Net::None, _) => Scope::Out("network protocol"),
        (Net::Arp(_), _) => Scope::In("arp"),
        (_, Transport::Tcp(_)) => Scope::In("tcp"),
        (_, Transport::Udp(_)) => Scope::In("udp"),
        (_, Transport::Icmp(_)) => Scope::In("icmp"),
        (_, Transport::Icmpv6(_)) => Scope::In("icmp6"),
        (_, Transport::None) => match ip_proto.map(IpProtocol::from) {
            Some(IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp | IpProtocol::Icmpv6) => {
                Scope::In("fragment")
            }
            _ => Scope::Out("ip protocol"),
        },
    }
}

/// The differences the README lists as deliberate, named by what tcpdump prints
/// (`record`) and netcap (`ours`).
fn deliberate(ours: &str, record: &str) -> Option<&'static str> {
    // Times from 2038-01-19 03:14:08 UTC on: netcap prints the time, tcpdump
    // `[Error converting time]` (with -tt, the seconds modulo 2^32).
    let seconds = ours.split('.').next().and_then(|s| s.parse::<u64>().ok());
    if record.starts_with("[Error converting time]") || seconds.is_some_and(|s| s >= 1 << 31) {
        return Some("deliberate: time");
    }
    // A fraction of a second that is not below a second: netcap prints the time it
    // means (`11.000000`), tcpdump the fraction as it is (`10.1000000`).
    let head = record.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let long_fraction = head.split('.').skip(1).any(|f| {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        digits > 6 && digits != 9
    });
    long_fraction.then_some("deliberate: fraction")
}

/// True when tcpdump's `: UDP, ` belongs to a packet tunnelled inside the datagram
/// (VXLAN, ...): an IP header is named inside the outer packet's text.
fn tunnelled_udp(record: &str) -> bool {
    let Some(at) = record.find(": UDP, ") else {
        return false;
    };
    record[..at]
        .split_once(": ")
        .is_some_and(|(_, inner)| inner.contains("IP ") || inner.contains("IP6 "))
}

/// True when tcpdump's record of a UDP datagram says what netcap's says of one: the
/// `UDP, ` summary or a complaint about the UDP header, not an application's name.
fn udp_words(record: &str) -> bool {
    (udp_says(record, "UDP, ") && !tunnelled_udp(record))
        || record.contains("[|udp]")
        || record.contains("truncated-udp")
}

/// The tcpdump side: whether tcpdump went on into a payload netcap does not decode.
fn scope(link: LinkType, d: &Decoded, ours: &str, record: &str) -> Scope {
    let s = decoded_scope(link, d);
    if let (Scope::In(_), Some(why)) = (s, deliberate(ours, record)) {
        return Scope::Out(why);
    }
    let dns = d
        .ports
        .is_some_and(|(a, b)| [a, b].iter().any(|p| *p == 53 || *p == 5353));
    match s {
        Scope::In("udp") if dns => {
            if DNS_PRINTED {
                Scope::In("dns")
            } else {
                Scope::Out("udp payload (dns)")
            }
        }
        Scope::In("udp") => match UDP_APPS.iter().find(|(words, _)| udp_says(record, words)) {
            Some((_, cat)) => Scope::In(cat),
            None if !udp_words(record) => Scope::Out("udp payload"),
            None => s,
        },
        Scope::In("truncated") if matches!(d.transport, Transport::Udp(_)) && !dns => {
            if udp_words(record) || UDP_APPS.iter().any(|(words, _)| udp_says(record, words)) {
                s
            } else {
                Scope::Out("udp payload")
            }
        }
        Scope::In("tcp") if tcp_payload_dissected(record) => {
            if !dns {
                Scope::Out("tcp payload")
            } else if DNS_PRINTED {
                Scope::In("dns")
            } else {
                Scope::Out("tcp payload (dns)")
            }
        }
        s => s,
    }
}

/// True when tcpdump printed more after a TCP segment's `, length N` than a truncation
/// mark: the name and summary of an application protocol.
fn tcp_payload_dissected(record: &str) -> bool {
    let Some(flags) = record.find("Flags [") else {
        return false;
    };
    let Some(len) = record[flags..].find(", length ") else {
        return false;
    };
    let rest = &record[flags + len + ", length ".len()..];
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    !(rest.is_empty() || rest.starts_with(" [|") || rest.starts_with(" [remaining caplen"))
}

/// netcap's decoding of every frame of `path`, by index.
fn frames(path: &Path) -> Vec<(LinkType, Decoded)> {
    let mut out = Vec::new();
    let Ok(mut src) = FileSource::open(path) else {
        return out;
    };
    loop {
        let fill = src.visit(&mut |frame| {
            out.push((frame.meta.link, decode(frame)));
            true
        });
        if !matches!(fill, Ok(Fill::Some)) {
            return out;
        }
    }
}

/// True when `b` starts with `HH:MM:SS.ffffff ` (six digits or more of fraction:
/// tcpdump prints a broken one as it is).
fn clock(b: &[u8]) -> bool {
    let fraction = b
        .get(9..)
        .map_or(0, |f| f.iter().take_while(|c| c.is_ascii_digit()).count());
    b.len() > 16
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b'.'
        && fraction >= 6
        && b.get(9 + fraction) == Some(&b' ')
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

/// True when `line` starts a record: with the time stamp that `-t` given `ts` times
/// puts first (with `-t`, a line that does not start with white space).
fn starts_record(line: &str, ts: usize) -> bool {
    // A record without a time: the time tcpdump cannot print, the complaint it prints
    // instead of a frame libpcap gave it with impossible lengths.
    if line.starts_with("[Error converting time]") || line.starts_with("[Invalid header") {
        return true;
    }
    let b = line.as_bytes();
    match ts {
        0 => clock(b),
        1 => b.first().is_some_and(|c| !c.is_ascii_whitespace()),
        2 => line
            .split_once(' ')
            .and_then(|(t, _)| t.split_once('.'))
            .is_some_and(|(s, us)| {
                !s.is_empty() && s.bytes().chain(us.bytes()).all(|c| c.is_ascii_digit())
            }),
        4 => b.len() > 11 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && clock(&b[11..]),
        _ => b.len() > 1 && matches!(b[0], b' ' | b'-') && clock(&b[1..]),
    }
}

/// A tool's output cut into records, one per frame: a line that starts with the time
/// stamp (see [`starts_record`]) starts one.
fn records(text: &str, ts: usize) -> Vec<String> {
    let mut recs: Vec<String> = Vec::new();
    for line in text.lines() {
        match recs.last_mut() {
            Some(r) if !starts_record(line, ts) => {
                r.push('\n');
                r.push_str(line);
            }
            _ => recs.push(line.to_owned()),
        }
    }
    recs
}

#[derive(Default)]
struct Tally {
    /// (identical, total) per in-scope category.
    cats: BTreeMap<&'static str, (u64, u64)>,
    /// Frames left out, per reason.
    out: BTreeMap<&'static str, u64>,
    /// Frames only one side printed.
    unpaired: u64,
    /// Identical and paired lines, in scope or not.
    same_all: u64,
    paired_all: u64,
    /// Mismatched pairs: (file, frame, category, netcap, tcpdump).
    diffs: Vec<(String, usize, &'static str, String, String)>,
}

/// Reads `file` with both tools, `flags` given to both, and counts into `tally`.
fn compare(file: &Path, flags: &[&str], tally: &Mutex<Tally>) {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let run = |cmd: &mut Command| {
        cmd.env("TZ", TZ)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let ours = run(Command::new(env!("CARGO_BIN_EXE_netcap"))
        .args(["read", "-F", "line"])
        .args(flags)
        .arg(file));
    let theirs = run(Command::new("tcpdump")
        .arg("-n")
        .args(flags)
        .arg("-r")
        .arg(file));
    let ts = flags
        .iter()
        .filter(|f| !f.starts_with("--"))
        .map(|f| f.matches('t').count())
        .sum::<usize>()
        .min(5);
    let ours = records(&ours, ts);
    let theirs = records(&theirs, ts);
    let decoded = frames(file);
    let paired = ours.len().min(theirs.len()).min(decoded.len());
    let mut t = tally.lock().expect("no test thread panics holding it");
    t.unpaired += (ours.len().max(theirs.len()) - paired) as u64;
    for (i, ((a, b), (link, d))) in ours.iter().zip(&theirs).zip(&decoded).enumerate() {
        t.paired_all += 1;
        t.same_all += u64::from(a == b);
        // What the frame is, from tcpdump's first line (dumps follow on the others),
        // and with -v the IPv4 header's second (four spaces, then the addresses).
        let mut lines = b.lines().peekable();
        let mut summary = lines.next().unwrap_or_default().to_owned();
        if let Some(next) = lines.next_if(|l| l.starts_with("    ")) {
            summary.push_str(next);
        }
        // With -v, an application tcpdump dissects in a TCP segment goes on the
        // lines after the segment's.
        let app_lines = flags.contains(&"-v") && lines.next().is_some();
        let ours = a.lines().next().unwrap_or_default();
        let scope = match scope(*link, d, ours, &summary) {
            Scope::In("tcp") if app_lines => Scope::Out("tcp payload"),
            s => s,
        };
        match scope {
            Scope::Out(why) => *t.out.entry(why).or_default() += 1,
            Scope::In(cat) => {
                let c = t.cats.entry(cat).or_default();
                c.1 += 1;
                if a == b {
                    c.0 += 1;
                } else {
                    t.diffs.push((name.clone(), i, cat, a.clone(), b.clone()));
                }
            }
        }
    }
}

/// The corpus files, or `None` (and why) when the test cannot run here.
fn corpus_files() -> Option<(String, Vec<PathBuf>)> {
    let Some(version) = tcpdump_version() else {
        eprintln!("skipped: no tcpdump on the PATH");
        return None;
    };
    let dir = corpus();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: no corpus at {}", dir.display());
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    Some((version, files))
}

/// Compares every file with `flags`, on all cores.
fn compare_all(files: &[PathBuf], flags: &[&str]) -> Tally {
    let tally = Mutex::new(Tally::default());
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(f) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    compare(f, flags, &tally);
                }
            });
        }
    });
    tally.into_inner().expect("no test thread panicked")
}

impl Tally {
    /// Identical lines in scope, and the share of them in percent.
    fn share(&self) -> (u64, u64, f64) {
        let (same, total) = self
            .cats
            .values()
            .fold((0, 0), |(s, n), &(a, b)| (s + a, n + b));
        (same, total, 100.0 * same as f64 / total.max(1) as f64)
    }
}

#[test]
fn line_matches_tcpdump_on_the_corpus() {
    let Some((version, files)) = corpus_files() else {
        return;
    };
    let t = compare_all(&files, &[]);
    let pct = report(&version, &files, "", t, None);
    assert!(
        pct >= FLOOR,
        "identical lines fell to {pct:.3}%, under the floor of {FLOOR}%"
    );
}

/// `-v` (IP header fields, checksums, NTP and DHCP in full) over the whole corpus.
#[test]
fn line_verbose_matches_tcpdump_on_the_corpus() {
    let Some((version, files)) = corpus_files() else {
        return;
    };
    let t = compare_all(&files, &["-v"]);
    let pct = report(&version, &files, "-v", t, Some(".v"));
    assert!(
        pct >= VERBOSE_FLOOR,
        "-v: identical lines fell to {pct:.3}%, under the floor of {VERBOSE_FLOOR}%"
    );
}

/// Prints the share of identical lines, per category, what was left out and two
/// examples of each category's differences; writes the differences to
/// `NETCAP_LINE_DIFFS` (its name followed by `suffix`). Returns the share.
fn report(
    version: &str,
    files: &[PathBuf],
    flags: &str,
    mut t: Tally,
    suffix: Option<&str>,
) -> f64 {
    let (same, total, pct) = t.share();
    let mut report = format!(
        "{version}, TZ={TZ}, {} files{}{flags}: {same} of {total} lines in scope identical \
         ({pct:.3}%); {} of {} paired lines in all\n",
        files.len(),
        if flags.is_empty() { "" } else { ", " },
        t.same_all,
        t.paired_all
    );
    for (cat, (s, n)) in &t.cats {
        let _ = writeln!(
            report,
            "  {cat:<10} {s:>6} of {n:>6} identical, {:>5} differ",
            n - s
        );
    }
    let out: u64 = t.out.values().sum();
    let _ = writeln!(report, "  left out: {out} frames");
    for (why, n) in &t.out {
        let _ = writeln!(report, "    {why:<20} {n:>6}");
    }
    let _ = writeln!(report, "  printed by one side only: {}", t.unpaired);
    t.diffs.sort();
    let mut shown = BTreeMap::<&str, usize>::new();
    for (file, i, cat, a, b) in &t.diffs {
        let n = shown.entry(cat).or_default();
        if *n < 2 {
            *n += 1;
            let _ = writeln!(
                report,
                "  e.g. {cat} {file} #{i}\n    netcap:  {a}\n    tcpdump: {b}"
            );
        }
    }
    eprint!("{report}");
    if let Some(path) = std::env::var_os("NETCAP_LINE_DIFFS") {
        let mut path = path;
        path.push(suffix.unwrap_or_default());
        write_diffs(&t, Path::new(&path));
    }
    pct
}

/// Writes every mismatched pair of `t` to `path`.
fn write_diffs(t: &Tally, path: &Path) {
    let mut all = String::new();
    for (file, i, cat, a, b) in &t.diffs {
        let _ = writeln!(all, "{file}\t{i}\t{cat}\n  netcap:  {a}\n  tcpdump: {b}");
    }
    std::fs::write(path, all).expect("writing NETCAP_LINE_DIFFS");
}

/// tcpdump's printing flags (`-t` family, `-S`, `-e`, the dumps), given to both tools:
/// the share of identical lines in scope per set of flags, each with its floor.
#[test]
fn line_flags_match_tcpdump_on_the_corpus() {
    let Some((version, files)) = corpus_files() else {
        return;
    };
    // Every other file, to keep the test short.
    let files: Vec<PathBuf> = files.into_iter().step_by(2).collect();
    for (flags, floor) in FLAG_FLOORS {
        let flags: Vec<&str> = flags.split(' ').collect();
        let t = compare_all(&files, &flags);
        let (same, total, pct) = t.share();
        if let Some(path) = std::env::var_os("NETCAP_LINE_DIFFS") {
            let mut path = PathBuf::from(path).into_os_string();
            path.push(flags.join("").replace('-', "."));
            write_diffs(&t, &PathBuf::from(path));
        }
        eprintln!(
            "{version}, {}: {same} of {total} lines in scope identical ({pct:.3}%)",
            flags.join(" ")
        );
        assert!(
            pct >= floor,
            "{}: identical lines fell to {pct:.3}%, under the floor of {floor}%",
            flags.join(" ")
        );
    }
}
