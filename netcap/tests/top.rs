//! `netcap top` end to end: run in a tmux pane (a real terminal, 160x40) on a veth
//! with crafted flows sent from the namespace; the screen is read back with
//! `capture-pane` and the keys typed with `send-keys`. Privileged (`cargo xtask test`)
//! except the check that it refuses a stdout that is not a terminal.
//!
//! Each test has its own tmux server (`tmux -L <unique socket>`, no config file),
//! killed on drop, also when the test fails.
mod common;
mod netcap_proc;

use std::{
    net::Ipv4Addr,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use common::VethPair;
use netcap_proc::Netcap;

/// A tmux server with one 160x40 session running `sh`, whose prompt is `shell$ `.
struct Tmux {
    socket: String,
}

const SESSION: &str = "top";
const PROMPT: &str = "shell$";

impl Tmux {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmux = Tmux {
            socket: format!("netcap-top-{}-{n}", std::process::id()),
        };
        // From here on, Drop kills the server.
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "40",
            "-s",
            SESSION,
            &format!("env PS1='{PROMPT} ' sh -i"),
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux (is it installed?)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` (tmux key names, e.g. `Enter`, `Escape`, or literal text).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", SESSION])
    }

    /// Waits up to `within` for the screen to satisfy `ok`; panics with the screen.
    fn wait(&self, within: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(t0.elapsed() < within, "after {within:?}, not {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the pane's process (the shell).
    fn shell_pid(&self) -> u32 {
        let out = self.run(&["display-message", "-p", "-t", SESSION, "#{pane_pid}"]);
        out.trim().parse().expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The children of `pid` (netcap, run by the pane's shell).
fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The interface's promiscuity count, from `ip -d -j link show`.
fn promiscuity(ifname: &str) -> u64 {
    let out = Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", ifname])
        .output()
        .expect("running ip");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip's JSON");
    json[0]["promiscuity"].as_u64().unwrap_or(u64::MAX)
}

/// Nothing of netcap left on the interface: no XDP or tcx program, not promiscuous.
fn assert_detached(ifname: &str) {
    assert!(!netcap_proc::xdp_attached(ifname), "XDP left on {ifname}");
    assert_eq!(netcap_proc::tcx_egress_programs(ifname), 0, "tcx left");
    assert_eq!(promiscuity(ifname), 0, "{ifname} left promiscuous");
}

const SMALL: (u16, u16) = (1111, 2222);
const BIG: (u16, u16) = (3333, 80);

/// Two flows into the host: 30 small UDP frames (most packets) and 10 large TCP
/// frames (most bytes), so sorting by packets and by bytes give opposite orders.
fn send_flows(veth: &VethPair) {
    let (mac_ns, mac_host) = (common::test_mac(2), common::test_mac(1));
    let mut frames: Vec<Vec<u8>> = (0..30)
        .map(|_| {
            common::eth_ipv4_udp(
                mac_ns,
                mac_host,
                Ipv4Addr::new(203, 0, 113, 1),
                Ipv4Addr::new(198, 51, 100, 1),
                SMALL.0,
                SMALL.1,
                &[0; 18],
            )
        })
        .collect();
    frames.extend((0..10u32).map(|i| {
        common::eth_ipv4_tcp(
            mac_ns,
            mac_host,
            Ipv4Addr::new(203, 0, 113, 2),
            Ipv4Addr::new(198, 51, 100, 2),
            BIG.0,
            BIG.1,
            common::TCP_ACK | common::TCP_PSH,
            1 + i * 1000,
            1,
            &[0x55; 1000],
        )
    }));
    common::send_frames(&veth.ns, &veth.ns_if, &frames);
}

/// The screen line of the flow from `sport` (its row), if shown.
fn row<'a>(screen: &'a str, a: &str) -> Option<(usize, &'a str)> {
    screen.lines().enumerate().find(|(_, l)| l.contains(a))
}

fn shows(screen: &str, a: &str, b: &str, packets: &str) -> bool {
    row(screen, a).is_some_and(|(_, l)| {
        l.contains(b)
            && l.split(|c: char| c.is_whitespace() || c == '│')
                .any(|t| t == packets)
    })
}

const SMALL_A: &str = "203.0.113.1:1111";
const BIG_A: &str = "203.0.113.2:3333";

/// N in the totals' "seen N".
fn seen(screen: &str) -> Option<u64> {
    let rest = screen.split("seen ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Which of the two flows' rows comes first.
fn first(screen: &str) -> &'static str {
    let small = row(screen, SMALL_A).map(|r| r.0);
    let big = row(screen, BIG_A).map(|r| r.0);
    match (small, big) {
        (Some(s), Some(b)) if s < b => SMALL_A,
        (Some(_), Some(_)) => BIG_A,
        _ => panic!("both flows should be shown:\n{screen}"),
    }
}

/// Runs `netcap top` on a veth in tmux with `backend`, sends the two flows, and goes
/// through the keys; quits with `q` and checks the terminal and the interface.
fn top_on(backend: &str) {
    let veth = VethPair::new();
    let tmux = Tmux::new();
    tmux.wait(Duration::from_secs(5), "a shell prompt", |s| {
        s.contains(PROMPT)
    });
    let cmd = format!(
        "{} top --backend {backend} -i {}; echo status=$?",
        env!("CARGO_BIN_EXE_netcap"),
        veth.host_if
    );
    tmux.keys(&[&cmd, "Enter"]);
    let started = tmux.wait(Duration::from_secs(10), "netcap top's screen", |s| {
        s.contains("netcap top") && s.contains("flows by rate")
    });
    assert!(
        started.contains(&veth.host_if),
        "the backend line names the interface:\n{started}"
    );
    send_flows(&veth);
    let s = tmux.wait(
        Duration::from_secs(3),
        "both flows with their counts",
        |s| {
            shows(s, SMALL_A, "198.51.100.1:2222", "30") && shows(s, BIG_A, "198.51.100.2:80", "10")
        },
    );
    assert!(s.contains("open"), "the TCP flow's state:\n{s}");
    assert!(
        s.contains("lost 0 (ring full 0, copy failed 0)  dropped by interface 0"),
        "every loss by cause, the interface's too:\n{s}"
    );

    // `p` freezes the screen: the flows sent while paused are counted, not shown,
    // until `p` again.
    tmux.keys(&["p"]);
    let paused = tmux.wait(Duration::from_secs(2), "PAUSED", |s| s.contains("PAUSED"));
    send_flows(&veth);
    std::thread::sleep(Duration::from_millis(2500));
    let s = tmux.screen();
    assert!(
        s.contains("PAUSED")
            && shows(&s, SMALL_A, "198.51.100.1:2222", "30")
            && shows(&s, BIG_A, "198.51.100.2:80", "10"),
        "the counts moved while paused:\n{s}"
    );
    assert_eq!(seen(&s), seen(&paused), "seen moved while paused:\n{s}");
    tmux.keys(&["p"]);
    tmux.wait(
        Duration::from_secs(3),
        "the new counts once unpaused",
        |s| {
            !s.contains("PAUSED")
                && shows(s, SMALL_A, "198.51.100.1:2222", "60")
                && shows(s, BIG_A, "198.51.100.2:80", "20")
        },
    );

    tmux.keys(&["3"]);
    let s = tmux.wait(Duration::from_secs(2), "sorted by packets", |s| {
        s.contains("flows by packets") && s.contains("PKTS▼")
    });
    assert_eq!(first(&s), SMALL_A, "30 packets before 10:\n{s}");
    tmux.keys(&["2"]);
    let s = tmux.wait(Duration::from_secs(2), "sorted by bytes", |s| {
        s.contains("flows by bytes")
    });
    assert_eq!(first(&s), BIG_A, "10 kB before 2 kB:\n{s}");
    // `s` cycles on from bytes to packets.
    tmux.keys(&["s"]);
    let s = tmux.wait(Duration::from_secs(2), "s to sort by packets", |s| {
        s.contains("flows by packets")
    });
    assert_eq!(first(&s), SMALL_A, "{s}");

    tmux.keys(&["/", "2222", "Enter"]);
    let s = tmux.wait(Duration::from_secs(2), "filtered to one flow", |s| {
        s.contains("1 of 2") && row(s, BIG_A).is_none()
    });
    assert!(row(&s, SMALL_A).is_some(), "the matching flow stays:\n{s}");
    // Esc alone: with the next key in the same read, a terminal sees Alt+key.
    tmux.keys(&["Escape"]);
    tmux.wait(Duration::from_secs(2), "the filter cleared", |s| {
        s.contains("2 of 2")
    });
    tmux.keys(&["h"]);
    let s = tmux.wait(Duration::from_secs(2), "the hosts view", |s| {
        s.contains("hosts by packets") && s.contains("4 of 4")
    });
    assert!(s.contains("198.51.100.1") && s.contains("HOST"), "{s}");
    tmux.keys(&["h"]);

    tmux.keys(&["q"]);
    let s = tmux.wait(Duration::from_secs(5), "the shell again", |s| {
        s.contains("status=0")
    });
    assert!(
        !s.contains("flows by") && !s.contains("frames/s"),
        "the alternate screen is gone:\n{s}"
    );
    assert!(
        s.lines()
            .rfind(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with(PROMPT)),
        "a prompt last:\n{s}"
    );
    // The terminal is out of raw mode: what is typed is echoed, and Enter runs it.
    tmux.keys(&["echo ok-$((6*7))", "Enter"]);
    tmux.wait(Duration::from_secs(3), "a command echoed and run", |s| {
        s.contains("echo ok-$((6*7))") && s.lines().any(|l| l.trim() == "ok-42")
    });
    assert_detached(&veth.host_if);
}

#[test]
fn top_shows_the_flows_sorts_filters_and_quits_with_q_on_afpacket() {
    common::needs_privileges!();
    top_on("afpacket");
}

#[test]
fn top_shows_the_flows_sorts_filters_and_quits_with_q_on_xdp() {
    common::needs_privileges!();
    top_on("xdp");
}

/// Ctrl-C (a key in raw mode), SIGTERM, and SIGHUP from a closed terminal: each ends
/// top with the terminal given back and nothing left on the interface.
#[test]
fn top_ends_cleanly_on_ctrl_c_sigterm_and_a_closed_terminal() {
    common::needs_privileges!();
    let veth = VethPair::new();
    for how in ["ctrl-c", "sigterm", "hangup"] {
        let tmux = Tmux::new();
        tmux.wait(Duration::from_secs(5), "a shell prompt", |s| {
            s.contains(PROMPT)
        });
        let cmd = format!(
            "{} top --backend xdp -i {}; echo status=$?",
            env!("CARGO_BIN_EXE_netcap"),
            veth.host_if
        );
        tmux.keys(&[&cmd, "Enter"]);
        tmux.wait(Duration::from_secs(10), "netcap top's screen", |s| {
            s.contains("flows by rate")
        });
        assert!(netcap_proc::xdp_attached(&veth.host_if), "{how}: attached");
        let shell = tmux.shell_pid();
        let netcap = *children(shell).first().expect("netcap under the shell");
        match how {
            "ctrl-c" => tmux.keys(&["C-c"]),
            // SAFETY: kill(2) on the pid of a child of our tmux pane, still running.
            "sigterm" => assert_eq!(unsafe { libc::kill(netcap as i32, libc::SIGTERM) }, 0),
            _ => {
                tmux.run(&["kill-server"]);
            }
        }
        if how != "hangup" {
            let s = tmux.wait(Duration::from_secs(5), "the shell again", |s| {
                s.contains("status=0")
            });
            assert!(!s.contains("flows by"), "{how}: screen restored:\n{s}");
        }
        let t0 = Instant::now();
        while std::path::Path::new(&format!("/proc/{netcap}")).exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{how}: netcap still runs"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_detached(&veth.host_if);
    }
}

/// `-v` (the live line of `netcap capture -w`) is refused as the other output flags
/// are: a terminal, so the flags are what is refused; before anything is opened, so
/// no privilege is needed.
#[test]
fn top_refuses_v_with_status_2() {
    let tmux = Tmux::new();
    tmux.wait(Duration::from_secs(5), "a shell prompt", |s| {
        s.contains(PROMPT)
    });
    let cmd = format!(
        "{} top -v -i lo; echo status=$?",
        env!("CARGO_BIN_EXE_netcap")
    );
    tmux.keys(&[&cmd, "Enter"]);
    let s = tmux.wait(Duration::from_secs(5), "netcap's status", |s| {
        s.lines().any(|l| l.starts_with("status="))
    });
    assert!(
        s.contains("netcap top shows its output on the screen: -v is for netcap capture")
            && s.contains("status=2"),
        "{s}"
    );
}

#[test]
fn top_refuses_a_stdout_that_is_not_a_terminal_with_status_2() {
    // stdout is a pipe here; the check comes before anything is opened, so this
    // needs no privilege and no interface of its own.
    let out = Netcap::run(&["top", "-i", "lo"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("stdout must be a terminal"),
        "the message says why: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}
