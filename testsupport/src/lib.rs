//! What every crate's tests share: where the real third-party captures are.
//!
//! The captures live in `shared/data` beside the workspace (`../shared/data` from its
//! root; `INDEX.md` there lists them). Tests that read them fail, naming the path they
//! looked in, when they are missing: they never skip. Only tests, benches and the
//! `propbot-tests` crate depend on this one (`tests/tidy.rs` checks).

use std::path::PathBuf;

/// The directory of the real captures, `../shared/data` beside the workspace.
///
/// # Panics
/// When the directory (its `INDEX.md`) is missing: a test that needs the captures
/// cannot run without them and must say so, not pass.
pub fn shared_data() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.join("INDEX.md").is_file(),
        "the real captures are missing: expected {} (the `shared/` directory beside the \
         workspace, see its data/INDEX.md). These tests read third-party captures and \
         cannot run without them.",
        dir.display()
    );
    dir
}

/// A capture file under [`shared_data`], e.g.
/// `binance-usdm/hftbacktest/btcusdt_20240808.gz`.
///
/// # Panics
/// When the directory or the file is missing.
pub fn capture(relative: &str) -> PathBuf {
    let path = shared_data().join(relative);
    assert!(
        path.is_file(),
        "capture {} is missing (see shared/data/INDEX.md)",
        path.display()
    );
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_captures_are_found_where_every_test_looks() {
        assert!(shared_data().join("binance-usdm").is_dir());
        assert!(capture("binance-usdm/hftbacktest/btcusdt_20240808.gz").is_file());
    }

    #[test]
    #[should_panic(expected = "capture")]
    fn a_missing_capture_fails_loudly_with_its_path() {
        capture("no/such/capture.gz");
    }
}
