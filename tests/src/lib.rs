//! Cross-crate acceptance and contract tests live in `tests/tests/`; this library holds
//! what they share.

use propbot_engine::model::Venue;
use propbot_engine::{Config, Profile};
use propbot_market::generate::{self, DeriveOptions, DeriveParams};
use propbot_recordings::import::{self, ImportOptions};
use propbot_recordings::progress::Progress;
use propbot_recordings::{Recording, WriterOptions};
use std::path::{Path, PathBuf};

/// Imports the real BTCUSDT capture (hftbacktest) into `dir/real` and derives OKX from
/// it with seed 7 and `params` into `dir/derived`; returns both directories.
pub fn btcusdt_with_derived_okx(dir: &Path, params: DeriveParams) -> (PathBuf, PathBuf) {
    let real = dir.join("real");
    let derived = dir.join("derived");
    let config = Config::embedded(Profile::Paper);
    let options = ImportOptions {
        format: None,
        instruments: None,
        snapshots: None,
        stream: None,
        writer: WriterOptions::default(),
        config: config.clone(),
    };
    let capture = propbot_testsupport::capture("binance-usdm/hftbacktest/btcusdt_20240808.gz");
    import::import(&capture, &real, &options, &Progress::hidden()).unwrap();
    let source = Recording::open(std::slice::from_ref(&real)).unwrap();
    let derive = DeriveOptions {
        seed: 7,
        venue: Venue::Okx,
        params,
        duration_ns: 0,
    };
    generate::derive(
        &config,
        &source,
        &derive,
        &derived,
        &WriterOptions::default(),
        &Progress::hidden(),
    )
    .unwrap();
    (real, derived)
}
