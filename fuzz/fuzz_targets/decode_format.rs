//! Decode and print arbitrary bytes: the first byte picks the link type, the rest is
//! the frame. Nothing may panic, and the outputs must keep their shape: one line for
//! `line` (and tab-indented lines under it, as tcpdump's hex dumps), one valid JSON
//! object for `json`, one line of tab-separated values for `fields`, turtle text ending
//! in a newline; `line` again with `-v`.
//!
//! A crash found here becomes a unit test next to the code it broke.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcap::decode::decode;
use netcap::output::{fields::Field, printer_with, BatchText, Format, Options};
use netcap::packet::{Direction, Frame, FrameMeta, LinkType};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let link = match selector % 8 {
        0 | 7 => LinkType::Ethernet,
        1 => LinkType::Raw,
        2 => LinkType::LinuxSll,
        3 => LinkType::LinuxSll2,
        4 => LinkType::Ipv4,
        5 => LinkType::Ipv6,
        _ => LinkType::Unknown(u32::from(selector)),
    };
    let frame = Frame {
        meta: FrameMeta {
            ts_ns: u64::from(selector) << 40,
            orig_len: bytes.len() as u32 + u32::from(selector & 0x80),
            ifindex: u32::from(selector),
            direction: Direction::Unknown,
            link,
            iface: 0,
            drops: u32::from(selector & 3),
        },
        data: bytes,
    };
    let d = decode(&frame);
    let _ = (d.flow_tuple(), d.tcp_flags(), d.malformed());
    for format in [
        Format::Turtle,
        Format::TurtleExt,
        Format::Line,
        Format::Json,
        Format::Fields,
    ] {
        // Every field, and the payload in hex (for -F json).
        let options = Options {
            json_payload: netcap::output::json::Payload::Hex,
            fields: Field::ALL.iter().map(|&(_, f)| f).collect(),
            ..Options::default()
        };
        let Some(mut p) = printer_with(format, &Default::default(), &options) else {
            continue;
        };
        let mut out = Vec::new();
        p.print(&frame, &d, &mut out);
        // What the worker deferred (line's relative TCP sequence numbers), finished
        // as the writer finishes it, on a printer of its own.
        let deferred = p.take_deferred();
        if !deferred.is_empty() {
            if let Some(mut w) = printer_with(format, &Default::default(), &options) {
                let ends = [out.len() as u32];
                let batch = BatchText {
                    text: &out,
                    ends: &ends,
                };
                let (mut text, mut text_ends) = (Vec::new(), Vec::new());
                w.resolve(batch, 0..1, &deferred, &mut text, &mut text_ends);
                out = text;
            }
        }
        assert!(
            out.ends_with(b"\n"),
            "{format:?} output ends without a newline"
        );
        match format {
            // One line, then what tcpdump prints under it for some frames (the hex
            // dump of an ARP packet it cannot name), each such line indented by a tab.
            Format::Line => {
                let text = String::from_utf8_lossy(&out);
                let mut lines = text.lines();
                assert!(lines.next().is_some_and(|l| !l.starts_with('\t')));
                assert!(lines.all(|l| l.starts_with('\t')), "{text}");
            }
            Format::Json => {
                let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
                assert!(v.is_object());
                assert_eq!(v["frame"], 1, "the writer numbers the frames");
            }
            // One line, a value (maybe empty) per field, the frame number first.
            Format::Fields => {
                let text = std::str::from_utf8(&out).expect("UTF-8");
                assert_eq!(text.matches('\n').count(), 1, "{text}");
                let values: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
                assert_eq!(values.len(), Field::ALL.len(), "{text}");
                assert_eq!(values[0], "1", "{text}");
            }
            _ => assert!(std::str::from_utf8(&out).is_ok()),
        }
    }
    // -F line -v (tcpdump's -v: IP header fields, checksums, NTP, DHCP, ICMPv6 options,
    // quoted packets): one line, then lines that go on with four spaces (the IPv4
    // header's) or a tab.
    let mut options = Options::default();
    options.line.verbose = true;
    if let Some(mut p) = printer_with(Format::Line, &Default::default(), &options) {
        let mut out = Vec::new();
        p.print(&frame, &d, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.ends_with('\n'), "-v output ends without a newline");
        let mut lines = text.lines();
        assert!(lines.next().is_some_and(|l| !l.starts_with(['\t', ' '])));
        assert!(
            lines.all(|l| l.starts_with('\t') || l.starts_with("    ")),
            "{text}"
        );
    }
});
