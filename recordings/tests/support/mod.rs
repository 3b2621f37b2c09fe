//! Shared by the recordings tests: small builders. (The real captures are found by
//! `propbot-testsupport`.)

use propbot_engine::model::Venue;
use propbot_recordings::meta::{InstrumentMeta, ListingMeta, Origin, RecordingMeta};

/// A stream's metadata with BTC-USDT-PERP listed on both venues.
pub fn meta(stream: &str) -> RecordingMeta {
    RecordingMeta::new(
        "test:unit",
        stream,
        vec![InstrumentMeta {
            name: "BTC-USDT-PERP".into(),
            price_scale: 1,
            qty_scale: 4,
            listings: vec![
                ListingMeta {
                    venue: Venue::Binance,
                    symbol: "BTCUSDT".into(),
                    tick: "0.1".into(),
                    contract_value: None,
                    origin: Origin::Real,
                },
                ListingMeta {
                    venue: Venue::Okx,
                    symbol: "BTC-USDT-SWAP".into(),
                    tick: "0.1".into(),
                    contract_value: Some("0.01".into()),
                    origin: Origin::Derived,
                },
            ],
        }],
    )
}
