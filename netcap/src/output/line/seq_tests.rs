//! Unit tests of `output/line/seq.rs`.
use super::*;

/// Prints `seq S[:E], ack A` for each segment as a worker would (absolute, noted),
/// then resolves the lines in order as the writer does.
fn run(segments: &[(bool, bool, u32, u32, u32)]) -> Vec<String> {
    let mut d = Deferred::default();
    let mut text = Vec::new();
    let mut ends = Vec::new();
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    for &(fwd, syn, seq, ack, len) in segments {
        let at = text.len();
        let (src, dst, sp, dp) = if fwd {
            (a, b, 1000, 80)
        } else {
            (b, a, 80, 1000)
        };
        text.extend_from_slice(b"seq ");
        let s = text.len();
        push_u64(&mut text, seq.into());
        d.num(s, text.len(), seq, Kind::Seq);
        if len > 0 {
            text.push(b':');
            let s = text.len();
            push_u64(&mut text, seq.wrapping_add(len).into());
            d.num(s, text.len(), seq.wrapping_add(len), Kind::Seq);
        }
        text.extend_from_slice(b", ack ");
        let s = text.len();
        push_u64(&mut text, ack.into());
        d.num(s, text.len(), ack, Kind::Ack);
        let (key, rev) = ConnKey::new(&src, &dst, sp, dp);
        d.line(at, key, rev, syn, seq, ack);
        ends.push(text.len());
    }
    let ends: Vec<u32> = ends.iter().map(|&e| e as u32).collect();
    let batch = BatchText {
        text: &text,
        ends: &ends,
    };
    // Once as one batch, once frame by frame (as the fanout writer does): the same.
    let (mut out, mut out_ends) = (Vec::new(), Vec::new());
    Bases::default().resolve(batch, 0..ends.len(), &d, &mut out, &mut out_ends);
    let mut bases = Bases::default();
    let mut one_by_one = Vec::new();
    for i in 0..ends.len() {
        let mut e = Vec::new();
        bases.resolve(batch, i..i + 1, &d, &mut one_by_one, &mut e);
        assert_eq!(e, [one_by_one.len() as u32]);
    }
    assert_eq!(out, one_by_one);
    let mut start = 0;
    out_ends
        .iter()
        .map(|&e| {
            let line = String::from_utf8(out[start..e as usize].to_vec()).expect("ascii");
            start = e as usize;
            line
        })
        .collect()
}

#[test]
fn handshake_then_data_both_ways() {
    let got = run(&[
        (false, true, 5000, 1001, 0),
        (true, false, 1001, 5001, 0),
        (true, false, 1001, 5001, 10),
        (false, false, 5001, 1011, 20),
        (true, false, 1011, 5021, 0),
    ]);
    assert_eq!(
        got,
        [
            "seq 5000, ack 1001",
            "seq 1, ack 1",
            "seq 1:11, ack 1",
            "seq 1:21, ack 11",
            "seq 11, ack 21",
        ]
    );
}

#[test]
fn joined_midway_and_wrapping() {
    let got = run(&[
        (true, false, u32::MAX - 4, 7, 10),
        (false, false, 7, 5, 0),
        (true, true, 100, 200, 0),
        (true, false, 101, 201, 0),
    ]);
    assert_eq!(
        got,
        [
            "seq 4294967291:5, ack 7",
            "seq 1, ack 10",
            "seq 100, ack 200",
            "seq 1, ack 2",
        ]
    );
}

#[test]
fn keys_are_direction_free() {
    let (k1, r1) = ConnKey::new(&[1, 1, 1, 1], &[2, 2, 2, 2], 80, 1000);
    let (k2, r2) = ConnKey::new(&[2, 2, 2, 2], &[1, 1, 1, 1], 1000, 80);
    assert_eq!((k1, r1, r2), (k2, false, true));
    let (k3, r3) = ConnKey::new(&[2, 2, 2, 2], &[1, 1, 1, 1], 7, 7);
    assert!(r3);
    assert_ne!(k3, k1);
}
