//! Flow records leave while the capture runs: the workers send what their shards
//! retired (timeouts, a full table) about once a second, and at the end the pipeline
//! sends the flows still open; one exporter thread hands them to every [`FlowSink`]
//! (`--flows-json`, IPFIX) and keeps the largest for the `--flows` table.
//!
//! Backpressure: the channel holds [`QUEUE`] batches of records; a worker whose send
//! would block waits, as it waits for the writer, so no record is lost to a slow sink
//! (the capture's own queue counts what that costs). A sink that fails is reported once
//! and dropped; the others and the capture go on.
use std::io::{self, Write};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::flow::Flow;

/// Batches of records in flight to the exporter: a worker sends at most one a second
/// per shard in quiet times, one per capture batch in a flood of new flows.
const QUEUE: usize = 64;

/// A destination for flow records as they end.
pub trait FlowSink: Send {
    /// What to call it in messages (`--flows-json FILE`, `IPFIX to HOST:PORT`).
    fn name(&self) -> String;
    /// Takes records that ended; may buffer them.
    fn write(&mut self, flows: &[Flow]) -> io::Result<()>;
    /// Sends or writes what is buffered (called after each batch of records).
    fn flush(&mut self) -> io::Result<()>;
    /// After the last record: flush, and anything the format ends with.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// `--flows-json`: one JSON object per record ([`crate::flow::write_json_lines`]).
pub struct JsonLines<W: Write + Send> {
    name: String,
    out: io::BufWriter<W>,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(name: String, out: W) -> Self {
        Self {
            name,
            out: io::BufWriter::with_capacity(256 * 1024, out),
        }
    }
}

impl<W: Write + Send> FlowSink for JsonLines<W> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, flows: &[Flow]) -> io::Result<()> {
        crate::flow::write_json_lines(&mut self.out, flows)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// What the exporter did.
#[derive(Debug, Default)]
pub struct Exported {
    /// The records with the most bytes, at most the `keep` the exporter was started
    /// with, unordered.
    pub top: Vec<Flow>,
    /// Every record the exporter was handed.
    pub records: u64,
    /// One line per sink that failed (the sink was dropped then).
    pub errors: Vec<String>,
}

/// The exporter thread and its channel.
pub struct Exporter {
    tx: Sender<Vec<Flow>>,
    thread: std::thread::JoinHandle<Exported>,
}

impl Exporter {
    /// Starts the thread; `keep` is how many of the largest records to keep for the
    /// `--flows` table (0 for none).
    pub fn start(sinks: Vec<Box<dyn FlowSink>>, keep: usize) -> io::Result<Self> {
        let (tx, rx) = bounded(QUEUE);
        let thread = std::thread::Builder::new()
            .name("netcap-flows".into())
            .spawn(move || export(&rx, sinks, keep))?;
        Ok(Self { tx, thread })
    }

    /// A sender for a worker.
    pub fn sender(&self) -> Sender<Vec<Flow>> {
        self.tx.clone()
    }

    /// Sends the last records, waits for every sink to finish and returns the account.
    pub fn finish(self, last: Vec<Flow>) -> Exported {
        let Self { tx, thread } = self;
        if !last.is_empty() {
            let _ = tx.send(last);
        }
        drop(tx);
        thread.join().unwrap_or_else(|_| Exported {
            errors: vec!["the flow exporter thread panicked".into()],
            ..Exported::default()
        })
    }
}

fn export(rx: &Receiver<Vec<Flow>>, mut sinks: Vec<Box<dyn FlowSink>>, keep: usize) -> Exported {
    let mut done = Exported::default();
    let fail = |sink: &dyn FlowSink, e: io::Error, errors: &mut Vec<String>| {
        errors.push(format!("{}: {e}; no more records go there", sink.name()));
    };
    while let Ok(flows) = rx.recv() {
        done.records += flows.len() as u64;
        let mut i = 0;
        while i < sinks.len() {
            let r = sinks[i].write(&flows).and_then(|()| sinks[i].flush());
            match r {
                Ok(()) => i += 1,
                Err(e) => {
                    let sink = sinks.remove(i);
                    fail(sink.as_ref(), e, &mut done.errors);
                }
            }
        }
        if keep > 0 {
            done.top.extend_from_slice(&flows);
            if done.top.len() > 4 * keep {
                largest_first(&mut done.top);
                done.top.truncate(keep);
            }
        }
    }
    for mut sink in sinks {
        if let Err(e) = sink.finish() {
            fail(sink.as_ref(), e, &mut done.errors);
        }
    }
    largest_first(&mut done.top);
    done.top.truncate(keep);
    done
}

/// The order of the `--flows` table: most bytes, then most packets, then oldest.
pub fn largest_first(flows: &mut [Flow]) {
    flows.sort_by(|x, y| {
        (y.bytes(), y.packets())
            .cmp(&(x.bytes(), x.packets()))
            .then(x.first_ns.cmp(&y.first_ns))
    });
}
