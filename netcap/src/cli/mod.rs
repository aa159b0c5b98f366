//! Command line: clap for syntax ([`Cli`]; the options `capture` and `read` share are
//! [`CommonArgs`], in `common_args`), then [`Config`] for meaning (interfaces resolved
//! in `ifaces`, numbers checked, the filter compiled, every derived choice made; see
//! `config`), so the rest of the program never sees a flag.
//! Flags follow tcpdump where tcpdump has one (`-i -c -w -s -B -l`, a filter
//! expression as trailing arguments, and the printing flags of `-F line`: `-t -S -e -x
//! -X -A -n`).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod common_args;
pub mod config;
mod ifaces;
pub mod tcpdump;
mod top;
pub use common_args::{CommonArgs, MAX_WORKERS};
pub use config::{Config, ConfigError};
pub use ifaces::default_route_interface;

#[derive(Parser, Debug)]
#[command(name = "netcap", version, about = "Kernel-accelerated packet capture", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Capture live from an interface (XDP + TC, or AF_PACKET).
    Capture(CaptureArgs),
    /// Read a pcap or pcapng file (`-` for stdin) through the same decoders and outputs.
    Read(ReadArgs),
    /// A live full-screen view of an interface: rates, losses and the top flows
    /// (takes the capture options; keys: q quit, s sort, p pause, / filter, h hosts).
    Top(CaptureArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    Micro,
    Nano,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XdpModeArg {
    /// Native (driver) mode, else generic.
    Auto,
    /// Native (driver) mode: for dedicated capture ports only. On a veth it moves the
    /// device to NAPI with a small ring (frames are lost before the hook at high rates);
    /// many NIC drivers rebuild their rings (a link blip) when a program is attached.
    Native,
    /// Generic (skb) mode: the host's traffic is delivered as without netcap.
    Generic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelFilterArg {
    /// Translated to eBPF and JIT-compiled by the kernel; the interpreter takes over
    /// if the kernel refuses it (said once on stderr).
    Native,
    /// netcap's in-kernel classic BPF interpreter (slower; for comparison).
    Interp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReaderCpuArg {
    /// The CPU that carries the traffic, while one does (see `run/follow.rs`)
    Follow,
    /// Wherever the scheduler puts it
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// tcx ingress + egress where this process may load BPF programs (Linux 6.6, one
    /// Ethernet interface, no flow accounting), measured cheapest for the whole machine;
    /// else AF_PACKET (TPACKET_V3). Both leave the host's traffic as it is (see the
    /// README's "Capture modes").
    Auto,
    /// XDP for received frames and a tcx egress program for sent ones.
    Xdp,
    /// tcx ingress and egress programs (Linux 6.6): no XDP.
    Tc,
    Afpacket,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    In,
    Out,
    Both,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// Interface to capture on (default: the interface of the default route); repeat
    /// for several (one capture, one output); `any` for every interface that is up and
    /// those that come up while capturing. In several namespaces, `NS/IFNAME` picks one.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Vec<String>,
    /// Capture in this network namespace: a name from `ip netns` (/run/netns/NAME) or a
    /// path such as /proc/PID/ns/net; repeat for several.
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Vec<String>,
    /// Once the hooks are attached and the first file is open, run as USER (groups,
    /// group and user id set, capabilities cleared), as tcpdump's -Z [default: the
    /// user `netcap`, else `tcpdump`, when one exists; `-Z root` stays root].
    #[arg(short = 'Z', long = "relinquish-privileges", value_name = "USER")]
    pub user: Option<String>,
    /// Capture backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// XDP attach mode (with --backend xdp); `auto` tries native, then generic.
    /// Native changes the host's traffic on some devices: see the README.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Generic)]
    pub xdp_mode: XdpModeArg,
    /// How the XDP/TC hooks run the filter expression (with --backend xdp or tc).
    #[arg(long, value_enum, default_value_t = KernelFilterArg::Native)]
    pub kernel_filter: KernelFilterArg,
    /// Which frames to capture: received, sent, or both (like tcpdump).
    #[arg(long, value_enum, default_value_t = DirectionArg::Both)]
    pub direction: DirectionArg,
    /// Do not put the interface in promiscuous mode (tcpdump's -p). By default it is,
    /// for as long as netcap runs (the kernel undoes it on any exit).
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    pub no_promisc: bool,
    /// Kernel buffer size in KiB (like tcpdump's -B); rounded up to a power of two.
    #[arg(short = 'B', long = "buffer-size", default_value_t = 16384)]
    pub buffer_kib: u32,
    /// Unread ring bytes that wake the reader (default: 1/8 of the ring); 0 wakes it
    /// the kernel's default way, per frame when idle (for benchmarking the batching).
    #[arg(long, hide = true)]
    pub wakeup_bytes: Option<u64>,
    /// With --backend xdp, flows are counted in the kernel hooks when nothing is
    /// printed or written; this counts them in user space instead (for comparison).
    #[arg(long)]
    pub user_flows: bool,
    /// Where the thread that reads the XDP/tcx per-CPU rings runs (`-F none`, `-w`,
    /// `-c`: one reader): `follow` pins it to the CPU that writes 90% of the bytes it
    /// reads (at 16 MiB/s or more), cheaper for the machine and in time to keep a
    /// single CPU's ring from overflowing, and lets go when the traffic spreads or
    /// stops; `any`: wherever the scheduler puts it
    #[arg(long, value_enum, default_value_t = ReaderCpuArg::Follow)]
    pub reader_cpu: ReaderCpuArg,
    /// List the interfaces with their index, state and the hooks netcap can use on
    /// each (XDP native/generic, tcx, AF_PACKET), then exit, as tcpdump's -D.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// The capture file: pcap or pcapng; `-` reads stdin.
    pub file: PathBuf,
    /// No progress bar on stderr (it is shown only when stderr is a terminal). Long
    /// form only: `-q` is tcpdump's quick output.
    #[arg(long = "quiet")]
    pub quiet: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[cfg(test)]
mod tests;
