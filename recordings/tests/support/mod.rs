//! Shared by the recordings tests: where the real captures are, and small builders.
#![allow(dead_code)]

use propbot_engine::model::Venue;
use propbot_recordings::meta::{InstrumentMeta, ListingMeta, Origin, RecordingMeta};
use std::path::PathBuf;

/// `../shared/data` beside the workspace. Panics with a clear message when missing:
/// the capture tests must fail, never skip, without their data.
pub fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.join("INDEX.md").is_file(),
        "the real captures are missing: expected {} (the `shared/` directory beside the \
         workspace, see its data/INDEX.md). These tests import third-party captures and \
         cannot run without them.",
        dir.display()
    );
    dir
}

/// A capture under `data_dir()`, checked to exist.
pub fn capture(relative: &str) -> PathBuf {
    let path = data_dir().join(relative);
    assert!(
        path.is_file(),
        "capture {} is missing (see shared/data/INDEX.md)",
        path.display()
    );
    path
}

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
