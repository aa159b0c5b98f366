//! The flow table's limits and timeouts, shared by every shard.

/// Limits of the flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows held at once (all shards together until [`FlowConfig::per_shard`]).
    /// About 100 bytes of slot plus 50 of hash map each: 1 M flows is 150 MB.
    pub max_flows: usize,
    /// An open flow idle this long is retired. 300 s is Suricata's established-TCP
    /// timeout; `u64::MAX` disables expiry.
    pub idle_timeout_ns: u64,
    /// A closed or reset TCP flow idle this long is retired. 10 s keeps the last ACK and
    /// retransmitted FINs in the same record without holding dead connections.
    pub closed_timeout_ns: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            max_flows: 1_000_000,
            idle_timeout_ns: 300 * 1_000_000_000,
            closed_timeout_ns: 10 * 1_000_000_000,
        }
    }
}

impl FlowConfig {
    /// This configuration for one of `shards` tables: `max_flows` split evenly,
    /// rounded up, at least 1.
    pub fn per_shard(self, shards: usize) -> Self {
        Self {
            max_flows: self.max_flows.div_ceil(shards.max(1)).max(1),
            ..self
        }
    }
}
