//! The capture bench's tools: their command lines, the stderr line that says each is
//! ready, and how to read each one's own account of what it captured and lost.
use std::path::Path;

use anyhow::{Context, Result};

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
}

impl Family {
    /// A stderr line containing this says the tool is capturing.
    pub fn ready(self) -> &'static str {
        match self {
            Family::None => "",
            Family::Netcap => "capturing with",
            Family::Tcpdump | Family::Xdpdump => "listening on",
        }
    }
}

pub struct Tool {
    pub name: &'static str,
    pub family: Family,
    /// Program and arguments; empty for [`Family::None`].
    pub args: Vec<String>,
}

impl Tool {
    /// Always run, whatever `--only` says: the baseline and the reference of the ratio.
    pub fn is_reference(&self) -> bool {
        self.name == BASELINE || self.name == TCPDUMP_REF
    }
}

pub fn tools(bin: &Path, iface: &str, stats: &Path, wfile: &Path) -> Vec<Tool> {
    let nc = |name, extra: &[&str]| {
        let mut args: Vec<String> = vec![bin.display().to_string(), "capture".into(), "-i".into()];
        args.push(iface.into());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--stats-json".into(), stats.display().to_string()]);
        Tool {
            name,
            family: Family::Netcap,
            args,
        }
    };
    let other = |name, family, prog: &str, extra: &[&str]| {
        let mut args: Vec<String> = vec![prog.into(), "-i".into(), iface.into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Tool { name, family, args }
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
        },
        nc("netcap -F none (default backend)", &["-F", "none"]),
        nc(
            "netcap -w /dev/null (default backend)",
            &["-w", "/dev/null"],
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
            // trafgen's source port counts 1024..=65000: 640 of 63,977 ports.
            &xdp("generic", &["-F", "none", "udp src portrange 1024-1663"]),
        ),
        nc(
            "netcap xdp generic, flows counted in the kernel",
            &xdp("generic", &["-F", "none", "--flows-json", "/dev/null"]),
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
        nc(
            "netcap afpacket -F line, fanout over 2 workers",
            &["--backend", "afpacket", "-F", "line", "--workers", "2"],
        ),
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

/// What a tool says it did: frames captured, rejected by its kernel filter, lost by
/// its own count (and by cause), and the backend it used.
pub struct Account {
    pub captured: u64,
    pub filtered: u64,
    pub lost_own: u64,
    pub lost_by_cause: Option<serde_json::Value>,
    pub backend: String,
}

impl Account {
    /// The baseline's: nothing.
    pub fn nothing() -> Account {
        Account {
            captured: 0,
            filtered: 0,
            lost_own: 0,
            lost_by_cause: None,
            backend: "-".into(),
        }
    }

    /// From the tool's `--stats-json` file (netcap) or its closing lines on stderr.
    pub fn read(family: Family, stats: &Path, stderr: &str) -> Result<Account> {
        match family {
            Family::None => Ok(Account::nothing()),
            Family::Netcap => netcap_account(stats, stderr),
            Family::Tcpdump => {
                closing_lines(stderr, "packets dropped by kernel", "AF_PACKET (libpcap)")
            }
            Family::Xdpdump => closing_lines(
                stderr,
                "packets dropped by perf ring",
                "XDP skb (xdpdump, perf ring)",
            ),
        }
    }
}

fn netcap_account(stats: &Path, stderr: &str) -> Result<Account> {
    let text = std::fs::read_to_string(stats)
        .with_context(|| format!("reading {} (stderr: {stderr})", stats.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Ok(Account {
        // In-kernel flow mode counts most frames into their flows without copying
        // them: for the bench they are captured all the same.
        captured: num("captured") + num("aggregated"),
        filtered: num("filtered"),
        lost_own: num("lost"),
        lost_by_cause: v.get("lost_by_cause").cloned(),
        backend: v
            .get("backend")
            .and_then(|b| b.as_str())
            .unwrap_or("?")
            .to_owned(),
    })
}

/// tcpdump's and xdpdump's closing lines: "N packets captured", "N packets dropped by
/// kernel" (tcpdump) or "... by perf ring" (xdpdump).
fn closing_lines(stderr: &str, dropped_line: &str, backend: &str) -> Result<Account> {
    let find = |what: &str| {
        stderr.lines().find_map(|l| {
            l.trim()
                .strip_suffix(what)
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
    };
    let captured =
        find("packets captured").with_context(|| format!("no closing summary in:\n{stderr}"))?;
    let dropped = find(dropped_line).unwrap_or(0);
    let cause = dropped_line
        .trim_start_matches("packets ")
        .replace(' ', "_");
    Ok(Account {
        captured,
        filtered: 0,
        lost_own: dropped,
        lost_by_cause: Some(serde_json::json!({ cause: dropped })),
        backend: backend.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdpdump_closing_lines() {
        let stderr = "WARNING: Specified interface does not have an XDP program loaded!\n\
                      listening on ncbh1, ingress XDP program ID 109 func xdpdump, capture \
                      mode entry, capture size 262144 bytes\n\n\
                      100005 packets captured\n0 packets dropped by perf ring\n";
        let a = Account::read(Family::Xdpdump, Path::new("/nonexistent"), stderr)
            .expect("summary found");
        assert_eq!((a.captured, a.lost_own), (100_005, 0));
        assert_eq!(
            a.lost_by_cause,
            Some(serde_json::json!({ "dropped_by_perf_ring": 0 }))
        );
    }

    #[test]
    fn tcpdump_closing_lines() {
        let stderr = "listening on IF, link-type EN10MB\n300000 packets captured\n\
                      300000 packets received by filter\n12 packets dropped by kernel\n";
        let a = Account::read(Family::Tcpdump, Path::new("/nonexistent"), stderr)
            .expect("summary found");
        assert_eq!((a.captured, a.lost_own), (300_000, 12));
    }
}
