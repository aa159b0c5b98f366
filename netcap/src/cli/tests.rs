//! Unit tests of the command line's first stage: what clap accepts and how the
//! shared options read.
use netcap_common::MAX_SNAPLEN;

use super::common_args::parse_file_size;
use super::*;

#[test]
fn file_sizes_as_tcpdump_reads_them() {
    assert_eq!(parse_file_size("2"), Ok(2_000_000));
    assert_eq!(parse_file_size("100k"), Ok(100 * 1024));
    assert_eq!(parse_file_size("3M"), Ok(3 << 20));
    assert_eq!(parse_file_size("1g"), Ok(1 << 30));
    assert!(parse_file_size("0").is_err());
    assert!(parse_file_size("5x").is_err());
    assert!(parse_file_size("k").is_err());
    assert!(parse_file_size("99999999999999999999g").is_err());
}

#[test]
fn trailing_words_form_the_filter() {
    let cli =
        Cli::try_parse_from(["netcap", "read", "x.pcap", "tcp", "port", "80"]).expect("parses");
    let Command::Read(r) = cli.cmd else {
        panic!("read")
    };
    assert_eq!(r.common.filter_expr(), Ok(Some("tcp port 80".into())));
}

#[test]
fn options_may_follow_the_expression() {
    let cli = Cli::try_parse_from([
        "netcap",
        "read",
        "x.pcap",
        "udp",
        "port",
        "53",
        "--stats-json",
        "s.json",
        "-c",
        "5",
    ])
    .expect("parses");
    let Command::Read(r) = cli.cmd else {
        panic!("read")
    };
    assert_eq!(r.common.filter_expr(), Ok(Some("udp port 53".into())));
    assert_eq!(r.common.count, Some(5));
    assert!(r.common.stats_json.is_some());
}

#[test]
fn tcpdump_printing_flags() {
    use crate::output::line::{Dump, Options, TimeFormat};
    let parse = |args: &[&str]| {
        let cli = Cli::try_parse_from(["netcap", "read", "x"].iter().chain(args)).expect("parses");
        let Command::Read(r) = cli.cmd else {
            panic!("read")
        };
        r.common.line_options()
    };
    assert_eq!(parse(&["-n", "-nn"]), None);
    assert_eq!(
        parse(&["-ttt", "-S", "-XX", "-x", "-e"]),
        Some(Options {
            time: TimeFormat::Delta,
            absolute: true,
            link_header: true,
            dump: Dump::HexAscii { link: true },
            verbose: false,
            quick: false,
        })
    );
    assert_eq!(
        parse(&["-t", "-t", "-A"]).map(|o| (o.time, o.dump)),
        Some((TimeFormat::Unix, Dump::Ascii { link: false }))
    );
    let json = Cli::try_parse_from(["netcap", "read", "x", "-F", "json", "-tt"]).expect("parses");
    let Command::Read(r) = json.cmd else {
        panic!("read")
    };
    assert!(Config::read(&r).is_err(), "-tt shapes -F line only");
}

#[test]
fn snaplen_zero_means_whole_frame_and_large_is_refused() {
    let cli = Cli::try_parse_from(["netcap", "read", "x", "-s", "0"]).expect("parses");
    let Command::Read(r) = cli.cmd else {
        panic!("read")
    };
    assert_eq!(r.common.snaplen(), Ok(MAX_SNAPLEN));
    let cli = Cli::try_parse_from(["netcap", "read", "x", "-s", "262145"]).expect("parses");
    let Command::Read(r) = cli.cmd else {
        panic!("read")
    };
    assert!(r.common.snaplen().is_err());
}

#[test]
fn flag_values_that_would_panic_or_exhaust_memory_are_refused() {
    for bad in [
        ["--stats-interval", "inf"],
        ["--stats-interval", "1e300"],
        ["--stats-interval", "NaN"],
        ["--stats-interval", "-1"],
        ["--workers", "0"],
        ["--workers", "257"],
        ["--workers", "18446744073709551615"],
    ] {
        let args = ["netcap", "read", "x", bad[0], bad[1]];
        assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
    }
    let cli = Cli::try_parse_from(["netcap", "read", "x", "--workers", "256"]).expect("parses");
    let Command::Read(r) = cli.cmd else {
        panic!("read")
    };
    assert_eq!(r.common.workers(), 256);
    assert!(r.common.workers() <= MAX_WORKERS);
}
