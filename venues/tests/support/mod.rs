//! Shared by the capture tests and the bench: where the captures are, how to read
//! them, and the instruments they hold.
#![allow(dead_code)]

use propbot_engine::model::{InstrumentId, Scales, Venue};
use propbot_engine::{Config, Profile};
use propbot_venues::InstrumentSpec;
use std::io::Read;

/// A capture file under `../shared/data`, checked to exist (the one place that finds
/// them is `propbot-testsupport`).
pub use propbot_testsupport::capture;

/// A whole capture as text; `.gz` files are decompressed in memory.
pub fn read_capture(relative: &str) -> String {
    let path = capture(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if relative.ends_with(".gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text
    } else {
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// The shipped paper config's Binance listing of `name` (`BTC-USDT-PERP`).
pub fn binance_spec(name: &str) -> InstrumentSpec {
    let config = Config::embedded(Profile::Paper);
    let id = config
        .instrument_by_name(name)
        .expect("instrument in config");
    InstrumentSpec::from_config(&config, Venue::Binance, id).expect("Binance listing")
}

/// The hftbacktest capture for a config instrument.
pub struct Hftbacktest {
    pub file: &'static str,
    pub instrument: &'static str,
}

pub const HFTBACKTEST: [Hftbacktest; 2] = [
    Hftbacktest {
        file: "binance-usdm/hftbacktest/btcusdt_20240808.gz",
        instrument: "BTC-USDT-PERP",
    },
    Hftbacktest {
        file: "binance-usdm/hftbacktest/ethusdt_20240808.gz",
        instrument: "ETH-USDT-PERP",
    },
];

/// Whether an hftbacktest frame is the raw REST depth snapshot (the one line that is
/// not a combined-stream envelope).
pub fn is_rest_snapshot(json: &str) -> bool {
    json.starts_with("{\"lastUpdateId\"")
}

/// Test instruments for the 2021 cryptofeed Binance capture (not in the configs). The
/// tick is `10^-pricePrecision` from the capture's `exchangeInfo`: CTKUSDT's
/// `PRICE_FILTER.tickSize` there is 0.001, but its REST book still holds deep levels
/// such as `0.50579`, so its book needs the finer 0.00001 grid.
pub fn cryptofeed_binance_specs() -> Vec<InstrumentSpec> {
    [
        ("SUSHIUSDT", 4, 0, "0.001"),
        ("AKROUSDT", 5, 0, "0.00001"),
        ("KEEPUSDT", 4, 0, "0.0001"),
        ("CTKUSDT", 5, 0, "0.00001"),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(symbol, price, qty, tick))| {
        InstrumentSpec::new(
            Venue::Binance,
            InstrumentId(i as u16),
            symbol,
            Scales { price, qty },
            tick,
            None,
        )
        .expect("valid spec")
    })
    .collect()
}
