//! Glue between the workers and the flow table (`crate::flow`): the message a worker
//! sends to the worker that owns another flow's shard is the frame's [`FlowFrame`].
pub use crate::flow::FlowFrame as FlowUpdate;
