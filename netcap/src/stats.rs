//! The numbers a run ends with: the summary on stderr, `--stats-json`, and the live
//! `--stats-interval` line.
//!
//! Accounting: every frame the kernel hook saw ends in exactly one of `filtered`,
//! `captured` (delivered to the decoders), or `lost` (by cause: `ring_full`, `copy` in
//! the kernel; `queue_full` in user space), so `seen == filtered + captured + lost`.
use std::{
    sync::atomic::{AtomicU64, Ordering},
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
    /// Flows were counted in the kernel hooks (in-kernel flow mode).
    pub kernel_flows: bool,
    /// A live capture on several interfaces: each one's name and hook counters.
    pub per_interface: Vec<(String, CaptureCounters)>,
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
    /// could not hand to a decoder (`queue_full`: decoders that had stopped).
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
            // Frames counted into their flow by the kernel hooks, never copied; with
            // them, seen == captured + filtered + lost + aggregated.
            "aggregated": k.aggregated,
            "flow_overflow": k.flow_overflow,
            "flow_mode": i
                .finished
                .exported
                .as_ref()
                .map(|_| if i.kernel_flows { "kernel" } else { "user" }),
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
            // Several interfaces: each one's hook counters (null for one).
            "interfaces": (!i.per_interface.is_empty()).then(|| {
                i.per_interface
                    .iter()
                    .map(|(name, c)| {
                        json!({
                            "name": name,
                            "seen": c.seen,
                            "filtered": c.filtered,
                            "captured": c.captured,
                            "lost": c.lost_total(),
                        })
                    })
                    .collect::<Vec<_>>()
            }),
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
        if i.kernel_flows {
            s.push_str(&format!(
                "{} frames counted into their flows in the kernel, {} of new flows the full \
                 flow map could not take (captured instead)\n",
                k.aggregated, k.flow_overflow
            ));
        }
        if let Some(n) = i.dropped_by_interface {
            s.push_str(&format!("{n} frames dropped by interface\n"));
        }
        for (name, c) in &i.per_interface {
            s.push_str(&format!(
                "{name}: {} frames seen, {} captured, {} filtered, {} lost\n",
                c.seen,
                c.captured,
                c.filtered,
                c.lost_total()
            ));
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

/// What the live statistics line reads, all counted since the capture began.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveSample {
    /// Frames and bytes handed on by the capture loop.
    pub handled: (u64, u64),
    /// The hooks' (or sockets') counters.
    pub kernel: CaptureCounters,
    /// Frames user space could not hand to a decoder: they had stopped (a full queue
    /// holds the capture back instead, see `pipeline`).
    pub queue_full: u64,
    /// What the interface itself dropped, when it counts.
    pub if_dropped: Option<u64>,
}

/// The live statistics line (`--stats-interval`, `-v`): rates since the previous line,
/// and every loss so far by cause, the kernel ring's and the interface's included, in
/// the words of the summary:
///
/// ```text
/// Got 1234567; 120345 frames/s, 61.6 Mbit/s; 0 filtered; 6337 lost (ring full 4443, copy failed 0, queue full 1894); 0 dropped by interface
/// ```
///
/// `Got N` (frames delivered so far) is what tcpdump's `-v -w` prints once a second.
#[derive(Debug, Default)]
pub struct LiveLine {
    last: Option<(std::time::Instant, (u64, u64))>,
}

impl LiveLine {
    pub fn line(&mut self, now: std::time::Instant, s: &LiveSample) -> String {
        let (frames, bytes) = s.handled;
        let (fps, bps) = match self.last {
            Some((at, (f0, b0))) => {
                let secs = now.saturating_duration_since(at).as_secs_f64().max(1e-9);
                (
                    frames.saturating_sub(f0) as f64 / secs,
                    bytes.saturating_sub(b0) as f64 * 8.0 / secs,
                )
            }
            None => (0.0, 0.0),
        };
        self.last = Some((now, s.handled));
        let k = &s.kernel;
        let mut line = format!(
            "Got {}; {fps:.0} frames/s, {}; {} filtered; {} lost (ring full {}, copy failed {}, \
             queue full {})",
            k.captured.saturating_sub(s.queue_full),
            bit_rate(bps),
            k.filtered,
            k.lost_total() + s.queue_full,
            k.lost_ring_full,
            k.lost_copy,
            s.queue_full,
        );
        if let Some(n) = s.if_dropped {
            line.push_str(&format!("; {n} dropped by interface"));
        }
        line
    }
}

/// `bits` per second in the largest unit that keeps a digit before the point.
fn bit_rate(bits: f64) -> String {
    match bits {
        b if b >= 1e9 => format!("{:.2} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kbit/s", b / 1e3),
        b => format!("{b:.0} bit/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_line_has_rates_and_every_loss_by_cause() {
        let mut l = LiveLine::default();
        let t0 = std::time::Instant::now();
        let mut s = LiveSample {
            handled: (1000, 100_000),
            kernel: CaptureCounters {
                seen: 1500,
                filtered: 100,
                captured: 1010,
                lost_ring_full: 390,
                ..CaptureCounters::default()
            },
            queue_full: 10,
            if_dropped: Some(7),
        };
        let first = l.line(t0, &s);
        assert_eq!(
            first,
            "Got 1000; 0 frames/s, 0 bit/s; 100 filtered; 400 lost (ring full 390, copy \
             failed 0, queue full 10); 7 dropped by interface"
        );
        s.handled = (3000, 1_350_000);
        let second = l.line(t0 + Duration::from_secs(2), &s);
        assert!(second.contains("; 1000 frames/s, 5.0 Mbit/s;"), "{second}");
        s.if_dropped = None;
        assert!(!l
            .line(t0 + Duration::from_secs(3), &s)
            .contains("interface"));
        assert_eq!(bit_rate(2.5e9), "2.50 Gbit/s");
        assert_eq!(bit_rate(1500.0), "1.5 kbit/s");
    }
}
