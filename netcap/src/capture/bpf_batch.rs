//! Batched reads and deletes of the in-kernel flow map through raw `bpf(2)`
//! (`BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_DELETE_BATCH`, Linux 5.6), which aya 0.14 does not
//! offer: one system call per [`CHUNK`] entries instead of one per entry, so a scan of
//! 100,000 flows is a few dozen calls. This file is one of the capture module's unsafe
//! doors: the two system calls, each with its SAFETY line.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

use netcap_common::{FlowKeyAbi, FlowValueAbi};

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_DELETE_BATCH: libc::c_long = 27;

/// Entries per call. A hash map's batch stops at bucket boundaries and needs room for
/// a whole bucket (ENOSPC otherwise); buckets hold a handful of entries.
const CHUNK: usize = 4096;

/// The `batch` member of `union bpf_attr` (include/uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

fn bpf(cmd: libc::c_long, attr: &mut BatchAttr) -> io::Result<()> {
    // SAFETY: `attr` is a fully initialised `BatchAttr`, the layout the kernel expects
    // for the batch commands, and its size is passed with it; the buffers its pointers
    // name (set by the callers below) are live, writable and hold at least `count`
    // keys and `count * cpus` values, which is all the kernel writes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr).cast::<libc::c_void>(),
            std::mem::size_of::<BatchAttr>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Every entry of the hash map `fd`: its key and its values, `cpus` of them for a
/// per-CPU map (one per possible CPU, as the kernel lays per-CPU values out: each
/// rounded up to 8 bytes, which `FlowValueAbi`'s 88 already is), 1 for a global one.
pub fn lookup_all(
    fd: BorrowedFd<'_>,
    cpus: usize,
) -> io::Result<Vec<(FlowKeyAbi, Vec<FlowValueAbi>)>> {
    const _: () = assert!(std::mem::size_of::<FlowValueAbi>().is_multiple_of(8));
    let cpus = cpus.max(1);
    let mut keys = vec![FlowKeyAbi::default(); CHUNK];
    let mut values = vec![FlowValueAbi::default(); CHUNK * cpus];
    let (mut token, mut next) = (0u32, 0u32);
    let mut out = Vec::new();
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                std::ptr::from_ref(&token) as u64
            },
            out_batch: std::ptr::from_mut(&mut next) as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: CHUNK as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        let r = bpf(BPF_MAP_LOOKUP_BATCH, &mut attr);
        let n = (attr.count as usize).min(CHUNK);
        for (i, key) in keys.iter().take(n).enumerate() {
            out.push((*key, values[i * cpus..(i + 1) * cpus].to_vec()));
        }
        match r {
            Ok(()) => {
                token = next;
                first = false;
            }
            // The end of the map.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// Deletes `keys` from the map `fd`; returns how many were deleted (a key that is gone
/// already ends the batch early, and the rest are deleted one call at a time).
pub fn delete(fd: BorrowedFd<'_>, keys: &[FlowKeyAbi]) -> usize {
    let mut done = 0;
    let mut rest = keys;
    while !rest.is_empty() {
        let take = rest.len().min(CHUNK);
        let mut attr = BatchAttr {
            keys: rest.as_ptr() as u64,
            count: take as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        let r = bpf(BPF_MAP_DELETE_BATCH, &mut attr);
        let n = (attr.count as usize).min(take);
        done += n;
        // On an error the kernel says how many it deleted; skip the one that failed.
        let skip = if r.is_ok() { n } else { n + 1 };
        rest = rest.get(skip..).unwrap_or(&[]);
    }
    done
}
