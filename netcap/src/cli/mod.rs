//! Command line: clap for syntax ([`Cli`]), then [`Config`] for meaning (interfaces
//! resolved, numbers checked, the filter compiled, every derived choice made; see
//! `config`), so the rest of the program never sees a flag.
//! Flags follow tcpdump where tcpdump has one (`-i -c -w -s -B -l`, a filter
//! expression as trailing arguments, and the printing flags of `-F line`: `-t -S -e -x
//! -X -A -n`).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use netcap_common::MAX_SNAPLEN;

use crate::output::Format;

pub mod config;
mod ifaces;
pub mod tcpdump;
mod top;
pub use config::{Config, ConfigError};

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
    /// A live full-screen view of an interface: rates, losses and the top flows
    /// (takes the capture options; keys: q quit, s sort, p pause, / filter, h hosts).
    Top(CaptureArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    Micro,
    Nano,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XdpModeArg {
    /// Native (driver) mode, else generic.
    Auto,
    /// Native (driver) mode: for dedicated capture ports only. On a veth it moves the
    /// device to NAPI with a small ring (frames are lost before the hook at high rates);
    /// many NIC drivers rebuild their rings (a link blip) when a program is attached.
    Native,
    /// Generic (skb) mode: the host's traffic is delivered as without netcap.
    Generic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelFilterArg {
    /// Translated to eBPF and JIT-compiled by the kernel; the interpreter takes over
    /// if the kernel refuses it (said once on stderr).
    Native,
    /// netcap's in-kernel classic BPF interpreter (slower; for comparison).
    Interp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// AF_PACKET (TPACKET_V3): measured cheapest for the whole machine, and it
    /// leaves the host's traffic as it is (see the README's "Capture modes").
    Auto,
    /// XDP for received frames and a tcx egress program for sent ones.
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
    /// Interface to capture on (default: the interface of the default route); repeat
    /// for several (one capture, one output); `any` for every interface that is up and
    /// those that come up while capturing. In several namespaces, `NS/IFNAME` picks one.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Vec<String>,
    /// Capture in this network namespace: a name from `ip netns` (/run/netns/NAME) or a
    /// path such as /proc/PID/ns/net; repeat for several.
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Vec<String>,
    /// Once the hooks are attached and the first file is open, run as USER (groups,
    /// group and user id set, capabilities cleared), as tcpdump's -Z [default: the
    /// user `netcap`, else `tcpdump`, when one exists; `-Z root` stays root].
    #[arg(short = 'Z', long = "relinquish-privileges", value_name = "USER")]
    pub user: Option<String>,
    /// Capture backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// XDP attach mode (with --backend xdp); `auto` tries native, then generic.
    /// Native changes the host's traffic on some devices: see the README.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Generic)]
    pub xdp_mode: XdpModeArg,
    /// How the XDP/TC hooks run the filter expression (with --backend xdp).
    #[arg(long, value_enum, default_value_t = KernelFilterArg::Native)]
    pub kernel_filter: KernelFilterArg,
    /// Which frames to capture: received, sent, or both (like tcpdump).
    #[arg(long, value_enum, default_value_t = DirectionArg::Both)]
    pub direction: DirectionArg,
    /// Do not put the interface in promiscuous mode (tcpdump's -p). By default it is,
    /// for as long as netcap runs (the kernel undoes it on any exit).
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    pub no_promisc: bool,
    /// Kernel buffer size in KiB (like tcpdump's -B); rounded up to a power of two.
    #[arg(short = 'B', long = "buffer-size", default_value_t = 16384)]
    pub buffer_kib: u32,
    /// Unread ring bytes that wake the reader (default: 1/8 of the ring); 0 wakes it
    /// the kernel's default way, per frame when idle (for benchmarking the batching).
    #[arg(long, hide = true)]
    pub wakeup_bytes: Option<u64>,
    /// With --backend xdp, flows are counted in the kernel hooks when nothing is
    /// printed or written; this counts them in user space instead (for comparison).
    #[arg(long)]
    pub user_flows: bool,
    /// List the interfaces with their index, state and the hooks netcap can use on
    /// each (XDP native/generic, tcx, AF_PACKET), then exit, as tcpdump's -D.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// The capture file: pcap or pcapng; `-` reads stdin.
    pub file: PathBuf,
    /// No progress bar on stderr (it is shown only when stderr is a terminal). Long
    /// form only: `-q` is tcpdump's quick output.
    #[arg(long = "quiet")]
    pub quiet: bool,
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
    /// -F json: also each frame's payload (the bytes after the last decoded header),
    /// as `payload`, in hex or base64.
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub json_payload: Option<crate::output::json::Payload>,
    /// -F fields: a field to print, by its Wireshark name (frame.number, ip.src,
    /// tcp.dstport, dns.qry.name, ...); repeat for more. After -F fields, tshark's
    /// `-e NAME` means the same.
    #[arg(long = "field", value_name = "NAME", value_parser = crate::output::fields::Field::parse)]
    pub fields: Vec<crate::output::fields::Field>,
    /// Bytes of each frame to capture (0 = whole frame: 262144, as tcpdump).
    #[arg(short = 's', long = "snaplen", default_value_t = 0)]
    pub snaplen: u32,
    /// Write the frames to this pcap file (`-` = stdout, which then holds only the pcap).
    #[arg(short = 'w', long = "write")]
    pub write: Option<PathBuf>,
    /// Write pcapng instead of pcap with -w.
    #[arg(long)]
    pub pcapng: bool,
    /// Time stamps in a classic pcap -w file: micro (the default, as tcpdump writes
    /// them) or nano. pcapng always has nanoseconds.
    #[arg(long = "time-stamp-precision", value_enum, value_name = "PRECISION")]
    pub precision: Option<Precision>,
    /// Same as --time-stamp-precision nano.
    #[arg(long, conflicts_with_all = ["precision", "micro"])]
    pub nano: bool,
    /// Same as --time-stamp-precision micro.
    #[arg(long, conflicts_with = "precision")]
    pub micro: bool,
    /// With -w FILE: a new file before this one would pass SIZE bytes: millions of
    /// bytes, or with a suffix k, m, g (KiB, MiB, GiB), as tcpdump's -C.
    #[arg(short = 'C', value_name = "SIZE", value_parser = parse_file_size)]
    pub file_size: Option<u64>,
    /// With -w FILE: a new file every SECS seconds, on the clock; the -w name goes
    /// through strftime (local time), as tcpdump's -G.
    #[arg(short = 'G', value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub rotate_secs: Option<u64>,
    /// With -C: a ring of this many files; with -G alone: stop after this many.
    #[arg(short = 'W', value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub file_count: Option<u32>,
    /// With -C or -G: run `CMD FILE` after each rotated file is closed (not waited for).
    #[arg(short = 'z', value_name = "CMD")]
    pub post_rotate: Option<std::ffi::OsString>,
    /// Line-buffer stdout (flush after every frame), for `| grep` on a live capture.
    #[arg(short = 'l', long = "line-buffered")]
    pub line_buffered: bool,
    /// Decoder threads, 1 to 256 (default: number of CPUs, at most 256).
    #[arg(long, value_parser = parse_workers)]
    pub workers: Option<usize>,
    /// Write capture statistics as JSON to this file at exit.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// Print a live statistics line to stderr every SECS seconds (0.01 to 86400).
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    pub stats_interval: Option<f64>,
    /// Print the top flows by bytes to stderr at exit.
    #[arg(long)]
    pub flows: bool,
    /// Write every flow record as one JSON line to this file as the flow ends (`-`:
    /// stdout, which then holds nothing else).
    #[arg(long, value_name = "FILE")]
    pub flows_json: Option<PathBuf>,
    /// Bound on the flow table; idle and least recently seen flows are evicted first.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// End a flow after SECS without a frame, whatever its protocol [default: TCP 3600,
    /// after a FIN 300, after a RST 120, other protocols 300, as softflowd].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub flow_idle: Option<u64>,
    /// End a flow's record SECS after its first frame even while it goes on; the
    /// conversation continues in a new record [default: 1800].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub flow_active: Option<u64>,
    /// Export every flow record as IPFIX (RFC 7011) to a collector at HOST:PORT as the
    /// flow ends: UDP (nfcapd, pmacct, goflow2), or TCP with --ipfix-tcp.
    #[arg(long, value_name = "HOST:PORT")]
    pub ipfix: Option<String>,
    /// With --ipfix: over TCP, reconnecting with backoff when the collector goes away.
    #[arg(long)]
    pub ipfix_tcp: bool,
    /// Write the IPFIX records to this file (RFC 5655: the messages one after another).
    #[arg(long, value_name = "FILE")]
    pub ipfix_file: Option<PathBuf>,
    /// The IPFIX observation domain id: one per exporter in a fleet [default: 1].
    #[arg(long, value_name = "N")]
    pub ipfix_domain: Option<u32>,
    /// One RFC 5103 biflow record per flow (B's counts in reverse elements) instead of
    /// a record per direction.
    #[arg(long)]
    pub ipfix_biflow: bool,
    /// With --ipfix over UDP: send the templates again every SECS seconds (and every
    /// 16 messages), so a collector that restarts can read the records [default: 600].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub ipfix_template_secs: Option<u64>,
    /// -F line, as tcpdump: -t no time, -tt seconds since the epoch, -ttt time since
    /// the previous frame, -tttt date and time, -ttttt time since the first frame.
    #[arg(short = 't', action = clap::ArgAction::Count)]
    pub time_format: u8,
    /// -F line: absolute TCP sequence numbers, as tcpdump's -S.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    pub absolute_seq: bool,
    /// -F line: each frame's Ethernet header (addresses, EtherType, VLAN tags), as
    /// tcpdump's -e.
    #[arg(short = 'e')]
    pub link_header: bool,
    /// -F line: each frame's bytes in hex after its line, from the network header on
    /// (-xx: from the link header), as tcpdump's -x.
    #[arg(short = 'x', action = clap::ArgAction::Count)]
    pub hex: u8,
    /// -F line: the same in hex and ASCII, as tcpdump's -X (-XX).
    #[arg(short = 'X', action = clap::ArgAction::Count)]
    pub hex_ascii: u8,
    /// -F line: the same in ASCII, as tcpdump's -A (-AA).
    #[arg(short = 'A', action = clap::ArgAction::Count)]
    pub ascii: u8,
    /// -F line: IP header fields, checksums, NTP and DHCP in full, as tcpdump's -v. With
    /// -w FILE: the statistics line every second, as tcpdump's `-v -w` prints "Got N".
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// -F line: quick output, as tcpdump's -q: shorter transport lines (`tcp 0`,
    /// `UDP, length 56` without the DNS, NTP or DHCP summary); with -e and -v too.
    /// Refused with other formats (read's --quiet turns off the progress bar).
    #[arg(short = 'q')]
    pub quick: bool,
    /// Accepted as tcpdump's -n and -nn: netcap never resolves addresses or ports.
    #[arg(short = 'n', action = clap::ArgAction::Count)]
    pub numeric: u8,
    /// Filter expression (pcap-filter syntax); also accepted as trailing arguments.
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Filter expression as trailing arguments, as with tcpdump (options may come
    /// before or after it, as GNU getopt allows for tcpdump).
    pub expr: Vec<String>,
}

/// Most decoder threads: a `PACKET_FANOUT` group holds at most 256 sockets (one per
/// worker), and per-worker state (queues, flow shards) grows with the count.
pub const MAX_WORKERS: usize = 256;

fn parse_workers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of threads from 1 to {MAX_WORKERS}"
        )),
    }
}

/// `--flow-idle`, `--flow-active`: whole seconds, 1 to a year.
fn parse_timeout(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if (1..=365 * 86_400).contains(&n) => Ok(n),
        _ => Err("expected whole seconds from 1 to 31536000 (a year)".into()),
    }
}

/// `-C`: a number of millions of bytes, or of KiB, MiB or GiB with a suffix.
fn parse_file_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let unit = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                _ => return Err(format!("unknown size suffix {c:?}: use k, m or g")),
            };
            (&s[..i], unit)
        }
        _ => (s, 1_000_000),
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(n) if n > 0 => Ok(n),
        _ => Err("expected a size above 0: N (millions of bytes), Nk, Nm or Ng".into()),
    }
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=86_400.0).contains(&v) => Ok(v),
        _ => Err("expected seconds from 0.01 to 86400".to_owned()),
    }
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

    /// tcpdump's printing flags for the line format; `None` when none was given. `-v`
    /// counts when it shapes the text: not beside `-w` (where it means the count).
    pub fn line_options(&self) -> Option<crate::output::line::Options> {
        use crate::output::line::{Dump, Options, TimeFormat};
        let dump = match (self.hex_ascii, self.hex, self.ascii) {
            (n, _, _) if n > 0 => Dump::HexAscii { link: n > 1 },
            (_, n, _) if n > 0 => Dump::Hex { link: n > 1 },
            (_, _, n) if n > 0 => Dump::Ascii { link: n > 1 },
            _ => Dump::None,
        };
        let options = Options {
            time: TimeFormat::from_count(self.time_format),
            absolute: self.absolute_seq,
            link_header: self.link_header,
            dump,
            verbose: self.verbose > 0 && (self.write.is_none() || self.format.is_some()),
            quick: self.quick,
        };
        (options != Options::default()).then_some(options)
    }

    pub fn workers(&self) -> usize {
        self.workers.filter(|&n| n > 0).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS)
        })
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
            let cli =
                Cli::try_parse_from(["netcap", "read", "x"].iter().chain(args)).expect("parses");
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
        let json =
            Cli::try_parse_from(["netcap", "read", "x", "-F", "json", "-tt"]).expect("parses");
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
}
