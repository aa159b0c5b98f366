//! The second stage of the command line: [`Config`], what the flags mean, checked.
//!
//! Built once from clap's [`CaptureArgs`] or [`ReadArgs`]: the interface is resolved,
//! the snap length and filter expression checked (and, for a live capture, the filter
//! compiled), the format and every derived choice (whether frames are decoded,
//! whether flows are counted, how often the capture loop wakes) decided, and the
//! report files checked for writing. Nothing after this reads a flag. The flow
//! outputs (`--flows`, `--flows-json`, the table's limits, IPFIX) are read in `flows`.
use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    BackendArg, CaptureArgs, CommonArgs, DirectionArg, KernelFilterArg, Precision, ReadArgs,
    XdpModeArg,
};
use crate::{
    capture::{
        caps::{self, Cap},
        netns::Netns,
        privdrop::{self, User},
        Backend, CaptureConfig, DirectionFilter, XdpMode,
    },
    filter::Filter,
    output::{rotate::Rotation, Format},
    packet::LinkType,
    Error,
};

mod flows;

pub use flows::{Flows, Ipfix, IPFIX_DOMAIN, IPFIX_TEMPLATE_SECS};

/// Longest the capture loop sleeps without checking the ring: the latency of a frame
/// that does not trigger a wake-up (the kernel wakes us at 1/8 ring fill).
pub const TICK: Duration = Duration::from_millis(10);
/// The same when nothing is printed (`-F none`, `-w` alone) and `-l` is not given:
/// nobody watches the latency, and wake-ups cost CPU (on this project's VM an idle
/// capture used 4.2 ms of CPU per second at 10 ms and 1.2 ms at 100 ms, read from
/// /proc/PID/task/*/schedstat), which at 50 kpps was most of the cost of a frame. This is also
/// the AF_PACKET block timeout then. libpcap uses 1000 ms for both.
pub const QUIET_TICK: Duration = Duration::from_millis(100);

/// Usage errors found while building the [`Config`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Usage(String),
    #[error("-w - puts the pcap on stdout: it cannot also hold text (-F)")]
    PcapAndTextOnStdout,
    #[error("no default route to pick an interface from; give one with -i")]
    NoDefaultRoute,
    #[error("cannot write {}: {source}", path.display())]
    ReportFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// 2 for a command line that makes no sense (as clap's own refusals), 1 for a
    /// sensible one the machine cannot serve (no default route, a file it cannot write).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::PcapAndTextOnStdout => 2,
            Self::NoDefaultRoute | Self::ReportFile { .. } => 1,
        }
    }
}

/// Where `-w` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteTo {
    /// `-w -`: stdout then holds only the capture file.
    Stdout,
    File(PathBuf),
}

/// Where frames come from.
#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per run, built once: boxing would only add noise at every match"
)]
pub enum Input {
    Live(CaptureConfig),
    /// A pcap or pcapng file; `-` is stdin.
    File(PathBuf),
}

/// A validated run: see the module doc.
#[derive(Clone, Debug)]
pub struct Config {
    pub input: Input,
    pub snaplen: u32,
    /// The filter expression (`-f` or the trailing words).
    pub expr: Option<String>,
    pub count: Option<u64>,
    pub format: Format,
    /// What shapes the text: tcpdump's printing flags (`-t`, `-S`, `-e`, `-x`, `-X`,
    /// `-A`) for `-F line`, `--json-payload`, the fields of `-F fields` (`-e NAME`).
    pub text: crate::output::Options,
    pub write: Option<WriteTo>,
    pub pcapng: bool,
    /// Classic pcap with nanosecond timestamps (`--nano`); microseconds otherwise.
    pub nano: bool,
    /// `-C`, `-G`, `-W`, `-z` (with `-w FILE`); all `None` when the file is not rotated.
    pub rotation: Rotation,
    /// `-l`: flush stdout after every batch.
    pub line_buffered: bool,
    pub stdout_is_terminal: bool,
    pub workers: usize,
    pub flows: Flows,
    pub stats_json: Option<PathBuf>,
    pub stats_interval: Option<Duration>,
    /// `netcap read`: a progress bar on stderr (no `-q`, and where it garbles nothing:
    /// `Config::progress_fits`).
    pub progress: bool,
    /// How often a live capture loop wakes without a frame: [`TICK`] or [`QUIET_TICK`].
    pub tick: Duration,
    /// `-Z`: the user a live capture runs as once it is set up (None: stay).
    pub user: Option<User>,
    /// `--reader-cpu follow`: a live capture's one reader of per-CPU rings follows
    /// the CPU that writes them (`run/follow.rs`).
    pub follow_cpu: bool,
}

impl Config {
    /// `netcap capture`: resolves the interface and compiles the filter, so a bad
    /// expression or a missing interface fails before anything is attached.
    pub fn capture(args: &CaptureArgs) -> Result<Self, Error> {
        let mut cfg = Self::common(&args.common)?;
        // XDP sees frames with their VLAN tags in place, as a file holds them: Ethernet.
        let filter = match &cfg.expr {
            Some(e) => Some(Filter::compile(e, LinkType::Ethernet, cfg.snaplen)?)
                .filter(|f| !f.accepts_all()),
            None => None,
        };
        let netns: Vec<Netns> = args.netns.iter().map(|n| Netns::parse(n)).collect();
        let any = args.interface.iter().any(|i| i == "any");
        let targets = super::ifaces::targets(&args.interface, &netns)?;
        let first = targets.first().cloned();
        let (ifname, ifindex) = first.map_or((String::new(), 0), |t| (t.ifname, t.ifindex));
        if cfg.decodes() || cfg.line_buffered {
            cfg.tick = TICK;
        }
        cfg.follow_cpu = args.reader_cpu == super::ReaderCpuArg::Follow;
        if args.common.verbose > 0 && cfg.write.is_some() && cfg.stats_interval.is_none() {
            cfg.stats_interval = Some(Duration::from_secs(1));
        }
        // With decoding to do: one fanout socket (AF_PACKET) or one reader of the per-CPU
        // rings (XDP) per decoder thread. Not with -c, which needs one count over frames
        // in capture order; nor for flows on XDP or tcx: a fanout group keeps a
        // conversation in one socket (a symmetric flow hash), the per-CPU rings do not, and
        // a flow table takes a conversation's frames in order (TCP health), which one
        // reader gives.
        let per_cpu_rings = matches!(args.backend, BackendArg::Xdp | BackendArg::Tc);
        let xdp_flows = per_cpu_rings && cfg.flows.counted();
        let sockets = if cfg.decodes() && cfg.count.is_none() && !xdp_flows {
            cfg.workers
        } else {
            1
        };
        // In-kernel flow mode: the XDP or tc backend asked for, flows the only output
        // (nothing printed or written), and no -c (the hooks do not hand the frames over
        // to be counted).
        let kernel_flows = (per_cpu_rings
            && cfg.format == Format::None
            && cfg.write.is_none()
            && cfg.flows.counted()
            && cfg.count.is_none()
            && !args.user_flows)
            .then_some(cfg.flows.table);
        let several = any || targets.len() > 1 || !netns.is_empty();
        cfg.input = Input::Live(CaptureConfig {
            // Kept per source: several interfaces are captured from user space.
            kernel_flows: kernel_flows.filter(|_| !several),
            targets,
            any,
            netns,
            in_other_netns: false,
            ifname,
            ifindex,
            backend: match args.backend {
                // Flows from the default backend: AF_PACKET's fanout, whose symmetric
                // flow hash keeps each conversation in one of the decoder threads
                // (`capture/open.rs`).
                BackendArg::Auto if cfg.flows.counted() => Backend::AfPacket,
                BackendArg::Auto => Backend::Auto,
                BackendArg::Xdp => Backend::Xdp,
                BackendArg::Tc => Backend::Tc,
                BackendArg::Afpacket => Backend::AfPacket,
            },
            xdp_mode: match args.xdp_mode {
                XdpModeArg::Auto => XdpMode::Auto,
                XdpModeArg::Native => XdpMode::Native,
                XdpModeArg::Generic => XdpMode::Generic,
            },
            kernel_filter: match args.kernel_filter {
                KernelFilterArg::Native => crate::capture::KernelFilter::Native,
                KernelFilterArg::Interp => crate::capture::KernelFilter::Interp,
            },
            direction: match args.direction {
                DirectionArg::In => DirectionFilter::In,
                DirectionArg::Out => DirectionFilter::Out,
                DirectionArg::Both => DirectionFilter::Both,
            },
            // As tcpdump's `any`, which cannot be promiscuous.
            promisc: !args.no_promisc && !any,
            buffer_kib: args.buffer_kib,
            wakeup_bytes: args.wakeup_bytes,
            snaplen: cfg.snaplen,
            expr: cfg.expr.clone(),
            filter,
            sockets,
            block_timeout: cfg.tick,
        });
        cfg.user = drop_user(args.user.as_deref(), any)?;
        cfg.check_report_files()?;
        Ok(cfg)
    }

    /// `netcap read FILE`. The filter is compiled once the file's link type is known.
    pub fn read(args: &ReadArgs) -> Result<Self, Error> {
        let mut cfg = Self::common(&args.common)?;
        cfg.input = Input::File(args.file.clone());
        cfg.progress = !args.quiet && cfg.progress_fits();
        cfg.check_report_files()?;
        Ok(cfg)
    }

    fn common(c: &CommonArgs) -> Result<Self, Error> {
        let snaplen = c.snaplen().map_err(ConfigError::Usage)?;
        let expr = c.filter_expr().map_err(ConfigError::Usage)?;
        let write = c.write.as_ref().map(|p| {
            if p.as_os_str() == "-" {
                WriteTo::Stdout
            } else {
                WriteTo::File(p.clone())
            }
        });
        // Like tcpdump, with -w nothing is printed unless a format is asked for; the
        // same with the flow records on stdout.
        let flows_stdout = c.flows_json.as_ref().is_some_and(|p| p.as_os_str() == "-");
        // tcpdump's printing flags shape the line format, which they then stand for.
        let line = c.line_options();
        let format = c.format.unwrap_or(if write.is_some() || flows_stdout {
            Format::None
        } else if line.is_some() {
            Format::Line
        } else {
            Format::Turtle
        });
        if c.quick && format != Format::Line {
            return Err(ConfigError::Usage(super::tcpdump::QUICK_ELSEWHERE.into()).into());
        }
        if line.is_some() && c.format.is_some_and(|f| f != Format::Line) {
            return Err(ConfigError::Usage(
                "-t, -S, -e, -x, -X and -A shape the text of -F line, not of another format".into(),
            )
            .into());
        }
        let (json_payload, fields) = super::tcpdump::text_options(c, format)?;
        if write == Some(WriteTo::Stdout) && format != Format::None {
            return Err(ConfigError::PcapAndTextOnStdout.into());
        }
        if flows_stdout && (format != Format::None || write == Some(WriteTo::Stdout)) {
            return Err(ConfigError::Usage(
                "--flows-json - puts the flow records on stdout: it cannot also hold text (-F) \
                 or frames (-w -)"
                    .into(),
            )
            .into());
        }
        let rotation = rotation(c, write.as_ref())?;
        let flows = Flows::from_args(c)?;
        Ok(Self {
            input: Input::File(PathBuf::new()),
            snaplen,
            expr,
            count: c.count,
            format,
            text: crate::output::Options {
                line: line.unwrap_or_default(),
                json_payload,
                fields,
            },
            write,
            pcapng: c.pcapng,
            nano: c.nano || c.precision == Some(Precision::Nano),
            rotation,
            line_buffered: c.line_buffered,
            stdout_is_terminal: std::io::stdout().is_terminal(),
            workers: c.workers(),
            flows,
            stats_json: c.stats_json.clone(),
            stats_interval: c
                .stats_interval
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64),
            progress: false,
            tick: QUIET_TICK,
            user: None,
            follow_cpu: false,
        })
    }

    /// Where `netcap read`'s progress bar can go: stderr is a terminal, and stdout is
    /// not that same terminal carrying the output. As with pv, the bar is there while
    /// the frames go to a pipe, a file or nowhere (`-F none`, `-w FILE`); as with
    /// tcpdump -r, text printed to the terminal comes alone, for a bar redrawn between
    /// its lines would break them (and scroll away with them).
    fn progress_fits(&self) -> bool {
        let stdout_busy = self.format != Format::None || self.write == Some(WriteTo::Stdout);
        std::io::stderr().is_terminal()
            && !(stdout_busy && self.stdout_is_terminal && stdout_is_stderr())
    }

    /// True when frames must be decoded: something is printed or flows are counted.
    pub fn decodes(&self) -> bool {
        self.format != Format::None || self.flows.counted()
    }

    /// Flush the text output after every batch: `-l`, or a live capture on a terminal.
    pub fn flush_each_batch(&self) -> bool {
        self.line_buffered || (matches!(self.input, Input::Live(_)) && self.stdout_is_terminal)
    }

    /// Fails when `--stats-json` or `--flows-json` cannot be written, before the run
    /// rather than after it. Opens each for appending (creating it, truncating
    /// nothing); the report itself is written at the end.
    fn check_report_files(&self) -> Result<(), ConfigError> {
        let flows_json = self
            .flows
            .json
            .as_ref()
            .filter(|_| !self.flows.json_to_stdout());
        let paths = [self.stats_json.as_ref(), flows_json];
        for path in paths.into_iter().flatten() {
            open_append(path).map_err(|source| ConfigError::ReportFile {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }
}

/// `-C`, `-G`, `-W` and `-z`, checked against each other and `-w`.
fn rotation(c: &CommonArgs, write: Option<&WriteTo>) -> Result<Rotation, ConfigError> {
    let r = Rotation {
        size: c.file_size,
        every: c.rotate_secs.map(Duration::from_secs),
        files: c.file_count,
        post: c.post_rotate.clone(),
    };
    if r == Rotation::default() {
        return Ok(r);
    }
    let usage = |m: &str| Err(ConfigError::Usage(m.to_owned()));
    let Some(WriteTo::File(path)) = write else {
        return usage("-C, -G, -W and -z rotate the -w file: they need -w FILE (not -w -)");
    };
    if r.size.is_none() && r.every.is_none() {
        return usage("-W and -z need -C SIZE or -G SECS to rotate on");
    }
    if r.every.is_some() {
        crate::output::rotate::strftime(path, crate::capture::realtime_ns())
            .map_err(|e| ConfigError::Usage(format!("-G: {e}")))?;
    }
    Ok(r)
}

/// True when stdout and stderr are the same device (one terminal), or when that
/// cannot be told.
fn stdout_is_stderr() -> bool {
    use std::os::{fd::AsFd, unix::fs::MetadataExt};
    let device = |fd: std::os::fd::BorrowedFd<'_>| {
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        file.metadata().ok().map(|m| m.rdev())
    };
    match (
        device(std::io::stdout().as_fd()),
        device(std::io::stderr().as_fd()),
    ) {
        (Some(out), Some(err)) => out == err,
        _ => true,
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
}

/// The user of `-Z` (`given`): `root` keeps root. Without `-Z`, the first of
/// [`privdrop::DEFAULT_USERS`] that exists, when netcap may change its ids (root, or
/// CAP_SETUID and CAP_SETGID), as Debian's tcpdump; not with `-i any`, which opens
/// interfaces that come up later.
fn drop_user(given: Option<&str>, any: bool) -> Result<Option<User>, Error> {
    let lookup = |name: &str| {
        privdrop::lookup(name).map_err(|e| Error::io(format!("-Z: looking up user {name}"), e))
    };
    match given {
        Some("root") => Ok(None),
        Some(name) => match lookup(name)? {
            Some(u) => Ok(Some(u)),
            None => Err(ConfigError::Usage(format!("-Z {name}: no such user")).into()),
        },
        None => {
            let can = caps::effective()
                .is_some_and(|have| caps::missing(&[Cap::SetUid, Cap::SetGid], have).is_empty());
            if any || !can {
                return Ok(None);
            }
            for name in privdrop::DEFAULT_USERS {
                if let Some(u) = lookup(name)? {
                    return Ok(Some(u));
                }
            }
            Ok(None)
        }
    }
}
