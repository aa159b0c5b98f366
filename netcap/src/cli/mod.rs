//! Command line: clap for syntax ([`Cli`]), then [`Config`] for meaning (interfaces
//! resolved, numbers checked), so the rest of the program never sees a raw string.
//! Flags follow tcpdump where tcpdump has one (`-i -c -w -s -B -l`, a filter
//! expression as trailing arguments).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use netcap_common::MAX_SNAPLEN;

use crate::output::Format;

#[derive(Parser, Debug)]
#[command(name = "netcap", version, about = "Kernel-accelerated packet capture", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Capture live from an interface (XDP + TC, or AF_PACKET).
    Capture(CaptureArgs),
    /// Read a pcap or pcapng file (`-` for stdin) through the same decoders and outputs.
    Read(ReadArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XdpModeArg {
    /// Native (driver) mode, else generic.
    Auto,
    Native,
    Generic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// XDP + TC; AF_PACKET when those cannot be loaded or attached.
    Auto,
    Xdp,
    Afpacket,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    In,
    Out,
    Both,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// Interface to capture on (default: the interface of the default route).
    #[arg(short = 'i', long = "interface")]
    pub interface: Option<String>,
    /// Capture backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// XDP attach mode; `auto` tries native, then generic.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// Which frames to capture: received, sent, or both (like tcpdump).
    #[arg(long, value_enum, default_value_t = DirectionArg::Both)]
    pub direction: DirectionArg,
    /// Kernel buffer size in KiB (like tcpdump's -B); rounded up to a power of two.
    #[arg(short = 'B', long = "buffer-size", default_value_t = 16384)]
    pub buffer_kib: u32,
    /// Unread ring bytes that wake the reader (default: 1/8 of the ring); 0 wakes it
    /// the kernel's default way, per frame when idle (for benchmarking the batching).
    #[arg(long, hide = true)]
    pub wakeup_bytes: Option<u64>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// The capture file: pcap or pcapng; `-` reads stdin.
    pub file: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Stop after this many frames.
    #[arg(short = 'c', long = "count", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Output format on stdout [default: turtle; none with -w].
    #[arg(short = 'F', long = "format", value_enum)]
    pub format: Option<Format>,
    /// Bytes of each frame to capture (0 = whole frame, up to 9216).
    #[arg(short = 's', long = "snaplen", default_value_t = 0)]
    pub snaplen: u32,
    /// Write the frames to this pcap file (`-` = stdout, which then holds only the pcap).
    #[arg(short = 'w', long = "write")]
    pub write: Option<PathBuf>,
    /// Write pcapng instead of pcap with -w.
    #[arg(long)]
    pub pcapng: bool,
    /// Line-buffer stdout (flush after every frame), for `| grep` on a live capture.
    #[arg(short = 'l', long = "line-buffered")]
    pub line_buffered: bool,
    /// Decoder threads (default: number of CPUs).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Write capture statistics as JSON to this file at exit.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// Print a live statistics line to stderr every SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub stats_interval: Option<f64>,
    /// Print the top flows by bytes to stderr at exit.
    #[arg(long)]
    pub flows: bool,
    /// Write every flow as one JSON line to this file at exit.
    #[arg(long, value_name = "FILE")]
    pub flows_json: Option<PathBuf>,
    /// Bound on the flow table; idle and least recently seen flows are evicted first.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// Filter expression (pcap-filter syntax); also accepted as trailing arguments.
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Filter expression as trailing arguments, as with tcpdump (options may come
    /// before or after it, as GNU getopt allows for tcpdump).
    pub expr: Vec<String>,
}

impl CommonArgs {
    /// The snap length the kernel uses: 0 means the whole frame.
    pub fn snaplen(&self) -> Result<u32, String> {
        match self.snaplen {
            0 => Ok(MAX_SNAPLEN),
            n if n <= MAX_SNAPLEN => Ok(n),
            n => Err(format!(
                "snap length {n} is above the maximum of {MAX_SNAPLEN}"
            )),
        }
    }

    /// The filter expression, from `-f` or the trailing arguments (not both).
    pub fn filter_expr(&self) -> Result<Option<String>, String> {
        match (&self.filter, self.expr.is_empty()) {
            (Some(_), false) => {
                Err("give the filter either with -f or as arguments, not both".into())
            }
            (Some(f), true) => Ok(Some(f.clone())),
            (None, false) => Ok(Some(self.expr.join(" "))),
            (None, true) => Ok(None),
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// The interface of the IPv4 (else IPv6) default route, from /proc/net/route.
pub fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let iface = cols.next()?;
        let dest = cols.next()?;
        (dest == "00000000").then(|| iface.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn snaplen_zero_means_whole_frame_and_large_is_refused() {
        let cli = Cli::try_parse_from(["netcap", "read", "x", "-s", "0"]).expect("parses");
        let Command::Read(r) = cli.cmd else {
            panic!("read")
        };
        assert_eq!(r.common.snaplen(), Ok(MAX_SNAPLEN));
        let cli = Cli::try_parse_from(["netcap", "read", "x", "-s", "99999"]).expect("parses");
        let Command::Read(r) = cli.cmd else {
            panic!("read")
        };
        assert!(r.common.snaplen().is_err());
    }
}
