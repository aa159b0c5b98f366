//! What each tool of the capture bench says it did: netcap's `--stats-json`, tcpdump's
//! and xdpdump's closing lines, softflowd's and pmacct's clients.
use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, Result};

use super::tools::{Family, Tool};

/// The output of the tool's account command ([`Tool::query`]); empty when it has none.
pub fn query(tool: &Tool) -> Result<String> {
    let Some((prog, args)) = tool.query.split_first() else {
        return Ok(String::new());
    };
    let o = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {prog}"))?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
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

    /// From the tool's `--stats-json` file (netcap), its closing lines on stderr, or
    /// the output of its [`Tool::query`] (`queried`).
    pub fn read(family: Family, stats: &Path, stderr: &str, queried: &str) -> Result<Account> {
        match family {
            Family::Softflowd => softflowd_account(queried),
            Family::Pmacctd => pmacct_account(queried),
            Family::None => Ok(Account::nothing()),
            Family::Floor => Ok(Account {
                backend: if stderr.contains("(tcx ingress)") {
                    "tcx ingress (floor)".into()
                } else {
                    "XDP generic (floor)".into()
                },
                ..Account::nothing()
            }),
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

/// `softflowctl statistics`: "Packets processed: N" (frames counted into flows) and
/// libpcap's and the interface's drops.
fn softflowd_account(text: &str) -> Result<Account> {
    let find = |what: &str| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(what)
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
    };
    let processed = find("Packets processed:")
        .with_context(|| format!("no packet count in softflowctl's statistics:\n{text}"))?;
    let pcap = find("Packets dropped by libpcap:").unwrap_or(0);
    let iface = find("Packets dropped by interface:").unwrap_or(0);
    Ok(Account {
        captured: processed,
        filtered: 0,
        lost_own: pcap + iface,
        lost_by_cause: Some(serde_json::json!({ "libpcap": pcap, "interface": iface })),
        backend: "AF_PACKET (libpcap)".into(),
    })
}

/// `pmacct -s -O csv`: the PACKETS column of every flow, added up. pmacctd keeps no
/// count of its own losses.
fn pmacct_account(text: &str) -> Result<Account> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split(',')
        .position(|h| h == "PACKETS")
        .with_context(|| format!("no PACKETS column in pmacct's table:\n{text}"))?;
    let captured = lines
        .filter_map(|l| l.split(',').nth(col)?.trim().parse::<u64>().ok())
        .sum();
    Ok(Account {
        captured,
        filtered: 0,
        lost_own: 0,
        lost_by_cause: None,
        backend: "AF_PACKET (libpcap)".into(),
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
        let a = Account::read(Family::Xdpdump, Path::new("/nonexistent"), stderr, "")
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
        let a = Account::read(Family::Tcpdump, Path::new("/nonexistent"), stderr, "")
            .expect("summary found");
        assert_eq!((a.captured, a.lost_own), (300_000, 12));
    }

    #[test]
    fn softflowd_and_pmacct_accounts() {
        let sf = "Number of active flows: 2\nPackets processed: 300000\nFragments: 0\n\
                  Packets received by libpcap: 300010\nPackets dropped by libpcap: 7\n\
                  Packets dropped by interface: 0\n";
        let a = Account::read(Family::Softflowd, Path::new("/nonexistent"), "", sf)
            .expect("statistics found");
        assert_eq!((a.captured, a.lost_own), (300_000, 7));
        let pm = "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES\n\
                  10.250.0.2,10.250.0.1,1024,9,udp,3,192\n\
                  10.250.0.2,10.250.0.1,1025,10,udp,4,256\n";
        let a =
            Account::read(Family::Pmacctd, Path::new("/nonexistent"), "", pm).expect("table found");
        assert_eq!(a.captured, 7);
        assert!(Account::read(Family::Softflowd, Path::new("/x"), "", "nothing").is_err());
    }
}
