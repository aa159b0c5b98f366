//! The SSH version line (RFC 4253 4.2, `SSH-2.0-OpenSSH_9.6\r\n`) after a TCP segment
//! from or to port 22, as tcpdump 4.99.3's `ssh_print` (print-ssh.c) writes it:
//! `: SSH: SSH-2.0-OpenSSH_9.6`. A segment that does not start with such a line
//! (every later one of the connection) gets nothing; one whose data the capture cut
//! before the line's end gets ` [|ssh]`.

/// Ports whose printers tcpdump tries before SSH's (telnet, SMTP, whois, BGP, PPTP,
/// Redis: print-tcp.c's order).
const TCP_BEFORE_SSH: [u16; 6] = [23, 25, 43, 179, 1723, 6379];

/// True when tcpdump hands a TCP segment between these ports to its SSH printer.
pub(super) fn tcp_is_ssh(sport: u16, dport: u16) -> bool {
    (sport == 22 || dport == 22) && !TCP_BEFORE_SSH.iter().any(|&p| p == sport || p == dport)
}

/// Appends `: SSH: LINE` when the segment's data starts with a version line ended by
/// CR LF or LF within `length` (the data's declared length); ` [|ssh]` when the
/// capture (`data`) ends before tcpdump could tell.
pub(super) fn version(out: &mut Vec<u8>, data: &[u8], length: usize) {
    const TRUNCATED: &[u8] = b" [|ssh]";
    // tcpdump reads the 4 bytes of `SSH-` without looking at the length.
    for (i, &want) in b"SSH-".iter().enumerate() {
        match data.get(i) {
            None => return out.extend_from_slice(TRUNCATED),
            Some(&c) if c != want => return,
            Some(_) => {}
        }
    }
    let mut end = 4;
    loop {
        if end >= length {
            // No line end in this segment: not printed.
            return;
        }
        let Some(&c) = data.get(end) else {
            return out.extend_from_slice(TRUNCATED);
        };
        match c {
            b'\n' => break,
            b'\r' => {
                if end + 1 >= length {
                    return;
                }
                match data.get(end + 1) {
                    None => return out.extend_from_slice(TRUNCATED),
                    Some(b'\n') => break,
                    // CR and something else: binary, not printed.
                    Some(_) => return,
                }
            }
            0x20..=0x7e => end += 1,
            // Not printable ASCII: binary, not printed.
            _ => return,
        }
    }
    out.extend_from_slice(b": SSH: ");
    out.extend_from_slice(&data[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(data: &[u8], length: usize) -> String {
        let mut out = Vec::new();
        version(&mut out, data, length);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn version_line_binary_and_cut() {
        // mptcp-v0.pcap #3: the server's line, CR LF.
        let line = b"SSH-2.0-OpenSSH_5.5p1 Debian-6+squeeze1\r\n";
        assert_eq!(
            text(line, line.len()),
            ": SSH: SSH-2.0-OpenSSH_5.5p1 Debian-6+squeeze1"
        );
        // LF alone ends it too; data after the line is not printed.
        assert_eq!(text(b"SSH-1.99-x\nmore", 15), ": SSH: SSH-1.99-x");
        // kday4.pcap #9: data declared, none captured.
        assert_eq!(text(b"", 768), " [|ssh]");
        assert_eq!(text(b"SSH-2.0", 768), " [|ssh]");
        // CR as the last declared byte, or cut after it.
        assert_eq!(text(b"SSH-2.0\r", 8), "");
        assert_eq!(text(b"SSH-2.0\r", 9), " [|ssh]");
        // Not a version line; binary inside one; no line end within the length.
        assert_eq!(text(b"\x00\x00\x01\x0c", 4), "");
        assert_eq!(text(b"SSH-2.0\x01\r\n", 10), "");
        assert_eq!(text(b"SSH-2.0\rx", 9), "");
        assert_eq!(text(b"SSH-2.0-abc", 11), "");
        // A port tcpdump tries first.
        assert!(tcp_is_ssh(22, 40000) && tcp_is_ssh(40000, 22));
        assert!(!tcp_is_ssh(22, 23) && !tcp_is_ssh(80, 443));
    }
}
