//! What the command line does before and after clap for the habits of tcpdump and
//! tshark users: `-e NAME` after `-F fields` (tshark's field flag, where tcpdump's `-e`
//! is a switch); tcpdump's flags that netcap does not have refused in one line that
//! names the closest netcap option ([`UNSUPPORTED`]); and clap's tip for an unknown
//! flag (`use '-- -X'`, which would turn the flag into a filter expression) replaced
//! by netcap's own.
use std::ffi::{OsStr, OsString};

use clap::Parser;

use super::{Cli, CommonArgs, ConfigError};
use crate::output::{fields::Field, json::Payload, Format};

/// `-q` with a format other than line.
pub(super) const QUICK_ELSEWHERE: &str =
    "-q is tcpdump's quick output and shapes the text of -F line only (read's --quiet turns off \
     the progress bar)";

/// `--json-payload` and the fields of `-F fields`, checked against the format.
pub(super) fn text_options(
    c: &CommonArgs,
    format: Format,
) -> Result<(Payload, Vec<Field>), ConfigError> {
    let usage = |m: &str| Err(ConfigError::Usage(m.to_owned()));
    if c.verbose > 1 {
        return usage(
            "-vv and -vvv are not supported: -v prints the IP header's fields, the transport \
             checksums, ARP's types, NTP and DHCP in full (-F line)",
        );
    }
    if c.line_options().is_some_and(|l| l.verbose) && format != Format::Line {
        return usage("-v shapes the text of -F line (and with -w FILE, prints the count)");
    }
    let payload = match (c.json_payload, format) {
        (Some(p), Format::Json) => p,
        (None, _) => Payload::None,
        (Some(_), _) => return usage("--json-payload shapes -F json only"),
    };
    match (c.fields.is_empty(), format) {
        (true, Format::Fields) => {
            usage("-F fields needs the fields to print: -e NAME (e.g. -e ip.src -e tcp.dstport)")
        }
        (false, f) if f != Format::Fields => {
            usage("--field (-e NAME) chooses the fields of -F fields only")
        }
        _ => Ok((payload, c.fields.clone())),
    }
}

/// Parses the process's arguments as [`Cli`], or prints why not and exits: status 2
/// for bad usage, 0 for `--help` and `--version`.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(message) = unsupported(&args) {
        eprintln!("netcap: {message}");
        std::process::exit(2);
    }
    match try_parse(args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            eprint!("{}", reword(&e.render().to_string()));
            std::process::exit(2);
        }
        Err(e) => {
            let _ = e.print();
            std::process::exit(e.exit_code());
        }
    }
}

/// clap's message with its `-- -X` tip replaced: netcap reads words after `--` as the
/// filter expression, so the tip would turn a mistyped flag into a filter.
fn reword(message: &str) -> String {
    message
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("tip: to pass '") && l.contains("as a value, use '--") {
                "  tip: see `netcap capture --help` or `netcap read --help` for the options; \
                 tcpdump's flags that netcap lacks are named with their closest netcap option"
                    .to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// tcpdump's flags netcap does not have, each with what to use instead.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("-b", "AS numbers in BGP are not printed: -F line prints BGP as TCP"),
    ("-d", "netcap does not print the compiled filter; `tcpdump -d EXPR` shows the same program netcap loads"),
    ("-E", "ESP is not decrypted; -F line prints ESP packets as tcpdump does without a secret"),
    ("-H", "802.11s mesh headers are not decoded"),
    ("-I", "no monitor mode: capture on a monitor interface made with `iw dev DEV interface add mon0 type monitor`, with -i mon0"),
    ("-J", "no time stamp types: netcap's time stamps are the kernel's (use --nano for nanosecond files)"),
    ("-j", "no time stamp types: netcap's time stamps are the kernel's (use --nano for nanosecond files)"),
    ("-K", "checksums are verified only under -v (-F line); leave out -v not to verify them"),
    ("-L", "no data link types to list: netcap captures Ethernet frames (see `netcap capture -D`)"),
    ("-M", "TCP-MD5 signatures are not verified"),
    ("-N", "netcap never resolves names, so there is nothing to shorten (-n is accepted)"),
    ("-O", "the filter is always optimized (libpcap's optimizer)"),
    ("-Q", "use --direction in|out|both"),
    ("-r", "use `netcap read FILE` (`-` for stdin)"),
    ("-T", "no forced interpretation of packets: -F line decodes by port as tcpdump does by default"),
    ("-u", "NFS handles are not decoded"),
    ("-U", "use -l (line-buffered: every frame's text or record is flushed as it is written)"),
    ("-V", "use `netcap read FILE` once per file"),
    ("-y", "no data link types to choose: netcap captures Ethernet frames"),
    ("-#", "use -F json (its `frame` key numbers the frames) or -F fields -e frame.number"),
    ("--number", "use -F json (its `frame` key numbers the frames) or -F fields -e frame.number"),
    ("--immediate-mode", "use -l (flush every frame's text as it is written)"),
    ("--packet-buffered", "use -l (flush every frame's text as it is written)"),
    ("--monitor-mode", "no monitor mode: capture on a monitor interface made with `iw`, with -i"),
    ("--list-data-link-types", "no data link types to list: netcap captures Ethernet frames"),
    ("--linktype", "no data link types to choose: netcap captures Ethernet frames"),
    ("--list-time-stamp-types", "no time stamp types: netcap's time stamps are the kernel's"),
    ("--time-stamp-type", "no time stamp types: netcap's time stamps are the kernel's"),
    ("--no-optimize", "the filter is always optimized (libpcap's optimizer)"),
    ("--print", "-w writes the file and -F prints at once: give both (e.g. -w f.pcap -F line)"),
    ("--count", "use -c N to stop after N frames; the summary on stderr counts them"),
    ("--snapshot-length", "use -s N (--snaplen N)"),
    ("--relinquish-privileges", "use -Z USER"),
    ("--list-interfaces", "use `netcap capture -D`"),
];

/// tcpdump's flags that take a value: the rest of a cluster after one of them is its
/// value (`-ieth0`), not flags.
const TAKES_VALUE: &str = "BcCEFGiJjMQrsTVwWyzZf";

/// The one-line refusal of the first flag in `args` that tcpdump has and netcap does
/// not (before `--`; not inside a flag's value).
pub fn unsupported(args: &[OsString]) -> Option<String> {
    let mut skip_next = false;
    for a in args.iter().skip(1) {
        let a = a.to_string_lossy();
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if a == "--" {
            return None;
        }
        if let Some(long) = a.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            if let Some((flag, hint)) = UNSUPPORTED.iter().find(|(f, _)| &f[2..] == name) {
                return Some(refusal(flag, hint));
            }
            continue;
        }
        let Some(cluster) = a.strip_prefix('-') else {
            continue;
        };
        for (i, c) in cluster.char_indices() {
            if !(c.is_ascii_alphabetic() || c == '#') {
                break;
            }
            let flag = format!("-{c}");
            if let Some((_, hint)) = UNSUPPORTED.iter().find(|(f, _)| *f == flag) {
                return Some(refusal(&flag, hint));
            }
            if TAKES_VALUE.contains(c) {
                skip_next = i + c.len_utf8() == cluster.len();
                break;
            }
        }
    }
    None
}

fn refusal(flag: &str, hint: &str) -> String {
    format!("tcpdump's {flag} is not supported by netcap: {hint}")
}

/// [`parse`] without exiting: the arguments after tshark's `-e NAME` rewriting.
pub fn try_parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args = fields_flags(args.into_iter().map(Into::into).collect());
    Cli::try_parse_from(args)
}

/// True when `args` choose `-F fields`.
fn fields_format(args: &[OsString]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        let next_is = |v: &str| args.get(i + 1).is_some_and(|n| n == v);
        (a == "-F" || a == "--format") && next_is("fields")
            || a == "-Ffields"
            || a == "--format=fields"
    })
}

/// With `-F fields`, each `-e NAME` becomes `--field NAME`, as tshark's `-T fields -e`.
/// Without it `-e` stays tcpdump's switch (the link-level header of `-F line`).
fn fields_flags(mut args: Vec<OsString>) -> Vec<OsString> {
    if !fields_format(&args) {
        return args;
    }
    let mut i = 0;
    while i + 1 < args.len() {
        if args[i] == "--" {
            break;
        }
        if args[i] == "-e" && !args[i + 1].to_string_lossy().starts_with('-') {
            args[i] = OsStr::new("--field").to_owned();
            i += 1;
        }
        i += 1;
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::output::fields::Field;

    fn read(args: &[&str]) -> crate::cli::ReadArgs {
        let all = ["netcap", "read", "x.pcap"].iter().chain(args);
        match try_parse(all).expect("parses").cmd {
            Command::Read(r) => r,
            _ => panic!("read"),
        }
    }

    #[test]
    fn e_names_a_field_after_f_fields_only() {
        let r = read(&["-F", "fields", "-e", "ip.src", "-e", "tcp.dstport", "tcp"]);
        assert_eq!(r.common.fields, [Field::IpSrc, Field::TcpDstPort]);
        assert_eq!(r.common.filter_expr(), Ok(Some("tcp".into())));
        let r = read(&["-e", "-F", "line", "tcp"]);
        assert!(r.common.link_header && r.common.fields.is_empty());
        let r = read(&["-e", "tcp", "port", "80"]);
        assert!(r.common.link_header);
        assert_eq!(r.common.filter_expr(), Ok(Some("tcp port 80".into())));
        assert!(try_parse(["netcap", "read", "x", "-F", "fields", "-e", "nope.x"]).is_err());
        // tshark's ipv4.* spelling is Wireshark's ip.*.
        let r = read(&["--format=fields", "-e", "ipv4.src"]);
        assert_eq!(r.common.fields, [Field::IpSrc]);
    }

    #[test]
    fn text_options_belong_to_their_format() {
        let ok = |args: &[&str]| crate::cli::Config::read(&read(args)).is_ok();
        assert!(ok(&["-F", "json", "--json-payload", "base64"]));
        assert!(!ok(&["-F", "line", "--json-payload", "hex"]));
        assert!(!ok(&["-F", "fields"]));
        assert!(!ok(&["-F", "json", "--field", "ip.src"]));
        assert!(ok(&["-F", "fields", "-e", "ip.src"]));
    }

    fn refused(args: &[&str]) -> Option<String> {
        let args: Vec<OsString> = ["netcap"].iter().chain(args).map(OsString::from).collect();
        unsupported(&args)
    }

    #[test]
    fn tcpdump_flags_netcap_lacks_are_named_with_the_closest_option() {
        let m = refused(&["capture", "-i", "eth0", "-U"]).expect("refused");
        assert!(m.contains("-U") && m.contains("-l"), "{m}");
        assert!(!m.contains('\n'));
        assert!(refused(&["capture", "-nnI"]).is_some_and(|m| m.contains("monitor")));
        assert!(refused(&["capture", "--immediate-mode"]).is_some());
        assert!(refused(&["capture", "--time-stamp-type=host"]).is_some());
        assert!(refused(&["read", "f", "-#"]).is_some());
        for flag in [
            "-K", "-L", "-y", "-j", "-J", "-N", "-O", "-Q", "-E", "-M", "-T", "-V", "-b", "-d",
            "-r",
        ] {
            assert!(refused(&["capture", flag, "x"]).is_some(), "{flag}");
        }
        // Values and what netcap has are left alone.
        assert_eq!(
            refused(&["capture", "-i", "-U", "-nn", "-ieth0", "-c", "5"]),
            None
        );
        assert_eq!(refused(&["capture", "-iUeth0", "-w", "-", "-s", "0"]), None);
        assert_eq!(
            refused(&["read", "f", "-ttt", "-XX", "-e", "--", "-K"]),
            None
        );
        assert_eq!(
            refused(&["read", "f", "-F", "fields", "-e", "ip.src"]),
            None
        );
        // Every one of them is refused by clap too: the table is not hiding a flag.
        for (flag, _) in UNSUPPORTED {
            assert!(try_parse(["netcap", "read", "x", flag]).is_err(), "{flag}");
        }
    }

    #[test]
    fn clap_tip_is_replaced() {
        let e = try_parse(["netcap", "read", "x", "-P"]).expect_err("unknown");
        let text = reword(&e.render().to_string());
        assert!(!text.contains("use '--"), "{text}");
        assert!(text.contains("netcap read --help"), "{text}");
    }

    #[test]
    fn verbose_shapes_the_line_or_counts_beside_w() {
        use crate::cli::{Command, Config};
        let config = |args: &[&str]| {
            let cli = try_parse(["netcap", "read", "f"].iter().chain(args)).expect("parses");
            let Command::Read(r) = cli.cmd else {
                panic!("read")
            };
            Config::read(&r)
        };
        let text = |args: &[&str]| config(args).map(|c| (c.format, c.text.line.verbose));
        assert!(matches!(text(&["-v"]), Ok((Format::Line, true))));
        assert!(matches!(
            text(&["-F", "line", "-v"]),
            Ok((Format::Line, true))
        ));
        assert!(matches!(text(&[]), Ok((Format::Turtle, false))));
        assert!(text(&["-vv"]).is_err(), "-vv is not implemented");
        assert!(text(&["-v", "-v"]).is_err());
        assert!(text(&["-F", "json", "-v"]).is_err());
        // Beside -w, -v is tcpdump's count ("Got N"), not the text's.
        let cli = try_parse(["netcap", "capture", "-w", "f.pcap", "-v"]).expect("parses");
        let Command::Capture(c) = cli.cmd else {
            panic!("capture")
        };
        assert_eq!(c.common.verbose, 1);
        assert_eq!(c.common.line_options(), None);
    }

    #[test]
    fn q_is_quick_output_and_quiet_is_long_only() {
        use crate::cli::{Command, Config};
        let config = |args: &[&str]| {
            let cli = try_parse(["netcap", "read", "f"].iter().chain(args)).expect("parses");
            let Command::Read(r) = cli.cmd else {
                panic!("read")
            };
            (r.quiet, Config::read(&r))
        };
        let (quiet, c) = config(&["-q"]);
        let c = c.expect("-q alone is -F line's quick output");
        assert!(!quiet, "-q no longer means --quiet");
        assert_eq!(c.format, Format::Line);
        assert!(c.text.line.quick);
        let (quiet, c) = config(&["--quiet"]);
        assert!(quiet);
        assert!(!c.expect("--quiet parses").text.line.quick);
        assert!(config(&["-F", "line", "-q", "-v", "-e"]).1.is_ok());
        assert!(config(&["-F", "json", "-q"]).1.is_err());
        assert!(config(&["-F", "turtle", "-q"]).1.is_err());
    }
}
