//! Text forms of values that JSON has no type for: RFC 3339 time stamps and payload bytes.
use super::Payload;
use crate::output::{push_u64_padded, HEX_LOWER};

/// Appends `ts_ns` (nanoseconds since the UNIX epoch) as RFC 3339 in UTC with
/// nanoseconds: `2023-11-14T22:13:20.000001000Z`. Computed, not looked up (no time
/// zone database: UTC by choice, so a line means the same on every machine).
pub fn push_rfc3339(out: &mut Vec<u8>, ts_ns: u64) {
    let secs = ts_ns / 1_000_000_000;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let day = secs % 86_400;
    push_u64_padded(out, y, 4);
    out.push(b'-');
    push_u64_padded(out, m, 2);
    out.push(b'-');
    push_u64_padded(out, d, 2);
    out.push(b'T');
    push_u64_padded(out, day / 3600, 2);
    out.push(b':');
    push_u64_padded(out, day / 60 % 60, 2);
    out.push(b':');
    push_u64_padded(out, day % 60, 2);
    out.push(b'.');
    push_u64_padded(out, ts_ns % 1_000_000_000, 9);
    out.push(b'Z');
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic Gregorian; the
/// era arithmetic of Howard Hinnant's `civil_from_days`, for days on or after 1970).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `bytes` in hex or base64 (nothing for [`Payload::None`]); both need no JSON
/// escaping.
pub fn push_payload(out: &mut Vec<u8>, bytes: &[u8], how: Payload) {
    match how {
        Payload::None => {}
        Payload::Hex => {
            out.reserve(bytes.len() * 2);
            for &b in bytes {
                out.push(HEX_LOWER[(b >> 4) as usize]);
                out.push(HEX_LOWER[(b & 15) as usize]);
            }
        }
        Payload::Base64 => {
            out.reserve(bytes.len().div_ceil(3) * 4);
            for c in bytes.chunks(3) {
                let n = u32::from(c[0]) << 16
                    | u32::from(c.get(1).copied().unwrap_or(0)) << 8
                    | u32::from(c.get(2).copied().unwrap_or(0));
                for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                    out.push(if i <= c.len() {
                        BASE64[(n >> shift) as usize & 63]
                    } else {
                        b'='
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ns: u64) -> String {
        let mut out = Vec::new();
        push_rfc3339(&mut out, ns);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn rfc3339_against_jiff() {
        for ns in [
            0,
            1_700_000_000_000_001_000,
            951_782_400_123_456_789, // 2000-02-29
            4_102_444_799_999_999_999,
            u64::MAX,
        ] {
            let want = jiff::Timestamp::from_nanosecond(i128::from(ns))
                .expect("in range")
                .strftime("%Y-%m-%dT%H:%M:%S.%9fZ")
                .to_string();
            assert_eq!(ts(ns), want);
        }
        assert_eq!(
            ts(1_700_000_000_000_001_000),
            "2023-11-14T22:13:20.000001000Z"
        );
    }

    #[test]
    fn payload_encodings() {
        let enc = |b: &[u8], how| {
            let mut out = Vec::new();
            push_payload(&mut out, b, how);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(enc(b"\x00\xff\x10", Payload::Hex), "00ff10");
        for (plain, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(plain.as_bytes(), Payload::Base64), b64);
        }
    }
}
