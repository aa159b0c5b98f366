//! The unit every stage passes around: a captured frame and its metadata.
//!
//! Frames travel in [`Batch`]es: one contiguous byte buffer holding many frames plus a
//! small index, so a hand-off between threads costs one allocation per batch, not per
//! frame, and a batch is returned to its pool when the writer is done with it.
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, RwLock,
};

/// Link-layer header type, numbered as pcap's `LINKTYPE_*` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_RAW` (101): a bare IPv4 or IPv6 packet.
    Raw,
    /// `LINKTYPE_LINUX_SLL` (113): Linux cooked capture v1.
    LinuxSll,
    /// `LINKTYPE_IPV4` (228).
    Ipv4,
    /// `LINKTYPE_IPV6` (229).
    Ipv6,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux cooked capture v2.
    LinuxSll2,
    /// Anything else, by number.
    Unknown(u32),
}

impl LinkType {
    /// Maps a pcap `LINKTYPE_*` number (also `DLT_RAW`'s platform values 12 and 14).
    pub fn from_linktype(n: u32) -> Self {
        match n {
            1 => Self::Ethernet,
            101 | 12 | 14 => Self::Raw,
            113 => Self::LinuxSll,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            276 => Self::LinuxSll2,
            n => Self::Unknown(n),
        }
    }

    /// The pcap `LINKTYPE_*` number written to capture files.
    pub fn to_linktype(self) -> u32 {
        match self {
            Self::Ethernet => 1,
            Self::Raw => 101,
            Self::LinuxSll => 113,
            Self::Ipv4 => 228,
            Self::Ipv6 => 229,
            Self::LinuxSll2 => 276,
            Self::Unknown(n) => n,
        }
    }

    /// True for the link types netcap decodes.
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Unknown(_))
    }
}

/// Which way the frame was going on the interface, when the source knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    In,
    Out,
    #[default]
    Unknown,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
            Self::Unknown => "unknown",
        }
    }
}

/// Everything known about a frame besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMeta {
    /// Capture time, nanoseconds since the UNIX epoch.
    pub ts_ns: u64,
    /// Length of the frame on the wire; `data.len()` may be shorter (snap length).
    pub orig_len: u32,
    /// Interface index, 0 when unknown (files).
    pub ifindex: u32,
    pub direction: Direction,
    pub link: LinkType,
    /// The frame's interface in the run's [`Interfaces`] (0: the first, or the only).
    pub iface: u16,
    /// Frames lost between the previous frame of this interface and this one, when the
    /// source says (a pcapng file's `epb_dropcount`); 0 otherwise.
    pub drops: u32,
}

/// The interfaces of a run, in the order they were met: the live interface, or the
/// interface blocks of a pcapng file (one per section and interface). Frames refer to
/// them by index ([`FrameMeta::iface`]); printers look the names up through a
/// [`InterfaceNames`] cache, so the lock is taken only when an interface is new.
#[derive(Clone, Debug, Default)]
pub struct Interfaces(Arc<InterfacesInner>);

#[derive(Debug, Default)]
struct InterfacesInner {
    names: RwLock<Vec<Arc<str>>>,
    len: AtomicUsize,
}

impl Interfaces {
    /// Adds an interface (`""` when it has no name) and returns its index. Past
    /// `u16::MAX` interfaces, the last index is shared.
    pub fn add(&self, name: &str) -> u16 {
        let Ok(mut names) = self.0.names.write() else {
            return 0;
        };
        names.push(Arc::from(name));
        self.0.len.store(names.len(), Ordering::Release);
        u16::try_from(names.len() - 1).unwrap_or(u16::MAX)
    }

    /// How many interfaces there are so far.
    pub fn len(&self) -> usize {
        self.0.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every name so far, in index order.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.0.names.read().map(|n| n.clone()).unwrap_or_default()
    }
}

/// A printer's view of [`Interfaces`]: names are copied on first use of a new index.
#[derive(Clone, Debug, Default)]
pub struct InterfaceNames {
    table: Interfaces,
    cache: Vec<Arc<str>>,
}

impl InterfaceNames {
    pub fn new(table: Interfaces) -> Self {
        Self {
            table,
            cache: Vec::new(),
        }
    }

    /// The name of interface `iface`; `None` when it is unknown or has no name.
    pub fn name(&mut self, iface: u16) -> Option<&str> {
        let i = usize::from(iface);
        if i >= self.cache.len() && i < self.table.len() {
            self.cache = self.table.names();
        }
        self.cache.get(i).map(|n| &**n).filter(|n| !n.is_empty())
    }

    /// True when the run has more than one interface (frames are then marked with
    /// theirs, as `tcpdump -i any` marks them).
    pub fn several(&self) -> bool {
        self.table.len() > 1
    }
}

/// A frame borrowed from a batch.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub meta: FrameMeta,
    /// The captured bytes, starting at the link-layer header.
    pub data: &'a [u8],
}

/// Where one frame sits inside a [`Batch`]'s buffer.
#[derive(Clone, Copy, Debug)]
struct Slot {
    meta: FrameMeta,
    start: u32,
    len: u32,
}

/// Many frames in one buffer, in capture order.
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    slots: Vec<Slot>,
}

impl Batch {
    pub fn with_capacity(bytes: usize, frames: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            slots: Vec::with_capacity(frames),
        }
    }

    /// Appends a frame (copying its bytes).
    pub fn push(&mut self, meta: FrameMeta, data: &[u8]) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(data);
        self.slots.push(Slot {
            meta,
            start,
            len: data.len() as u32,
        });
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes of frame data held.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Keeps the first `n` frames.
    pub fn truncate(&mut self, n: usize) {
        if let Some(end) = self.slots.get(n).map(|s| s.start as usize) {
            self.slots.truncate(n);
            self.buf.truncate(end);
        }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.slots.clear();
    }

    pub fn get(&self, i: usize) -> Option<Frame<'_>> {
        let slot = self.slots.get(i)?;
        let data = self
            .buf
            .get(slot.start as usize..(slot.start + slot.len) as usize)?;
        Some(Frame {
            meta: slot.meta,
            data,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = Frame<'_>> + '_ {
        (0..self.slots.len()).filter_map(move |i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_frames_in_order() {
        let meta = FrameMeta {
            ts_ns: 1,
            orig_len: 3,
            ifindex: 2,
            direction: Direction::In,
            link: LinkType::Ethernet,
            iface: 0,
            drops: 0,
        };
        let mut b = Batch::default();
        b.push(meta, &[1, 2, 3]);
        b.push(FrameMeta { ts_ns: 2, ..meta }, &[]);
        b.push(FrameMeta { ts_ns: 3, ..meta }, &[9]);
        let got: Vec<_> = b.iter().map(|f| (f.meta.ts_ns, f.data.to_vec())).collect();
        assert_eq!(got, vec![(1, vec![1, 2, 3]), (2, vec![]), (3, vec![9])]);
        assert_eq!(b.bytes(), 4);
    }

    #[test]
    fn interface_names_follow_the_table_as_it_grows() {
        let table = Interfaces::default();
        let mut names = InterfaceNames::new(table.clone());
        assert_eq!(names.name(0), None);
        assert_eq!(table.add("eth0"), 0);
        assert!(!names.several());
        assert_eq!(names.name(0), Some("eth0"));
        assert_eq!(table.add(""), 1);
        assert_eq!(table.add("lo"), 2);
        assert!(names.several());
        assert_eq!(names.name(1), None);
        assert_eq!(names.name(2), Some("lo"));
        assert_eq!(names.name(3), None);
    }
}
