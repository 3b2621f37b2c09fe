//! Fixed-point money: `Price`, `Qty`, `Notional` and fee rates in `CentiBps`.
//!
//! Every value is an `i64` count of the smallest unit. The scale (number of decimals)
//! of `Price` and `Qty` belongs to the instrument (see [`crate::model::Scales`]) and is
//! not stored in each value, so a book level stays 16 bytes. `Notional` (quote currency,
//! USDT) has one global scale, [`NOTIONAL_SCALE`]. Arithmetic is checked; no `f64`
//! takes part in a decision. Decimal text from venues and configs is parsed straight
//! into these integers with [`parse_decimal`], never through a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Decimals of [`Notional`]: one unit is 1e-8 USDT.
pub const NOTIONAL_SCALE: u8 = 8;
/// `10^NOTIONAL_SCALE`.
pub const NOTIONAL_ONE: i64 = 100_000_000;
/// Largest scale accepted for prices and quantities.
pub const SCALE_MAX: u8 = 12;

/// A price in units of `10^-price_scale` of the quote currency.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Price(i64);

/// A base-asset quantity in units of `10^-qty_scale`. Signed: positions use the sign
/// (long > 0); order and level quantities are never negative.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Qty(i64);

/// An amount of quote currency (USDT) in units of 1e-8. Signed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Notional(i64);

/// A rate in hundredths of a basis point: 100 = 1 bps = 0.01 %; 1_000_000 = 100 %.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct CentiBps(i64);

/// A money computation whose result does not fit in 64 bits: `Notional` holds about
/// ±92 billion USDT, and a `Price` or `Qty` ±9.2e18 units of its scale. Only absurd
/// input gets there (a venue message no real market sends, a corrupted journal), so
/// whoever receives this refuses that input rather than book a wrapped value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} does not fit in 64 bits")]
pub struct MoneyOverflow {
    /// What was being computed (`"position"`, `"fees"`, …).
    pub what: &'static str,
}

/// Hundredths of a basis point in one whole (100 %).
pub const CENTIBPS_PER_UNIT: i64 = 1_000_000;

macro_rules! fixed_common {
    ($t:ident) => {
        impl $t {
            /// Zero.
            pub const ZERO: $t = $t(0);

            /// A value from its raw integer count of smallest units (the scale is the
            /// caller's to know: the instrument's for prices and quantities).
            pub const fn from_raw(raw: i64) -> $t {
                $t(raw)
            }

            /// The raw integer count of smallest units.
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// `self + other`, or `None` on overflow.
            pub fn checked_add(self, other: $t) -> Option<$t> {
                self.0.checked_add(other.0).map($t)
            }

            /// `self - other`, or `None` on overflow.
            pub fn checked_sub(self, other: $t) -> Option<$t> {
                self.0.checked_sub(other.0).map($t)
            }

            /// The sum of `values`, or `None` if it (or any partial sum) overflows.
            pub fn checked_sum(values: impl IntoIterator<Item = $t>) -> Option<$t> {
                values
                    .into_iter()
                    .try_fold($t::ZERO, |sum, v| sum.checked_add(v))
            }

            /// `self + other`, clamped to the `i64` range. For aggregates only, where
            /// the saturated value is the safe answer: a total compared against a cap
            /// (a saturated exposure or loss still breaches it) or shown to people.
            /// Never for a value booked, sent or journaled: those use `checked_add`.
            pub fn saturating_add(self, other: $t) -> $t {
                $t(self.0.saturating_add(other.0))
            }

            /// `self - other`, clamped to the `i64` range (the rule of
            /// [`saturating_add`](Self::saturating_add)).
            pub fn saturating_sub(self, other: $t) -> $t {
                $t(self.0.saturating_sub(other.0))
            }

            /// `-self`, or `None` on overflow.
            pub fn checked_neg(self) -> Option<$t> {
                self.0.checked_neg().map($t)
            }

            /// `|self|`, or `None` for `i64::MIN`.
            pub fn checked_abs(self) -> Option<$t> {
                self.0.checked_abs().map($t)
            }

            /// Whether the value is zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// Whether the value is strictly positive.
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            /// Whether the value is strictly negative.
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }
        }
    };
}

fixed_common!(Price);
fixed_common!(Qty);
fixed_common!(Notional);
fixed_common!(CentiBps);

impl Notional {
    /// Whole USDT, e.g. `Notional::from_usd(1000)`.
    pub const fn from_usd(usd: i64) -> Notional {
        Notional(usd.saturating_mul(NOTIONAL_ONE))
    }

    /// The value as a float, for reporting only (never for decisions).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / NOTIONAL_ONE as f64
    }

    /// Decimal text with all eight decimals trimmed of trailing zeros.
    pub fn display(self) -> Decimal {
        Decimal {
            raw: self.0,
            scale: NOTIONAL_SCALE,
        }
    }

    /// `self × rate`, rounded towards +∞ (costs round against us, rebates too).
    pub fn times_rate_ceil(self, rate: CentiBps) -> Option<Notional> {
        let product = i128::from(self.0).checked_mul(i128::from(rate.0))?;
        let q = div_ceil_i128(product, i128::from(CENTIBPS_PER_UNIT));
        i64::try_from(q).ok().map(Notional)
    }
}

impl CentiBps {
    /// From whole basis points.
    pub const fn from_bps(bps: i64) -> CentiBps {
        CentiBps(bps.saturating_mul(100))
    }

    /// The rate in basis points as a float, for reporting only.
    pub fn to_bps_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Price {
    /// Decimal text for this price at `scale`.
    pub fn display(self, scale: u8) -> Decimal {
        Decimal { raw: self.0, scale }
    }

    /// The mid of two prices, rounded towards zero. Summed in `i128`, so two prices
    /// near the top of the range (a venue's absurd quote) cannot overflow; the mean of
    /// two `i64` values always fits one.
    pub fn midpoint(self, other: Price) -> Price {
        let sum = i128::from(self.0) + i128::from(other.0);
        Price(i64::try_from(sum / 2).expect("the mean of two i64 values fits an i64"))
    }
}

impl Qty {
    /// Decimal text for this quantity at `scale`.
    pub fn display(self, scale: u8) -> Decimal {
        Decimal { raw: self.0, scale }
    }

    /// The smaller of two quantities.
    pub fn min(self, other: Qty) -> Qty {
        if self.0 <= other.0 { self } else { other }
    }

    /// Rounds a non-negative quantity down to a multiple of `lot` (`lot > 0`).
    pub fn round_down_to(self, lot: Qty) -> Qty {
        assert!(lot.0 > 0, "lot size must be positive");
        Qty(self.0 - self.0.rem_euclid(lot.0))
    }
}

/// Powers of ten up to 10^18.
const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// `10^exp` for `exp <= 18`.
pub fn pow10(exp: u8) -> i64 {
    POW10[usize::from(exp)]
}

fn div_ceil_i128(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

/// The quote-currency value of `qty` at `price`, rounded towards zero, or `None` on
/// overflow. `price_scale + qty_scale` may be above or below [`NOTIONAL_SCALE`].
pub fn notional_of(price: Price, qty: Qty, price_scale: u8, qty_scale: u8) -> Option<Notional> {
    // Fast path in i64 (no 128-bit division on the hot path); exact, or falls through.
    let scale = i32::from(price_scale) + i32::from(qty_scale);
    if scale <= i32::from(NOTIONAL_SCALE)
        && let Some(v) = price
            .0
            .checked_mul(qty.0)
            .and_then(|p| p.checked_mul(pow10((i32::from(NOTIONAL_SCALE) - scale) as u8)))
    {
        return Some(Notional(v));
    }
    let product = i128::from(price.0).checked_mul(i128::from(qty.0))?;
    let scale = i32::from(price_scale) + i32::from(qty_scale);
    let shift = i32::from(NOTIONAL_SCALE) - scale;
    let value = if shift >= 0 {
        product.checked_mul(i128::from(pow10(shift as u8)))?
    } else {
        product / i128::from(pow10((-shift) as u8))
    };
    i64::try_from(value).ok().map(Notional)
}

/// The largest quantity (rounded down to `lot`) whose value at `price` is at most
/// `budget`. Zero for a non-positive budget or price.
pub fn qty_for_notional(
    budget: Notional,
    price: Price,
    price_scale: u8,
    qty_scale: u8,
    lot: Qty,
) -> Qty {
    if budget.0 <= 0 || price.0 <= 0 {
        return Qty::ZERO;
    }
    let scale = i32::from(price_scale) + i32::from(qty_scale) - i32::from(NOTIONAL_SCALE);
    if scale <= 0 {
        // Fast path in i64: truncating the budget first equals truncating the quotient.
        let numerator = budget.0 / pow10((-scale) as u8);
        return Qty(numerator / price.0).round_down_to(lot);
    }
    // qty_raw = budget * 10^(price_scale + qty_scale - NOTIONAL_SCALE) / price_raw
    let scale = i32::from(price_scale) + i32::from(qty_scale) - i32::from(NOTIONAL_SCALE);
    let numerator = if scale >= 0 {
        i128::from(budget.0) * i128::from(pow10(scale as u8))
    } else {
        i128::from(budget.0) / i128::from(pow10((-scale) as u8))
    };
    let raw = numerator / i128::from(price.0);
    let raw = i64::try_from(raw).unwrap_or(i64::MAX);
    Qty(raw).round_down_to(lot)
}

/// Why decimal text could not become a fixed-point value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text was empty.
    #[error("empty number")]
    Empty,
    /// A character other than digits, one `.` and a leading `-` appeared (this rejects
    /// `NaN`, `inf`, exponents and thousands separators).
    #[error("not a plain decimal number: {0:?}")]
    Malformed(String),
    /// More significant decimals than the scale allows.
    #[error("{text:?} has more than {scale} decimals")]
    TooPrecise {
        /// The text as received.
        text: String,
        /// The scale it was parsed at.
        scale: u8,
    },
    /// The value does not fit in 64 bits at this scale.
    #[error("{0:?} is out of range")]
    Overflow(String),
    /// A negative value where only non-negative ones are valid.
    #[error("{0:?} is negative")]
    Negative(String),
}

/// Parses decimal text (`"-12.3400"`) into an integer count of `10^-scale` units.
///
/// Trailing zero decimals beyond the scale are accepted (`"0.10000000"` at scale 2);
/// a non-zero digit beyond it is an error, never silently rounded.
pub fn parse_decimal(text: &str, scale: u8) -> Result<i64, DecimalError> {
    assert!(scale <= SCALE_MAX, "scale {scale} above SCALE_MAX");
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (negative, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return Err(DecimalError::Malformed(text.to_owned()));
    }
    let mut value: i64 = 0;
    let mut seen_dot = false;
    let mut seen_digit = false;
    let mut decimals: u8 = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                let d = i64::from(c - b'0');
                if seen_dot {
                    if decimals == scale {
                        if d != 0 {
                            return Err(DecimalError::TooPrecise {
                                text: text.to_owned(),
                                scale,
                            });
                        }
                        continue;
                    }
                    decimals += 1;
                }
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(d))
                    .ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(DecimalError::Malformed(text.to_owned())),
        }
    }
    if !seen_digit {
        return Err(DecimalError::Malformed(text.to_owned()));
    }
    value = value
        .checked_mul(pow10(scale - decimals))
        .ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
    Ok(if negative { -value } else { value })
}

/// Parses a non-negative decimal, e.g. a price or a level size.
pub fn parse_unsigned_decimal(text: &str, scale: u8) -> Result<i64, DecimalError> {
    let v = parse_decimal(text, scale)?;
    if v < 0 {
        return Err(DecimalError::Negative(text.to_owned()));
    }
    Ok(v)
}

/// A raw fixed-point integer with its scale, displayed as decimal text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// Integer count of `10^-scale` units.
    pub raw: i64,
    /// Number of implied decimals.
    pub scale: u8,
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = i128::from(pow10(self.scale));
        let raw = i128::from(self.raw);
        let sign = if raw < 0 { "-" } else { "" };
        let abs = raw.abs();
        let int = abs / unit;
        let frac = abs % unit;
        if self.scale == 0 || frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let mut frac_text = format!("{frac:0width$}", width = usize::from(self.scale));
        while frac_text.ends_with('0') {
            frac_text.pop();
        }
        write!(f, "{sign}{int}.{frac_text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_venue_decimals_exactly() {
        assert_eq!(parse_decimal("60000.10", 2), Ok(6_000_010));
        assert_eq!(parse_decimal("0.002", 6), Ok(2_000));
        assert_eq!(parse_decimal("0.10000000", 2), Ok(10));
        assert_eq!(parse_decimal("-1.5", 1), Ok(-15));
        assert_eq!(parse_decimal("7", 3), Ok(7_000));
        assert_eq!(parse_decimal(".5", 1), Ok(5));
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for bad in [
            "", "-", ".", "NaN", "inf", "1e5", "1.2.3", "1,000", " 1", "0x10",
        ] {
            assert!(parse_decimal(bad, 4).is_err(), "{bad:?} must be rejected");
        }
        assert!(matches!(
            parse_decimal("0.123", 2),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_decimal("99999999999999999999", 2),
            Err(DecimalError::Overflow(_))
        ));
        assert!(matches!(
            parse_unsigned_decimal("-1", 2),
            Err(DecimalError::Negative(_))
        ));
    }

    #[test]
    fn notional_of_price_times_qty() {
        // 60000.1 (scale 1) × 0.002 (scale 3) = 120.0002 USDT
        let n = notional_of(Price(600_001), Qty(2), 1, 3).unwrap();
        assert_eq!(n, Notional(12_000_020_000));
        assert_eq!(n.display().to_string(), "120.0002");
    }

    #[test]
    fn fees_round_against_us() {
        // 100 USDT at 5 bps = 0.05 USDT exactly.
        let fee = Notional::from_usd(100)
            .times_rate_ceil(CentiBps::from_bps(5))
            .unwrap();
        assert_eq!(fee, Notional(5_000_000));
        // 1e-8 USDT at 5 bps rounds up to one unit.
        assert_eq!(
            Notional(1).times_rate_ceil(CentiBps::from_bps(5)),
            Some(Notional(1))
        );
        // A rebate of -1 bps on 1e-8 rounds towards zero (against us).
        assert_eq!(
            Notional(1).times_rate_ceil(CentiBps::from_bps(-1)),
            Some(Notional(0))
        );
    }

    #[test]
    fn qty_for_notional_rounds_down_to_lot() {
        // 100 USDT at 60000.0 with lot 0.001 → 0.001 BTC (0.00166 rounds down).
        let q = qty_for_notional(Notional::from_usd(100), Price(600_000), 1, 3, Qty(1));
        assert_eq!(q, Qty(1));
        let q = qty_for_notional(Notional::from_usd(1000), Price(600_000), 1, 4, Qty(10));
        assert_eq!(q, Qty(160));
    }

    #[test]
    fn sums_are_checked_or_saturate_by_name() {
        let max = Qty(i64::MAX);
        assert_eq!(Qty::checked_sum([Qty(1), Qty(2)]), Some(Qty(3)));
        assert_eq!(
            Qty::checked_sum([max, Qty(1), Qty(-5)]),
            None,
            "a partial sum overflows"
        );
        assert_eq!(Qty::checked_sum([]), Some(Qty::ZERO));
        assert_eq!(max.saturating_add(Qty(1)), max);
        assert_eq!(
            Notional(i64::MIN).saturating_sub(Notional(1)),
            Notional(i64::MIN)
        );
        let top = Price(i64::MAX);
        assert_eq!(top.midpoint(Price(i64::MAX - 2)), Price(i64::MAX - 1));
        assert_eq!(Price(600_000).midpoint(Price(600_011)), Price(600_005));
        assert_eq!(Price::from_raw(42).raw(), 42);
    }

    proptest! {
        #[test]
        fn display_round_trips(raw in -1_000_000_000_000i64..1_000_000_000_000, scale in 0u8..10) {
            let text = Decimal { raw, scale }.to_string();
            prop_assert_eq!(parse_decimal(&text, scale), Ok(raw));
        }

        #[test]
        fn parse_never_panics(text in ".{0,40}", scale in 0u8..=SCALE_MAX) {
            let _ = parse_decimal(&text, scale);
        }
    }
}
