//! Runs a validated [`Config`]: opens the outputs and the source, drives them until the
//! end, and builds the [`Report`].
//!
//! Shutdown cascade: Ctrl-C / SIGTERM / `-c` reached / output closed / source ended
//! (whoever comes first stops the run's [`Stop`]) -> `Source::stop` (kernel hooks
//! detached) -> the rest of the ring drained -> pipeline finished (workers drain, flows
//! merge, writer flushes) -> summary and `--stats-json`.
//!
//! Where things are: `driver` (the runtime, signals and the live line, once), `live`
//! (the single-source and fanout loops), `file` (`netcap read`), `outputs` (stdout
//! and `-w`), `report` (the summary's inputs and the flow outputs). Which backend
//! opens is `capture::open`'s business, and what the flags mean is `cli::config`'s.
use std::{sync::Arc, time::Instant};

use crate::{
    capture::{self, CaptureConfig, Opened},
    cli::{config::Input, Config},
    packet::Batch,
    pipeline::{direct::Direct, Pipeline},
    stats::Report,
    stop::{End, Stop},
    Error,
};

pub mod driver;
mod file;
pub mod follow;
mod live;
mod outputs;
mod report;

use driver::Driver;
use live::{Single, Sink};
use outputs::Outputs;
pub use report::write_flows;
use report::{report, IfDrops, Origin};

/// `netcap capture` or `netcap read`, as `cfg.input` says.
pub fn run(cfg: &Config) -> Result<Report, Error> {
    match &cfg.input {
        Input::Live(live) => capture(cfg, live),
        Input::File(path) => file::read(cfg, path),
    }
}

fn capture(cfg: &Config, live: &CaptureConfig) -> Result<Report, Error> {
    // Every destination is opened before anything is attached.
    let mut outs = Outputs::open(cfg, None)?;
    let interfaces = crate::packet::Interfaces::default();
    // The signal handlers go in before anything is attached or said: a SIGINT that
    // comes as soon as "capturing with" is printed must end the capture cleanly, not
    // kill netcap by the default action (the signal waits in the handler's stream).
    let stop = Stop::default();
    let mut driver = Driver::new(stop.clone())?;
    let Opened {
        mut sources,
        description,
        promisc,
    } = capture::open::open_all(live, &interfaces)?;
    // Privileges go before the startup line, as tcpdump's: once it is printed the
    // capture runs as it will until the end (`tests/privdrop.rs` reads the ids then).
    if let Some(user) = &cfg.user {
        relinquish(cfg, &outs, user)?;
    }
    eprintln!(
        "netcap: capturing with {description}, snap length {}",
        cfg.snaplen
    );
    let if_drops = IfDrops::start(live);
    let iface = crate::output::Interface {
        name: live.ifname.clone(),
        filter: cfg.expr.clone(),
    };
    outs.set_source(sources.first().and_then(|s| s.link()), &iface);
    if live.several() {
        outs.set_interfaces(&interfaces);
    }
    let file_stats = crate::output::FileStats::default();
    if let Some(sink) = outs.frames.as_mut() {
        sink.set_stats(&file_stats);
    }
    let started = Instant::now();
    let publish = cfg.write.is_some().then(|| live::Publish {
        stats: file_stats,
        start_ns: capture::realtime_ns(),
        if_drops: if_drops.clone(),
        last: started,
    });
    let mut per_interface = Vec::new();
    // The interfaces' names by index (`FrameMeta::iface`), for `-c` on several.
    let names = interfaces.clone();
    let several = live.several();
    let (end, kernel, dropped, finished, delay) = if sources.len() > 1 {
        let pipeline = outs.pipeline(cfg, stop, interfaces);
        let every = cfg.stats_interval;
        let (end, finished, kernel, delay) = live::fanout(
            &mut driver,
            pipeline,
            sources,
            &live.ifname,
            (publish, &if_drops),
            (cfg.tick, every),
        );
        (end, kernel, 0, finished, Some(delay))
    } else {
        let source = sources
            .pop()
            .ok_or_else(|| capture::Error::Unsupported("no capture source was opened".into()))?;
        let sink = if cfg.decodes() {
            Sink::Pipeline(Pipeline::start(outs.pipeline(
                cfg,
                stop,
                interfaces.clone(),
            )))
        } else {
            Sink::Direct(Direct::new(outs.frames), cfg.line_buffered)
        };
        let live = Arc::default();
        let mut single = Single {
            source,
            sink,
            left: cfg.count,
            live,
            publish,
            if_drops: if_drops.clone(),
            line: crate::stats::LiveLine::default(),
            follow: follow::Follow::new(cfg.follow_cpu),
            noted: None,
            by_iface: (cfg.count.is_some() && several).then(Vec::new),
        };
        let end = single.run(&mut driver, cfg.tick, cfg.stats_interval);
        let handled = single.live.read().0;
        let mut kernel = single.source.counters();
        per_interface = single.source.per_interface();
        // Frames the hooks took after `-c` was reached were never read (or were cut
        // from the last batch): as with `read -c`, they are neither seen nor captured,
        // so the counts agree with `-c`.
        if cfg.count == Some(handled) {
            cut_to_count(&mut kernel, handled);
            // Each interface's too, by the frames handled from it.
            if let Some(by) = &single.by_iface {
                let names = names.names();
                for (name, c) in &mut per_interface {
                    let i = names.iter().position(|n| **n == **name);
                    if let Some(i) = i {
                        cut_to_count(c, by.get(i).copied().unwrap_or(0));
                    }
                }
            }
        }
        // The last counts, for the statistics the -w file ends with.
        single.publish(&kernel);
        let (source, finished, dropped) = single.finish();
        (end, kernel, dropped, finished, source.delay_us().cloned())
    };
    drop(promisc);
    let failed = match end {
        End::Failed(why) => Some(why),
        _ if !live.several() && capture::ifindex_of(&live.ifname).is_none() => {
            Some(capture::Error::Vanished(live.ifname.clone()).to_string())
        }
        _ => None,
    };
    if let Some(why) = &failed {
        eprintln!("netcap: {why}");
    }
    let origin = Origin {
        backend: description,
        delay,
        dropped_by_interface: if_drops.since_start(),
        abnormal_end: failed.is_some(),
        file_stats: Vec::new(),
        kernel_flows: live.kernel_flows.is_some(),
        per_interface,
    };
    Ok(report(kernel, dropped, finished, started, origin))
}

/// Counts that agree with `-c`: of what the hooks counted, the frames taken after
/// `-c` was reached were never read (or were cut from the last batch), so, as with
/// `read -c`, they are neither seen nor captured: `handled` were.
fn cut_to_count(c: &mut capture::CaptureCounters, handled: u64) {
    let accounted = c.filtered + c.lost_total() + handled;
    c.seen = c.seen.min(accounted);
    c.captured = handled;
}

/// Takes at most `left` frames of `batch` (for `-c`); returns how many it cut.
fn limit(batch: &mut Batch, left: &mut Option<u64>) -> u64 {
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

/// `-Z`: hands the files already made to `user` (the first `-w` file, as tcpdump, and
/// the report files written at the end), then runs as `user` (see `capture::privdrop`).
fn relinquish(cfg: &Config, outs: &Outputs, user: &capture::privdrop::User) -> Result<(), Error> {
    let stdout = |p: &&std::path::PathBuf| p.as_os_str() != "-";
    let files = [
        outs.first_file.as_ref(),
        cfg.stats_json.as_ref(),
        cfg.flows.json.as_ref().filter(stdout),
    ];
    for path in files.into_iter().flatten() {
        capture::privdrop::give(path, user)?;
    }
    capture::privdrop::drop_to(user)?;
    Ok(())
}
