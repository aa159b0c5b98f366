//! The capture bench's tools: their command lines and the stderr line that says each
//! is ready; how to read each one's own account of what it captured and lost is in
//! [`super::account`].
use std::path::Path;

/// netcap's default ring is 16 MiB; tcpdump -w gets the same buffer.
const BUFFER_KIB: &str = "16384";
/// The pseudo-tool that captures nothing: the machine's cost of the traffic alone.
pub const BASELINE: &str = "none (no capture)";
/// The row the "vs tcpdump" ratio divides by.
pub const TCPDUMP_REF: &str = "tcpdump -w /dev/null -B 16384";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// No capture at all (the baseline).
    None,
    Netcap,
    Tcpdump,
    Xdpdump,
    /// softflowd: flows in user space from libpcap; its account from `softflowctl`.
    Softflowd,
    /// pmacctd with its memory plugin; its account from the `pmacct` client.
    Pmacctd,
    /// The floor (`kbench attach-floor`): the smallest XDP program that reads one
    /// packet byte, in generic mode; captures nothing, its kernel ns/run is the floor
    /// of the netcap rows' figures. Also the memory floor of in-kernel flows
    /// (`kbench attach-mem-floor`, [`MEM_FLOOR`]).
    Floor,
}

impl Family {
    /// A stderr line containing this says the tool is capturing.
    pub fn ready(self) -> &'static str {
        match self {
            Family::None => "",
            Family::Netcap => "capturing with",
            Family::Tcpdump | Family::Xdpdump => "listening on",
            Family::Softflowd => "starting data collection",
            Family::Pmacctd => "waiting for data on",
            Family::Floor => "floor attached",
        }
    }
}

pub struct Tool {
    pub name: &'static str,
    pub family: Family,
    /// Program and arguments; empty for [`Family::None`].
    pub args: Vec<String>,
    /// A command whose output is the tool's account, run just before it is stopped
    /// (softflowd's and pmacctd's clients); empty for none.
    pub query: Vec<String>,
}

impl Tool {
    /// Always run, whatever `--only` says: the baseline, the reference of the ratio
    /// and the floor of the kernel figures.
    pub fn is_reference(&self) -> bool {
        self.name == BASELINE || self.name == TCPDUMP_REF || self.name == FLOOR
    }

    /// The same netcap row run by another build (`--compare-bin`), named with " [B]";
    /// None for rows that are not netcap's own binary.
    pub fn with_binary(&self, bin: &Path, other: &Path) -> Option<Tool> {
        if self.family != Family::Netcap || self.args.first()? != &bin.display().to_string() {
            return None;
        }
        let mut args = self.args.clone();
        args[0] = other.display().to_string();
        Some(Tool {
            // Leaked: the bench builds its tool list once per run.
            name: format!("{} [B]", self.name).leak(),
            family: self.family,
            args,
            query: self.query.clone(),
        })
    }

    /// The same netcap capture row with `extra` (split at spaces) added to its
    /// arguments (`--variant`), named with " [EXTRA]"; None for rows that are not
    /// `netcap capture`.
    pub fn with_args(&self, bin: &Path, extra: &str) -> Option<Tool> {
        let ours = self.family == Family::Netcap
            && self.args.first()? == &bin.display().to_string()
            && self.args.get(1).is_some_and(|a| a == "capture");
        if !ours {
            return None;
        }
        let mut args = self.args.clone();
        args.extend(extra.split_whitespace().map(str::to_owned));
        Some(Tool {
            // Leaked: the bench builds its tool list once per run.
            name: format!("{} [{extra}]", self.name).leak(),
            family: self.family,
            args,
            query: self.query.clone(),
        })
    }

    /// Loads eBPF programs whose cost the kernel's run statistics measure: the floors,
    /// xdpdump, netcap on its XDP or TC backend. These get runs with the statistics on
    /// beside those with them off (the bench warns of a tool that loads programs
    /// without being one of these).
    pub fn loads_bpf(&self) -> bool {
        match self.family {
            Family::Floor | Family::Xdpdump => true,
            Family::Netcap => {
                let backend = self
                    .args
                    .windows(2)
                    .find(|w| w[0] == "--backend")
                    .map(|w| w[1].as_str());
                let floor = self.args.iter().any(|a| a == "attach-capture-floor");
                // The default backend is tcx for root (the bench), AF_PACKET when flows
                // are counted (`netcap/src/capture/open.rs`).
                let default_tc = backend.is_none()
                    && self.args.iter().any(|a| a == "capture")
                    && !self.args.iter().any(|a| a.starts_with("--flows"));
                floor || default_tc || matches!(backend, Some("xdp" | "tc"))
            }
            Family::None | Family::Tcpdump | Family::Softflowd | Family::Pmacctd => false,
        }
    }
}

/// Files of the flow exporters, under the bench's output folder.
pub struct FlowFiles {
    /// softflowd's control socket.
    pub softflowd_ctl: std::path::PathBuf,
    /// pmacctd's configuration ([`pmacctd_config`]) and its memory plugin's pipe.
    pub pmacctd_conf: std::path::PathBuf,
    pub pmacctd_pipe: std::path::PathBuf,
}

impl FlowFiles {
    pub fn under(dir: &Path) -> Self {
        Self {
            softflowd_ctl: dir.join("softflowd.ctl"),
            pmacctd_conf: dir.join("pmacctd.conf"),
            pmacctd_pipe: dir.join("pmacctd.pipe"),
        }
    }
}

/// Issue 14's accepting filter (20 classic instructions): it keeps every frame of
/// trafgen's (UDP to ports 9-40).
const ACCEPTING: &str = "tcp port 443 or (udp and not port 53)";

/// Flows the exporters may hold: above the traffic's 100,000, so that none is expired
/// early for room (softflowd's default is 8,192).
const EXPORTER_MAX_FLOWS: &str = "131072";

/// pmacctd in the foreground, counting per 5-tuple in its memory table (no size limit),
/// which the `pmacct` client reads. The pipe from its capture process to the plugin is
/// the size pmacct's documentation suggests for high rates (64 MiB, 10 KiB buffers):
/// with the defaults it passed on about a fifth of the frames at this bench's rates.
pub fn pmacctd_config(iface: &str, pipe: &Path) -> String {
    format!(
        "daemonize: false\npcap_interface: {iface}\n\
         aggregate: src_host, dst_host, src_port, dst_port, proto\n\
         plugins: memory\nimt_path: {}\nimt_mem_pools_number: 0\n\
         imt_buckets: {EXPORTER_MAX_FLOWS}\n\
         plugin_pipe_size: 67108864\nplugin_buffer_size: 10240\n",
        pipe.display()
    )
}

/// The floor row's name.
pub const FLOOR: &str = "floor: XDP generic, 1 byte read";
/// The tcx ingress floor's name: the TC floor program (the same 8 instructions) attached
/// first at tcx ingress. Not a reference: `--only "netcap tc"` does not run it, `--only
/// floor` does.
pub const TC_FLOOR: &str = "floor: tcx ingress, 1 byte read";
/// The tcx capture floors (`kbench attach-capture-floor --hook tc`): `-F none`'s and
/// `-w /dev/null`'s least cost. `--only "capture floor"` runs both.
pub const CAPFLOOR_COUNT: &str = "capture floor: tcx, clock + 64-byte record, reader counts";
pub const CAPFLOOR_PCAP: &str =
    "capture floor: tcx, clock + 64-byte record, reader writes pcap to /dev/null";
/// The memory floor of in-kernel flows (`netcap/src/capture/flow_floor.rs`): the
/// 5-tuple hashed to one random 128-byte slot of 16 MiB, one read and one atomic add
/// there. Not a reference: `--only flows` runs it.
pub const MEM_FLOOR: &str =
    "memory floor for flows: XDP generic, 5-tuple hashed to one random slot of 16 MiB";

pub fn tools(
    bin: &Path,
    kbench: &Path,
    iface: &str,
    stats: &Path,
    wfile: &Path,
    flow_files: &FlowFiles,
) -> Vec<Tool> {
    let nc = |name, extra: &[&str]| {
        let mut args: Vec<String> = vec![bin.display().to_string(), "capture".into(), "-i".into()];
        args.push(iface.into());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--stats-json".into(), stats.display().to_string()]);
        Tool {
            name,
            family: Family::Netcap,
            args,
            query: Vec::new(),
        }
    };
    let other = |name, family, prog: &str, extra: &[&str]| {
        let mut args: Vec<String> = vec![prog.into(), "-i".into(), iface.into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Tool {
            name,
            family,
            args,
            query: Vec::new(),
        }
    };
    let capture_floor = |name, reader: &str| Tool {
        name,
        family: Family::Netcap,
        args: [
            &kbench.display().to_string(),
            "attach-capture-floor",
            iface,
            "--hook",
            "tc",
            "--reader",
            reader,
            "--stats-json",
            &stats.display().to_string(),
        ]
        .map(String::from)
        .to_vec(),
        query: Vec::new(),
    };
    let w = wfile.display().to_string();
    fn xdp<'a>(mode: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["--backend", "xdp", "--xdp-mode", mode];
        v.extend_from_slice(extra);
        v
    }
    vec![
        Tool {
            name: BASELINE,
            family: Family::None,
            args: Vec::new(),
            query: Vec::new(),
        },
        Tool {
            name: FLOOR,
            family: Family::Floor,
            args: vec![
                kbench.display().to_string(),
                "attach-floor".into(),
                iface.into(),
            ],
            query: Vec::new(),
        },
        Tool {
            name: TC_FLOOR,
            family: Family::Floor,
            args: vec![
                kbench.display().to_string(),
                "attach-tc-floor".into(),
                iface.into(),
            ],
            query: Vec::new(),
        },
        Tool {
            name: MEM_FLOOR,
            family: Family::Floor,
            args: vec![
                kbench.display().to_string(),
                "attach-mem-floor".into(),
                iface.into(),
            ],
            query: Vec::new(),
        },
        // The least a tcx capture that timestamps every frame and hands it to user space
        // can cost (`netcap/src/capture/capture_floor.rs`): the one-byte floor, a clock
        // read, a 16-byte header and 64 frame bytes into per-CPU rings, one reader
        // thread counting the records or also writing them as pcap to /dev/null in
        // 1 MiB writes. A netcap-like account (`--stats-json`) and ready line.
        capture_floor(CAPFLOOR_COUNT, "count"),
        capture_floor(CAPFLOOR_PCAP, "pcap"),
        nc("netcap -F none (default backend)", &["-F", "none"]),
        nc(
            "netcap -w /dev/null (default backend)",
            &["-w", "/dev/null"],
        ),
        nc("netcap tc -F none", &["--backend", "tc", "-F", "none"]),
        nc(
            "netcap tc -w /dev/null",
            &["--backend", "tc", "-w", "/dev/null"],
        ),
        nc("netcap xdp native -F none", &xdp("native", &["-F", "none"])),
        nc(
            "netcap xdp generic -F none",
            &xdp("generic", &["-F", "none"]),
        ),
        nc(
            "netcap xdp generic -F none, unbatched wake-ups",
            &xdp("generic", &["-F", "none", "--wakeup-bytes", "0"]),
        ),
        nc(
            "netcap xdp generic -F none, filter keeps 1%",
            // trafgen's source port counts 1024..=51023: 500 of 50,000 ports.
            &xdp("generic", &["-F", "none", "udp src portrange 1024-1523"]),
        ),
        nc(
            "netcap xdp generic -F none, filter keeps 1%, interpreter",
            &xdp(
                "generic",
                &[
                    "-F",
                    "none",
                    "--kernel-filter",
                    "interp",
                    "udp src portrange 1024-1523",
                ],
            ),
        ),
        nc(
            "netcap xdp generic -F none, 20-insn filter keeps all",
            &xdp("generic", &["-F", "none", ACCEPTING]),
        ),
        nc(
            "netcap xdp generic -F none, 20-insn filter keeps all, interpreter",
            &xdp(
                "generic",
                &["-F", "none", "--kernel-filter", "interp", ACCEPTING],
            ),
        ),
        nc(
            "netcap xdp generic, flows counted in the kernel",
            &xdp("generic", &["-F", "none", "--flows-json", "/dev/null"]),
        ),
        nc(
            "netcap xdp generic, flows counted in the kernel, --max-flows 131072",
            // The map's buckets and elements for 131,072 flows (about 25 MB) instead
            // of the default 1,000,000 (about 190 MB): how much the cache misses cost.
            &xdp(
                "generic",
                &[
                    "-F",
                    "none",
                    "--flows-json",
                    "/dev/null",
                    "--max-flows",
                    "131072",
                ],
            ),
        ),
        nc(
            "netcap xdp generic, flows counted in user space",
            &xdp(
                "generic",
                &["-F", "none", "--flows-json", "/dev/null", "--user-flows"],
            ),
        ),
        nc(
            "netcap --flows-json /dev/null (default backend)",
            &["-F", "none", "--flows-json", "/dev/null"],
        ),
        nc(
            "netcap xdp generic -F turtle",
            &xdp("generic", &["-F", "turtle"]),
        ),
        nc(
            "netcap xdp generic -F line",
            &xdp("generic", &["-F", "line"]),
        ),
        nc(
            "netcap xdp generic -F json",
            &xdp("generic", &["-F", "json"]),
        ),
        // The same decode on one worker and on two: with a ring per CPU each worker
        // reads its own rings (#14's scaling figure, beside the fanout row below).
        nc(
            "netcap xdp generic -F line, 1 worker",
            &xdp("generic", &["-F", "line", "--workers", "1"]),
        ),
        nc(
            "netcap xdp generic -F line, 2 workers",
            &xdp("generic", &["-F", "line", "--workers", "2"]),
        ),
        nc("netcap xdp generic -w FILE", &xdp("generic", &["-w", &w])),
        nc(
            "netcap xdp native -w /dev/null",
            &xdp("native", &["-w", "/dev/null"]),
        ),
        nc(
            "netcap afpacket -F none",
            &["--backend", "afpacket", "-F", "none"],
        ),
        nc(
            "netcap afpacket -w /dev/null",
            &["--backend", "afpacket", "-w", "/dev/null"],
        ),
        // What reaching an AF_PACKET socket costs without its ring: the socket filter
        // (trafgen never uses UDP port 1) rejects every frame before the copy, the
        // clock read and the ring's lock. Captures nothing; the floor of any capture
        // through a packet socket (docs/bench/capture-afpacket.md).
        nc(
            "netcap afpacket floor: socket filter rejects all",
            &["--backend", "afpacket", "-F", "none", "udp port 1"],
        ),
        nc(
            "netcap afpacket -F line, fanout over 2 workers",
            &["--backend", "afpacket", "-F", "line", "--workers", "2"],
        ),
        Tool {
            name: "softflowd (libpcap, flows in user space)",
            family: Family::Softflowd,
            args: [
                "softflowd",
                "-d",
                "-i",
                iface,
                "-m",
                EXPORTER_MAX_FLOWS,
                "-n",
                "127.0.0.1:9",
                "-c",
            ]
            .into_iter()
            .map(String::from)
            .chain([flow_files.softflowd_ctl.display().to_string()])
            .collect(),
            query: vec![
                "softflowctl".into(),
                "-c".into(),
                flow_files.softflowd_ctl.display().to_string(),
                "statistics".into(),
            ],
        },
        Tool {
            name: "pmacctd memory plugin (libpcap, flows in user space)",
            family: Family::Pmacctd,
            args: vec![
                "pmacctd".into(),
                "-f".into(),
                flow_files.pmacctd_conf.display().to_string(),
            ],
            query: vec![
                "pmacct".into(),
                "-p".into(),
                flow_files.pmacctd_pipe.display().to_string(),
                "-s".into(),
                "-O".into(),
                "csv".into(),
            ],
        },
        other(
            TCPDUMP_REF,
            Family::Tcpdump,
            "tcpdump",
            &["-w", "/dev/null", "-B", BUFFER_KIB],
        ),
        other(
            "tcpdump -n > /dev/null",
            Family::Tcpdump,
            "tcpdump",
            &["-n"],
        ),
        other(
            "xdpdump skb -w /dev/null",
            Family::Xdpdump,
            "xdpdump",
            &[
                "--load-xdp-program",
                "--load-xdp-mode",
                "skb",
                "-w",
                "/dev/null",
            ],
        ),
    ]
}
