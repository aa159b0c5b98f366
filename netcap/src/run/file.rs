//! `netcap read FILE`: a pcap or pcapng file through the same pipeline, blocking
//! rather than dropping when the decoders fall behind; on a terminal, with a progress
//! bar on stderr ([`Progress`]).
use std::{path::Path, time::Instant};

use super::{limit, report, Origin};
use crate::{
    capture::{pcap_file::FileSource, Fill, Source},
    cli::Config,
    filter::LinkFilters,
    packet::LinkType,
    pipeline::{Pipeline, BATCH_BYTES},
    stats::Report,
    stop::Stop,
    Error,
};

use super::outputs::Outputs;

pub fn read(cfg: &Config, path: &Path) -> Result<Report, Error> {
    let mut source = FileSource::open(path)?;
    let link = source.link_type();
    // Compiled before any output exists, so a bad expression fails cleanly.
    let first = link.unwrap_or(LinkType::Ethernet);
    let mut filter = match &cfg.expr {
        Some(e) => Some(LinkFilters::new(e, first)?),
        None => None,
    };
    if let Some(link) = link.filter(|l| !l.is_supported()) {
        let written = if cfg.write.is_some() {
            " and written"
        } else {
            ""
        };
        eprintln!(
            "netcap: {}: link type {} is not decoded; frames are counted{written}",
            path.display(),
            link.to_linktype(),
        );
    }
    let mut outs = Outputs::open(cfg, link)?;
    // A pcapng -w file gets the source's interfaces (names, and each frame's own).
    if let Some(sink) = outs.frames.as_mut() {
        sink.set_interfaces(&source.interfaces());
    }
    let started = Instant::now();
    let stop = Stop::default();
    let mut pipeline = Pipeline::start(outs.pipeline(cfg, stop.clone(), source.interfaces()));
    let (mut left, mut beyond_count, mut rejected) = (cfg.count, 0u64, 0u64);
    let mut progress = cfg.progress.then(|| Progress::new(source.progress().1));
    loop {
        if let Some(p) = progress.as_mut() {
            p.update(source.progress().0, source.counters().captured);
        }
        let mut batch = pipeline.empty_batch(BATCH_BYTES + 65536, 1024);
        let fill = source.fill(&mut batch, BATCH_BYTES)?;
        if let Some(f) = filter.as_mut() {
            rejected += f.retain(&mut batch)?;
        }
        // Frames read past `-c` were never taken: not seen, not captured.
        beyond_count += limit(&mut batch, &mut left);
        pipeline.submit(batch, true);
        if fill == Fill::End || left == Some(0) || stop.is_stopped() {
            break;
        }
    }
    if let Some(p) = progress {
        p.bar.finish_and_clear();
    }
    let dropped = pipeline
        .dropped_queue_full
        .load(std::sync::atomic::Ordering::Relaxed);
    let finished = pipeline.finish();
    let mut counters = source.counters();
    counters.seen = counters.seen.saturating_sub(beyond_count);
    counters.filtered = rejected;
    counters.captured = counters
        .captured
        .saturating_sub(rejected)
        .saturating_sub(beyond_count);
    let origin = Origin {
        backend: "file".into(),
        kernel_flows: false,
        per_interface: Vec::new(),
        delay: None,
        dropped_by_interface: None,
        abnormal_end: source.faulted(),
        file_stats: {
            let names = source.interfaces().names();
            let name = |id: u16| names.get(usize::from(id)).map_or("", |n| &**n).to_owned();
            source
                .file_stats()
                .iter()
                .map(|st| (name(st.id), *st))
                .collect()
        },
    };
    Ok(report(counters, dropped, finished, started, origin))
}

/// The progress bar of `netcap read` on a terminal: bytes read of the file's size (a
/// byte count for stdin), frames and frames per second, the time spent and the time
/// left. indicatif draws it at most 20 times a second, so an update per batch costs
/// nothing; between updates it is redrawn every [`Progress::TICK`], so the time goes on
/// while `fill` waits on a slow pipe or the pipeline on a slow reader of the output
/// (the counts are those of the batches handed on: a batch still filling is not in them).
/// Dropped, on an error too, it clears itself: the message or the summary replaces it.
struct Progress {
    bar: indicatif::ProgressBar,
    started: Instant,
}

impl Progress {
    /// How often the bar is redrawn without an update: the elapsed time and the ETA
    /// move on every second, which needs a few draws a second; indicatif's ticker
    /// thread costs nothing at 5.
    const TICK: std::time::Duration = std::time::Duration::from_millis(200);

    fn new(size: Option<u64>) -> Self {
        let target = indicatif::ProgressDrawTarget::stderr();
        let (bar, template) = match size {
            Some(n) => (
                indicatif::ProgressBar::with_draw_target(Some(n), target),
                "{bytes}/{total_bytes} [{bar:20}] {percent}% {msg}, {elapsed} elapsed, \
                 ETA {eta}",
            ),
            None => (
                indicatif::ProgressBar::with_draw_target(None, target),
                "{bytes} read, {msg}, {elapsed} elapsed",
            ),
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        let bar = bar.with_finish(indicatif::ProgressFinish::AndClear);
        bar.enable_steady_tick(Self::TICK);
        Self {
            bar,
            started: Instant::now(),
        }
    }

    fn update(&mut self, bytes: u64, frames: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_position(bytes);
        self.bar.set_message(format!(
            "{frames} frames, {:.0} frames/s",
            frames as f64 / secs
        ));
    }
}
