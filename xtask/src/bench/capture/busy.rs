//! The whole machine's busy CPU time over a window, from `/proc/stat`.
//!
//! Two readings of the same file. The kernel's own fields `user nice system irq
//! softirq steal` are sampled at the tick (`CONFIG_TICK_CPU_ACCOUNTING`, 250 Hz on the
//! development VM): each tick credits a whole 4 ms to what the CPU was doing at that
//! moment, which over a 1.5 s window on 2 CPUs leaves a sampling error of some tens of
//! ms. The idle and iowait fields of a tickless kernel (`NO_HZ_IDLE`) are not sampled:
//! they come from the time stamps of every entry into and exit from idle, up to the
//! moment of reading (`get_cpu_idle_time_us`), and /proc/stat only rounds them to 10 ms.
//! So [`CpuClock::busy_since`] takes busy time as the monotonic wall time times the
//! CPUs, less idle, iowait and steal (the time the hypervisor ran something else
//! while this VM wanted the CPU: not work done here). [`CpuClock::ticks_since`] keeps
//! the sampled sum (with steal, as the bench counted before) for comparison.
use std::time::Instant;

use anyhow::{Context, Result};

/// USER_HZ: the unit of /proc/stat's fields on every Linux architecture that has it.
const USER_HZ: f64 = 100.0;

/// /proc/stat's CPU counters at one moment.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    at: Instant,
    /// CPUs with a line of their own (the online ones).
    cpus: usize,
    /// Summed over all CPUs, in USER_HZ ticks.
    fields: Fields,
}

/// The fields of the `cpu` line that the readings use, in USER_HZ ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Fields {
    /// user + nice + system + irq + softirq: sampled at the tick.
    sampled_busy: f64,
    idle: f64,
    iowait: f64,
    steal: f64,
}

impl CpuClock {
    pub fn read() -> Result<CpuClock> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let at = Instant::now();
        let (fields, cpus) = parse(&text).context("no cpu line in /proc/stat")?;
        Ok(CpuClock { at, cpus, fields })
    }

    /// Seconds of CPU busy from `earlier` to this reading, all CPUs: wall time times
    /// CPUs less idle, iowait and steal.
    pub fn busy_since(&self, earlier: &CpuClock) -> f64 {
        let wall = self.wall_since(earlier);
        let (a, b) = (&earlier.fields, &self.fields);
        let not_busy = (b.idle - a.idle) + (b.iowait - a.iowait) + (b.steal - a.steal);
        wall * self.cpus.min(earlier.cpus) as f64 - not_busy / USER_HZ
    }

    /// Seconds of wall time from `earlier` to this reading.
    pub fn wall_since(&self, earlier: &CpuClock) -> f64 {
        self.at.saturating_duration_since(earlier.at).as_secs_f64()
    }

    /// The same from the tick-sampled fields: user, nice, system, irq, softirq, steal.
    pub fn ticks_since(&self, earlier: &CpuClock) -> f64 {
        let (a, b) = (&earlier.fields, &self.fields);
        ((b.sampled_busy - a.sampled_busy) + (b.steal - a.steal)) / USER_HZ
    }
}

/// The `cpu` line's fields and the number of `cpuN` lines.
fn parse(text: &str) -> Option<(Fields, usize)> {
    let mut lines = text.lines();
    let first = lines.next()?;
    let v: Vec<f64> = first
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already inside user and nice.
    let f = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let fields = Fields {
        sampled_busy: f(0) + f(1) + f(2) + f(5) + f(6),
        idle: f(3),
        iowait: f(4),
        steal: f(7),
    };
    let cpus = lines
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    Some((fields, cpus.max(1)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const STAT: &str = "cpu  6814824 0 843241 1244011 9046 0 124261 9814 0 0\n\
                        cpu0 3339502 0 457982 610672 2957 0 106907 4781 0 0\n\
                        cpu1 3475321 0 385259 633339 6088 0 17354 5032 0 0\n\
                        intr 1 2 3\nctxt 99\ncpus_extra 5\n";

    #[test]
    fn fields_and_cpus() {
        let (f, cpus) = parse(STAT).expect("parsed");
        assert_eq!(cpus, 2);
        assert_eq!(
            f,
            Fields {
                sampled_busy: 6_814_824.0 + 843_241.0 + 124_261.0,
                idle: 1_244_011.0,
                iowait: 9_046.0,
                steal: 9_814.0,
            }
        );
        assert_eq!(parse("intr 1\n"), None);
    }

    #[test]
    fn busy_is_wall_times_cpus_less_idle_and_steal() {
        let (fields, cpus) = parse(STAT).expect("parsed");
        let t0 = Instant::now();
        let a = CpuClock {
            at: t0,
            cpus,
            fields,
        };
        // 2 s on 2 CPUs: 1.5 s idle, 0.1 s iowait, 0.1 s steal, 2.4 s sampled busy.
        let b = CpuClock {
            at: t0 + Duration::from_secs(2),
            cpus,
            fields: Fields {
                sampled_busy: fields.sampled_busy + 240.0,
                idle: fields.idle + 150.0,
                iowait: fields.iowait + 10.0,
                steal: fields.steal + 10.0,
            },
        };
        assert!(
            (b.busy_since(&a) - 2.3).abs() < 1e-9,
            "{}",
            b.busy_since(&a)
        );
        assert!(
            (b.ticks_since(&a) - 2.5).abs() < 1e-9,
            "{}",
            b.ticks_since(&a)
        );
    }
}
