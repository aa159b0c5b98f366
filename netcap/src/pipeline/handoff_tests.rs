//! The hand-off of batches to worker queues ([`super::hand_on_to`]), on real channels:
//! which queue takes a batch, and what happens when queues are full or their worker
//! is gone.
use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::{hand_on_to, Handed, Job, Wait};
use crate::packet::Batch;

fn job(seq: u64) -> Job {
    Job::Batch(seq, Arc::new(Batch::with_capacity(64, 1)))
}

/// A queue of one slot, already full.
fn full_queue() -> (Sender<Job>, Receiver<Job>) {
    let (tx, rx) = bounded(1);
    tx.try_send(job(0)).expect("an empty queue takes one job");
    (tx, rx)
}

/// A queue whose worker is gone.
fn dead_queue() -> Sender<Job> {
    bounded(1).0
}

#[test]
fn the_next_queue_with_room_takes_the_batch() {
    let (a, _ra) = bounded(1);
    let (b, _rb) = bounded(1);
    let jobs = [a, b];
    assert!(matches!(
        hand_on_to(&jobs, 1, job(1), Wait::No),
        Handed::To(1)
    ));
    // Queue 1 is full now: from 1, round robin comes to 0.
    assert!(matches!(
        hand_on_to(&jobs, 1, job(2), Wait::No),
        Handed::To(0)
    ));
    assert!(matches!(
        hand_on_to(&jobs, 0, job(3), Wait::No),
        Handed::Back(_)
    ));
}

#[test]
fn a_dead_worker_is_passed_over_and_a_full_live_one_waited_for() {
    let (live, rx) = full_queue();
    // The dead queue comes first in turn: it must not be the one waited on (it would
    // fail at once, and the batch be dropped with a live worker about to take it).
    let jobs = [dead_queue(), live];
    let t0 = Instant::now();
    let wait = Duration::from_millis(30);
    assert!(matches!(
        hand_on_to(&jobs, 0, job(1), Wait::For(wait)),
        Handed::Back(_)
    ));
    assert!(t0.elapsed() >= wait, "it did not wait for the live worker");
    // The live worker takes a job during the wait: the batch goes to it.
    let taker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let first = rx.recv();
        (first.is_ok(), rx)
    });
    assert!(matches!(
        hand_on_to(&jobs, 0, job(2), Wait::For(Duration::from_secs(10))),
        Handed::To(1)
    ));
    let (took, _rx) = taker.join().expect("taker thread");
    assert!(took);
}

#[test]
fn with_every_worker_gone_the_batch_is_not_waited_for() {
    let jobs = [dead_queue(), dead_queue()];
    for wait in [Wait::No, Wait::For(Duration::from_secs(10)), Wait::Forever] {
        assert!(matches!(hand_on_to(&jobs, 1, job(1), wait), Handed::Gone));
    }
}

#[test]
fn a_worker_that_dies_during_the_wait_leaves_the_batch_to_the_others() {
    let (first, r0) = full_queue();
    let (second, r1) = full_queue();
    let jobs = [first, second];
    // The wait is on queue 0 (the first full one from 0); its worker goes away, then
    // worker 1 takes a job: the batch must go to worker 1, not be dropped.
    let other = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(r0);
        thread::sleep(Duration::from_millis(30));
        let first = r1.recv();
        (first.is_ok(), r1)
    });
    assert!(matches!(
        hand_on_to(&jobs, 0, job(1), Wait::Forever),
        Handed::To(1)
    ));
    let (took, r1) = other.join().expect("worker thread");
    assert!(took);
    assert!(matches!(r1.try_recv(), Ok(Job::Batch(1, _))));
}
