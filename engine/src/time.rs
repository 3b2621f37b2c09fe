//! Time as the engine sees it: nanoseconds since the Unix epoch, passed in by drivers.
//!
//! The engine never reads a clock. Every entry point takes `now: UnixNanos`, and the
//! engine asserts that `now` never goes backwards.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixNanos(pub u64);

/// One millisecond in nanoseconds.
pub const NANOS_PER_MILLI: u64 = 1_000_000;
/// One second in nanoseconds.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// One minute in nanoseconds.
pub const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
/// One day in nanoseconds.
pub const NANOS_PER_DAY: u64 = 24 * 60 * NANOS_PER_MINUTE;

impl UnixNanos {
    /// The epoch itself; used as "never" for timestamps that have not happened.
    pub const ZERO: UnixNanos = UnixNanos(0);
    /// A deadline that never arrives.
    pub const NEVER: UnixNanos = UnixNanos(u64::MAX);

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> UnixNanos {
        UnixNanos(ms.saturating_mul(NANOS_PER_MILLI))
    }

    /// From seconds since the epoch.
    pub const fn from_secs(s: u64) -> UnixNanos {
        UnixNanos(s.saturating_mul(NANOS_PER_SECOND))
    }

    /// Whole milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0 / NANOS_PER_MILLI
    }

    /// `self + nanos`, saturating at [`UnixNanos::NEVER`].
    pub const fn plus_nanos(self, nanos: u64) -> UnixNanos {
        UnixNanos(self.0.saturating_add(nanos))
    }

    /// `self + ms` milliseconds, saturating.
    pub const fn plus_millis(self, ms: u64) -> UnixNanos {
        self.plus_nanos(ms.saturating_mul(NANOS_PER_MILLI))
    }

    /// `self - nanos`, saturating at zero.
    pub const fn minus_nanos(self, nanos: u64) -> UnixNanos {
        UnixNanos(self.0.saturating_sub(nanos))
    }

    /// Nanoseconds elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub const fn nanos_since(self, earlier: UnixNanos) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Milliseconds elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub const fn millis_since(self, earlier: UnixNanos) -> u64 {
        self.nanos_since(earlier) / NANOS_PER_MILLI
    }

    /// Whether this is [`UnixNanos::ZERO`], i.e. "has not happened".
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Days since the epoch after shifting by `offset_minutes` (a trading day boundary).
    pub fn day_index(self, offset_minutes: i32) -> i64 {
        let shifted = self.0 as i128 - i128::from(offset_minutes) * i128::from(NANOS_PER_MINUTE);
        shifted.div_euclid(i128::from(NANOS_PER_DAY)) as i64
    }

    /// RFC 3339 / ISO 8601 UTC text with millisecond precision, e.g. `2026-11-21T23:35:26.123Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / NANOS_PER_SECOND;
        let millis = (self.0 % NANOS_PER_SECOND) / NANOS_PER_MILLI;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

impl fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days`, valid for the whole `i64` day range we use.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(UnixNanos(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        // 2024-08-08T23:54:15.5Z
        let t = UnixNanos::from_millis(1_723_161_255_500);
        assert_eq!(t.to_rfc3339(), "2024-08-08T23:54:15.500Z");
        // A leap day.
        let t = UnixNanos::from_secs(951_782_400);
        assert_eq!(t.to_rfc3339(), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn day_index_honours_the_boundary_offset() {
        let midnight = UnixNanos::from_secs(86_400 * 10);
        assert_eq!(midnight.day_index(0), 10);
        assert_eq!(midnight.minus_nanos(1).day_index(0), 9);
        // With the day starting at 08:00 UTC, 07:59 still belongs to the previous day.
        let t = midnight.plus_nanos(7 * 3600 * NANOS_PER_SECOND + 59 * NANOS_PER_MINUTE);
        assert_eq!(t.day_index(8 * 60), 9);
        assert_eq!(t.plus_nanos(NANOS_PER_MINUTE).day_index(8 * 60), 10);
    }
}
