//! Errors of the capture backends: each names the call (or step) and the interface or
//! file that failed. A refusal for lack of privilege is recognised by its errno
//! (`EPERM`, `EACCES`), wherever in the chain of causes it sits, and answered with one
//! line that names what is needed, instead of the failed call's own words.
use std::io;

pub use super::caps::Needs;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such interface: {0}")]
    NoInterface(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The kernel refused for lack of privilege.
    #[error("{what} {needs}")]
    Privilege { what: String, needs: Needs },
    /// aya failed to load, configure or attach the eBPF object.
    #[error("{what} failed: {source}")]
    Bpf {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request cannot be met on this interface or with this build (a filter too
    /// long for the kernel program, a link type netcap does not capture, a hook that
    /// is taken).
    #[error("{0}")]
    Unsupported(String),
    /// A file is not one netcap can read.
    #[error("{0}")]
    BadFile(String),
    #[error("interface {0} vanished")]
    Vanished(String),
    /// Every interface of a capture on several (named with `-i`) has gone.
    #[error("every interface vanished ({0})")]
    AllVanished(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// A failed system call, or [`Error::Privilege`] when the kernel said EPERM/EACCES.
    pub fn syscall(what: impl Into<String>, source: io::Error, needs: Needs) -> Self {
        if is_denied(&source) {
            Self::Privilege {
                what: what.into(),
                needs,
            }
        } else {
            Self::io(what, source)
        }
    }

    /// An aya error, or [`Error::Privilege`] when one of its causes is EPERM/EACCES.
    pub fn bpf<E>(what: impl Into<String>, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        if denied_in_chain(&source) {
            Self::Privilege {
                what: what.into(),
                needs: Needs::Bpf,
            }
        } else {
            Self::Bpf {
                what: what.into(),
                source: Box::new(source),
            }
        }
    }

    /// True for [`Error::Privilege`].
    pub fn is_privilege(&self) -> bool {
        matches!(self, Self::Privilege { .. })
    }
}

fn is_denied(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// True when `e` or any of its causes is an `io::Error` with EPERM or EACCES.
fn denied_in_chain(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.downcast_ref::<io::Error>().is_some_and(is_denied) {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to create map `FILTER`")]
    struct Outer {
        #[source]
        io: io::Error,
    }

    #[test]
    fn privilege_is_found_by_errno_anywhere_in_the_chain() {
        let eperm = Outer {
            io: io::Error::from_raw_os_error(libc::EPERM),
        };
        let e = Error::bpf("loading the eBPF object", eperm);
        assert!(e.is_privilege(), "{e}");
        assert!(e.to_string().contains("CAP_PERFMON"), "{e}");
        let einval = Outer {
            io: io::Error::from_raw_os_error(libc::EINVAL),
        };
        let e = Error::bpf("loading the eBPF object", einval);
        assert!(!e.is_privilege());
        assert!(e.to_string().contains("FILTER"), "{e}");
    }

    #[test]
    fn a_socket_refused_for_privilege_names_the_capability() {
        let e = Error::syscall(
            "socket(AF_PACKET) for eth9",
            io::Error::from_raw_os_error(libc::EPERM),
            Needs::Raw,
        );
        assert!(e.is_privilege());
        assert!(
            e.to_string()
                .starts_with("socket(AF_PACKET) for eth9 needs CAP_NET_RAW (or root)"),
            "{e}"
        );
    }
}
