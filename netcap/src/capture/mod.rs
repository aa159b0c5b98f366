//! Capture backends: where frames come from. With `filter/libpcap.rs` (the libpcap
//! FFI), this is the only place with `unsafe` (syscalls, mmap rings, BPF maps); each
//! block says why it is sound.
//!
//! Every live source is polled the same way: the driver waits until the source's file
//! descriptor is readable or a short timer fires, then calls [`Source::fill`], which
//! drains what is ready without blocking.
pub mod af_packet;
pub mod any;
pub mod bpf_sys;
pub mod caps;
pub mod capture_floor;
pub mod capture_floor_reader;
pub mod cpu_ring;
pub mod error;
pub mod flow_floor;
mod flow_slots;
#[cfg(test)]
mod flows_test_run;
pub mod ifaces;
pub mod kbench;
pub mod kernel_flows;
pub mod multi;
pub mod native_filter;
pub mod netns;
pub mod open;
pub mod pcap_file;
pub mod pcapng_read;
mod prefetch;
pub mod privdrop;
pub mod ring_object;
pub mod ringbuf;
pub mod rings;
pub mod round;
pub mod tcx;
pub mod xdp;
mod xdp_attach;
#[cfg(test)]
mod xdp_test_run;

use std::os::fd::BorrowedFd;

pub use error::Error;
pub use open::{open, Backend, CaptureConfig, KernelFilter, Opened, XdpMode};

use crate::packet::{Batch, Direction, Frame};

/// Which frames to capture by direction (tcpdump's `-Q in|out|inout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DirectionFilter {
    In,
    Out,
    #[default]
    Both,
}

impl DirectionFilter {
    pub fn keeps(self, d: Direction) -> bool {
        match self {
            Self::Both => true,
            Self::In => d != Direction::Out,
            Self::Out => d == Direction::Out,
        }
    }
}

/// What a source has done, in the shape of `--stats-json`'s counters.
///
/// `seen == filtered + captured + lost_total() + aggregated` holds for every source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureCounters {
    /// Frames the hook (or socket) saw.
    pub seen: u64,
    /// Frames the filter rejected in the kernel.
    pub filtered: u64,
    /// Frames handed to user space.
    pub captured: u64,
    /// Lost because the ring buffer (or AF_PACKET ring) was full.
    pub lost_ring_full: u64,
    /// Lost because the kernel could not copy the frame.
    pub lost_copy: u64,
    /// Frames the kernel filter could not evaluate and captured anyway (not a loss).
    pub filter_error: u64,
    /// In-kernel flow mode: frames counted into their flow in the kernel, not copied.
    pub aggregated: u64,
    /// In-kernel flow mode: frames of new flows the full flow map could not take,
    /// captured instead (they are in `captured` too) and counted in user space.
    pub flow_overflow: u64,
}

impl CaptureCounters {
    pub fn lost_total(&self) -> u64 {
        self.lost_ring_full + self.lost_copy
    }

    /// Adds another source's counters (fanout sockets).
    pub fn add(&mut self, o: &CaptureCounters) {
        // Destructured, so a new counter cannot be forgotten here.
        let CaptureCounters {
            seen,
            filtered,
            captured,
            lost_ring_full,
            lost_copy,
            filter_error,
            aggregated,
            flow_overflow,
        } = *o;
        self.seen += seen;
        self.filtered += filtered;
        self.captured += captured;
        self.lost_ring_full += lost_ring_full;
        self.lost_copy += lost_copy;
        self.filter_error += filter_error;
        self.aggregated += aggregated;
        self.flow_overflow += flow_overflow;
    }
}

/// Result of one [`Source::fill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Frames were appended (possibly zero); more may be ready.
    Some,
    /// The source is finished (end of file, interface gone).
    End,
}

/// A live or file capture source.
/// Reads a source's counters from any thread ([`Source::counters_probe`]).
pub type CountersProbe = Box<dyn Fn() -> CaptureCounters + Send + Sync>;

pub trait Source: Send {
    /// Passes ready frames to `f` in order, without blocking, until none is ready or
    /// `f` returns false. The frame `f` is given is consumed either way. Live sources
    /// hand out frames straight from the kernel's ring, without a copy.
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error>;
    /// Hands ready frames to `f` without blocking, as one round (or, for a source that
    /// joins others, one or more): at most `limit.frames` frames, and frames until
    /// their bytes reach `limit.bytes`. Each call's frames stay where they are until
    /// `f` returns, and only then does the source give their space back (a live
    /// source's kernel ring): so `f` can write them all at once, straight from there.
    /// Every frame handed to `f` is consumed. Sources whose frames do not stay put
    /// copy the round first ([`round::copied`]).
    fn visit_round(
        &mut self,
        limit: round::RoundLimit,
        f: &mut dyn FnMut(&[Frame<'_>]),
    ) -> Result<Fill, Error> {
        round::copied(self, limit, f)
    }
    /// Appends ready frames to `batch` without blocking, up to about `max_bytes`.
    fn fill(&mut self, batch: &mut Batch, max_bytes: usize) -> Result<Fill, Error> {
        self.visit(&mut |frame| {
            batch.push(frame.meta, frame.data);
            batch.bytes() < max_bytes
        })
    }
    /// The descriptor that becomes readable when frames are ready (None for files).
    fn fd(&self) -> Option<BorrowedFd<'_>>;
    /// Counters so far (the kernel's, plus the source's own).
    fn counters(&self) -> CaptureCounters;
    /// A way to read [`Source::counters`] from another thread, where the source can
    /// give one (XDP/tcx: the hooks' counter map); for the counts printed when a second
    /// signal ends netcap while the thread that owns the source is blocked.
    fn counters_probe(&self) -> Option<CountersProbe> {
        None
    }
    /// True when records wait that no wake-up will announce, so the caller should read
    /// again without waiting for the descriptor. (XDP/tcx: the hooks wake the reader
    /// when a ring's unread bytes cross a threshold, counted from the consumer position
    /// the reader last handed back; a ring already past it when the reader handed its
    /// space back sends no wake-up until the reader reads it.)
    fn unannounced(&self) -> bool {
        false
    }
    /// Stops capturing (detaches kernel hooks); frames already queued can still be
    /// drained with `fill`, after which the counters are final.
    fn stop(&mut self) {}
    /// After `stop` (or for a frame to become readable at all), the longest the kernel
    /// may still hold a frame before `visit` can see it.
    fn settle_time(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// The link type of every frame, when the source has a single one.
    fn link(&self) -> Option<crate::packet::LinkType> {
        None
    }
    /// Kernel-to-user-space delay per frame in microseconds, where the source knows it.
    fn delay_us(&self) -> Option<&hdrhistogram::Histogram<u64>> {
        None
    }
    /// In-kernel flow mode: the records of the flows that ended (when a scan is due;
    /// cheap to call on every wake-up), or of all of them with `all` (after `stop`).
    fn take_flows(&mut self, _all: bool) -> Vec<crate::flow::Flow> {
        Vec::new()
    }
    /// Several interfaces: each one's name and counters (empty for one interface).
    fn per_interface(&self) -> Vec<(String, CaptureCounters)> {
        Vec::new()
    }
    /// Per-CPU rings: each writing CPU and the bytes read so far from its ring (ever
    /// growing), for the reader to follow the busiest (`run/follow.rs`); empty for
    /// sources without per-CPU rings.
    fn ring_reads(&self) -> Vec<(usize, u64)> {
        Vec::new()
    }
}

/// The interface index of `name`, if it exists.
pub fn ifindex_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// Frames the interface `name` dropped so far, as libpcap counts "dropped by interface"
/// on Linux: `rx_dropped + rx_missed_errors + rx_fifo_errors` from sysfs. `None` when
/// the interface has no such statistics (or is gone).
pub fn interface_drops(name: &str) -> Option<u64> {
    let read = |what: &str| -> Option<u64> {
        let path = format!("/sys/class/net/{name}/statistics/{what}");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    };
    if name.contains('/') || name.starts_with('.') {
        return None;
    }
    Some(
        read("rx_dropped")?
            + read("rx_missed_errors").unwrap_or(0)
            + read("rx_fifo_errors").unwrap_or(0),
    )
}

/// Frames per recorded kernel-to-user-space delay. Recording into an hdrhistogram costs
/// about as much as the rest of the capture loop's per-frame work (27 ns a record in a
/// profile of `-w` at 512 B: 1.7 ns a frame at one in 16); one frame in 64 gives the
/// same percentiles (delays within a drain are close together) for well under a ns,
/// and still thousands of samples a second at any rate where the cost matters.
pub const DELAY_SAMPLE: u64 = 64;

/// Records `delay_us` for one frame in [`DELAY_SAMPLE`]; `seq` counts the frames.
#[inline]
pub fn sample_delay(h: &mut hdrhistogram::Histogram<u64>, seq: &mut u64, delay_us: u64) {
    if (*seq).is_multiple_of(DELAY_SAMPLE) {
        h.saturating_record(delay_us);
    }
    *seq = seq.wrapping_add(1);
}

/// A histogram for delays in microseconds, 1 us to 100 s, 3 significant digits.
pub fn delay_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 100_000_000, 3)
        .unwrap_or_else(|_| hdrhistogram::Histogram::new(3).expect("3 significant digits is valid"))
}

/// Registers `owned` (a duplicate of a source's descriptor) with tokio's reactor, for
/// waiting until it is readable. Needs a running tokio runtime.
pub fn readiness(
    owned: std::os::fd::OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: `owned` is a descriptor of our own (a dup), moved into the AsyncFd, which
    // deregisters it before dropping (closing) it; nothing else can close it meanwhile.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into())
}

/// Waits until `fd` is readable or `timeout` has passed; true when readable.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid pollfd that lives across the call, and nfds is 1.
    let n = unsafe { libc::poll(&raw mut pfd, 1, ms) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n > 0 && pfd.revents & libc::POLLIN != 0)
}

/// The CPU time (user and system) the calling thread has used so far.
pub fn thread_cpu_time() -> std::time::Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The CPU time (user and system) every thread of this process has used so far, the
/// ended ones included: for benches, what threads other than the ones they name cost.
pub fn process_cpu_time() -> std::time::Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both CPU-time clocks always exist on
    // Linux (on an error `ts` stays zero).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    std::time::Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// The wall clock in nanoseconds since the UNIX epoch (0 if it is set before 1970).
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_filter() {
        use Direction::*;
        assert!(DirectionFilter::Both.keeps(In) && DirectionFilter::Both.keeps(Out));
        assert!(DirectionFilter::In.keeps(In) && !DirectionFilter::In.keeps(Out));
        assert!(DirectionFilter::Out.keeps(Out) && !DirectionFilter::Out.keeps(In));
    }
}
