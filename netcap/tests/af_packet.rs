//! Privileged tests of the AF_PACKET backend on a veth pair (`cargo xtask test`).
mod common;

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::{eth_arp_request, eth_ipv4_icmp_echo, eth_ipv4_tcp, eth_ipv4_udp, test_mac};
use netcap::capture::af_packet::{AfPacket, AfPacketConfig, DirectionFilter, Fanout};
use netcap::capture::{CaptureCounters, Fill, Source};
use netcap::packet::{Batch, Direction, FrameMeta, LinkType};
use netcap_common::CbpfInsn;

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
    common::needs_privileges!();
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

// ---- the backend ------------------------------------------------------------------

/// How long a test waits for frames that should arrive: generous for a loaded CI box.
const DEADLINE: Duration = Duration::from_secs(5);
/// How long a test waits to be sure that no further frame arrives: several block
/// timeouts (10 ms by default).
const QUIET: Duration = Duration::from_millis(100);

fn open(pair: &common::VethPair, direction: DirectionFilter) -> AfPacket {
    let mut cfg = AfPacketConfig::new(&pair.host_if);
    cfg.direction = direction;
    // 8 blocks: the tests send everything before they start reading, and each block
    // retires after the 10 ms timeout, so two blocks could fill on a loaded machine
    // (the loss would be counted, but the tests check exact delivery).
    cfg.buffer_bytes = 8 << 20;
    AfPacket::open(cfg).unwrap_or_else(|e| panic!("open on {}: {e}", pair.host_if))
}

/// Waits on the source's descriptor, as the driver does, and collects frames until
/// `n` arrived and then `QUIET` passed without more, or until `DEADLINE`.
fn capture(src: &mut AfPacket, n: usize) -> Vec<(FrameMeta, Vec<u8>)> {
    let start = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    let mut got = Vec::new();
    let mut batch = Batch::default();
    loop {
        let now = Instant::now();
        if now - start > DEADLINE || quiet_since.is_some_and(|t| now - t > QUIET) {
            return got;
        }
        let fd = src.fd().expect("a live source has a descriptor");
        let mut pfd = libc::pollfd {
            fd: fd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, 20) };
        batch.clear();
        let fill = src.fill(&mut batch, 64 << 10).expect("fill");
        assert_eq!(fill, Fill::Some, "the interface is still there");
        got.extend(batch.iter().map(|f| (f.meta, f.data.to_vec())));
        if got.len() >= n && quiet_since.is_none() {
            quiet_since = Some(Instant::now());
        }
    }
}

/// 200 distinct frames of every kind the harness builds, with 802.1Q and 802.1ad
/// tagged ones that the receiving kernel strips and the backend must put back.
fn many_frames(n: u16) -> Vec<Vec<u8>> {
    let (a, b) = (test_mac(1), test_mac(2));
    (0..n)
        .map(|i| {
            let p = format!("frame {i:05}");
            match i % 6 {
                0 => eth_ipv4_udp(a, b, SRC_IP, DST_IP, 1000 + i, 53, p.as_bytes()),
                1 => eth_ipv4_tcp(
                    a,
                    b,
                    SRC_IP,
                    DST_IP,
                    2000 + i,
                    80,
                    common::TCP_ACK,
                    i.into(),
                    1,
                    p.as_bytes(),
                ),
                2 => eth_ipv4_icmp_echo(a, b, SRC_IP, DST_IP, 9, i, p.as_bytes()),
                3 => eth_arp_request(a, SRC_IP, Ipv4Addr::new(198, 51, 100, (i % 250) as u8)),
                4 => vlan_tagged(
                    &eth_ipv4_udp(a, b, SRC_IP, DST_IP, 3000 + i, 53, p.as_bytes()),
                    &[(0x8100, 100)],
                ),
                _ => vlan_tagged(
                    &eth_ipv4_udp(a, b, SRC_IP, DST_IP, 4000 + i, 53, p.as_bytes()),
                    &[(0x88a8, 200), (0x8100, 0x2000 | (i % 4000))],
                ),
            }
        })
        .collect()
}

/// `frame` with the given (TPID, TCI) tags inserted after the MAC addresses.
fn vlan_tagged(frame: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    for (tpid, tci) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&frame[12..]);
    f
}

fn assert_balanced(c: &CaptureCounters) {
    assert_eq!(c.seen, c.filtered + c.captured + c.lost_total(), "{c:?}");
}

#[test]
fn ingress_frames_arrive_complete_in_order_and_byte_identical() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let mut src = open(&pair, DirectionFilter::Both);
    assert_eq!(src.link(), LinkType::Ethernet);
    let frames = many_frames(200);
    let before = now_ns();
    common::send_frames(&pair.ns, &pair.ns_if, &frames);
    let got = capture(&mut src, frames.len());
    let after = now_ns();

    assert_eq!(got.len(), frames.len(), "exactly N frames");
    for (i, ((meta, data), sent)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(data, sent, "frame {i} differs");
        assert_eq!(meta.orig_len as usize, sent.len(), "frame {i}");
        assert_eq!(meta.direction, Direction::In, "frame {i}");
        assert_eq!(meta.ifindex, pair.host_ifindex, "frame {i}");
        assert_eq!(meta.link, LinkType::Ethernet, "frame {i}");
        assert!(
            (before..=after).contains(&meta.ts_ns),
            "frame {i} time {}",
            meta.ts_ns
        );
    }
    assert!(
        got.windows(2).all(|w| w[0].0.ts_ns <= w[1].0.ts_ns),
        "timestamps ascend"
    );
    let c = src.counters();
    assert_eq!(
        (c.seen, c.captured, c.filtered, c.lost_total()),
        (200, 200, 0, 0),
        "{c:?}"
    );
    assert_balanced(&c);
    // The kernel's counters reset on every read: the sums must not.
    assert_eq!(src.counters(), c);
    let delays = src.delay_us().expect("AF_PACKET knows the delay");
    // One frame in DELAY_SAMPLE has its delay recorded.
    assert_eq!(delays.len(), 200u64.div_ceil(netcap::capture::DELAY_SAMPLE));
}

#[test]
fn socket_filter_passes_only_udp() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let ins = |code, jt, jf, k| CbpfInsn { code, jt, jf, k };
    let udp_only = vec![
        ins(0x28, 0, 0, 12),     // ldh [12]
        ins(0x15, 0, 3, 0x0800), // jeq #0x800, else drop
        ins(0x30, 0, 0, 23),     // ldb [23]
        ins(0x15, 0, 1, 17),     // jeq #17, else drop
        ins(0x06, 0, 0, 0xffff), // ret #0xffff
        ins(0x06, 0, 0, 0),      // ret #0
    ];
    let mut cfg = AfPacketConfig::new(&pair.host_if);
    cfg.filter = Some(udp_only);
    let mut src = AfPacket::open(cfg).expect("open with a filter");
    // Untagged frames only: a VLAN tag moves the EtherType out of [12].
    let frames: Vec<_> = many_frames(120)
        .into_iter()
        .filter(|f| f[12..14] != [0x81, 0x00] && f[12..14] != [0x88, 0xa8])
        .collect();
    let udp: Vec<_> = frames
        .iter()
        .filter(|f| f[12..14] == [0x08, 0x00] && f[23] == 17)
        .cloned()
        .collect();
    assert!(!udp.is_empty() && udp.len() < frames.len());
    common::send_frames(&pair.ns, &pair.ns_if, &frames);
    let got: Vec<_> = capture(&mut src, udp.len())
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(got, udp, "only the UDP frames, in order");
    let c = src.counters();
    // Frames the socket filter rejects are counted nowhere by the kernel.
    assert_eq!(
        (c.seen, c.captured, c.filtered),
        (udp.len() as u64, udp.len() as u64, 0),
        "{c:?}"
    );
    assert_balanced(&c);
}

#[test]
fn egress_frames_are_captured_as_out_and_ingress_ones_filtered() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let mut src = open(&pair, DirectionFilter::Out);
    let frames = many_frames(100);
    let (outgoing, incoming) = frames.split_at(50);
    // Out frames keep their tags: nothing strips them on the way out.
    common::send_frames(&pair.ns, &pair.ns_if, incoming);
    common::send_frames_from_host(&pair.host_if, outgoing);
    let got = capture(&mut src, outgoing.len());
    assert_eq!(got.len(), outgoing.len(), "{:?}", src.counters());
    for (i, ((meta, data), sent)) in got.iter().zip(outgoing).enumerate() {
        assert_eq!(data, sent, "frame {i} differs");
        assert_eq!(meta.direction, Direction::Out, "frame {i}");
    }
    let c = src.counters();
    assert_eq!(
        (c.seen, c.captured, c.filtered, c.lost_total()),
        (100, 50, 50, 0),
        "{c:?}"
    );
    assert_balanced(&c);
}

#[test]
fn fanout_group_members_share_the_frames_without_overlap() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    // The first member makes a group with a fresh id, the second joins it by that id.
    let mut cfg = AfPacketConfig::new(&pair.host_if);
    cfg.fanout = Some(Fanout::New);
    cfg.buffer_bytes = 2 << 20;
    let first = AfPacket::open(cfg.clone()).expect("make a fanout group");
    let id = first.fanout_id().expect("the group has an id");
    cfg.fanout = Some(Fanout::Join(id));
    let second = AfPacket::open(cfg).expect("join the fanout group");
    assert_eq!(second.fanout_id(), Some(id));
    let mut members = vec![first, second];
    let frames = many_frames(120);
    common::send_frames(&pair.ns, &pair.ns_if, &frames);
    let mut all = Vec::new();
    let mut per_member = Vec::new();
    for m in &mut members {
        // Each member only knows it is done when the other one has the rest.
        let got = capture(m, 1);
        per_member.push(got.len());
        all.extend(got.into_iter().map(|(_, d)| d));
        assert_balanced(&m.counters());
    }
    all.sort();
    let mut want = frames.clone();
    want.sort();
    assert_eq!(
        all, want,
        "every frame exactly once across the group ({per_member:?})"
    );
    let seen: u64 = members.iter().map(|m| m.counters().seen).sum();
    assert_eq!(seen, frames.len() as u64);
}

#[test]
fn stop_closes_the_ring_and_makes_counters_final() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let mut src = open(&pair, DirectionFilter::Both);
    let frames = many_frames(60);
    common::send_frames(&pair.ns, &pair.ns_if, &frames[..40]);
    assert_eq!(capture(&mut src, 40).len(), 40);
    src.stop();
    common::send_frames(&pair.ns, &pair.ns_if, &frames[40..]);
    assert_eq!(capture(&mut src, 0).len(), 0, "nothing enters after stop");
    let c = src.counters();
    assert_eq!((c.seen, c.captured), (40, 40), "{c:?}");
    assert_balanced(&c);
}

#[test]
fn removing_the_interface_ends_the_capture() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let mut src = open(&pair, DirectionFilter::Both);
    let out = std::process::Command::new("ip")
        .args(["link", "del", "dev", &pair.host_if])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end = Instant::now() + DEADLINE;
    let mut batch = Batch::default();
    loop {
        match src.fill(&mut batch, 1 << 20).expect("fill after removal") {
            Fill::End => break,
            Fill::Some => assert!(
                Instant::now() < end,
                "no End after the interface was deleted"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_full_ring_counts_its_drops_and_stays_balanced() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let mut cfg = AfPacketConfig::new(&pair.host_if);
    // Two one-page blocks: room for a few dozen of these frames, not 300.
    cfg.block_size = 4096;
    cfg.buffer_bytes = 0;
    let mut src = AfPacket::open(cfg).expect("open a tiny ring");
    let frames = many_frames(300);
    common::send_frames(&pair.ns, &pair.ns_if, &frames);
    let mid = src.counters(); // read (and reset) the kernel's counters once in between
    let got = capture(&mut src, 1);
    let c = src.counters();
    assert!(
        c.lost_ring_full > 0 && c.lost_ring_full >= mid.lost_ring_full,
        "{c:?}"
    );
    assert_eq!(c.seen, frames.len() as u64, "{c:?}");
    assert_eq!(c.captured, got.len() as u64, "{c:?}");
    assert_balanced(&c);
    // What did arrive is an in-order subsequence of what was sent.
    let mut sent = frames.iter();
    assert!(
        got.iter().all(|(_, d)| sent.any(|s| s == d)),
        "captured frames out of order"
    );
}

#[test]
fn snaplen_cuts_frames_and_keeps_their_length() {
    common::needs_privileges!();
    let pair = common::VethPair::new();
    let mut cfg = AfPacketConfig::new(&pair.host_if);
    cfg.snaplen = 20;
    let mut src = AfPacket::open(cfg).expect("open");
    let frames = many_frames(12);
    common::send_frames(&pair.ns, &pair.ns_if, &frames);
    let got = capture(&mut src, frames.len());
    assert_eq!(got.len(), frames.len());
    for (i, ((meta, data), sent)) in got.iter().zip(&frames).enumerate() {
        // Tagged frames too: the tag is put back first, then the frame is cut.
        assert_eq!(data[..], sent[..20], "frame {i}");
        assert_eq!(meta.orig_len as usize, sent.len(), "frame {i}");
    }
}

#[test]
fn open_names_a_missing_interface() {
    // Needs no privileges: the name is resolved before the socket is made.
    let err = AfPacket::open(AfPacketConfig::new("nc-missing0"))
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("nc-missing0"), "{err}");
}

fn now_ns() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    d.as_nanos() as u64
}
