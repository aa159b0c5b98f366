//! The BPF atomic instructions the flow table needs to claim and publish a slot (a new
//! flow's frame only; counters take plain adds, one writer per region), spelled in
//! assembly: the bpfel target offers no `AtomicU64` read-modify-write operations. Off
//! the BPF target (unit tests, `cargo check` on the host) each is the plain operation.

/// `*p` becomes `new` if it is `old`; returns what `*p` was (BPF atomic
/// compare-and-exchange, Linux 5.12: a full barrier).
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value.
#[inline(always)]
pub unsafe fn atomic_cmpxchg(p: *mut u64, old: u64, new: u64) -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        let mut r0 = old;
        // SAFETY: the caller's contract; the instruction touches only `*p`.
        unsafe {
            core::arch::asm!(
                "r0 = cmpxchg_64({p} + 0, r0, {new})",
                p = in(reg) p,
                new = in(reg) new,
                inout("r0") r0,
            );
        }
        r0
    }
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: the caller's contract.
    unsafe {
        let was = *p;
        if was == old {
            *p = new;
        }
        was
    }
}

/// `*p = v` as an atomic exchange (Linux 5.12): a full barrier, so every store before
/// it is visible before `v` is.
///
/// # Safety
/// `p` points at a live, 8-byte aligned u64 in a map value.
#[inline(always)]
pub unsafe fn atomic_publish(p: *mut u64, mut v: u64) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: the caller's contract; the instruction touches only `*p`.
    unsafe {
        core::arch::asm!("{v} = xchg_64({p} + 0, {v})", p = in(reg) p, v = inout(reg) v);
    }
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: the caller's contract.
    unsafe {
        *p = v;
    }
    let _ = v;
}
