//! The numbers a run ends with: the summary on stderr, `--stats-json`, and the live
//! `--stats-interval` line.
//!
//! Accounting: every frame the kernel hook saw ends in exactly one of `filtered`,
//! `captured` (delivered to the decoders), or `lost` (by cause: `ring_full`, `copy` in
//! the kernel; `queue_full` in user space), so `seen == filtered + captured + lost`.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use serde_json::json;

use crate::{
    capture::{pcapng_read::IfStats, CaptureCounters},
    pipeline::Finished,
};

pub struct Inputs {
    pub backend: String,
    pub kernel: CaptureCounters,
    pub dropped_queue_full: u64,
    pub finished: Finished,
    pub elapsed: Duration,
    pub delay_us: Option<hdrhistogram::Histogram<u64>>,
    /// What the interface itself dropped during a live capture (before any hook saw
    /// the frames); `None` for files and interfaces without statistics.
    pub dropped_by_interface: Option<u64>,
    /// The run ended abnormally (a cut or corrupt file, a vanished interface, a socket
    /// error): the exit status is 1.
    pub abnormal_end: bool,
    /// `netcap read` of pcapng: the last interface statistics block of each interface
    /// that has one, with the interface's name.
    pub file_stats: Vec<(String, IfStats)>,
}

pub struct Report {
    pub inputs: Inputs,
}

fn percentiles(h: &hdrhistogram::Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    json!({
        "count": h.len(),
        "min": h.min(),
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

impl Report {
    pub fn new(inputs: Inputs) -> Self {
        Self { inputs }
    }

    /// Frames delivered to the decoders: what the kernel captured less what user space
    /// dropped on a full queue.
    pub fn captured(&self) -> u64 {
        self.inputs
            .kernel
            .captured
            .saturating_sub(self.inputs.dropped_queue_full)
    }

    pub fn lost(&self) -> u64 {
        self.inputs.kernel.lost_total() + self.inputs.dropped_queue_full
    }

    pub fn to_json(&self) -> serde_json::Value {
        let i = &self.inputs;
        let k = &i.kernel;
        let d = &i.finished.decode;
        let secs = i.elapsed.as_secs_f64().max(1e-9);
        json!({
            "backend": i.backend,
            "seen": k.seen,
            "filtered": k.filtered,
            "captured": self.captured(),
            "lost": self.lost(),
            "lost_by_cause": {
                "ring_full": k.lost_ring_full,
                "copy": k.lost_copy,
                "queue_full": i.dropped_queue_full,
            },
            "filter_errors": k.filter_error,
            "dropped_by_interface": i.dropped_by_interface,
            "decoded": d.decoded,
            "written": i.finished.written,
            "malformed": d.malformed,
            "decoder_panics": d.panicked,
            "bytes": d.bytes,
            "wire_bytes": d.wire_bytes,
            "elapsed_s": secs,
            "frames_per_s": self.captured() as f64 / secs,
            "bytes_per_s": d.bytes as f64 / secs,
            "delay_us": i.delay_us.as_ref().map(percentiles),
            // AF_PACKET fanout: frames captured by each socket of the group.
            "fanout_captured": (!i.finished.sources.is_empty()).then(|| {
                i.finished
                    .sources
                    .iter()
                    .map(|s| s.counters.captured)
                    .collect::<Vec<_>>()
            }),
            "frame_size": percentiles(&i.finished.frame_sizes),
            // What the file's own statistics blocks say (pcapng ISB; null when none).
            "file_stats": (!i.file_stats.is_empty()).then(|| {
                i.file_stats
                    .iter()
                    .map(|(name, st)| {
                        json!({
                            "interface": name,
                            "start_ns": st.start_ns,
                            "end_ns": st.end_ns,
                            "ifrecv": st.ifrecv,
                            "ifdrop": st.ifdrop,
                            "filteraccept": st.filteraccept,
                            "osdrop": st.osdrop,
                            "usrdeliv": st.usrdeliv,
                        })
                    })
                    .collect::<Vec<_>>()
            }),
            "flows": (!i.finished.flows.is_empty()).then(|| {
                let f = crate::flow::FlowStats::sum(&i.finished.flows);
                json!({
                    "created": f.created,
                    "live": f.live,
                    "expired": f.expired,
                    "evicted_full": f.evicted_full,
                    "records_dropped": f.records_dropped,
                    "untracked_frames": f.untracked,
                })
            }),
        })
    }

    /// The summary lines for stderr.
    pub fn summary(&self) -> String {
        let i = &self.inputs;
        let k = &i.kernel;
        let mut s = format!(
            "{} frames seen, {} captured, {} filtered, {} lost (ring full {}, copy failed {}, \
             queue full {}); {}, {} written\n",
            k.seen,
            self.captured(),
            k.filtered,
            self.lost(),
            k.lost_ring_full,
            k.lost_copy,
            i.dropped_queue_full,
            if i.finished.decoded_frames {
                format!("{} decoded", i.finished.decode.decoded)
            } else {
                "not decoded (-F none)".to_owned()
            },
            i.finished.written,
        );
        if let Some(n) = i.dropped_by_interface {
            s.push_str(&format!("{n} frames dropped by interface\n"));
        }
        for (name, st) in &i.file_stats {
            let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
            s.push_str(&format!(
                "the file's statistics for {}: {} received, {} dropped by the capture, {} \
                 by the interface\n",
                if name.is_empty() {
                    "its interface"
                } else {
                    name
                },
                n(st.ifrecv),
                n(st.ifdrop),
                n(st.osdrop),
            ));
        }
        if !i.finished.decode.malformed.is_empty() {
            let parts: Vec<String> = i
                .finished
                .decode
                .malformed
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("malformed or truncated: {}\n", parts.join(", ")));
        }
        if i.finished.decode.panicked > 0 {
            s.push_str(&format!(
                "{} frames not printed: the decoder panicked on them (a bug in netcap; \
                 please report it with the frames, -w keeps them)\n",
                i.finished.decode.panicked
            ));
        }
        if i.finished.pcap_skipped > 0 {
            s.push_str(&format!(
                "{} frames not written to the pcap file: their link type differs from the \
                 first frame's (use --pcapng)\n",
                i.finished.pcap_skipped
            ));
        }
        s
    }

    pub fn write_json(&self, path: &std::path::Path) -> Result<(), crate::Error> {
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| crate::Error::io("serialising statistics", std::io::Error::other(e)))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| crate::Error::io(format!("writing {}", path.display()), e))
    }
}

/// Frames and bytes handed on so far: what the live statistics line reads.
#[derive(Default)]
pub struct LiveCounters {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
}

impl LiveCounters {
    pub fn add(&self, frames: u64, bytes: u64) {
        self.frames.fetch_add(frames, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn read(&self) -> (u64, u64) {
        (
            self.frames.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Prints a statistics line to stderr every `every` until the task is dropped.
pub async fn live_line(
    every: Duration,
    read: impl Fn() -> (u64, u64) + Send + 'static,
    dropped: Arc<AtomicU64>,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let (mut last_f, mut last_b) = read();
    loop {
        tick.tick().await;
        let (f, b) = read();
        let secs = every.as_secs_f64();
        eprintln!(
            "netcap: {:.0} frames/s, {:.0} bytes/s, {} frames total, {} dropped (queue full)",
            (f - last_f) as f64 / secs,
            (b - last_b) as f64 / secs,
            f,
            dropped.load(Ordering::Relaxed),
        );
        (last_f, last_b) = (f, b);
    }
}
