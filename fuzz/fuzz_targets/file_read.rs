//! Read arbitrary bytes as a capture file (pcap or pcapng, chosen by the magic, as
//! `netcap read` does) until the reader says the file ended. Nothing may panic, every
//! frame must hold at most the largest record, and the reader must end: a file of
//! empty records or bad lengths may not make it loop or grow without bound.
//!
//! A crash found here becomes a unit test next to the code it broke.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcap::capture::{pcap_file::FileSource, Fill, Source};
use netcap::packet::Batch;

fuzz_target!(|data: &[u8]| {
    let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut src) = FileSource::from_reader("fuzz".into(), input) else {
        return;
    };
    // Each fill takes at least a block header (8 bytes) of input or ends the file.
    for _ in 0..=data.len() / 8 + 1 {
        let mut batch = Batch::default();
        let Ok(fill) = src.fill(&mut batch, 1 << 16) else {
            return;
        };
        for frame in batch.iter() {
            assert!(frame.data.len() <= 16 << 20);
        }
        if fill == Fill::End {
            return;
        }
    }
    panic!("the reader did not end");
});
