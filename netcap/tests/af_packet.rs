//! Privileged tests of the AF_PACKET backend on a veth pair (`cargo xtask test`).
mod common;

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::{eth_arp_request, eth_ipv4_icmp_echo, eth_ipv4_tcp, eth_ipv4_udp, test_mac};

const SKIP: &str = "skipped: needs NETCAP_PRIVILEGED_TESTS=1 (cargo xtask test)";
const SRC_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// A plain (non-ring) AF_PACKET socket on `ifindex`, independent of the backend: the
/// harness's own oracle.
fn plain_socket(ifindex: u32) -> OwnedFd {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    assert!(raw >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `raw` is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll and `len` its size.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const sll).cast(), len) };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    fd
}

/// Receives frames from `fd` until `n` arrived or `deadline` passed.
fn recv_frames(fd: &OwnedFd, n: usize, deadline: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + deadline;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < n && Instant::now() < end {
        let len = buf.len();
        // SAFETY: `buf` is valid for `len` bytes for the duration of the call.
        let r = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                len,
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        got.push(buf[..r as usize].to_vec());
    }
    got
}

fn mixed_frames() -> Vec<Vec<u8>> {
    let (a, b) = (test_mac(1), test_mac(2));
    vec![
        eth_ipv4_udp(a, b, SRC_IP, DST_IP, 1234, 53, b"hello"),
        eth_ipv4_tcp(a, b, SRC_IP, DST_IP, 40000, 80, common::TCP_SYN, 1, 0, &[]),
        eth_ipv4_icmp_echo(a, b, SRC_IP, DST_IP, 7, 1, b"ping"),
        eth_arp_request(a, SRC_IP, DST_IP),
    ]
}

#[test]
fn harness_delivers_frames_from_namespace_to_host() {
    if !common::privileged() {
        eprintln!("{SKIP}");
        return;
    }
    let pair = common::VethPair::new();
    let sock = plain_socket(pair.host_ifindex);
    let frames = mixed_frames();
    common::send_frames(&pair.ns, &pair.ns_if, &frames);
    let got = recv_frames(&sock, frames.len() + 1, Duration::from_millis(300));
    assert_eq!(
        got, frames,
        "exactly the crafted frames, in order, nothing else"
    );
}
