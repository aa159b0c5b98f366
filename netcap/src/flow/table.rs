//! One shard of the flow table: bounded, lock-free (owned by one worker), sans-IO.
//!
//! Layout: a keyed `HashMap<RawKey, u32>` (five-word keys) points into a slab of slots; the slots are
//! threaded on two intrusive LRU lists, `ACTIVE` and `CLOSED` (TCP flows that saw a
//! RST, or a FIN each way). Every update moves its slot to the front of its list, so
//! each list's tail is its least recently updated flow. That makes both kinds of
//! removal O(1) per flow removed, with no scan of the table:
//!
//! - **Expiry** (`idle_timeout_ns`, `closed_timeout_ns`): before a new flow is
//!   inserted, up to [`EXPIRE_PER_INSERT`] flows are taken off the list tails if they
//!   have been idle longer than their list's timeout. [`FlowTable::expire`] does the
//!   same without a bound, for a worker with spare time.
//! - **Eviction** (`max_flows`): a new flow in a full table replaces the tail of
//!   `CLOSED` if there is one (the connection is over), else the tail of `ACTIVE`
//!   (the least recently seen flow).
//!
//! Removed flows become [`Flow`] records with `evicted: true` in the shard's finished
//! list, which holds at most `max(max_flows, FINISHED_FLOOR)` of them (beyond that a
//! record is dropped and counted in `records_dropped`); [`FlowTable::take_finished`] streams them out,
//! and [`FlowStats::merge`] flushes the rest at the end. Time is the frames' own
//! timestamps (the newest one seen), never the wall clock.
use std::collections::HashMap;

use super::{Flow, FlowConfig, FlowState, RawKey};
use crate::decode::{Decoded, FlowTuple};
use crate::packet::Frame;

/// End of a list.
const NIL: u32 = u32::MAX;
const ACTIVE: u8 = 0;
const CLOSED: u8 = 1;
const FREE: u8 = 2;

/// Flows expired per new-flow insert at most: enough to outrun the arrival of new
/// flows (each insert can retire several), small enough to bound the latency of one
/// update (each retirement is a hash removal and a record push, about 50 ns).
pub const EXPIRE_PER_INSERT: usize = 4;

/// Finished records a shard keeps at least (about 100 bytes each): see
/// [`FlowTable::finished_limit`].
pub const FINISHED_FLOOR: usize = 16_384;

/// Counters of one shard, or of several added up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Frames counted into a flow.
    pub frames: u64,
    /// Frames passed to `update_frame` that had no flow tuple (not IP, or cut short).
    pub untracked: u64,
    /// Flow records started.
    pub created: u64,
    /// Records retired by the idle or closed timeout.
    pub expired: u64,
    /// Records retired to make room in a full table.
    pub evicted_full: u64,
    /// Retired records not kept because the finished list already held `max_flows`
    /// (memory stays bounded whatever the traffic); their frames are in `frames`.
    pub records_dropped: u64,
    /// Flows in the table now.
    pub live: u64,
}

impl std::ops::AddAssign for FlowStats {
    fn add_assign(&mut self, o: Self) {
        let Self {
            frames,
            untracked,
            created,
            expired,
            evicted_full,
            records_dropped,
            live,
        } = o;
        self.frames += frames;
        self.untracked += untracked;
        self.created += created;
        self.expired += expired;
        self.evicted_full += evicted_full;
        self.records_dropped += records_dropped;
        self.live += live;
    }
}

impl FlowStats {
    /// The counters of all `shards` added up.
    pub fn sum(shards: &[FlowTable]) -> Self {
        let mut total = Self::default();
        for s in shards {
            total += s.stats();
        }
        total
    }

    /// Flushes every shard and returns all their records (retired and live), sorted
    /// by first timestamp then key, so the output does not depend on hash order or
    /// on which shard held a flow. The shards stay usable; their counters remain.
    pub fn merge(shards: &mut [FlowTable]) -> Vec<Flow> {
        let mut all = Vec::new();
        for s in shards.iter_mut() {
            s.flush();
            all.append(&mut s.finished);
        }
        all.sort_unstable_by_key(|f| {
            let k = f.key();
            (
                f.first_ns,
                k,
                f.last_ns,
                f.a_addr,
                f.a_port,
                f.packets_ab,
                f.packets_ba,
            )
        });
        all
    }
}

/// A flow's counters plus its place on an LRU list.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: RawKey,
    /// The first frame came from the key's `lo` endpoint, which is therefore "A".
    a_is_lo: bool,
    /// `FlowTable::moves` when this slot last went to the front of its list.
    moved_at: u32,
    list: u8,
    /// Index 0 is A->B, 1 is B->A.
    flags: [u8; 2],
    packets: [u64; 2],
    bytes: [u64; 2],
    first_ns: u64,
    last_ns: u64,
    prev: u32,
    next: u32,
}

impl Slot {
    fn to_flow(self, evicted: bool) -> Flow {
        let k = self.key.to_key();
        let (a, b) = if self.a_is_lo {
            ((k.lo_addr, k.lo_port), (k.hi_addr, k.hi_port))
        } else {
            ((k.hi_addr, k.hi_port), (k.lo_addr, k.lo_port))
        };
        Flow {
            vlan: k.vlan,
            proto: k.proto,
            a_addr: a.0,
            a_port: a.1,
            b_addr: b.0,
            b_port: b.1,
            packets_ab: self.packets[0],
            packets_ba: self.packets[1],
            bytes_ab: self.bytes[0],
            bytes_ba: self.bytes[1],
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            tcp_flags: self.flags[0] | self.flags[1],
            state: self.state(),
            evicted,
        }
    }

    fn state(&self) -> FlowState {
        FlowState::from_flags(self.key.proto(), self.flags[0], self.flags[1])
    }
}

#[derive(Clone, Copy, Debug)]
struct List {
    /// Most recently updated.
    head: u32,
    /// Least recently updated: the next to go.
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// One shard of per-flow statistics; see the module doc.
#[derive(Debug)]
pub struct FlowTable {
    cfg: FlowConfig,
    map: HashMap<RawKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    lists: [List; 2],
    finished: Vec<Flow>,
    /// Moves to the front of a list so far (wrapping): a slot moved less than
    /// `len / 4` moves ago is still in the front quarter of its list.
    moves: u32,
    /// Newest frame timestamp seen: the table's clock.
    now_ns: u64,
    stats: FlowStats,
}

impl FlowTable {
    pub fn new(cfg: FlowConfig) -> Self {
        let cfg = FlowConfig {
            max_flows: cfg.max_flows.clamp(1, NIL as usize - 1),
            ..cfg
        };
        // Grow on demand: a shard sized for 1 M flows should not cost 150 MB idle.
        let initial = cfg.max_flows.min(4096);
        Self {
            cfg,
            map: HashMap::with_capacity_and_hasher(initial, Default::default()),
            slots: Vec::with_capacity(initial),
            free: Vec::new(),
            lists: [EMPTY; 2],
            finished: Vec::new(),
            moves: 0,
            now_ns: 0,
            stats: FlowStats::default(),
        }
    }

    /// Most finished records the shard keeps until they are taken: `max_flows`, and
    /// never fewer than [`FINISHED_FLOOR`], so a small table still reports the flows
    /// of an ordinary capture in full.
    pub fn finished_limit(&self) -> usize {
        self.cfg.max_flows.max(FINISHED_FLOOR)
    }

    pub fn config(&self) -> FlowConfig {
        self.cfg
    }

    /// Flows in the table now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// This shard's counters.
    pub fn stats(&self) -> FlowStats {
        FlowStats {
            live: self.map.len() as u64,
            ..self.stats
        }
    }

    /// Records retired so far and not yet taken.
    pub fn finished(&self) -> &[Flow] {
        &self.finished
    }

    /// The live flows as records (`evicted: false`), in no particular order, leaving
    /// the table as it is: for a view of the table while it fills (`netcap top`),
    /// where [`FlowTable::flush`] would end every flow it shows.
    pub fn live(&self) -> impl Iterator<Item = Flow> + '_ {
        self.map
            .values()
            .map(|&i| self.slots[i as usize].to_flow(false))
    }

    /// Takes the retired records, e.g. to write them out while capturing; otherwise
    /// they accumulate until [`FlowStats::merge`].
    pub fn take_finished(&mut self) -> Vec<Flow> {
        std::mem::take(&mut self.finished)
    }

    /// Counts one decoded frame: its wire length (`orig_len`), timestamp and TCP
    /// flags. Returns false (and counts it as untracked) when it has no flow tuple.
    pub fn update_frame(&mut self, frame: &Frame<'_>, decoded: &Decoded) -> bool {
        match decoded.flow_tuple() {
            Some(t) => {
                self.update(
                    &t,
                    decoded.tcp_flags(),
                    frame.meta.orig_len,
                    frame.meta.ts_ns,
                );
                true
            }
            None => {
                self.stats.untracked += 1;
                false
            }
        }
    }

    /// Counts one frame of `tuple`'s conversation, in the direction the tuple says.
    #[inline]
    pub fn update(&mut self, tuple: &FlowTuple, tcp_flags: Option<u8>, frame_len: u32, ts_ns: u64) {
        self.stats.frames += 1;
        self.now_ns = self.now_ns.max(ts_ns);
        let (key, src_is_lo) = RawKey::new(tuple);
        let idx = match self.map.get(&key) {
            Some(&i) => i,
            None => self.insert(key, src_is_lo, ts_ns),
        };
        let slot = &mut self.slots[idx as usize];
        let dir = usize::from(slot.a_is_lo != src_is_lo);
        slot.packets[dir] += 1;
        slot.bytes[dir] += u64::from(frame_len);
        slot.flags[dir] |= tcp_flags.unwrap_or(0);
        slot.first_ns = slot.first_ns.min(ts_ns);
        slot.last_ns = slot.last_ns.max(ts_ns);
        let list = if slot.state().is_closed() {
            CLOSED
        } else {
            ACTIVE
        };
        self.touch(idx, list);
    }

    /// Retires every flow idle past its timeout at time `now_ns` (or the newest frame
    /// seen, if later). Returns how many were retired.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        self.now_ns = self.now_ns.max(now_ns);
        self.expire_some(usize::MAX)
    }

    /// Moves every live flow to the finished list (`evicted: false`), emptying the
    /// table: the end-of-capture flush.
    pub fn flush(&mut self) {
        for list in [CLOSED, ACTIVE] {
            let mut i = self.lists[usize::from(list)].tail;
            while i != NIL {
                let slot = &self.slots[i as usize];
                self.finished.push(slot.to_flow(false));
                i = slot.prev;
            }
        }
        self.map.clear();
        self.slots.clear();
        self.free.clear();
        self.lists = [EMPTY; 2];
    }

    /// Makes a slot for a new flow, retiring old ones first as the limits require.
    fn insert(&mut self, key: RawKey, src_is_lo: bool, ts_ns: u64) -> u32 {
        self.expire_some(EXPIRE_PER_INSERT);
        if self.map.len() >= self.cfg.max_flows {
            let closed = self.lists[usize::from(CLOSED)].tail;
            let victim = if closed != NIL {
                closed
            } else {
                self.lists[usize::from(ACTIVE)].tail
            };
            if victim != NIL {
                self.retire(victim);
                self.stats.evicted_full += 1;
            }
        }
        let slot = Slot {
            key,
            a_is_lo: src_is_lo,
            list: FREE,
            moved_at: 0,
            flags: [0; 2],
            packets: [0; 2],
            bytes: [0; 2],
            first_ns: ts_ns,
            last_ns: ts_ns,
            prev: NIL,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, idx);
        self.stats.created += 1;
        idx
    }

    /// Retires up to `limit` timed-out flows from the list tails.
    fn expire_some(&mut self, limit: usize) -> usize {
        let mut done = 0;
        for (list, timeout) in [
            (CLOSED, self.cfg.closed_timeout_ns),
            (ACTIVE, self.cfg.idle_timeout_ns),
        ] {
            while done < limit {
                let tail = self.lists[usize::from(list)].tail;
                if tail == NIL
                    || self.now_ns - self.slots[tail as usize].last_ns.min(self.now_ns) <= timeout
                {
                    break;
                }
                self.retire(tail);
                self.stats.expired += 1;
                done += 1;
            }
        }
        done
    }

    /// Removes a live flow, keeping its record while the finished list has room: at
    /// most [`FlowTable::finished_limit`] records wait there to be taken, so a flood of
    /// new flows costs a bounded table, not a record per flow ever seen.
    fn retire(&mut self, idx: u32) {
        let slot = self.slots[idx as usize];
        if self.finished.len() < self.finished_limit() {
            self.finished.push(slot.to_flow(true));
        } else {
            self.stats.records_dropped += 1;
        }
        self.map.remove(&slot.key);
        self.unlink(idx);
        self.slots[idx as usize].list = FREE;
        self.free.push(idx);
    }

    /// Puts `idx` at the front of `list`, unless it is already on `list` and in its
    /// front quarter. Skipping those moves spares the two random slot writes of an
    /// unlink for the popular flows, and keeps the tail exact where it matters: a slot
    /// is pushed back at most one place per move, so one hit while in the back three
    /// quarters always moves it, and the tail is a flow not hit since it was there.
    #[inline]
    fn touch(&mut self, idx: u32, list: u8) {
        let slot = &self.slots[idx as usize];
        let recent = self.moves.wrapping_sub(slot.moved_at) as usize <= self.map.len() / 4;
        if slot.list == list && (recent || self.lists[usize::from(list)].head == idx) {
            return;
        }
        self.unlink(idx);
        let l = &mut self.lists[usize::from(list)];
        let old_head = l.head;
        l.head = idx;
        if old_head == NIL {
            l.tail = idx;
        } else {
            self.slots[old_head as usize].prev = idx;
        }
        let slot = &mut self.slots[idx as usize];
        slot.list = list;
        slot.prev = NIL;
        slot.next = old_head;
        slot.moved_at = self.moves;
        self.moves = self.moves.wrapping_add(1);
    }

    /// Takes `idx` off its list, if it is on one.
    fn unlink(&mut self, idx: u32) {
        let Slot {
            list, prev, next, ..
        } = self.slots[idx as usize];
        if list == FREE {
            return;
        }
        let l = &mut self.lists[usize::from(list)];
        if prev == NIL {
            l.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            l.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
