//! Other sessions' CPU time on a shared machine: the user-space processes that are
//! neither this process nor its descendants nor in the bench's network namespace, so
//! that the machine figure can leave them out.
//!
//! Processes that start and end between two snapshots (a compiler run in someone
//! else's build) are not there to be read; the CPU time of every child a process has
//! waited for is in its `cutime`/`cstime` (child's whole life, its own reaped
//! children's included), so the growth of those counts them. A child that was already
//! alive at the first snapshot had part of that life before it: its times then are
//! taken off again, and so are those of a zombie (ended, not yet reaped) that is reaped
//! in between. What is still wrong: a zombie's /proc stat may show less than its whole
//! life (here a child that had spun 0.5 s showed 0.25), so part of a long life can
//! still be counted when it is reaped inside a window (the bench then falls back to
//! the narrower count when the result exceeds the machine's busy time); the children
//! of a process that ended itself without waiting for them are missed.
use super::super::proc::clk_tck;

/// One user-space process at one moment, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proc {
    pid: u32,
    /// utime + stime of all its threads.
    own: u64,
    /// cutime + cstime: the children it has waited for.
    reaped: u64,
}

/// Other sessions' processes at one moment; also every zombie (ended, not yet reaped:
/// when its parent reaps it, its whole life lands in the parent's `reaped`).
pub struct Foreign {
    procs: Vec<Proc>,
    zombies: Vec<Proc>,
}

impl Foreign {
    /// Kernel threads are left out: they do the network work being measured. The
    /// namespace (`netns`, an inode) matters: trafgen forks a worker per CPU, and when
    /// one fails the parent exits and the others, re-parented to init, finish the blast.
    pub fn snapshot(netns: Option<u64>) -> Foreign {
        const PF_KTHREAD: u64 = 0x0020_0000;
        let empty = Foreign {
            procs: Vec::new(),
            zombies: Vec::new(),
        };
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return empty;
        };
        let me = std::process::id();
        // (pid, ppid, process) of every live user-space process.
        let mut all: Vec<(u32, u32, Proc)> = Vec::new();
        let mut zombies = Vec::new();
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            // After ')': state is field 3 (index 0), ppid 4 (1), flags 9 (6), utime,
            // stime, cutime, cstime 14-17 (11-14).
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if f.first() == Some(&"Z") {
                zombies.push(Proc {
                    pid,
                    own: num(11) + num(12),
                    reaped: num(13) + num(14),
                });
                continue;
            }
            if num(6) & PF_KTHREAD != 0 {
                continue;
            }
            let in_netns = netns.is_some_and(|ino| {
                std::fs::read_link(format!("/proc/{pid}/ns/net"))
                    .is_ok_and(|l| l.to_string_lossy() == format!("net:[{ino}]"))
            });
            // Our own namespace's processes are marked as children of this process.
            let ppid = if in_netns { me } else { num(1) as u32 };
            let p = Proc {
                pid,
                own: num(11) + num(12),
                reaped: num(13) + num(14),
            };
            all.push((pid, ppid, p));
        }
        let parent = |pid: u32| all.iter().find(|p| p.0 == pid).map(|p| p.1);
        let ours = |mut pid: u32| {
            for _ in 0..64 {
                if pid == me {
                    return true;
                }
                match parent(pid) {
                    Some(pp) if pp != 0 => pid = pp,
                    _ => return false,
                }
            }
            false
        };
        Foreign {
            procs: all.iter().filter(|p| !ours(p.0)).map(|p| p.2).collect(),
            zombies,
        }
    }

    /// CPU seconds the foreign processes used since `earlier`.
    pub fn since(&self, earlier: &Foreign) -> f64 {
        self.ticks_since(earlier) as f64 / clk_tck()
    }

    /// The bench's correction before the reaped time was counted: the growth of the
    /// own time of those alive at both moments and all of it for those born in
    /// between; those that start and end in between are missed. Kept for comparison.
    pub fn alive_only_since(&self, earlier: &Foreign) -> f64 {
        let ticks: u64 = self
            .procs
            .iter()
            .map(|p| match earlier.procs.iter().find(|e| e.pid == p.pid) {
                Some(e) => p.own.saturating_sub(e.own),
                None => p.own,
            })
            .sum();
        ticks as f64 / clk_tck()
    }

    /// The growth of own and reaped time of those alive at both moments, all of it for
    /// those born in between, less the times at `earlier` of those that ended (and were
    /// reaped: they are in a parent's `reaped` now, whole).
    fn ticks_since(&self, earlier: &Foreign) -> u64 {
        let grown: u64 = self
            .procs
            .iter()
            .map(|p| match earlier.procs.iter().find(|e| e.pid == p.pid) {
                Some(e) => p.own.saturating_sub(e.own) + p.reaped.saturating_sub(e.reaped),
                None => p.own + p.reaped,
            })
            .sum();
        // Those that were alive or zombies then and are gone now: reaped in between.
        let ended: u64 = earlier
            .procs
            .iter()
            .chain(&earlier.zombies)
            .filter(|e| {
                !self.procs.iter().any(|p| p.pid == e.pid)
                    && !self.zombies.iter().any(|z| z.pid == e.pid)
            })
            .map(|e| e.own + e.reaped)
            .sum();
        grown.saturating_sub(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, own: u64, reaped: u64) -> Proc {
        Proc { pid, own, reaped }
    }

    #[test]
    fn children_that_ended_count_once() {
        // A shell (1) runs a compiler (2) that had used 30 ticks at the first snapshot
        // and 100 in all when the shell reaped it; another (3) starts and ends in
        // between (50 ticks) and a third (4) starts and is still running (7 ticks).
        let before = Foreign {
            procs: vec![p(1, 10, 0), p(2, 30, 0)],
            zombies: Vec::new(),
        };
        let after = Foreign {
            procs: vec![p(1, 12, 150), p(4, 7, 0)],
            zombies: Vec::new(),
        };
        // Shell 2 + compiler 70 + compiler 50 + compiler 7.
        assert_eq!(after.ticks_since(&before), 2 + 70 + 50 + 7);
        // The old way saw the shell and the running compiler only.
        let tck = clk_tck();
        assert!((after.alive_only_since(&before) - 9.0 / tck).abs() < 1e-9);
    }

    #[test]
    fn an_unreaped_child_is_not_taken_off() {
        let before = Foreign {
            procs: vec![p(1, 10, 0), p(2, 30, 0)],
            zombies: Vec::new(),
        };
        let after = Foreign {
            procs: vec![p(1, 10, 0)],
            zombies: vec![p(2, 30, 0)],
        };
        assert_eq!(after.ticks_since(&before), 0);
    }

    #[test]
    fn a_zombie_reaped_in_between_counts_only_since() {
        // A test run (2) that used 20,000 ticks ended just before the first snapshot;
        // its parent (1) reaps it in between.
        let before = Foreign {
            procs: vec![p(1, 10, 0)],
            zombies: vec![p(2, 20_000, 0)],
        };
        let after = Foreign {
            procs: vec![p(1, 11, 20_000)],
            zombies: Vec::new(),
        };
        assert_eq!(after.ticks_since(&before), 1);
    }
}
