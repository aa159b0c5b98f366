//! The soak bench's verdict: its checks, and the report in Markdown.
use super::{traffic, Bound, Check, FileCheck, Report, FILES, MIB, SLACK_MIB};
use crate::bench::thousands;

pub(super) fn checks(
    stats: &serde_json::Value,
    code: i32,
    files: &[FileCheck],
    rss_max: u64,
    hwm: u64,
    bound: &Bound,
    stderr: &str,
) -> Vec<Check> {
    let n = |k: &str| stats.get(k).and_then(serde_json::Value::as_u64);
    let mut v = Vec::new();
    v.push(Check {
        name: "netcap exited with status 0".into(),
        ok: code == 0,
        detail: format!(
            "status {code}{}",
            stderr
                .lines()
                .rev()
                .find(|l| l.contains("frames seen"))
                .map(|l| format!("; {}", l.trim()))
                .unwrap_or_default()
        ),
    });
    let (seen, captured, filtered, lost) = (n("seen"), n("captured"), n("filtered"), n("lost"));
    v.push(match (seen, captured, filtered, lost) {
        (Some(s), Some(c), Some(f), Some(l)) => Check {
            name: "seen == captured + filtered + lost".into(),
            ok: s == c + f + l && s > 0,
            detail: format!(
                "{} == {} + {} + {}",
                thousands(s as f64),
                thousands(c as f64),
                thousands(f as f64),
                thousands(l as f64)
            ),
        },
        _ => Check {
            name: "seen == captured + filtered + lost".into(),
            ok: false,
            detail: "a count is missing from --stats-json".into(),
        },
    });
    let bad: Vec<String> = files
        .iter()
        .filter_map(|f| f.error.as_ref().map(|e| format!("{}: {e}", f.name)))
        .collect();
    v.push(Check {
        name: format!("the -W {FILES} ring was used and tcpdump reads every file"),
        ok: files.len() >= 2 && bad.is_empty(),
        detail: if bad.is_empty() {
            format!(
                "{} files, {} frames in them",
                files.len(),
                thousands(files.iter().map(|f| f.frames).sum::<u64>() as f64)
            )
        } else {
            bad.join("; ")
        },
    });
    v.push(Check {
        name: "RSS stays within the bound".into(),
        ok: rss_max > 0 && rss_max <= bound.total && hwm <= bound.total,
        detail: format!(
            "max sample {} MiB, VmHWM {} MiB, bound {}",
            mib(rss_max),
            mib(hwm),
            bound.explain()
        ),
    });
    v
}

/// Highest RSS sample of the last quarter less the highest of the second quarter.
pub(super) fn late_growth(rss: &[u64]) -> i64 {
    let q = rss.len() / 4;
    if q == 0 {
        return 0;
    }
    let max = |s: &[u64]| s.iter().copied().max().unwrap_or(0) as i64;
    max(&rss[rss.len() - q..]) - max(&rss[q..2 * q])
}

pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB as f64)
}

pub(super) fn markdown(r: &Report) -> String {
    let mut s = format!(
        "Soak: netcap on the host end of a veth pair for {:.0} s, `trafgen` in a namespace \
         alternating mixed traffic (64-byte UDP, 512-byte TCP, 1,500-byte UDP, ICMP echo; a \
         dozen flows) and a flood of new flows (random source addresses and ports), {} phases \
         of {:.0} s, {} us between frames ({} frames a second on average). RSS (VmRSS) read every second.\n\
         Machine: {}.\n\n\
         Command: `{}`\n\n",
        r.secs,
        r.phases.len(),
        r.phases.first().map_or(0.0, |p| p.secs),
        traffic::GAP_US,
        thousands(r.host_rx as f64 / r.secs),
        r.machine.summary(),
        r.command,
    );
    s.push_str(&format!(
        "**{}**\n\n| check | result | figures |\n| --- | --- | --- |\n",
        if r.pass { "PASS" } else { "FAIL" }
    ));
    for c in &r.checks {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            c.name,
            if c.ok { "pass" } else { "FAIL" },
            c.detail
        ));
    }
    let flows = r.stats.get("flows");
    let f = |k: &str| {
        flows
            .and_then(|v| v.get(k))
            .and_then(serde_json::Value::as_u64)
            .map_or_else(|| "–".to_owned(), |n| thousands(n as f64))
    };
    s.push_str(&format!(
        "\nRSS: {} MiB at start, {} MiB at most (VmHWM {} MiB, exit included), last quarter \
         vs second quarter {:+.1} MiB. Bound: {}.\n\n\
         Frames: {} reached the host end; flows created {}, evicted with the table full {}, \
         finished records dropped {}, live at the end {}.\n\n\
         The bound: what netcap had when it said it was capturing, plus what its flags \
         allow it to add: the `-B` ring, the queued and pooled batches \
         (`netcap/src/pipeline/mod.rs`), the flow shards as README states them \
         (`--max-flows / workers` live flows plus `max(--max-flows, 16384)` finished \
         records per shard, about 200 bytes each) and {} MiB for what no flag sets.\n",
        mib(r.bound.at_start),
        mib(r.rss_max),
        mib(r.hwm),
        r.rss_late_growth as f64 / MIB as f64,
        r.bound.explain(),
        thousands(r.host_rx as f64),
        f("created"),
        f("evicted_full"),
        f("records_dropped"),
        f("live"),
        SLACK_MIB,
    ));
    s
}
