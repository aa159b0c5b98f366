//! `netcap top`'s command line: the capture options of `netcap capture` (interface,
//! backend, direction, buffer, snap length, `--max-flows`, the filter), validated as
//! for a capture, less the options about output and files, which a full-screen view
//! has no use for and refuses rather than ignores.
use super::{config::Input, CaptureArgs, CommonArgs, Config, ConfigError};
use crate::Error;

impl Config {
    /// `netcap top`: [`Config::capture`], after refusing the output options, with one
    /// socket (the view's loop is the only reader of the ring).
    pub fn top(args: &CaptureArgs) -> Result<Self, Error> {
        if let Some(flag) = output_flag(args) {
            return Err(ConfigError::Usage(format!(
                "netcap top shows its output on the screen: {flag} is for netcap capture"
            ))
            .into());
        }
        let mut cfg = Self::capture(args)?;
        if let Input::Live(live) = &mut cfg.input {
            if live.several() {
                return Err(super::ConfigError::Usage(
                    "netcap top shows one interface of netcap's own namespace: give one -i".into(),
                )
                .into());
            }
            live.sockets = 1;
        }
        Ok(cfg)
    }
}

/// The first output option given, by name. Destructured, so that a new option has to
/// be sorted into those `top` takes and those it refuses.
fn output_flag(args: &CaptureArgs) -> Option<&'static str> {
    let CaptureArgs {
        interface: _,
        netns: _,
        user,
        backend: _,
        xdp_mode: _,
        kernel_filter: _,
        direction: _,
        no_promisc: _,
        buffer_kib: _,
        wakeup_bytes: _,
        user_flows: _,
        reader_cpu: _,
        list_interfaces,
        common,
    } = args;
    let CommonArgs {
        count,
        format,
        json_payload,
        fields,
        snaplen: _,
        write,
        pcapng,
        precision,
        nano,
        micro,
        file_size,
        rotate_secs,
        file_count,
        post_rotate,
        line_buffered,
        workers,
        stats_json,
        stats_interval,
        flows,
        flows_json,
        max_flows: _,
        flow_idle: _,
        flow_active: _,
        ipfix,
        ipfix_tcp,
        ipfix_file,
        ipfix_domain,
        ipfix_biflow,
        ipfix_template_secs,
        time_format,
        verbose,
        absolute_seq,
        link_header,
        hex,
        hex_ascii,
        ascii,
        quick,
        numeric: _,
        filter: _,
        expr: _,
    } = common;
    [
        (*verbose > 0, "-v"),
        (*quick, "-q"),
        (*list_interfaces, "-D"),
        (user.is_some(), "-Z"),
        (count.is_some(), "-c"),
        (format.is_some(), "-F"),
        (json_payload.is_some(), "--json-payload"),
        (!fields.is_empty(), "--field"),
        (write.is_some(), "-w"),
        (*pcapng, "--pcapng"),
        (
            precision.is_some() || *nano || *micro,
            "--time-stamp-precision",
        ),
        (file_size.is_some(), "-C"),
        (rotate_secs.is_some(), "-G"),
        (file_count.is_some(), "-W"),
        (post_rotate.is_some(), "-z"),
        (*line_buffered, "-l"),
        (workers.is_some(), "--workers"),
        (stats_json.is_some(), "--stats-json"),
        (stats_interval.is_some(), "--stats-interval"),
        (*flows, "--flows"),
        (flows_json.is_some(), "--flows-json"),
        (ipfix.is_some(), "--ipfix"),
        (*ipfix_tcp, "--ipfix-tcp"),
        (ipfix_file.is_some(), "--ipfix-file"),
        (ipfix_domain.is_some(), "--ipfix-domain"),
        (*ipfix_biflow, "--ipfix-biflow"),
        (ipfix_template_secs.is_some(), "--ipfix-template-secs"),
        (*time_format > 0, "-t"),
        (*absolute_seq, "-S"),
        (*link_header, "-e"),
        (*hex > 0, "-x"),
        (*hex_ascii > 0, "-X"),
        (*ascii > 0, "-A"),
    ]
    .into_iter()
    .find_map(|(given, name)| given.then_some(name))
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn top(args: &[&str]) -> CaptureArgs {
        let mut all = vec!["netcap", "top"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).expect("parses").cmd {
            Command::Top(a) => a,
            _ => panic!("not top"),
        }
    }

    #[test]
    fn top_takes_capture_options_and_refuses_output_ones() {
        let capture = ["-s", "96", "--max-flows", "10", "-B", "64", "-p", "udp"];
        assert_eq!(output_flag(&top(&capture)), None);
        assert_eq!(output_flag(&top(&["-w", "x.pcap"])), Some("-w"));
        assert_eq!(output_flag(&top(&["-F", "json"])), Some("-F"));
        assert_eq!(output_flag(&top(&["--flows"])), Some("--flows"));
        assert_eq!(output_flag(&top(&["-c", "5"])), Some("-c"));
        let ipfix = ["--ipfix", "127.0.0.1:4739"];
        assert_eq!(output_flag(&top(&ipfix)), Some("--ipfix"));
        assert_eq!(
            output_flag(&top(&["--ipfix-file", "f"])),
            Some("--ipfix-file")
        );
        assert_eq!(
            output_flag(&top(&["--ipfix-biflow"])),
            Some("--ipfix-biflow")
        );
        // tcpdump's -v (the live line with -w) is an option of capture's, not common.
        assert_eq!(output_flag(&top(&["-v"])), Some("-v"));
    }

    #[test]
    fn a_refused_flag_is_a_usage_error() {
        let err = Config::top(&top(&["-v", "-i", "lo"])).expect_err("-v refused");
        assert!(
            err.to_string()
                .contains("netcap top shows its output on the screen: -v is for netcap capture"),
            "{err}"
        );
        assert!(
            matches!(err, Error::Config(ConfigError::Usage(_))),
            "status 2, as the other output flags: {err:?}"
        );
    }
}
