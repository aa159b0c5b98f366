//! Glue between the workers and the flow table (`crate::flow`): the message a worker
//! sends to the worker that owns another flow's shard.
use crate::{decode::FlowTuple, flow::FlowTable};

/// One frame's contribution to a flow.
#[derive(Clone, Copy, Debug)]
pub struct FlowUpdate {
    pub tuple: FlowTuple,
    pub tcp_flags: Option<u8>,
    pub wire_len: u32,
    pub ts_ns: u64,
}

impl FlowUpdate {
    pub fn apply(&self, table: &mut FlowTable) {
        table.update(&self.tuple, self.tcp_flags, self.wire_len, self.ts_ns);
    }
}
