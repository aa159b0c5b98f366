//! `-Z USER`: once the hooks are attached and the sockets and first files are open,
//! netcap runs as USER, as tcpdump does: supplementary groups (`initgroups`), group id,
//! user id, in that order, then no capabilities left.
//!
//! What stays possible after the drop: reading the rings and sockets already open,
//! reading the programs' counters by their map descriptors, detaching (closing the
//! bpf_links and sockets needs no privilege, so every exit path still detaches),
//! creating the next rotated file where USER may write, and writing the files opened
//! (or created and handed to USER) before. What does not: attaching anything new (an
//! interface that comes up under `-i any`).
//!
//! glibc applies `setgroups`, `setgid` and `setuid` to every thread of the process;
//! leaving uid 0 for good clears the permitted and effective capabilities of each
//! thread (no `PR_SET_KEEPCAPS`), which [`drop_to`] checks.
use std::{ffi::CString, io, path::Path};

use super::Error;

/// A user to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The users netcap drops to without `-Z`, the first that exists (Debian's tcpdump
/// drops to `tcpdump`).
pub const DEFAULT_USERS: &[&str] = &["netcap", "tcpdump"];

/// Looks `name` up in the user database; `None` when there is no such user.
pub fn lookup(name: &str) -> io::Result<Option<User>> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 16384];
    // SAFETY: passwd is plain data, valid when zeroed.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `c` NUL-terminated, `pw` and
    // `result` writable, `buf` writable for its length; getpwnam_r stores strings in
    // `buf` only.
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &raw mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &raw mut result,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Ok(None);
    }
    Ok(Some(User {
        name: name.to_owned(),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    }))
}

/// Hands a file netcap created before the drop to `user` (as tcpdump chowns its
/// first `-w` file), so it can still be written, and rotated files sit beside files
/// of the same owner.
pub fn give(path: &Path, user: &User) -> Result<(), Error> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| Error::io(format!("chown {} to {}", path.display(), user.name), e))
}

/// Becomes `user` for good: groups, gid, uid; then checks that no capability is left.
pub fn drop_to(user: &User) -> Result<(), Error> {
    let what = |call: &str| format!("-Z {}: {call}", user.name);
    let c = CString::new(user.name.as_str())
        .map_err(|_| Error::Unsupported(what("a user name with a NUL byte")))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    if unsafe { libc::initgroups(c.as_ptr(), user.gid) } != 0 {
        return Err(Error::io(what("initgroups"), io::Error::last_os_error()));
    }
    // SAFETY: setgid takes a plain id.
    if unsafe { libc::setgid(user.gid) } != 0 {
        return Err(Error::io(what("setgid"), io::Error::last_os_error()));
    }
    // SAFETY: setuid takes a plain id.
    if unsafe { libc::setuid(user.uid) } != 0 {
        return Err(Error::io(what("setuid"), io::Error::last_os_error()));
    }
    if user.uid != 0 {
        clear_capabilities().map_err(|e| Error::io(what("capset"), e))?;
        if super::caps::effective().is_some_and(|c| c != 0) {
            return Err(Error::Unsupported(what(
                "capabilities are left after setuid",
            )));
        }
    }
    Ok(())
}

/// Empties this thread's capability sets (already so after leaving uid 0; this also
/// covers a process that kept them).
fn clear_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a version-3 header and two data records, which live
    // across the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_a_made_up_name_does_not() {
        let root = lookup("root").expect("lookup").expect("root");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup("netcap-no-such-user-x").expect("lookup"), None);
    }
}
