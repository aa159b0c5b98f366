//! The driver of a live capture: builds the tokio runtime, the signal handlers and the
//! live statistics line once, and runs a capture loop until the run's [`Stop`] says it
//! is over.
//!
//! Signals, as tcpdump: SIGINT, SIGTERM and SIGHUP end the capture cleanly (summary,
//! complete files); SIGUSR1 prints the counts so far to stderr; SIGUSR2 flushes the
//! output (`-w`) and goes on. After the capture has stopped, a second SIGINT, SIGTERM
//! or SIGHUP ends netcap at once ([`exit_on_second_signal`]).
use std::{
    ops::ControlFlow,
    os::fd::OwnedFd,
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::{
    stats::LiveCounters,
    stop::{End, Stop},
    Error,
};

/// What woke the capture loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The source is readable, the tick passed, or the last step left work undone.
    Ready,
    /// SIGUSR1: say what has been done so far.
    Progress,
    /// SIGUSR2: flush the output.
    Flush,
}

/// What a loop step did: [`Step::More`] when it stopped at its work bound with frames
/// still waiting, so the driver serves signals and then calls it again at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Idle,
    More,
}

/// The `--stats-interval` line: how often, what it reads, and the drops it reports.
pub struct LiveLine {
    pub every: Duration,
    pub counters: Arc<LiveCounters>,
    pub dropped: Arc<AtomicU64>,
}

pub struct Driver {
    runtime: tokio::runtime::Runtime,
    signals: Signals,
    stop: Stop,
}

impl Driver {
    pub fn new(stop: Stop) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the tokio runtime", e))?;
        let signals = {
            let _in_runtime = runtime.enter();
            Signals::install()?
        };
        Ok(Self {
            runtime,
            signals,
            stop,
        })
    }

    /// Calls `step` whenever `ready` (the source's descriptor, a duplicate) becomes
    /// readable, `tick` passes or a signal asks for something, until a signal, `step`
    /// or anyone holding the [`Stop`] ends the run; returns why it ended.
    pub fn run(
        &mut self,
        ready: Option<OwnedFd>,
        tick: Duration,
        live: Option<LiveLine>,
        mut step: impl FnMut(Wake) -> ControlFlow<End, Step>,
    ) -> Result<End, Error> {
        let Self {
            runtime,
            signals,
            stop,
        } = self;
        runtime.block_on(async {
            let readiness = match ready {
                Some(fd) => Some(
                    crate::capture::readiness(fd)
                        .map_err(|e| Error::io("registering the ring fd with epoll", e))?,
                ),
                None => None,
            };
            let _stats_task = live.map(|l| {
                let counters = l.counters;
                let read = move || counters.read();
                tokio::spawn(crate::stats::live_line(l.every, read, l.dropped))
            });
            let mut more = false;
            loop {
                let wake = tokio::select! {
                    biased;
                    _ = signals.int.recv() => break,
                    _ = signals.term.recv() => break,
                    _ = signals.hup.recv() => break,
                    _ = signals.usr1.recv() => Wake::Progress,
                    _ = signals.usr2.recv() => Wake::Flush,
                    () = async {
                        if more {
                            return;
                        }
                        match &readiness {
                            Some(fd) => {
                                if let Ok(mut guard) = fd.readable().await {
                                    guard.clear_ready();
                                }
                            }
                            None => std::future::pending().await,
                        }
                    } => Wake::Ready,
                    _ = tokio::time::sleep(tick) => Wake::Ready,
                };
                match step(wake) {
                    ControlFlow::Break(end) => stop.stop(end),
                    ControlFlow::Continue(s) => more = s == Step::More,
                }
                if stop.is_stopped() {
                    break;
                }
            }
            stop.stop(End::Signal);
            Ok(stop.reason().unwrap_or(End::Signal))
        })
    }
}

/// The signals a capture answers (see the module doc).
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    /// Needs a running tokio runtime.
    fn install() -> Result<Self, Error> {
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
/// `handled` is the number of frames to name in that message.
pub fn exit_on_second_signal(handled: u64) {
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
             not being read); {handled} frames were handled"
        );
        std::process::exit(0);
    };
    let _ = std::thread::Builder::new()
        .name("netcap-exit-guard".into())
        .spawn(move || {
            guard();
        });
}
