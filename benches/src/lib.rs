//! Criterion benches for netcap; see `benches/`.
