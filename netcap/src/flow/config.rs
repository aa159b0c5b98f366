//! The flow table's limits and timeouts, shared by every shard.
//!
//! The timeouts are softflowd's and pmacct's defaults, so that netcap's records line up
//! with the exporters a collector already hears from: a TCP connection carrying data
//! is kept an hour without a frame, one that saw a FIN five minutes, a reset one two
//! minutes; other protocols five minutes; and nothing stays in one record longer than
//! half an hour (the active timeout), so a collector hears of long connections while
//! they last.

const S: u64 = 1_000_000_000;

/// Limits of the flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows held at once (all shards together until [`FlowConfig::per_shard`]).
    /// About 150 bytes of slot plus 50 of hash map each: 1 M flows is 200 MB.
    pub max_flows: usize,
    /// A TCP flow with neither FIN nor RST, idle this long, is retired (`Idle`).
    pub tcp_idle_ns: u64,
    /// A flow of any other protocol, idle this long, is retired (`Idle`).
    pub other_idle_ns: u64,
    /// A TCP flow that saw a FIN (either way), idle this long, is retired (`EndOfFlow`).
    pub fin_ns: u64,
    /// A TCP flow that saw a RST, idle this long, is retired (`EndOfFlow`).
    pub rst_ns: u64,
    /// A flow this long past its first frame is retired (`Active`) and its next frame
    /// starts a new record. `u64::MAX` turns a timeout off.
    pub active_ns: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            max_flows: 1_000_000,
            tcp_idle_ns: 3600 * S,
            other_idle_ns: 300 * S,
            fin_ns: 300 * S,
            rst_ns: 120 * S,
            active_ns: 1800 * S,
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

    /// `--flow-idle SECS`: one idle timeout for every kind of flow. The FIN and RST
    /// timeouts stay as they are unless that is shorter (a closed connection never
    /// outlives an open one).
    pub fn with_idle(self, ns: u64) -> Self {
        Self {
            tcp_idle_ns: ns,
            other_idle_ns: ns,
            fin_ns: self.fin_ns.min(ns),
            rst_ns: self.rst_ns.min(ns),
            ..self
        }
    }
}
