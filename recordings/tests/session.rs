//! A live session recorded with rolling files: every rolled file starts with the books
//! it needs and replays on its own; resyncs and losses are recorded as such.

use propbot_engine::Profile;
use propbot_engine::book::{Book, Sequence};
use propbot_engine::config::Config;
use propbot_engine::input::MarketEvent;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Venue};
use propbot_engine::time::UnixNanos;
use propbot_recordings::writer::{Roll, WriterOptions};
use propbot_recordings::{Recording, SessionRecorder};
use propbot_venues::{ResyncReason, SyncEvent};
use std::path::{Path, PathBuf};

const BTC: InstrumentId = InstrumentId(0);

fn level(price: i64, qty: i64) -> Level {
    Level {
        price: Price::from_raw(price),
        qty: Qty::from_raw(qty),
    }
}

fn snapshot(last: u64, mid: i64) -> SyncEvent {
    SyncEvent::Snapshot {
        venue: Venue::Binance,
        instrument: BTC,
        last,
        bids: (1..=5).map(|i| level(mid - i, 1_000 + i)).collect(),
        asks: (1..=5).map(|i| level(mid + i, 2_000 + i)).collect(),
        ts_exchange: UnixNanos::from_secs(1),
    }
}

/// A diff continuing `last`: one bid level moves, one ask level goes and comes back.
fn delta(last: u64, step: i64, mid: i64) -> SyncEvent {
    SyncEvent::Delta {
        venue: Venue::Binance,
        instrument: BTC,
        sequence: Sequence {
            first: Some(last + 1),
            last: last + 3,
            previous: Some(last),
        },
        bids: vec![level(mid - 1 - step % 5, 10 + step)],
        asks: vec![level(
            mid + 1 + step % 5,
            if step % 3 == 0 { 0 } else { 20 + step },
        )],
        ts_exchange: UnixNanos::from_secs(1).plus_millis(step as u64),
    }
}

fn options(max_rows: u64) -> WriterOptions {
    WriterOptions {
        roll: Roll {
            max_rows,
            max_span_ns: 0,
            max_bytes: 0,
        },
        ..WriterOptions::default()
    }
}

/// The engine's book after feeding `paths` (the book and how many messages it took).
fn replay(paths: &[PathBuf]) -> (Book, u64, u64) {
    let config = Config::embedded(Profile::Paper);
    let tick = config.listing(Venue::Binance, BTC).expect("listed").tick;
    let mut book = Book::new(Venue::Binance, BTC, tick, 4_096);
    let recording = Recording::open(paths).expect("readable");
    let mut reader = recording.reader(None);
    let (mut n, mut invalid) = (0, 0);
    while let Some((_, m)) = reader.next().expect("rows") {
        let now = m.ts_recv;
        match m.market_event() {
            MarketEvent::Snapshot {
                last, bids, asks, ..
            } => {
                book.apply_snapshot(now, last, bids, asks);
            }
            MarketEvent::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                book.apply_delta(now, sequence, bids, asks);
            }
            MarketEvent::BookInvalid { .. } => invalid += 1,
            _ => {}
        }
        n += 1;
    }
    (book, n, invalid)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    out
}

#[test]
fn rolled_files_each_start_with_the_book_and_replay_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::embedded(Profile::Paper);
    let (mut rec, leftovers) = SessionRecorder::create(
        dir.path(),
        &config,
        Venue::Binance,
        &[BTC],
        "test session",
        options(40),
    )
    .expect("recorder");
    assert!(leftovers.is_empty());
    let mid = 600_000;
    let mut last = 100;
    rec.record(UnixNanos::from_secs(10), &snapshot(last, mid))
        .expect("write");
    for step in 0..60 {
        let t = UnixNanos::from_secs(10).plus_millis(100 * (step as u64 + 1));
        rec.record(t, &delta(last, step, mid)).expect("write");
        last += 3;
    }
    let counts = rec.counts();
    rec.finish().expect("finish");
    let files = files(dir.path());
    assert!(files.len() >= 3, "rolled into several files: {files:?}");
    assert!(counts.carried >= 2, "{counts:?}");
    let (whole, _, _) = replay(&files);
    assert!(whole.is_valid());
    assert_eq!(whole.last_sequence(), last);
    // Each file alone: it starts with a snapshot, so its book is valid at its end, and
    // the last file's book is the whole session's.
    for f in &files {
        let (alone, n, _) = replay(std::slice::from_ref(f));
        assert!(
            n > 0 && alone.is_valid(),
            "{} replays on its own",
            f.display()
        );
    }
    let (tail, _, _) = replay(&files[files.len() - 1..]);
    assert_eq!(
        tail.bids().collect::<Vec<_>>(),
        whole.bids().collect::<Vec<_>>()
    );
    assert_eq!(
        tail.asks().collect::<Vec<_>>(),
        whole.asks().collect::<Vec<_>>()
    );
}

#[test]
fn resyncs_and_losses_are_recorded_and_not_carried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::embedded(Profile::Paper);
    let (mut rec, _) = SessionRecorder::create(
        dir.path(),
        &config,
        Venue::Binance,
        &[BTC],
        "test session",
        options(0),
    )
    .expect("recorder");
    let t = UnixNanos::from_secs(10);
    rec.record(t, &snapshot(100, 600_000)).expect("write");
    rec.record(
        t.plus_millis(1),
        &SyncEvent::Resync {
            venue: Venue::Binance,
            instrument: BTC,
            reason: ResyncReason::Gap,
        },
    )
    .expect("write");
    rec.lost(t.plus_millis(2), BTC).expect("write");
    // A clock stepped back is held, not refused.
    rec.record(t, &snapshot(200, 600_010))
        .expect("held receive time");
    // An instrument outside the session is skipped, not written.
    rec.record(
        t.plus_millis(3),
        &SyncEvent::Resync {
            venue: Venue::Binance,
            instrument: InstrumentId(1),
            reason: ResyncReason::Reset,
        },
    )
    .expect("skip");
    let counts = rec.counts();
    assert_eq!(
        (counts.invalidations, counts.snapshots, counts.skipped),
        (2, 2, 1)
    );
    rec.finish().expect("finish");
    let (book, n, invalid) = replay(&files(dir.path()));
    assert_eq!((n, invalid), (4, 2));
    assert!(book.is_valid());
    assert_eq!(book.last_sequence(), 200);
}
