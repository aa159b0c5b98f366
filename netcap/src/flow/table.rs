//! One shard of the flow table: bounded, lock-free (owned by one worker), sans-IO.
//!
//! Layout: a keyed `HashMap<RawKey, u32>` (five-word keys) points into a slab of slots; the slots are
//! threaded on four intrusive LRU lists, one per idle timeout ([`FlowConfig`]): open
//! TCP, other protocols, TCP after a FIN, TCP after a RST. Every update moves its slot
//! to the front of its list, so each list's tail is its least recently updated flow.
//! A fifth list holds every slot in the order the flows started, for the active
//! timeout. That makes every kind of removal O(1) per flow removed, with no scan of the
//! table:
//!
//! - **Expiry**: before a new flow is inserted, up to [`EXPIRE_PER_INSERT`] flows are
//!   taken off the list tails if they have been idle longer than their list's timeout
//!   (`Idle`, or `EndOfFlow` after a FIN or RST), or off the start list if they began
//!   longer ago than the active timeout (`Active`). [`FlowTable::expire`] does the same
//!   without a bound: the worker calls it about once a second, with the wall clock on a
//!   live capture, so flows end on a quiet link too. A frame of a flow past its active
//!   timeout ends that record and starts the next.
//! - **Eviction** (`max_flows`, `LackOfResources`): a new flow in a full table
//!   replaces the least recently seen reset flow if there is one, else one that saw a
//!   FIN, else the least recently seen open flow.
//!
//! Removed flows become [`Flow`] records with `evicted: true` in the shard's finished
//! list, which holds at most `max(max_flows, FINISHED_FLOOR)` of them (beyond that a
//! record is dropped and counted in `records_dropped`); [`FlowTable::take_finished`] streams them out,
//! and [`FlowStats::merge`] flushes the rest at the end. Time is the frames' own
//! timestamps (the newest one seen), never the wall clock.
use std::collections::HashMap;

use super::tcp_health::TcpTracker;
use super::{EndReason, Flow, FlowConfig, FlowFrame, FlowState, RawKey};
use crate::decode::{Decoded, FlowTuple};
use crate::packet::{Direction, Frame};

mod slot;
mod stats;
use slot::Slot;
pub use stats::FlowStats;

/// End of a list.
const NIL: u32 = u32::MAX;
/// The idle lists, by kind of flow (see the module doc).
const TCP: u8 = 0;
const OTHER: u8 = 1;
const FIN: u8 = 2;
const RST: u8 = 3;
const LISTS: usize = 4;
const FREE: u8 = 4;

/// Flows expired per new-flow insert at most: enough to outrun the arrival of new
/// flows (each insert can retire several), small enough to bound the latency of one
/// update (each retirement is a hash removal and a record push, about 50 ns).
pub const EXPIRE_PER_INSERT: usize = 4;

/// Finished records a shard keeps at least (about 200 bytes each): see
/// [`FlowTable::finished_limit`].
pub const FINISHED_FLOOR: usize = 16_384;

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
    /// Each slot's TCP health analysis, at the slot's index. Beside the slots rather
    /// than in them, so an update touches the 152-byte slot and one line of the
    /// tracker: measured on the flows bench (CPU time per update), +7 % over no
    /// analysis, where the tracker inside a 280-byte slot cost +12 %.
    tcp: Vec<TcpTracker>,
    free: Vec<u32>,
    lists: [List; LISTS],
    /// Every live slot, newest flow at the head (links `sprev`/`snext`).
    started: List,
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
            tcp: Vec::with_capacity(initial),
            free: Vec::new(),
            lists: [EMPTY; LISTS],
            started: EMPTY,
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

    /// The live flows as records (`evicted: false`, `Forced`), in no particular order, leaving
    /// the table as it is: for a view of the table while it fills (`netcap top`),
    /// where [`FlowTable::flush`] would end every flow it shows.
    pub fn live(&self) -> impl Iterator<Item = Flow> + '_ {
        self.map
            .values()
            .map(|&i| self.slots[i as usize].to_flow(EndReason::Forced, &self.tcp[i as usize]))
    }

    /// Takes the retired records, e.g. to write them out while capturing; otherwise
    /// they accumulate until [`FlowStats::merge`].
    pub fn take_finished(&mut self) -> Vec<Flow> {
        std::mem::take(&mut self.finished)
    }

    /// Counts one decoded frame: its wire length (`orig_len`), timestamp and TCP
    /// flags. Returns false (and counts it as untracked) when it has no flow tuple.
    pub fn update_frame(&mut self, frame: &Frame<'_>, decoded: &Decoded) -> bool {
        match FlowFrame::new(frame, decoded) {
            Some(f) => {
                self.update_with(&f);
                true
            }
            None => {
                self.stats.untracked += 1;
                false
            }
        }
    }

    /// Counts one frame of `tuple`'s conversation, in the direction the tuple says,
    /// knowing only its flags, length and time (tests, benches).
    #[inline]
    pub fn update(&mut self, tuple: &FlowTuple, tcp_flags: Option<u8>, frame_len: u32, ts_ns: u64) {
        self.update_with(&FlowFrame::basic(*tuple, tcp_flags, frame_len, ts_ns));
    }

    /// Counts one frame of its conversation, in the direction its tuple says.
    #[inline]
    pub fn update_with(&mut self, f: &FlowFrame) {
        self.stats.frames += 1;
        let ts_ns = f.ts_ns;
        self.now_ns = self.now_ns.max(ts_ns);
        let (key, src_is_lo) = RawKey::new(&f.tuple);
        let idx = match self.map.get(&key) {
            Some(&i) => match self.timed_out(i, ts_ns) {
                // The record timed out before this frame (whether or not `expire` ran
                // in between, so a replay gives the same records): it ends, and this
                // frame starts the next one, with the same endpoint as A.
                Some(why) => {
                    let a_is_lo = self.slots[i as usize].a_is_lo;
                    self.retire(i, why);
                    self.count_end(why);
                    self.insert(key, a_is_lo, f)
                }
                None => i,
            },
            None => self.insert(key, src_is_lo, f),
        };
        let slot = &mut self.slots[idx as usize];
        let dir = usize::from(slot.a_is_lo != src_is_lo);
        slot.packets[dir] += 1;
        slot.bytes[dir] += u64::from(f.wire_len);
        slot.ip_bytes[dir] += u64::from(f.ip_len);
        if let Some(seg) = &f.tcp {
            slot.flags[dir] |= seg.flags;
            self.tcp[idx as usize].update(dir, seg, ts_ns);
        }
        if slot.macs[dir] == [0; 6] {
            slot.macs[dir] = f.src_mac;
        }
        if slot.macs[1 - dir] == [0; 6] {
            slot.macs[1 - dir] = f.dst_mac;
        }
        slot.first_ns = slot.first_ns.min(ts_ns);
        slot.last_ns = slot.last_ns.max(ts_ns);
        let kind = slot.kind();
        self.touch(idx, kind);
    }

    /// Retires every flow idle past its timeout at time `now_ns` (or the newest frame
    /// seen, if later). Returns how many were retired.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        self.now_ns = self.now_ns.max(now_ns);
        self.expire_some(usize::MAX)
    }

    /// Moves every live flow to the finished list (`evicted: false`, `Forced`), oldest
    /// first, emptying the table: the end-of-capture flush.
    pub fn flush(&mut self) {
        let mut i = self.started.tail;
        while i != NIL {
            let slot = &self.slots[i as usize];
            self.finished
                .push(slot.to_flow(EndReason::Forced, &self.tcp[i as usize]));
            i = slot.sprev;
        }
        self.map.clear();
        self.slots.clear();
        self.tcp.clear();
        self.free.clear();
        self.lists = [EMPTY; LISTS];
        self.started = EMPTY;
    }

    /// Makes a slot for a new flow, retiring old ones first as the limits require.
    fn insert(&mut self, key: RawKey, a_is_lo: bool, f: &FlowFrame) -> u32 {
        self.expire_some(EXPIRE_PER_INSERT);
        if self.map.len() >= self.cfg.max_flows {
            if let Some(victim) = self.victim() {
                self.retire(victim, EndReason::LackOfResources);
                self.stats.evicted_full += 1;
            }
        }
        let slot = Slot {
            key,
            a_is_lo,
            list: FREE,
            moved_at: 0,
            tos: f.tos,
            direction: f.direction,
            flags: [0; 2],
            macs: [[0; 6]; 2],
            packets: [0; 2],
            bytes: [0; 2],
            ip_bytes: [0; 2],
            first_ns: f.ts_ns,
            last_ns: f.ts_ns,
            ifindex: f.ifindex,
            prev: NIL,
            next: NIL,
            sprev: NIL,
            snext: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                self.tcp[i as usize] = TcpTracker::default();
                i
            }
            None => {
                self.slots.push(slot);
                self.tcp.push(TcpTracker::default());
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, idx);
        // At the head of the start list: the newest flow.
        let old_head = self.started.head;
        self.started.head = idx;
        if old_head == NIL {
            self.started.tail = idx;
        } else {
            self.slots[old_head as usize].sprev = idx;
        }
        self.slots[idx as usize].snext = old_head;
        self.stats.created += 1;
        idx
    }

    /// Why the flow in slot `i` has ended by time `ts_ns`, if it has.
    #[inline]
    fn timed_out(&self, i: u32, ts_ns: u64) -> Option<EndReason> {
        let s = &self.slots[i as usize];
        let c = &self.cfg;
        let (idle, why) = match s.list {
            TCP => (c.tcp_idle_ns, EndReason::Idle),
            FIN => (c.fin_ns, EndReason::EndOfFlow),
            RST => (c.rst_ns, EndReason::EndOfFlow),
            _ => (c.other_idle_ns, EndReason::Idle),
        };
        if ts_ns.saturating_sub(s.last_ns) > idle {
            Some(why)
        } else if ts_ns.saturating_sub(s.first_ns) > c.active_ns {
            Some(EndReason::Active)
        } else {
            None
        }
    }

    fn count_end(&mut self, why: EndReason) {
        match why {
            EndReason::Active => self.stats.active_timeouts += 1,
            EndReason::LackOfResources => self.stats.evicted_full += 1,
            _ => self.stats.expired += 1,
        }
    }

    /// The flow a full table gives up: the least recently seen reset flow, else one
    /// after a FIN, else the least recently seen open flow of any protocol.
    fn victim(&self) -> Option<u32> {
        for list in [RST, FIN] {
            let tail = self.lists[usize::from(list)].tail;
            if tail != NIL {
                return Some(tail);
            }
        }
        let (t, o) = (
            self.lists[usize::from(TCP)].tail,
            self.lists[usize::from(OTHER)].tail,
        );
        match (t, o) {
            (NIL, NIL) => None,
            (x, NIL) | (NIL, x) => Some(x),
            (t, o) => {
                let last = |i: u32| self.slots[i as usize].last_ns;
                Some(if last(o) < last(t) { o } else { t })
            }
        }
    }

    /// Retires up to `limit` timed-out flows from the list tails.
    fn expire_some(&mut self, limit: usize) -> usize {
        let mut done = 0;
        let c = self.cfg;
        for (list, timeout, why) in [
            (RST, c.rst_ns, EndReason::EndOfFlow),
            (FIN, c.fin_ns, EndReason::EndOfFlow),
            (OTHER, c.other_idle_ns, EndReason::Idle),
            (TCP, c.tcp_idle_ns, EndReason::Idle),
        ] {
            while done < limit {
                let tail = self.lists[usize::from(list)].tail;
                if tail == NIL
                    || self
                        .now_ns
                        .saturating_sub(self.slots[tail as usize].last_ns)
                        <= timeout
                {
                    break;
                }
                self.retire(tail, why);
                self.stats.expired += 1;
                done += 1;
            }
        }
        while done < limit {
            let oldest = self.started.tail;
            if oldest == NIL
                || self
                    .now_ns
                    .saturating_sub(self.slots[oldest as usize].first_ns)
                    <= c.active_ns
            {
                break;
            }
            self.retire(oldest, EndReason::Active);
            self.stats.active_timeouts += 1;
            done += 1;
        }
        done
    }

    /// Removes a live flow, keeping its record while the finished list has room: at
    /// most [`FlowTable::finished_limit`] records wait there to be taken, so a flood of
    /// new flows costs a bounded table, not a record per flow ever seen.
    fn retire(&mut self, idx: u32, end: EndReason) {
        let slot = self.slots[idx as usize];
        if self.finished.len() < self.finished_limit() {
            self.finished
                .push(slot.to_flow(end, &self.tcp[idx as usize]));
        } else {
            self.stats.records_dropped += 1;
        }
        self.map.remove(&slot.key);
        self.unlink(idx);
        let (sprev, snext) = (slot.sprev, slot.snext);
        if sprev == NIL {
            self.started.head = snext;
        } else {
            self.slots[sprev as usize].snext = snext;
        }
        if snext == NIL {
            self.started.tail = sprev;
        } else {
            self.slots[snext as usize].sprev = sprev;
        }
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
