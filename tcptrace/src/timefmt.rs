//! Timestamp formatting for the renderer, as tcpdump 4.99.3 prints its `-t` family.
//!
//! Local time honours `TZ` like tcpdump's `localtime()`: the zone is read once (jiff's system
//! time zone, which looks at `TZ` first), and the UTC offset is cached together with the
//! instant of the zone's next transition, so the time zone database is only consulted again
//! when a packet crosses a DST change (or goes back in time before the cached instant).

use crate::decode::Timestamp;
use crate::render::{put_u64, put_u64_pad};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// A cached local-time offset.
#[derive(Clone)]
pub struct LocalClock {
    tz: Option<jiff::tz::TimeZone>,
    /// The cached offset is right for `valid_from <= secs < valid_until`.
    valid_from: i64,
    valid_until: i64,
    offset: i64,
}

impl LocalClock {
    /// The system time zone (`TZ` if set, else `/etc/localtime`), as tcpdump uses it.
    pub fn system() -> Self {
        Self::with_zone(jiff::tz::TimeZone::system())
    }

    /// A clock in a given zone.
    pub fn with_zone(tz: jiff::tz::TimeZone) -> Self {
        LocalClock {
            tz: Some(tz),
            valid_from: 1,
            valid_until: 0,
            offset: 0,
        }
    }

    /// Plain UTC, never consulting a database.
    pub fn utc() -> Self {
        LocalClock {
            tz: None,
            valid_from: i64::MIN,
            valid_until: i64::MAX,
            offset: 0,
        }
    }

    /// The UTC offset in seconds at `secs` since the epoch.
    #[inline]
    pub fn offset_at(&mut self, secs: i64) -> i64 {
        if secs >= self.valid_from && secs < self.valid_until {
            return self.offset;
        }
        self.refresh(secs);
        self.offset
    }

    #[cold]
    fn refresh(&mut self, secs: i64) {
        let Some(tz) = &self.tz else {
            return;
        };
        let Ok(ts) = jiff::Timestamp::from_second(secs) else {
            self.offset = 0;
            self.valid_from = secs;
            self.valid_until = secs.saturating_add(1);
            return;
        };
        let offset = tz.to_offset(ts);
        self.offset = offset.seconds() as i64;
        // Valid back to the previous transition (so slightly out-of-order timestamps do not
        // miss), unless a transition at exactly `secs` was skipped by `preceding`.
        self.valid_from = match tz.preceding(ts).next() {
            Some(t) if tz.to_offset(t.timestamp()) == offset => t.timestamp().as_second(),
            _ => secs,
        };
        self.valid_until = match tz.following(ts).next() {
            Some(t) => t.timestamp().as_second().max(secs.saturating_add(1)),
            None => i64::MAX,
        };
    }

    /// Local seconds since the epoch (UTC seconds plus the offset).
    #[inline]
    pub fn local_secs(&mut self, secs: i64) -> i64 {
        secs + self.offset_at(secs)
    }
}

/// Civil date (year, month 1..=12, day 1..=31) for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm.
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// What tcpdump 4.99.3 prints instead of a time whose seconds, as a 32-bit value, have the
/// top bit set (before 1970 or from 2038 on: from a damaged capture file, say).
pub const ERROR_CONVERTING: &[u8] = b"[Error converting time]";

/// Whether tcpdump prints [`ERROR_CONVERTING`] for these seconds (`(unsigned)sec &
/// 0x80000000` in its `ts_*_print`).
#[inline]
pub fn unconvertible(secs: i64) -> bool {
    secs as u32 & 0x8000_0000 != 0
}

/// Appends the sub-second part: `.ffffff` (microseconds, truncated) or `.fffffffff`.
#[inline]
pub fn put_frac(out: &mut Vec<u8>, nanos: u32, nano: bool) {
    out.push(b'.');
    if nano {
        put_u64_pad(out, nanos as u64, 9);
    } else {
        put_u64_pad(out, (nanos / 1000) as u64, 6);
    }
}

/// Appends `HH:MM:SS` for a number of seconds, hours taken modulo 24 (like `gmtime`).
#[inline]
pub fn put_hms(out: &mut Vec<u8>, secs: i64) {
    let sod = secs.rem_euclid(DAY);
    put_u64_pad(out, (sod / 3600) as u64, 2);
    out.push(b':');
    put_u64_pad(out, ((sod / 60) % 60) as u64, 2);
    out.push(b':');
    put_u64_pad(out, (sod % 60) as u64, 2);
}

/// Appends `YYYY-MM-DD HH:MM:SS` for local seconds since the epoch.
#[inline]
pub fn put_date_hms(out: &mut Vec<u8>, local_secs: i64) {
    let (y, m, d) = civil_from_days(local_secs.div_euclid(DAY));
    if y < 0 {
        out.push(b'-');
    }
    put_u64_pad(out, y.unsigned_abs(), 4);
    out.push(b'-');
    put_u64_pad(out, m as u64, 2);
    out.push(b'-');
    put_u64_pad(out, d as u64, 2);
    out.push(b' ');
    put_hms(out, local_secs);
}

/// The timeval tcpdump prints for `ts`: seconds and the fraction in the output unit
/// (micro- or nanoseconds). For a capture file's out-of-range fraction field this is
/// libpcap's arithmetic on it: the signed 32-bit field, scaled to the unit asked for in
/// 32-bit signed arithmetic (`* 1000` wrapping, `/ 1000` truncating), not normalised.
pub fn timeval(ts: Timestamp, nano: bool) -> (i64, i64) {
    match ts.file {
        None if nano => (ts.secs, i64::from(ts.nanos)),
        None => (ts.secs, i64::from(ts.nanos / 1000)),
        Some(f) => {
            let frac = match (f.nano, nano) {
                (true, false) => f.frac / 1000,
                (false, true) => f.frac.wrapping_mul(1000),
                _ => f.frac,
            };
            (i64::from(f.sec), i64::from(frac))
        }
    }
}

/// Appends a timeval's fraction as tcpdump's `.%06u` / `.%09u` of the value cast to
/// unsigned (an out-of-range value prints with all its digits).
#[inline]
pub fn put_tv_frac(out: &mut Vec<u8>, frac: i64, nano: bool) {
    out.push(b'.');
    put_u64_pad(out, u64::from(frac as u32), if nano { 9 } else { 6 });
}

/// Appends tcpdump's `-tt` form: seconds since the epoch, `.`, the fraction.
#[inline]
pub fn put_epoch(out: &mut Vec<u8>, ts: Timestamp, nano: bool) {
    let (secs, frac) = timeval(ts, nano);
    if secs < 0 {
        out.push(b'-');
    }
    put_u64(out, secs.unsigned_abs());
    put_tv_frac(out, frac, nano);
}

/// Appends tcpdump's `-ttt`/`-ttttt` form for `ts - reference`: a sign column (space or
/// `-`), then the magnitude as `HH:MM:SS.frac` with hours modulo 24. The subtraction is
/// tcpdump's on timevals in the output unit: seconds and fractions apart, one borrow.
pub fn put_delta(out: &mut Vec<u8>, ts: Timestamp, reference: Timestamp, nano: bool) {
    let a = timeval(ts, nano);
    let b = timeval(reference, nano);
    let negative = if a.0 == b.0 { a.1 < b.1 } else { a.0 < b.0 };
    let (x, y) = if negative { (b, a) } else { (a, b) };
    let mut secs = x.0 - y.0;
    let mut frac = x.1 - y.1;
    if frac < 0 {
        secs -= 1;
        frac += if nano { 1_000_000_000 } else { 1_000_000 };
    }
    out.push(if negative { b'-' } else { b' ' });
    if unconvertible(secs) {
        out.extend_from_slice(ERROR_CONVERTING);
        return;
    }
    put_hms(out, secs);
    put_tv_frac(out, frac, nano);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::written as s;

    fn ts(secs: i64, nanos: u32) -> Timestamp {
        Timestamp::new(secs, nanos)
    }

    #[test]
    fn civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(2), (1970, 1, 3));
        assert_eq!(civil_from_days(17_888), (2018, 12, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn forms() {
        // Values from tcpdump 4.99.3 runs (TZ=UTC).
        assert_eq!(
            s(|o| put_epoch(o, ts(1000, 500_000_000), false)),
            "1000.500000"
        );
        assert_eq!(
            s(|o| put_epoch(o, ts(1000, 500_000_000), true)),
            "1000.500000000"
        );
        assert_eq!(s(|o| put_date_hms(o, 1_545_562_209)), "2018-12-23 10:50:09");
        assert_eq!(
            s(|o| put_date_hms(o, 2 * 86400 + 4600)),
            "1970-01-03 01:16:40"
        );
        assert_eq!(
            s(|o| put_delta(o, ts(1000, 200_000_000), ts(1000, 500_000_000), false)),
            "-00:00:00.300000"
        );
        assert_eq!(
            s(|o| put_delta(o, ts(177_400, 100_000_000), ts(1000, 200_000_000), false)),
            " 00:59:59.900000"
        );
        assert_eq!(
            s(|o| put_delta(o, ts(5, 7), ts(5, 7), true)),
            " 00:00:00.000000000"
        );
        assert!(unconvertible(-1) && unconvertible(1 << 31) && !unconvertible((1 << 31) - 1));
        assert_eq!(
            s(|o| put_delta(o, ts(1 << 31, 0), ts(0, 0), false)),
            " [Error converting time]"
        );
    }

    #[test]
    fn local_clock_follows_tz() {
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let mut c = LocalClock::with_zone(tz);
        // 1970-01-01 00:16:40 UTC is 19:16:40 EST the day before.
        assert_eq!(c.offset_at(1000), -5 * 3600);
        // 2021-07-01 12:00:00 UTC: EDT.
        assert_eq!(c.offset_at(1_625_140_800), -4 * 3600);
        // Across the 2021-11-07 06:00:00 UTC change back to EST.
        assert_eq!(c.offset_at(1_636_264_799), -4 * 3600);
        assert_eq!(c.offset_at(1_636_264_800), -5 * 3600);
        // Back in time across the change, then forward again.
        assert_eq!(c.offset_at(1_636_264_799), -4 * 3600);
        assert_eq!(c.offset_at(1_636_264_801), -5 * 3600);
        // Spring forward 2022-03-13 07:00:00 UTC.
        assert_eq!(c.offset_at(1_647_154_799), -5 * 3600);
        assert_eq!(c.offset_at(1_647_154_800), -4 * 3600);
        let mut u = LocalClock::utc();
        assert_eq!(u.offset_at(1_636_264_800), 0);
    }
}
