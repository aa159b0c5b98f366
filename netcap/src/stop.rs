//! The one stop handle of a run, and why it ended.
//!
//! The driver (signals, `-c`), the pipeline's writer (output closed), the fanout
//! workers (socket error, interface gone) and the direct path share one [`Stop`]; the
//! first to stop the run gives the reason, and everyone else only sees that it is
//! stopped. Written here rather than taken from tokio-util's `CancellationToken`: the
//! readers are plain threads polling a flag between batches, and the run needs the
//! reason, which a token does not carry.
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

/// Why a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// `-c` frames were taken.
    Count,
    /// stdout or the `-w` file is gone (a closed pipe, a write error).
    OutputClosed,
    /// The file ended, or a live interface vanished.
    SourceEnded,
    /// The capture failed (a socket error): the message says how.
    Failed(String),
}

/// A cloneable handle; see the module doc.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    reason: Mutex<Option<End>>,
}

impl Stop {
    /// Stops the run for `why`, unless it was stopped already (the first reason stays).
    pub fn stop(&self, why: End) {
        if let Ok(mut reason) = self.0.reason.lock() {
            reason.get_or_insert(why);
        }
        self.0.stopped.store(true, Ordering::Relaxed);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Relaxed)
    }

    /// The first reason given, once stopped.
    pub fn reason(&self) -> Option<End> {
        self.0.reason.lock().ok().and_then(|r| r.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins() {
        let stop = Stop::default();
        assert!(!stop.is_stopped() && stop.reason().is_none());
        let other = stop.clone();
        other.stop(End::OutputClosed);
        stop.stop(End::Signal);
        assert!(stop.is_stopped());
        assert_eq!(stop.reason(), Some(End::OutputClosed));
    }
}
