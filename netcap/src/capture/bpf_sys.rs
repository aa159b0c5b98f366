//! Raw `bpf(2)` calls aya has no API for: loading eBPF instructions netcap generated
//! itself (the native filter, `filter/ebpf`), running a program on a buffer
//! (`BPF_PROG_TEST_RUN`), putting a program into a program array, creating a plain
//! array, hash or array-of-maps map and filling it (for the kernel bench's memory
//! floors), and turning on and reading programs' run-time statistics.
//!
//! Each `bpf_attr` variant is a `#[repr(C)]` struct with the kernel's field order and
//! trailing zero padding; the kernel takes the size passed and requires every byte
//! past the fields it knows to be zero.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use crate::filter::ebpf::insn::Insn;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ENABLE_STATS: libc::c_long = 32;

const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`: `BPF_XDP`, the type aya gives its XDP programs. A program
/// array takes only programs whose attach type matches its first user's (Linux 6.16).
const BPF_XDP: u32 = 37;
/// `BPF_F_XDP_HAS_FRAGS` (Linux 5.18): the program handles multi-buffer frames.
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// `XDP_FLAGS_SKB_MODE`: generic XDP.
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `enum bpf_attach_type`: `BPF_TCX_INGRESS` (Linux 6.6).
const BPF_TCX_INGRESS: u32 = 46;
/// `BPF_F_BEFORE`: with no anchor, first in a tcx chain.
const BPF_F_BEFORE: u32 = 1 << 3;

/// The program type (and flags) of a generated program; a tail call's target must
/// match its caller in all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgKind {
    /// XDP with `frags`, like `netcap_xdp`.
    Xdp,
    /// `SCHED_CLS` (tcx), like `netcap_tc`.
    Tc,
}

/// Why the kernel refused a program: the errno and the verifier's last lines.
#[derive(Debug, thiserror::Error)]
#[error("BPF_PROG_LOAD: {errno}; verifier: {log}")]
pub struct LoadError {
    pub errno: io::Error,
    pub log: String,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _rest: [u64; 8],
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` bpf_attr variant of
    // size_of::<T>() bytes; the kernel reads and writes only within that size. The
    // addresses inside it (instructions, license, log, data, key, value, info) come
    // from borrows the caller holds across this call, each with the length given
    // beside it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("file descriptor out of range"))?;
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads `insns` as a GPL program named `name` (at most 15 bytes are kept). On refusal
/// loads again with the verifier log on, to say why.
pub fn prog_load(kind: ProgKind, insns: &[Insn], name: &str) -> Result<OwnedFd, LoadError> {
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        insn_cnt: u32::try_from(insns.len()).unwrap_or(u32::MAX),
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    match kind {
        ProgKind::Xdp => {
            attr.prog_type = BPF_PROG_TYPE_XDP;
            attr.expected_attach_type = BPF_XDP;
            attr.prog_flags = BPF_F_XDP_HAS_FRAGS;
        }
        ProgKind::Tc => attr.prog_type = BPF_PROG_TYPE_SCHED_CLS,
    }
    for (dst, src) in attr.prog_name.iter_mut().zip(name.bytes().take(15)) {
        *dst = src;
    }
    let errno = match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => {
            return owned(fd).map_err(|errno| LoadError {
                errno,
                log: String::new(),
            })
        }
        Err(e) => e,
    };
    let mut log = vec![0u8; 1 << 20];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    if let Ok(fd) = sys_bpf(BPF_PROG_LOAD, &mut attr) {
        // Accepted the second time (a transient failure): keep it.
        return owned(fd).map_err(|errno| LoadError {
            errno,
            log: String::new(),
        });
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(4)..].join(" | ");
    Err(LoadError { errno, log: tail })
}

#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    _rest: [u64; 8],
}

/// What one `BPF_PROG_TEST_RUN` returned.
#[derive(Clone, Copy, Debug)]
pub struct TestRun {
    pub retval: u32,
    /// Average nanoseconds per run.
    pub duration_ns: u32,
}

/// Runs `prog` `repeat` times on a copy of `data` (XDP: at least 14 bytes).
pub fn test_run(prog: BorrowedFd<'_>, data: &[u8], repeat: u32) -> io::Result<TestRun> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: data.len() as u32,
        data_in: data.as_ptr() as u64,
        repeat,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(TestRun {
        retval: attr.retval,
        duration_ns: attr.duration,
    })
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    _rest: [u64; 12],
}

/// `BPF_MAP_TYPE_HASH`.
const BPF_MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_ARRAY`.
const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// `BPF_F_NO_PREALLOC`: a hash map allocates each element when it is inserted.
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
/// `BPF_F_MMAPABLE`: an array user space can mmap (vmalloc'ed in pages).
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

fn map_create(attr: MapCreateAttr) -> io::Result<OwnedFd> {
    let mut attr = attr;
    owned(sys_bpf(BPF_MAP_CREATE, &mut attr)?)
}

/// A new array map of `entries` values of `value_size` bytes each (zeroed), keyed by
/// a u32 index.
pub fn array_map_create(value_size: u32, entries: u32) -> io::Result<OwnedFd> {
    array_map_create_flags(value_size, entries, 0)
}

/// [`array_map_create`] with `map_flags` (e.g. [`BPF_F_MMAPABLE`]).
pub fn array_map_create_flags(value_size: u32, entries: u32, flags: u32) -> io::Result<OwnedFd> {
    map_create(MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size,
        max_entries: entries,
        map_flags: flags,
        ..Default::default()
    })
}

/// A new array of `entries` maps, each shaped like `inner` (a map of the same type and
/// sizes), keyed by a u32 index; every entry empty until [`map_update`] fills it with
/// a map's descriptor.
pub fn array_of_maps_create(inner: BorrowedFd<'_>, entries: u32) -> io::Result<OwnedFd> {
    map_create(MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY_OF_MAPS,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        inner_map_fd: inner.as_raw_fd() as u32,
        ..Default::default()
    })
}

/// A new hash map of at most `entries` elements with u32 keys and `value_size`-byte
/// values.
pub fn hash_map_create(value_size: u32, entries: u32, flags: u32) -> io::Result<OwnedFd> {
    map_create(MapCreateAttr {
        map_type: BPF_MAP_TYPE_HASH,
        key_size: 4,
        value_size,
        max_entries: entries,
        map_flags: flags,
        ..Default::default()
    })
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
    _rest: [u64; 4],
}

/// `map[index] = prog` for a `BPF_MAP_TYPE_PROG_ARRAY`.
pub fn prog_array_set(map: BorrowedFd<'_>, index: u32, prog: BorrowedFd<'_>) -> io::Result<()> {
    let value: u32 = prog.as_raw_fd() as u32;
    map_update(map, index, &value.to_ne_bytes())
}

/// `map[key] = value` (`BPF_ANY`) for a map with u32 keys; `value` must be the map's
/// value size (for a map of maps or programs: a descriptor as a native u32).
pub fn map_update(map: BorrowedFd<'_>, key: u32, value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: (&key as *const u32) as u64,
        value: value.as_ptr() as u64,
        ..Default::default()
    };
    sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _rest: [u64; 8],
}

/// Attaches an XDP program to `ifindex` in generic mode through a bpf_link (detached
/// when the returned descriptor closes).
pub fn xdp_link_generic(prog: BorrowedFd<'_>, ifindex: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: XDP_FLAGS_SKB_MODE,
        ..Default::default()
    };
    owned(sys_bpf(BPF_LINK_CREATE, &mut attr)?)
}

/// Attaches a `SCHED_CLS` program first at tcx ingress of `ifindex` through a bpf_link
/// (detached when the returned descriptor closes).
pub fn tcx_ingress_link(prog: BorrowedFd<'_>, ifindex: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_TCX_INGRESS,
        flags: BPF_F_BEFORE,
        ..Default::default()
    };
    owned(sys_bpf(BPF_LINK_CREATE, &mut attr)?)
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The start of `struct bpf_prog_info`, up to the run-time statistics.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
    ifindex: u32,
    flags: u32,
    netns_dev: u64,
    netns_ino: u64,
    nr_jited_ksyms: u32,
    nr_jited_func_lens: u32,
    jited_ksyms: u64,
    jited_func_lens: u64,
    btf_id: u32,
    func_info_rec_size: u32,
    func_info: u64,
    nr_func_info: u32,
    nr_line_info: u32,
    line_info: u64,
    jited_line_info: u64,
    nr_jited_line_info: u32,
    line_info_rec_size: u32,
    jited_line_info_rec_size: u32,
    nr_prog_tags: u32,
    prog_tags: u64,
    run_time_ns: u64,
    run_cnt: u64,
}

/// A program's id and its `kernel.bpf_stats_enabled` figures: (id, run_time_ns, run_cnt).
pub fn prog_stats(prog: BorrowedFd<'_>) -> io::Result<(u32, u64, u64)> {
    let mut info = ProgInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: size_of::<ProgInfo>() as u32,
        info: (&mut info as *mut ProgInfo) as u64,
    };
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok((info.id, info.run_time_ns, info.run_cnt))
}

#[repr(C)]
#[derive(Default)]
struct EnableStatsAttr {
    stats_type: u32,
    _rest: [u32; 15],
}

/// `BPF_STATS_RUN_TIME`.
const BPF_STATS_RUN_TIME: u32 = 0;

/// Turns on the run-time statistics of every program (`run_time_ns`, `run_cnt`) while
/// the returned descriptor is open (`BPF_ENABLE_STATS`, Linux 5.8). It counts apart
/// from the `kernel.bpf_stats_enabled` sysctl, which other processes may switch off
/// meanwhile: statistics stay on until both are off.
pub fn enable_stats() -> io::Result<OwnedFd> {
    let mut attr = EnableStatsAttr {
        stats_type: BPF_STATS_RUN_TIME,
        ..Default::default()
    };
    owned(sys_bpf(BPF_ENABLE_STATS, &mut attr)?)
}
