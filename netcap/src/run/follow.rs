//! The reader follows the CPU that feeds it.
//!
//! With the eBPF backends every CPU writes the frames it handles into a ring of its
//! own, and one thread reads them all. When one CPU carries the traffic (a blast from
//! one core, one busy flow, a single-queue NIC), where that thread runs decides what the
//! capture costs and whether it keeps up (`docs/bench/follow-cpu.md`):
//!
//! - **Cost.** Read on the CPU that wrote them, the records are still in that core's
//!   cache, and the kernel's next writes find their lines there; read from another
//!   core, every line crosses between the two. On the 2-core VM, whole-machine CPU per
//!   1500-byte frame over a no-capture run fell from 315 to 232 ns (tcpdump -w: 718);
//!   at 512 B from 210 to 190; at 64 B no difference beyond the noise.
//! - **Keeping up.** The kernel wakes the reader from the CPU that writes. The
//!   scheduler then puts the reader on that CPU (wake-affine: in a VM the idle vCPU
//!   looks "preempted" and is passed over) behind the task that sends, and, without
//!   kernel preemption, it runs only when that task's slice ends or the balancer moves
//!   it, about 3-4 ms later: at 1.1 M frames/s of 1500 bytes an 8 MiB ring is full in
//!   5 ms, and 1 run in 3 lost frames. Pinned to the writing CPU it runs at that
//!   task's next return to user space; pinned to the other CPU it lost frames too
//!   (3 runs of 12), since waking a halted vCPU takes as long.
//!
//! So every [`WINDOW`] the reader looks at how many bytes it read from each CPU's ring
//! since the last look. When one CPU wrote at least [`SHARE`] of them at [`MIN_RATE`] or
//! more, the thread's affinity is set to that CPU alone; when no CPU dominates any more
//! (traffic spread out, or stopped), it gets back the CPUs it had. If the rings
//! overflow while it is pinned (the CPU is too busy to give it time), it lets go and
//! does not follow again for [`HOLD_OFF`]. Only this thread moves: the decoder workers
//! and the writer stay where the scheduler puts them. `--reader-cpu any` turns it off.
use std::time::{Duration, Instant};

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// How often the reader looks at where its bytes came from.
pub const WINDOW: Duration = Duration::from_millis(100);
/// The share of a window's bytes one CPU must have written to be followed.
pub const SHARE: f64 = 0.9;
/// Bytes a second below which the reader does not move: a trickle costs little
/// wherever it is read, and the reader keeps up from anywhere.
pub const MIN_RATE: f64 = 16.0 * 1024.0 * 1024.0;
/// How long the reader stays unpinned after the rings overflowed while it was pinned.
pub const HOLD_OFF: Duration = Duration::from_secs(10);

/// What the reader should do after a window (see [`Follow::decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    Stay,
    PinTo(usize),
    Release,
}

/// The policy, apart from the system calls (unit-tested).
#[derive(Debug, Default)]
pub struct Policy {
    /// Bytes read so far from each CPU's ring, at the last window.
    last: Vec<(usize, u64)>,
    pub pinned: Option<usize>,
    hold_off_until: Option<Instant>,
    /// The rings' ring-full losses at the last window.
    lost: u64,
}

impl Policy {
    /// Given the bytes read so far per CPU's ring (`positions`, ever growing), the
    /// ring-full losses so far, the window's length and the time: where to go.
    pub fn decide(
        &mut self,
        positions: &[(usize, u64)],
        lost: u64,
        elapsed: Duration,
        now: Instant,
    ) -> Move {
        let deltas: Vec<(usize, u64)> = positions
            .iter()
            .map(|&(cpu, pos)| {
                let before = self
                    .last
                    .iter()
                    .find(|(c, _)| *c == cpu)
                    .map_or(pos, |&(_, p)| p);
                (cpu, pos.saturating_sub(before))
            })
            .collect();
        self.last = positions.to_vec();
        let overflowed = lost > self.lost;
        self.lost = lost;
        if overflowed && self.pinned.is_some() {
            self.hold_off_until = Some(now + HOLD_OFF);
        }
        if self.hold_off_until.is_some_and(|t| now < t) || positions.len() < 2 {
            return self.release();
        }
        let total: u64 = deltas.iter().map(|d| d.1).sum();
        let rate = total as f64 / elapsed.as_secs_f64().max(1e-3);
        let top = deltas.iter().max_by_key(|d| d.1).copied();
        match top {
            Some((cpu, bytes)) if rate >= MIN_RATE && bytes as f64 >= SHARE * total as f64 => {
                if self.pinned == Some(cpu) {
                    Move::Stay
                } else {
                    self.pinned = Some(cpu);
                    Move::PinTo(cpu)
                }
            }
            _ => self.release(),
        }
    }

    fn release(&mut self) -> Move {
        match self.pinned.take() {
            Some(_) => Move::Release,
            None => Move::Stay,
        }
    }
}

/// The reader thread's affinity, following its rings' traffic.
pub struct Follow {
    policy: Policy,
    /// The CPUs this thread may run on when not pinned (as it started).
    allowed: Option<CpuSet>,
    window_start: Instant,
    enabled: bool,
}

impl Follow {
    /// Call on the reader thread. `enabled`: `--reader-cpu follow`.
    pub fn new(enabled: bool) -> Self {
        let allowed = if enabled {
            sched_getaffinity(None).ok()
        } else {
            None
        };
        Self {
            policy: Policy::default(),
            enabled: enabled && allowed.is_some(),
            allowed,
            window_start: Instant::now(),
        }
    }

    /// The CPU the reader is pinned to, if it is.
    pub fn pinned(&self) -> Option<usize> {
        self.policy.pinned
    }

    /// Called after every drain with the bytes read so far per CPU's ring and the
    /// ring-full losses so far (read only when a window has passed).
    pub fn step(&mut self, read: impl FnOnce() -> (Vec<(usize, u64)>, u64)) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.window_start);
        if elapsed < WINDOW {
            return;
        }
        self.window_start = now;
        let (positions, lost) = read();
        let Some(allowed) = self.allowed.as_ref() else {
            return;
        };
        match self.policy.decide(&positions, lost, elapsed, now) {
            Move::Stay => {}
            Move::PinTo(cpu) => {
                let mut one = CpuSet::new();
                if cpu < CpuSet::MAX_CPU && allowed.is_set(cpu) {
                    one.set(cpu);
                }
                if one.count() == 0 || sched_setaffinity(None, &one).is_err() {
                    // Not a CPU this thread may use (a cpuset): stay where it is.
                    self.policy.pinned = None;
                    let _ = sched_setaffinity(None, allowed);
                }
            }
            Move::Release => {
                let _ = sched_setaffinity(None, allowed);
            }
        }
    }

    /// Gives the thread back the CPUs it had, for good (the capture is ending).
    pub fn release(&mut self) {
        self.enabled = false;
        if self.policy.pinned.take().is_some() {
            if let Some(allowed) = self.allowed.as_ref() {
                let _ = sched_setaffinity(None, allowed);
            }
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
