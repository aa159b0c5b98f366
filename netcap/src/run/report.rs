//! The end of a run: the [`Report`] from the counts, the interface's own drops, and
//! the flow outputs (`--flows`, `--flows-json`).
use std::time::Instant;

use crate::{
    capture::{self, CaptureCounters},
    cli::config::Flows,
    pipeline::Finished,
    stats::{self, Report},
    Error,
};

/// Where the frames of a report came from.
pub(super) struct Origin {
    pub(super) backend: String,
    /// Kernel-to-user-space delays (live captures).
    pub(super) delay: Option<hdrhistogram::Histogram<u64>>,
    /// The interface's own drops during a live capture.
    pub(super) dropped_by_interface: Option<u64>,
    /// See [`stats::Inputs::abnormal_end`].
    pub(super) abnormal_end: bool,
    /// See [`stats::Inputs::file_stats`].
    pub(super) file_stats: Vec<(String, capture::pcapng_read::IfStats)>,
    /// See [`stats::Inputs::kernel_flows`].
    pub(super) kernel_flows: bool,
}

pub(super) fn report(
    kernel: CaptureCounters,
    dropped_queue_full: u64,
    finished: Finished,
    started: Instant,
    origin: Origin,
) -> Report {
    Report::new(stats::Inputs {
        backend: origin.backend,
        kernel,
        dropped_queue_full,
        finished,
        elapsed: started.elapsed(),
        delay_us: origin.delay,
        dropped_by_interface: origin.dropped_by_interface,
        abnormal_end: origin.abnormal_end,
        file_stats: origin.file_stats,
        kernel_flows: origin.kernel_flows,
    })
}

/// The interface's own drop counter at the start of a capture.
#[derive(Clone)]
pub(super) struct IfDrops {
    ifname: String,
    at_start: Option<u64>,
}

impl IfDrops {
    pub(super) fn start(ifname: &str) -> Self {
        Self {
            ifname: ifname.to_owned(),
            at_start: capture::interface_drops(ifname),
        }
    }

    /// Drops since `start`; `None` when the interface has no counters (or vanished).
    pub(super) fn since_start(&self) -> Option<u64> {
        let now = capture::interface_drops(&self.ifname)?;
        Some(now.saturating_sub(self.at_start?))
    }
}

/// `--flows`: the largest flows to stderr; and what the flow exporter could not do
/// (`--flows-json` cut short by a full disk, say), as an error. The records themselves
/// went out while the run went on.
pub fn write_flows(report: &mut Report, want: &Flows) -> Result<(), Error> {
    let Some(done) = report.inputs.finished.exported.as_ref() else {
        return Ok(());
    };
    if want.top {
        let mut err = std::io::stderr().lock();
        crate::flow::write_top(&mut err, &done.top, done.records, super::outputs::TOP_FLOWS)
            .map_err(|e| Error::io("writing the flow table to stderr", e))?;
    }
    match done.errors.first() {
        Some(first) => Err(Error::io(
            first.clone(),
            std::io::Error::other("flow records lost"),
        )),
        None => Ok(()),
    }
}
