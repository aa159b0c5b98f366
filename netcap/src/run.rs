//! Runs a capture or a file read from a validated command line: builds the source and
//! the pipeline, drives them until the end, then prints the summary.
//!
//! Shutdown cascade: Ctrl-C / SIGTERM / `-c` reached / output closed / source ended ->
//! `Source::stop` (kernel hooks detached) -> the rest of the ring drained -> pipeline
//! finished (workers drain, flows merge, writer flushes) -> summary and `--stats-json`.
use std::{
    io::{IsTerminal, Write},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use netcap_common::CbpfInsn;

use crate::{
    capture::{
        self,
        af_packet::{AfPacket, AfPacketConfig, DirectionFilter, Fanout, DEFAULT_BLOCK_SIZE},
        pcap_file::FileSource,
        xdp, CaptureCounters, Fill, Source,
    },
    cli::{BackendArg, CaptureArgs, CommonArgs, DirectionArg, ReadArgs},
    filter::{Filter, LinkFilters},
    output::{
        pcap::{BoxedPcapSink, PcapSink},
        Format,
    },
    packet::LinkType,
    pipeline::{direct::Direct, fanout, Finished, Pipeline, PipelineConfig, BATCH_BYTES},
    stats::{self, Report},
    Error,
};

/// Longest the capture loop sleeps without checking the ring: the latency of a frame
/// that does not trigger a wake-up (the kernel wakes us at 1/8 ring fill).
const TICK: Duration = Duration::from_millis(10);
/// The same when nothing is printed (`-F none`, `-w` alone) and `-l` is not given:
/// nobody watches the latency, and wake-ups cost CPU (on this project's VM an idle
/// capture used 4.2 ms of CPU per second at 10 ms and 1.2 ms at 100 ms, read from
/// /proc/PID/task/*/schedstat), which at 50 kpps was most of the cost of a frame. This is also
/// the AF_PACKET block timeout then. libpcap uses 1000 ms for both.
const QUIET_TICK: Duration = Duration::from_millis(100);

/// The text format and destinations chosen by the common options.
struct Outputs {
    format: Format,
    text_out: Option<Box<dyn Write + Send>>,
    pcap: Option<BoxedPcapSink>,
}

fn outputs(common: &CommonArgs, snaplen: u32, link: Option<LinkType>) -> Result<Outputs, Error> {
    let pcap_to_stdout = common
        .write
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-");
    let format = text_format(common);
    if pcap_to_stdout && format != Format::None {
        return Err(Error::Msg(
            "-w - puts the pcap on stdout: it cannot also hold text (-F)".into(),
        ));
    }
    let stdout_box = || -> Box<dyn Write + Send> {
        let out = std::io::stdout();
        let cap = if common.line_buffered || out.is_terminal() {
            64 * 1024
        } else {
            1 << 20
        };
        Box::new(std::io::BufWriter::with_capacity(cap, out))
    };
    let pcap = match &common.write {
        None => None,
        Some(p) if pcap_to_stdout => {
            let _ = p;
            Some(PcapSink::new(stdout_box(), common.pcapng, snaplen))
        }
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
            let w: Box<dyn Write + Send> = Box::new(std::io::BufWriter::with_capacity(1 << 20, f));
            Some(PcapSink::new(w, common.pcapng, snaplen))
        }
    };
    let mut pcap = pcap.map(|p| -> BoxedPcapSink { Box::new(p) });
    if let Some(p) = pcap.as_mut() {
        p.set_link_hint(link);
    }
    let text_out = (format != Format::None).then(stdout_box);
    Ok(Outputs {
        format,
        text_out,
        pcap,
    })
}

/// Fails when `--stats-json` or `--flows-json` cannot be written, before the run
/// rather than after it. Opens each for appending (creating it, truncating nothing);
/// the report itself is written at the end.
fn check_report_paths(common: &CommonArgs) -> Result<(), Error> {
    for path in [&common.stats_json, &common.flows_json]
        .into_iter()
        .flatten()
    {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}

/// The `-F` format; like tcpdump, with -w nothing is printed unless one is asked for.
fn text_format(common: &CommonArgs) -> Format {
    common.format.unwrap_or(if common.write.is_some() {
        Format::None
    } else {
        Format::Turtle
    })
}

/// True when frames must be decoded: something is printed or flows are counted.
fn decodes(common: &CommonArgs) -> bool {
    text_format(common) != Format::None || common.flows || common.flows_json.is_some()
}

fn start_pipeline(common: &CommonArgs, outs: Outputs, live: bool) -> Pipeline {
    Pipeline::start(pipeline_config(common, outs, live))
}

fn pipeline_config(common: &CommonArgs, outs: Outputs, live: bool) -> PipelineConfig {
    let stdout_tty = std::io::stdout().is_terminal();
    PipelineConfig {
        workers: common.workers(),
        format: outs.format,
        flows: common.flows || common.flows_json.is_some(),
        max_flows: common.max_flows,
        text_out: outs.text_out,
        line_buffered: common.line_buffered || (live && stdout_tty),
        pcap: outs.pcap,
    }
}

/// Takes at most `left` frames of `batch` (for `-c`); returns how many it cut.
fn limit(batch: &mut crate::packet::Batch, left: &mut Option<u64>) -> u64 {
    let mut cut = 0;
    if let Some(n) = left.as_mut() {
        if (batch.len() as u64) > *n {
            cut = batch.len() as u64 - *n;
            batch.truncate(*n as usize);
        }
        *n -= batch.len() as u64;
    }
    cut
}

/// `netcap read FILE`.
pub fn read(args: &ReadArgs) -> Result<Report, Error> {
    let common = &args.common;
    let snaplen = common.snaplen().map_err(Error::Msg)?;
    let expr = common.filter_expr().map_err(Error::Msg)?;
    check_report_paths(common)?;
    let mut source = FileSource::open(&args.file)?;
    // Compiled before any output exists, so a bad expression fails cleanly.
    let mut filter = match expr {
        Some(e) => Some(LinkFilters::new(
            &e,
            source.link_type().unwrap_or(LinkType::Ethernet),
        )?),
        None => None,
    };
    let mut rejected = 0u64;
    if let Some(link) = source.link_type().filter(|l| !l.is_supported()) {
        eprintln!(
            "netcap: {}: link type {} is not decoded; frames are counted{}",
            args.file.display(),
            link.to_linktype(),
            if common.write.is_some() {
                " and written"
            } else {
                ""
            }
        );
    }
    let outs = outputs(common, snaplen, source.link_type())?;
    let started = Instant::now();
    let mut pipeline = start_pipeline(common, outs, false);
    let mut left = common.count;
    let mut beyond_count = 0u64;
    loop {
        let mut batch = pipeline.empty_batch(BATCH_BYTES + 65536, 1024);
        let fill = source.fill(&mut batch, BATCH_BYTES)?;
        if let Some(f) = filter.as_mut() {
            rejected += f.retain(&mut batch)?;
        }
        // Frames read past `-c` were never taken: not seen, not captured.
        beyond_count += limit(&mut batch, &mut left);
        pipeline.submit(batch, true);
        if fill == Fill::End || left == Some(0) || pipeline.output_closed.load(Ordering::Relaxed) {
            break;
        }
    }
    let dropped = pipeline.dropped_queue_full.load(Ordering::Relaxed);
    let finished = pipeline.finish();
    let mut counters = source.counters();
    counters.seen = counters.seen.saturating_sub(beyond_count);
    counters.filtered = rejected;
    counters.captured = counters
        .captured
        .saturating_sub(rejected)
        .saturating_sub(beyond_count);
    let origin = Origin {
        backend: "file",
        delay: None,
        dropped_by_interface: None,
        abnormal_end: source.faulted(),
    };
    Ok(report(common, counters, dropped, finished, started, origin))
}

/// Where the frames of a report came from.
struct Origin<'a> {
    backend: &'a str,
    /// Kernel-to-user-space delays (live captures).
    delay: Option<&'a hdrhistogram::Histogram<u64>>,
    /// The interface's own drops during a live capture.
    dropped_by_interface: Option<u64>,
    /// See [`stats::Inputs::abnormal_end`].
    abnormal_end: bool,
}

fn report(
    common: &CommonArgs,
    kernel: CaptureCounters,
    dropped_queue_full: u64,
    finished: Finished,
    started: Instant,
    origin: Origin<'_>,
) -> Report {
    let Origin {
        backend,
        delay,
        dropped_by_interface,
        abnormal_end,
    } = origin;
    Report::new(stats::Inputs {
        backend: backend.to_owned(),
        kernel,
        dropped_queue_full,
        finished,
        elapsed: started.elapsed(),
        delay_us: delay.cloned(),
        dropped_by_interface,
        abnormal_end,
        flows_top: common.flows,
        flows_json: common.flows_json.clone(),
    })
}

/// `netcap capture`.
pub fn capture(args: &CaptureArgs) -> Result<Report, Error> {
    let common = &args.common;
    let snaplen = common.snaplen().map_err(Error::Msg)?;
    // Compiled before anything is attached, so a bad expression fails cleanly. XDP
    // sees frames with their VLAN tags in place, as a file holds them: Ethernet.
    let expr = common.filter_expr().map_err(Error::Msg)?;
    let compiled = match &expr {
        Some(e) => {
            Some(Filter::compile(e, LinkType::Ethernet, snaplen)?).filter(|f| !f.accepts_all())
        }
        None => None,
    };
    let kernel_filter: Vec<CbpfInsn> = compiled.as_ref().map_or(Vec::new(), |f| f.insns().to_vec());
    // AF_PACKET sees received frames with their VLAN tag already stripped by the kernel
    // (the backend puts it back before user space sees the frame). A program compiled
    // for tagged Ethernet, run on the stripped frame, can match what it should not
    // (`udp` on a tagged UDP frame) and, for VLAN expressions, miss what it should
    // match. So on AF_PACKET the program runs again in user space on the restored
    // frame, and expressions about VLAN/MPLS tags run only there.
    let afp_kernel_filter: Vec<CbpfInsn> = match &expr {
        Some(e) if mentions_tags(e) => Vec::new(),
        _ => kernel_filter.clone(),
    };
    let mut recheck: Option<(Filter, u64)> = None;
    let ifname = match &args.interface {
        Some(i) => i.clone(),
        None => crate::cli::default_route_interface().ok_or_else(|| {
            Error::Msg("no default route to pick an interface from; give one with -i".into())
        })?,
    };
    let ifindex = capture::ifindex_of(&ifname)
        .ok_or_else(|| Error::Msg(format!("no such interface: {ifname}")))?;
    // AF_PACKET with decoding to do: one fanout socket per decoder thread. Not with
    // -c, which needs one count over frames in capture order.
    let sockets = if decodes(common) && common.count.is_none() {
        common.workers()
    } else {
        1
    };
    let tick = if decodes(common) || common.line_buffered {
        TICK
    } else {
        QUIET_TICK
    };
    let af_packet = || {
        let filter = &afp_kernel_filter;
        open_af_packet(args, &ifname, ifindex, snaplen, filter, sockets, tick)
    };
    // Every destination is opened (or checked) before anything is attached, so a bad
    // path fails before the capture starts, not after it ends.
    check_report_paths(common)?;
    let mut outs = outputs(common, snaplen, None)?;
    let mut promisc = None;
    // The default is AF_PACKET: of the hooks measured (README, "Capture modes") it
    // costs the machine least per frame and changes nothing in the host's traffic.
    let (mut sources, backend): (Vec<Box<dyn Source>>, String) = match args.backend {
        BackendArg::Xdp => {
            let cfg = xdp::XdpConfig {
                ifname: ifname.clone(),
                ifindex,
                mode: args.xdp_mode,
                direction: args.direction,
                snaplen,
                ring_bytes: xdp::ring_bytes_for(args.buffer_kib),
                wakeup_bytes: args.wakeup_bytes,
                filter: kernel_filter.clone(),
            };
            // XDP takes every frame the device receives, but the device only receives
            // frames for other MACs (a mirror port) in promiscuous mode.
            if !args.no_promisc {
                promisc = Some(capture::af_packet::Promisc::hold(&ifname, ifindex)?);
            }
            let src = xdp::XdpSource::open(&cfg)?;
            let what = format!("{} on {ifname}", src.description);
            (vec![Box::new(src)], what)
        }
        BackendArg::Auto | BackendArg::Afpacket => {
            recheck = compiled.clone().map(|f| (f, 0));
            af_packet()?
        }
    };
    eprintln!("netcap: capturing with {backend}, snap length {snaplen}");
    let if_drops = IfDrops::start(&ifname);
    if let Some(p) = outs.pcap.as_mut() {
        p.set_link_hint(sources.first().and_then(|s| s.link()));
    }
    let started = Instant::now();
    if sources.len() > 1 {
        let recheck = recheck.map(|(f, _)| f);
        let run = Started {
            at: started,
            backend,
            if_drops,
        };
        return capture_fanout(common, &ifname, sources, recheck, outs, run);
    }
    let Some(mut source) = sources.pop() else {
        return Err(Error::Msg("no capture source was opened".into()));
    };
    let flows = common.flows || common.flows_json.is_some();
    let mut sink = if outs.format == Format::None && !flows {
        let filter = recheck.take().map(|(f, _)| f);
        Sink::Direct(Direct::new(outs.pcap, filter), common.line_buffered)
    } else {
        Sink::Pipeline(start_pipeline(common, outs, true))
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the tokio runtime", e))?;
    let live = Arc::new(LiveCounters::default());
    let end = runtime
        .block_on(drive(
            &mut *source,
            &mut sink,
            common,
            tick,
            live.clone(),
            &mut recheck,
        ))?
        .or_else(|| {
            capture::ifindex_of(&ifname)
                .is_none()
                .then(|| format!("interface {ifname} vanished"))
        });
    exit_on_second_signal(live.clone());
    if let Some(why) = &end {
        eprintln!("netcap: {why}");
    }
    let mut kernel = source.counters();
    let (dropped, finished) = match sink {
        Sink::Pipeline(p) => (p.dropped_queue_full.load(Ordering::Relaxed), p.finish()),
        Sink::Direct(d, _) => {
            kernel.filtered += d.rejected;
            kernel.captured = kernel.captured.saturating_sub(d.rejected);
            (0, d.finish())
        }
    };
    if let Some((_, rejected)) = recheck {
        kernel.filtered += rejected;
        kernel.captured = kernel.captured.saturating_sub(rejected);
    }
    // Frames the hooks took after `-c` was reached were never read (or were cut from
    // the last batch): as with `read -c`, they are neither seen nor captured, so the
    // counts agree with `-c`.
    let handled = live.frames.load(Ordering::Relaxed);
    if common.count == Some(handled) {
        let accounted = kernel.filtered + kernel.lost_total() + handled;
        kernel.seen = kernel.seen.min(accounted);
        kernel.captured = handled;
    }
    let delay = source.delay_us().cloned();
    drop(source);
    drop(promisc);
    let origin = Origin {
        backend: &backend,
        delay: delay.as_ref(),
        dropped_by_interface: if_drops.since_start(),
        abnormal_end: end.is_some(),
    };
    Ok(report(common, kernel, dropped, finished, started, origin))
}

/// What a live capture knows from its start: when, on what, the interface's drops.
struct Started {
    at: Instant,
    backend: String,
    if_drops: IfDrops,
}

/// The interface's own drop counter at the start of a capture.
struct IfDrops {
    ifname: String,
    at_start: Option<u64>,
}

impl IfDrops {
    fn start(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            at_start: capture::interface_drops(ifname),
        }
    }

    /// Drops since `start`; `None` when the interface has no counters (or vanished).
    fn since_start(&self) -> Option<u64> {
        let now = capture::interface_drops(&self.ifname)?;
        Some(now.saturating_sub(self.at_start?))
    }
}

/// Opens `sockets` AF_PACKET sockets; more than one form a `PACKET_FANOUT` group and
/// share the `-B` buffer.
fn open_af_packet(
    args: &CaptureArgs,
    ifname: &str,
    ifindex: u32,
    snaplen: u32,
    filter: &[CbpfInsn],
    sockets: usize,
    block_timeout: Duration,
) -> Result<(Vec<Box<dyn Source>>, String), Error> {
    let mut cfg = AfPacketConfig::new(ifname);
    cfg.ifindex = Some(ifindex);
    cfg.block_timeout_ms = u32::try_from(block_timeout.as_millis()).unwrap_or(u32::MAX);
    cfg.snaplen = snaplen;
    cfg.promisc = !args.no_promisc;
    if !filter.is_empty() {
        if crate::filter::cbpf::forward_only(filter) {
            cfg.filter = Some(filter.to_vec());
        } else {
            // The kernel's socket filter refuses backward jumps; the same program runs
            // on every frame in user space instead (the VLAN re-check).
            eprintln!(
                "netcap: this filter loops (protochain), which a socket filter cannot: it \
                 runs in user space on every frame"
            );
        }
    }
    let sockets = sockets.max(1);
    cfg.buffer_bytes = xdp::ring_bytes_for(args.buffer_kib) as usize / sockets;
    cfg.block_size = block_size_for(cfg.buffer_bytes, snaplen);
    cfg.direction = match args.direction {
        DirectionArg::In => DirectionFilter::In,
        DirectionArg::Out => DirectionFilter::Out,
        DirectionArg::Both => DirectionFilter::Both,
    };
    if sockets > 1 {
        // The first socket makes a group with an id no one else uses; the rest join it.
        cfg.fanout = Some(Fanout::New);
    }
    let mut opened: Vec<Box<dyn Source>> = Vec::with_capacity(sockets);
    let mut ring_bytes = 0;
    for _ in 0..sockets {
        let src = AfPacket::open(cfg.clone())?;
        ring_bytes = src.ring_bytes();
        if cfg.fanout == Some(Fanout::New) {
            let id = src.fanout_id().ok_or_else(|| {
                Error::Msg(format!("{ifname}: cannot read back the fanout group id"))
            })?;
            cfg.fanout = Some(Fanout::Join(id));
        }
        opened.push(Box::new(src));
    }
    let what = if sockets > 1 {
        format!(
            "AF_PACKET (TPACKET_V3, fanout by flow hash over {sockets} sockets, {} KiB ring \
             each) on {ifname}",
            ring_bytes / 1024
        )
    } else {
        format!(
            "AF_PACKET (TPACKET_V3, {} KiB ring) on {ifname}",
            ring_bytes / 1024
        )
    };
    Ok((opened, what))
}

/// Block size for an AF_PACKET ring of `bytes`: about 8 blocks, so that the kernel
/// always has free blocks while user space reads one, within 64 KiB and 1 MiB (the
/// default), and never smaller than a frame of `snaplen` bytes with its headers: the
/// kernel cuts a frame that does not fit in a block (TPACKET_V3 `max_frame_len`), so a
/// 64 KiB GSO frame needs a 128 KiB block and a 256 KiB snap length a 512 KiB one.
fn block_size_for(bytes: usize, snaplen: u32) -> usize {
    let eighth = (bytes / 8).max(1);
    // The largest power of two not above an eighth of the ring.
    let pow2 = 1usize << (usize::BITS - 1 - eighth.leading_zeros());
    // tpacket3_hdr, sockaddr_ll, the MAC alignment and the block descriptor fit in 512.
    let whole_frame = (snaplen as usize + 512).next_power_of_two();
    pow2.clamp(64 * 1024, DEFAULT_BLOCK_SIZE).max(whole_frame)
}

/// The capture loop for AF_PACKET fanout: the workers read their own sockets; this
/// thread only waits for a signal, a closed output or a socket error, then stops them.
fn capture_fanout(
    common: &CommonArgs,
    ifname: &str,
    sources: Vec<Box<dyn Source>>,
    recheck: Option<Filter>,
    outs: Outputs,
    run: Started,
) -> Result<Report, Error> {
    let Started {
        at: started,
        backend,
        if_drops,
    } = run;
    let shared = Arc::new(fanout::Shared {
        ifname: ifname.to_owned(),
        ..fanout::Shared::default()
    });
    let pipeline = Pipeline::start_fanout(
        pipeline_config(common, outs, true),
        sources,
        shared.clone(),
        recheck,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the tokio runtime", e))?;
    runtime.block_on(async {
        let mut sig = Signals::install()?;
        let _stats_task = common.stats_interval.filter(|s| *s > 0.0).map(|secs| {
            let shared = shared.clone();
            tokio::spawn(stats::live_line(
                Duration::from_secs_f64(secs),
                move || {
                    (
                        shared.frames.load(Ordering::Relaxed),
                        shared.bytes.load(Ordering::Relaxed),
                    )
                },
                Arc::new(AtomicU64::new(0)),
            ))
        });
        loop {
            tokio::select! {
                biased;
                _ = sig.int.recv() => break,
                _ = sig.term.recv() => break,
                _ = sig.hup.recv() => break,
                _ = sig.usr1.recv() => {
                    eprintln!(
                        "netcap: {} frames captured so far",
                        shared.frames.load(Ordering::Relaxed)
                    );
                }
                _ = sig.usr2.recv() => pipeline.request_flush(),
                _ = tokio::time::sleep(TICK) => {}
            }
            if shared.stop.load(Ordering::Relaxed) || pipeline.output_closed.load(Ordering::Relaxed)
            {
                break;
            }
        }
        Ok::<(), Error>(())
    })?;
    shared.stop.store(true, Ordering::Relaxed);
    let handled = Arc::new(LiveCounters::default());
    handled
        .frames
        .store(shared.frames.load(Ordering::Relaxed), Ordering::Relaxed);
    exit_on_second_signal(handled);
    let finished = pipeline.finish();
    let failed = shared.error.lock().ok().and_then(|mut e| e.take());
    if let Some(why) = &failed {
        eprintln!("netcap: {why}");
    }
    let mut kernel = CaptureCounters::default();
    let mut delay = capture::delay_histogram();
    for s in &finished.sources {
        kernel.add(&s.counters);
        kernel.filtered += s.rejected;
        kernel.captured = kernel.captured.saturating_sub(s.rejected);
        if let Some(d) = &s.delay_us {
            let _ = delay.add(d);
        }
    }
    let origin = Origin {
        backend: &backend,
        delay: Some(&delay),
        dropped_by_interface: if_drops.since_start(),
        abnormal_end: failed.is_some(),
    };
    Ok(report(common, kernel, 0, finished, started, origin))
}

/// The signals a capture answers, as tcpdump: SIGINT, SIGTERM and SIGHUP end it
/// cleanly (summary, complete files); SIGUSR1 prints the counts so far to stderr;
/// SIGUSR2 flushes the output (`-w`) and goes on.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

impl Signals {
    /// Needs a running tokio runtime.
    fn install() -> Result<Self, Error> {
        use tokio::signal::unix::{signal, SignalKind};
        let on = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Error::io(format!("installing a {name} handler"), e))
        };
        Ok(Self {
            int: on(SignalKind::interrupt(), "SIGINT")?,
            term: on(SignalKind::terminate(), "SIGTERM")?,
            hup: on(SignalKind::hangup(), "SIGHUP")?,
            usr1: on(SignalKind::user_defined1(), "SIGUSR1")?,
            usr2: on(SignalKind::user_defined2(), "SIGUSR2")?,
        })
    }
}

/// After the capture has stopped, a second SIGINT, SIGTERM or SIGHUP ends netcap at
/// once, even while its output is stalled (`netcap ... | sleep 60`): the hooks are
/// already detached, so only unwritten output is lost, and the user is told so.
fn exit_on_second_signal(live: Arc<LiveCounters>) {
    let guard = move || -> Option<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let mut sig = Signals::install().ok()?;
            tokio::select! {
                _ = sig.int.recv() => {}
                _ = sig.term.recv() => {}
                _ = sig.hup.recv() => {}
            }
            Some(())
        })?;
        eprintln!(
            "netcap: second signal: exiting without writing the rest of the output (it is \
             not being read); {} frames were handled",
            live.frames.load(Ordering::Relaxed)
        );
        std::process::exit(0);
    };
    let _ = std::thread::Builder::new()
        .name("netcap-exit-guard".into())
        .spawn(move || {
            guard();
        });
}

/// The SIGUSR1 line: what the hooks counted so far.
fn so_far(k: &CaptureCounters, live: &LiveCounters) -> String {
    format!(
        "{} frames seen, {} captured, {} filtered, {} lost so far; {} handled",
        k.seen,
        k.captured,
        k.filtered,
        k.lost_total(),
        live.frames.load(Ordering::Relaxed)
    )
}

/// Counters the live statistics line reads.
#[derive(Default)]
struct LiveCounters {
    frames: AtomicU64,
    bytes: AtomicU64,
}

/// Where captured frames go: the decoder pipeline, or (when nothing needs decoding)
/// straight to the counters and the `-w` file on this thread. The flag is `-l`.
enum Sink {
    Pipeline(Pipeline),
    Direct(Direct, bool),
}

impl Sink {
    fn closed(&self) -> bool {
        match self {
            Sink::Pipeline(p) => p.output_closed.load(Ordering::Relaxed),
            Sink::Direct(d, _) => d.closed,
        }
    }

    /// Writes out what is buffered (SIGUSR2).
    fn flush(&mut self) {
        match self {
            Sink::Pipeline(p) => p.request_flush(),
            Sink::Direct(d, _) => d.flush(),
        }
    }

    fn dropped_counter(&self) -> Arc<AtomicU64> {
        match self {
            Sink::Pipeline(p) => p.dropped_queue_full.clone(),
            Sink::Direct(..) => Arc::new(AtomicU64::new(0)),
        }
    }
}

/// The capture loop: waits for the ring (or the tick), drains it, hands frames on.
/// Returns a message when the capture ended for a reason the user should hear about.
async fn drive(
    source: &mut dyn Source,
    sink: &mut Sink,
    common: &CommonArgs,
    tick: Duration,
    live: Arc<LiveCounters>,
    recheck: &mut Option<(Filter, u64)>,
) -> Result<Option<String>, Error> {
    let mut sig = Signals::install()?;
    let readiness = match source.fd() {
        Some(fd) => Some(
            capture::readiness(fd)
                .map_err(|e| Error::io("registering the ring fd with epoll", e))?,
        ),
        None => None,
    };
    let _stats_task = common.stats_interval.filter(|s| *s > 0.0).map(|secs| {
        let live = live.clone();
        tokio::spawn(stats::live_line(
            Duration::from_secs_f64(secs),
            live_reader(live),
            sink.dropped_counter(),
        ))
    });
    let mut left = common.count;
    let mut ended: Option<String> = None;
    loop {
        tokio::select! {
            biased;
            _ = sig.int.recv() => break,
            _ = sig.term.recv() => break,
            _ = sig.hup.recv() => break,
            _ = sig.usr1.recv() => {
                eprintln!("netcap: {}", so_far(&source.counters(), &live));
            }
            _ = sig.usr2.recv() => sink.flush(),
            ready = async {
                match &readiness {
                    Some(fd) => fd.readable().await.map(|mut g| g.clear_ready()),
                    None => std::future::pending().await,
                }
            } => { let _ = ready; }
            _ = tokio::time::sleep(tick) => {}
        }
        match drain(source, sink, &mut left, &live, recheck) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                ended = Some(e.to_string());
                break;
            }
        }
        if left == Some(0) || sink.closed() {
            break;
        }
    }
    // Detach, then take what the kernel had already queued.
    source.stop();
    if left != Some(0) && !sink.closed() {
        tokio::time::sleep(source.settle_time()).await;
        let _ = drain(source, sink, &mut left, &live, recheck);
    }
    Ok(ended)
}

fn live_reader(live: Arc<LiveCounters>) -> impl Fn() -> (u64, u64) + Send + 'static {
    move || {
        (
            live.frames.load(Ordering::Relaxed),
            live.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Drains everything ready; `Ok(false)` when the source has ended.
fn drain(
    source: &mut dyn Source,
    sink: &mut Sink,
    left: &mut Option<u64>,
    live: &LiveCounters,
    recheck: &mut Option<(Filter, u64)>,
) -> Result<bool, Error> {
    match sink {
        Sink::Pipeline(pipeline) => drain_to_pipeline(source, pipeline, left, live, recheck),
        Sink::Direct(direct, line_buffered) => {
            // In rounds of a batch's worth of bytes: the ring gets its space back after
            // each round (the XDP consumer position is published once per `visit`).
            let (mut frames, mut bytes) = (0u64, 0u64);
            let fill = loop {
                let round_start = bytes;
                let mut stopped = false;
                let fill = source.visit(&mut |frame| {
                    if direct.take(frame) {
                        frames += 1;
                        bytes += frame.data.len() as u64;
                        if let Some(n) = left.as_mut() {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                stopped = true;
                                return false;
                            }
                        }
                    }
                    if direct.closed {
                        stopped = true;
                        return false;
                    }
                    bytes - round_start < BATCH_BYTES as u64
                })?;
                if fill == Fill::End || stopped || bytes - round_start < BATCH_BYTES as u64 {
                    break fill;
                }
            };
            if *line_buffered && frames > 0 {
                direct.flush();
            } else {
                direct.flush_if_due();
            }
            live.frames.fetch_add(frames, Ordering::Relaxed);
            live.bytes.fetch_add(bytes, Ordering::Relaxed);
            Ok(fill != Fill::End)
        }
    }
}

fn drain_to_pipeline(
    source: &mut dyn Source,
    pipeline: &mut Pipeline,
    left: &mut Option<u64>,
    live: &LiveCounters,
    recheck: &mut Option<(Filter, u64)>,
) -> Result<bool, Error> {
    loop {
        let mut batch = pipeline.empty_batch(BATCH_BYTES + 16384, 2048);
        let fill = source.fill(&mut batch, BATCH_BYTES)?;
        if let Some((filter, rejected)) = recheck.as_mut() {
            *rejected += filter.retain(&mut batch);
        }
        limit(&mut batch, left);
        let (n, bytes) = (batch.len(), batch.bytes());
        live.frames.fetch_add(n as u64, Ordering::Relaxed);
        live.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        pipeline.submit(batch, false);
        if fill == Fill::End {
            return Ok(false);
        }
        if bytes < BATCH_BYTES / 2 || *left == Some(0) {
            return Ok(true);
        }
    }
}

/// How many flows `--flows` prints.
const TOP_FLOWS: usize = 20;

/// `--flows` (top flows to stderr) and `--flows-json` (every flow, one JSON line each).
pub fn write_flows(report: &mut Report) -> Result<(), Error> {
    let (top, json) = (report.inputs.flows_top, report.inputs.flows_json.clone());
    if !top && json.is_none() {
        return Ok(());
    }
    let flows = crate::flow::FlowStats::merge(&mut report.inputs.finished.flows);
    if top {
        let mut err = std::io::stderr().lock();
        crate::flow::write_top(&mut err, &flows, TOP_FLOWS)
            .map_err(|e| Error::io("writing the flow table to stderr", e))?;
    }
    if let Some(path) = json {
        let f = std::fs::File::create(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut w = std::io::BufWriter::new(f);
        crate::flow::write_json_lines(&mut w, &flows)
            .and_then(|()| w.flush())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// True when a filter expression tests VLAN or MPLS tags, which AF_PACKET's in-kernel
/// socket filter cannot see on received frames (the tag was stripped before it runs).
fn mentions_tags(expr: &str) -> bool {
    expr.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("vlan") || w.eq_ignore_ascii_case("mpls"))
}
