//! The minimal reader of the capture floor's rings ([`super::capture_floor`]): one
//! thread that polls every CPU's ring, reads each record's length, steps over it and
//! hands the space back (the consumer position, stored with release once per ring and
//! pass), and sleeps [`PASS_SLEEP`] after each pass. With a file it also
//! writes each record as a classic pcap record (microsecond timestamps, as `tcpdump
//! -w`), gathered into writes of [`WRITE_BYTES`]: the least a `-w` capture must do.
//!
//! It keeps up with trafgen on this VM: at 1.2 M frames/s of 80-byte records one
//! ring of 8 MiB fills in about 90 ms, and a pass every 10 ms finds about 1 MB.
use std::{
    fs::File,
    io::{self, Write},
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use super::capture_floor::{
    record_span, value_size, CaptureFloor, CONSUMER, DATA, HEADER, LOST_COPY, LOST_FULL, PRODUCER,
    SNAP,
};

/// How long the reader sleeps after each pass, whatever it found. A reader that went
/// round again at once whenever it found a record spun at trafgen's rates on this VM
/// (0.6 s of CPU for 1.5 M frames that arrive a few at a time) and stored its consumer
/// position every few records, a line the producer loads per frame; one that slept
/// 1 ms used 3.7% of a core idle (a timer wake-up costs some 70 us in this guest,
/// and the capture bench takes a tool above 2% for one still draining). 10 ms: about
/// 1 MiB of records per ring per pass at 1.2 M frames/s (netcap's wake-up threshold),
/// under a tenth of an 8 MiB ring.
pub const PASS_SLEEP: Duration = Duration::from_millis(10);
/// Bytes of pcap records gathered before one `write`.
pub const WRITE_BYTES: usize = 1 << 20;

/// What the reader did, and what the program lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records read.
    pub read: u64,
    /// Frames the program found no room for.
    pub lost_full: u64,
    /// Frames whose copy helper failed.
    pub lost_copy: u64,
    /// Bytes written to the pcap file (its header included).
    pub written: u64,
}

/// A shared mapping of the whole rings map.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: plain shared memory; only the reader thread touches it, through `Rings`.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of an array map created with BPF_F_MMAPABLE;
        // the kernel checks the length against the map and fails otherwise. The mapping
        // holds its own reference on the map.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap: NULL"))?;
        Ok(Self { ptr, len })
    }

    /// The u64 at byte `at`, which must be 8-byte aligned and inside the mapping.
    fn word(&self, at: usize) -> &AtomicU64 {
        assert!(
            at.is_multiple_of(8) && at + 8 <= self.len,
            "word {at} of {}",
            self.len
        );
        // SAFETY: checked just above: aligned and inside the mapping, which lives as
        // long as `self`; the kernel accesses these words as u64s too.
        unsafe { &*self.ptr.as_ptr().add(at).cast::<AtomicU64>() }
    }

    /// `len` bytes at `at`, inside the mapping.
    fn bytes(&self, at: usize, len: usize) -> &[u8] {
        assert!(at + len <= self.len, "bytes {at}+{len} of {}", self.len);
        // SAFETY: inside the mapping (checked); the caller reads only records below the
        // producer position, which the kernel does not write again until the consumer
        // position passes them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(at), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mmap returned; nothing borrows it past
        // the reader thread's end.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Where the records go.
struct Pcap {
    file: File,
    buf: Vec<u8>,
    /// CLOCK_REALTIME less CLOCK_MONOTONIC at the start, ns.
    offset_ns: i128,
    written: u64,
}

impl Pcap {
    fn new(mut file: File) -> io::Result<Self> {
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
        hdr.extend_from_slice(&2u16.to_ne_bytes());
        hdr.extend_from_slice(&4u16.to_ne_bytes());
        hdr.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        hdr.extend_from_slice(&SNAP.to_ne_bytes());
        hdr.extend_from_slice(&1u32.to_ne_bytes()); // LINKTYPE_ETHERNET
        file.write_all(&hdr)?;
        Ok(Self {
            file,
            buf: Vec::with_capacity(WRITE_BYTES + 4096),
            offset_ns: clock_ns(libc::CLOCK_REALTIME)? - clock_ns(libc::CLOCK_MONOTONIC)?,
            written: hdr.len() as u64,
        })
    }

    fn record(&mut self, ts_ns: u64, len: u32, data: &[u8]) -> io::Result<()> {
        let wall = (i128::from(ts_ns) + self.offset_ns).max(0) as u128;
        let (sec, usec) = ((wall / 1_000_000_000) as u32, (wall % 1_000_000_000) / 1000);
        self.buf.extend_from_slice(&sec.to_ne_bytes());
        self.buf.extend_from_slice(&(usec as u32).to_ne_bytes());
        self.buf
            .extend_from_slice(&(data.len() as u32).to_ne_bytes());
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

fn clock_ns(clock: libc::clockid_t) -> io::Result<i128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call writes.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
}

/// Every CPU's ring in one mapping, with the reader's positions.
struct Rings {
    map: Mapping,
    value_size: usize,
    mask: u64,
    pos: Vec<u64>,
}

impl Rings {
    /// Reads what ring `cpu` holds, handing each record to `sink`; returns how many.
    fn drain(
        &mut self,
        cpu: usize,
        sink: &mut impl FnMut(u64, u32, &[u8]) -> io::Result<()>,
    ) -> io::Result<u64> {
        let base = cpu * self.value_size;
        let prod = self.map.word(base + PRODUCER).load(Ordering::Acquire);
        let mut pos = self.pos[cpu];
        let mut n = 0;
        while pos < prod {
            let at = base + DATA + (pos & self.mask) as usize;
            let hdr = self.map.bytes(at, HEADER as usize);
            let word = |i: usize| u32::from_ne_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
            let ts = u64::from(word(0)) | (u64::from(word(4)) << 32);
            let (len, cap) = (word(8), word(12));
            if cap == 0 || cap > SNAP {
                // Not a record the program wrote: skip what is there.
                pos = prod;
                break;
            }
            sink(ts, len, self.map.bytes(at + HEADER as usize, cap as usize))?;
            pos += u64::from(record_span(cap));
            n += 1;
        }
        self.pos[cpu] = pos;
        self.map.word(base + CONSUMER).store(pos, Ordering::Release);
        Ok(n)
    }

    fn lost(&self, at: usize) -> u64 {
        (0..self.pos.len())
            .map(|cpu| {
                self.map
                    .word(cpu * self.value_size + at)
                    .load(Ordering::Relaxed)
            })
            .sum()
    }
}

/// A running reader.
pub struct Reader {
    thread: JoinHandle<io::Result<Tally>>,
    read: Arc<AtomicU64>,
}

impl Reader {
    /// Records read so far (updated after each pass).
    pub fn read_so_far(&self) -> u64 {
        self.read.load(Ordering::Acquire)
    }

    /// Waits for the reader's end (after `stop`) and returns what it did.
    pub fn join(self) -> io::Result<Tally> {
        self.thread
            .join()
            .map_err(|_| io::Error::other("the reader thread panicked"))?
    }
}

/// Starts the reader of `floor`'s rings ([`super::capture_floor::Variant::Record`]);
/// with `pcap`, each record is also written there. It reads until `stop` is set and a
/// pass finds no record, then returns what it did.
pub fn spawn(
    floor: &CaptureFloor,
    pcap: Option<File>,
    stop: Arc<AtomicBool>,
) -> Result<Reader, String> {
    let fd = floor
        .rings()
        .ok_or("this capture floor has no rings to read")?;
    let vs = value_size(floor.size) as usize;
    let map = Mapping::new(fd, vs * floor.cpus as usize)
        .map_err(|e| format!("mmap of the capture floor's rings: {e}"))?;
    let mut rings = Rings {
        map,
        value_size: vs,
        mask: u64::from(floor.size - 1),
        pos: vec![0; floor.cpus as usize],
    };
    let mut pcap = match pcap {
        Some(f) => Some(Pcap::new(f).map_err(|e| format!("writing the pcap header: {e}"))?),
        None => None,
    };
    let read = Arc::new(AtomicU64::new(0));
    let progress = read.clone();
    let thread = std::thread::Builder::new()
        .name("capfloor-reader".into())
        .spawn(move || {
            let mut tally = Tally::default();
            let mut sink = |ts: u64, len: u32, data: &[u8]| match &mut pcap {
                Some(p) => p.record(ts, len, data),
                None => Ok(()),
            };
            loop {
                let stopping = stop.load(Ordering::Acquire);
                let mut n = 0;
                for cpu in 0..rings.pos.len() {
                    n += rings.drain(cpu, &mut sink)?;
                }
                tally.read += n;
                progress.store(tally.read, Ordering::Release);
                if n == 0 && stopping {
                    break;
                }
                std::thread::sleep(PASS_SLEEP);
            }
            if let Some(p) = &mut pcap {
                p.flush()?;
                tally.written = p.written;
            }
            tally.lost_full = rings.lost(LOST_FULL);
            tally.lost_copy = rings.lost(LOST_COPY);
            Ok(tally)
        })
        .map_err(|e| format!("starting the reader thread: {e}"))?;
    Ok(Reader { thread, read })
}
