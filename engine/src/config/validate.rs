//! Validation helpers: read raw leaves, check them, and collect every error with its
//! path (`guards.rate_limit.place_per_min`) and a reason a user can act on.

use super::raw::{DecimalText, Lenient, Unknown};
use crate::model::parse_decimal;
use crate::time::{NANOS_PER_MILLI, UnixNanos};
use serde::Serialize;
use std::fmt;

/// One invalid value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Dotted path of the value, e.g. `risk.notional_caps.total_usd`.
    pub path: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Every invalid value of a config document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} invalid value(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// Collects errors while reading a raw document.
#[derive(Default)]
pub(crate) struct Validator {
    pub errors: Vec<ConfigError>,
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Validator {
    pub fn error(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            reason: reason.into(),
        });
    }

    pub fn unknown(&mut self, path: &str, unknown: &Unknown) {
        for key in unknown.keys() {
            self.error(
                join(path, key),
                "unknown key (check the spelling against configs/*.yaml)",
            );
        }
    }

    pub fn section<'a, T>(&mut self, path: &str, section: &'a Option<T>) -> Option<&'a T> {
        if section.is_none() {
            self.error(path, "missing section");
        }
        section.as_ref()
    }

    /// A required leaf of the right type.
    pub fn required<T: Clone>(&mut self, path: &str, leaf: &Option<Lenient<T>>) -> Option<T> {
        match leaf {
            None => {
                self.error(path, "missing value");
                None
            }
            Some(l) => self.lenient(path, l),
        }
    }

    /// An optional leaf: absent is fine, a wrong type is not.
    pub fn optional<T: Clone>(&mut self, path: &str, leaf: &Option<Lenient<T>>) -> Option<T> {
        leaf.as_ref().and_then(|l| self.lenient(path, l))
    }

    fn lenient<T: Clone>(&mut self, path: &str, leaf: &Lenient<T>) -> Option<T> {
        match leaf {
            Lenient::Value(v) => Some(v.clone()),
            Lenient::Invalid { found, reason } => {
                self.error(path, format!("invalid value {found:?}: {reason}"));
                None
            }
        }
    }

    /// A required integer within `lo..=hi`.
    pub fn range<T>(&mut self, path: &str, leaf: &Option<Lenient<T>>, lo: T, hi: T) -> Option<T>
    where
        T: Clone + PartialOrd + fmt::Display,
    {
        let v = self.required(path, leaf)?;
        if v < lo || v > hi {
            self.error(path, format!("{v} is out of range; expected {lo}..={hi}"));
            return None;
        }
        Some(v)
    }

    /// A required decimal parsed at `scale` decimals and checked against `lo..=hi`
    /// (both in raw units at that scale).
    pub fn decimal(
        &mut self,
        path: &str,
        leaf: &Option<Lenient<DecimalText>>,
        scale: u8,
        lo: i64,
        hi: i64,
    ) -> Option<i64> {
        let text = self.required(path, leaf)?;
        self.decimal_text(path, &text, scale, lo, hi)
    }

    pub fn decimal_text(
        &mut self,
        path: &str,
        text: &DecimalText,
        scale: u8,
        lo: i64,
        hi: i64,
    ) -> Option<i64> {
        match parse_decimal(&text.0, scale) {
            Ok(v) if v >= lo && v <= hi => Some(v),
            Ok(_) => {
                let lo_t = crate::model::Decimal { raw: lo, scale };
                let hi_t = crate::model::Decimal { raw: hi, scale };
                self.error(
                    path,
                    format!("{} is out of range; expected {lo_t}..={hi_t}", text.0),
                );
                None
            }
            Err(e) => {
                self.error(path, format!("{e}"));
                None
            }
        }
    }

    /// A required RFC 3339 UTC timestamp such as `2026-11-22T02:00:00Z`.
    pub fn timestamp(&mut self, path: &str, leaf: &Option<Lenient<String>>) -> Option<UnixNanos> {
        let text = self.required(path, leaf)?;
        self.timestamp_text(path, &text)
    }

    pub fn timestamp_text(&mut self, path: &str, text: &str) -> Option<UnixNanos> {
        match parse_rfc3339_utc(text) {
            Some(t) => Some(t),
            None => {
                self.error(
                    path,
                    format!("{text:?} is not a UTC timestamp like 2026-11-22T02:00:00Z"),
                );
                None
            }
        }
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff…]Z`. Only UTC (`Z`) is accepted, so a window is
/// never shifted by a local offset nobody noticed.
pub fn parse_rfc3339_utc(text: &str) -> Option<UnixNanos> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if *b.last()? != b'Z' {
        return None;
    }
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let year = num(&b[0..4])?;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    let hour = num(&b[11..13])?;
    let minute = num(&b[14..16])?;
    let second = num(&b[17..19])?;
    let mut nanos = 0i64;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        if rest[0] != b'.' || rest.len() < 2 || rest.len() > 10 {
            return None;
        }
        let frac = num(&rest[1..])?;
        nanos = frac * 10i64.pow(9 - (rest.len() as u32 - 1));
    }
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let days_in_month = [
        31,
        28 + i64::from(is_leap(year)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > days_in_month[(month - 1) as usize] {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(secs)
        .ok()
        .map(|s| UnixNanos(s * 1_000_000_000 + nanos as u64))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds to nanoseconds.
pub(crate) const fn ms(v: u64) -> u64 {
    v.saturating_mul(NANOS_PER_MILLI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_formatting() {
        for t in [0u64, 1_723_161_255_500, 951_782_400_000, 1_795_000_000_123] {
            let at = UnixNanos::from_millis(t);
            assert_eq!(parse_rfc3339_utc(&at.to_rfc3339()), Some(at));
        }
        assert_eq!(
            parse_rfc3339_utc("2026-11-22T02:00:00Z"),
            Some(UnixNanos::from_secs(1_795_312_800))
        );
    }

    #[test]
    fn rfc3339_rejects_offsets_and_nonsense() {
        for bad in [
            "2026-11-22T02:00:00+01:00",
            "2026-11-22 02:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad:?}");
        }
    }
}
