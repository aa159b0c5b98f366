//! Several interfaces as one [`Source`] (`-i a -i b`, `-i any`, `--netns`): one
//! capture and one output, as dumpcap with several `-i`.
//!
//! Each interface has its own source (an AF_PACKET socket, or XDP + tcx programs with
//! their ring), opened as for a single interface. [`Multi`] reads them in turn on the
//! capture thread and stamps every frame with its interface's index in the run's
//! [`Interfaces`], which the printers (`-F line`'s `NAME In`, JSON's `ifname`) and the
//! pcapng writer (one interface block per interface) look up. Its descriptor is an
//! epoll instance holding every member's descriptor, so the driver's one wait covers
//! them all.
//!
//! A [`Watch`] (`-i any`) adds members while the capture runs: its descriptor is in the
//! same epoll set, and [`Multi::visit`] asks it for new interfaces when it is readable.
//! A member whose interface goes away leaves the set with a line on stderr; the capture
//! goes on with the others, and ends when none is left (and nothing watches for more).
use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    sync::Arc,
    time::Duration,
};

use super::{
    af_packet::Promisc,
    round::{RoundFrames, RoundLimit},
    CaptureCounters, Error, Fill, Source,
};
use crate::packet::{Frame, FrameMeta, Interfaces, LinkType};

/// One interface's source.
pub struct Member {
    /// The name printed with its frames (`ns/ifname` when several namespaces).
    pub name: Arc<str>,
    pub source: Box<dyn Source>,
    /// Holds the interface promiscuous, for a backend that does not do it itself.
    pub promisc: Option<Promisc>,
    /// Its index in the run's [`Interfaces`].
    iface: u16,
    /// Its counters when it left (vanished), kept for the totals.
    gone: Option<CaptureCounters>,
}

impl Member {
    pub fn new(name: &str, source: Box<dyn Source>, promisc: Option<Promisc>) -> Self {
        Self {
            name: Arc::from(name),
            source,
            promisc,
            iface: 0,
            gone: None,
        }
    }

    fn counters(&self) -> CaptureCounters {
        self.gone.unwrap_or_else(|| self.source.counters())
    }
}

/// Finds interfaces that appeared (`-i any`) and opens them.
pub trait Watch: Send {
    /// Readable when something may have changed.
    fn fds(&self) -> Vec<BorrowedFd<'_>>;
    /// Members for the interfaces that came up since the last call (`known`: the names
    /// already captured on). Errors opening one are told on stderr, not fatal.
    fn poll(&mut self, known: &[Arc<str>]) -> Vec<Member>;
}

/// Several sources read as one: see the module doc.
pub struct Multi {
    members: Vec<Member>,
    interfaces: Interfaces,
    epoll: OwnedFd,
    watch: Option<Box<dyn Watch>>,
    /// The member the next `visit` starts with, so that a busy one cannot starve the
    /// rest.
    next: usize,
    stopped: bool,
    /// The vector of a round's stamped frames, kept between rounds.
    round: RoundFrames,
}

/// epoll data for the watch's descriptor (members use their position).
const WATCH_TOKEN: u64 = u64::MAX;

impl Multi {
    pub fn new(
        members: Vec<Member>,
        interfaces: &Interfaces,
        watch: Option<Box<dyn Watch>>,
    ) -> Result<Self, Error> {
        // SAFETY: epoll_create1 has no memory preconditions; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io("epoll_create1", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut multi = Self {
            members: Vec::new(),
            interfaces: interfaces.clone(),
            epoll,
            watch: None,
            next: 0,
            stopped: false,
            round: RoundFrames::default(),
        };
        if let Some(w) = &watch {
            for fd in w.fds() {
                multi.register(fd, WATCH_TOKEN)?;
            }
        }
        multi.watch = watch;
        for m in members {
            multi.add(m)?;
        }
        Ok(multi)
    }

    /// Names of the interfaces captured on, in order.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    fn register(&self, fd: BorrowedFd<'_>, token: u64) -> Result<(), Error> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open, and `ev` is a valid epoll_event for the
        // call's duration.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &raw mut ev,
            )
        };
        if rc < 0 {
            return Err(Error::io("epoll_ctl", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn add(&mut self, mut m: Member) -> Result<(), Error> {
        if let Some(fd) = m.source.fd() {
            self.register(fd, self.members.len() as u64)?;
        }
        m.iface = self.interfaces.add(&m.name);
        self.members.push(m);
        Ok(())
    }

    /// Asks the watch for new interfaces, after draining its descriptor's readiness.
    fn poll_watch(&mut self) {
        let known = self.names();
        let Some(w) = self.watch.as_mut() else {
            return;
        };
        for m in w.poll(&known) {
            let name = m.name.clone();
            match self.add(m) {
                Ok(()) => eprintln!("netcap: capturing on {name} too"),
                Err(e) => eprintln!("netcap: {name}: {e}"),
            }
        }
    }

    /// Each interface's name and counters, for the summary and `--stats-json`.
    pub fn per_interface(&self) -> Vec<(String, CaptureCounters)> {
        self.members
            .iter()
            .map(|m| (m.name.to_string(), m.counters()))
            .collect()
    }
}

impl Multi {
    /// Reads the members in turn, starting after the one the last call stopped at:
    /// `read` reads one (given its interface index) and says whether to go on. A
    /// member whose interface ended or vanished leaves, with a line on stderr.
    fn read_members(
        &mut self,
        mut read: impl FnMut(&mut dyn Source, u16) -> (Result<Fill, Error>, bool),
    ) -> Result<Fill, Error> {
        if !self.stopped && self.watch.is_some() {
            self.poll_watch();
        }
        let n = self.members.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let m = &mut self.members[i];
            if m.gone.is_some() {
                continue;
            }
            let (got, more) = read(&mut *m.source, m.iface);
            match got {
                Ok(Fill::Some) => {}
                Ok(Fill::End) | Err(Error::Vanished(_)) => {
                    m.gone = Some(m.source.counters());
                    m.source.stop();
                    m.promisc = None;
                    let name = Arc::clone(&m.name);
                    if self.members.iter().any(|m| m.gone.is_none()) || self.watch.is_some() {
                        eprintln!("netcap: interface {name} vanished; capturing on the others");
                    }
                }
                Err(e) => return Err(e),
            }
            if !more {
                self.next = (i + 1) % n;
                return Ok(Fill::Some);
            }
        }
        self.next = (self.next + 1) % n.max(1);
        let live = self.members.iter().any(|m| m.gone.is_none());
        if live || self.watch.is_some() {
            Ok(Fill::Some)
        } else if self.stopped {
            Ok(Fill::End)
        } else {
            // An abnormal end (exit status 1), as when the one interface of a capture
            // vanishes.
            let names: Vec<&str> = self.members.iter().map(|m| &*m.name).collect();
            Err(Error::AllVanished(names.join(", ")))
        }
    }
}

impl Source for Multi {
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        self.read_members(|source, iface| {
            let mut more = true;
            let got = source.visit(&mut |frame| {
                let meta = FrameMeta {
                    iface,
                    ..frame.meta
                };
                more = f(&Frame {
                    meta,
                    data: frame.data,
                });
                more
            });
            (got, more)
        })
    }

    /// Each member's round in turn (each held by its source until `f` returns), the
    /// frames stamped with their interface, until the limit is reached.
    fn visit_round(
        &mut self,
        limit: RoundLimit,
        f: &mut dyn FnMut(&[Frame<'_>]),
    ) -> Result<Fill, Error> {
        let mut keep = std::mem::take(&mut self.round);
        let (mut frames, mut bytes) = (0usize, 0usize);
        let read = self.read_members(|source, iface| {
            let left = RoundLimit {
                frames: limit.frames.saturating_sub(frames),
                bytes: limit.bytes.saturating_sub(bytes),
            };
            let got = source.visit_round(left, &mut |round| {
                let mut stamped = keep.take();
                stamped.extend(round.iter().map(|frame| Frame {
                    meta: FrameMeta {
                        iface,
                        ..frame.meta
                    },
                    data: frame.data,
                }));
                frames += round.len();
                bytes += round.iter().map(|fr| fr.data.len()).sum::<usize>();
                f(&stamped);
                keep.give_back(stamped);
            });
            (got, limit.more(frames, bytes))
        });
        self.round = keep;
        read
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.epoll.as_fd())
    }

    fn counters(&self) -> CaptureCounters {
        let mut sum = CaptureCounters::default();
        for m in &self.members {
            sum.add(&m.counters());
        }
        sum
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.watch = None;
        for m in &mut self.members {
            m.source.stop();
            m.promisc = None;
        }
    }

    fn settle_time(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.source.settle_time())
            .max()
            .unwrap_or_default()
    }

    fn link(&self) -> Option<LinkType> {
        let first = self.members.first()?.source.link()?;
        self.members
            .iter()
            .all(|m| m.source.link() == Some(first))
            .then_some(first)
    }

    fn per_interface(&self) -> Vec<(String, CaptureCounters)> {
        Multi::per_interface(self)
    }
}
