//! Decimal text from fixed-point integers, as venues print it: a fixed number of
//! decimals (`"60000.10"`, `"0.020"`), never through `f64`.

use propbot_engine::model::pow10;
use std::fmt::Write;

/// Decimals needed to print `raw` units of `10^-scale` without loss (`10` at scale 4 is
/// `0.001`: three).
pub fn decimals_of(raw: i64, scale: u8) -> u8 {
    let mut decimals = scale;
    let mut rest = raw;
    while decimals > 0 && rest % 10 == 0 {
        rest /= 10;
        decimals -= 1;
    }
    decimals
}

/// `raw` units of `10^-scale` as text with `decimals` decimals. Padded with zeros when
/// `decimals > scale`; never rounded: digits that are not zero are always kept, so the
/// text may carry more decimals than asked when `raw` needs them.
pub fn fixed(raw: i64, scale: u8, decimals: u8) -> String {
    let mut out = String::with_capacity(24);
    write_fixed(&mut out, raw, scale, decimals);
    out
}

/// [`fixed`], appended to `out`.
pub fn write_fixed(out: &mut String, raw: i64, scale: u8, decimals: u8) {
    let unit = i128::from(pow10(scale));
    let value = i128::from(raw);
    if value < 0 {
        out.push('-');
    }
    let abs = value.abs();
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", abs / unit);
    let keep = usize::from(decimals.max(decimals_of(raw, scale)));
    if keep == 0 {
        return;
    }
    out.push('.');
    let mut fraction = format!("{:0width$}", abs % unit, width = usize::from(scale));
    fraction.truncate(keep.min(fraction.len()));
    out.push_str(&fraction);
    for _ in fraction.len()..keep {
        out.push('0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_fixed_decimals_without_losing_digits() {
        assert_eq!(fixed(600_001, 1, 2), "60000.10");
        assert_eq!(fixed(600_000, 1, 1), "60000.0");
        assert_eq!(fixed(230, 4, 3), "0.023");
        assert_eq!(
            fixed(235, 4, 3),
            "0.0235",
            "a digit that is not zero is kept"
        );
        assert_eq!(fixed(0, 4, 3), "0.000");
        assert_eq!(fixed(7, 0, 0), "7");
        assert_eq!(fixed(7, 0, 2), "7.00");
        assert_eq!(fixed(-15, 1, 1), "-1.5");
        assert_eq!(fixed(i64::MAX, 0, 0), i64::MAX.to_string());
    }

    #[test]
    fn decimals_needed() {
        assert_eq!(decimals_of(10, 4), 3);
        assert_eq!(decimals_of(1, 1), 1);
        assert_eq!(decimals_of(100, 2), 0);
        assert_eq!(decimals_of(0, 3), 0);
    }
}
