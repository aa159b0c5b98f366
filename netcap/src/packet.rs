//! The unit every stage passes around: a captured frame and its metadata.
//!
//! Frames travel in [`Batch`]es: one contiguous byte buffer holding many frames plus a
//! small index, so a hand-off between threads costs one allocation per batch, not per
//! frame, and a batch is returned to its pool when the writer is done with it.

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
        };
        let mut b = Batch::default();
        b.push(meta, &[1, 2, 3]);
        b.push(FrameMeta { ts_ns: 2, ..meta }, &[]);
        b.push(FrameMeta { ts_ns: 3, ..meta }, &[9]);
        let got: Vec<_> = b.iter().map(|f| (f.meta.ts_ns, f.data.to_vec())).collect();
        assert_eq!(got, vec![(1, vec![1, 2, 3]), (2, vec![]), (3, vec![9])]);
        assert_eq!(b.bytes(), 4);
    }
}
