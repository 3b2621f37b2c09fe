//! A recording played through each emulator reaches a real client exactly as
//! recorded: a small synthetic two-venue recording is written to a temporary
//! directory, played at high speed, and a client (tokio-tungstenite, reqwest, the
//! production `BinanceFeed`/`OkxFeed` and the engine's `Book`) syncs and follows it.
//! From the client's snapshot to the end of the recording, its book equals the book
//! read straight from the recording after every message, and no recorded diff is
//! missing (`propbot_emulators::roundtrip`). Nothing here reaches the internet.

use futures_util::{SinkExt, StreamExt};
use propbot_emulators::roundtrip::{Reference, RoundTrip, synthesize_recording};
use propbot_emulators::{EmulatorConfig, ServeError, Source, Speed, binance, okx};
use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_recordings::WriterOptions;
use propbot_recordings::import::{ImportOptions, import};
use propbot_recordings::progress::Progress;
use propbot_venues::binance::BinanceFeed;
use propbot_venues::okx::{Handled, OkxFeed};
use propbot_venues::{Events, InstrumentSpec, ResyncReason, SyncEvent};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BTC: InstrumentId = InstrumentId(0);
/// Recorded market time: about 200 book updates a venue.
const RECORDED_NS: u64 = 20_000_000_000;
/// Twenty seconds of recording in two seconds of wall time.
const SPEED: f64 = 10.0;
/// The book window of both the client's book and the reference's.
const TICKS_PER_SIDE: usize = 4096;
/// A wall-time bound on every wait, so a broken emulator fails instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

fn config() -> Config {
    Config::embedded(Profile::Paper)
}

fn recording(seed: u64) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = synthesize_recording(&config(), dir.path(), seed, RECORDED_NS).unwrap();
    (dir, paths)
}

/// An emulator of `paths`, paused at its start until the client is ready.
fn emulator_config(paths: &[PathBuf]) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(config(), 0);
    config.source = Source::Recording(paths.to_vec());
    config.speed = Speed::new(SPEED).unwrap();
    config.paused = true;
    config.instruments = vec![BTC];
    config
}

async fn connect(url: String) -> Socket {
    let (socket, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("the emulator accepts the connection");
    socket
}

/// The next text frame (pings are answered by tungstenite and skipped).
async fn next_text(socket: &mut Socket) -> String {
    loop {
        match timeout(WAIT, socket.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("the stream ended: {other:?}"),
        }
    }
}

/// The engine's book fed from a feed's events, checked against the recording after
/// every snapshot and delta.
struct Follower {
    book: Book,
    events: Events,
    check: RoundTrip,
    resyncs: Vec<ResyncReason>,
    trades: u64,
}

impl Follower {
    fn new(venue: Venue, reference: Reference) -> Follower {
        let spec = InstrumentSpec::from_config(&config(), venue, BTC).unwrap();
        Follower {
            book: Book::new(venue, BTC, spec.tick, TICKS_PER_SIDE),
            events: Events::new(),
            check: RoundTrip::new(reference),
            resyncs: Vec::new(),
            trades: 0,
        }
    }

    fn apply(&mut self) {
        let now = UnixNanos(1);
        for event in self.events.iter() {
            match event {
                SyncEvent::Snapshot {
                    last, bids, asks, ..
                } => {
                    let outcome = self.book.apply_snapshot(now, *last, bids, asks);
                    assert!(
                        matches!(outcome, ApplyOutcome::Applied { .. }),
                        "{outcome:?}"
                    );
                    self.check.on_snapshot(&self.book).unwrap();
                }
                SyncEvent::Delta {
                    sequence,
                    bids,
                    asks,
                    ..
                } => {
                    let outcome = self.book.apply_delta(now, *sequence, bids, asks);
                    assert!(
                        matches!(outcome, ApplyOutcome::Applied { .. }),
                        "{outcome:?}"
                    );
                    self.check.on_delta(&self.book).unwrap();
                }
                SyncEvent::Resync { reason, .. } => self.resyncs.push(*reason),
                SyncEvent::Trade { .. } => self.trades += 1,
                SyncEvent::Bbo { .. } => {}
            }
        }
        self.events.clear();
    }
}

/// Reads frames into `on_frame` until the follower has reached the recording's end.
async fn follow_to_the_end(
    socket: &mut Socket,
    follower: &mut Follower,
    mut on_frame: impl FnMut(&str, &mut Follower),
) {
    let deadline = Instant::now() + WAIT;
    while !follower.check.complete() {
        assert!(
            Instant::now() < deadline,
            "the client reaches the end: {:?}",
            follower.check.finish()
        );
        let text = next_text(socket).await;
        on_frame(&text, follower);
    }
}

fn binance_frame(feed: &mut BinanceFeed, text: &str, follower: &mut Follower) {
    feed.on_frame(text, &mut follower.events)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    follower.apply();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_reaches_a_binance_client_diff_for_diff() {
    let (_dir, paths) = recording(11);
    let reference = Reference::load(
        &paths,
        &config(),
        Venue::Binance,
        BTC,
        TICKS_PER_SIDE,
        usize::MAX,
    )
    .unwrap();
    let recorded_diffs = reference.states.len() - 1;
    let handle = binance::serve(emulator_config(&paths)).await.unwrap();
    let streams = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@aggTrade";
    let ws = handle.emulator().ws_url();
    let mut socket = connect(format!("{ws}/public/stream?streams={streams}")).await;
    let spec = InstrumentSpec::from_config(&config(), Venue::Binance, BTC).unwrap();
    let mut feed = BinanceFeed::new(vec![spec]);
    let mut follower = Follower::new(Venue::Binance, reference);
    handle.emulator().resume();
    // Buffer a few frames, then take the snapshot, as an adapter does.
    for _ in 0..3 {
        let text = next_text(&mut socket).await;
        binance_frame(&mut feed, &text, &mut follower);
    }
    let url = format!(
        "{}/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
        handle.emulator().http_url()
    );
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    feed.on_depth_snapshot(BTC, &body, &mut follower.events)
        .unwrap();
    follower.apply();
    follow_to_the_end(&mut socket, &mut follower, |text, f| {
        binance_frame(&mut feed, text, f);
    })
    .await;

    let checked = follower.check.finish().unwrap();
    assert!(follower.resyncs.is_empty(), "{:?}", follower.resyncs);
    assert!(
        checked as usize >= recorded_diffs / 2,
        "{checked} of {recorded_diffs} recorded diffs followed"
    );
    assert!(follower.trades > 20, "{} trades", follower.trades);
    // The end: nothing more is published, REST still answers with the last book.
    let deadline = Instant::now() + WAIT;
    while !handle.finished() {
        assert!(Instant::now() < deadline, "the emulator finishes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handle.playback_error(), None);
    let last = follower.check.reference().last_update_id();
    let book = handle.published_book("BTCUSDT").unwrap();
    assert_eq!(book.last_update_id, last);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_reaches_an_okx_client_update_for_update() {
    let (_dir, paths) = recording(12);
    let reference = Reference::load(
        &paths,
        &config(),
        Venue::Okx,
        BTC,
        TICKS_PER_SIDE,
        usize::MAX,
    )
    .unwrap();
    let recorded_updates = reference.states.len() - 1;
    let handle = okx::serve(emulator_config(&paths)).await.unwrap();
    handle.emulator().resume();
    // Subscribe once the recording's opening snapshot has been played.
    let deadline = Instant::now() + WAIT;
    while handle
        .published_book("BTC-USDT-SWAP")
        .unwrap()
        .last_update_id
        == 0
    {
        assert!(Instant::now() < deadline, "the opening snapshot is played");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut socket = connect(format!("{}/ws/v5/public", handle.emulator().ws_url())).await;
    let subscribe = json!({"id": "1", "op": "subscribe", "args": [
        {"channel": "books", "instId": "BTC-USDT-SWAP"},
        {"channel": "trades", "instId": "BTC-USDT-SWAP"},
    ]});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let spec = InstrumentSpec::from_config(&config(), Venue::Okx, BTC).unwrap();
    let mut feed = OkxFeed::new(vec![spec]);
    let mut follower = Follower::new(Venue::Okx, reference);
    let on_frame = |text: &str, f: &mut Follower| match feed.on_frame(text, &mut f.events) {
        Ok(Handled::Control) => {}
        Ok(Handled::Market) => f.apply(),
        Err(e) => panic!("{text}: {e}"),
    };
    follow_to_the_end(&mut socket, &mut follower, on_frame).await;

    let checked = follower.check.finish().unwrap();
    assert_eq!(follower.check.snapshots_checked, 1);
    assert!(follower.resyncs.is_empty(), "{:?}", follower.resyncs);
    assert!(
        checked as usize >= recorded_updates / 2,
        "{checked} of {recorded_updates} recorded updates followed"
    );
    assert!(follower.trades > 10, "{} trades", follower.trades);
    let deadline = Instant::now() + WAIT;
    while !handle.finished() {
        assert!(Instant::now() < deadline, "the emulator finishes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_recorded_diff_is_a_gap() {
    let (_dir, paths) = recording(13);
    let handle = binance::serve(emulator_config(&paths)).await.unwrap();
    let ws = handle.emulator().ws_url();
    let mut socket = connect(format!("{ws}/stream?streams=btcusdt@depth@100ms")).await;
    let spec = InstrumentSpec::from_config(&config(), Venue::Binance, BTC).unwrap();
    let mut feed = BinanceFeed::new(vec![spec]);
    let mut events = Events::new();
    handle.emulator().resume();
    let text = next_text(&mut socket).await;
    feed.on_frame(&text, &mut events).unwrap();
    let url = format!(
        "{}/fapi/v1/depth?symbol=BTCUSDT",
        handle.emulator().http_url()
    );
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    feed.on_depth_snapshot(BTC, &body, &mut events).unwrap();
    assert!(handle.skip_next_diff("BTCUSDT"));
    let deadline = Instant::now() + WAIT;
    let gap = loop {
        assert!(Instant::now() < deadline, "the gap is seen");
        events.clear();
        let text = next_text(&mut socket).await;
        feed.on_frame(&text, &mut events).unwrap();
        let resync = events.iter().find_map(|e| match e {
            SyncEvent::Resync { reason, .. } => Some(*reason),
            _ => None,
        });
        if let Some(reason) = resync {
            break reason;
        }
    };
    assert_eq!(gap, ResyncReason::Gap);
    assert_eq!(handle.emulator().counters().diffs_skipped, 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_recording_without_the_venue_is_refused_with_a_clear_error() {
    let (dir, _) = recording(14);
    let binance_only: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("binance"))
        .collect();
    assert_eq!(binance_only.len(), 1, "{binance_only:?}");
    let error = okx::serve(emulator_config(&binance_only))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ServeError::VenueNotRecorded {
            venue: Venue::Okx,
            ..
        }
    ));
    let text = error.to_string();
    assert!(text.contains("has no okx-swap data"), "{text}");
    let missing = vec![dir.path().join("nothing-here.parquet")];
    let error = binance::serve(emulator_config(&missing)).await.unwrap_err();
    assert!(
        error.to_string().contains("nothing-here.parquet"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_reset_and_a_corrupted_checksum_on_a_recorded_okx_book() {
    let (_dir, paths) = recording(15);
    let handle = okx::serve(emulator_config(&paths)).await.unwrap();
    handle.emulator().resume();
    let deadline = Instant::now() + WAIT;
    while handle
        .published_book("BTC-USDT-SWAP")
        .unwrap()
        .last_update_id
        == 0
    {
        assert!(Instant::now() < deadline, "the opening snapshot is played");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut socket = connect(format!("{}/ws/v5/public", handle.emulator().ws_url())).await;
    let subscribe = json!({"id": "1", "op": "subscribe", "args": [
        {"channel": "books", "instId": "BTC-USDT-SWAP"},
    ]});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let spec = InstrumentSpec::from_config(&config(), Venue::Okx, BTC).unwrap();
    let mut feed = OkxFeed::new(vec![spec]);
    let mut events = Events::new();
    let mut resyncs = Vec::new();
    let mut read = async |feed: &mut OkxFeed, resyncs: &mut Vec<ResyncReason>| {
        let text = next_text(&mut socket).await;
        events.clear();
        feed.on_frame(&text, &mut events).unwrap();
        for event in events.iter() {
            if let SyncEvent::Resync { reason, .. } = event {
                resyncs.push(*reason);
            }
        }
    };
    while feed.sync(BTC).unwrap().needs_snapshot() {
        read(&mut feed, &mut resyncs).await;
    }
    assert!(handle.reset_sequence("BTC-USDT-SWAP", 3));
    let deadline = Instant::now() + WAIT;
    while feed.sync(BTC).unwrap().counters.sequence_resets == 0 {
        assert!(Instant::now() < deadline, "the reset is seen");
        read(&mut feed, &mut resyncs).await;
    }
    assert!(resyncs.is_empty(), "a reset is accepted: {resyncs:?}");
    assert!(handle.corrupt_next_checksum("BTC-USDT-SWAP"));
    while resyncs.is_empty() {
        assert!(Instant::now() < deadline, "the bad checksum is seen");
        read(&mut feed, &mut resyncs).await;
    }
    assert_eq!(resyncs, [ResyncReason::ChecksumMismatch]);
    handle.shutdown().await;
}

/// The real Binance capture (hftbacktest, 345 s of `depth@0ms` diffs with real `U`/`u`/
/// `pu`), imported into a recording and played at 50×: a client that syncs from the
/// emulator's REST snapshot follows thousands of real diffs, its best 100 levels a side
/// equal to the recording's after every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_binance_capture_reaches_a_client_diff_for_diff() {
    let capture = propbot_testsupport::capture("binance-usdm/hftbacktest/btcusdt_20240808.gz");
    let dir = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        format: None,
        instruments: None,
        snapshots: None,
        stream: None,
        writer: WriterOptions::default(),
        config: config(),
    };
    import(&capture, dir.path(), &options, &Progress::hidden()).unwrap();
    let paths = vec![dir.path().to_owned()];
    let reference =
        Reference::load(&paths, &config(), Venue::Binance, BTC, TICKS_PER_SIDE, 100).unwrap();
    let mut emulator = emulator_config(&paths);
    emulator.speed = Speed::new(50.0).unwrap();
    emulator.limits.frames_queued_max = 1 << 16;
    let handle = binance::serve(emulator).await.unwrap();
    let ws = handle.emulator().ws_url();
    let mut socket = connect(format!("{ws}/public/stream?streams=btcusdt@depth@100ms")).await;
    handle.emulator().resume();
    // The capture's REST snapshot arrived seconds after its first diffs.
    let deadline = Instant::now() + WAIT;
    while handle.published_book("BTCUSDT").unwrap().last_update_id == 0 {
        assert!(Instant::now() < deadline, "the recorded snapshot is played");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let spec = InstrumentSpec::from_config(&config(), Venue::Binance, BTC).unwrap();
    let mut feed = BinanceFeed::new(vec![spec]);
    let mut follower = Follower::new(Venue::Binance, reference);
    for _ in 0..3 {
        let text = next_text(&mut socket).await;
        binance_frame(&mut feed, &text, &mut follower);
    }
    let url = format!(
        "{}/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
        handle.emulator().http_url()
    );
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    feed.on_depth_snapshot(BTC, &body, &mut follower.events)
        .unwrap();
    follower.apply();
    let deadline = Instant::now() + WAIT;
    while follower.check.deltas_checked < 2_000 {
        assert!(
            Instant::now() < deadline,
            "{} diffs followed",
            follower.check.deltas_checked
        );
        let text = next_text(&mut socket).await;
        binance_frame(&mut feed, &text, &mut follower);
    }
    assert!(follower.resyncs.is_empty(), "{:?}", follower.resyncs);
    handle.shutdown().await;
}
