//! Recordings made by models (issue 4, point 5): the synthetic two-venue market and a
//! venue derived from a real recording are deterministic, keep books an engine accepts,
//! open arbitrage windows, and say in their metadata what is real and what is not.

use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::model::{InstrumentId, Price, Venue};
use propbot_engine::time::{NANOS_PER_SECOND, UnixNanos};
use propbot_engine::{Config, Profile};
use propbot_market::generate::{self, DeriveOptions, DeriveParams, SynthOptions};
use propbot_recordings::cli::{Command, InspectArgs};
use propbot_recordings::import::{self, ImportOptions};
use propbot_recordings::meta::Origin;
use propbot_recordings::progress::Progress;
use propbot_recordings::schema::flags;
use propbot_recordings::{FileInfo, Recording, WriterOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn config() -> Config {
    Config::embedded(Profile::Paper)
}

fn synth(out: &Path, seed: u64, seconds: u64) -> Vec<PathBuf> {
    let options = SynthOptions {
        seed,
        duration_ns: seconds * NANOS_PER_SECOND,
        ..SynthOptions::default()
    };
    let s = generate::synthesize(
        &config(),
        &options,
        out,
        &WriterOptions::default(),
        &Progress::hidden(),
    )
    .unwrap();
    s.streams.into_iter().flat_map(|(_, w)| w.files).collect()
}

/// Applies every message of `paths` to one engine book per venue; panics on the first
/// message a book refuses. Returns the books and, per message, both books' mids.
/// Both books' mids (raw price units) after a book message.
type Mids = (UnixNanos, Option<i64>, Option<i64>);

fn replay_books(paths: &[PathBuf]) -> (Vec<Book>, Vec<Mids>) {
    let recording = Recording::open(paths).unwrap();
    let mut books: Vec<Book> = Venue::ALL
        .iter()
        .map(|v| Book::new(*v, InstrumentId(0), Price::from_raw(1), 1 << 16))
        .collect();
    let mut mids = Vec::new();
    let mut reader = recording.reader(None);
    while let Some((_, m)) = reader.next().unwrap() {
        let book = &mut books[m.venue.index()];
        let (bids, asks) = m.levels();
        use propbot_engine::input::MarketEvent;
        let outcome = match m.market_event() {
            MarketEvent::Snapshot { last, .. } => book.apply_snapshot(m.ts_recv, last, bids, asks),
            MarketEvent::Delta { sequence, .. } => {
                book.apply_delta(m.ts_recv, sequence, bids, asks)
            }
            _ => continue,
        };
        assert!(
            matches!(outcome, ApplyOutcome::Applied { .. }),
            "{} message at {}: {outcome:?}",
            m.venue,
            m.ts_recv.0
        );
        let mid = |b: &Book| {
            let t = b.top();
            t.is_two_sided().then(|| (t.bid.raw() + t.ask.raw()) / 2)
        };
        mids.push((m.ts_recv, mid(&books[0]), mid(&books[1])));
    }
    (books, mids)
}

#[test]
fn a_synthetic_recording_is_the_same_for_the_same_seed_and_says_it_is_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let a = synth(&dir.path().join("a"), 7, 20);
    let b = synth(&dir.path().join("b"), 7, 20);
    let c = synth(&dir.path().join("c"), 8, 20);
    assert_eq!(a.len(), 2, "one stream per venue: {a:?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{}",
            x.display()
        );
    }
    assert_ne!(std::fs::read(&a[0]).unwrap(), std::fs::read(&c[0]).unwrap());
    for path in &a {
        let info = FileInfo::open(path).unwrap();
        assert_eq!(info.meta.source, "synthetic:seed=7");
        assert!(info.meta.venues().values().all(|o| *o == Origin::Synthetic));
        let derivation: serde_json::Value =
            serde_json::from_str(info.meta.derivation.as_deref().unwrap()).unwrap();
        assert_eq!(derivation["seed"], 7);
    }
    let recording = Recording::open(&a).unwrap();
    let mut reader = recording.reader(None);
    let mut venues = [0u64; 2];
    while let Some((_, m)) = reader.next().unwrap() {
        assert_ne!(m.flags & flags::SYNTHETIC, 0);
        venues[m.venue.index()] += 1;
    }
    assert!(venues[0] > 100 && venues[1] > 100, "{venues:?}");
    let (books, _) = replay_books(&a);
    assert!(books.iter().all(Book::is_valid));
}

/// The real BTCUSDT capture, imported once for this test binary.
fn imported_btcusdt() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let options = ImportOptions {
            format: None,
            instruments: None,
            snapshots: None,
            stream: None,
            writer: WriterOptions::default(),
            config: config(),
        };
        let capture = propbot_testsupport::capture("binance-usdm/hftbacktest/btcusdt_20240808.gz");
        import::import(&capture, dir.path(), &options, &Progress::hidden()).unwrap();
        dir
    })
    .path()
}

fn derive(out: &Path, seed: u64) -> Vec<PathBuf> {
    let source = Recording::open(&[imported_btcusdt().to_owned()]).unwrap();
    let options = DeriveOptions {
        seed,
        venue: Venue::Okx,
        params: DeriveParams::default(),
        duration_ns: 0,
    };
    let s = generate::derive(
        &config(),
        &source,
        &options,
        out,
        &WriterOptions::default(),
        &Progress::hidden(),
    )
    .unwrap();
    assert!(s.windows >= 3, "arbitrage windows: {}", s.windows);
    s.streams.into_iter().flat_map(|(_, w)| w.files).collect()
}

#[test]
fn a_venue_derived_from_the_real_capture_follows_it_with_a_seeded_basis_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let derived = derive(&dir.path().join("a"), 7);
    let again = derive(&dir.path().join("b"), 7);
    assert_eq!(
        std::fs::read(&derived[0]).unwrap(),
        std::fs::read(&again[0]).unwrap(),
        "same seed, same bytes"
    );
    let info = FileInfo::open(&derived[0]).unwrap();
    assert_eq!(info.meta.venues().get(&Venue::Okx), Some(&Origin::Derived));
    assert!(
        info.meta.source.starts_with(
            "derived:okx-swap from binance-um seed=7 (hftbacktest:btcusdt_20240808.gz)"
        ),
        "{}",
        info.meta.source
    );
    assert_eq!(info.meta.instruments[0].listings[0].symbol, "BTC-USDT-SWAP");
    let real = Recording::open(&[imported_btcusdt().to_owned()]).unwrap();
    assert_eq!(
        real.streams[0].venues().get(&Venue::Binance),
        Some(&Origin::Real)
    );

    // Both books stay valid in the engine's book; the derived mid tracks the real one
    // within a few bps most of the time and jumps away in the arbitrage windows.
    let mut paths = derived.clone();
    paths.push(imported_btcusdt().to_owned());
    let (books, mids) = replay_books(&paths);
    assert!(books.iter().all(Book::is_valid));
    let mut bps: Vec<i64> = mids
        .iter()
        .filter_map(|(_, a, b)| Some(((b.as_ref()? - a.as_ref()?) * 10_000) / a.as_ref()?))
        .collect();
    assert!(bps.len() > 5_000, "{}", bps.len());
    bps.sort_unstable();
    let median = bps[bps.len() / 2].abs();
    let widest = bps[0].abs().max(bps[bps.len() - 1].abs());
    assert!(median <= 5, "median basis {median} bps");
    assert!(
        widest >= 15,
        "widest basis {widest} bps: no arbitrage window"
    );
}

#[test]
fn inspect_shows_schema_metadata_span_counts_and_what_is_not_real() {
    let dir = tempfile::tempdir().unwrap();
    let derived = derive(&dir.path().join("derived"), 9);
    let synthetic = dir.path().join("synthetic");
    synth(&synthetic, 4, 10);
    let report = propbot_recordings::inspect::report(&[
        imported_btcusdt().to_owned(),
        derived[0].clone(),
        synthetic.clone(),
    ])
    .unwrap();
    println!("{report}");
    for needle in [
        "schema version 1, written by propbot-recordings",
        "source   hftbacktest:btcusdt_20240808.gz",
        "venue    binance-um: real (recorded from the venue)",
        "venue    okx-swap: DERIVED (generated from another venue's real data",
        "venue    okx-swap: SYNTHETIC (generated by the seeded market model; not real)",
        "instrument #0 BTC-USDT-PERP (price = price/10^1, qty = qty/10^4)",
        "okx-swap BTC-USDT-SWAP tick 0.1, contract value 0.01 [derived]",
        "span     2024-08-08T23:54:15",
        "by kind  snapshot 2000, delta ",
        "bbo 132178, book_invalid 0",
        "columns  ts_recv_ns Timestamp(ns, \"UTC\")",
        "seq_first UInt64 (nullable)",
    ] {
        assert!(report.contains(needle), "inspect lacks {needle:?}");
    }
    let info = FileInfo::open(&derived[0]).unwrap();
    let counts = propbot_recordings::inspect::count(&info).unwrap();
    assert_eq!(counts.rows, info.rows);
    assert_eq!(counts.messages, info.meta.stats.messages);
    assert_eq!(counts.by_venue[Venue::Okx.index()], info.rows);
    let inspect = |path: &str| {
        let args = InspectArgs {
            paths: vec![PathBuf::from(path)],
        };
        propbot_recordings::cli::run(Command::Inspect(args))
    };
    assert_eq!(inspect(&synthetic.to_string_lossy()), 0);
    assert_eq!(inspect("/nonexistent"), 1);
}
