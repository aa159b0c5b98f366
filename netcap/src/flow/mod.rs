//! Per-flow statistics. (in progress)
pub mod table;
