//! Wire pieces both venues share: a price level as a borrowed pair of strings.

use crate::error::Error;
use crate::instrument::InstrumentSpec;
use propbot_engine::model::Level;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::fmt;

/// One price level exactly as received: `[price, size, ...]` with both as strings.
/// Binance sends two elements, OKX four (price, size, a deprecated `"0"`, order count);
/// elements after the second are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLevel<'a> {
    /// Price text.
    pub price: &'a str,
    /// Size text (base units on Binance, contracts on OKX derivatives).
    pub size: &'a str,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawLevel<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;

        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = RawLevel<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a level [price, size, ...] of strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let price: &'de str = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let size: &'de str = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawLevel { price, size })
            }
        }

        deserializer.deserialize_seq(LevelVisitor)
    }
}

/// Converts raw levels to fixed point, appending to `out` (sizes through
/// [`InstrumentSpec::size`], so OKX contracts become base units).
pub(crate) fn convert_levels(
    spec: &InstrumentSpec,
    raw: &[RawLevel<'_>],
    out: &mut Vec<Level>,
) -> Result<(), Error> {
    out.reserve(raw.len());
    for level in raw {
        out.push(Level {
            price: spec.price(level.price)?,
            qty: spec.size(level.size)?,
        });
    }
    Ok(())
}

/// Parses a decimal integer carried as a JSON string (OKX `ts`, `tradeId`).
pub(crate) fn parse_u64_text(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
