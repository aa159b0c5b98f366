//! Filter expressions with tcpdump's meaning.
//!
//! ```text
//!  "tcp port 443 and not host 10.0.0.5"
//!        |  libpcap's pcap_compile on a dead handle (link type, snap length)
//!        v
//!  classic BPF: Vec<CbpfInsn>  --+--> kernel: FILTER map + FILTER_LEN (XDP / TC)
//!                                +--> AF_PACKET: SO_ATTACH_FILTER
//!                                \--> user space: Filter::matches (netcap read)
//! ```
//!
//! The expression is compiled by libpcap itself ([`libpcap`]), so the grammar, the
//! protocol knowledge (VLAN, IPv6 extension headers, fragments) and the optimiser are
//! tcpdump's; a bad expression is reported with libpcap's message before anything is
//! attached. [`cbpf`] runs the program as the kernel does; it is the reference the
//! kernel-side interpreter (`netcap-ebpf/src/filter.rs`) is tested against.
pub mod cbpf;
pub mod ebpf;
mod libpcap;

use netcap_common::CbpfInsn;

use crate::packet::Batch;
pub use crate::packet::LinkType;

/// Why an expression or a program was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// libpcap refused the expression; `msg` is its own message.
    #[error("filter expression {expr:?}: {msg}")]
    Compile { expr: String, msg: String },
    /// A program breaks the kernel's rules for classic BPF.
    #[error("invalid classic BPF program at instruction {pc}: {why}")]
    Invalid { pc: usize, why: &'static str },
    #[error("pcap_open_dead failed (out of memory)")]
    OutOfMemory,
}

/// A validated classic BPF program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    insns: Vec<CbpfInsn>,
}

impl Filter {
    /// Compiles a pcap-filter expression for frames of type `link`.
    ///
    /// `snaplen` is what an accepting program returns (as with tcpdump); only "zero or
    /// not" matters to netcap.
    pub fn compile(expr: &str, link: LinkType, snaplen: u32) -> Result<Filter, Error> {
        let insns = libpcap::compile(expr, link, snaplen)?;
        Self::from_insns(insns).map_err(|e| Error::Compile {
            expr: expr.to_owned(),
            msg: format!("libpcap {e}"),
        })
    }

    /// Wraps a program, checked with the kernel's rules for classic BPF.
    pub fn from_insns(insns: Vec<CbpfInsn>) -> Result<Filter, Error> {
        cbpf::validate(&insns).map_err(|cbpf::Invalid { pc, why }| Error::Invalid { pc, why })?;
        Ok(Filter { insns })
    }

    /// The program, laid out as the kernel's `struct sock_filter` array.
    pub fn insns(&self) -> &[CbpfInsn] {
        &self.insns
    }

    /// True when every jump goes forward: the kernel's socket filter (AF_PACKET)
    /// accepts only such programs. libpcap's `protochain` compiles to a loop.
    pub fn forward_only(&self) -> bool {
        cbpf::forward_only(&self.insns)
    }

    /// True when the program accepts every frame (`ret #k` with `k != 0`), as an
    /// empty expression compiles to: sources can then skip the filter entirely.
    pub fn accepts_all(&self) -> bool {
        matches!(self.insns.as_slice(), [CbpfInsn { code: cbpf::op::RET_K, k, .. }] if *k != 0)
    }

    /// Whether the frame passes: `data` is the captured bytes, `orig_len` its length
    /// on the wire (what `len`, `greater` and `less` test).
    pub fn matches(&self, data: &[u8], orig_len: u32) -> bool {
        cbpf::run(&self.insns, data, orig_len) != 0
    }

    /// Keeps only the frames of `batch` that match; returns how many were dropped.
    ///
    /// A batch whose frames all match is left untouched; otherwise the kept frames are
    /// copied into a new batch (one copy per batch, not an allocation per frame).
    pub fn retain(&self, batch: &mut Batch) -> u64 {
        let keep: Vec<bool> = batch
            .iter()
            .map(|f| self.matches(f.data, f.meta.orig_len))
            .collect();
        let rejected = keep.iter().filter(|k| !**k).count();
        if rejected == 0 {
            return 0;
        }
        let mut kept = Batch::with_capacity(batch.bytes(), batch.len() - rejected);
        for (frame, _) in batch.iter().zip(&keep).filter(|(_, k)| **k) {
            kept.push(frame.meta, frame.data);
        }
        *batch = kept;
        rejected as u64
    }
}

/// One expression compiled per link type, for files whose frames may change link type
/// (pcapng interfaces): each frame is tested with the program for its own link type.
#[derive(Debug)]
pub struct LinkFilters {
    expr: String,
    compiled: Vec<(LinkType, Filter)>,
}

impl LinkFilters {
    /// Compiles `expr` for `first` now (so a bad expression fails before any output);
    /// other link types are compiled when their first frame arrives.
    pub fn new(expr: &str, first: LinkType) -> Result<Self, Error> {
        let filter = Filter::compile(expr, first, FILE_SNAPLEN)?;
        Ok(Self {
            expr: expr.to_owned(),
            compiled: vec![(first, filter)],
        })
    }

    fn for_link(&mut self, link: LinkType) -> Result<&Filter, Error> {
        let at = match self.compiled.iter().position(|(l, _)| *l == link) {
            Some(at) => at,
            None => {
                self.compiled
                    .push((link, Filter::compile(&self.expr, link, FILE_SNAPLEN)?));
                self.compiled.len() - 1
            }
        };
        Ok(&self.compiled[at].1)
    }

    /// [`Filter::retain`] with each frame's own link type; returns the frames dropped.
    pub fn retain(&mut self, batch: &mut Batch) -> Result<u64, Error> {
        let first = match batch.iter().next() {
            Some(f) => f.meta.link,
            None => return Ok(0),
        };
        if batch.iter().all(|f| f.meta.link == first) {
            return Ok(self.for_link(first)?.retain(batch));
        }
        for f in batch.iter() {
            self.for_link(f.meta.link)?;
        }
        let mut kept = Batch::with_capacity(batch.bytes(), batch.len());
        let mut rejected = 0;
        for f in batch.iter() {
            let filter = self
                .compiled
                .iter()
                .find(|(l, _)| *l == f.meta.link)
                .map(|(_, f)| f);
            if filter.is_some_and(|flt| flt.matches(f.data, f.meta.orig_len)) {
                kept.push(f.meta, f.data);
            } else {
                rejected += 1;
            }
        }
        *batch = kept;
        Ok(rejected)
    }
}

/// The snap length tcpdump compiles with when reading a file (libpcap's maximum).
const FILE_SNAPLEN: u32 = 262_144;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Direction, FrameMeta};

    /// Ethernet + IPv4 + UDP header, ports 1234 -> `dport`.
    fn udp_frame(dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[192, 0, 2, 1]);
        f[30..34].copy_from_slice(&[192, 0, 2, 2]);
        f[34..36].copy_from_slice(&1234u16.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn compiles_and_matches_a_udp_port() {
        let f = Filter::compile("udp dst port 53", LinkType::Ethernet, 65535).expect("compiles");
        assert!(f.matches(&udp_frame(53), 42));
        assert!(!f.matches(&udp_frame(54), 42));
        // Cut short before the port: an out-of-bounds load rejects.
        assert!(!f.matches(&udp_frame(53)[..36], 42));
    }

    #[test]
    fn bad_expressions_carry_libpcap_message() {
        let err = Filter::compile("tcp port", LinkType::Ethernet, 65535).expect_err("invalid");
        assert!(err.to_string().contains("syntax error"), "{err}");
        let err = Filter::compile("ether host zz", LinkType::Ethernet, 65535).expect_err("bad");
        assert!(err.to_string().contains("\"ether host zz\""), "{err}");
    }

    #[test]
    fn empty_expression_accepts_all_and_raw_link_type_compiles() {
        assert!(Filter::compile("", LinkType::Ethernet, 100)
            .expect("compiles")
            .accepts_all());
        let f = Filter::compile("udp", LinkType::Raw, 100).expect("compiles");
        assert!(f.matches(&udp_frame(7)[14..], 28));
    }

    #[test]
    fn retain_keeps_matching_frames_in_order() {
        let f = Filter::compile("udp port 53", LinkType::Ethernet, 65535).expect("compiles");
        let meta = FrameMeta {
            ts_ns: 0,
            orig_len: 42,
            ifindex: 0,
            direction: Direction::Unknown,
            link: LinkType::Ethernet,
            iface: 0,
            drops: 0,
        };
        let mut b = Batch::default();
        for (ts, port) in [(1, 53), (2, 80), (3, 53)] {
            b.push(FrameMeta { ts_ns: ts, ..meta }, &udp_frame(port));
        }
        assert_eq!(f.retain(&mut b), 1);
        assert_eq!(
            b.iter().map(|f| f.meta.ts_ns).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(f.retain(&mut b), 0);
    }
}
