//! The options `capture` and `read` share ([`CommonArgs`]): what to stop at, the
//! output format and its tcpdump printing flags, the files written (`-w` and its
//! rotation, the statistics and flow reports, IPFIX), the flow table's limits, the
//! decoder threads and the filter expression; with the checks clap cannot make itself
//! (value parsers) and the values derived from a single flag.
use std::path::PathBuf;

use clap::Args;
use netcap_common::MAX_SNAPLEN;

use super::Precision;
use crate::output::Format;

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
pub(super) fn parse_file_size(s: &str) -> Result<u64, String> {
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
