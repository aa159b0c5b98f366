//! The progress bar of `netcap read`: shown on a terminal (a tmux pane), never when
//! stderr is a pipe or with `-q`. Needs tmux, not privileges.
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
/// for 3 s, so the read is still going when the pane is looked at.
fn slow_read(name: &str, pcap: &Path, args: &str) -> Tmux {
    let cmd = format!(
        "(cat {}; sleep 3) | {} read - -F none {args}; sleep 30",
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
    assert!(pane.contains("read, 5000 frames"), "{pane}");
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
    let t = slow_read("quiet", &pcap, "-q");
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
