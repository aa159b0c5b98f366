//! The driver of a live capture: builds the tokio runtime and the signal handlers once,
//! wakes the capture loop for the live statistics line, and runs the loop until the
//! run's [`Stop`] says it is over.
//!
//! Signals, as tcpdump: SIGINT, SIGTERM and SIGHUP end the capture cleanly (summary,
//! complete files); SIGUSR1 prints the counts so far to stderr; SIGUSR2 flushes the
//! output (`-w`) and goes on. A second SIGINT, SIGTERM or SIGHUP ends netcap at once
//! ([`exit_on_second_signal`]).
use std::{ops::ControlFlow, os::fd::OwnedFd, time::Duration};

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::{
    capture::CaptureCounters,
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
    /// Time for the live statistics line (`--stats-interval`, `-v`). The loop prints
    /// it: only the loop can read the source's own counters (the kernel ring's losses).
    Live,
}

/// What a loop step did: [`Step::More`] when it stopped at its work bound with frames
/// still waiting, so the driver serves signals and then calls it again at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Idle,
    More,
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
    /// readable, `tick` passes, a signal asks for something or the live line is due
    /// (every `live`), until a signal, `step` or anyone holding the [`Stop`] ends the
    /// run; returns why it ended.
    pub fn run(
        &mut self,
        ready: Option<OwnedFd>,
        tick: Duration,
        live: Option<Duration>,
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
            let mut live = live.map(|every| {
                let mut i = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
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
                    _ = async {
                        match live.as_mut() {
                            Some(i) => i.tick().await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Live,
                    () = async {
                        if more {
                            // Back to the runtime first, which then turns its driver: a
                            // step that always has more to do (a ring that stays full,
                            // decoders whose output is not read) would otherwise never
                            // let it, and no signal would ever be seen.
                            tokio::task::yield_now().await;
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

/// Installed when the capture starts: the first SIGINT, SIGTERM or SIGHUP is the
/// driver's to act on (a clean end); a second one ends netcap at once, whatever its
/// threads are doing: waiting for decoders behind a stalled output, or blocked in a
/// write to a pipe nobody reads (`netcap -w - | sleep 600`, where the driver's own
/// thread writes). Only unwritten output is lost, and the user is told so, with the
/// capture's counts (`counts`: what the hooks saw, and the frames handled), the summary
/// the normal end would have printed. Returns once the guard listens, so no signal
/// after the call is missed.
pub fn exit_on_second_signal(counts: impl Fn() -> (CaptureCounters, u64) + Send + 'static) {
    let (listening, ready) = std::sync::mpsc::channel();
    let guard = move || -> Option<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let sig = Signals::install().ok();
            let _ = listening.send(());
            let mut sig = sig?;
            for _ in 0..2 {
                tokio::select! {
                    _ = sig.int.recv() => {}
                    _ = sig.term.recv() => {}
                    _ = sig.hup.recv() => {}
                }
            }
            Some(())
        })?;
        let (k, handled) = counts();
        eprintln!(
            "netcap: second signal: exiting without writing the rest of the output (it is \
             not being read)\nnetcap: {} frames seen, {} captured, {} filtered, {} lost; \
             {handled} handled before the exit",
            k.seen,
            k.captured,
            k.filtered,
            k.lost_total()
        );
        std::process::exit(0);
    };
    let spawned = std::thread::Builder::new()
        .name("netcap-exit-guard".into())
        .spawn(move || {
            guard();
        });
    if spawned.is_ok() {
        // Until the guard listens (or could not): a few milliseconds, once.
        let _ = ready.recv();
    }
}
