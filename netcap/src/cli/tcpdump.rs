//! What the command line does before and after clap for the habits of tcpdump and
//! tshark users: `-e NAME` after `-F fields` (tshark's field flag, where tcpdump's `-e`
//! is a switch), and clap's refusals reworded.
use std::ffi::{OsStr, OsString};

use clap::Parser;

use super::{Cli, CommonArgs, ConfigError};
use crate::output::{fields::Field, json::Payload, Format};

/// `--json-payload` and the fields of `-F fields`, checked against the format.
pub(super) fn text_options(
    c: &CommonArgs,
    format: Format,
) -> Result<(Payload, Vec<Field>), ConfigError> {
    let usage = |m: &str| Err(ConfigError::Usage(m.to_owned()));
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
    match try_parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            std::process::exit(code);
        }
    }
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
}
