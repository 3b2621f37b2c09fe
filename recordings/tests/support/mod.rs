//! Shared by the recordings tests: small builders and the example binary. (The real
//! captures are found by `propbot-testsupport`.)
#![allow(dead_code)]

use propbot_engine::model::Venue;
use propbot_recordings::meta::{InstrumentMeta, ListingMeta, Origin, RecordingMeta};
use std::path::PathBuf;

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

/// The example binary `recordings` (built by `cargo test` with the other targets;
/// built here when a filtered run skipped it).
pub fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("examples").join("recordings");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "propbot-recordings",
                "--example",
                "recordings",
            ])
            .status()
            .expect("run cargo build --example recordings");
        assert!(status.success(), "building the recordings example failed");
    }
    assert!(bin.is_file(), "example binary {} not found", bin.display());
    bin
}
