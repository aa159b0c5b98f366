//! Promiscuous mode by socket membership (`PACKET_MR_PROMISC`), as libpcap sets it: the
//! kernel counts the membership and undoes it when the socket closes, on any exit.
use std::os::fd::{AsFd, BorrowedFd};

use super::sys;
use crate::capture::error::{Error, Needs};

/// An interface held in promiscuous mode (`PACKET_MR_PROMISC` membership on a socket
/// that receives nothing), for backends that are not AF_PACKET. The kernel undoes it
/// when the socket closes, on any exit, `kill -9` included.
pub struct Promisc {
    _fd: std::os::fd::OwnedFd,
}

impl Promisc {
    pub fn hold(ifname: &str, ifindex: u32) -> Result<Self, Error> {
        let on = |what: &str| format!("{what} on {ifname}");
        let fd = sys::packet_socket().map_err(|e| {
            Error::syscall(
                on("socket(AF_PACKET) for promiscuous mode"),
                e,
                Needs::RawPromisc,
            )
        })?;
        add_promisc_membership(fd.as_fd(), ifname, ifindex)?;
        Ok(Self { _fd: fd })
    }
}

/// Makes `fd`'s interface promiscuous while the socket lives; the kernel undoes it
/// when the socket closes.
pub(super) fn add_promisc_membership(
    fd: BorrowedFd<'_>,
    ifname: &str,
    ifindex: u32,
) -> Result<(), Error> {
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as i32,
        mr_type: libc::PACKET_MR_PROMISC as u16,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    sys::set_option(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq).map_err(|e| {
        Error::io(
            format!("setsockopt(PACKET_ADD_MEMBERSHIP, promisc) on {ifname}"),
            e,
        )
    })
}
