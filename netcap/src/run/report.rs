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
    /// See [`stats::Inputs::per_interface`].
    pub(super) per_interface: Vec<(String, capture::CaptureCounters)>,
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
        per_interface: origin.per_interface,
    })
}

/// The interfaces' own drop counters at the start of a capture.
#[derive(Clone)]
pub(super) struct IfDrops {
    ifnames: Vec<String>,
    at_start: Option<u64>,
}

impl IfDrops {
    /// The interfaces of `live` in netcap's own namespace (sysfs shows only those);
    /// none, and so no count, when one is elsewhere or with `-i any`, whose set
    /// changes.
    pub(super) fn start(live: &capture::CaptureConfig) -> Self {
        let ifnames = if live.any || live.targets.iter().any(|t| t.netns.is_some()) {
            Vec::new()
        } else {
            live.targets.iter().map(|t| t.ifname.clone()).collect()
        };
        Self {
            at_start: Self::sum(&ifnames),
            ifnames,
        }
    }

    fn sum(ifnames: &[String]) -> Option<u64> {
        if ifnames.is_empty() {
            return None;
        }
        ifnames.iter().map(|n| capture::interface_drops(n)).sum()
    }

    /// Drops since `start`; `None` when an interface has no counters (or vanished).
    pub(super) fn since_start(&self) -> Option<u64> {
        let now = Self::sum(&self.ifnames)?;
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
