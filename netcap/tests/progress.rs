//! The progress bar of `netcap read`: shown on a terminal (a tmux pane), and redrawn
//! while the read waits on a slow input or a slow reader of the output; never when
//! stderr is a pipe, with `--quiet`, or when the text goes to the same terminal. Needs tmux
//! and util-linux `script`, not privileges.
mod netcap_proc;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use netcap_proc::{tempdir, udp_frames, write_pcap, Netcap};

/// A detached tmux server of its own, killed on drop.
struct Tmux(String);

impl Tmux {
    fn new(name: &str, shell_cmd: &str) -> Self {
        let t = Self(format!("netcap-{name}-{}", std::process::id()));
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.0,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "20",
                shell_cmd,
            ])
            .status()
            .expect("running tmux (apt-get install tmux)");
        assert!(ok.success(), "tmux new-session");
        t
    }

    fn pane(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0, "capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the pane until `pred` holds or `within` passes; returns the last pane.
    fn wait_for(&self, within: Duration, pred: impl Fn(&str) -> bool) -> (bool, String) {
        let t0 = Instant::now();
        loop {
            let pane = self.pane();
            if pred(&pane) {
                return (true, pane);
            }
            if t0.elapsed() > within {
                return (false, pane);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

/// A pane that feeds `pcap` to `netcap read - ARGS` through a pipe that stays open
/// for 4 s, so the read is still going (waiting in `fill`) when the pane is looked at.
fn slow_read(name: &str, pcap: &Path, args: &str) -> Tmux {
    let cmd = format!(
        "(cat {}; sleep 4) | {} read - -F none {args}; sleep 30",
        pcap.display(),
        env!("CARGO_BIN_EXE_netcap")
    );
    Tmux::new(name, &cmd)
}

#[test]
fn a_terminal_shows_bytes_frames_and_rate_while_reading() {
    let dir = tempdir();
    let pcap = dir.join("in.pcap");
    write_pcap(&pcap, &udp_frames(5000, 100));
    let t = slow_read("progress", &pcap, "");
    let (shown, pane) = t.wait_for(Duration::from_secs(3), |p| p.contains("frames/s"));
    assert!(shown, "no progress on the terminal:\n{pane}");
    // The counts are those of the batches handed on: the last one is still being
    // filled, waiting for the pipe to end; meanwhile the bar goes on being drawn.
    assert!(
        pane.contains("KiB read, ") && pane.contains(" frames, "),
        "{pane}"
    );
    let (ticking, pane) = t.wait_for(Duration::from_secs(4), |p| p.contains("2s elapsed"));
    assert!(
        ticking,
        "the bar is not redrawn while the input waits:\n{pane}"
    );
    // Cleared at the end: the summary replaces it.
    let (ended, pane) = t.wait_for(Duration::from_secs(8), |p| p.contains("frames seen"));
    assert!(ended, "{pane}");
    assert!(
        !pane.contains("frames/s"),
        "the bar stays after the end:\n{pane}"
    );
}

#[test]
fn quiet_shows_no_progress() {
    let dir = tempdir();
    let pcap = dir.join("in.pcap");
    write_pcap(&pcap, &udp_frames(5000, 100));
    let t = slow_read("quiet", &pcap, "--quiet");
    let (ended, pane) = t.wait_for(Duration::from_secs(8), |p| p.contains("frames seen"));
    assert!(ended, "{pane}");
    assert!(!pane.contains("frames/s"), "{pane}");
}

#[test]
fn a_pipe_gets_no_progress() {
    let dir = tempdir();
    let pcap = dir.join("in.pcap");
    write_pcap(&pcap, &udp_frames(5000, 100));
    let out = Netcap::run(&["read", pcap.to_str().expect("utf-8"), "-F", "none"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("frames/s"), "{}", out.stderr);
    assert!(!out.stderr.contains('\r'), "{}", out.stderr);
}

/// The percent shown on the bar's line (the one with "ETA"), if any.
fn percent(pane: &str) -> Option<u64> {
    let line = pane.lines().find(|l| l.contains("ETA"))?;
    line.split_whitespace()
        .find_map(|w| w.strip_suffix('%')?.parse().ok())
}

/// A named file has a size: the bar shows the percent read and the time left. The
/// text goes to a pipe whose reader waits 4 s, so the read stops part way (the
/// pipeline blocks) and the bar, still drawn, shows the same percent as time passes.
#[test]
fn a_named_file_shows_percent_and_eta_while_the_output_waits() {
    let dir = tempdir();
    let pcap = dir.join("big.pcap");
    // 46 MB: far more than the pipeline's queues and the pipe hold.
    write_pcap(&pcap, &udp_frames(400_000, 100));
    let cmd = format!(
        "{} read {} -F line | (sleep 4; cat >/dev/null); sleep 30",
        env!("CARGO_BIN_EXE_netcap"),
        pcap.display()
    );
    let t = Tmux::new("named", &cmd);
    let (shown, pane) = t.wait_for(Duration::from_secs(3), |p| {
        percent(p).is_some() && p.contains("frames/s")
    });
    assert!(shown, "no percent and ETA on the terminal:\n{pane}");
    let at = percent(&pane).unwrap_or_default();
    assert!(at < 100, "the read should wait part way:\n{pane}");
    assert!(pane.contains("MiB/") && pane.contains(" ETA "), "{pane}");
    let (ticking, pane) = t.wait_for(Duration::from_secs(4), |p| p.contains("2s elapsed"));
    assert!(
        ticking,
        "the bar is not redrawn while the output waits:\n{pane}"
    );
    assert!(percent(&pane).is_some_and(|p| p < 100), "{pane}");
    let (ended, pane) = t.wait_for(Duration::from_secs(15), |p| p.contains("frames seen"));
    assert!(ended, "{pane}");
    assert!(pane.contains("400000 frames seen"), "{pane}");
    assert!(
        !pane.contains("ETA"),
        "the bar stays after the end:\n{pane}"
    );
}

/// Text printed to the terminal the bar would be drawn on comes alone, as tcpdump -r
/// prints it: every byte written to the terminal (recorded by `script`) has the frames
/// and the summary, and no bar.
#[test]
fn text_on_the_same_terminal_gets_no_bar() {
    let dir = tempdir();
    let pcap = dir.join("in.pcap");
    write_pcap(&pcap, &udp_frames(20_000, 100));
    let cmd = format!(
        "{} read {} -F line",
        env!("CARGO_BIN_EXE_netcap"),
        pcap.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script (util-linux)");
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("20000 frames seen"), "{all}");
    assert!(all.contains("10.0.0.1"), "the frames are printed:\n{all}");
    assert!(
        !all.contains("frames/s") && !all.contains("elapsed"),
        "a bar among the text"
    );
}
