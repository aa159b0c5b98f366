//! netcap: kernel-accelerated packet capture.
//!
//! ```text
//!  capture::{xdp, af_packet, pcap_file}       (kernel ring / mmap ring / file)
//!        |  Batch (many frames, one buffer)
//!        v
//!  pipeline: bounded queue --> N decode workers (flow-hash sharded)
//!                                |-- decode::decode(frame) -> Decoded
//!                                |-- flow::FlowTable shard update
//!                                \-- output::Printer -> text buffer
//!        v
//!  one ordered writer --> stdout (turtle | line | json) and/or pcap file (-w)
//!        v
//!  summary + --stats-json on stderr / file
//! ```
//!
//! Two variations on that path, both chosen in `run::capture`:
//! - nothing to decode (`-F none` or a plain `-w`, no flows): `pipeline::direct` counts
//!   and writes each frame on the capture thread, straight from the kernel's ring;
//! - AF_PACKET with N > 1 workers: `pipeline::fanout` gives each worker its own socket
//!   of a `PACKET_FANOUT` group, and the writer merges their outputs by timestamp.
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

/// Setup and I/O errors: each names the call and the object that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Msg(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
