//! The destinations of a run, opened before anything is attached (so a bad `-w` path
//! fails before the capture starts, not after it ends): stdout for the text format,
//! the `-w` file or stdout for the frames, and the flow exporter's destinations.
use std::{
    io::{BufWriter, Write},
    os::fd::AsFd,
    path::Path,
};

use crate::{
    cli::{
        config::{Ipfix, WriteTo},
        Config,
    },
    output::{
        ipfix,
        pcap::{BoxedPcapSink, FileFormat, PcapSink},
        rotate::RotatingSink,
        Format, FrameSink, Interface,
    },
    packet::{Interfaces, LinkType},
    pipeline::{
        export::{Exporter, FlowSink, JsonLines},
        PipelineConfig,
    },
    stop::Stop,
    Error,
};

/// What the text and the frames are written to.
pub struct Outputs {
    pub text: Option<Box<dyn Write + Send>>,
    pub frames: Option<BoxedPcapSink>,
    /// Started when flows are counted.
    pub flows: Option<Exporter>,
    /// The first `-w` file, for `-Z` to hand over.
    pub first_file: Option<std::path::PathBuf>,
}

/// How many flows `--flows` prints.
pub const TOP_FLOWS: usize = 20;

impl Outputs {
    /// Opens what `cfg` asks for; `link` is the frames' link type when it is known now.
    pub fn open(cfg: &Config, link: Option<LinkType>) -> Result<Self, Error> {
        let format = FileFormat {
            pcapng: cfg.pcapng,
            nano: cfg.nano,
            snaplen: cfg.snaplen,
        };
        let mut first_file = None;
        let frames = match &cfg.write {
            None => None,
            // A plain -w FILE too: a sequence of one file, repaired after a full disk.
            Some(WriteTo::File(path)) => {
                let mut sink = RotatingSink::create(path, cfg.rotation.clone(), format)
                    .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
                sink.set_link_hint(link);
                first_file = sink.current_path().map(Path::to_path_buf);
                Some(Box::new(sink) as BoxedPcapSink)
            }
            Some(WriteTo::Stdout) => {
                let mut pcap = PcapSink::new(stdout(cfg), format);
                // Stdout's descriptor, for the direct path's zero-copy writes past the
                // buffer (std's stdout would buffer them again, and look for newlines).
                if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() {
                    pcap.set_through(Box::new(std::fs::File::from(fd)));
                }
                let mut sink: BoxedPcapSink = Box::new(pcap);
                sink.set_link_hint(link);
                Some(sink)
            }
        };
        // Unbuffered: the writer buffers it, and counts what reaches stdout.
        let text = (cfg.format != Format::None)
            .then(|| Box::new(std::io::stdout()) as Box<dyn Write + Send>);
        let flows = if cfg.flows.counted() {
            Some(flow_exporter(cfg)?)
        } else {
            None
        };
        Ok(Self {
            text,
            frames,
            flows,
            first_file,
        })
    }

    /// Tells the `-w` sink what the live source is, once it is open: its link type,
    /// and the interface and filter for the file's metadata.
    pub fn set_source(&mut self, link: Option<LinkType>, iface: &Interface) {
        if let Some(sink) = self.frames.as_mut() {
            sink.set_link_hint(link);
            sink.set_interface(iface);
        }
    }

    /// Several live interfaces: the `-w` sink names each frame's interface from
    /// `interfaces` (pcapng: one interface block per interface).
    pub fn set_interfaces(&mut self, interfaces: &Interfaces) {
        if let Some(sink) = self.frames.as_mut() {
            sink.set_interfaces(interfaces);
        }
    }

    /// The decoder pipeline's configuration for these outputs, for frames from
    /// `interfaces`.
    pub fn pipeline(self, cfg: &Config, stop: Stop, interfaces: Interfaces) -> PipelineConfig {
        PipelineConfig {
            workers: cfg.workers,
            format: cfg.format,
            text: cfg.text.clone(),
            flows: cfg.flows.counted(),
            flow_cfg: cfg.flows.table,
            flow_export: self.flows,
            wall_clock: matches!(cfg.input, crate::cli::config::Input::Live(_)),
            text_out: self.text,
            text_buffer: buffer_size(cfg),
            line_buffered: cfg.flush_each_batch(),
            pcap: self.frames,
            stop,
            interfaces,
        }
    }
}

/// The flow exporter and its sinks: `--flows-json` (a file, or stdout with `-`), and
/// IPFIX (a collector, a file).
fn flow_exporter(cfg: &Config) -> Result<Exporter, Error> {
    let mut sinks: Vec<Box<dyn FlowSink>> = Vec::new();
    if let Some(path) = &cfg.flows.json {
        let name = format!("--flows-json {}", path.display());
        if cfg.flows.json_to_stdout() {
            sinks.push(Box::new(JsonLines::new(name, std::io::stdout())));
        } else {
            let f = crate::output::create_file(path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            sinks.push(Box::new(JsonLines::new(name, f)));
        }
    }
    if let Some(ipfix) = &cfg.flows.ipfix {
        ipfix_sinks(ipfix, &mut sinks)?;
    }
    let keep = if cfg.flows.top { TOP_FLOWS } else { 0 };
    Exporter::start(sinks, keep).map_err(|e| Error::io("starting the flow exporter", e))
}

/// `--ipfix` (UDP, or TCP) and `--ipfix-file`. Templates are refreshed over UDP only:
/// TCP and files lose nothing, and carry them once at the start of each session.
fn ipfix_sinks(ipfix: &Ipfix, sinks: &mut Vec<Box<dyn FlowSink>>) -> Result<(), Error> {
    let enc = |refresh| ipfix::encoder_config(ipfix.domain, ipfix.biflow, refresh);
    if let Some((addr, text)) = &ipfix.collector {
        if ipfix.tcp {
            let name = format!("IPFIX to {text} (TCP)");
            sinks.push(Box::new(ipfix::TcpExporter::new(name, *addr, enc(None))));
        } else {
            let name = format!("IPFIX to {text}");
            let sink = ipfix::UdpExporter::new(name, *addr, enc(Some(ipfix.template_every)))
                .map_err(|e| Error::io(format!("--ipfix {text}: UDP socket"), e))?;
            sinks.push(Box::new(sink));
        }
    }
    if let Some(path) = &ipfix.file {
        let sink = ipfix::IpfixFile::create(path, enc(None))
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        sinks.push(Box::new(sink));
    }
    Ok(())
}

/// The stdout buffer: 64 KiB when it is flushed often (`-l`, a terminal), else 1 MiB.
fn buffer_size(cfg: &Config) -> usize {
    if cfg.line_buffered || cfg.stdout_is_terminal {
        64 * 1024
    } else {
        1 << 20
    }
}

/// Stdout, buffered, for frames (`-w -`).
fn stdout(cfg: &Config) -> Box<dyn Write + Send> {
    Box::new(BufWriter::with_capacity(
        buffer_size(cfg),
        std::io::stdout(),
    ))
}
