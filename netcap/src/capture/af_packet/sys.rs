//! The AF_PACKET backend's system calls and its memory-mapped ring: all of the
//! backend's `unsafe` code, behind safe functions.
//!
//! A `TPACKET_V3` ring is `block_nr` blocks of `block_size` bytes. Each block starts
//! with a `tpacket_block_desc`; its `block_status` word says who owns the block:
//! `TP_STATUS_KERNEL` (the kernel may write it) or `TP_STATUS_USER` (retired, ours to
//! read until we store `TP_STATUS_KERNEL` again). Reads of a block happen only after
//! an Acquire load saw `TP_STATUS_USER`, and the hand-back is a Release store, so the
//! kernel's frame writes are visible to us and ours (none) precede its reuse.
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use netcap_common::CbpfInsn;

/// `tp_frame_size`: meaningless for `TPACKET_V3` (frames are packed in a block and
/// may be up to a block long) but the kernel still checks it; the value of the
/// kernel's `packet_mmap` documentation.
const FRAME_SIZE: usize = 2048;
/// Where the `sockaddr_ll` sits after a `tpacket3_hdr`: `TPACKET_ALIGN(sizeof hdr)`.
const SLL_OFFSET: usize = (size_of::<libc::tpacket3_hdr>() + 15) & !15;
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An `AF_PACKET`/`SOCK_RAW` socket with protocol 0: it receives nothing until
/// [`bind_all`], so options and the filter can be set before any frame arrives.
pub(super) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `setsockopt(fd, level, name, val)`, where `T` is the option's C type.
pub(super) fn set_option<T>(fd: BorrowedFd<'_>, level: i32, name: i32, val: &T) -> io::Result<()> {
    let len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` points to a live `T` of `len` bytes for the duration of the call.
    check(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (val as *const T).cast(), len) })
}

/// `SO_ATTACH_FILTER`: replaces the socket's classic BPF program atomically.
pub(super) fn attach_filter(fd: BorrowedFd<'_>, prog: &[CbpfInsn]) -> io::Result<()> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // `CbpfInsn` has the layout of `struct sock_filter` (netcap-common asserts it);
    // the kernel copies the program during the call and never writes through it.
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut().cast(),
    };
    set_option(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Binds to `ifindex` with protocol `ETH_P_ALL`: from here on frames arrive.
pub(super) fn bind_all(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL_BE;
    sll.sll_ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll and `len` its size.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sll).cast(), len) })
}

/// `getsockopt(fd, level, name)` for a fixed-size `T` that all-zero bytes represent.
fn get_option<T: Copy>(fd: BorrowedFd<'_>, level: i32, name: i32, mut val: T) -> io::Result<T> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` and `len` are live and describe `size_of::<T>()` writable bytes.
    check(unsafe {
        libc::getsockopt(fd.as_raw_fd(), level, name, (&raw mut val).cast(), &mut len)
    })?;
    Ok(val)
}

/// `PACKET_STATISTICS` since the previous call: (packets including drops, drops).
pub(super) fn take_stats(fd: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    let zero = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let st = get_option(fd, libc::SOL_PACKET, libc::PACKET_STATISTICS, zero)?;
    Ok((st.tp_packets, st.tp_drops))
}

/// The id of the `PACKET_FANOUT` group the socket is in (as the kernel chose it).
pub(super) fn fanout_id(fd: BorrowedFd<'_>) -> io::Result<u16> {
    let arg = get_option(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, 0 as libc::c_int)?;
    Ok((arg & 0xffff) as u16)
}

/// `SO_DETACH_FILTER`: from now on the socket takes every frame.
pub(super) fn detach_filter(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_option(
        fd,
        libc::SOL_SOCKET,
        libc::SO_DETACH_FILTER,
        &(0 as libc::c_int),
    )
}

/// Reads and clears the socket's pending error (`SO_ERROR`); 0 when none.
pub(super) fn take_error(fd: BorrowedFd<'_>) -> io::Result<i32> {
    get_option(fd, libc::SOL_SOCKET, libc::SO_ERROR, 0 as libc::c_int)
}

pub(super) fn ifindex_by_name(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

pub(super) fn ifindex_exists(ifindex: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname may write.
    !unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null()
}

/// The interface's `ARPHRD_*` hardware type (`SIOCGIFHWADDR`).
pub(super) fn hardware_type(fd: BorrowedFd<'_>, ifname: &str) -> io::Result<u16> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.len() >= ifr.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(ifname.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: `ifr` is a valid, NUL-terminated ifreq that SIOCGIFHWADDR fills in.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut ifr) })?;
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` variant.
    Ok(unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_family })
}

pub(super) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// The ring's shape, checked before the kernel sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    pub block_size: usize,
    pub block_nr: usize,
}

impl Geometry {
    /// `buffer_bytes` rounded down to whole blocks, at least 2 (with one block, the
    /// kernel drops everything while user space reads it).
    pub fn new(buffer_bytes: usize, block_size: usize, page: usize) -> Result<Self, String> {
        if block_size == 0 || !block_size.is_multiple_of(page) || block_size < FRAME_SIZE {
            return Err(format!(
                "block size {block_size} is not a multiple of the page size {page}"
            ));
        }
        let block_nr = (buffer_bytes / block_size).max(2);
        let fits = u32::try_from(block_size).is_ok()
            && u32::try_from(block_size / FRAME_SIZE * block_nr).is_ok()
            && block_nr
                .checked_mul(block_size)
                .is_some_and(|t| t <= 1 << 40);
        if !fits {
            return Err(format!(
                "a ring of {block_nr} blocks of {block_size} bytes is too large"
            ));
        }
        Ok(Self {
            block_size,
            block_nr,
        })
    }

    pub fn bytes(self) -> usize {
        self.block_size * self.block_nr
    }
}

/// One frame inside a block we own.
pub(super) struct RawFrame<'a> {
    pub hdr: libc::tpacket3_hdr,
    pub pkttype: u8,
    pub ifindex: i32,
    /// `tp_snaplen` bytes from the link-layer header on.
    pub data: &'a [u8],
}

/// The mmapped `TPACKET_V3` receive ring of one socket; unmapped on drop.
pub(super) struct Ring {
    base: NonNull<u8>,
    geo: Geometry,
}

// SAFETY: the mapping is owned by this value alone (no aliases outside it), and
// nothing about it is tied to the thread that created it.
unsafe impl Send for Ring {}

impl Ring {
    /// Asks the kernel for the ring (`PACKET_RX_RING`) and maps it.
    pub fn map(fd: BorrowedFd<'_>, geo: Geometry, block_timeout_ms: u32) -> io::Result<Self> {
        // Geometry::new checked that every product fits in u32.
        let req = libc::tpacket_req3 {
            tp_block_size: geo.block_size as u32,
            tp_block_nr: geo.block_nr as u32,
            tp_frame_size: FRAME_SIZE as u32,
            tp_frame_nr: (geo.block_size / FRAME_SIZE * geo.block_nr) as u32,
            tp_retire_blk_tov: block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let (rw, shared) = (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED);
        // SAFETY: maps the ring the kernel just allocated for this socket; the result
        // is checked, and Drop unmaps exactly this range.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                geo.bytes(),
                rw,
                shared,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { base, geo })
    }

    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    fn block(&self, i: usize) -> *mut u8 {
        assert!(i < self.geo.block_nr, "block {i} outside the ring");
        // SAFETY: `i * block_size` is inside the mapping of `block_nr * block_size`.
        unsafe { self.base.as_ptr().add(i * self.geo.block_size) }
    }

    fn status(&self, i: usize) -> &AtomicU32 {
        let desc = self.block(i).cast::<libc::tpacket_block_desc>();
        // SAFETY: every block starts with a `tpacket_block_desc` (page aligned, so the
        // u32 is aligned); the kernel and we access `block_status` only with ordered
        // single-word accesses, and the reference lives no longer than `self`.
        unsafe { AtomicU32::from_ptr(&raw mut (*desc).hdr.bh1.block_status) }
    }

    /// True when block `i` is retired and ours to read.
    pub fn is_ready(&self, i: usize) -> bool {
        self.status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// (offset of the first frame, number of frames) of block `i`, if it is ready.
    pub fn block_frames(&self, i: usize) -> Option<(usize, u32)> {
        if !self.is_ready(i) {
            return None;
        }
        let desc = self.block(i).cast::<libc::tpacket_block_desc>();
        // SAFETY: the block is ours (checked just above, with Acquire) and starts
        // with the descriptor; `bh1` is the union variant TPACKET_V3 writes.
        let bh1 = unsafe { desc.read_unaligned().hdr.bh1 };
        Some((bh1.offset_to_first_pkt as usize, bh1.num_pkts))
    }

    /// The frame at `offset` in ready block `i`, and the offset of the next one.
    /// `None` when the block is not ours or the kernel's offsets point outside it.
    pub fn frame(&self, i: usize, offset: usize) -> Option<(RawFrame<'_>, usize)> {
        let size = self.geo.block_size;
        let headers_end = offset.checked_add(SLL_OFFSET + size_of::<libc::sockaddr_ll>())?;
        if headers_end > size || !self.is_ready(i) {
            return None;
        }
        let base = self.block(i);
        // SAFETY: both headers lie inside the block (checked above), which is ours.
        let (hdr, sll) = unsafe {
            let h = base.add(offset);
            let sll = h
                .add(SLL_OFFSET)
                .cast::<libc::sockaddr_ll>()
                .read_unaligned();
            (h.cast::<libc::tpacket3_hdr>().read_unaligned(), sll)
        };
        let mac = offset + usize::from(hdr.tp_mac);
        let len = hdr.tp_snaplen as usize;
        if mac.checked_add(len).is_none_or(|end| end > size) {
            return None;
        }
        // SAFETY: `mac..mac + len` lies inside the block, which the kernel does not
        // write until `release` (which needs `&mut self`, so this borrow has ended).
        let data = unsafe { std::slice::from_raw_parts(base.add(mac), len) };
        let next = offset + hdr.tp_next_offset as usize;
        let frame = RawFrame {
            hdr,
            pkttype: sll.sll_pkttype,
            ifindex: sll.sll_ifindex,
            data,
        };
        Some((frame, next))
    }

    /// Asks the CPU to start loading the cache lines at `offset..offset + 128` of
    /// block `i` (a frame's headers and first bytes), so that they have arrived from
    /// the kernel's CPU by the time `frame` reads them. A hint only: nothing is read,
    /// and offsets past the block are ignored.
    #[inline]
    pub fn prefetch(&self, i: usize, offset: usize) {
        if offset >= self.geo.block_size {
            return;
        }
        let line = self.block(i).wrapping_add(offset);
        // The second line may lie past the block, even past the mapping for the last
        // block: a prefetch never faults.
        super::super::prefetch::line(line);
        super::super::prefetch::line(line.wrapping_add(64));
    }

    /// Prefetches, in block `i`, the headers of the frame after the one at `offset`
    /// (it is at `next`) and of the frame [`AHEAD`](super::super::prefetch::AHEAD)
    /// frames after that if they all have this one's size (a guess: a wrong one only
    /// costs a useless prefetch; see `capture/prefetch.rs`). The whole block is ours
    /// (retired), so no line the kernel is still writing is pulled over.
    #[inline]
    pub fn prefetch_after(&self, i: usize, offset: usize, next: usize) {
        self.prefetch(i, next);
        let stride = next.saturating_sub(offset);
        let ahead = stride.saturating_mul(super::super::prefetch::AHEAD);
        self.prefetch(i, next.saturating_add(ahead));
    }

    /// Hands block `i` back to the kernel.
    pub fn release(&mut self, i: usize) {
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let Self { base, geo } = self;
        // SAFETY: `base` and `geo.bytes()` describe exactly the mapping made in `map`;
        // no reference into it outlives `self`.
        unsafe { libc::munmap(base.as_ptr().cast(), geo.bytes()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_rounds_to_whole_blocks_with_at_least_two() {
        let g = Geometry::new(8 << 20, 1 << 20, 4096).expect("valid");
        assert_eq!((g.block_nr, g.bytes()), (8, 8 << 20));
        assert_eq!(
            Geometry::new(100, 1 << 20, 4096).expect("valid").block_nr,
            2
        );
        let odd = Geometry::new((3 << 20) + 5, 1 << 20, 4096).expect("valid");
        assert_eq!(odd.block_nr, 3);
        assert!(Geometry::new(8 << 20, 5000, 4096).is_err());
        assert!(Geometry::new(8 << 20, 0, 4096).is_err());
        assert!(Geometry::new(usize::MAX, 4096, 4096).is_err());
    }

    #[test]
    fn sockaddr_ll_follows_the_aligned_header() {
        assert_eq!(size_of::<libc::tpacket3_hdr>(), 48);
        assert_eq!(SLL_OFFSET, 48);
    }
}
