//! The eBPF backends: XDP (or, with `--backend tc`, a tcx ingress program) for received
//! frames and tcx egress for sent ones. Loads netcap's eBPF object, attaches it
//! ([`super::xdp_attach`], [`super::tcx`]), and drains its capture rings, one per CPU.
//!
//! Kernel contract (see `netcap-ebpf`): each record is a [`netcap_common::RecordHeader`] followed by
//! `cap_len` bytes, in the ring of the CPU that saw the frame; per-CPU `COUNTERS` say
//! what happened to every frame the hooks saw.
//!
//! [`XdpSource::open`] returns one source per reader: the rings are dealt out to the
//! sources round robin, each source merges its rings by timestamp
//! ([`super::rings::RingSet`]) and reports the counters of the CPUs that write to them,
//! so the sources' counts add up to the capture's. One source reads every ring (the
//! direct path, `-c`); several feed a decode worker each, as AF_PACKET fanout sockets do.
//! Stopping any source detaches the hooks of all.
//! Attachments are bpf_links (kernel >= 5.9 for XDP, 6.6 for tcx): they belong to this
//! process's file descriptors, so they go away on every exit, `kill -9` included.
use std::{
    os::fd::BorrowedFd,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aya::{
    maps::{Map, MapData, PerCpuArray},
    Ebpf, EbpfLoader,
};
use netcap_common::{CbpfInsn, Counter, MAX_CBPF_INSNS, NUM_COUNTERS};

use super::{error::Error, tcx::TcHook, CaptureCounters, DirectionFilter, Fill, Source, XdpMode};
use crate::packet::{Frame, LinkType};

#[cfg(netcap_ebpf)]
pub(crate) static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netcap.bpf.o"));
#[cfg(not(netcap_ebpf))]
pub(crate) static EBPF_OBJECT: &[u8] = &[];

/// How often `fill` checks that the interface still exists.
const IFACE_CHECK: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct XdpConfig {
    pub ifname: String,
    pub ifindex: u32,
    pub mode: XdpMode,
    /// Received frames from a tcx ingress program instead of XDP (`--backend tc`).
    pub tc_ingress: bool,
    pub direction: DirectionFilter,
    pub snaplen: u32,
    /// Ring buffer bytes in all, shared by the per-CPU rings: a power of two, at least
    /// one page.
    pub ring_bytes: u32,
    /// Readers: the rings are dealt out to this many sources (at most one per ring).
    pub sources: usize,
    /// Unread bytes that wake the reader (default: 1/8 of each ring); 0 = no batching.
    pub wakeup_bytes: Option<u64>,
    /// Classic BPF program the kernel runs on each frame before copying it (the
    /// `FILTER` map); empty captures everything.
    pub filter: Vec<CbpfInsn>,
    /// In-kernel flow mode: count flows in the hooks with these limits and timeouts
    /// (the map holds `max_flows` entries), copying only what they cannot key.
    pub kernel_flows: Option<crate::flow::FlowConfig>,
    /// The interface is in another network namespace (`--netns`), where its name
    /// cannot be looked up from the capture thread to see that it still exists.
    pub other_netns: bool,
    /// How the hooks run `filter`.
    pub kernel_filter: super::KernelFilter,
}

/// What the sources of one capture share.
struct Kernel {
    /// Owns the programs and their links: taking it out detaches everything.
    ebpf: Mutex<Option<Ebpf>>,
    /// The native filter programs (`native_filter`), after `ebpf` so they close last.
    native: Mutex<Vec<std::os::fd::OwnedFd>>,
    counters: PerCpuArray<MapData, u64>,
}

impl Kernel {
    /// Each counter summed over `cpus` (those that write to one source's rings).
    fn counter_slots(&self, cpus: &[usize]) -> [u64; NUM_COUNTERS as usize] {
        std::array::from_fn(|slot| {
            self.counters
                .get(&(slot as u32), 0)
                .map(|per_cpu| cpus.iter().filter_map(|&i| per_cpu.get(i)).sum())
                .unwrap_or(0)
        })
    }

    /// The capture counters of the CPUs `cpus`.
    fn capture_counters(&self, cpus: &[usize]) -> CaptureCounters {
        let slots = self.counter_slots(cpus);
        let at = |c: Counter| slots[c as usize];
        CaptureCounters {
            seen: netcap_common::seen(at),
            filtered: at(Counter::Filtered),
            captured: at(Counter::Captured),
            lost_ring_full: at(Counter::LostRingFull),
            lost_copy: at(Counter::LostCopy),
            filter_error: at(Counter::FilterError),
            aggregated: at(Counter::Aggregated),
            flow_overflow: at(Counter::FlowOverflow),
        }
    }
}

pub struct XdpSource {
    kernel: Arc<Kernel>,
    /// The CPUs that write to this source's rings: their counters are this source's.
    cpus: Vec<usize>,
    /// Kernel-to-user-space delay per frame, microseconds.
    delay_us: hdrhistogram::Histogram<u64>,
    /// Frames drained, for sampling the delay.
    delay_seq: u64,
    rings: super::rings::RingSet,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, to turn `bpf_ktime_get_ns` into epoch time.
    mono_to_real_ns: i64,
    ifname: String,
    ifindex: u32,
    last_iface_check: Instant,
    other_netns: bool,
    /// In-kernel flow mode: the `FLOWS` map, kept after `stop` for the last records.
    flows: Option<super::kernel_flows::KernelFlows>,
    /// What was attached, for the startup line on stderr.
    pub description: String,
    /// What [`Source::visit_round`] keeps between rounds.
    round: read::RoundState,
    /// Unread bytes in a ring at which the hooks wake its reader.
    wakeup: u64,
}

#[path = "xdp_read.rs"]
mod read;

/// Kernel memory the in-kernel flow table may take: it is preallocated, so
/// `--max-flows` is granted only within this budget (flows beyond it overflow to user
/// space, counted, none lost).
const KERNEL_FLOW_MAP_BYTES: u64 = 256 << 20;

/// Bytes per slot of the flow table (`netcap_common::FlowSlotAbi`); an array map has
/// no per-entry overhead of its own.
pub const KERNEL_FLOW_SLOT_BYTES: u64 = size_of::<netcap_common::FlowSlotAbi>() as u64;

/// Slots of each CPU's region of the in-kernel flow table (one region per possible
/// CPU, `cpus`): `max_flows` rounded up to a power of two, with all regions within
/// [`KERNEL_FLOW_MAP_BYTES`] (2,097,152 slots in all; the largest power of two that
/// fits when `cpus` is not one).
pub fn kernel_flow_entries(max_flows: usize, cpus: usize) -> u32 {
    let budget = (KERNEL_FLOW_MAP_BYTES / KERNEL_FLOW_SLOT_BYTES / cpus.max(1) as u64).max(1);
    let fits = 1u64 << (u64::BITS - 1 - budget.leading_zeros());
    (max_flows as u64)
        .clamp(1, fits)
        .next_power_of_two()
        .min(fits) as u32
}

/// Slots of the flow table's hot region, where a flow's first window is (16 MiB, 4,096
/// pages): over 100,000 flows the bench's kernel cost per frame was 316-350 ns with a
/// table of this size, 449-475 with 1,048,576 slots, each flow in a random one
/// (docs/bench/kernel-flows.md).
pub const KERNEL_FLOW_HOT_SLOTS: u32 = 1 << 17;

/// A random key for the flow table's hash, new for each capture.
fn flow_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(super::xdp::monotonic_ns())
}

/// Parts of the hooks to leave out (`netcap_common::omit`), from the hidden
/// `NETCAP_BENCH_OMIT` variable: only for `cargo xtask bench kernel-live`, which
/// measures what each part costs in a live capture. A capture with any bit set does not
/// capture as it should, so it says so on stderr.
fn bench_omit() -> u32 {
    let omit = std::env::var("NETCAP_BENCH_OMIT")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if omit != 0 {
        eprintln!("netcap: NETCAP_BENCH_OMIT={omit}: parts of the hook left out (bench only)");
    }
    omit
}

/// Rounds a `-B` size to what the kernel accepts for a ring buffer.
pub fn ring_bytes_for(kib: u32) -> u32 {
    let bytes = u64::from(kib.max(4)) * 1024;
    bytes.next_power_of_two().min(1 << 30) as u32
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Nanoseconds of CLOCK_MONOTONIC now: the clock of the records' timestamps.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC) as u64
}

fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit struct; failure only matters on kernels before 5.11, which
    // account BPF memory to RLIMIT_MEMLOCK, and then loading reports it.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

impl XdpSource {
    /// Loads and attaches the programs; returns `cfg.sources` sources (fewer when there
    /// are fewer rings), which together read every ring.
    pub fn open(cfg: &XdpConfig) -> Result<Vec<Self>, Error> {
        if EBPF_OBJECT.is_empty() {
            return Err(Error::Unsupported(
                "this netcap was built without its eBPF program; build it with `cargo xtask \
                 build`"
                    .into(),
            ));
        }
        raise_memlock();
        let plan = super::rings::Plan::new(cfg.ring_bytes, cfg.snaplen)?;
        // Above a ring's size it would never be reached, and only the tick would wake
        // the reader.
        let wakeup = cfg
            .wakeup_bytes
            .unwrap_or(u64::from(plan.bytes_each / 8))
            .min(u64::from(plan.bytes_each));
        let filter_len = u32::try_from(cfg.filter.len())
            .ok()
            .filter(|&n| n <= MAX_CBPF_INSNS)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "the filter compiles to {} instructions; the XDP backend runs at most \
                     {MAX_CBPF_INSNS} (use --backend afpacket)",
                    cfg.filter.len()
                ))
            })?;
        let flow_mode = u32::from(cfg.kernel_flows.is_some());
        // Translation is pure: a program it refuses never sets the hooks' tail call.
        let native_wanted = !cfg.filter.is_empty()
            && cfg.kernel_filter == super::KernelFilter::Native
            && crate::filter::ebpf::translate(
                &cfg.filter,
                crate::filter::ebpf::Hook::Xdp,
                crate::filter::ebpf::Exit::Verdict,
            )
            .map_err(|e| eprintln!("netcap: native filter not used ({e}); interpreting it"))
            .is_ok();
        let native_flag = u32::from(native_wanted);
        // One region per possible CPU (what `bpf_get_smp_processor_id` can return).
        let flow_cpus = match cfg.kernel_flows {
            Some(_) => aya::util::nr_cpus()
                .map_err(|(what, e)| Error::io(format!("reading {what}"), e))?
                .max(1),
            None => 1,
        };
        let flow_entries = cfg
            .kernel_flows
            .map_or(1, |f| kernel_flow_entries(f.max_flows, flow_cpus));
        let (flow_mask, flow_hot_mask, seed) = (
            flow_entries - 1,
            flow_entries.min(KERNEL_FLOW_HOT_SLOTS) - 1,
            flow_seed(),
        );
        let omit = bench_omit();
        let mut loader = EbpfLoader::new();
        loader
            .override_global("OMIT", &omit, true)
            .override_global("WAKEUP_BYTES", &wakeup, true)
            .override_global("FILTER_LEN", &filter_len, true)
            .override_global("FLOW_MODE", &flow_mode, true)
            .override_global("NATIVE_FILTER", &native_flag, true)
            .override_global("FLOW_MASK", &flow_mask, true)
            .override_global("FLOW_HOT_MASK", &flow_hot_mask, true)
            .override_global("FLOW_SEED", &seed, true)
            .map_max_entries("FLOWS", flow_entries * flow_cpus as u32);
        let mut ebpf = plan.load(EBPF_OBJECT, &mut loader)?;
        // The program is in place before any hook is attached: no frame escapes it.
        if !cfg.filter.is_empty() {
            let map = ebpf
                .map_mut("FILTER")
                .ok_or_else(|| Error::Unsupported("eBPF object has no FILTER map".into()))?;
            let mut map: aya::maps::Array<_, CbpfInsn> = aya::maps::Array::try_from(map)
                .map_err(|e| Error::bpf("opening the FILTER map", e))?;
            for (i, insn) in cfg.filter.iter().enumerate() {
                map.set(i as u32, *insn, 0)
                    .map_err(|e| Error::bpf("writing the filter into FILTER", e))?;
            }
        }
        // Every ring is mapped and every wake-up slot filled before any hook is attached.
        let rings = plan.create(&mut ebpf)?;

        let mut parts = Vec::new();
        let mut native = super::native_filter::NativeSetup {
            wanted: native_wanted,
            filter: cfg.filter.clone(),
            ..Default::default()
        };
        if cfg.direction != DirectionFilter::Out {
            parts.push(if cfg.tc_ingress {
                super::tcx::attach(&mut ebpf, &cfg.ifname, TcHook::Ingress, &mut native)?
            } else {
                super::xdp_attach::attach(&mut ebpf, cfg, &mut native)?
            });
        }
        if cfg.direction != DirectionFilter::In {
            parts.push(super::tcx::attach(
                &mut ebpf,
                &cfg.ifname,
                TcHook::Egress,
                &mut native,
            )?);
        }

        parts.push(plan.describe(cfg.sources));
        let counters = ebpf
            .take_map("COUNTERS")
            .ok_or_else(|| Error::Unsupported("eBPF object has no COUNTERS map".into()))?;
        let counters = PerCpuArray::try_from(counters)
            .map_err(|e| Error::bpf("opening the COUNTERS map", e))?;
        let mono_to_real_ns = clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC);
        let mut flows = match cfg.kernel_flows {
            Some(fcfg) => {
                let map = ebpf
                    .take_map("FLOWS")
                    .ok_or_else(|| Error::Unsupported("eBPF object has no FLOWS map".into()))?;
                let Map::Array(map) = map else {
                    return Err(Error::Unsupported("the FLOWS map is not an array".into()));
                };
                parts.push("flows counted in the kernel".to_owned());
                Some(
                    super::kernel_flows::KernelFlows::new(
                        map,
                        flow_entries as usize * flow_cpus,
                        fcfg,
                        mono_to_real_ns,
                    )
                    .map_err(|e| Error::io("mapping the kernel's flow table", e))?,
                )
            }
            None => None,
        };
        if !cfg.filter.is_empty() {
            let how = if native.wanted && native.failed.is_none() {
                "filter native"
            } else {
                "filter interpreted"
            };
            parts.push(how.to_owned());
        }
        let kernel = Arc::new(Kernel {
            ebpf: Mutex::new(Some(ebpf)),
            native: Mutex::new(native.fds),
            counters,
        });
        let description = parts.join(" + ");
        let mut sources = Vec::new();
        for (rings, cpus) in plan.deal(rings, cfg.sources) {
            sources.push(Self {
                kernel: kernel.clone(),
                cpus,
                delay_us: super::delay_histogram(),
                delay_seq: 0,
                rings: super::rings::RingSet::new(rings)?,
                mono_to_real_ns,
                ifname: cfg.ifname.clone(),
                ifindex: cfg.ifindex,
                last_iface_check: Instant::now(),
                other_netns: cfg.other_netns,
                // The first source exports the kernel's flows.
                flows: flows.take(),
                description: description.clone(),
                round: read::RoundState::default(),
                wakeup,
            });
        }
        Ok(sources)
    }

    /// Fails once the interface is gone (checked every [`IFACE_CHECK`]).
    fn check_iface(&mut self) -> Result<Fill, Error> {
        if !self.other_netns && self.last_iface_check.elapsed() >= IFACE_CHECK && self.attached() {
            self.last_iface_check = Instant::now();
            if super::ifindex_of(&self.ifname) != Some(self.ifindex) {
                return Err(Error::Vanished(self.ifname.clone()));
            }
        }
        Ok(Fill::Some)
    }

    /// True while the hooks are attached.
    fn attached(&self) -> bool {
        self.kernel.ebpf.lock().is_ok_and(|e| e.is_some())
    }
}

impl Source for XdpSource {
    fn visit(&mut self, f: &mut dyn FnMut(&Frame<'_>) -> bool) -> Result<Fill, Error> {
        self.read_each(f)
    }

    /// The rings' records, held until `f` returns (see `xdp_read.rs`).
    fn visit_round(
        &mut self,
        limit: super::round::RoundLimit,
        f: &mut dyn FnMut(&[Frame<'_>]),
    ) -> Result<Fill, Error> {
        self.read_round(limit, f)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.rings.fd()
    }

    fn stop(&mut self) {
        // Dropping the programs closes their links: the hooks are gone when this returns,
        // so the counters are final and what is left in the rings is all there will be.
        // Whichever source stops first detaches them for all.
        let ebpf = self.kernel.ebpf.lock().map(|mut e| e.take());
        drop(ebpf);
        if let Ok(mut native) = self.kernel.native.lock() {
            native.clear();
        }
    }

    /// A record is committed microseconds after it is stamped; a frame stamped before a
    /// drain began may still be in its reservation then (the drain stops at it). A
    /// millisecond is far more than that, and short enough for the merging writer.
    fn settle_time(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn delay_us(&self) -> Option<&hdrhistogram::Histogram<u64>> {
        Some(&self.delay_us)
    }

    fn link(&self) -> Option<LinkType> {
        Some(LinkType::Ethernet)
    }

    /// `seen` is derived: the sum of the counters a frame ends in (the hooks bump one
    /// per frame), read together with them.
    fn counters(&self) -> CaptureCounters {
        self.kernel.capture_counters(&self.cpus)
    }

    fn unannounced(&self) -> bool {
        self.rings.unread_at_least(self.wakeup.max(1))
    }

    fn counters_probe(&self) -> Option<super::CountersProbe> {
        let (kernel, cpus) = (Arc::clone(&self.kernel), self.cpus.clone());
        Some(Box::new(move || kernel.capture_counters(&cpus)))
    }

    fn take_flows(&mut self, all: bool) -> Vec<crate::flow::Flow> {
        self.flows.as_mut().map_or(Vec::new(), |f| f.take(all))
    }

    /// The rings are dealt with their CPUs in the same order (`Plan::deal`).
    fn ring_reads(&self) -> Vec<(usize, u64)> {
        self.cpus
            .iter()
            .copied()
            .zip(self.rings.read_positions())
            .collect()
    }
}
