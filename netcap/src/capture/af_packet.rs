//! The AF_PACKET backend: a `TPACKET_V3` memory-mapped receive ring (Linux 3.2+).
//!
//! ```text
//!  NIC/veth --> [socket filter (cBPF), optional] --> fanout group (optional)
//!           --> ring of `block_nr` blocks, each `block_size` bytes
//!                 kernel fills the current block, then marks it TP_STATUS_USER
//!                 when full or after `block_timeout_ms`
//!           --> visit(): walk ready blocks frame by frame, hand each frame on,
//!                 hand each finished block back (TP_STATUS_KERNEL)
//! ```
//!
//! No system call per frame: `visit` reads the shared memory only, and the socket
//! becomes readable (for `poll`) when a block is ready. Setup follows libpcap: the
//! socket is created with protocol 0, so it receives nothing until `bind`, and the
//! filter is attached before that; no unfiltered frame ever reaches the ring.
//!
//! Counters: `PACKET_STATISTICS` resets on every read, so the backend keeps running
//! sums. `seen` is the kernel's `tp_packets` (which already includes `tp_drops`),
//! `lost_ring_full` is `tp_drops`. Frames rejected by the socket filter are not
//! counted by the kernel at all, so they appear in no counter: `filtered` only counts
//! frames this backend rejects in user space: for their direction (`--direction out`;
//! with `in` the kernel keeps sent frames out of the socket, `PACKET_IGNORE_OUTGOING`,
//! and as with the XDP hook they are not seen at all), or by the re-check on the frame
//! with its VLAN tag restored ([`AfPacketConfig::recheck`]). Frames the kernel has put in the
//! ring but `fill` has not read yet are in `seen` only; after [`AfPacket::stop`] and a
//! final `fill` (once `block_timeout_ms` has passed) the identity
//! `seen == filtered + captured + lost_ring_full` holds exactly.
//!
//! VLAN tags that the NIC or the kernel stripped (`TP_STATUS_VLAN_VALID`) are put back
//! into the frame after the MAC addresses, as libpcap does, so decoding sees them.
//!
//! System calls and the shared-memory ring live in `sys`, which holds all of this
//! backend's `unsafe`; this file is the capture logic on top.
mod promisc;
mod sys;
mod vlan;
mod walk;

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use netcap_common::CbpfInsn;

pub use super::DirectionFilter;
use super::{
    error::{Error, Needs},
    CaptureCounters, Fill, Source,
};
use crate::filter::Filter;
use crate::packet::{Frame, LinkType};
pub use promisc::Promisc;
use sys::{Geometry, Ring};
use vlan::{reinsert_vlan, vlan_tag};

/// Snap length used when the configuration asks for 0 ("everything"), as tcpdump.
pub use netcap_common::MAX_SNAPLEN;
/// Default ring size: 8 blocks. At 1 Gbit/s this absorbs about 65 ms of a stalled
/// consumer; libpcap's 2 MiB drops on bursts, Zeek uses 128 MiB per worker.
pub const DEFAULT_BUFFER_BYTES: usize = 8 << 20;
/// Default block size, 1 MiB: about 700 full-size or 10 000 minimum-size frames per
/// block, so under load a block retires because it is full (one hand-off per many
/// frames) and the timeout only matters on quiet links. A multiple of the page size,
/// and the largest frame the ring can hold.
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;
/// Default block timeout, 10 ms (Suricata's and Zeek's choice): the longest a frame
/// waits in a partly filled block on a quiet link before user space can see it.
pub const DEFAULT_BLOCK_TIMEOUT_MS: u32 = 10;
/// `ret #0`: a socket filter that takes no frame.
const REJECT_ALL: CbpfInsn = CbpfInsn {
    code: 0x06,
    jt: 0,
    jf: 0,
    k: 0,
};

/// Which `PACKET_FANOUT` group a socket joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// A new group with an id no other socket uses (`PACKET_FANOUT_FLAG_UNIQUEID`);
    /// [`AfPacket::fanout_id`] tells the id for the other members.
    New,
    /// The group with this id (ids are per network namespace).
    Join(u16),
}

/// What to open. Build with [`AfPacketConfig::new`] and adjust the fields.
#[derive(Clone, Debug)]
pub struct AfPacketConfig {
    /// Interface name (used for messages, and resolved when `ifindex` is `None`).
    pub ifname: String,
    /// Interface index, when the caller resolved it already.
    pub ifindex: Option<u32>,
    /// Bytes kept per frame; 0 means [`MAX_SNAPLEN`].
    pub snaplen: u32,
    /// Ring size in bytes (`-B`); rounded down to whole blocks, at least 2.
    pub buffer_bytes: usize,
    /// Block size in bytes, a multiple of the page size: see [`DEFAULT_BLOCK_SIZE`].
    pub block_size: usize,
    /// Longest wait, in ms, before a partly filled block is handed to user space:
    /// see [`DEFAULT_BLOCK_TIMEOUT_MS`].
    pub block_timeout_ms: u32,
    /// Join a `PACKET_FANOUT` group, which spreads frames over its member sockets by
    /// a symmetric flow hash.
    pub fanout: Option<Fanout>,
    pub direction: DirectionFilter,
    /// Classic BPF program run by the kernel before the ring (`SO_ATTACH_FILTER`).
    pub filter: Option<Vec<CbpfInsn>>,
    /// Put the interface in promiscuous mode for the socket's lifetime.
    pub promisc: bool,
    /// A filter run again in user space on each frame, after its VLAN tag is put
    /// back: the socket filter runs on the frame with the tag stripped, where a program
    /// compiled for tagged Ethernet can match what it should not (see
    /// `capture::open`). Frames it rejects count as `filtered`.
    pub recheck: Option<Filter>,
}

impl AfPacketConfig {
    pub fn new(ifname: impl Into<String>) -> Self {
        Self {
            ifname: ifname.into(),
            ifindex: None,
            snaplen: MAX_SNAPLEN,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            block_size: DEFAULT_BLOCK_SIZE,
            block_timeout_ms: DEFAULT_BLOCK_TIMEOUT_MS,
            fanout: None,
            direction: DirectionFilter::Both,
            filter: None,
            promisc: true,
            recheck: None,
        }
    }
}

/// Where `fill` stopped: the block it reads, frames of it already read (0 = not
/// started) and the offset of the next one.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    block: usize,
    done: u32,
    offset: usize,
}

/// Running sums of the kernel's self-resetting `PACKET_STATISTICS`.
#[derive(Clone, Copy, Debug, Default)]
struct KernelSums {
    packets: u64,
    drops: u64,
}

/// An open AF_PACKET capture on one interface. See the module documentation.
pub struct AfPacket {
    // Field order is drop order: unmap the ring, then close the socket.
    ring: Ring,
    fd: OwnedFd,
    ifname: String,
    ifindex: u32,
    link: LinkType,
    snaplen: u32,
    direction: DirectionFilter,
    recheck: Option<Filter>,
    cursor: Cursor,
    captured: u64,
    filtered: u64,
    sums: Cell<KernelSums>,
    /// Reused for frames whose VLAN tag is put back.
    scratch: Vec<u8>,
    stopped: bool,
    /// `TPACKET_V3` block timeout (see [`Source::settle_time`]).
    block_timeout_ms: u32,
    /// Kernel-to-`fill` delay per frame, in microseconds.
    delay: hdrhistogram::Histogram<u64>,
    /// Frames seen by `fill`, for sampling the delay.
    delay_seq: u64,
    /// What [`Source::visit_round`] keeps between rounds.
    round: walk::RoundState,
}

impl AfPacket {
    /// Opens the socket, maps the ring and binds it to the interface.
    pub fn open(cfg: AfPacketConfig) -> Result<Self, Error> {
        let AfPacketConfig {
            ifname,
            ifindex,
            snaplen,
            buffer_bytes,
            block_size,
            block_timeout_ms,
            fanout,
            direction,
            filter,
            promisc,
            recheck,
        } = cfg;
        let on = |what: &str| format!("{what} on {ifname}");
        let ifindex = match ifindex {
            Some(i) => i,
            None => sys::ifindex_by_name(&ifname)
                .map_err(|e| Error::io(format!("no capture interface named {ifname:?}"), e))?,
        };
        let geo = Geometry::new(buffer_bytes, block_size, sys::page_size())
            .map_err(|m| Error::Unsupported(on(&m)))?;
        let snaplen = if snaplen == 0 { MAX_SNAPLEN } else { snaplen };

        let fd = sys::packet_socket().map_err(|e| {
            Error::syscall(format!("socket(AF_PACKET) for {ifname}"), e, Needs::Raw)
        })?;
        let link = match sys::hardware_type(fd.as_fd(), &ifname) {
            Ok(libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK) => LinkType::Ethernet,
            // tun, WireGuard: the frame is the bare IP packet.
            Ok(libc::ARPHRD_NONE) => LinkType::Raw,
            Ok(other) => {
                let what = format!("link type ARPHRD {other} (not Ethernet or raw IP)");
                return Err(Error::Unsupported(on(&format!("cannot capture {what}"))));
            }
            Err(e) => return Err(Error::io(on("ioctl(SIOCGIFHWADDR)"), e)),
        };
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        sys::set_option(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(|e| Error::io(on("setsockopt(PACKET_VERSION, TPACKET_V3)"), e))?;
        // Before bind: no frame that the filter would reject ever enters the ring. A
        // fanout member takes nothing until it is in its group: between bind and the
        // join its own hook would get copies of frames the group hands to another member.
        let attach = |prog: &[CbpfInsn]| {
            sys::attach_filter(fd.as_fd(), prog)
                .map_err(|e| Error::io(on("setsockopt(SO_ATTACH_FILTER)"), e))
        };
        if fanout.is_some() {
            attach(&[REJECT_ALL])?;
        } else if let Some(prog) = &filter {
            attach(prog)?;
        }
        let ring = Ring::map(fd.as_fd(), geo, block_timeout_ms).map_err(|e| {
            let (n, size) = (geo.block_nr, geo.block_size);
            Error::io(on(&format!("ring of {n} blocks of {size} bytes")), e)
        })?;
        // Received frames only: the kernel then does not even copy the sent ones into
        // the ring (they would take ring space only to be dropped in `visit`).
        // Linux 4.20+; on older kernels the user-space direction check does the job.
        let inbound_only = direction == DirectionFilter::In;
        if inbound_only {
            let one: libc::c_int = 1;
            let _ = sys::set_option(
                fd.as_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                &one,
            );
        }
        sys::bind_all(fd.as_fd(), ifindex).map_err(|e| Error::io(on("bind(AF_PACKET)"), e))?;
        if let Some(group) = fanout {
            // Plain hash, no PACKET_FANOUT_FLAG_DEFRAG: that flag would hand the socket
            // reassembled datagrams instead of the fragments on the wire. Needs a
            // bound socket (the kernel refuses fanout before bind). A group has its own
            // hook, so ignoring sent frames is a flag of the group.
            let mut flags = 0;
            if inbound_only {
                flags |= libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
            }
            let id = match group {
                Fanout::New => {
                    flags |= libc::PACKET_FANOUT_FLAG_UNIQUEID;
                    0
                }
                Fanout::Join(id) => id,
            };
            let arg = u32::from(id) | ((libc::PACKET_FANOUT_HASH | flags) << 16);
            sys::set_option(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
                .map_err(|e| Error::io(on(&format!("setsockopt(PACKET_FANOUT, {group:?})")), e))?;
            match &filter {
                Some(prog) => attach(prog)?,
                None => sys::detach_filter(fd.as_fd())
                    .map_err(|e| Error::io(on("setsockopt(SO_DETACH_FILTER)"), e))?,
            }
        }
        if promisc {
            promisc::add_promisc_membership(fd.as_fd(), &ifname, ifindex)?;
        }
        Ok(Self {
            ring,
            fd,
            ifname,
            ifindex,
            link,
            snaplen,
            direction,
            recheck,
            cursor: Cursor::default(),
            captured: 0,
            filtered: 0,
            sums: Cell::new(KernelSums::default()),
            scratch: Vec::new(),
            stopped: false,
            block_timeout_ms,
            delay: super::delay_histogram(),
            delay_seq: 0,
            round: walk::RoundState::default(),
        })
    }

    /// The id of the fanout group the socket is in, if any.
    pub fn fanout_id(&self) -> Option<u16> {
        sys::fanout_id(self.fd.as_fd()).ok()
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Bytes of ring memory this socket holds.
    pub fn ring_bytes(&self) -> usize {
        self.ring.geometry().bytes()
    }

    /// Reads and clears the socket's pending error: `Fill::End` once the interface
    /// is gone (`ENETDOWN` and its index unknown). A downed interface also reports
    /// `ENETDOWN`, but the kernel resumes the capture when it comes back up.
    fn check_socket_error(&self) -> Result<Fill, Error> {
        match sys::take_error(self.fd.as_fd()) {
            Ok(0) | Err(_) => Ok(Fill::Some),
            Ok(libc::ENETDOWN) if !sys::ifindex_exists(self.ifindex) => Ok(Fill::End),
            Ok(libc::ENETDOWN) => Ok(Fill::Some),
            Ok(err) => Err(Error::io(
                format!("capture socket on {}", self.ifname),
                io::Error::from_raw_os_error(err),
            )),
        }
    }
}

impl Source for AfPacket {
    /// Reads ready blocks, stopping between two frames when `f` says so; a partly read
    /// block is finished on the next call.
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        self.walk(false, |meta, data, _| f(&Frame { meta, data }))
    }

    /// The ready frames, their blocks handed back after `f` returns (`walk.rs`).
    fn visit_round(
        &mut self,
        limit: super::round::RoundLimit,
        f: &mut dyn FnMut(&[Frame<'_>]),
    ) -> Result<Fill, Error> {
        self.read_round(limit, f)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    /// Stops new frames from entering the ring: a reject-all socket filter replaces
    /// any other (frames it rejects are counted nowhere, see the module docs). Frames
    /// already in the ring can still be read with `fill`; one block timeout later all
    /// of them are readable, and once they are read the counters are final.
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        match sys::attach_filter(self.fd.as_fd(), &[REJECT_ALL]) {
            Ok(()) => self.stopped = true,
            // Cannot happen on an open socket with a valid one-instruction program;
            // capture then simply goes on until the socket is closed.
            Err(e) => log::warn!(
                "cannot stop the capture on {}: SO_ATTACH_FILTER: {e}",
                self.ifname
            ),
        }
    }

    fn delay_us(&self) -> Option<&hdrhistogram::Histogram<u64>> {
        Some(&self.delay)
    }

    fn link(&self) -> Option<LinkType> {
        Some(self.link)
    }

    /// The kernel hands over a partly filled block one or two timer ticks after its
    /// timeout (the retire timer runs in jiffies); allow for that and some lateness.
    fn settle_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(2 * u64::from(self.block_timeout_ms) + 50)
    }

    /// See the module documentation for what each counter means here. A failed
    /// `PACKET_STATISTICS` read (which cannot happen on an open socket) leaves the
    /// kernel's sums where they were.
    fn counters(&self) -> CaptureCounters {
        let mut sums = self.sums.get();
        if let Ok((packets, drops)) = sys::take_stats(self.fd.as_fd()) {
            sums.packets += u64::from(packets);
            sums.drops += u64::from(drops);
            self.sums.set(sums);
        }
        CaptureCounters {
            seen: sums.packets,
            filtered: self.filtered,
            captured: self.captured,
            lost_ring_full: sums.drops,
            lost_copy: 0,
            filter_error: 0,
            aggregated: 0,
            flow_overflow: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_interface_is_named_in_the_error() {
        let err = AfPacket::open(AfPacketConfig::new("nc-no-such-if"))
            .err()
            .expect("must fail");
        let msg = err.to_string();
        assert!(msg.contains("\"nc-no-such-if\""), "{msg}");
    }
}
