//! netcap: kernel-accelerated packet capture.
//!
//! ```text
//!  cli: clap args --Config::capture/read--> cli::Config (validated; nothing later reads a flag)
//!        |
//!  run::run(&Config)
//!        |-- capture::open(&CaptureConfig) -> Vec<Box<dyn Source>>  (backend policy)
//!        |     capture::{xdp, af_packet, pcap_file}: kernel ring / mmap ring / file
//!        |-- run::outputs: stdout (text) and -w (Box<dyn FrameSink>)
//!        \-- run::driver: one runtime, signals, live line; the loop steps in run::live
//!        |  Batch (many frames, one buffer)
//!        v
//!  pipeline: bounded queue --> N decode workers (flow-hash sharded)
//!                                |-- decode::decode(frame) -> Decoded
//!                                |-- flow::FlowTable shard update
//!                                \-- output::Printer -> text buffer
//!        v
//!  one ordered writer --> stdout (Printer: turtle | line | json) and FrameSink (-w)
//!        v
//!  stats::Report: summary + --stats-json on stderr / file
//! ```
//!
//! The seams, and what a change touches:
//! - a text format: `output/<fmt>.rs` implementing [`output::Printer`], a
//!   [`output::Format`] variant and its arm in [`output::printer`];
//! - a frame destination (a rotating file, a socket): an [`output::FrameSink`];
//! - a capture backend: `capture/<backend>.rs` implementing [`capture::Source`], and
//!   its arm in [`capture::open()`], which alone decides which backend a run gets;
//! - a flag: `cli/mod.rs`, or `cli/common_args.rs` for one `capture` and `read` share
//!   (syntax), and `cli/config.rs` (meaning).
//!
//! One [`stop::Stop`] per run: the driver (signals, `-c`), the writer (output closed)
//! and the fanout workers (socket error) stop the run through it, and the first
//! reason ([`stop::End`]) is the one reported. Errors are typed ([`Error`]): the
//! capture's carry the errno they came from, so a missing privilege is told as one.
//!
//! Two variations on the path, both chosen in `run`:
//! - nothing to decode (`-F none` or a plain `-w`, no flows): `pipeline::direct` counts
//!   and writes each frame on the capture thread, straight from the kernel's ring;
//! - AF_PACKET with N > 1 workers: `pipeline::fanout` gives each worker its own socket
//!   of a `PACKET_FANOUT` group, and the writer merges their outputs by timestamp.
//!
//! `netcap top` ([`top`]) reuses the same pieces on one thread: `capture::open`, the
//! driver, `decode` and one `flow::FlowTable`, with a ratatui view in place of the
//! pipeline and the printers.
//!
//! Shutdown is a cascade: a signal (or `-c`, EOF, a write error) stops the source and
//! detaches the kernel programs; the workers drain their queues; flows are flushed;
//! sinks are flushed; the summary is printed.

pub mod capture;
pub mod cli;
pub mod decode;
pub mod filter;
pub mod flow;
pub mod output;
pub mod packet;
pub mod pipeline;
pub mod run;
pub mod stats;
pub mod stop;
pub mod top;

/// What can end a run before it starts or while it goes: each kind says what failed
/// and how, in words for the user; the capture kinds carry the errno they came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or reading a capture (privileges, a missing interface, a bad file).
    #[error(transparent)]
    Capture(#[from] capture::Error),
    /// A filter expression that does not compile, or a program that cannot run.
    #[error(transparent)]
    Filter(#[from] filter::Error),
    /// A command line that does not make sense.
    #[error(transparent)]
    Config(#[from] cli::ConfigError),
    /// Other setup and output I/O: names the call and the object that failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The exit status this error ends netcap with: 2 for bad usage, 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(c) => c.exit_code(),
            _ => 1,
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
