//! The writer with two fanout streams whose frames interleave finely (short merged
//! stretches, as a live capture's two CPUs give): `-l` writes what is ready once per
//! wake-up, in order, the same bytes as without `-l`, and a line reaches stdout
//! without waiting for more traffic.
use std::{
    io::{IoSlice, Write},
    os::fd::BorrowedFd,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::{
    capture::{CaptureCounters, Error, Fill, Source},
    output::Format,
    packet::{Direction, Frame, FrameMeta, LinkType},
    pipeline::{fanout, Pipeline, PipelineConfig},
    stop::{End, Stop},
};

/// A 64-byte UDP/IPv4 frame whose source port is `n`.
fn frame(n: u16) -> [u8; 64] {
    let mut f = [0u8; 64];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 250, 0, 2]);
    f[30..34].copy_from_slice(&[10, 250, 0, 1]);
    f[34..36].copy_from_slice(&n.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&30u16.to_be_bytes());
    f
}

/// One CPU's ring: its frames in time order. Once it has handed out everything it may
/// `release` more (see [`prompt`]); the last of the rings sharing `drained` to run dry
/// stops the run.
struct Ring {
    frames: Vec<(u64, [u8; 64])>,
    next: usize,
    /// Frames it may hand out so far.
    released: Arc<AtomicUsize>,
    drained: Option<(Arc<AtomicUsize>, Stop)>,
}

impl Source for Ring {
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        let until = self.released.load(Ordering::Acquire).min(self.frames.len());
        if self.next >= self.frames.len() {
            if let Some((left, stop)) = self.drained.take() {
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    stop.stop(End::Signal);
                }
            }
        }
        if self.next >= until {
            // Nothing ready: a live reader would wait for its descriptor.
            std::thread::sleep(Duration::from_millis(1));
        }
        while let Some((ts, data)) = self.frames.get(self.next).filter(|_| self.next < until) {
            self.next += 1;
            let meta = FrameMeta {
                ts_ns: *ts,
                orig_len: 64,
                ifindex: 1,
                direction: Direction::In,
                link: LinkType::Ethernet,
                iface: 0,
                drops: 0,
            };
            if !f(&Frame { meta, data }) {
                break;
            }
        }
        Ok(Fill::Some)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn counters(&self) -> CaptureCounters {
        CaptureCounters::default()
    }
}

/// Stdout as the writer sees it: the bytes, and how many slices write calls brought
/// them in.
#[derive(Clone, Default)]
struct Out(Arc<Mutex<(Vec<u8>, usize)>>);

impl Out {
    fn take(&self) -> (Vec<u8>, usize) {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }

    fn lines(&self) -> usize {
        let got = self.0.lock().expect("not poisoned");
        got.0.iter().filter(|&&b| b == b'\n').count()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let mut got = self.0.lock().expect("not poisoned");
        got.1 += bufs.iter().filter(|b| !b.is_empty()).count();
        for b in bufs {
            got.0.extend_from_slice(b);
        }
        Ok(bufs.iter().map(|b| b.len()).sum())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn config(out: &Out, line_buffered: bool, stop: &Stop) -> PipelineConfig {
    PipelineConfig {
        workers: 2,
        format: Format::Line,
        text: Default::default(),
        flows: false,
        flow_cfg: Default::default(),
        flow_export: None,
        wall_clock: false,
        text_out: Some(Box::new(out.clone())),
        text_buffer: 1 << 20,
        line_buffered,
        pcap: None,
        stop: stop.clone(),
        interfaces: Default::default(),
    }
}

fn start(rings: Vec<Ring>, out: &Out, line_buffered: bool, stop: &Stop) -> Pipeline {
    let sources = rings
        .into_iter()
        .map(|r| Box::new(r) as Box<dyn Source>)
        .collect();
    let shared = Arc::new(fanout::Shared::default());
    Pipeline::start_fanout(config(out, line_buffered, stop), sources, shared)
}

/// The source port of each `-F line` line ("... 10.250.0.2.PORT > ...").
fn ports(text: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| {
            let at = l.find("10.250.0.2.").expect("the source address") + 11;
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("a port")
        })
        .collect()
}

/// `n` frames, 700 ns apart, dealt to two rings in bursts of mostly 1 to 3 frames and
/// now and then 40 (long stretches, written from the workers' buffers); returns the
/// rings and the number of bursts.
fn dealt(n: usize, released: &Arc<AtomicUsize>, stop: &Stop) -> (Vec<Ring>, usize) {
    let left = Arc::new(AtomicUsize::new(2));
    let mut rings: Vec<Ring> = (0..2)
        .map(|_| Ring {
            frames: Vec::new(),
            next: 0,
            released: released.clone(),
            drained: Some((left.clone(), stop.clone())),
        })
        .collect();
    let (mut i, mut bursts, mut seed) = (0, 0, 0x9e37_79b9_u32);
    while i < n {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = if seed % 50 == 0 {
            40
        } else {
            1 + seed as usize % 3
        };
        for k in i..(i + len).min(n) {
            let ts = 1_700_000_000_000_000_000 + k as u64 * 700;
            rings[bursts % 2].frames.push((ts, frame(k as u16)));
        }
        i += len;
        bursts += 1;
    }
    (rings, bursts)
}

#[test]
fn line_buffered_output_of_short_stretches_is_in_order_and_in_few_slices() {
    const FRAMES: usize = 30_000;
    let run = |line_buffered: bool| {
        let stop = Stop::default();
        let released = Arc::new(AtomicUsize::new(usize::MAX));
        let (rings, bursts) = dealt(FRAMES, &released, &stop);
        let out = Out::default();
        let done = start(rings, &out, line_buffered, &stop).finish();
        assert_eq!(done.written, FRAMES as u64);
        let (text, slices) = out.take();
        (text, slices, bursts)
    };
    let (text, slices, bursts) = run(true);
    let want: Vec<u16> = (0..FRAMES as u16).collect();
    assert_eq!(ports(&text), want, "every frame once, in time order");
    // Short stretches that follow one another are one slice of a write, not one each.
    assert!(
        slices * 20 < bursts,
        "{slices} slices written for {bursts} stretches with -l"
    );
    let (plain, ..) = run(false);
    assert!(plain == text, "-l writes the same bytes as without it");
}

#[test]
fn with_line_buffering_a_line_reaches_stdout_without_more_traffic() {
    let stop = Stop::default();
    let released = Arc::new(AtomicUsize::new(0));
    let now = crate::capture::realtime_ns();
    let mut rings: Vec<Ring> = (0..2)
        .map(|_| Ring {
            frames: Vec::new(),
            next: 0,
            released: released.clone(),
            drained: None,
        })
        .collect();
    for k in 0..40u16 {
        rings[usize::from(k) % 2]
            .frames
            .push((now + u64::from(k) * 1000, frame(k)));
    }
    let out = Out::default();
    let pipeline = start(rings, &out, true, &stop);
    // The first 10 frames of each ring, then nothing more until the lines are out.
    released.store(10, Ordering::Release);
    let waited = Instant::now();
    let mut arrived = false;
    while !arrived && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
        arrived = out.lines() == 20;
    }
    released.store(usize::MAX, Ordering::Release);
    stop.stop(End::Signal);
    let done = pipeline.finish();
    assert!(
        arrived,
        "the lines of the frames so far reach stdout while no more come"
    );
    // Each frame once (their order against the workers' clock-made watermarks is the
    // other test's subject).
    let (text, _) = out.take();
    let mut got = ports(&text);
    got.sort_unstable();
    assert_eq!(got, (0..40).collect::<Vec<u16>>());
    assert_eq!(done.written, 40);
}
