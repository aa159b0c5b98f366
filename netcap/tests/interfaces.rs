//! Privileged tests (`cargo xtask test`) of capturing on several interfaces: two `-i`
//! (line, JSON and pcapng, checked with tshark), `-i any` picking up a veth created
//! while it runs, and `--netns` on a veth that exists only inside a namespace. Every
//! interface is a veth of the test's own, removed on drop (also when a test fails).
mod common;
mod netcap_proc;

use std::collections::BTreeMap;
use std::process::Command;

use common::VethPair;
use netcap_proc::Netcap;

/// How many JSON lines have each (`ifname`, `dir`).
fn json_counts(stdout: &[u8]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let key = (
            v["ifname"].as_str().unwrap_or("?").to_owned(),
            v["dir"].as_str().unwrap_or("?").to_owned(),
        );
        *m.entry(key).or_default() += 1;
    }
    m
}

fn key(ifname: &str, dir: &str, n: usize) -> ((String, String), usize) {
    ((ifname.to_owned(), dir.to_owned()), n)
}

#[test]
fn two_interfaces_one_capture_each_frame_once_with_its_interface_and_direction() {
    common::needs_privileges!();
    let (a, b) = (VethPair::new(), VethPair::new());
    let (ai, bi) = (a.host_if.as_str(), b.host_if.as_str());
    // Received on a (3), sent on a (2), received on b (4), sent on b (1).
    let send = || {
        common::send_frames(&a.ns, &a.ns_if, &netcap_proc::udp_frames(3, 80));
        common::send_frames_from_host(ai, &netcap_proc::udp_frames(2, 90));
        common::send_frames(&b.ns, &b.ns_if, &netcap_proc::udp_frames(4, 100));
        common::send_frames_from_host(bi, &netcap_proc::udp_frames(1, 110));
    };
    let want: BTreeMap<_, _> = [
        key(ai, "in", 3),
        key(ai, "out", 2),
        key(bi, "in", 4),
        key(bi, "out", 1),
    ]
    .into();
    for backend in ["afpacket", "xdp"] {
        let dir = netcap_proc::tempdir();
        let pcapng = dir.join("both.pcapng");
        let stats = dir.join("stats.json");
        let nc = Netcap::start(&[
            "capture",
            "--backend",
            backend,
            "-i",
            ai,
            "-i",
            bi,
            "-c",
            "10",
            "-F",
            "json",
            "-w",
            pcapng.to_str().expect("utf-8"),
            "--pcapng",
            "--stats-json",
            stats.to_str().expect("utf-8"),
        ]);
        send();
        let out = nc.wait();
        assert!(out.status.success(), "{backend}: {}", out.stderr);
        assert_eq!(
            json_counts(&out.stdout),
            want,
            "{backend} json: {}",
            out.stderr
        );
        // pcapng: one interface block per interface, each frame under its own.
        let t = Command::new("tshark")
            .args(["-r", pcapng.to_str().expect("utf-8"), "-T", "fields"])
            .args(["-e", "frame.interface_name", "-e", "frame.len"])
            .output()
            .expect("running tshark");
        let mut by_if: BTreeMap<(String, String), usize> = BTreeMap::new();
        for l in String::from_utf8_lossy(&t.stdout).lines() {
            let (name, len) = l.split_once('\t').expect("two fields");
            *by_if.entry((name.to_owned(), len.to_owned())).or_default() += 1;
        }
        let want_pcapng: BTreeMap<(String, String), usize> = [
            ((ai.to_owned(), "80".to_owned()), 3),
            ((ai.to_owned(), "90".to_owned()), 2),
            ((bi.to_owned(), "100".to_owned()), 4),
            ((bi.to_owned(), "110".to_owned()), 1),
        ]
        .into();
        assert_eq!(by_if, want_pcapng, "{backend} pcapng");
        // Per-interface counters in --stats-json.
        let s = netcap_proc::stats(&stats);
        let per: Vec<(String, u64)> = s["interfaces"]
            .as_array()
            .expect("interfaces in --stats-json")
            .iter()
            .map(|i| {
                let name = i["name"].as_str().unwrap_or("?").to_owned();
                (name, i["captured"].as_u64().unwrap_or(0))
            })
            .collect();
        assert_eq!(
            per,
            vec![(ai.to_owned(), 5), (bi.to_owned(), 5)],
            "{backend}"
        );
        assert!(
            out.stderr.contains(&format!("{ai}: 5 frames seen")),
            "{}",
            out.stderr
        );
    }
    // -F line: tcpdump -i any's interface and direction marker.
    let nc = Netcap::start(&["capture", "-i", ai, "-i", bi, "-c", "10", "-F", "line"]);
    send();
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for l in text.lines() {
        let mut w = l.split_whitespace().skip(1);
        let (name, dir) = (w.next().unwrap_or("?"), w.next().unwrap_or("?"));
        *got.entry((name.to_owned(), dir.to_lowercase()))
            .or_default() += 1;
    }
    assert_eq!(got, want, "line output:\n{text}");
}

/// A namespace of the test's own, deleted (with every link in it) on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("nc{tag}{}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        run(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// A veth pair `x`/`y` inside the namespace, both ends up, without IPv6 (so the
    /// only frames are the test's).
    fn veth(&self, x: &str, y: &str) {
        let ns = self.0.as_str();
        run(&[
            "ip", "-n", ns, "link", "add", x, "type", "veth", "peer", "name", y,
        ]);
        for i in [x, y] {
            let key = format!("net.ipv6.conf.{i}.disable_ipv6=1");
            run(&["ip", "netns", "exec", ns, "sysctl", "-qw", &key]);
            run(&["ip", "-n", ns, "link", "set", i, "up"]);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("running a command");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn any_sees_every_interface_and_one_created_during_the_capture() {
    common::needs_privileges!();
    // In a namespace of its own, so `any` never reaches the host's interfaces.
    let ns = Netns::new("any");
    ns.veth("a0", "a1");
    ns.veth("b0", "b1");
    let nc = Netcap::start_under(
        &["ip", "netns", "exec", &ns.0],
        &["capture", "-i", "any", "-F", "json", "-c", "8"],
    );
    let started = nc.stderr_so_far();
    for name in ["a0", "a1", "b0", "b1"] {
        assert!(
            started.contains(&format!(" {name},")) || started.contains(&format!(" {name})")),
            "{started}"
        );
    }
    common::send_frames(&ns.0, "a0", &netcap_proc::udp_frames(2, 80));
    common::send_frames(&ns.0, "b1", &netcap_proc::udp_frames(1, 80));
    // A new pair: picked up once it is up.
    ns.veth("c0", "c1");
    let t0 = std::time::Instant::now();
    while !(nc.stderr_so_far().contains("capturing on c0 too")
        && nc.stderr_so_far().contains("capturing on c1 too"))
    {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "c0/c1 not picked up: {}",
            nc.stderr_so_far()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    common::send_frames(&ns.0, "c0", &netcap_proc::udp_frames(1, 80));
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    // Each frame sent on one end is received on the other: both are captured.
    let want: BTreeMap<_, _> = [
        key("a0", "out", 2),
        key("a1", "in", 2),
        key("b1", "out", 1),
        key("b0", "in", 1),
        key("c0", "out", 1),
        key("c1", "in", 1),
    ]
    .into();
    let mut got = json_counts(&out.stdout);
    // Frames the kernel sent on its own (none expected: no addresses, no IPv6).
    got.retain(|(name, _), _| name != "lo");
    assert_eq!(got, want, "{}", out.stderr);
}

#[test]
fn netns_captures_a_veth_that_exists_only_inside_the_namespace() {
    common::needs_privileges!();
    let veth = VethPair::new();
    assert!(
        !std::path::Path::new(&format!("/sys/class/net/{}", veth.ns_if)).exists(),
        "{} must not exist here",
        veth.ns_if
    );
    for backend in ["afpacket", "xdp"] {
        let nc = Netcap::start(&[
            "capture",
            "--backend",
            backend,
            "--netns",
            &veth.ns,
            "-i",
            &veth.ns_if,
            "-F",
            "json",
            "-c",
            "4",
        ]);
        common::send_frames_from_host(&veth.host_if, &netcap_proc::udp_frames(3, 70));
        common::send_frames(&veth.ns, &veth.ns_if, &netcap_proc::udp_frames(1, 70));
        let out = nc.wait();
        assert!(out.status.success(), "{backend}: {}", out.stderr);
        let want: BTreeMap<_, _> = [key(&veth.ns_if, "in", 3), key(&veth.ns_if, "out", 1)].into();
        assert_eq!(json_counts(&out.stdout), want, "{backend}: {}", out.stderr);
    }
    // Two namespaces: names qualified by namespace.
    let other = VethPair::new();
    let nc = Netcap::start(&[
        "capture",
        "--netns",
        &veth.ns,
        "--netns",
        &other.ns,
        "-i",
        &veth.ns_if,
        "-i",
        &other.ns_if,
        "-F",
        "json",
        "-c",
        "2",
    ]);
    common::send_frames_from_host(&veth.host_if, &netcap_proc::udp_frames(1, 70));
    common::send_frames_from_host(&other.host_if, &netcap_proc::udp_frames(1, 70));
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    let want: BTreeMap<_, _> = [
        key(&format!("{}/{}", veth.ns, veth.ns_if), "in", 1),
        key(&format!("{}/{}", other.ns, other.ns_if), "in", 1),
    ]
    .into();
    assert_eq!(json_counts(&out.stdout), want, "{}", out.stderr);
}

/// Two `-i`: when one vanishes the capture goes on with the other, saying so; when the
/// last one goes too, the capture ends as with one interface that vanishes: a message,
/// the summary and exit status 1 (it ended with 0, as a normal end, until 2026-12-07).
#[test]
fn when_every_interface_of_several_vanishes_the_capture_ends_abnormally() {
    common::needs_privileges!();
    for backend in ["afpacket", "xdp"] {
        let (a, b) = (VethPair::new(), VethPair::new());
        let (ai, bi) = (a.host_if.clone(), b.host_if.clone());
        let nc = Netcap::start(&[
            "capture",
            "--backend",
            backend,
            "-i",
            &ai,
            "-i",
            &bi,
            "--direction",
            "in",
            "-F",
            "none",
        ]);
        common::send_frames(&a.ns, &a.ns_if, &netcap_proc::udp_frames(3, 80));
        common::send_frames(&b.ns, &b.ns_if, &netcap_proc::udp_frames(4, 100));
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(a);
        // The capture goes on with b.
        let t0 = std::time::Instant::now();
        while !nc.stderr_so_far().contains("capturing on the others") {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "{backend}: {ai} vanished unnoticed: {}",
                nc.stderr_so_far()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        common::send_frames(&b.ns, &b.ns_if, &netcap_proc::udp_frames(5, 100));
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(b);
        let out = nc.wait();
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("every interface vanished ({ai}, {bi})")),
            "{backend}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("12 frames seen, 12 captured"),
            "{backend}: {}",
            out.stderr
        );
    }
}

/// `-c` on two interfaces with more frames than it takes: each interface's counts (the
/// summary lines, `--stats-json`) are cut to the frames taken from it, as the total is,
/// so they add up to the total and to what was printed (each interface's own kernel
/// counts were given whole until 2026-12-07, adding up to more than `-c`).
#[test]
fn c_on_two_interfaces_cuts_each_interfaces_counts_to_what_it_took() {
    common::needs_privileges!();
    for backend in ["afpacket", "xdp"] {
        let (a, b) = (VethPair::new(), VethPair::new());
        let (ai, bi) = (a.host_if.as_str(), b.host_if.as_str());
        let dir = netcap_proc::tempdir();
        let stats = dir.join("stats.json");
        let nc = Netcap::start(&[
            "capture",
            "--backend",
            backend,
            "-i",
            ai,
            "-i",
            bi,
            "--direction",
            "in",
            "-c",
            "6",
            "-F",
            "json",
            "--stats-json",
            stats.to_str().expect("utf-8"),
        ]);
        // 8 and 8 at once: the capture takes 6 of them, from one interface or both.
        common::send_frames(&a.ns, &a.ns_if, &netcap_proc::udp_frames(8, 80));
        common::send_frames(&b.ns, &b.ns_if, &netcap_proc::udp_frames(8, 100));
        let out = nc.wait();
        assert!(out.status.success(), "{backend}: {}", out.stderr);
        let printed = json_counts(&out.stdout);
        assert_eq!(printed.values().sum::<usize>(), 6, "{backend}: {printed:?}");
        let s = netcap_proc::stats(&stats);
        assert_eq!(s["captured"].as_u64(), Some(6), "{backend}: {s}");
        for i in s["interfaces"].as_array().expect("interfaces") {
            let name = i["name"].as_str().unwrap_or("?");
            let n = |k: &str| i[k].as_u64().unwrap_or(u64::MAX);
            let took = printed
                .get(&(name.to_owned(), "in".to_owned()))
                .copied()
                .unwrap_or(0) as u64;
            assert_eq!(n("captured"), took, "{backend} {name}: {s}");
            assert_eq!(
                n("seen"),
                n("captured") + n("filtered") + n("lost"),
                "{backend} {name}: {s}"
            );
        }
    }
}
