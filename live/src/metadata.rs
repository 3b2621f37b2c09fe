//! The start-up check that the configuration's listings are what the venue lists: tick,
//! lot, minimum quantity, minimum notional (Binance), contract value `ctVal × ctMult`
//! (OKX) and trading status. Every disagreement is reported, not only the first.
//!
//! Quantities compare in the configuration's base units: OKX `lotSz` and `minSz` are
//! contracts, converted with the venue's `ctVal × ctMult`. Binance's `MIN_NOTIONAL` is
//! a floor, not a value to copy: the strategy's order notional must reach it.

use crate::Endpoints;
use crate::options::FeedOptions;
use crate::transport::{self, HttpError};
use propbot_engine::config::{Config, Listing};
use propbot_engine::model::{
    InstrumentId, NOTIONAL_SCALE, Notional, Qty, Scales, Venue, parse_unsigned_decimal,
};
use propbot_venues::binance::wire::{ExchangeInfo, SymbolInfo, parse_exchange_info};
use propbot_venues::okx::wire::{InstrumentInfo, Instruments, parse_instruments};
use std::fmt;

/// How the configuration's value must relate to the venue's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The same value.
    Equal,
    /// The configuration's value at least the venue's (a venue minimum).
    AtLeast,
}

/// One disagreement between the configuration and the venue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Venue.
    pub venue: Venue,
    /// Venue symbol.
    pub symbol: String,
    /// What disagrees: `listing`, `status`, `tick`, `lot`, `min quantity`,
    /// `min notional`, `contract value`.
    pub field: &'static str,
    /// The configuration's value, as decimal text.
    pub config: String,
    /// The venue's value, as decimal text (with the venue's own fields where it was
    /// converted).
    pub venue_value: String,
    /// The rule broken.
    pub relation: Relation,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (venue, symbol, field) = (self.venue, &self.symbol, self.field);
        match self.relation {
            Relation::Equal => write!(
                f,
                "{venue} {symbol} {field}: config {}, venue {}",
                self.config, self.venue_value
            ),
            Relation::AtLeast => write!(
                f,
                "{venue} {symbol} {field}: config {} is below the venue's {}",
                self.config, self.venue_value
            ),
        }
    }
}

/// Why the instrument check failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The venue's instrument list could not be fetched.
    #[error("cannot read the {venue} instrument list from {url}: {source}")]
    Fetch {
        /// Venue.
        venue: Venue,
        /// The URL asked.
        url: String,
        /// What went wrong.
        #[source]
        source: HttpError,
    },
    /// The instrument list is not in the venue's format.
    #[error("the {venue} instrument list from {url} does not parse: {source}")]
    Parse {
        /// Venue.
        venue: Venue,
        /// The URL asked.
        url: String,
        /// The parser's error.
        #[source]
        source: propbot_venues::Error,
    },
    /// The venue answered with an error code (OKX `code` other than `"0"`).
    #[error("{venue} answered {url} with error code {code}")]
    Venue {
        /// Venue.
        venue: Venue,
        /// The URL asked.
        url: String,
        /// The venue's code.
        code: String,
    },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The configuration disagrees with the venue (every disagreement is listed).
    #[error("{}", mismatch_text(*venue, mismatches))]
    Mismatches {
        /// Venue.
        venue: Venue,
        /// Every disagreement found.
        mismatches: Vec<Mismatch>,
    },
}

fn mismatch_text(venue: Venue, mismatches: &[Mismatch]) -> String {
    let mut text = format!(
        "{} listing value(s) in the configuration disagree with {venue}; correct the configuration's listings:",
        mismatches.len()
    );
    for m in mismatches {
        text.push_str("\n  - ");
        text.push_str(&m.to_string());
    }
    text
}

/// Fetches `venue`'s instrument list from `rest` (Binance `GET /fapi/v1/exchangeInfo`,
/// OKX `GET /api/v5/public/instruments?instType=SWAP`) and checks every listing of
/// `config` on that venue against it.
pub async fn fetch_and_check_instruments(
    venue: Venue,
    rest: &str,
    config: &Config,
) -> Result<(), MetadataError> {
    let rest = rest.trim_end_matches('/');
    let url = match venue {
        Venue::Binance => format!("{rest}/fapi/v1/exchangeInfo"),
        Venue::Okx => format!("{rest}/api/v5/public/instruments?instType=SWAP"),
    };
    let endpoints = Endpoints {
        rest: rest.to_owned(),
        ws_public: String::new(),
        ws_market: None,
        ws_private: String::new(),
    };
    let options = FeedOptions::new(venue, endpoints, Vec::new());
    let tls = transport::tls_config().map_err(|e| MetadataError::Tls(e.to_string()))?;
    let fetch = |source| MetadataError::Fetch {
        venue,
        url: url.clone(),
        source,
    };
    let http = transport::http_client(&options, &tls).map_err(fetch)?;
    let body = transport::get(&http, &url, options.rest_body_bytes_max)
        .await
        .map_err(fetch)?
        .body;
    let parse = |source| MetadataError::Parse {
        venue,
        url: url.clone(),
        source,
    };
    let mismatches = match venue {
        Venue::Binance => check_binance(&parse_exchange_info(&body).map_err(parse)?, config),
        Venue::Okx => {
            let instruments = parse_instruments(&body).map_err(parse)?;
            if instruments.code != "0" {
                return Err(MetadataError::Venue {
                    venue,
                    url,
                    code: instruments.code,
                });
            }
            check_okx(&instruments, config)
        }
    };
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(MetadataError::Mismatches { venue, mismatches })
    }
}

/// One listing of the configuration on `venue`.
struct Listed<'a> {
    instrument: InstrumentId,
    scales: Scales,
    listing: &'a Listing,
}

fn listed(config: &Config, venue: Venue) -> impl Iterator<Item = Listed<'_>> {
    config
        .instruments
        .iter()
        .enumerate()
        .filter_map(move |(i, inst)| {
            Some(Listed {
                instrument: InstrumentId(u16::try_from(i).ok()?),
                scales: inst.scales,
                listing: inst.listings[venue.index()].as_ref()?,
            })
        })
}

/// Collects the mismatches of one symbol.
struct Checker<'a> {
    venue: Venue,
    symbol: &'a str,
    found: Vec<Mismatch>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        field: &'static str,
        config: String,
        venue_value: String,
        relation: Relation,
    ) {
        self.found.push(Mismatch {
            venue: self.venue,
            symbol: self.symbol.to_owned(),
            field,
            config,
            venue_value,
            relation,
        });
    }

    /// `config` (raw at `scale`) must equal the venue's decimal `text`.
    fn equal(
        &mut self,
        field: &'static str,
        config: i64,
        scale: u8,
        text: Option<&str>,
        shown: String,
    ) {
        let venue = text.map(|t| parse_unsigned_decimal(t, scale));
        if venue != Some(Ok(config)) {
            let config = Qty::from_raw(config).display(scale).to_string();
            self.push(field, config, shown, Relation::Equal);
        }
    }
}

fn or_absent(text: Option<&str>) -> String {
    text.map_or_else(|| "absent".to_owned(), str::to_owned)
}

/// The mismatches between `config`'s Binance listings and `exchangeInfo`.
pub fn check_binance(info: &ExchangeInfo, config: &Config) -> Vec<Mismatch> {
    let mut found = Vec::new();
    for Listed {
        scales, listing, ..
    } in listed(config, Venue::Binance)
    {
        let mut check = Checker {
            venue: Venue::Binance,
            symbol: &listing.symbol,
            found: Vec::new(),
        };
        match info.symbols.iter().find(|s| s.symbol == listing.symbol) {
            None => check.push("listing", "listed".into(), "absent".into(), Relation::Equal),
            Some(symbol) => check_binance_symbol(&mut check, symbol, scales, listing, config),
        }
        found.append(&mut check.found);
    }
    found
}

fn check_binance_symbol(
    check: &mut Checker<'_>,
    symbol: &SymbolInfo,
    scales: Scales,
    listing: &Listing,
    config: &Config,
) {
    if symbol.status != "TRADING" {
        check.push(
            "status",
            "TRADING".into(),
            symbol.status.clone(),
            Relation::Equal,
        );
    }
    let tick = symbol.tick_size();
    check.equal(
        "tick",
        listing.tick.raw(),
        scales.price,
        tick,
        or_absent(tick),
    );
    let step = symbol.step_size();
    check.equal("lot", listing.lot.raw(), scales.qty, step, or_absent(step));
    let min = symbol.min_qty();
    check.equal(
        "min quantity",
        listing.min_qty.raw(),
        scales.qty,
        min,
        or_absent(min),
    );
    if let Some(value) = listing.contract_value {
        let config = value.display(scales.qty).to_string();
        check.push(
            "contract value",
            config,
            "none (sizes are base units)".into(),
            Relation::Equal,
        );
    }
    let order = config.strategy.order_notional;
    if let Some(text) = symbol.min_notional() {
        let venue_min = parse_unsigned_decimal(text, NOTIONAL_SCALE).map(Notional::from_raw);
        if venue_min.is_err() || venue_min.is_ok_and(|min| order < min) {
            let config = format!("order notional {}", order.display());
            check.push("min notional", config, text.to_owned(), Relation::AtLeast);
        }
    }
}

/// The mismatches between `config`'s OKX listings and the instruments list.
pub fn check_okx(instruments: &Instruments, config: &Config) -> Vec<Mismatch> {
    let mut found = Vec::new();
    for entry in listed(config, Venue::Okx) {
        let listing = entry.listing;
        let mut check = Checker {
            venue: Venue::Okx,
            symbol: &listing.symbol,
            found: Vec::new(),
        };
        match instruments
            .data
            .iter()
            .find(|i| i.inst_id == listing.symbol)
        {
            None => check.push("listing", "listed".into(), "absent".into(), Relation::Equal),
            Some(info) => check_okx_instrument(&mut check, info, &entry),
        }
        found.append(&mut check.found);
    }
    found
}

fn check_okx_instrument(check: &mut Checker<'_>, info: &InstrumentInfo, entry: &Listed<'_>) {
    let (scales, listing) = (entry.scales, entry.listing);
    if info.state != "live" {
        check.push("status", "live".into(), info.state.clone(), Relation::Equal);
    }
    let tick = Some(info.tick_sz.as_str());
    check.equal(
        "tick",
        listing.tick.raw(),
        scales.price,
        tick,
        info.tick_sz.clone(),
    );
    let contract = format!("ctVal {} × ctMult {}", info.ct_val, info.ct_mult);
    let spec = info.spec(entry.instrument, scales);
    let venue_value = spec.as_ref().ok().and_then(|s| s.contract_value);
    if venue_value != listing.contract_value {
        let shown =
            |v: Option<Qty>| v.map_or("none".to_owned(), |v| v.display(scales.qty).to_string());
        let venue = format!("{} ({contract})", shown(venue_value));
        check.push(
            "contract value",
            shown(listing.contract_value),
            venue,
            Relation::Equal,
        );
    }
    // Lot and minimum are contracts on the venue: compare them in base units.
    let base = |text: &str| match &spec {
        Ok(spec) => spec.size(text).ok(),
        Err(_) => None,
    };
    for (field, config, contracts) in [
        ("lot", listing.lot, &info.lot_sz),
        ("min quantity", listing.min_qty, &info.min_sz),
    ] {
        let venue = base(contracts);
        if venue != Some(config) {
            let venue = match venue {
                Some(v) => format!(
                    "{} ({contracts} contracts × {contract})",
                    v.display(scales.qty)
                ),
                None => format!("{contracts} contracts × {contract}, not a base quantity"),
            };
            check.push(
                field,
                config.display(scales.qty).to_string(),
                venue,
                Relation::Equal,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::Profile;

    fn binance_info(tick: &str, notional: &str) -> ExchangeInfo {
        let body = format!(
            r#"{{"symbols":[{{"symbol":"BTCUSDT","status":"TRADING","contractType":"PERPETUAL","filters":[
            {{"filterType":"PRICE_FILTER","tickSize":"{tick}"}},
            {{"filterType":"LOT_SIZE","stepSize":"0.001","minQty":"0.001"}},
            {{"filterType":"MIN_NOTIONAL","notional":"{notional}"}}]}},
            {{"symbol":"ETHUSDT","status":"SETTLING","filters":[
            {{"filterType":"PRICE_FILTER","tickSize":"0.01"}},
            {{"filterType":"LOT_SIZE","stepSize":"0.001","minQty":"0.001"}}]}}]}}"#
        );
        parse_exchange_info(&body).unwrap()
    }

    #[test]
    fn binance_listings_are_checked_field_by_field() {
        let config = Config::embedded(Profile::Paper);
        let found = check_binance(&binance_info("0.1", "5"), &config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "binance-um ETHUSDT status: config TRADING, venue SETTLING"
        );
        let found = check_binance(&binance_info("0.01", "500"), &config);
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "binance-um BTCUSDT tick: config 0.1, venue 0.01",
                "binance-um BTCUSDT min notional: config order notional 100 is below the venue's 500",
                "binance-um ETHUSDT status: config TRADING, venue SETTLING",
            ]
        );
        let gone = parse_exchange_info(r#"{"symbols":[]}"#).unwrap();
        assert_eq!(check_binance(&gone, &config).len(), 2);
    }

    #[test]
    fn okx_quantities_compare_in_base_units() {
        let config = Config::embedded(Profile::Paper);
        let body = |ct_val: &str, lot: &str| {
            format!(
                r#"{{"code":"0","data":[
                {{"instId":"BTC-USDT-SWAP","instType":"SWAP","ctVal":"{ct_val}","ctMult":"1","tickSz":"0.1","lotSz":"{lot}","minSz":"0.01","state":"live"}},
                {{"instId":"ETH-USDT-SWAP","instType":"SWAP","ctVal":"0.1","ctMult":"1","tickSz":"0.01","lotSz":"0.01","minSz":"0.01","state":"live"}}]}}"#
            )
        };
        let ok = parse_instruments(&body("0.01", "0.01")).unwrap();
        assert!(
            check_okx(&ok, &config).is_empty(),
            "{:?}",
            check_okx(&ok, &config)
        );
        let off = parse_instruments(&body("0.001", "0.1")).unwrap();
        let shown: Vec<String> = check_okx(&off, &config)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "okx-swap BTC-USDT-SWAP contract value: config 0.01, venue 0.001 (ctVal 0.001 × ctMult 1)",
                "okx-swap BTC-USDT-SWAP min quantity: config 0.0001, venue 0.01 contracts × ctVal 0.001 × ctMult 1, not a base quantity",
            ]
        );
    }
}
