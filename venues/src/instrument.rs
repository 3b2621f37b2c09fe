//! What a parser needs to know about one instrument on one venue: its symbol, the
//! fixed-point scales, the tick and, for OKX derivatives, the contract value.

use crate::error::{Error, clip};
use propbot_engine::Config;
use propbot_engine::model::{
    DecimalError, InstrumentId, Price, Qty, SCALE_MAX, Scales, Venue, parse_unsigned_decimal, pow10,
};

/// An instrument as the wire parsers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Venue of the listing.
    pub venue: Venue,
    /// Instrument id stamped on every engine input.
    pub instrument: InstrumentId,
    /// Venue symbol exactly as the venue spells it in payloads (`BTCUSDT`,
    /// `BTC-USDT-SWAP`).
    pub symbol: String,
    /// Decimals of prices and base quantities.
    pub scales: Scales,
    /// Price increment (raw units at `scales.price`).
    pub tick: Price,
    /// Base units per contract (OKX `ctVal × ctMult`) at `scales.qty`; `None` where
    /// sizes are already base units (Binance, OKX spot). For inverse contracts the
    /// "base" is the contract value currency (USD).
    pub contract_value: Option<Qty>,
}

impl InstrumentSpec {
    /// A spec from the engine configuration's listing of `instrument` on `venue`.
    pub fn from_config(
        config: &Config,
        venue: Venue,
        instrument: InstrumentId,
    ) -> Result<InstrumentSpec, Error> {
        let listing = config
            .listing(venue, instrument)
            .ok_or(Error::NoListing { venue, instrument })?;
        Ok(InstrumentSpec {
            venue,
            instrument,
            symbol: listing.symbol.clone(),
            scales: config.instruments[instrument.index()].scales,
            tick: listing.tick,
            contract_value: listing.contract_value,
        })
    }

    /// A spec from plain values, for instruments outside the configuration (the
    /// third-party captures hold spot and inverse symbols). `tick` and
    /// `contract_value` are decimal text.
    pub fn new(
        venue: Venue,
        instrument: InstrumentId,
        symbol: &str,
        scales: Scales,
        tick: &str,
        contract_value: Option<&str>,
    ) -> Result<InstrumentSpec, Error> {
        let spec_error = |what: String| Error::InstrumentSpec {
            symbol: symbol.to_owned(),
            what,
        };
        if scales.price > SCALE_MAX || scales.qty > SCALE_MAX {
            return Err(spec_error(format!("scales above {SCALE_MAX}")));
        }
        let tick = parse_unsigned_decimal(tick, scales.price)
            .map_err(|e| spec_error(format!("tick: {e}")))?;
        if tick == 0 {
            return Err(spec_error("tick must be positive".into()));
        }
        let contract_value = match contract_value {
            None => None,
            Some(text) => {
                let v = parse_unsigned_decimal(text, scales.qty)
                    .map_err(|e| spec_error(format!("contract value: {e}")))?;
                if v == 0 {
                    return Err(spec_error("contract value must be positive".into()));
                }
                Some(Qty::from_raw(v))
            }
        };
        Ok(InstrumentSpec {
            venue,
            instrument,
            symbol: symbol.to_owned(),
            scales,
            tick: Price::from_raw(tick),
            contract_value,
        })
    }

    /// Parses a price string straight into fixed point.
    #[inline]
    pub fn price(&self, text: &str) -> Result<Price, Error> {
        parse_unsigned_decimal(text, self.scales.price)
            .map(Price::from_raw)
            .map_err(|source| self.decimal_error("price", source))
    }

    /// Parses a base-quantity string (Binance sizes, OKX spot sizes).
    #[inline]
    pub fn base_qty(&self, text: &str) -> Result<Qty, Error> {
        parse_unsigned_decimal(text, self.scales.qty)
            .map(Qty::from_raw)
            .map_err(|source| self.decimal_error("size", source))
    }

    /// Parses a venue size: contracts converted with the contract value where the
    /// instrument has one, base units otherwise.
    #[inline]
    pub fn size(&self, text: &str) -> Result<Qty, Error> {
        match self.contract_value {
            None => self.base_qty(text),
            Some(value) => self.contracts_to_base(text, value),
        }
    }

    /// `contracts × contract_value`, exactly: the contract count is parsed at its own
    /// number of decimals, multiplied in 128 bits and must divide back to whole
    /// quantity units.
    fn contracts_to_base(&self, text: &str, value: Qty) -> Result<Qty, Error> {
        let decimals = significant_decimals(text);
        if decimals > SCALE_MAX {
            return Err(self.not_representable(text));
        }
        let contracts = parse_unsigned_decimal(text, decimals)
            .map_err(|source| self.decimal_error("size", source))?;
        let product = i128::from(contracts) * i128::from(value.raw());
        let unit = i128::from(pow10(decimals));
        if product % unit != 0 {
            return Err(self.not_representable(text));
        }
        i64::try_from(product / unit)
            .map(Qty::from_raw)
            .map_err(|_| self.not_representable(text))
    }

    fn decimal_error(&self, field: &'static str, source: DecimalError) -> Error {
        Error::Decimal {
            field,
            symbol: self.symbol.clone(),
            source,
        }
    }

    fn not_representable(&self, text: &str) -> Error {
        Error::ContractsNotRepresentable {
            symbol: self.symbol.clone(),
            contracts: clip(text),
        }
    }
}

/// Digits after the decimal point, not counting trailing zeros (`"1.2500"` → 2).
/// Malformed text is left for the decimal parser to reject.
fn significant_decimals(text: &str) -> u8 {
    match text.split_once('.') {
        None => 0,
        Some((_, fraction)) => {
            let trimmed = fraction.trim_end_matches('0');
            u8::try_from(trimmed.len()).unwrap_or(u8::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::Profile;

    fn okx_swap() -> InstrumentSpec {
        InstrumentSpec::new(
            Venue::Okx,
            InstrumentId(0),
            "BTC-USDT-SWAP",
            Scales { price: 1, qty: 4 },
            "0.1",
            Some("0.01"),
        )
        .unwrap()
    }

    #[test]
    fn specs_come_from_the_shipped_config() {
        let config = Config::embedded(Profile::Paper);
        let id = config.instrument_by_name("BTC-USDT-PERP").unwrap();
        let binance = InstrumentSpec::from_config(&config, Venue::Binance, id).unwrap();
        assert_eq!(binance.symbol, "BTCUSDT");
        assert_eq!(binance.tick, Price::from_raw(1));
        assert_eq!(binance.contract_value, None);
        let okx = InstrumentSpec::from_config(&config, Venue::Okx, id).unwrap();
        assert_eq!(okx.symbol, "BTC-USDT-SWAP");
        assert_eq!(okx.contract_value, Some(Qty::from_raw(100)));
        assert!(matches!(
            InstrumentSpec::from_config(&config, Venue::Okx, InstrumentId(99)),
            Err(Error::NoListing { .. })
        ));
    }

    #[test]
    fn contracts_convert_to_base_units_exactly() {
        let spec = okx_swap();
        assert_eq!(spec.size("7").unwrap(), Qty::from_raw(700)); // 0.07 BTC
        assert_eq!(spec.size("1.5").unwrap(), Qty::from_raw(150));
        assert_eq!(spec.size("0.01").unwrap(), Qty::from_raw(1));
        assert_eq!(spec.size("2.500").unwrap(), Qty::from_raw(250));
        assert_eq!(spec.size("0").unwrap(), Qty::from_raw(0));
        // 0.001 contracts = 0.00001 BTC: finer than the quantity scale.
        assert!(matches!(
            spec.size("0.001"),
            Err(Error::ContractsNotRepresentable { .. })
        ));
        assert!(matches!(
            spec.size("99999999999999999"),
            Err(Error::ContractsNotRepresentable { .. }) | Err(Error::Decimal { .. })
        ));
        for bad in ["NaN", "-1", "1e3", "", "inf", "0x1", "1.2.3"] {
            assert!(spec.size(bad).is_err(), "{bad:?}");
            assert!(spec.price(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prices_and_base_sizes_parse_without_floats() {
        let spec = okx_swap();
        assert_eq!(spec.price("61496.50").unwrap(), Price::from_raw(614_965));
        assert!(matches!(
            spec.price("61496.55"),
            Err(Error::Decimal {
                source: DecimalError::TooPrecise { .. },
                ..
            })
        ));
        assert!(matches!(
            spec.price("-1"),
            Err(Error::Decimal {
                source: DecimalError::Negative(_),
                ..
            })
        ));
        assert_eq!(spec.base_qty("0.0001").unwrap(), Qty::from_raw(1));
    }

    #[test]
    fn plain_specs_are_validated() {
        let bad = |tick: &str, cv: Option<&str>| {
            InstrumentSpec::new(
                Venue::Okx,
                InstrumentId(0),
                "X",
                Scales { price: 2, qty: 2 },
                tick,
                cv,
            )
            .is_err()
        };
        assert!(bad("0", None));
        assert!(bad("0.001", None));
        assert!(bad("0.01", Some("0")));
        assert!(bad("0.01", Some("0.001")));
        assert!(!bad("0.01", Some("100")));
    }
}
