//! Bad input yields a typed error or a resync, never a panic (issue 3, point 4): a
//! table of known-bad frames per parser, then a fuzz run (proptest) over arbitrary
//! bytes and over mutated real frames fed to synced feeds, whose outputs also go into
//! a real engine `Book`.
//!
//! The fuzz runs are deterministic: seed and case count come from `FUZZ_SEED` and
//! `PROPTEST_CASES` (defaults below). A longer campaign, as recorded in REPORT.md:
//! `FUZZ_SEED=7 PROPTEST_CASES=200000 cargo test --release -p propbot-venues --test bad_input -- --nocapture`

mod support;

use propbot_engine::book::{ApplyOutcome, Book, InvalidReason};
use propbot_engine::model::{DecimalError, InstrumentId, Scales, Venue};
use propbot_engine::time::UnixNanos;
use propbot_venues::binance::BinanceFeed;
use propbot_venues::capture::{parse_cryptofeed_line, parse_hftbacktest_line};
use propbot_venues::okx::OkxFeed;
use propbot_venues::{Error, Events, InstrumentSpec, ResyncReason, SyncEvent};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a bad frame must produce.
type Expect = fn(&Error) -> bool;

const DEFAULT_CASES: u32 = 3_000;
const DEFAULT_SEED: u64 = 3;

fn btc() -> InstrumentSpec {
    support::binance_spec("BTC-USDT-PERP")
}

fn okx_spec() -> InstrumentSpec {
    InstrumentSpec::new(
        Venue::Okx,
        InstrumentId(0),
        "BTC-USDT",
        Scales { price: 1, qty: 8 },
        "0.1",
        None,
    )
    .unwrap()
}

/// A depth diff for BTCUSDT with the given ids and one bid.
fn diff(first: u64, last: u64, previous: u64, bid_price: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":{first},"u":{last},"pu":{previous},"b":[["{bid_price}","1.000"]],"a":[]}}}}"#
    )
}

/// A Binance feed synced at update id 100.
fn synced_binance() -> BinanceFeed {
    let mut feed = BinanceFeed::new(vec![btc()]);
    let mut out = Events::new();
    feed.on_depth_snapshot(
        InstrumentId(0),
        r#"{"lastUpdateId":100,"E":1,"T":1,"bids":[["60000.0","1.000"]],"asks":[["60000.1","1.000"]]}"#,
        &mut out,
    )
    .unwrap();
    feed.on_frame(&diff(90, 101, 89, "59999.0"), &mut out)
        .unwrap();
    assert!(matches!(
        out.as_slice(),
        [SyncEvent::Snapshot { .. }, SyncEvent::Delta { .. }]
    ));
    feed
}

#[test]
fn bad_binance_frames_are_typed_errors() {
    let json = |e: &Error| matches!(e, Error::Json { .. });
    let decimal = |e: &Error| matches!(e, Error::Decimal { .. });
    let cases: Vec<(String, Expect)> = vec![
        (String::new(), json),
        ("null".into(), json),
        ("[]".into(), json),
        ("{}".into(), |e| matches!(e, Error::Protocol { .. })),
        ("{".into(), json),
        (diff(101, 102, 101, "60000.0")[..90].to_owned(), json),
        (diff(101, 102, 101, "60000.0").replace("\"U\":101", "\"U\":\"101\""), json),
        (diff(101, 102, 101, "60000.0").replace("\"u\":102", "\"u\":-102"), json),
        (diff(101, 102, 101, "60000.0").replace("\"b\":[[", "\"b\":[[1,"), json),
        (r#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate"}}"#.into(), json),
        (
            r#"{"e":"kline","E":1,"s":"BTCUSDT","k":{}}"#.into(),
            |e| matches!(e, Error::Unsupported { kind, .. } if kind == "kline"),
        ),
        (
            r#"{"stream":"btcusdt@markPrice","data":{"e":"markPriceUpdate","s":"BTCUSDT"}}"#.into(),
            |e| matches!(e, Error::Unsupported { .. }),
        ),
        (
            diff(101, 102, 101, "60000.0").replace("BTCUSDT", "DOGEUSDT"),
            |e| matches!(e, Error::UnknownSymbol { .. }),
        ),
        (diff(101, 102, 101, "NaN"), decimal),
        (diff(101, 102, 101, "-60000.0"), |e| {
            matches!(e, Error::Decimal { source: DecimalError::Negative(_), .. })
        }),
        (diff(101, 102, 101, "99999999999999999999.0"), |e| {
            matches!(e, Error::Decimal { source: DecimalError::Overflow(_), .. })
        }),
        (diff(101, 102, 101, "6e4"), decimal),
        (diff(101, 102, 101, "60000.05"), |e| {
            matches!(e, Error::Decimal { source: DecimalError::TooPrecise { .. }, .. })
        }),
        (
            r#"{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"inf","B":"1","a":"1","A":"1"}"#.into(),
            decimal,
        ),
        (
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1.0","q":"-1","f":1,"l":1,"T":1,"m":true}"#.into(),
            decimal,
        ),
    ];
    for (frame, expected) in cases {
        let mut feed = synced_binance();
        let mut out = Events::new();
        let error = feed
            .on_frame(&frame, &mut out)
            .expect_err(&format!("must be rejected: {frame}"));
        assert!(expected(&error), "{frame}\n  gave {error:?}");
        // A diff that was understood but not applicable resyncs its book.
        if frame.contains("depthUpdate") && decimal(&error) {
            assert!(
                matches!(
                    out.as_slice(),
                    [SyncEvent::Resync {
                        reason: ResyncReason::Protocol,
                        ..
                    }]
                ),
                "{frame}: {:?}",
                out.as_slice()
            );
        }
    }
    // A bad snapshot body.
    let mut feed = BinanceFeed::new(vec![btc()]);
    let mut out = Events::new();
    for body in [
        "",
        "{\"lastUpdateId\":1}",
        "{\"lastUpdateId\":1,\"bids\":[[\"x\",\"1\"]],\"asks\":[]}",
    ] {
        assert!(
            feed.on_depth_snapshot(InstrumentId(0), body, &mut out)
                .is_err(),
            "{body}"
        );
    }
    assert!(out.is_empty());
}

#[test]
fn bare_payloads_and_new_fields_are_accepted() {
    let mut feed = synced_binance();
    let mut out = Events::new();
    // A bare (non-combined) payload with fields Binance added later (`ps`, `st`, `nq`).
    let bare = r#"{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","ps":"BTCUSDT","st":1,"U":102,"u":103,"pu":101,"b":[],"a":[["60001.0","0.5"]],"x":{"y":[1,2]}}"#;
    feed.on_frame(bare, &mut out).unwrap();
    let agg = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":5,"p":"60000.1","q":"0.010","nq":"0.010","f":1,"l":2,"T":1,"m":false,"st":1}}"#;
    feed.on_frame(agg, &mut out).unwrap();
    assert!(matches!(out.as_slice()[0], SyncEvent::Delta { .. }));
    assert!(matches!(
        out.as_slice()[1],
        SyncEvent::Trade {
            trade_id: 5,
            aggressor: propbot_engine::model::Side::Buy,
            ..
        }
    ));
}

#[test]
fn out_of_order_binance_frames_resync() {
    let mut feed = synced_binance();
    let mut out = Events::new();
    // 101 → (103 arrives before 102) → gap.
    feed.on_frame(&diff(103, 103, 102, "59999.0"), &mut out)
        .unwrap();
    assert!(matches!(
        out.as_slice(),
        [SyncEvent::Resync {
            reason: ResyncReason::Gap,
            ..
        }]
    ));
    out.clear();
    // The late 102 stays buffered until a snapshot; nothing is emitted.
    feed.on_frame(&diff(102, 102, 101, "59999.0"), &mut out)
        .unwrap();
    assert!(out.is_empty());
}

#[test]
fn bad_okx_frames_are_typed_errors() {
    let books = |body: &str| {
        format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{body}]}}"#
        )
    };
    let cases: Vec<(String, Expect)> = vec![
        ("".into(), |e| matches!(e, Error::Json { .. })),
        ("{\"arg\":".into(), |e| matches!(e, Error::Json { .. })),
        (r#"{"arg":{"channel":"books","instId":"BTC-USDT"}}"#.into(), |e| matches!(e, Error::Protocol { .. })),
        (books(r#"{"asks":"x","bids":[],"ts":"1","seqId":2,"prevSeqId":1}"#), |e| matches!(e, Error::Json { .. })),
        (books(r#"{"asks":[],"bids":[],"ts":1,"seqId":2,"prevSeqId":1}"#), |e| matches!(e, Error::Json { .. })),
        (books(r#"{"asks":[["1.0"]],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}"#), |e| matches!(e, Error::Json { .. })),
        (books(r#"{"asks":[["NaN","1","0","1"]],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}"#), |e| matches!(e, Error::Decimal { .. })),
        (books(r#"{"asks":[["1.0","-1","0","1"]],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}"#), |e| matches!(e, Error::Decimal { .. })),
        (books(r#"{"asks":[],"bids":[],"ts":"x","seqId":2,"prevSeqId":1}"#), |e| matches!(e, Error::Protocol { .. })),
        (books(r#"{"asks":[],"bids":[],"ts":"1","seqId":-5,"prevSeqId":1}"#), |e| matches!(e, Error::Protocol { .. })),
        (r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"partial","data":[]}"#.into(), |e| matches!(e, Error::Protocol { .. })),
        (r#"{"arg":{"channel":"funding-rate","instId":"BTC-USDT"},"data":[]}"#.into(), |e| matches!(e, Error::Unsupported { .. })),
        (r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"1.0","sz":"1","side":"up","ts":"1"}]}"#.into(), |e| matches!(e, Error::Protocol { .. })),
        (r#"{"event":"error","code":"60018","msg":"Wrong URL or channel"}"#.into(), |e| matches!(e, Error::VenueError { .. })),
    ];
    for (frame, expected) in cases {
        let mut feed = OkxFeed::new(vec![okx_spec()]);
        let mut out = Events::new();
        feed.on_frame(
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["2.0","1","0","1"]],"bids":[["1.0","1","0","1"]],"ts":"1","checksum":0,"seqId":1,"prevSeqId":-1}]}"#,
            &mut out,
        )
        .unwrap();
        out.clear();
        let error = feed
            .on_frame(&frame, &mut out)
            .expect_err(&format!("must be rejected: {frame}"));
        assert!(expected(&error), "{frame}\n  gave {error:?}");
    }
}

// ---------------------------------------------------------------------------------
// Fuzzing

/// Real frames to mutate, in capture order, and the feeds synced just before them.
struct Corpus {
    /// BTCUSDT frames right after the REST snapshot.
    binance_frames: Vec<String>,
    binance: BinanceFeed,
    /// Tickvault OKX frames after the snapshot and first update.
    okx_frames: Vec<String>,
    okx: OkxFeed,
    /// `OKX.ws.1.0` inbound frames from the start (checksummed books).
    okx_checksummed: Vec<String>,
    okx_checksummed_specs: Vec<InstrumentSpec>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let text = support::read_capture("binance-usdm/hftbacktest/btcusdt_20240808.gz");
        let mut binance = BinanceFeed::new(vec![btc()]);
        let mut out = Events::new();
        let mut binance_frames = Vec::new();
        let mut synced = false;
        for line in text.lines().take(4_000) {
            let json = parse_hftbacktest_line(line).unwrap().json;
            if synced {
                binance_frames.push(json.to_owned());
            } else if support::is_rest_snapshot(json) {
                binance
                    .on_depth_snapshot(InstrumentId(0), json, &mut out)
                    .unwrap();
                synced = true;
            } else {
                binance.on_frame(json, &mut out).unwrap();
            }
            out.clear();
        }
        assert!(
            binance
                .sync(InstrumentId(0))
                .unwrap()
                .last_update_id()
                .is_some()
        );
        let okx_frames: Vec<String> =
            std::fs::read_to_string(support::capture("okx/tickvault/okx_books.jsonl"))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
        let mut okx = OkxFeed::new(vec![okx_spec()]);
        for frame in &okx_frames[..3] {
            okx.on_frame(frame, &mut out).unwrap();
        }
        let okx_checksummed = support::read_capture("okx/cryptofeed/OKX.ws.1.0")
            .lines()
            .filter_map(|line| match parse_cryptofeed_line(line) {
                Ok(propbot_venues::capture::CryptofeedLine::Inbound { json, .. }) => {
                    Some(json.to_owned())
                }
                _ => None,
            })
            .collect();
        let okx_checksummed_specs = ["BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT"]
            .iter()
            .zip([("0.1", 1, "100"), ("0.001", 3, "10"), ("0.1", 1, "")])
            .enumerate()
            .map(|(i, (symbol, (tick, price, value)))| {
                let qty = if value.is_empty() { 8 } else { 0 };
                InstrumentSpec::new(
                    Venue::Okx,
                    InstrumentId(i as u16),
                    symbol,
                    Scales { price, qty },
                    tick,
                    (!value.is_empty()).then_some(value),
                )
                .unwrap()
            })
            .collect();
        Corpus {
            binance_frames: binance_frames[..binance_frames.len().min(3_000)].to_vec(),
            binance,
            okx_frames: okx_frames[3..].to_vec(),
            okx,
            okx_checksummed,
            okx_checksummed_specs,
        }
    })
}

fn runner() -> (TestRunner, u64) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    println!("fuzz seed {seed}, {cases} cases (replay: FUZZ_SEED={seed} PROPTEST_CASES={cases})");
    (TestRunner::new_with_rng(config, rng), seed)
}

/// Feeds sync events to an engine book; a delta the sync machine let through must
/// never be a gap in the engine's eyes (the machine is the venue-side gate).
fn check_with_books(books: &mut [Book], events: &Events, now: &mut u64) {
    for event in events {
        let book = &mut books[event.instrument().index()];
        *now += 1;
        let valid_before = book.is_valid();
        let outcome = match event {
            SyncEvent::Snapshot {
                last, bids, asks, ..
            } => book.apply_snapshot(UnixNanos(*now), *last, bids, asks),
            SyncEvent::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                let outcome = book.apply_delta(UnixNanos(*now), *sequence, bids, asks);
                assert!(
                    !(valid_before && outcome == ApplyOutcome::Invalidated(InvalidReason::Gap)),
                    "the sync machine emitted a delta that does not chain: {sequence:?}"
                );
                outcome
            }
            other => {
                let _ = other.as_input();
                continue;
            }
        };
        let _ = outcome;
    }
    for book in books.iter() {
        // Whatever happened, a valid book is never crossed.
        if book.is_valid() && book.top().is_two_sided() {
            assert!(book.top().bid < book.top().ask);
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Replace(usize, u8),
    Insert(usize, String),
    Digit(usize, u8),
    Swap(usize),
}

fn mutate(frame: &str, mutation: &Mutation) -> String {
    let mut bytes = frame.as_bytes().to_vec();
    let at = |i: usize| if bytes.is_empty() { 0 } else { i % bytes.len() };
    match mutation {
        Mutation::Truncate(i) => bytes.truncate(at(*i)),
        Mutation::Replace(i, b) => {
            let i = at(*i);
            if let Some(slot) = bytes.get_mut(i) {
                *slot = *b;
            }
        }
        Mutation::Insert(i, text) => {
            let i = at(*i);
            bytes.splice(i..i, text.bytes());
        }
        Mutation::Digit(i, d) => {
            // Change the i-th digit of the frame: ids, prices and sizes.
            let digits: Vec<usize> = (0..bytes.len())
                .filter(|&k| bytes[k].is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                bytes[digits[*i % digits.len()]] = b'0' + d % 10;
            }
        }
        Mutation::Swap(i) => {
            let i = at(*i);
            if i + 1 < bytes.len() {
                bytes.swap(i, i + 1);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just("-".to_owned()),
                Just("NaN".to_owned()),
                Just("e9".to_owned()),
                Just("99999999999999999999".to_owned()),
                Just("\"".to_owned()),
                Just("]".to_owned()),
                Just(",[\"1\",\"1\"]".to_owned()),
                ".{0,8}",
            ]
        )
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, d)| Mutation::Digit(i, d)),
        any::<usize>().prop_map(Mutation::Swap),
    ]
}

/// Arbitrary bytes into every parser and sync machine: errors are fine, panics not.
#[test]
fn fuzz_arbitrary_bytes_into_every_parser() {
    let corpus = corpus();
    let executions = AtomicU64::new(0);
    let (mut runner, _) = runner();
    let input = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Arbitrary text shaped like the envelopes, to get past the first brace.
        "[ -~]{0,200}".prop_map(|s| format!("{{\"stream\":\"btcusdt@depth\",\"data\":{s}")),
        "[ -~]{0,200}".prop_map(|s| format!("{{\"arg\":{{\"channel\":\"books\",\"instId\":\"BTC-USDT\"}},\"action\":\"update\",\"data\":{s}")),
    ];
    runner
        .run(&input, |text| {
            let mut out = Events::new();
            let mut binance = corpus.binance.clone();
            let _ = binance.on_frame(&text, &mut out);
            let _ = binance.on_depth_snapshot(InstrumentId(0), &text, &mut out);
            let mut okx = corpus.okx.clone();
            let _ = okx.on_frame(&text, &mut out);
            let _ = parse_hftbacktest_line(&text);
            let _ = parse_cryptofeed_line(&text);
            let _ = propbot_venues::binance::wire::parse_exchange_info(&text);
            let _ = propbot_venues::okx::wire::parse_instruments(&text);
            executions.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    println!(
        "fuzz_arbitrary_bytes_into_every_parser: {} executions, 0 crashes",
        executions.into_inner()
    );
}

/// Runs of consecutive real frames, each possibly mutated, dropped or repeated, fed to
/// synced feeds and on into engine books: no panic, and no delta that the engine would
/// call a gap. Unmutated runs keep the chains going, so mutations hit synced books.
#[test]
fn fuzz_mutated_real_frames_through_sync_and_book() {
    let corpus = corpus();
    let executions = AtomicU64::new(0);
    let (mut runner, _) = runner();
    let edit = || prop::option::weighted(0.15, edit());
    let input = (
        prop::collection::vec(edit(), 1..60),
        prop::collection::vec(edit(), 1..5),
        prop::collection::vec(edit(), 1..50),
    );
    let binance_spec = btc();
    runner
        .run(&input, |(binance_edits, okx_edits, checksummed_edits)| {
            let mut now = 0;
            let mut out = Events::new();
            let mut feed = corpus.binance.clone();
            let last = feed
                .sync(InstrumentId(0))
                .unwrap()
                .last_update_id()
                .unwrap();
            let mut book = Book::new(Venue::Binance, InstrumentId(0), binance_spec.tick, 1 << 12);
            book.apply_snapshot(UnixNanos(0), last, &[], &[]);
            for frame in edited(&corpus.binance_frames, &binance_edits) {
                let _ = feed.on_frame(&frame, &mut out);
                check_with_books(std::slice::from_mut(&mut book), &out, &mut now);
                out.clear();
                executions.fetch_add(1, Ordering::Relaxed);
            }
            let mut feed = corpus.okx.clone();
            let last = feed.sync(InstrumentId(0)).unwrap().last_sequence().unwrap();
            let mut book = Book::new(Venue::Okx, InstrumentId(0), okx_spec().tick, 1 << 12);
            book.apply_snapshot(UnixNanos(0), last, &[], &[]);
            for frame in edited(&corpus.okx_frames, &okx_edits) {
                let _ = feed.on_frame(&frame, &mut out);
                check_with_books(std::slice::from_mut(&mut book), &out, &mut now);
                out.clear();
                executions.fetch_add(1, Ordering::Relaxed);
            }
            let specs = &corpus.okx_checksummed_specs;
            let mut feed = OkxFeed::new(specs.clone());
            let mut books: Vec<Book> = specs
                .iter()
                .map(|s| Book::new(Venue::Okx, s.instrument, s.tick, 1 << 12))
                .collect();
            // Start past the subscribe acknowledgements, a few frames before the snapshots.
            for frame in edited(&corpus.okx_checksummed[18..], &checksummed_edits) {
                let _ = feed.on_frame(&frame, &mut out);
                check_with_books(&mut books, &out, &mut now);
                out.clear();
                executions.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    println!(
        "fuzz_mutated_real_frames_through_sync_and_book: {} executions, 0 crashes",
        executions.into_inner()
    );
}

/// What happens to one frame of a run.
#[derive(Clone, Debug)]
enum Edit {
    Mutate(Mutation),
    Drop,
    Repeat,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => mutation().prop_map(Edit::Mutate),
        1 => Just(Edit::Drop),
        1 => Just(Edit::Repeat),
    ]
}

/// The first `edits.len()` frames with their edits applied.
fn edited(frames: &[String], edits: &[Option<Edit>]) -> Vec<String> {
    let mut run = Vec::new();
    for (frame, edit) in frames.iter().zip(edits) {
        match edit {
            None => run.push(frame.clone()),
            Some(Edit::Mutate(m)) => run.push(mutate(frame, m)),
            Some(Edit::Drop) => {}
            Some(Edit::Repeat) => {
                run.push(frame.clone());
                run.push(frame.clone());
            }
        }
    }
    run
}
