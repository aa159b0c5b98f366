//! The reader of one CPU's capture ring (`netcap-ebpf/src/ring.rs`, layout in
//! `netcap_common::ring`): an element of the kernel's `RING` array map, mapped into
//! this process, with the BPF ring buffer that carries its wake-up tokens.
//!
//! The kernel program is the ring's only producer; this reader its only consumer. The
//! reader loads the producer position with acquire (the records below it are complete),
//! reads records in place, and stores its consumer position with release once per
//! [`CpuRing::publish`] (a batch), so the producer's CPU sees the consumer's cache line
//! change once per batch, not per record.
use std::{
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use netcap_common::{record_span, ring, RecordHeader};

use super::{ringbuf::BatchRing, Error};

/// A shared, read-write mapping of the whole `RING` array (every CPU's ring).
pub struct RingMemory {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; every access goes through a `CpuRing`,
// which touches only its own element (and its positions through atomics).
unsafe impl Send for RingMemory {}
// SAFETY: as above.
unsafe impl Sync for RingMemory {}

impl RingMemory {
    /// Maps `len` bytes of the array map `fd` (an mmapable array: the values, page
    /// aligned, from offset 0).
    pub fn map(fd: BorrowedFd<'_>, len: usize) -> Result<Self, Error> {
        // SAFETY: a fresh shared mapping of a BPF array map created with
        // BPF_F_MMAPABLE; the kernel checks the length against the map and fails
        // otherwise. The mapping holds its own reference on the map.
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
            return Err(Error::io(
                "mmap of the capture rings",
                std::io::Error::last_os_error(),
            ));
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| Error::Unsupported("mmap of the capture rings returned NULL".into()))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for RingMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mmap returned; every `CpuRing` holds an
        // `Arc` of this, and every slice they hand out borrows one of them.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub struct CpuRing {
    mem: Arc<RingMemory>,
    /// Offset of this ring's element in `mem`.
    base: usize,
    /// Bytes of the element (control page, data, slack).
    value_size: usize,
    mask: u64,
    /// Our consumer position (the kernel sees it at `publish`).
    pos: u64,
    /// The producer position last read.
    prod: u64,
    /// The wake-up tokens of this ring (CPUs beyond `MAX_RINGS` share their slot's).
    wake: Option<BatchRing>,
}

impl CpuRing {
    /// The ring of element `index` of `mem`, whose elements are `value_size` bytes with
    /// a data area of `mask + 1`.
    pub fn new(
        mem: Arc<RingMemory>,
        index: usize,
        value_size: usize,
        mask: u64,
        wake: Option<BatchRing>,
    ) -> Result<Self, Error> {
        let base = index
            .checked_mul(value_size)
            .filter(|&b| b.checked_add(value_size).is_some_and(|end| end <= mem.len))
            .ok_or_else(|| Error::Unsupported(format!("capture ring {index} is not mapped")))?;
        if ring::value_size(mask as u32 + 1, 0) as usize > value_size
            || !value_size.is_multiple_of(8)
            || !(mask + 1).is_power_of_two()
        {
            return Err(Error::Unsupported("capture ring layout".into()));
        }
        let mut r = Self {
            mem,
            base,
            value_size,
            mask,
            pos: 0,
            prod: 0,
            wake,
        };
        r.pos = r.position(ring::CONSUMER).load(Ordering::Acquire);
        Ok(r)
    }

    /// Bytes of the data area.
    pub fn data_size(&self) -> usize {
        self.mask as usize + 1
    }

    fn position(&self, at: usize) -> &AtomicU64 {
        // SAFETY: both positions are 8-byte aligned u64s in the element's control page
        // (the mapping is page-aligned and `base` a multiple of the element's size, which
        // `new` checked is a multiple of 8, with the element inside the mapping), which
        // lives as long as `self.mem`.
        unsafe {
            &*self
                .mem
                .ptr
                .as_ptr()
                .add(self.base + at)
                .cast::<AtomicU64>()
        }
    }

    /// The next record, as (offset in the mapping, length), without consuming it.
    /// `None` when the ring is empty.
    pub fn peek(&mut self) -> Option<(usize, usize)> {
        if self.pos >= self.prod {
            self.prod = self.position(ring::PRODUCER).load(Ordering::Acquire);
            if self.pos >= self.prod {
                return None;
            }
        }
        let off = ring::DATA as usize + (self.pos & self.mask) as usize;
        let cap_at = off + std::mem::offset_of!(RecordHeader, cap_len);
        // SAFETY: `cap_at` is inside the element (the data area is followed by at least
        // a record header of slack); read unaligned, as the consumer position it comes
        // from is shared memory (the kernel's records are 8-aligned, so it always is in
        // practice); the kernel finished writing it before the producer position (loaded
        // with acquire) passed it.
        let cap = unsafe {
            self.mem
                .ptr
                .as_ptr()
                .add(self.base + cap_at)
                .cast::<u32>()
                .read_unaligned()
        };
        let len = size_of::<RecordHeader>() + cap as usize;
        if off + len > self.value_size || u64::from(record_span(cap)) > self.prod - self.pos {
            // Not a record the kernel wrote: skip what is there rather than read past it.
            self.pos = self.prod;
            return None;
        }
        self.prefetch_ahead(u64::from(record_span(cap)));
        Some((self.base + off, len))
    }

    /// Prefetches the header of the record [`AHEAD`](super::prefetch::AHEAD) records
    /// after the one at `pos`, if they all have its `span` (a guess: a wrong one only
    /// costs a useless prefetch; see `capture/prefetch.rs`). Only below the producer
    /// position last read: a line the kernel is still to write would only be pulled
    /// away from its CPU.
    #[inline]
    fn prefetch_ahead(&self, span: u64) {
        let hdr = size_of::<RecordHeader>() as u64;
        let Some(at) = span
            .checked_mul(super::prefetch::AHEAD as u64)
            .and_then(|d| d.checked_add(self.pos))
            .filter(|at| at.saturating_add(hdr) <= self.prod)
        else {
            return;
        };
        // In the data area (the offset is masked), whose element is mapped whole.
        let off = self.base + ring::DATA as usize + (at & self.mask) as usize;
        let p = self.mem.ptr.as_ptr().wrapping_add(off);
        // The header's first and last byte: it may straddle two lines.
        super::prefetch::line(p);
        super::prefetch::line(p.wrapping_add(hdr as usize - 1));
    }

    /// The bytes of a record [`CpuRing::peek`] returned.
    pub fn record(&self, (off, len): (usize, usize)) -> &[u8] {
        // `peek`'s places always fit this ring's element; any other gets nothing rather
        // than memory outside it.
        if off < self.base
            || off
                .checked_add(len)
                .is_none_or(|end| end > self.base + self.value_size)
        {
            return &[];
        }
        // SAFETY: [off, off + len) is inside this ring's element (checked above, and the
        // element inside the mapping, checked in `new`); `peek` found it below the
        // producer position; the kernel does not write there again until the consumer
        // position passes it (only `publish` moves it, through `&mut self`).
        unsafe { std::slice::from_raw_parts(self.mem.ptr.as_ptr().add(off), len) }
    }

    /// Steps over the record [`CpuRing::peek`] returned (of `len` bytes); the kernel
    /// gets its space back at the next [`CpuRing::publish`].
    pub fn consume(&mut self, len: usize) {
        self.pos += (len as u64).next_multiple_of(u64::from(netcap_common::RECORD_ALIGN));
    }

    /// Hands the space of every consumed record back to the kernel.
    /// Bytes read from this ring so far (the consumer position, taken or not yet
    /// handed back).
    pub fn read_position(&self) -> u64 {
        self.pos
    }

    /// Bytes the kernel has written past this reader's position, looked at afresh.
    pub fn unread(&self) -> u64 {
        self.position(ring::PRODUCER)
            .load(Ordering::Acquire)
            .saturating_sub(self.pos)
    }

    pub fn publish(&mut self) {
        self.position(ring::CONSUMER)
            .store(self.pos, Ordering::Release);
    }

    /// Throws away the wake-up tokens (before a drain, so that a token written after it
    /// wakes the next wait).
    pub fn clear_wakeups(&mut self) {
        if let Some(w) = &mut self.wake {
            w.drain(|_| true);
        }
    }

    /// Calls `f` with each record, in order, until the ring is empty or `f` returns
    /// false; then publishes the new consumer position once. Returns the number of
    /// records passed to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> usize {
        self.clear_wakeups();
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

    /// The descriptor that is readable when the kernel wants this ring read (its
    /// wake-up ring); `None` for a CPU that shares another's.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.wake.as_ref().map(|w| w.as_fd())
    }
}
