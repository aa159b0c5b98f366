//! Privileged test (`cargo xtask test`): the default backend on an interface without
//! Ethernet headers. tcx would read such a device's packets as if they began with an
//! Ethernet header, so the default takes AF_PACKET there (`capture/open.rs`), whose
//! frames are bare IP: the file says so (LINKTYPE_RAW) and holds the packets as sent,
//! and a filter expression is compiled for bare IP there.
mod common;
mod netcap_proc;

use std::{
    ffi::CString,
    io::Write,
    os::fd::{FromRawFd, OwnedFd},
    process::Command,
};

use netcap_proc::Netcap;

/// A tun device (IFF_TUN, no packet-information header) that lives as long as this
/// process holds its descriptor: writing a packet to it makes the device receive it.
struct Tun {
    file: std::fs::File,
    name: String,
}

impl Tun {
    fn new(name: &str) -> Self {
        let path = CString::new("/dev/net/tun").expect("no NUL");
        // SAFETY: a NUL-terminated path; the descriptor is checked before use.
        let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        assert!(
            raw >= 0,
            "open /dev/net/tun: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `raw` is a descriptor this process just opened and owns alone.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: an all-zero ifreq is a valid value of the plain C struct.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        use std::os::fd::AsRawFd;
        // SAFETY: TUNSETIFF reads an ifreq, which `ifr` is, for as long as the call.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &raw mut ifr) };
        assert!(
            rc == 0,
            "TUNSETIFF {name}: {}",
            std::io::Error::last_os_error()
        );
        Self {
            file: std::fs::File::from(fd),
            name: name.to_owned(),
        }
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {args:?}");
}

/// An IPv4/UDP packet from 10.252.0.2:4000 to 10.252.0.1:`port`, `payload` bytes.
fn udp_packet(port: u16, payload: usize) -> Vec<u8> {
    let total = 20 + 8 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 252, 0, 2]);
    p[16..20].copy_from_slice(&[10, 252, 0, 1]);
    let sum: u32 = p[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    p[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&port.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

#[test]
fn the_default_on_a_tun_device_is_af_packet_with_bare_ip_frames() {
    common::needs_privileges!();
    let name = format!("nctun{}", std::process::id() % 100_000);
    let mut tun = Tun::new(&name);
    // No IPv6 on it: nothing of the kernel's own (router solicitations) to capture.
    let _ = Command::new("sysctl")
        .args(["-qw", &format!("net.ipv6.conf.{name}.disable_ipv6=1")])
        .status();
    ip(&["addr", "add", "10.252.0.1/24", "dev", &tun.name]);
    ip(&["link", "set", &tun.name, "up"]);

    let dir = netcap_proc::tempdir();
    let pcap = dir.join("tun.pcap");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &tun.name,
        "--direction",
        "in",
        "-c",
        "5",
        "-w",
        pcap.to_str().expect("utf-8"),
    ]);
    let packets: Vec<Vec<u8>> = (0..5)
        .map(|i| udp_packet(5000 + i, 100 + usize::from(i)))
        .collect();
    for p in &packets {
        tun.file.write_all(p).expect("write to the tun device");
    }
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("capturing with AF_PACKET") && !out.stderr.contains("refused"),
        "the default on a tun device: {}",
        out.stderr
    );
    let bytes = std::fs::read(&pcap).expect("the file");
    let link = u32::from_le_bytes(bytes[20..24].try_into().expect("pcap header"));
    assert_eq!(link, 101, "LINKTYPE_RAW");
    let frames = netcap_proc::read_pcap(&pcap);
    let got: Vec<Vec<u8>> = frames.into_iter().map(|(_, data)| data).collect();
    assert_eq!(got, packets, "the packets as written to the device");

    // A filter expression is compiled for bare IP there (as tcpdump does), in the
    // kernel's socket filter and the user-space check alike: one of the five matches.
    let filtered = dir.join("filtered.pcap");
    let nc = Netcap::start(&[
        "capture",
        "-i",
        &tun.name,
        "--direction",
        "in",
        "-w",
        filtered.to_str().expect("utf-8"),
        "udp dst port 5003 and src host 10.252.0.2",
    ]);
    for p in &packets {
        tun.file.write_all(p).expect("write to the tun device");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nc.signal(libc::SIGINT);
    let out = nc.wait();
    assert!(out.status.success(), "{}", out.stderr);
    let got: Vec<Vec<u8>> = netcap_proc::read_pcap(&filtered)
        .into_iter()
        .map(|(_, data)| data)
        .collect();
    assert_eq!(got, vec![packets[3].clone()], "{}", out.stderr);
}
