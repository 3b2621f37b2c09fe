//! Importers on the real captures in `../shared/data` (issue 4, points 4 and 8): each
//! import goes through the venue crate's readers and sync machines, writes exactly
//! what they emit, and reports frames, events, gaps and resyncs; a bad line stops it
//! with the file and line and leaves nothing behind.

use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_recordings::import::{self, Format, ImportOptions, ImportSummary};
use propbot_recordings::progress::Progress;
use propbot_recordings::{Error, FileInfo, Message, Recording, WriterOptions};
use propbot_venues::binance::BinanceFeed;
use propbot_venues::capture::HftbacktestReader;
use propbot_venues::{Events, InstrumentSpec};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

fn options() -> ImportOptions {
    ImportOptions {
        format: None,
        instruments: None,
        snapshots: None,
        stream: None,
        writer: WriterOptions::default(),
        config: Config::embedded(Profile::Paper),
    }
}

fn run(capture: &Path, out: &Path, options: &ImportOptions) -> Result<ImportSummary, Error> {
    import::import(capture, out, options, &Progress::hidden())
}

/// Every message of a recording, as text.
fn messages(paths: &[PathBuf]) -> Vec<String> {
    let recording = Recording::open(paths).unwrap();
    let mut reader = recording.reader(None);
    let mut out = Vec::new();
    while let Some((_, m)) = reader.next().unwrap() {
        out.push(format!("{:?}", m.as_message()));
    }
    out
}

/// The hftbacktest BTCUSDT capture fed straight to the venue parser, as the messages
/// the importer must have written.
fn direct_btcusdt() -> Vec<String> {
    let config = Config::embedded(Profile::Paper);
    let id = config.instrument_by_name("BTC-USDT-PERP").unwrap();
    let spec = InstrumentSpec {
        instrument: InstrumentId(0),
        ..InstrumentSpec::from_config(&config, Venue::Binance, id).unwrap()
    };
    let mut feed = BinanceFeed::new(vec![spec]);
    let file = std::fs::File::open(propbot_testsupport::capture(
        "binance-usdm/hftbacktest/btcusdt_20240808.gz",
    ))
    .unwrap();
    let reader = HftbacktestReader::new(BufReader::new(flate2::read::GzDecoder::new(file)));
    let mut events = Events::new();
    let mut out = Vec::new();
    let mut last = UnixNanos::ZERO;
    for record in reader {
        let record = record.unwrap();
        if record.json.starts_with("{\"lastUpdateId\"") {
            feed.on_depth_snapshot(InstrumentId(0), &record.json, &mut events)
                .unwrap();
        } else {
            feed.on_frame(&record.json, &mut events).unwrap();
        }
        for e in &events {
            last = last.max(record.received);
            out.push(format!("{:?}", Message::from_sync(last, 0, e, 0)));
        }
        events.clear();
    }
    out
}

#[test]
fn the_hftbacktest_btcusdt_capture_imports_exactly_what_the_venue_parser_emits() {
    let dir = tempfile::tempdir().unwrap();
    let capture = propbot_testsupport::capture("binance-usdm/hftbacktest/btcusdt_20240808.gz");
    let s = run(&capture, dir.path(), &options()).unwrap();
    println!("{s:?}");
    assert_eq!(s.format, "hftbacktest");
    assert_eq!(s.frames, 93_954);
    assert_eq!((s.snapshots, s.gaps, s.resyncs), (1, 0, 0));
    assert!(s.skipped.is_empty());
    assert_eq!(s.files.len(), 1);
    let info = FileInfo::open(&s.files[0]).unwrap();
    assert_eq!(info.meta.source, "hftbacktest:btcusdt_20240808.gz");
    assert_eq!(info.meta.instruments[0].name, "BTC-USDT-PERP");
    assert_eq!(info.meta.instruments[0].listings[0].symbol, "BTCUSDT");
    assert_eq!(info.rows, s.rows);
    assert_eq!(info.meta.stats.messages, s.messages);
    let written = messages(&s.files);
    let direct = direct_btcusdt();
    assert_eq!(written.len(), direct.len());
    for (i, (w, d)) in written.iter().zip(&direct).enumerate() {
        assert_eq!(w, d, "message {i}");
    }
}

#[test]
fn the_ethusdt_capture_imports_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let capture = propbot_testsupport::capture("binance-usdm/hftbacktest/ethusdt_20240808.gz");
    let s = run(&capture, dir.path(), &options()).unwrap();
    assert!(s.frames > 70_000, "{s:?}");
    assert_eq!((s.snapshots, s.gaps, s.resyncs), (1, 0, 0));
    let info = FileInfo::open(&s.files[0]).unwrap();
    assert_eq!(info.meta.instruments[0].name, "ETH-USDT-PERP");
    assert_eq!(info.meta.instruments[0].price_scale, 2);
}

#[test]
fn the_cryptofeed_binance_capture_syncs_its_four_symbols_to_their_rest_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let capture = propbot_testsupport::capture("binance-usdm/cryptofeed/BINANCE_FUTURES.ws.1.0");
    let s = run(&capture, dir.path(), &options()).unwrap();
    println!("{s:?}");
    assert_eq!(s.format, "cryptofeed-binance");
    assert_eq!((s.snapshots, s.gaps, s.resyncs), (4, 0, 0));
    assert!(s.skipped.get("kline").is_some_and(|n| *n > 0), "{s:?}");
    let info = FileInfo::open(&s.files[0]).unwrap();
    let names: Vec<&str> = info
        .meta
        .instruments
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    for symbol in ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"] {
        assert!(names.contains(&symbol), "{names:?}");
    }
    // Specs from the capture's exchangeInfo: CTKUSDT tick 0.001, two decimals of
    // headroom for its off-grid REST levels.
    let ctk = info
        .meta
        .instruments
        .iter()
        .find(|i| i.name == "CTKUSDT")
        .unwrap();
    assert_eq!(
        (ctk.price_scale, ctk.listings[0].tick.as_str()),
        (5, "0.001")
    );
    assert_eq!(messages(&s.files).len() as u64, s.messages);
}

#[test]
fn the_cryptofeed_okx_capture_imports_three_instruments_with_contract_values() {
    let dir = tempfile::tempdir().unwrap();
    let capture = propbot_testsupport::capture("okx/cryptofeed/OKX.ws.1.0");
    let s = run(&capture, dir.path(), &options()).unwrap();
    println!("{s:?}");
    assert_eq!(s.format, "cryptofeed-okx");
    assert_eq!((s.snapshots, s.gaps, s.resyncs), (3, 0, 0));
    assert!(s.skipped.get("control").is_some_and(|n| *n > 0));
    let info = FileInfo::open(&s.files[0]).unwrap();
    let table: Vec<(String, u8, u8, Option<String>)> = info
        .meta
        .instruments
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.price_scale,
                i.qty_scale,
                i.listings[0].contract_value.clone(),
            )
        })
        .collect();
    assert!(
        table.contains(&("BTC-USD-220527".into(), 1, 0, Some("100".into()))),
        "{table:?}"
    );
    assert!(
        table.contains(&("UNI-USD-SWAP".into(), 3, 0, Some("10".into()))),
        "{table:?}"
    );
    assert!(
        table.contains(&("BTC-USDT".into(), 1, 8, None)),
        "{table:?}"
    );
    assert!(
        info.meta
            .instruments
            .iter()
            .all(|i| i.listings[0].venue == Venue::Okx)
    );
}

#[test]
fn the_tickvault_capture_imports_its_seq_id_chain() {
    let dir = tempfile::tempdir().unwrap();
    let capture = propbot_testsupport::capture("okx/tickvault/okx_books.jsonl");
    let e = run(&capture, &dir.path().join("none"), &options()).unwrap_err();
    assert!(
        e.to_string()
            .contains("BTC-USDT is not in the engine configuration"),
        "{e}"
    );
    let mut o = options();
    o.instruments = Some(propbot_testsupport::capture("okx/cryptofeed/OKX.0"));
    let s = run(&capture, &dir.path().join("ok"), &o).unwrap();
    assert_eq!(s.format, "tickvault");
    assert_eq!((s.frames, s.messages, s.snapshots, s.gaps), (8, 7, 1, 0));
    let text = messages(&s.files);
    assert!(
        text[1].contains("previous: Some(80274874800)"),
        "{}",
        text[1]
    );
}

/// Copies the first `lines` lines of a text capture, then `bad`, then the rest.
fn with_bad_line(source: &Path, target: &Path, lines: usize, bad: &str, gzip: bool) {
    let input: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(
            std::fs::File::open(source).unwrap(),
        )))
    } else {
        Box::new(BufReader::new(std::fs::File::open(source).unwrap()))
    };
    let file = std::fs::File::create(target).unwrap();
    let mut out: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(file)
    };
    for (i, line) in input.lines().enumerate() {
        if i == lines {
            writeln!(out, "{bad}").unwrap();
        }
        writeln!(out, "{}", line.unwrap()).unwrap();
    }
}

#[test]
fn a_bad_line_midway_stops_the_import_naming_file_and_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Far into the BTCUSDT capture, after several files have been closed.
    let capture = dir.path().join("btcusdt_bad.gz");
    let source = propbot_testsupport::capture("binance-usdm/hftbacktest/btcusdt_20240808.gz");
    with_bad_line(
        &source,
        &capture,
        60_000,
        "1723161500000000000 {\"stream\":",
        true,
    );
    let out = dir.path().join("out");
    let mut o = options();
    o.format = Some(Format::Hftbacktest);
    o.writer.roll.max_rows = 50_000;
    let e = run(&capture, &out, &o).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("btcusdt_bad.gz:60001: malformed binance-um frame"),
        "{text}"
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "a failed import left {left:?}");

    // A line that is not a frame at all, and a frame cut short.
    let tickvault = propbot_testsupport::capture("okx/tickvault/okx_books.jsonl");
    let mut o = options();
    o.instruments = Some(propbot_testsupport::capture("okx/cryptofeed/OKX.0"));
    for (name, bad, expected) in [
        (
            "garbage.jsonl",
            "garbage",
            "garbage.jsonl:5: capture line 5: expected a JSON object",
        ),
        (
            "cut.jsonl",
            "{\"arg\":{\"channel\":\"books\"",
            "cut.jsonl:5: malformed okx-swap frame",
        ),
    ] {
        let path = dir.path().join(name);
        with_bad_line(&tickvault, &path, 4, bad, false);
        let out = dir.path().join(format!("out-{name}"));
        let e = run(&path, &out, &o).unwrap_err();
        assert!(e.to_string().contains(expected), "{e}");
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
    }

    // A format that cannot be guessed.
    let e = run(&dir.path().join("capture.bin"), &out, &options()).unwrap_err();
    assert!(
        e.to_string()
            .contains("capture.bin: cannot tell the capture format"),
        "{e}"
    );
}
