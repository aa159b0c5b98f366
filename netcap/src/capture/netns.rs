//! Network namespaces (`--netns NAME|PATH`): hooks are attached and sockets opened on
//! the calling thread inside the namespace, which then returns to its own. Sockets,
//! programs and links keep the namespace they were made in, so the capture reads them
//! from the original namespace like any other.
use std::{
    fs::File,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use super::Error;

/// A namespace given with `--netns`: its name for the output, and its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    /// `NAME` for `/run/netns/NAME`, else the path as given.
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    /// `NAME` (from `ip netns add`, in /run/netns) or a path (`/proc/PID/ns/net`).
    pub fn parse(arg: &str) -> Self {
        if arg.contains('/') {
            Self {
                name: arg.to_owned(),
                path: PathBuf::from(arg),
            }
        } else {
            Self {
                name: arg.to_owned(),
                path: Path::new("/run/netns").join(arg),
            }
        }
    }

    /// Runs `f` on this thread inside the namespace, then returns to the thread's own.
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> Result<T, Error> {
        let here = File::open("/proc/thread-self/ns/net")
            .map_err(|e| Error::io("opening /proc/thread-self/ns/net", e))?;
        let there = File::open(&self.path)
            .map_err(|e| Error::io(format!("--netns: opening {}", self.path.display()), e))?;
        setns(&there).map_err(|e| {
            Error::syscall(
                format!("setns into {}", self.path.display()),
                e,
                super::caps::Needs::Netns,
            )
        })?;
        let out = f();
        if let Err(e) = setns(&here) {
            // Going on in the wrong namespace would open the rest elsewhere.
            eprintln!(
                "netcap: cannot return from network namespace {}: {e}",
                self.name
            );
            std::process::exit(1);
        }
        Ok(out)
    }
}

fn setns(f: &File) -> std::io::Result<()> {
    // SAFETY: `f` is an open namespace file; setns changes only this thread's network
    // namespace and touches no memory of ours.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(Netns::parse("blue").path, Path::new("/run/netns/blue"));
        assert_eq!(
            Netns::parse("/proc/1/ns/net").path,
            Path::new("/proc/1/ns/net")
        );
    }
}
