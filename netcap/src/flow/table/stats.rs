//! A shard's counters, and the merge of every shard's records at the end.
use super::{Flow, FlowTable};

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
    /// Records ended by the active timeout (the conversation went on in a new one).
    pub active_timeouts: u64,
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
            active_timeouts,
            live,
        } = o;
        self.frames += frames;
        self.untracked += untracked;
        self.created += created;
        self.expired += expired;
        self.evicted_full += evicted_full;
        self.records_dropped += records_dropped;
        self.active_timeouts += active_timeouts;
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
