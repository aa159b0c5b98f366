//! A BPF ring buffer consumer that reads many records per consumer-position update.
//! The capture rings are netcap's own (`cpu_ring.rs`); BPF ring buffers carry only their
//! wake-up tokens, read (and thrown away) with this.
//!
//! Why not `aya::maps::RingBuf`: aya 0.14 stores the consumer position after every
//! record, and the kernel producer on another CPU reads that position on every
//! reserve, so each frame moves a cache line between the two CPUs. Here the position
//! is stored once per [`BatchRing::drain`] call (a batch of up to a few hundred KiB),
//! which is what lets the reader keep up at line rate. The layout is the kernel's
//! (`kernel/bpf/ringbuf.c`, 5.8+): page 0 is the consumer position (read-write), page
//! 1 the producer position, then the data area mapped twice in a row, so a record
//! that wraps is still contiguous in memory.
use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

use aya::maps::MapData;

use super::Error;

/// Record header flags (`BPF_RINGBUF_BUSY_BIT`, `BPF_RINGBUF_DISCARD_BIT`).
const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
/// Bytes of the per-record header the kernel writes before the data.
const HDR: u64 = 8;

struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: BorrowedFd<'_>, len: usize, prot: i32, offset: usize) -> Result<Self, Error> {
        // SAFETY: a fresh shared mapping of a BPF ring buffer map fd; the kernel checks
        // the length and offset against the map and fails otherwise.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::io(
                "mmap of the BPF ring buffer",
                std::io::Error::last_os_error(),
            ));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| {
            Error::Unsupported("mmap of the BPF ring buffer returned NULL".into())
        })?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mmap returned; nothing borrows it any more
        // (every slice handed out is tied to a `&mut BatchRing` borrow).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub struct BatchRing {
    map: MapData,
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    mask: u64,
    /// Our consumer position (the kernel sees it at `publish`).
    pos: u64,
    /// The producer position last read.
    prod: u64,
}

// SAFETY: the mappings are owned by this value alone and only used through `&mut self`;
// the kernel side synchronises through the atomics.
unsafe impl Send for BatchRing {}

impl BatchRing {
    pub fn new(map: MapData) -> Result<Self, Error> {
        let size = map
            .info()
            .map_err(|e| Error::bpf("reading the ring buffer map info", e))?
            .max_entries() as usize;
        if !size.is_power_of_two() {
            return Err(Error::Unsupported(format!(
                "ring buffer size {size} is not a power of two"
            )));
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let fd = map.fd().as_fd();
        let consumer = Mapping::new(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = Mapping::new(fd, page + 2 * size, libc::PROT_READ, page)?;
        let mut ring = Self {
            map,
            consumer,
            producer,
            page,
            mask: size as u64 - 1,
            pos: 0,
            prod: 0,
        };
        ring.pos = ring.consumer_pos().load(Ordering::Acquire);
        Ok(ring)
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: page 0 of the map is the kernel's `consumer_pos`, an 8-byte aligned
        // unsigned long at the start of a page-aligned mapping that lives as long as self.
        unsafe { &*self.consumer.ptr.as_ptr().cast::<AtomicU64>() }
    }

    fn producer_pos(&self) -> u64 {
        // SAFETY: as above, for `producer_pos` at the start of the producer mapping.
        unsafe { &*self.producer.ptr.as_ptr().cast::<AtomicU64>() }.load(Ordering::Acquire)
    }

    /// The next committed record, as (offset in the producer mapping, length), without
    /// consuming it; discarded records on the way are stepped over. `None` when the ring
    /// is empty or its next record is still being written.
    pub fn peek(&mut self) -> Option<(usize, usize)> {
        let data = self.page as u64;
        loop {
            if self.pos >= self.prod {
                self.prod = self.producer_pos();
                if self.pos >= self.prod {
                    return None;
                }
            }
            let off = (data + (self.pos & self.mask)) as usize;
            // SAFETY: `off` is inside the first copy of the data area, and the 8-byte
            // header is 8-aligned (positions are multiples of 8); the kernel writes the
            // length word with release semantics, read here with acquire.
            let len_word = unsafe {
                (*self.producer.ptr.as_ptr().add(off).cast::<AtomicU32>()).load(Ordering::Acquire)
            };
            if len_word & BUSY != 0 {
                return None;
            }
            let len = u64::from(len_word & !(BUSY | DISCARD));
            if len_word & DISCARD == 0 {
                return Some((off + HDR as usize, len as usize));
            }
            self.pos += (len + HDR).next_multiple_of(8);
        }
    }

    /// The bytes of a record [`BatchRing::peek`] returned.
    pub fn record(&self, (off, len): (usize, usize)) -> &[u8] {
        // What `peek` returns always fits (the kernel never commits a record longer
        // than the ring); anything else gets nothing rather than memory past the end.
        if off
            .checked_add(len)
            .is_none_or(|end| end > self.producer.len)
        {
            return &[];
        }
        // SAFETY: [off, off + len) is inside the mapping (checked above); `peek` found
        // a committed record of `len` bytes at `off`, which the kernel does not touch
        // until the consumer position passes it (only `publish` moves it); the data
        // area is mapped twice back to back, so a record that wraps is contiguous.
        unsafe { std::slice::from_raw_parts(self.producer.ptr.as_ptr().add(off), len) }
    }

    /// Steps over the record [`BatchRing::peek`] returned (of `len` bytes); the kernel
    /// gets its space back at the next [`BatchRing::publish`].
    pub fn consume(&mut self, len: usize) {
        self.pos += (len as u64 + HDR).next_multiple_of(8);
    }

    /// Hands the space of every consumed record back to the kernel.
    pub fn publish(&mut self) {
        self.consumer_pos().store(self.pos, Ordering::Release);
    }

    /// Calls `f` with each committed record, in order, until the ring is empty, a record
    /// is still being written, or `f` returns false; then publishes the new consumer
    /// position once. Returns the number of records passed to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> usize {
        let mut n = 0;
        while let Some(rec) = self.peek() {
            n += 1;
            let more = f(self.record(rec));
            self.consume(rec.1);
            if !more {
                break;
            }
        }
        self.publish();
        n
    }
}

impl AsFd for BatchRing {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd().as_fd()
    }
}
