//! The time of day in the local time zone (`TZ` respected), as tcpdump prints it by
//! default: `HH:MM:SS.ffffff`, microseconds cut (not rounded), as libpcap hands
//! tcpdump a nanosecond file's times.
//!
//! The zone's offset comes from jiff once per second of capture time: the text of the
//! second (`HH:MM:SS.`) is kept, and every frame within it only adds its
//! microseconds. A zone changes its offset at most at a whole second, so the cache is
//! exact.
//!
//! The other forms of tcpdump's `-t` flags are here too ([`TimeFormat`]); the
//! differences to the previous or the first frame (`-ttt`, `-ttttt`) are finished by
//! the writer, which sees the frames in capture order ([`push_span`], `super::seq`).
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

/// What each line starts with: tcpdump's `-t` given 0 to 5 times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// `HH:MM:SS.ffffff`, local time.
    #[default]
    Local,
    /// `-t`: no time.
    None,
    /// `-tt`: seconds since the epoch, `1700000000.000001`.
    Unix,
    /// `-ttt`: the difference to the previous frame, ` 00:00:00.000123`.
    Delta,
    /// `-tttt`: the local date and time, `2023-11-14 22:13:20.000001`.
    LocalDate,
    /// `-ttttt`: the difference to the first frame.
    SinceFirst,
}

impl TimeFormat {
    /// The format for `-t` given `n` times (tcpdump's meanings; more than 5 as 5).
    pub fn from_count(n: u8) -> Self {
        match n {
            0 => Self::Local,
            1 => Self::None,
            2 => Self::Unix,
            3 => Self::Delta,
            4 => Self::LocalDate,
            _ => Self::SinceFirst,
        }
    }

    /// True for the forms only the writer can finish.
    pub(super) fn relative(self) -> bool {
        matches!(self, Self::Delta | Self::SinceFirst)
    }
}

/// What a worker prints where the writer puts a time difference: a sign and
/// `HH:MM:SS.ffffff` (tcpdump's width, its days dropped as its `gmtime` drops them).
pub(super) const SPAN_HOLE: &[u8; 16] = b" 00:00:00.000000";

/// Appends a time difference as tcpdump's `-ttt`: `-` or a space, then
/// `HH:MM:SS.ffffff` (of a day: whole days are not shown), or tcpdump's
/// `[Error converting time]` for a difference of 2^31 seconds or more.
pub(super) fn push_span(out: &mut Vec<u8>, negative: bool, micros: u64) {
    out.push(if negative { b'-' } else { b' ' });
    let (secs, us) = (micros / 1_000_000, (micros % 1_000_000) as usize);
    if secs & 0x8000_0000 != 0 {
        return out.extend_from_slice(b"[Error converting time]");
    }
    let day = (secs % 86_400) as usize;
    let (h, m, s) = (day / 3600, day / 60 % 60, day % 60);
    out.extend_from_slice(&[
        PAIRS[h][0],
        PAIRS[h][1],
        b':',
        PAIRS[m][0],
        PAIRS[m][1],
        b':',
        PAIRS[s][0],
        PAIRS[s][1],
        b'.',
    ]);
    push_micros(out, us);
}

fn push_micros(out: &mut Vec<u8>, us: usize) {
    let mut buf = [0u8; 6];
    buf[..2].copy_from_slice(&PAIRS[us / 10_000 % 100]);
    buf[2..4].copy_from_slice(&PAIRS[us / 100 % 100]);
    buf[4..].copy_from_slice(&PAIRS[us % 100]);
    out.extend_from_slice(&buf);
}

/// `-tt`: `SECONDS.ffffff`.
pub(super) fn push_unix(out: &mut Vec<u8>, ts_ns: u64) {
    crate::output::push_u64(out, ts_ns / 1_000_000_000);
    out.push(b'.');
    push_micros(out, (ts_ns % 1_000_000_000 / 1_000) as usize);
}

/// A time zone and the text of the last second printed.
#[derive(Clone, Debug)]
pub(super) struct LocalClock {
    tz: TimeZone,
    /// The second `text` is for, or `u64::MAX` before the first.
    second: u64,
    /// `HH:MM:SS.`
    text: [u8; 9],
    /// `YYYY-MM-DD ` of the same second (for `-tttt`).
    date: [u8; 11],
}

impl LocalClock {
    pub(super) fn new(tz: TimeZone) -> Self {
        Self {
            tz,
            second: u64::MAX,
            text: *b"00:00:00.",
            date: *b"1970-01-01 ",
        }
    }

    /// Appends `HH:MM:SS.ffffff` for `ts_ns` (nanoseconds since the Unix epoch).
    #[inline]
    pub(super) fn push(&mut self, out: &mut Vec<u8>, ts_ns: u64) {
        let second = ts_ns / 1_000_000_000;
        if second != self.second {
            self.set(second);
        }
        out.extend_from_slice(&self.text);
        push_micros(out, (ts_ns % 1_000_000_000 / 1_000) as usize);
    }

    /// Appends `YYYY-MM-DD HH:MM:SS.ffffff` (`-tttt`).
    pub(super) fn push_with_date(&mut self, out: &mut Vec<u8>, ts_ns: u64) {
        let second = ts_ns / 1_000_000_000;
        if second != self.second {
            self.set(second);
        }
        out.extend_from_slice(&self.date);
        self.push(out, ts_ns);
    }

    fn set(&mut self, second: u64) {
        let ts = i64::try_from(second)
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok());
        let offset = ts.map_or(0, |t| i64::from(self.tz.to_offset(t).seconds()));
        if let Some(d) = ts.map(|t| t.to_zoned(self.tz.clone()).date()) {
            let y = d.year().unsigned_abs() as usize;
            let (mo, da) = (d.month() as usize, d.day() as usize);
            self.date = [
                PAIRS[y / 100 % 100][0],
                PAIRS[y / 100 % 100][1],
                PAIRS[y % 100][0],
                PAIRS[y % 100][1],
                b'-',
                PAIRS[mo][0],
                PAIRS[mo][1],
                b'-',
                PAIRS[da][0],
                PAIRS[da][1],
                b' ',
            ];
        }
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
    fn the_other_forms() {
        let mut out = Vec::new();
        LocalClock::new(TimeZone::UTC).push_with_date(&mut out, 1_705_322_096_001_234_567);
        push_unix(&mut out, 1_705_322_096_001_234_567);
        push_span(&mut out, false, 123);
        push_span(&mut out, true, 86_400_000_000 + 3_723_000_001);
        push_span(&mut out, false, 1 << 31 << 20);
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "2024-01-15 12:34:56.0012341705322096.001234 00:00:00.000123-01:02:03.000001 \
             [Error converting time]"
        );
        assert_eq!(TimeFormat::from_count(3), TimeFormat::Delta);
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
