//! Software prefetch of the records a ring reader is about to read.
//!
//! Both live rings (AF_PACKET's blocks, the eBPF backends' per-CPU rings) hold records
//! that the kernel wrote on another CPU, in 4 KiB pages of a mapping of several MiB.
//! A reader that only looks at each record's header (`-F none`, which counts frames
//! and bytes) stalls on every header: a cache line to fetch from the other CPU and,
//! once records are large, a TLB miss every few records (a 1500-byte frame every 2.7
//! records, a two-dimensional page walk in a VM). The hardware prefetcher does not
//! help: it follows a stream within a page, and one header per 1.5 KiB is not one.
//!
//! So the readers ask for the header [`AHEAD`] records on, guessed from the size of
//! the record just read (exact when the frames have one size, as at a blast's full
//! rate; a wrong guess costs one useless prefetch). A prefetch also walks the page
//! tables, so the TLB miss is taken ahead too.
//!
//! How [`AHEAD`] was chosen (`docs/bench/capture-userspace.md`): the capture process's
//! CPU per frame with AF_PACKET `-F none` over blasts of 1,000,000 frames, prefetching
//! 1 (before), 8, 16 and 32 records on: 16 was the lowest or within the noise of the
//! lowest at 64, 512 and 1500 B; 32 was no better at 1500 B.

/// Records ahead of the one being read whose header is prefetched.
pub const AHEAD: usize = 16;

/// Asks the CPU to start loading the cache line holding `p`. A hint only: nothing is
/// read into the program, and any address is allowed (a prefetch never faults).
#[inline(always)]
pub fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing into the program and never faults, whatever
        // the address; SSE is part of x86_64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
