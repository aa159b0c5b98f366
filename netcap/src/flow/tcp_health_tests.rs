//! Unit tests of `flow/tcp_health.rs`.
use super::*;
use crate::flow::tcp_flags::PSH;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000 * 1_000_000_000;
const AB: usize = 0;
const BA: usize = 1;

/// One segment: direction, time after T0 in µs, flags, seq, ack, payload, window.
type Step = (usize, u64, u8, u32, u32, u32, u16);

fn run(steps: &[Step]) -> TcpHealth {
    let mut t = TcpTracker::default();
    for &(dir, us, flags, seq, ack, len, window) in steps {
        let seg = TcpSeg {
            flags,
            seq,
            ack,
            window,
            payload_len: len,
        };
        t.update(dir, &seg, T0 + us * 1000);
    }
    t.health()
}

/// SYN at 0, SYN/ACK at 4 ms, ACK at 10 ms: client ISN 1000, server ISN 5000.
const HANDSHAKE: [Step; 3] = [
    (AB, 0, SYN, 1000, 0, 0, 64240),
    (BA, 4_000, SYN | ACK, 5000, 1001, 0, 65160),
    (AB, 10_000, ACK, 1001, 5001, 0, 502),
];

fn with_handshake(rest: &[Step]) -> TcpHealth {
    run(&[&HANDSHAKE[..], rest].concat())
}

#[test]
fn handshake_rtt_in_two_halves() {
    let h = with_handshake(&[]);
    assert_eq!((h.rtt_syn_ns, h.rtt_ack_ns), (Some(4 * MS), Some(6 * MS)));
    assert_eq!(h.rtt_us(), Some((4_000, 6_000)));
    assert_eq!(
        h,
        TcpHealth {
            rtt_syn_ns: h.rtt_syn_ns,
            rtt_ack_ns: h.rtt_ack_ns,
            ..TcpHealth::default()
        }
    );
    // Retransmitted SYN and SYN/ACK: measured from the most recent of each.
    let h = run(&[
        (AB, 0, SYN, 1000, 0, 0, 64240),
        (AB, 1_000_000, SYN, 1000, 0, 0, 64240),
        (BA, 1_004_000, SYN | ACK, 5000, 1001, 0, 65160),
        (BA, 1_005_000, SYN | ACK, 5000, 1001, 0, 65160),
        (AB, 1_010_000, ACK, 1001, 5001, 0, 502),
    ]);
    assert_eq!((h.rtt_syn_ns, h.rtt_ack_ns), (Some(5 * MS), Some(5 * MS)));
    assert_eq!(h.retrans, [1, 1], "the second SYN and SYN/ACK");
    // No SYN/ACK (refused): no halves.
    let h = run(&[
        (AB, 0, SYN, 1000, 0, 0, 64240),
        (BA, 4_000, RST | ACK, 0, 1001, 0, 0),
    ]);
    assert_eq!((h.rtt_syn_ns, h.rtt_ack_ns), (None, None));
    assert_eq!(h.zero_window, [0, 0], "RST is never a zero window");
    // ns halves round so that the sum is the whole RTT rounded down.
    let mut t = TcpTracker::default();
    let seg = |flags, seq, ack| TcpSeg {
        flags,
        seq,
        ack,
        window: 1,
        payload_len: 0,
    };
    t.update(AB, &seg(SYN, 1, 0), T0);
    t.update(BA, &seg(SYN | ACK, 9, 2), T0 + 1_600);
    t.update(AB, &seg(ACK, 2, 10), T0 + 3_100);
    assert_eq!(t.health().rtt_us(), Some((1, 2)));
}

#[test]
fn a_retransmission_after_a_timeout() {
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1001, 5001, 100, 502),
        (AB, 400_000, ACK | PSH, 1001, 5001, 100, 502),
        (BA, 400_500, ACK, 5001, 1101, 0, 509),
    ]);
    assert_eq!((h.retrans, h.retrans_bytes), ([1, 0], [100, 0]));
    assert_eq!((h.out_of_order, h.dup_ack), ([0, 0], [0, 0]));
}

#[test]
fn a_reordering_within_the_rtt_is_out_of_order_not_a_retransmission() {
    // 1101..1201 overtakes 1001..1101 by 2 ms (under the 10 ms initial RTT).
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1101, 5001, 100, 502),
        (AB, 102_000, ACK | PSH, 1001, 5001, 100, 502),
    ]);
    assert_eq!((h.out_of_order, h.retrans), ([1, 0], [0, 0]));
    // The same 30 ms late is a retransmission (of a segment lost before the capture).
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1101, 5001, 100, 502),
        (AB, 130_000, ACK | PSH, 1001, 5001, 100, 502),
    ]);
    assert_eq!((h.out_of_order, h.retrans), ([0, 0], [1, 0]));
    // Before the handshake is seen, the window is 3 ms.
    let h = run(&[
        (AB, 0, ACK | PSH, 1101, 5001, 100, 502),
        (AB, 2_900, ACK | PSH, 1001, 5001, 100, 502),
        (AB, 3_000, ACK | PSH, 1201, 5001, 100, 502),
        (AB, 6_100, ACK | PSH, 1201, 5001, 100, 502),
    ]);
    assert_eq!((h.out_of_order, h.retrans), ([1, 0], [1, 0]));
}

#[test]
fn dup_acks_then_a_fast_retransmission() {
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1101, 5001, 100, 502), // 1001..1101 lost
        (BA, 100_500, ACK, 5001, 1001, 0, 509),
        (AB, 101_000, ACK | PSH, 1201, 5001, 100, 502),
        (BA, 101_500, ACK, 5001, 1001, 0, 509),
        (AB, 102_000, ACK | PSH, 1301, 5001, 100, 502),
        (BA, 102_500, ACK, 5001, 1001, 0, 509),
        (AB, 103_000, ACK | PSH, 1001, 5001, 100, 502),
        (BA, 103_500, ACK, 5001, 1401, 0, 509),
        (BA, 103_600, ACK, 5001, 1401, 0, 509),
    ]);
    // The first ACK 1001 differs from the SYN/ACK only by its window: not a dup.
    assert_eq!(h.dup_ack, [0, 3]);
    assert_eq!((h.retrans, h.out_of_order), ([1, 0], [0, 0]));
    // A new window is a window update, not a duplicate.
    let h = with_handshake(&[
        (BA, 100_000, ACK, 5001, 1001, 0, 700),
        (BA, 100_100, ACK, 5001, 1001, 0, 700),
        (BA, 100_200, ACK, 5001, 1001, 0, 800),
    ]);
    assert_eq!(h.dup_ack, [0, 1]);
}

#[test]
fn zero_windows_and_probes() {
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1001, 5001, 100, 502),
        (BA, 100_500, ACK, 5001, 1101, 0, 0),
        (BA, 200_000, ACK, 5001, 1101, 0, 0),
        (AB, 300_000, ACK, 1101, 5001, 1, 502), // probe: not a retransmission
        (BA, 300_500, ACK, 5001, 1101, 0, 0),
        (AB, 700_000, ACK, 1101, 5001, 1, 502),
        (BA, 700_500, ACK, 5001, 1101, 0, 400),
        (AB, 701_000, ACK | PSH, 1101, 5001, 100, 502),
    ]);
    assert_eq!(h.zero_window, [0, 3]);
    assert_eq!(
        (h.retrans, h.dup_ack, h.out_of_order),
        ([0, 0], [0, 0], [0, 0])
    );
}

#[test]
fn keep_alives_are_neither_retransmissions_nor_dup_acks() {
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1001, 5001, 100, 502),
        (BA, 100_500, ACK, 5001, 1101, 0, 509),
        (AB, 5_000_000, ACK, 1100, 5001, 0, 502),
        (BA, 5_000_500, ACK, 5001, 1101, 0, 509),
        (AB, 6_000_000, ACK, 1100, 5001, 1, 502),
        (BA, 6_000_500, ACK, 5001, 1101, 0, 509),
    ]);
    assert_eq!(
        h,
        TcpHealth {
            rtt_syn_ns: h.rtt_syn_ns,
            rtt_ack_ns: h.rtt_ack_ns,
            ..TcpHealth::default()
        }
    );
}

#[test]
fn data_already_acknowledged_is_a_spurious_retransmission() {
    let h = with_handshake(&[
        (AB, 100_000, ACK | PSH, 1001, 5001, 100, 502),
        (AB, 100_100, ACK | PSH, 1101, 5001, 100, 502),
        (BA, 100_200, ACK, 5001, 1201, 0, 509),
        (AB, 100_300, ACK | PSH, 1001, 5001, 100, 502), // within the RTT, yet acked
    ]);
    assert_eq!((h.retrans, h.out_of_order), ([1, 0], [0, 0]));
}

#[test]
fn sequence_numbers_wrap() {
    let isn = u32::MAX - 150;
    let h = run(&[
        (AB, 0, SYN, isn, 0, 0, 1000),
        (BA, 1_000, SYN | ACK, 7, isn.wrapping_add(1), 0, 1000),
        (AB, 2_000, ACK, isn.wrapping_add(1), 8, 0, 1000),
        (AB, 3_000, ACK, isn.wrapping_add(101), 8, 100, 1000), // crosses 2^32
        (AB, 3_500, ACK, isn.wrapping_add(1), 8, 100, 1000),
        (AB, 900_000, ACK, isn.wrapping_add(101), 8, 100, 1000),
    ]);
    assert_eq!((h.out_of_order, h.retrans), ([1, 0], [1, 0]));
}

#[test]
fn a_new_connection_on_reused_ports_starts_afresh() {
    let h = with_handshake(&[
        (AB, 100_000, ACK | FIN, 1001, 5001, 0, 502),
        (BA, 100_500, ACK | FIN, 5001, 1002, 0, 509),
        (AB, 101_000, ACK, 1002, 5002, 0, 502),
        // Same ports, ISN far behind the old one's.
        (AB, 2_000_000, SYN, 10, 0, 0, 64240),
        (BA, 2_004_000, SYN | ACK, 90, 11, 0, 65160),
        (AB, 2_010_000, ACK, 11, 91, 0, 502),
        (AB, 2_020_000, ACK | PSH, 11, 91, 100, 502),
    ]);
    assert_eq!((h.retrans, h.out_of_order), ([0, 0], [0, 0]));
    assert_eq!(
        h.rtt_syn_ns,
        Some(4 * MS),
        "the record keeps its first handshake"
    );
}

#[test]
fn the_tracker_stays_small() {
    assert_eq!(std::mem::size_of::<TcpTracker>(), 128);
}
