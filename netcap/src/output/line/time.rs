//! The time of day in the local time zone (`TZ` respected), as tcpdump prints it by
//! default: `HH:MM:SS.ffffff`, microseconds cut (not rounded), as libpcap hands
//! tcpdump a nanosecond file's times.
//!
//! The zone's offset comes from jiff once per second of capture time: the text of the
//! second (`HH:MM:SS.`) is kept, and every frame within it only adds its
//! microseconds. A zone changes its offset at most at a whole second, so the cache is
//! exact.
//!
//! Deliberate difference: tcpdump 4.99 prints `[Error converting time]` for times from
//! 2038-01-19 03:14:08 UTC on (it refuses seconds with the 32nd bit set); netcap prints
//! them.
use jiff::{tz::TimeZone, Timestamp};

/// "00" to "99".
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// A time zone and the text of the last second printed.
#[derive(Clone, Debug)]
pub(super) struct LocalClock {
    tz: TimeZone,
    /// The second `text` is for, or `u64::MAX` before the first.
    second: u64,
    /// `HH:MM:SS.`
    text: [u8; 9],
}

impl LocalClock {
    pub(super) fn new(tz: TimeZone) -> Self {
        Self {
            tz,
            second: u64::MAX,
            text: *b"00:00:00.",
        }
    }

    /// Appends `HH:MM:SS.ffffff` for `ts_ns` (nanoseconds since the Unix epoch).
    #[inline]
    pub(super) fn push(&mut self, out: &mut Vec<u8>, ts_ns: u64) {
        let second = ts_ns / 1_000_000_000;
        if second != self.second {
            self.set(second);
        }
        let us = (ts_ns % 1_000_000_000 / 1_000) as usize;
        let mut buf = [0u8; 15];
        buf[..9].copy_from_slice(&self.text);
        buf[9..11].copy_from_slice(&PAIRS[us / 10_000]);
        buf[11..13].copy_from_slice(&PAIRS[us / 100 % 100]);
        buf[13..15].copy_from_slice(&PAIRS[us % 100]);
        out.extend_from_slice(&buf);
    }

    fn set(&mut self, second: u64) {
        let offset = i64::try_from(second)
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok())
            .map_or(0, |t| i64::from(self.tz.to_offset(t).seconds()));
        let local = (second as i64).saturating_add(offset).rem_euclid(86_400) as usize;
        let (h, m, s) = (local / 3600, local / 60 % 60, local % 60);
        self.text = [
            PAIRS[h][0],
            PAIRS[h][1],
            b':',
            PAIRS[m][0],
            PAIRS[m][1],
            b':',
            PAIRS[s][0],
            PAIRS[s][1],
            b'.',
        ];
        self.second = second;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(tz: &TimeZone, ts_ns: u64) -> String {
        let mut out = Vec::new();
        LocalClock::new(tz.clone()).push(&mut out, ts_ns);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn utc_and_a_zone_with_half_hours_and_summer_time() {
        // 2024-01-15 12:34:56.001234567 UTC.
        let t = 1_705_322_096_001_234_567;
        assert_eq!(text(&TimeZone::UTC, t), "12:34:56.001234");
        // Adelaide's rules: +9:30, +10:30 from October to April.
        let adelaide = TimeZone::posix("ACST-9:30ACDT,M10.1.0,M4.1.0/3").expect("valid rule");
        assert_eq!(text(&adelaide, t), "23:04:56.001234");
        // 2024-07-15 12:34:56 UTC: winter there.
        assert_eq!(
            text(&adelaide, 1_721_046_896_000_000_000),
            "22:04:56.000000"
        );
        // Past 2038 (tcpdump 4.99 gives up there).
        assert_eq!(
            text(&TimeZone::UTC, 2_147_483_648_000_000_000),
            "03:14:08.000000"
        );
    }

    #[test]
    fn one_offset_lookup_per_second() {
        let mut c = LocalClock::new(TimeZone::UTC);
        let mut out = Vec::new();
        c.push(&mut out, 59_999_999_999);
        c.push(&mut out, 60_000_000_000);
        c.push(&mut out, 60_999_999_000);
        assert_eq!(out, b"00:00:59.99999900:01:00.00000000:01:00.999999");
        assert_eq!(c.second, 60);
    }
}
