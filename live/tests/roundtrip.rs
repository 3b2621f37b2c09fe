//! A recording played through each emulator reaches the engine's `Book` through the
//! real adapter (`spawn_feed`) exactly as recorded (issue 11, point 3): a small
//! synthetic two-venue recording is written to a temporary directory and played at
//! high speed; every `FeedEvent::Sync` is applied to an engine `Book` through
//! `SyncEvent::as_input`, and after every snapshot and delta the book is compared with
//! the recording's (`propbot_emulators::roundtrip::RoundTrip`). From the adapter's
//! snapshot to the end of the recording no diff is lost, and every frame the emulator
//! sent reached the adapter. Nothing here reaches the internet: every URL is 127.0.0.1.

use propbot_emulators::roundtrip::{Reference, RoundTrip, synthesize_recording};
use propbot_emulators::{EmulatorConfig, Source, Speed, binance, okx};
use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::input::{Input, MarketEvent};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::{Config, Profile};
use propbot_live::{
    Backoff, Endpoints, FeedEvent, FeedHandle, FeedOptions, LinkState, Stamped, spawn_feed,
};
use propbot_venues::{InstrumentSpec, ResyncReason, SyncEvent};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const BTC: InstrumentId = InstrumentId(0);
/// Recorded market time: about 200 book updates a venue.
const RECORDED_NS: u64 = 20_000_000_000;
/// Twenty seconds of recording in 0.4 s of wall time: a diff every 2 ms.
const SPEED: f64 = 50.0;
/// The book window of both the adapter's book and the reference's.
const TICKS_PER_SIDE: usize = 4096;
/// A wall-time bound on every wait, so a broken feed fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

fn config() -> Config {
    Config::embedded(Profile::Paper)
}

fn recording(seed: u64) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = synthesize_recording(&config(), dir.path(), seed, RECORDED_NS).unwrap();
    (dir, paths)
}

/// An emulator of `paths`, paused at the recording's start until the test resumes it.
fn emulator_config(paths: &[PathBuf]) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(config(), 0);
    config.source = Source::Recording(paths.to_vec());
    config.speed = Speed::new(SPEED).unwrap();
    config.paused = true;
    config.instruments = vec![BTC];
    config
}

/// Options with the timeouts of a test: short, but far above loopback latency.
fn options(venue: Venue, endpoints: Endpoints) -> FeedOptions {
    let spec = InstrumentSpec::from_config(&config(), venue, BTC).unwrap();
    let mut options = FeedOptions::new(venue, endpoints, vec![spec]);
    options.reconnect = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        jitter: 0.2,
    };
    options.silence_timeout = Duration::from_secs(3);
    options.ping_every = Duration::from_millis(500);
    options.pong_timeout = Duration::from_secs(2);
    options.snapshot_spacing = Duration::from_millis(50);
    options.snapshot_timeout = Duration::from_secs(2);
    options.connect_timeout = Duration::from_secs(3);
    options.request_timeout = Duration::from_secs(3);
    options.clock_burst = 0;
    options.seed = 13;
    options
}

/// The feed's consumer: the engine's `Book` fed with `as_input`, checked against the
/// recording after every snapshot and delta.
struct Follower {
    rx: mpsc::Receiver<Stamped>,
    book: Book,
    check: RoundTrip,
    links: BTreeMap<&'static str, LinkState>,
    resyncs: Vec<ResyncReason>,
    trades: u64,
    bbos: u64,
}

impl Follower {
    fn start(options: FeedOptions, reference: Reference) -> (Follower, FeedHandle) {
        let spec = &options.instruments[0];
        let (tx, rx) = mpsc::channel(256);
        let follower = Follower {
            rx,
            book: Book::new(spec.venue, spec.instrument, spec.tick, TICKS_PER_SIDE),
            check: RoundTrip::new(reference),
            links: BTreeMap::new(),
            resyncs: Vec::new(),
            trades: 0,
            bbos: 0,
        };
        (follower, spawn_feed(options, tx))
    }

    fn apply(&mut self, stamped: Stamped) {
        match &stamped.event {
            FeedEvent::Sync(event) => self.apply_sync(stamped.received, event),
            FeedEvent::Venue(_) => {}
            FeedEvent::Link { connection, state } => {
                self.links.insert(connection, state.clone());
            }
        }
    }

    fn apply_sync(&mut self, now: propbot_engine::UnixNanos, event: &SyncEvent) {
        let Input::Market(market) = event.as_input() else {
            panic!("a sync event is a market input: {event:?}");
        };
        match market {
            MarketEvent::Snapshot {
                last, bids, asks, ..
            } => {
                let outcome = self.book.apply_snapshot(now, last, bids, asks);
                assert!(
                    matches!(outcome, ApplyOutcome::Applied { .. }),
                    "{outcome:?}"
                );
                self.check
                    .on_snapshot(&self.book)
                    .unwrap_or_else(|e| panic!("after the snapshot at {last}: {e}"));
            }
            MarketEvent::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                let outcome = self.book.apply_delta(now, sequence, bids, asks);
                assert!(
                    matches!(outcome, ApplyOutcome::Applied { .. }),
                    "{outcome:?}"
                );
                self.check
                    .on_delta(&self.book)
                    .unwrap_or_else(|e| panic!("after the delta {sequence:?}: {e}"));
            }
            MarketEvent::BookInvalid { reason, .. } => {
                if let SyncEvent::Resync { reason: why, .. } = event {
                    self.resyncs.push(*why);
                }
                self.book.invalidate(now, reason);
            }
            MarketEvent::Trade { .. } => self.trades += 1,
            MarketEvent::Bbo { .. } => self.bbos += 1,
        }
    }

    fn state(&self, connection: &str) -> Option<&LinkState> {
        self.links.get(connection)
    }

    /// Reads events until `done`, failing after [`WAIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&Follower) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.rx.recv()).await {
                Ok(Some(stamped)) => self.apply(stamped),
                Ok(None) => panic!("the feed ended while waiting for {what}"),
                Err(_) => panic!(
                    "waiting for {what}: links {:?}, resyncs {:?}, check {:?}",
                    self.links,
                    self.resyncs,
                    self.check.finish()
                ),
            }
        }
    }
}

/// Waits (wall time, at most [`WAIT`]) until `done`.
async fn poll(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Text frames the feed received over all its connections.
fn frames_received(feed: &FeedHandle) -> u64 {
    feed.stats().connections.iter().map(|c| c.messages).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_reaches_the_binance_adapter_diff_for_diff() {
    let (_dir, paths) = recording(21);
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
    let ws = handle.emulator().ws_url();
    let endpoints = Endpoints {
        rest: handle.emulator().http_url(),
        ws_public: format!("{ws}/public"),
        ws_market: Some(format!("{ws}/market")),
        ws_private: format!("{ws}/private"),
    };
    let (mut follower, feed) = Follower::start(options(Venue::Binance, endpoints), reference);
    // Both sockets open before the first recorded diff is played: the adapter buffers
    // from the first diff and takes its REST snapshot inside the buffered window.
    follower
        .until("both connections up", |f| {
            f.state("public") == Some(&LinkState::Connected)
                && f.state("market") == Some(&LinkState::Synced)
        })
        .await;
    handle.emulator().resume();
    follower
        .until("the end of the recording", |f| f.check.complete())
        .await;
    poll("the end of playback", || handle.finished()).await;
    assert_eq!(handle.playback_error(), None);
    // Every frame written to the adapter's sockets was read (Binance sends no reply to
    // streams named in the URL, and its pings are control frames).
    poll("every frame sent to be received", || {
        frames_received(&feed) == handle.emulator().counters().frames_sent
    })
    .await;

    let checked = follower.check.finish().unwrap();
    assert_eq!(follower.check.snapshots_checked, 1);
    assert!(follower.resyncs.is_empty(), "{:?}", follower.resyncs);
    assert!(
        checked as usize >= recorded_diffs * 3 / 4,
        "{checked} of {recorded_diffs} recorded diffs followed"
    );
    assert!(
        follower.trades > 20 && follower.bbos > 20,
        "{} trades, {} book tickers",
        follower.trades,
        follower.bbos
    );
    let published = handle.published_book("BTCUSDT").unwrap();
    assert_eq!(follower.book.last_sequence(), published.last_update_id);
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(
        (public.reconnects, public.resyncs, public.malformed),
        (0, 0, 0),
        "{public:?}"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_reaches_the_okx_adapter_update_for_update() {
    let (_dir, paths) = recording(22);
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
    // Play the recording's opening snapshot, then hold the market while the adapter
    // subscribes: its `books` snapshot is the recording's first book.
    handle.emulator().resume();
    poll("the opening snapshot to be played", || {
        handle
            .published_book("BTC-USDT-SWAP")
            .is_some_and(|b| b.last_update_id != 0)
    })
    .await;
    handle.emulator().pause();
    let endpoints = Endpoints {
        rest: handle.emulator().http_url(),
        ws_public: format!("{}/ws/v5/public", handle.emulator().ws_url()),
        ws_market: None,
        ws_private: format!("{}/ws/v5/private", handle.emulator().ws_url()),
    };
    let (mut follower, feed) = Follower::start(options(Venue::Okx, endpoints), reference);
    follower
        .until("synced", |f| f.state("public") == Some(&LinkState::Synced))
        .await;
    handle.emulator().resume();
    follower
        .until("the end of the recording", |f| f.check.complete())
        .await;
    poll("the end of playback", || handle.finished()).await;
    assert_eq!(handle.playback_error(), None);
    // OKX also sends the three subscription acknowledgements (books, bbo-tbt,
    // trades), the `books` snapshot and any `pong`, none of them counted as market
    // frames by the emulator.
    poll("every frame sent to be received", || {
        frames_received(&feed) >= handle.emulator().counters().frames_sent + 4
    })
    .await;

    let checked = follower.check.finish().unwrap();
    assert_eq!(follower.check.snapshots_checked, 1);
    assert!(follower.resyncs.is_empty(), "{:?}", follower.resyncs);
    assert!(
        checked as usize >= recorded_updates * 9 / 10,
        "{checked} of {recorded_updates} recorded updates followed"
    );
    assert!(
        follower.trades > 20 && follower.bbos > 20,
        "{} trades, {} bbo-tbt",
        follower.trades,
        follower.bbos
    );
    let published = handle.published_book("BTC-USDT-SWAP").unwrap();
    assert_eq!(follower.book.last_sequence(), published.last_update_id);
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(
        (public.reconnects, public.resyncs, public.malformed),
        (0, 0, 0),
        "{public:?}"
    );
    assert!(
        public.checksums_verified as usize >= checked as usize,
        "{public:?}"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}
