//! The front end: libpcap's own filter compiler, called on a "dead" handle.
//!
//! Using `pcap_compile` rather than a parser of our own is what makes `netcap` select
//! exactly the frames tcpdump selects: same grammar, same optimiser, same generated
//! classic BPF. Only five functions are needed, so they are declared here rather than
//! through a binding crate; the program libpcap returns is copied into a `Vec` and
//! freed before this module returns.
//!
//! The netmask is 0, as `tcpdump -r` uses, so `ip broadcast` compiles (to the
//! all-ones/all-zeros host part test) instead of failing with "netmask not known".
use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::sync::Mutex;

use netcap_common::CbpfInsn;

use super::Error;
use crate::packet::LinkType;

/// `struct bpf_program` from `<pcap/bpf.h>`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut CbpfInsn,
}

/// Opaque `pcap_t`.
#[repr(C)]
struct PcapT {
    _private: [u8; 0],
}

#[link(name = "pcap")]
extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut PcapT;
    fn pcap_compile(
        p: *mut PcapT,
        fp: *mut BpfProgram,
        text: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int;
    fn pcap_geterr(p: *mut PcapT) -> *mut c_char;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_close(p: *mut PcapT);
}

/// libpcap before 1.8 kept the parser's state in globals; 1.8 and later are reentrant.
/// Compiling is rare (once per run), so serialising it costs nothing and keeps netcap
/// safe on any libpcap it is linked against.
static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// `DLT_RAW` as Linux's libpcap numbers it; `LINKTYPE_RAW` (101) is the file value.
const DLT_RAW: c_int = 12;

/// The `DLT_*` value libpcap's code generator expects for `link`. Files hold
/// `LINKTYPE_*` values, which differ from the DLTs for a few old link types; libpcap's
/// own reader maps them back (`linktype_to_dlt` in pcap-common.c, Linux numbering), and
/// so does this, or a filter on such a file fails ("DLT 106 ... not implemented").
fn dlt_of(link: LinkType) -> c_int {
    match link {
        LinkType::Raw => DLT_RAW,
        other => match other.to_linktype() {
            100 => 11, // ATM_RFC1483
            101 => DLT_RAW,
            102 => 15, // SLIP_BSDOS
            103 => 16, // PPP_BSDOS
            106 => 19, // ATM_CLIP
            n => n as c_int,
        },
    }
}

/// A dead handle, closed on drop (also when compiling fails).
struct Dead(*mut PcapT);

impl Drop for Dead {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from a successful `pcap_open_dead` and is closed once.
        unsafe { pcap_close(self.0) };
    }
}

/// Compiles `expr` with libpcap for frames of type `link` (optimiser on, as tcpdump).
pub fn compile(expr: &str, link: LinkType, snaplen: u32) -> Result<Vec<CbpfInsn>, Error> {
    let text = CString::new(expr).map_err(|_| Error::Compile {
        expr: expr.to_owned(),
        msg: "contains a NUL byte".to_owned(),
    })?;
    let snaplen = c_int::try_from(snaplen.max(1)).unwrap_or(c_int::MAX);
    let _guard = COMPILE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // SAFETY: plain values in; the result is checked for NULL before any use.
    let handle = unsafe { pcap_open_dead(dlt_of(link), snaplen) };
    if handle.is_null() {
        return Err(Error::OutOfMemory);
    }
    let dead = Dead(handle);
    let mut prog = BpfProgram {
        bf_len: 0,
        bf_insns: std::ptr::null_mut(),
    };
    // SAFETY: `dead.0` is a live handle, `prog` a writable bpf_program and `text` a
    // NUL-terminated string that outlives the call.
    let rc = unsafe { pcap_compile(dead.0, &mut prog, text.as_ptr(), 1, 0) };
    if rc != 0 {
        // SAFETY: pcap_geterr returns the handle's own NUL-terminated error buffer,
        // valid until the next libpcap call on it; it is copied out at once.
        let msg = unsafe { CStr::from_ptr(pcap_geterr(dead.0)) }
            .to_string_lossy()
            .into_owned();
        return Err(Error::Compile {
            expr: expr.to_owned(),
            msg,
        });
    }
    let insns = if prog.bf_insns.is_null() || prog.bf_len == 0 {
        Vec::new()
    } else {
        // SAFETY: on success libpcap hands back `bf_len` instructions at `bf_insns`,
        // laid out as `struct bpf_insn`, which `CbpfInsn` mirrors field for field.
        unsafe { std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize) }.to_vec()
    };
    // SAFETY: `prog` was filled by a successful pcap_compile and is freed once.
    unsafe { pcap_freecode(&mut prog) };
    Ok(insns)
}
