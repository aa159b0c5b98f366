//! Unit tests of `output/line.rs`.
use super::*;

fn line(link: LinkType, data: &[u8]) -> String {
    crate::output::render(&mut Line::default(), link, 43_200_000_001_000, data)
}

#[test]
fn tcp_syn() {
    let mut p = vec![
        0x45, 0, 0, 44, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 2, 0]);
    p.extend_from_slice(&[0, 0, 0, 0, 2, 4, 5, 0xb4]);
    assert_eq!(
        line(LinkType::Raw, &p),
        "12:00:00.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1, win 512, \
         options [mss 1460], length 0\n"
    );
    // Cut frames (the wire length too: the IP header says more).
    assert_eq!(
        line(LinkType::Raw, &p[..30]),
        "12:00:00.000001 IP truncated-ip - 14 bytes missing! 10.0.0.1.1234 > 10.0.0.2.80:  \
         [|tcp]\n"
    );
    assert_eq!(
        line(LinkType::Raw, &p[..22]),
        "12:00:00.000001 IP truncated-ip - 22 bytes missing! 10.0.0.1 > 10.0.0.2: [|tcp]\n"
    );
    assert_eq!(line(LinkType::Raw, &p[..3]), "12:00:00.000001 IP  [|ip]\n");
    p[3] = 10;
    assert_eq!(line(LinkType::Raw, &p), "12:00:00.000001 IP bad-len 10\n");
    p[0] = 0x44;
    assert_eq!(line(LinkType::Raw, &p), "12:00:00.000001 IP bad-hlen 16\n");
    p[0] = 0x55;
    assert_eq!(line(LinkType::Raw, &p), "12:00:00.000001 unknown ip 5\n");
}

/// An IPv4 TCP segment `10.0.0.1:1234 -> 10.0.0.2:80` (or back) with `flags`,
/// `options` and `data` bytes of payload.
fn segment(back: bool, flags: u8, seq: u32, ack: u32, options: &[u8], data: usize) -> Vec<u8> {
    let hl = 20 + options.len();
    let total = (20 + hl + data) as u16;
    let (a, b) = if back { (2, 1) } else { (1, 2) };
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, a, 10, 0, 0, b,
    ];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    let ports: [u8; 4] = if back {
        [0, 80, 4, 0xd2]
    } else {
        [4, 0xd2, 0, 80]
    };
    p.extend_from_slice(&ports);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[(hl as u8 / 4) << 4, flags, 2, 0, 0, 0, 0, 0]);
    p.extend_from_slice(options);
    p.resize(p.len() + data, 0);
    p
}

#[test]
fn tcp_options_as_tcpdump_names_and_cuts_them() {
    let ts = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
    let p = segment(false, 0x18, 5, 6, &ts, 0);
    let tail = |s: String| s.split_once("win 512, ").map(|(_, t)| t.to_owned());
    assert_eq!(
        tail(line(LinkType::Raw, &p)).as_deref(),
        Some("options [nop,nop,TS val 7 ecr 9], length 0\n")
    );
    // A timestamp option cut by the snap length.
    assert_eq!(
        tail(line(LinkType::Raw, &p[..p.len() - 3])).as_deref(),
        Some("options [nop,nop,TS [|tcp]>\n")
    );
    // A length past the header, and an unknown kind.
    let p = segment(false, 0x10, 5, 6, &[30, 9, 0, 0], 0);
    assert_eq!(
        tail(line(LinkType::Raw, &p)).as_deref(),
        Some("options [[bad opt]\n")
    );
    let p = segment(false, 0x10, 5, 6, &[99, 4, 0xab, 0xcd], 0);
    assert_eq!(
        tail(line(LinkType::Raw, &p)).as_deref(),
        Some("options [unknown-99 0xabcd], length 0\n")
    );
    assert!(line(LinkType::Raw, &segment(false, 0xd1, 5, 6, &[], 0)).contains("Flags [F.EW]"));
}

#[test]
fn sequence_numbers_relative_in_the_order_the_writer_sees() {
    // Two workers print alternate frames; the writer resolves them in capture order.
    let frames = [
        segment(false, 0x02, 1000, 0, &[], 0),
        segment(true, 0x12, 7000, 1001, &[], 0),
        segment(false, 0x10, 1001, 7001, &[], 0),
        segment(false, 0x18, 1001, 7001, &[], 100),
        // A SACK block in the peer's sequence space.
        segment(
            true,
            0x10,
            7001,
            1101,
            &[1, 1, 5, 10, 0, 0, 4, 0x4d, 0, 0, 4, 0x51],
            0,
        ),
    ];
    let mut workers = [Line::default(), Line::default()];
    let mut writer = Line::default();
    let mut texts = [Vec::new(), Vec::new()];
    let mut at = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let frame = Frame {
            meta: crate::packet::FrameMeta {
                ts_ns: 0,
                orig_len: f.len() as u32,
                ifindex: 0,
                direction: Direction::Unknown,
                link: LinkType::Raw,
                iface: 0,
                drops: 0,
            },
            data: f,
        };
        let start = texts[i % 2].len();
        workers[i % 2].print(&frame, &crate::decode::decode(&frame), &mut texts[i % 2]);
        at.push((i % 2, start..texts[i % 2].len()));
    }
    let deferred = [workers[0].take_deferred(), workers[1].take_deferred()];
    let ends: Vec<Vec<u32>> = (0..2)
        .map(|w| {
            at.iter()
                .filter(|(x, _)| *x == w)
                .map(|(_, r)| r.end as u32)
                .collect()
        })
        .collect();
    let (mut out, mut out_ends) = (Vec::new(), Vec::new());
    let mut index = [0, 0];
    for (w, _) in at {
        let batch = BatchText {
            text: &texts[w],
            ends: &ends[w],
        };
        writer.resolve(
            batch,
            index[w]..index[w] + 1,
            &deferred[w],
            &mut out,
            &mut out_ends,
        );
        index[w] += 1;
    }
    let text = String::from_utf8(out).expect("ascii");
    let got: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(": ").map_or("", |(_, t)| t))
        .map(|t| t.split_once(", win").map_or(t, |(h, _)| h))
        .collect();
    assert_eq!(
        got,
        [
            "Flags [S], seq 1000",
            "Flags [S.], seq 7000, ack 1001",
            "Flags [.], ack 1",
            "Flags [P.], seq 1:101, ack 1",
            "Flags [.], ack 101",
        ]
    );
    assert!(
        text.ends_with("options [nop,nop,sack 1 {101:105}], length 0\n"),
        "{text}"
    );
}

#[test]
fn arp_and_unknown() {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    assert_eq!(
        line(LinkType::Ethernet, &f),
        "12:00:00.000001 ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 28\n"
    );
    f[16] = 0x88;
    f[17] = 0xcc;
    assert_eq!(
        line(LinkType::Ethernet, &f),
        "12:00:00.000001 ethertype 0x88cc, length 28\n"
    );
    assert_eq!(
        line(LinkType::Unknown(147), &f),
        "12:00:00.000001 link type 147, length 46\n"
    );
}

/// IPv6 with payload length 0 and no extension headers (bigtcp-ipv6.pcap, a GSO
/// segment captured before segmentation): tcpdump takes the payload as empty, so the
/// TCP and UDP printers find no ports; with the length set, the segment as usual.
#[test]
fn ipv6_payload_length_zero_without_jumbo_option() {
    let ip6 = |next: u8, plen: u16, payload: &[u8]| {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&plen.to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(1);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(2);
        p.extend_from_slice(payload);
        p
    };
    let mut tcp = vec![0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18];
    tcp.extend_from_slice(&[0, 100, 0, 0, 0, 0]);
    tcp.extend_from_slice(b"0123456789");
    let udp = [
        0x9c, 0x40, 0x27, 0x0f, 0, 18, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ];
    assert_eq!(
        line(LinkType::Raw, &ip6(6, 0, &tcp)),
        "12:00:00.000001 IP6 2001:db8::1 > 2001:db8::2: [|tcp]\n"
    );
    assert_eq!(
        line(LinkType::Raw, &ip6(17, 0, &udp)),
        "12:00:00.000001 IP6 2001:db8::1 > 2001:db8::2:  [|udp]\n"
    );
    assert_eq!(
        line(LinkType::Raw, &ip6(6, 30, &tcp)),
        "12:00:00.000001 IP6 2001:db8::1.40000 > 2001:db8::2.443: Flags [P.], seq 1:11, \
         ack 2, win 100, length 10\n"
    );
}

/// Each expected line is what `tcpdump -n` 4.99.3 printed for the same bytes.
#[test]
fn atm_arp_and_raw_links_by_version() {
    // ATM ARP (RFC 2225): a request with a 2-byte target ATM number.
    let mut p = vec![0xff; 6];
    p.extend_from_slice(&[0, 0x1f, 0x29, 0xda, 0x2d, 0x79, 0x08, 0x06]);
    p.extend_from_slice(&[0, 19, 0x08, 0, 2, 0, 0, 1, 4, 2, 0, 4]);
    p.extend_from_slice(&[0xaa, 0xbb, 192, 168, 1, 104, 0xcc, 0xdd, 192, 168, 1, 1]);
    assert_eq!(
        line(LinkType::Ethernet, &p),
        "12:00:00.000001 ARP, Request who-has 192.168.1.1 (cc:dd) tell 192.168.1.104, \
         length 24\n"
    );
    // Its lengths point past the capture: tcpdump's mark alone.
    p[14 + 9] = 0x1f;
    assert_eq!(line(LinkType::Ethernet, &p), "12:00:00.000001  [|arp]\n");
    // The IPv6 link type carrying IPv4 is printed by the version, as tcpdump does.
    let udp = [
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 9, 0, 8,
        0, 0,
    ];
    assert_eq!(
        line(LinkType::Ipv6, &udp),
        "12:00:00.000001 IP 10.0.0.1.12345 > 10.0.0.2.9: UDP, length 0\n"
    );
    let mut bad = udp;
    bad[0] = 0x35;
    assert_eq!(line(LinkType::Ipv6, &bad), "12:00:00.000001 unknown ip 3\n");
}
