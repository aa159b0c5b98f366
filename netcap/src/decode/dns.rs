//! DNS messages (RFC 1035): the header, names with compression (RFC 1035 4.1.4) and
//! the fixed parts of questions and resource records.
//!
//! A view over the captured bytes of one message, from its ID (after the 2-byte length
//! prefix on TCP). Everything is read laxly and by offset: a message cut by the snap
//! length still gives its header and the names and records before the cut, and every
//! reader returns `None` (or [`NameError::Truncated`]) where the capture ends instead
//! of failing the frame. Offsets may point past the capture (a record's data length
//! says where the next one starts); the readers check.
//!
//! Names are read label by label through [`read_name`], which follows compression
//! pointers with two bounds: a pointer must point before the last one followed (as
//! BIND requires and tcpdump checks), so a loop is impossible; and at most
//! [`MAX_NAME_STEPS`] labels and pointers are read per name, so a crafted message
//! cannot make one name cost more than a few hundred steps.
use super::be16;

/// The fixed header.
pub const HEADER_LEN: usize = 12;

/// The longest name in wire form (RFC 1035 3.1).
pub const MAX_NAME_LEN: usize = 255;

/// Most labels and pointers read for one name: a name of 255 bytes has at most 127
/// labels, and each may come through a pointer.
pub const MAX_NAME_STEPS: usize = 256;

mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
}

/// The top two bits of a length byte (RFC 1035 4.1.4, RFC 6891 for `01`).
mod label {
    pub const MASK: u8 = 0xc0;
    pub const POINTER: u8 = 0xc0;
    pub const RESERVED: u8 = 0x80;
    /// An extended label type (RFC 6891); only the bit-string label (type 1, RFC 2673)
    /// was ever defined.
    pub const EXTENDED: u8 = 0x40;
    pub const BITSTRING: u8 = 0x01;
}

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_A6: u16 = 38;
pub const TYPE_DNAME: u16 = 39;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_UNSPECA: u16 = 104;
pub const TYPE_TSIG: u16 = 250;
pub const TYPE_URI: u16 = 256;
pub const CLASS_IN: u16 = 1;
pub const OPCODE_IQUERY: u8 = 1;

/// A view over one DNS message whose 12-byte header was captured.
#[derive(Clone, Copy, Debug)]
pub struct DnsMessage<'a> {
    buf: &'a [u8],
}

impl<'a> DnsMessage<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
        (buf.len() >= HEADER_LEN).then_some(Self { buf })
    }

    /// The message as captured, header included: names point into it.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
    pub fn id(&self) -> u16 {
        be16(self.buf, field::ID)
    }
    /// The 16 flag bits after the ID.
    pub fn flags(&self) -> u16 {
        be16(self.buf, field::FLAGS)
    }
    pub fn is_response(&self) -> bool {
        self.flags() & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0xf) as u8
    }
    pub fn authoritative(&self) -> bool {
        self.flags() & 0x0400 != 0
    }
    pub fn truncated(&self) -> bool {
        self.flags() & 0x0200 != 0
    }
    pub fn recursion_desired(&self) -> bool {
        self.flags() & 0x0100 != 0
    }
    pub fn recursion_available(&self) -> bool {
        self.flags() & 0x0080 != 0
    }
    pub fn authentic_data(&self) -> bool {
        self.flags() & 0x0020 != 0
    }
    pub fn checking_disabled(&self) -> bool {
        self.flags() & 0x0010 != 0
    }
    /// The header's 4-bit response code (an OPT record extends it).
    pub fn rcode(&self) -> u8 {
        (self.flags() & 0xf) as u8
    }
    pub fn qdcount(&self) -> u16 {
        be16(self.buf, field::QDCOUNT)
    }
    pub fn ancount(&self) -> u16 {
        be16(self.buf, field::ANCOUNT)
    }
    pub fn nscount(&self) -> u16 {
        be16(self.buf, field::NSCOUNT)
    }
    pub fn arcount(&self) -> u16 {
        be16(self.buf, field::ARCOUNT)
    }

    /// The fixed part of a question whose name starts at `name`.
    pub fn question(&self, name: usize) -> Option<Question> {
        let at = skip_name(self.buf, name)?;
        let b = self.buf.get(at..at + 4)?;
        Some(Question {
            name,
            qtype: be16(b, 0),
            qclass: be16(b, 2),
            end: at + 4,
        })
    }

    /// The fixed part of a resource record whose name starts at `name`; its data may
    /// go past the capture (see [`Record::data_end`]).
    pub fn record(&self, name: usize) -> Option<Record> {
        let at = skip_name(self.buf, name)?;
        let b = self.buf.get(at..at + 10)?;
        Some(Record {
            name,
            rtype: be16(b, 0),
            class: be16(b, 2),
            ttl: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            data: at + 10,
            data_len: be16(b, 8),
        })
    }
}

/// A question's fixed fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// Where its name starts.
    pub name: usize,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the next question or record starts.
    pub end: usize,
}

/// A resource record's fixed fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where its name starts.
    pub name: usize,
    pub rtype: u16,
    /// The class; an OPT record's requestor UDP payload size.
    pub class: u16,
    /// The TTL; an OPT record's extended RCODE, version and flags.
    pub ttl: u32,
    /// Where its data starts.
    pub data: usize,
    pub data_len: u16,
}

impl Record {
    /// Where its data ends: the next record's start (may be past the capture).
    pub fn data_end(&self) -> usize {
        self.data + self.data_len as usize
    }
}

/// Skips the name at `off` without following pointers; returns where the field after
/// it starts (after the pointer's 2 bytes, or the terminating zero). `None` when the
/// capture ends first or a label type is unknown.
pub fn skip_name(msg: &[u8], mut off: usize) -> Option<usize> {
    let mut len = *msg.get(off)?;
    off += 1;
    while len != 0 {
        match len & label::MASK {
            label::POINTER => return Some(off + 1),
            label::EXTENDED => {
                if len & !label::MASK != label::BITSTRING {
                    return None;
                }
                let bits = bit_count(*msg.get(off)?);
                off += 1 + bits.div_ceil(8);
            }
            label::RESERVED => return None,
            _ => off += len as usize,
        }
        len = *msg.get(off)?;
        off += 1;
    }
    Some(off)
}

/// A bit-string label's bit count (0 means 256, RFC 2673).
fn bit_count(b: u8) -> usize {
    if b == 0 {
        256
    } else {
        b as usize
    }
}

/// One label of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label<'a> {
    /// An ordinary label: its bytes as captured (shorter than `len` when the capture
    /// ends inside it).
    Text { bytes: &'a [u8], len: u8 },
    /// A bit-string label (RFC 2673): its bit count and the bytes that hold them.
    Bits { bits: usize, bytes: &'a [u8] },
}

/// Why a name could not be read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The capture ends inside the name.
    Truncated,
    /// A compression pointer that does not point before the last one.
    BadPointer,
    /// A length byte with the reserved top bits `10`.
    BadLabelType,
    /// An extended label type other than the bit-string label.
    UnknownExtended(u8),
}

/// What [`read_name`] found after the labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameEnd {
    /// Where the field after the name starts (where it was, not where a pointer led).
    pub next: usize,
    /// The name had more than [`MAX_NAME_STEPS`] labels and pointers: the rest was not
    /// read.
    pub cut: bool,
}

/// Reads the name at `off` in `msg`, following compression pointers, and hands each
/// label to `f` in order. See the module doc for the bounds.
///
/// The end of the capture ends the name quietly after a complete label (as tcpdump's
/// `fqdn_print` does: its loop runs while the position is before the end), and with
/// [`NameError::Truncated`] inside one.
pub fn read_name<'a>(
    msg: &'a [u8],
    off: usize,
    mut f: impl FnMut(Label<'a>),
) -> Result<NameEnd, NameError> {
    let mut pos = off;
    let mut len = first_byte(msg, pos)?;
    pos += 1;
    // Pointers must go strictly backwards from here.
    let mut limit = off;
    // Where the name ends in place: fixed at the first pointer.
    let mut next = None;
    let mut steps = 0;
    while len != 0 && pos < msg.len() {
        steps += 1;
        if steps > MAX_NAME_STEPS {
            return Ok(NameEnd {
                next: next.unwrap_or(pos),
                cut: true,
            });
        }
        let step = match len & label::MASK {
            label::POINTER => {
                next.get_or_insert(pos + 1);
                let low = *msg.get(pos).ok_or(NameError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len, low]) & 0x3fff);
                if target >= limit {
                    return Err(NameError::BadPointer);
                }
                limit = target;
                pos = target;
                len = first_byte(msg, pos)?;
                pos += 1;
                continue;
            }
            label::EXTENDED => {
                let bits = bit_count(*msg.get(pos).ok_or(NameError::Truncated)?);
                let n = bits.div_ceil(8);
                let bytes = msg.get(pos + 1..pos + 1 + n).ok_or(NameError::Truncated)?;
                f(Label::Bits { bits, bytes });
                1 + n
            }
            _ => {
                let n = len as usize;
                let end = (pos + n).min(msg.len());
                f(Label::Text {
                    bytes: &msg[pos..end],
                    len,
                });
                if end < pos + n {
                    return Err(NameError::Truncated);
                }
                n
            }
        };
        pos += step;
        len = first_byte(msg, pos)?;
        pos += 1;
    }
    // Ended by the capture before a label: its data counts as read (as tcpdump's).
    let unread = if len != 0 { len as usize } else { 0 };
    Ok(NameEnd {
        next: next.unwrap_or(pos + unread),
        cut: false,
    })
}

/// The length byte at `pos`, checked for a known label type.
fn first_byte(msg: &[u8], pos: usize) -> Result<u8, NameError> {
    let b = *msg.get(pos).ok_or(NameError::Truncated)?;
    match b & label::MASK {
        label::RESERVED => Err(NameError::BadLabelType),
        label::EXTENDED if b & !label::MASK != label::BITSTRING => {
            Err(NameError::UnknownExtended(b & !label::MASK))
        }
        label::EXTENDED if msg.get(pos + 1).is_none() => Err(NameError::Truncated),
        _ => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `www.example.com. A IN`, ID 0xabcd, RD set.
    const QUERY: [u8; 33] = [
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, //
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', //
        3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
    ];

    fn name(msg: &[u8], off: usize) -> (String, Result<NameEnd, NameError>) {
        let mut s = String::new();
        let r = read_name(msg, off, |l| {
            if let Label::Text { bytes, .. } = l {
                s.push_str(&String::from_utf8_lossy(bytes));
            }
            s.push('.');
        });
        (s, r)
    }

    #[test]
    fn header_and_question() {
        let m = DnsMessage::new_checked(&QUERY).expect("12 bytes");
        assert_eq!(m.id(), 0xabcd);
        assert!(!m.is_response() && m.recursion_desired());
        assert_eq!(
            (m.opcode(), m.rcode(), m.qdcount(), m.ancount()),
            (0, 0, 1, 0)
        );
        let q = m.question(HEADER_LEN).expect("captured");
        assert_eq!((q.qtype, q.qclass, q.end), (TYPE_A, CLASS_IN, 33));
        let (s, r) = name(&QUERY, HEADER_LEN);
        assert_eq!(s, "www.example.com.");
        assert_eq!(
            r,
            Ok(NameEnd {
                next: 29,
                cut: false
            })
        );
        assert!(DnsMessage::new_checked(&QUERY[..11]).is_none());
        assert!(
            m.record(HEADER_LEN).is_none(),
            "4 bytes after the name, not 10"
        );
    }

    #[test]
    fn pointers_backwards_only() {
        // The question, then an answer named by a pointer to offset 16 ("example.com").
        let mut msg = QUERY.to_vec();
        msg.extend_from_slice(&[0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        let (s, r) = name(&msg, 33);
        assert_eq!(s, "example.com.");
        assert_eq!(
            r,
            Ok(NameEnd {
                next: 35,
                cut: false
            })
        );
        assert_eq!(skip_name(&msg, 33), Some(35));
        let rec = DnsMessage::new_checked(&msg)
            .and_then(|m| m.record(33))
            .expect("captured");
        assert_eq!(
            (rec.rtype, rec.ttl, rec.data, rec.data_end()),
            (TYPE_A, 60, 45, 49)
        );
        // A pointer to itself, and one forwards: refused, so no loop.
        msg[33..35].copy_from_slice(&[0xc0, 33]);
        assert_eq!(name(&msg, 33).1, Err(NameError::BadPointer));
        msg[33..35].copy_from_slice(&[0xc0, 40]);
        assert_eq!(name(&msg, 33).1, Err(NameError::BadPointer));
    }

    #[test]
    fn a_pointer_chain_is_bounded() {
        // 300 pointers, each to the one before, ending at a root label.
        let mut msg = vec![0u8; HEADER_LEN];
        msg.push(0);
        for i in 0..300u16 {
            let target = if i == 0 { 12 } else { 13 + 2 * (i - 1) };
            msg.extend_from_slice(&(0xc000 | target).to_be_bytes());
        }
        let last = msg.len() - 2;
        let (_, r) = name(&msg, last);
        assert_eq!(
            r,
            Ok(NameEnd {
                next: last + 2,
                cut: true
            })
        );
        assert_eq!(
            name(&msg, 13).1,
            Ok(NameEnd {
                next: 15,
                cut: false
            })
        );
    }

    #[test]
    fn cut_and_odd_labels() {
        let (s, r) = name(&QUERY[..19], HEADER_LEN);
        assert_eq!((s.as_str(), r), ("www.ex.", Err(NameError::Truncated)));
        // The capture ends right after a length byte: the name ends there quietly.
        assert_eq!(
            name(&QUERY[..17], HEADER_LEN).1,
            Ok(NameEnd {
                next: 24,
                cut: false
            })
        );
        assert_eq!(name(&QUERY[..16], HEADER_LEN).1, Err(NameError::Truncated));
        assert_eq!(skip_name(&QUERY[..16], HEADER_LEN), None);
        let bad = [0x80, 1, 0];
        assert_eq!(name(&bad, 0).1, Err(NameError::BadLabelType));
        let elt = [0x42, 1, 0];
        assert_eq!(name(&elt, 0).1, Err(NameError::UnknownExtended(2)));
        let bits = [0x41, 12, 0xab, 0xc0, 0];
        let mut got = Vec::new();
        let r = read_name(&bits, 0, |l| got.push(l));
        assert_eq!(
            r,
            Ok(NameEnd {
                next: 5,
                cut: false
            })
        );
        assert_eq!(
            got,
            [Label::Bits {
                bits: 12,
                bytes: &[0xab, 0xc0]
            }]
        );
        assert_eq!(skip_name(&bits, 0), Some(5));
    }
}
