//! Checked reads for the printers that follow tcpdump's `GET_*` macros: each returns
//! `None` where the capture ends, and the printer then writes its truncation mark.
use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

pub(super) fn be16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

pub(super) fn be32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub(super) fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    be32_at(b, at).map(Ipv4Addr::from)
}

pub(super) fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s = b.get(at..at.checked_add(16)?)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(s);
    Some(Ipv6Addr::from(a))
}

/// True when `len` bytes from `at` were captured (tcpdump's `ND_TTEST_LEN`).
pub(super) fn has(b: &[u8], at: usize, len: usize) -> bool {
    at.checked_add(len).is_some_and(|end| end <= b.len())
}
