//! Golden tests: capture files in `tests/golden/` -> expected text, byte for byte.
//!
//! - `*.turtle.txt` next to a `.pcap` that the seed decodes without crashing was made by
//!   the reference, once, with `tests/golden/regen-turtle.sh` (needs `../shared` and
//!   python3); the tests themselves need neither.
//! - `crafted_crash.turtle.txt` (frames the seed crashes on) and the `*.ext.txt`,
//!   `*.line.txt`, `*.jsonl` files are netcap's own output, reviewed and then kept as
//!   regression goldens: `NETCAP_BLESS=1 cargo test --test golden` rewrites them and the
//!   crafted `.pcap` fixtures (built by `golden/frames.rs`).
use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netcap::decode::decode;
use netcap::output::{printer, BatchText, Format};
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::TsResolution;

#[path = "golden/frames.rs"]
#[allow(dead_code)]
mod frames;

/// Real captures from tcpdump's test suite whose frames the seed decodes.
const REAL: &[&str] = &[
    "tcp_rst_data",
    "dns_udp",
    "icmp-rfc8335",
    "802.1ad_QinQ",
    "ipv6-routing-header",
    "ipv4_invalid_hdr_length",
    "ipv4_tcp_http_xml_tso",
    "tfo-5c1fa7f9ae91",
    "IGMP_V2",
    "whois",
    "tcp_eight_lowest_weight_flags_set",
    "time_2106_max",
    "3560_CDP",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn blessing() -> bool {
    std::env::var_os("NETCAP_BLESS").is_some()
}

/// Reads a pcap file's frames with the link type from its header. Uses pcap-file's raw
/// records: its checked `next_packet` rejects `orig_len > snaplen`, which dozens of real
/// captures have and the seed reads fine.
fn read_frames<R: std::io::Read>(mut r: PcapReader<R>) -> Vec<(FrameMeta, Vec<u8>)> {
    let header = r.header();
    let link = LinkType::from_linktype(u32::from(header.datalink));
    let frac_ns = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };
    let mut frames = Vec::new();
    while let Some(Ok(p)) = r.next_raw_packet() {
        let meta = FrameMeta {
            ts_ns: u64::from(p.ts_sec) * 1_000_000_000 + u64::from(p.ts_frac) * frac_ns,
            orig_len: p.orig_len,
            ifindex: 0,
            direction: Direction::Unknown,
            link,
            iface: 0,
            drops: 0,
        };
        frames.push((meta, p.data.into_owned()));
    }
    frames
}

fn read_pcap(path: &Path) -> Vec<(FrameMeta, Vec<u8>)> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_frames(PcapReader::new(file).expect("pcap header"))
}

/// The text of `frames` as one worker prints it and the writer finishes it (relative
/// TCP sequence numbers of `line`, frame numbers of `json`).
fn render(format: Format, frames: &[(FrameMeta, Vec<u8>)]) -> Vec<u8> {
    let mut p = printer(format, &Default::default()).expect("a printer");
    let mut out = Vec::new();
    let mut ends = Vec::new();
    for (meta, data) in frames {
        let frame = Frame { meta: *meta, data };
        p.print(&frame, &decode(&frame), &mut out);
        ends.push(out.len() as u32);
    }
    let deferred = p.take_deferred();
    if deferred.is_empty() {
        return out;
    }
    let mut writer = printer(format, &Default::default()).expect("a printer");
    let (mut text, mut text_ends) = (Vec::new(), Vec::new());
    let batch = BatchText {
        text: &out,
        ends: &ends,
    };
    writer.resolve(batch, 0..frames.len(), &deferred, &mut text, &mut text_ends);
    text
}

/// Compares with a golden file, reporting the first differing line.
fn check(name: &str, got: &[u8]) {
    let path = dir().join(name);
    if blessing() && !name.ends_with(".turtle.txt")
        || name == "crafted_crash.turtle.txt" && blessing()
    {
        fs::write(&path, got).expect("write golden");
        return;
    }
    let want = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if got == want {
        return;
    }
    let got_s = String::from_utf8_lossy(got);
    let want_s = String::from_utf8_lossy(&want);
    let (g, w): (Vec<_>, Vec<_>) = (got_s.split('\n').collect(), want_s.split('\n').collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{name}: differs at line {}\n  want: {:?}\n  got:  {:?}\n(want {} lines, got {})",
        i + 1,
        w.get(i),
        g.get(i),
        w.len(),
        g.len()
    );
}

/// Writes crafted frames as a big-endian, microsecond pcap (what the seed reads).
fn crafted_pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new()).expect("pcap writer");
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::new(
            1_700_000_000 + i as u64 * 61,
            (i as u32 * 1_001_000) % 1_000_000_000,
        );
        let orig = (f.len() as u32).max(60);
        w.write_packet(&PcapPacket {
            timestamp: ts,
            orig_len: orig,
            data: Cow::Borrowed(f),
        })
        .expect("write frame");
    }
    w.into_writer()
}

#[test]
fn crafted_fixtures_are_current() {
    for (name, frames) in [
        ("crafted", frames::reference_frames()),
        ("crafted_crash", frames::crash_frames()),
    ] {
        let bytes = crafted_pcap(&frames);
        let path = dir().join(format!("{name}.pcap"));
        if blessing() {
            fs::write(&path, &bytes).expect("write fixture");
        }
        assert!(
            fs::read(&path).expect("fixture") == bytes,
            "{name}.pcap is stale: bless"
        );
    }
}

#[test]
fn crafted_frames_land_in_the_right_fixture() {
    assert!(frames::reference_frames()
        .iter()
        .all(|f| !frames::seed_crashes(f)));
    assert!(frames::crash_frames()
        .iter()
        .all(|f| frames::seed_crashes(f)));
}

#[test]
fn turtle_matches_the_reference() {
    for name in std::iter::once("crafted").chain(REAL.iter().copied()) {
        let frames = read_pcap(&dir().join(format!("{name}.pcap")));
        check(
            &format!("{name}.turtle.txt"),
            &render(Format::Turtle, &frames),
        );
    }
}

#[test]
fn turtle_prints_a_marker_where_the_seed_crashes() {
    let frames = read_pcap(&dir().join("crafted_crash.pcap"));
    let out = render(Format::Turtle, &frames);
    let text = String::from_utf8(out.clone()).expect("ascii");
    assert_eq!(text.matches("\t ! truncated: ").count(), frames.len());
    check("crafted_crash.turtle.txt", &out);
}

#[test]
fn other_formats_match_their_goldens() {
    for name in ["crafted", "crafted_crash"] {
        let frames = read_pcap(&dir().join(format!("{name}.pcap")));
        check(
            &format!("{name}.ext.txt"),
            &render(Format::TurtleExt, &frames),
        );
        check(&format!("{name}.line.txt"), &render(Format::Line, &frames));
        check(&format!("{name}.jsonl"), &render(Format::Json, &frames));
    }
}

#[test]
fn every_json_line_parses_and_agrees_with_decode() {
    for name in ["crafted", "crafted_crash"].iter().chain(REAL) {
        let frames = read_pcap(&dir().join(format!("{name}.pcap")));
        let out = render(Format::Json, &frames);
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), frames.len(), "{name}: one line per frame");
        for (n, (line, (meta, data))) in lines.iter().zip(&frames).enumerate() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
            let d = decode(&Frame { meta: *meta, data });
            assert_eq!(v["caplen"].as_u64(), Some(data.len() as u64), "{line}");
            assert_eq!(v["ts_ns"].as_u64(), Some(meta.ts_ns), "{line}");
            assert_eq!(v["frame"].as_u64(), Some(n as u64 + 1), "{line}");
            let issue = v["truncated"].as_str().or(v["invalid"].as_str());
            assert_eq!(issue, d.malformed().map(|l| l.as_str()), "{line}");
            if let Some(flags) = d.tcp_flags() {
                assert_eq!(
                    v["tcp"]["flags_int"].as_u64().map(|f| f as u8),
                    Some(flags),
                    "{line}"
                );
            }
        }
    }
}

#[test]
fn line_format_is_one_line_per_frame() {
    for name in ["crafted", "crafted_crash"].iter().chain(REAL) {
        let frames = read_pcap(&dir().join(format!("{name}.pcap")));
        let text = String::from_utf8(render(Format::Line, &frames)).expect("utf-8");
        assert_eq!(text.lines().count(), frames.len(), "{name}");
    }
}

/// Compares turtle with reference outputs for a whole corpus: set
/// `NETCAP_TURTLE_REF_DIR` to a directory of `NAME.pcap.txt` files made by the reference
/// for `shared/corpus/tcpdump-tests/NAME.pcap`, and run with `--ignored`.
#[test]
#[ignore = "needs reference outputs made outside the repo"]
fn turtle_matches_the_reference_on_a_corpus() {
    let Some(refs) = std::env::var_os("NETCAP_TURTLE_REF_DIR") else {
        return eprintln!("NETCAP_TURTLE_REF_DIR not set: skipped");
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump-tests");
    let (mut same, mut differ) = (0, Vec::new());
    for entry in fs::read_dir(&refs).expect("ref dir") {
        let path = entry.expect("entry").path();
        let Some(pcap) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".txt"))
        else {
            continue;
        };
        let Ok(file) = fs::File::open(corpus.join(pcap)) else {
            continue;
        };
        let Ok(r) = PcapReader::new(file) else {
            continue;
        };
        let frames = read_frames(r);
        if render(Format::Turtle, &frames) == fs::read(&path).expect("ref") {
            same += 1;
        } else {
            differ.push(pcap.to_string());
        }
    }
    eprintln!("{same} identical, {} differ: {differ:?}", differ.len());
    assert!(differ.is_empty());
}
