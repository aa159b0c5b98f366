//! tcpdump's byte dumps (print-ascii.c): the hex and ASCII lines that `-X` adds, and
//! that tcpdump prints without any flag for a packet its printer gives up on (an ARP
//! operation it does not know).
//!
//! ```text
//! <TAB>0x0000:  0001 0800 0604 7501 001f 29da f8fb c0a8  ......u...).....
//! ```
use crate::output::HEX_LOWER;

/// Bytes per dump line.
const PER_LINE: usize = 16;

/// tcpdump's `ND_ASCII_ISGRAPH`: printable and not a space.
fn graphic(b: u8) -> u8 {
    if (0x21..0x7f).contains(&b) {
        b
    } else {
        b'.'
    }
}

fn hex2(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[HEX_LOWER[(b >> 4) as usize], HEX_LOWER[(b & 15) as usize]]);
}

/// `0xNNNN: ` with the offset in at least 4 hex digits.
fn offset(out: &mut Vec<u8>, ident: &[u8], at: usize) {
    out.extend_from_slice(ident);
    out.extend_from_slice(b"0x");
    let digits = (usize::BITS - at.leading_zeros()).div_ceil(4).max(4);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[(at >> (4 * i)) & 15]);
    }
    out.extend_from_slice(b": ");
}

/// `hex_and_ascii_print_with_offset`: 16 bytes a line, each line starting with
/// `ident` and the offset, the bytes in groups of two, then their printable ASCII.
pub(super) fn hex_ascii(out: &mut Vec<u8>, ident: &[u8], bytes: &[u8], start: usize) {
    for (n, line) in bytes.chunks(PER_LINE).enumerate() {
        offset(out, ident, start + n * PER_LINE);
        let width = out.len() + 40;
        for pair in line.chunks(2) {
            out.push(b' ');
            pair.iter().for_each(|&b| hex2(out, b));
        }
        out.resize(width.max(out.len()), b' ');
        out.extend_from_slice(b"  ");
        out.extend(line.iter().map(|&b| graphic(b)));
    }
}

/// `hex_print_with_offset` (`-x`): the same lines without the ASCII.
pub(super) fn hex(out: &mut Vec<u8>, ident: &[u8], bytes: &[u8], start: usize) {
    for (n, line) in bytes.chunks(PER_LINE).enumerate() {
        offset(out, ident, start + n * PER_LINE);
        for pair in line.chunks(2) {
            out.push(b' ');
            pair.iter().for_each(|&b| hex2(out, b));
        }
    }
}

/// `ascii_print` (`-A`): a newline, then the bytes, with `.` for what is not
/// printable, tabs, spaces and newlines kept, carriage returns dropped before a
/// newline.
pub(super) fn ascii(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'\n');
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\r' {
            let rest = bytes.len() - i - 1;
            if rest > 1 && bytes.get(i + 1) != Some(&b'\n') {
                out.push(b'.');
            }
        } else if graphic(b) != b'.' || matches!(b, b'\t' | b' ' | b'\n') {
            out.push(b);
        } else {
            out.push(b'.');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_ascii_lines() {
        let bytes: Vec<u8> = (0x40u8..0x40 + 19).collect();
        let mut out = Vec::new();
        hex_ascii(&mut out, b"\n\t", &bytes, 0);
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "\n\t0x0000:  4041 4243 4445 4647 4849 4a4b 4c4d 4e4f  @ABCDEFGHIJKLMNO\
             \n\t0x0010:  5051 52                                  PQR"
        );
        let mut out = Vec::new();
        hex(&mut out, b"\n\t", &bytes[..3], 16);
        assert_eq!(out, b"\n\t0x0010:  4041 42");
        let mut out = Vec::new();
        ascii(&mut out, b"GET /\r\nHost: a\x01\r\n");
        assert_eq!(out, b"\nGET /\nHost: a.\n");
    }
}
