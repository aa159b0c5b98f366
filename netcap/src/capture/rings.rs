//! Several BPF ring buffers read as one: the records of all of them, merged by
//! timestamp, and one descriptor that is readable when any of them is.
//!
//! The kernel programs write each frame into the ring of the CPU they run on (see
//! `netcap-ebpf`), so one ring holds one CPU's frames in the order that CPU stamped
//! them. A reader of several rings takes, at each step, the oldest head among them:
//! what it hands on is in timestamp order as far as the rings hold it when it looks (a
//! record still being written on one CPU can come out after a younger one of another,
//! as frames stamped on two CPUs can with one shared ring).
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use aya::{
    maps::{ArrayOfMaps, MapData},
    Ebpf,
};
use aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_RINGBUF;
use netcap_common::MAX_RINGS;

use super::{ringbuf::BatchRing, Error};

/// How many rings, of what size: one per possible CPU (at most [`MAX_RINGS`]), sharing
/// the `-B` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Possible CPUs (the length of per-CPU map values).
    cpus: usize,
    rings: usize,
    /// Bytes of each ring: a power of two, at least a page.
    pub bytes_each: u32,
}

impl Plan {
    /// Rings for `total` bytes (a power of two) on this machine.
    pub fn new(total: u32) -> Result<Self, Error> {
        let cpus = aya::util::nr_cpus()
            .map_err(|(what, e)| Error::io(format!("reading {what}"), e))?
            .max(1);
        Ok(Self::for_cpus(cpus, total))
    }

    fn for_cpus(cpus: usize, total: u32) -> Self {
        let rings = cpus.clamp(1, MAX_RINGS as usize);
        // SAFETY: sysconf has no preconditions.
        let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let share = (total / rings as u32).max(page);
        // The largest power of two not above the share.
        let bytes_each = 1u32 << (u32::BITS - 1 - share.leading_zeros());
        Self {
            cpus,
            rings,
            bytes_each,
        }
    }

    /// Creates the rings and puts them into the program's `RINGS` slots (slot `i` gets
    /// ring `i % rings`, so CPU `c` writes to ring `c % MAX_RINGS % rings`).
    pub fn create(&self, ebpf: &mut Ebpf) -> Result<Vec<BatchRing>, Error> {
        let mut maps = Vec::with_capacity(self.rings);
        for _ in 0..self.rings {
            let obj = aya_obj::Map::new_from_params(
                BPF_MAP_TYPE_RINGBUF as u32,
                0,
                0,
                self.bytes_each,
                0,
            );
            let map = MapData::create(obj, "netcap_ring", None)
                .map_err(|e| Error::bpf("creating a ring buffer", e))?;
            maps.push(map);
        }
        let outer = ebpf
            .map_mut("RINGS")
            .ok_or_else(|| Error::Unsupported("eBPF object has no RINGS map".into()))?;
        let mut outer: ArrayOfMaps<_, MapData> =
            ArrayOfMaps::try_from(outer).map_err(|e| Error::bpf("opening the RINGS map", e))?;
        for slot in 0..MAX_RINGS {
            let Some(map) = maps.get(slot as usize % self.rings) else {
                continue;
            };
            outer
                .set(slot, map, 0)
                .map_err(|e| Error::bpf("putting a ring buffer into RINGS", e))?;
        }
        maps.into_iter().map(BatchRing::new).collect()
    }

    /// The ring CPU `cpu` writes to.
    fn ring_of(&self, cpu: usize) -> usize {
        cpu % MAX_RINGS as usize % self.rings
    }

    /// Deals `rings` (as [`Plan::create`] returned them) out to `sources` readers round
    /// robin; each with the CPUs that write to its rings.
    pub fn deal<R>(&self, rings: Vec<R>, sources: usize) -> Vec<(Vec<R>, Vec<usize>)> {
        let n = sources.clamp(1, rings.len().max(1));
        let mut out: Vec<(Vec<R>, Vec<usize>)> = (0..n).map(|_| (Vec::new(), Vec::new())).collect();
        for (i, ring) in rings.into_iter().enumerate() {
            if let Some(slot) = out.get_mut(i % n) {
                slot.0.push(ring);
            }
        }
        for cpu in 0..self.cpus {
            if let Some(slot) = out.get_mut(self.ring_of(cpu) % n) {
                slot.1.push(cpu);
            }
        }
        out
    }

    /// For the startup line, with the number of sources reading the rings.
    pub fn describe(&self, sources: usize) -> String {
        let each = self.bytes_each / 1024;
        let readers = sources.clamp(1, self.rings);
        match (self.rings, readers) {
            (1, _) => format!("1 ring of {each} KiB"),
            (n, 1) => format!("{n} rings (per CPU) of {each} KiB, one reader"),
            (n, r) => format!("{n} rings (per CPU) of {each} KiB, {r} readers"),
        }
    }
}

pub struct RingSet {
    rings: Vec<BatchRing>,
    /// An epoll instance watching every ring (level-triggered), when there are several.
    epoll: Option<OwnedFd>,
}

impl RingSet {
    pub fn new(rings: Vec<BatchRing>) -> Result<Self, Error> {
        if rings.is_empty() {
            return Err(Error::Unsupported("no ring buffer to read".into()));
        }
        let epoll = if rings.len() > 1 {
            Some(epoll_of(&rings)?)
        } else {
            None
        };
        Ok(Self { rings, epoll })
    }

    /// Calls `f` with committed records of all the rings, oldest first by `key` (the
    /// record's timestamp), until every ring is empty (or at a record still being
    /// written) or `f` returns false; then hands the space back to the kernel.
    pub fn visit(&mut self, key: fn(&[u8]) -> u64, mut f: impl FnMut(&[u8]) -> bool) {
        if let [ring] = self.rings.as_mut_slice() {
            ring.drain(f);
            return;
        }
        // Each ring's head: (offset, length, key).
        let mut heads: Vec<Option<(usize, usize, u64)>> = self
            .rings
            .iter_mut()
            .map(|r| r.peek().map(|rec| (rec.0, rec.1, key(r.record(rec)))))
            .collect();
        loop {
            let mut best: Option<(usize, u64)> = None;
            for (i, head) in heads.iter().enumerate() {
                if let Some((_, _, k)) = head {
                    if best.is_none_or(|(_, b)| *k < b) {
                        best = Some((i, *k));
                    }
                }
            }
            let Some((i, _)) = best else { break };
            let (Some(ring), Some(head)) = (self.rings.get_mut(i), heads.get_mut(i)) else {
                break;
            };
            let Some((off, len, _)) = *head else { break };
            let more = f(ring.record((off, len)));
            ring.consume(len);
            *head = ring.peek().map(|rec| (rec.0, rec.1, key(ring.record(rec))));
            if !more {
                break;
            }
        }
        for ring in &mut self.rings {
            ring.publish();
        }
    }

    /// Readable when any ring has data (the ring itself, or the epoll instance).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.epoll {
            Some(ep) => Some(ep.as_fd()),
            None => self.rings.first().map(|r| r.as_fd()),
        }
    }
}

/// An epoll instance with every ring's descriptor registered for input.
fn epoll_of(rings: &[BatchRing]) -> Result<OwnedFd, Error> {
    // SAFETY: epoll_create1 has no memory arguments.
    let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if raw < 0 {
        return Err(Error::io(
            "epoll_create1 for the ring buffers",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
    for (i, ring) in rings.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        let fd = ring.as_fd().as_raw_fd();
        // SAFETY: both descriptors are open (owned by `epoll` and `ring`), and `ev` is a
        // valid epoll_event the kernel only reads.
        let rc = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            return Err(Error::io(
                "adding a ring buffer to epoll",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(epoll)
}

#[cfg(test)]
#[path = "rings_tests.rs"]
mod tests;
