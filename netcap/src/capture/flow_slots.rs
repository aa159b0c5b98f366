//! The in-kernel flow table's memory, mapped into user space: the `FLOWS` array map is
//! created with `BPF_F_MMAPABLE` (Linux 5.5), so user space reads its slots in place,
//! with no system call per entry or per batch, and frees a slot with one atomic
//! compare-and-exchange of its `key0` (the protocol is in `netcap-ebpf/src/flows.rs`).
//! This file is one of the capture module's unsafe doors: the mapping, the reads of
//! memory the kernel writes at the same time, and the atomic free.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use netcap_common::{FlowSlotAbi, FLOW_SLOT_BUSY, FLOW_SLOT_EMPTY};

/// The mapped slots of one `FLOWS` map.
pub struct SlotMap {
    base: NonNull<FlowSlotAbi>,
    slots: usize,
    bytes: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; every access goes
// through `read` and `free`, which are sound from any thread (volatile reads, atomic
// compare-and-exchange), and `Drop` unmaps it once.
unsafe impl Send for SlotMap {}

impl SlotMap {
    /// Maps the `slots` slots of the array map `fd` (created with `BPF_F_MMAPABLE`
    /// and `slots` entries of `FlowSlotAbi`).
    pub fn new(fd: BorrowedFd<'_>, slots: usize) -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| io::Error::other("no page size"))?;
        let bytes = (slots * size_of::<FlowSlotAbi>()).div_ceil(page) * page;
        // SAFETY: a fresh shared mapping of the map's data (the kernel checks `bytes`
        // against the map's size and refuses more); nothing else is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<FlowSlotAbi>()).ok_or_else(|| io::Error::other("mmap"))?;
        Ok(Self { base, slots, bytes })
    }

    /// How many slots the table has.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn key0(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.slots, "slot {i} of {}", self.slots);
        // SAFETY: slot `i` is inside the mapping (checked above), page-aligned base +
        // 128 * i, so its first u64 is 8-byte aligned and lives as long as `self`;
        // the kernel touches it only with atomic instructions (claim, publish) and
        // user space only through this atomic.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(i).cast::<u64>()) }
    }

    /// A copy of slot `i` when it holds a flow; `None` when it is free or a hook is
    /// filling it in. The counters may be read while a hook adds to them: each is a
    /// value it had, and they only grow.
    pub fn read(&self, i: usize) -> Option<FlowSlotAbi> {
        let key0 = self.key0(i).load(Ordering::Acquire);
        if key0 == FLOW_SLOT_EMPTY || key0 == FLOW_SLOT_BUSY {
            return None;
        }
        // SAFETY: slot `i` is inside the mapping (checked by `key0`); a volatile read
        // of plain integers that the kernel may be writing (no value is invalid for
        // them). A live slot's key words are written only before it is published
        // (the Acquire load above), and only user space frees it.
        let mut copy = unsafe { self.base.as_ptr().add(i).read_volatile() };
        copy.key0 = key0;
        Some(copy)
    }

    /// Frees slot `i` if it still holds the flow whose `key0` is `key0`.
    pub fn free(&self, i: usize, key0: u64) -> bool {
        self.key0(i)
            .compare_exchange(key0, FLOW_SLOT_EMPTY, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

impl Drop for SlotMap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of `bytes` bytes, unmapped once; no
        // reference into it outlives `self` (`read` returns copies).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.bytes) };
    }
}
