//! Paper trading on recordings (issue 4, points 3, 6 and 8): the replay driver feeds
//! recorded markets to the production engine against simulated venues. The same
//! files give the same digest; a real capture plus a venue derived from it trades and
//! ends with a summary; bad files are clear errors.

use clap::Parser;
use propbot_engine::output::Mode;
use propbot_engine::time::NANOS_PER_SECOND;
use propbot_engine::{Config, Profile};
use propbot_market::generate::{self, DeriveParams, SynthOptions};
use propbot_market::tape::MapError;
use propbot_recordings::import::{self, ImportOptions};
use propbot_recordings::progress::Progress;
use propbot_recordings::{Recording, WriterOptions};
use propbot_sim::replay::{self, ReplayCli, ReplayError, ReplayOptions, Speed};
use std::path::{Path, PathBuf};

fn data(relative: &str) -> PathBuf {
    propbot_testsupport::capture(relative)
}

fn synth(out: &Path, seed: u64, seconds: u64) {
    let options = SynthOptions {
        seed,
        duration_ns: seconds * NANOS_PER_SECOND,
        ..SynthOptions::default()
    };
    generate::synthesize(
        &Config::embedded(Profile::Paper),
        &options,
        out,
        &WriterOptions::default(),
        &Progress::hidden(),
    )
    .unwrap();
}

#[test]
fn replaying_the_same_recording_twice_gives_the_same_engine_digest() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 11, 180);
    let options = ReplayOptions::paper();
    let a = replay::replay(&[dir.path().to_owned()], &options).unwrap();
    let b = replay::replay(&[dir.path().to_owned()], &options).unwrap();
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.digest.len(), 64);
    assert!(
        a.orders > 0,
        "the engine trades on the synthetic market: {a:?}"
    );
    assert_eq!((a.orders, a.fills, a.rows), (b.orders, b.fills, b.rows));

    // The files in the opposite order: the merge does not depend on it.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.reverse();
    let c = replay::replay(&files, &options).unwrap();
    assert_eq!(a.digest, c.digest);

    // Another venue seed or latency is another run.
    let other = ReplayOptions {
        latency_ns: 5_000_000,
        ..ReplayOptions::paper()
    };
    assert_ne!(replay::replay(&files, &other).unwrap().digest, a.digest);
}

#[test]
fn paper_trading_on_the_real_capture_and_a_derived_venue_trades_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (real, derived) =
        propbot_tests::btcusdt_with_derived_okx(dir.path(), DeriveParams::default());

    // One venue alone: the engine watches but cannot trade, and says why it holds.
    let alone = replay::replay(std::slice::from_ref(&real), &ReplayOptions::paper()).unwrap();
    assert_eq!((alone.orders, alone.fills), (0, 0));
    if alone.final_mode == Some(Mode::Hold) {
        assert!(alone.hold_reason.is_some(), "{alone:?}");
        assert!(alone.render().contains("mode at end HOLD (by "));
    }

    let s = replay::replay(&[real.clone(), derived.clone()], &ReplayOptions::paper()).unwrap();
    let text = s.render();
    println!("{text}");
    assert_eq!(s.rows, Recording::open(&[real, derived]).unwrap().rows());
    assert!(s.messages > 100_000);
    assert!(s.opportunities > 0 && s.decisions > 0, "{s:?}");
    assert!(s.orders > 0 && s.fills > 0, "{s:?}");
    assert!(s.resumed_at.is_some(), "the two-man resume took effect");
    assert_eq!(s.final_mode, Some(Mode::Run));
    assert_eq!(s.hold_reason, None);
    assert!(s.hold_ns < s.recorded_ns / 10);
    assert!(s.pnl.fees.raw() > 0);
    assert!(text.contains("binance-um real"), "{text}");
    assert!(text.contains("okx-swap DERIVED (not real)"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.strip_prefix("digest: ")
            .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())),
        "{last}"
    );
    assert_eq!(last, format!("digest: {}", s.digest));
}

#[test]
fn replay_at_10x_follows_the_wall_clock_and_decides_the_same() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 3, 4);
    let fast = replay::replay(&[dir.path().to_owned()], &ReplayOptions::paper()).unwrap();
    let paced = ReplayOptions {
        speed: Speed::Times(10),
        ..ReplayOptions::paper()
    };
    let slow = replay::replay(&[dir.path().to_owned()], &paced).unwrap();
    assert!(slow.wall_s >= 0.35, "4 s at 10x took {} s", slow.wall_s);
    assert_eq!(fast.digest, slow.digest);
    assert_eq!(Speed::parse("1x"), Some(Speed::Times(1)));
    assert_eq!(Speed::parse("max"), Some(Speed::Max));
    assert_eq!(Speed::parse("0x"), None);
}

#[test]
fn replay_refuses_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"PAR1 not really").unwrap();
    let e = replay::replay(std::slice::from_ref(&junk), &ReplayOptions::paper()).unwrap_err();
    assert!(matches!(e, ReplayError::Recording(_)), "{e}");
    assert!(
        e.to_string()
            .contains("junk.parquet: not a readable Parquet file"),
        "{e}"
    );
    let parse = |args: &[&str]| {
        let argv = std::iter::once("replay").chain(args.iter().copied());
        ReplayCli::try_parse_from(argv).map(|cli| cli.args)
    };
    let args = parse(&["--recording", junk.to_str().unwrap()]).unwrap();
    assert_eq!(replay::cli_run(args), 1);
    let e = parse(&[]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--recording"), "{e}");
    let e = parse(&["--recording", "x", "--speed", "fast"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("use max, 1x, 10x"), "{e}");

    // Instruments the configuration does not know: nothing to replay, said so.
    let tickvault = dir.path().join("tv");
    let options = ImportOptions {
        format: None,
        instruments: Some(data("okx/cryptofeed/OKX.0")),
        snapshots: None,
        stream: None,
        writer: WriterOptions::default(),
        config: Config::embedded(Profile::Paper),
    };
    import::import(
        &data("okx/tickvault/okx_books.jsonl"),
        &tickvault,
        &options,
        &Progress::hidden(),
    )
    .unwrap();
    let e = replay::replay(&[tickvault], &ReplayOptions::paper()).unwrap_err();
    assert!(
        matches!(e, ReplayError::Map(MapError::NothingToReplay(_))),
        "{e}"
    );
    assert!(e.to_string().contains("BTC-USDT"), "{e}");
}
