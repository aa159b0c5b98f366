use std::time::{Duration, Instant};

use super::{Move, Policy, HOLD_OFF, MIN_RATE, WINDOW};

/// Bytes for a window at `rate` bytes a second.
fn at(rate: f64) -> u64 {
    (rate * WINDOW.as_secs_f64()) as u64
}

#[test]
fn one_cpu_carrying_the_traffic_is_followed_and_let_go_when_it_stops() {
    let mut p = Policy::default();
    let t0 = Instant::now();
    // The first window only learns the positions.
    assert_eq!(p.decide(&[(0, 0), (1, 0)], 0, WINDOW, t0), Move::Stay);
    let busy = at(MIN_RATE * 4.0);
    assert_eq!(
        p.decide(&[(0, busy), (1, 10)], 0, WINDOW, t0),
        Move::PinTo(0)
    );
    assert_eq!(
        p.decide(&[(0, 2 * busy), (1, 20)], 0, WINDOW, t0),
        Move::Stay
    );
    // The traffic moves to CPU 1.
    assert_eq!(
        p.decide(&[(0, 2 * busy), (1, busy)], 0, WINDOW, t0),
        Move::PinTo(1)
    );
    // Stopped: let go.
    assert_eq!(
        p.decide(&[(0, 2 * busy), (1, busy)], 0, WINDOW, t0),
        Move::Release
    );
    assert_eq!(
        p.decide(&[(0, 2 * busy), (1, busy)], 0, WINDOW, t0),
        Move::Stay
    );
    assert_eq!(p.pinned, None);
}

#[test]
fn spread_traffic_or_a_trickle_is_not_followed() {
    let mut p = Policy::default();
    let t0 = Instant::now();
    p.decide(&[(0, 0), (1, 0)], 0, WINDOW, t0);
    let busy = at(MIN_RATE * 4.0);
    // 80 % from one CPU: not enough.
    assert_eq!(
        p.decide(&[(0, busy * 8 / 10), (1, busy * 2 / 10)], 0, WINDOW, t0),
        Move::Stay
    );
    // All from one CPU, below the rate.
    let slow = at(MIN_RATE / 2.0);
    assert_eq!(
        p.decide(
            &[(0, busy * 8 / 10 + slow), (1, busy * 2 / 10)],
            0,
            WINDOW,
            t0
        ),
        Move::Stay
    );
    // One ring only (one CPU): nothing to choose.
    let mut one = Policy::default();
    one.decide(&[(0, 0)], 0, WINDOW, t0);
    assert_eq!(one.decide(&[(0, busy)], 0, WINDOW, t0), Move::Stay);
}

#[test]
fn rings_overflowing_while_pinned_let_the_reader_go_for_a_while() {
    let mut p = Policy::default();
    let t0 = Instant::now();
    p.decide(&[(0, 0), (1, 0)], 0, WINDOW, t0);
    let busy = at(MIN_RATE * 4.0);
    assert_eq!(
        p.decide(&[(0, busy), (1, 0)], 0, WINDOW, t0),
        Move::PinTo(0)
    );
    // Losses while pinned: let go, and stay unpinned through the hold-off.
    assert_eq!(
        p.decide(&[(0, 2 * busy), (1, 0)], 5, WINDOW, t0),
        Move::Release
    );
    let later = t0 + HOLD_OFF / 2;
    assert_eq!(
        p.decide(&[(0, 3 * busy), (1, 0)], 5, WINDOW, later),
        Move::Stay
    );
    // Losses while not pinned do not start a hold-off.
    let after = t0 + HOLD_OFF + Duration::from_secs(1);
    assert_eq!(
        p.decide(&[(0, 4 * busy), (1, 0)], 5, WINDOW, after),
        Move::PinTo(0)
    );
}
