//! Several capture rings read as one: the records of all of them, merged by
//! timestamp, and one descriptor that is readable when any of them wants reading.
//!
//! The kernel programs write each frame into the ring of the CPU they run on (see
//! `netcap-ebpf/src/ring.rs`), so one ring holds one CPU's frames in the order that CPU
//! stamped them. A reader of several rings takes, at each step, the oldest head among
//! them: what it hands on is in timestamp order as far as the rings hold it when it
//! looks (a record being written on one CPU can come out after a younger one of
//! another). It looks again at the rings that were empty every [`LOOK_AGAIN`] records,
//! so a record written while a round is read comes out within that many of its place,
//! not after the whole round of the other rings.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use std::sync::Arc;

use aya::{
    maps::{ArrayOfMaps, MapData},
    Ebpf, EbpfLoader,
};
use aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_RINGBUF;
use netcap_common::{ring, MAX_RINGS, MAX_SNAPLEN};

use super::{
    cpu_ring::{CpuRing, RingMemory},
    ringbuf::BatchRing,
    Error,
};

/// The largest data area of one ring: the verifier refuses variable offsets of
/// 2^29 (`BPF_MAX_VAR_OFF`) or more into a map value, and a record's offset is one.
const MAX_RING_BYTES: u32 = 1 << 28;
/// Bytes of each wake-up ring (the smallest BPF ring buffer: a page holds 256 tokens).
const WAKE_RING_BYTES: u32 = 4096;

/// How many rings, of what size: one per possible CPU, sharing the `-B` bytes, and one
/// wake-up ring per CPU up to [`MAX_RINGS`] (CPU `c` wakes through slot `c % MAX_RINGS`).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Possible CPUs (the length of per-CPU map values): one capture ring each.
    cpus: usize,
    /// Wake-up rings, `min(cpus, MAX_RINGS)`.
    rings: usize,
    /// Bytes of each ring's data area: a power of two, at least a page.
    pub bytes_each: u32,
    /// `bytes_each - 1`, for the kernel's `RING_MASK`.
    mask: u32,
    /// The snap length the slack after each data area is sized for (the kernel's
    /// `SNAPLEN`, which [`Plan::load`] sets).
    snaplen: u32,
}

impl Plan {
    /// Rings for `total` bytes (a power of two) on this machine, for records of at
    /// most `snaplen` bytes.
    pub fn new(total: u32, snaplen: u32) -> Result<Self, Error> {
        let cpus = aya::util::nr_cpus()
            .map_err(|(what, e)| Error::io(format!("reading {what}"), e))?
            .max(1);
        Ok(Self::for_cpus(cpus, total, snaplen))
    }

    fn for_cpus(cpus: usize, total: u32, snaplen: u32) -> Self {
        let rings = cpus.clamp(1, MAX_RINGS as usize);
        // SAFETY: sysconf has no preconditions.
        let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let share = (total / cpus as u32).clamp(page, MAX_RING_BYTES);
        // The largest power of two not above the share.
        let bytes_each = 1u32 << (u32::BITS - 1 - share.leading_zeros());
        Self {
            cpus,
            rings,
            bytes_each,
            mask: bytes_each - 1,
            snaplen: snaplen.clamp(1, MAX_SNAPLEN),
        }
    }

    /// Bytes of one element of the kernel's `RING` array.
    fn value_size(&self) -> u64 {
        ring::value_size(self.bytes_each, self.snaplen)
    }

    /// Loads the eBPF `object` (netcap's, [`super::xdp::EBPF_OBJECT`], or a variant)
    /// with `loader` (which the caller has given its other settings), `RING` sized for
    /// this plan and `SNAPLEN` set to its snap length.
    ///
    /// Refused on a `PREEMPT_RT` kernel: there two instances of the hooks can run on one
    /// CPU at once, and each ring takes one producer at a time (`netcap-ebpf/src/ring.rs`).
    pub fn load<'a>(&'a self, object: &[u8], loader: &mut EbpfLoader<'a>) -> Result<Ebpf, Error> {
        if std::fs::read_to_string("/sys/kernel/realtime").is_ok_and(|s| s.trim() == "1") {
            return Err(Error::Unsupported(
                "the XDP backend's per-CPU rings need a kernel without PREEMPT_RT (use \
                 --backend afpacket)"
                    .into(),
            ));
        }
        let value_size = u32::try_from(self.value_size())
            .map_err(|_| Error::Unsupported("capture ring too large".into()))?;
        let object = super::ring_object::with_value_size(object, "RING", value_size)?;
        loader
            .override_global("SNAPLEN", &self.snaplen, true)
            .override_global("RING_MASK", &self.mask, true)
            .map_max_entries("RING", self.cpus as u32)
            .load(object.bytes())
            .map_err(|e| Error::bpf("loading the BPF program", e))
    }

    /// Creates the wake-up rings, puts them into the program's `RINGS` slots (slot `i`
    /// gets ring `i`) and maps the capture rings; returns one reader per CPU, in CPU
    /// order (the first [`MAX_RINGS`] with their wake-up ring).
    pub fn create(&self, ebpf: &mut Ebpf) -> Result<Vec<CpuRing>, Error> {
        let mut wakes = Vec::with_capacity(self.rings);
        for _ in 0..self.rings {
            let obj = aya_obj::Map::new_from_params(
                BPF_MAP_TYPE_RINGBUF as u32,
                0,
                0,
                WAKE_RING_BYTES,
                0,
            );
            let map = MapData::create(obj, "netcap_wake", None)
                .map_err(|e| Error::bpf("creating a wake-up ring buffer", e))?;
            wakes.push(map);
        }
        let outer = ebpf
            .map_mut("RINGS")
            .ok_or_else(|| Error::Unsupported("eBPF object has no RINGS map".into()))?;
        let mut outer: ArrayOfMaps<_, MapData> =
            ArrayOfMaps::try_from(outer).map_err(|e| Error::bpf("opening the RINGS map", e))?;
        for (slot, map) in wakes.iter().enumerate() {
            outer
                .set(slot as u32, map, 0)
                .map_err(|e| Error::bpf("putting a ring buffer into RINGS", e))?;
        }
        let Some(aya::maps::Map::Array(ring_map)) = ebpf.map("RING") else {
            return Err(Error::Unsupported(
                "eBPF object has no RING array map".into(),
            ));
        };
        let value_size = usize::try_from(self.value_size())
            .map_err(|_| Error::Unsupported("capture ring too large".into()))?;
        let mem = Arc::new(RingMemory::map(
            ring_map.fd().as_fd(),
            value_size * self.cpus,
        )?);
        let mut wakes = wakes.into_iter();
        (0..self.cpus)
            .map(|cpu| {
                let wake = wakes.next().map(BatchRing::new).transpose()?;
                CpuRing::new(mem.clone(), cpu, value_size, u64::from(self.mask), wake)
            })
            .collect()
    }

    /// The source CPU `cpu`'s ring goes to among `n`: the one that has its wake-up slot.
    fn source_of(cpu: usize, n: usize) -> usize {
        cpu % MAX_RINGS as usize % n
    }

    /// Deals `rings` (one per CPU, as [`Plan::create`] returned them) out to `sources`
    /// readers; each with the CPUs that write to its rings. A ring goes with the
    /// wake-up ring of its CPU's slot.
    pub fn deal<R>(&self, rings: Vec<R>, sources: usize) -> Vec<(Vec<R>, Vec<usize>)> {
        let n = sources.clamp(1, self.rings.min(rings.len()).max(1));
        let mut out: Vec<(Vec<R>, Vec<usize>)> = (0..n).map(|_| (Vec::new(), Vec::new())).collect();
        for (cpu, ring) in rings.into_iter().enumerate() {
            if let Some(slot) = out.get_mut(Self::source_of(cpu, n)) {
                slot.0.push(ring);
                slot.1.push(cpu);
            }
        }
        out
    }

    /// For the startup line, with the number of sources reading the rings.
    pub fn describe(&self, sources: usize) -> String {
        let each = self.bytes_each / 1024;
        let readers = sources.clamp(1, self.rings);
        match (self.cpus, readers) {
            (1, _) => format!("1 ring of {each} KiB"),
            (n, 1) => format!("{n} rings (per CPU) of {each} KiB, one reader"),
            (n, r) => format!("{n} rings (per CPU) of {each} KiB, {r} readers"),
        }
    }
}

/// Where a record [`RingSet::visit_held`] passed on is: its ring, and its (offset,
/// length) in the mapping.
#[derive(Clone, Copy, Debug)]
pub struct Place {
    ring: usize,
    rec: (usize, usize),
}

/// Records a merge passes on before it looks again at the rings that were empty (a
/// look is a load of the producer position, a cache line another CPU writes).
const LOOK_AGAIN: u32 = 16;

pub struct RingSet {
    rings: Vec<CpuRing>,
    /// An epoll instance watching every ring (level-triggered), when there are several.
    epoll: Option<OwnedFd>,
}

impl RingSet {
    pub fn new(rings: Vec<CpuRing>) -> Result<Self, Error> {
        if rings.is_empty() {
            return Err(Error::Unsupported("no ring buffer to read".into()));
        }
        let epoll = if rings.iter().filter(|r| r.fd().is_some()).count() > 1 {
            Some(epoll_of(&rings)?)
        } else {
            None
        };
        Ok(Self { rings, epoll })
    }

    /// Calls `f` with the records of all the rings, oldest first by `key` (the
    /// record's timestamp), until every ring is empty or `f` returns false; then hands
    /// the space back to the kernel.
    pub fn visit(&mut self, key: fn(&[u8]) -> u64, mut f: impl FnMut(&[u8]) -> bool) {
        self.visit_held(key, |_, rec| f(rec));
        self.release();
    }

    /// As [`RingSet::visit`], but the records' space stays out of the kernel's reach
    /// until [`RingSet::release`]: `f` gets each record's [`Place`] too, and
    /// [`RingSet::record`] gives its bytes again until then.
    pub fn visit_held(&mut self, key: fn(&[u8]) -> u64, mut f: impl FnMut(Place, &[u8]) -> bool) {
        if let [ring] = self.rings.as_mut_slice() {
            ring.clear_wakeups();
            while let Some(rec) = ring.peek() {
                let more = f(Place { ring: 0, rec }, ring.record(rec));
                ring.consume(rec.1);
                if !more {
                    break;
                }
            }
            return;
        }
        for ring in &mut self.rings {
            ring.clear_wakeups();
        }
        // Each ring's head: (offset, length, key).
        let mut heads: Vec<Option<(usize, usize, u64)>> = self
            .rings
            .iter_mut()
            .map(|r| r.peek().map(|rec| (rec.0, rec.1, key(r.record(rec)))))
            .collect();
        // Records passed on since the empty rings were last looked at.
        let mut since_look = 0u32;
        loop {
            if since_look >= LOOK_AGAIN {
                // A ring that was empty may have been written since: its records may be
                // older than the next ones of the others.
                since_look = 0;
                for (ring, head) in self.rings.iter_mut().zip(heads.iter_mut()) {
                    if head.is_none() {
                        *head = ring.peek().map(|rec| (rec.0, rec.1, key(ring.record(rec))));
                    }
                }
            }
            let mut best: Option<(usize, u64)> = None;
            let mut live = 0;
            for (i, head) in heads.iter().enumerate() {
                if let Some((_, _, k)) = head {
                    live += 1;
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
            if live == 1 {
                // The other rings were empty when last looked at: this one's records go
                // in ring order, without a key or a choice each (from one CPU, as a
                // blast from one core is), until it is time to look at the others again.
                let mut rec = (off, len);
                loop {
                    let more = f(Place { ring: i, rec }, ring.record(rec));
                    ring.consume(rec.1);
                    since_look += 1;
                    if !more {
                        return;
                    }
                    match ring.peek() {
                        None => return,
                        Some(next) if since_look >= LOOK_AGAIN => {
                            *head = Some((next.0, next.1, key(ring.record(next))));
                            break;
                        }
                        Some(next) => rec = next,
                    }
                }
                continue;
            }
            let place = Place {
                ring: i,
                rec: (off, len),
            };
            let more = f(place, ring.record((off, len)));
            ring.consume(len);
            since_look += 1;
            *head = ring.peek().map(|rec| (rec.0, rec.1, key(ring.record(rec))));
            if !more {
                break;
            }
        }
    }

    /// The bytes of a record [`RingSet::visit_held`] passed on, until
    /// [`RingSet::release`] (which needs `&mut self`, so no borrow outlives it).
    pub fn record(&self, place: Place) -> &[u8] {
        self.rings
            .get(place.ring)
            .map_or(&[][..], |r| r.record(place.rec))
    }

    /// Bytes read so far from each ring, in the rings' order.
    pub fn read_positions(&self) -> impl Iterator<Item = u64> + '_ {
        self.rings.iter().map(CpuRing::read_position)
    }

    /// True when some ring holds `bytes` or more that this reader has not read.
    pub fn unread_at_least(&self, bytes: u64) -> bool {
        self.rings.iter().any(|r| r.unread() >= bytes)
    }

    /// Hands the space of every record passed on so far back to the kernel.
    pub fn release(&mut self) {
        for ring in &mut self.rings {
            ring.publish();
        }
    }

    /// Readable when the kernel wants any ring read (a wake-up ring, or the epoll
    /// instance of several).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.epoll {
            Some(ep) => Some(ep.as_fd()),
            None => self.rings.iter().find_map(|r| r.fd()),
        }
    }
}

/// An epoll instance with every wake-up ring's descriptor registered for input.
fn epoll_of(rings: &[CpuRing]) -> Result<OwnedFd, Error> {
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
    for (i, fd) in rings.iter().filter_map(CpuRing::fd).enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        let fd = fd.as_raw_fd();
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
