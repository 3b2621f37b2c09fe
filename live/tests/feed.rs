//! The live feeds at their boundary: `spawn_feed` against the loopback venue emulators
//! (and, for bad input, a scripted WebSocket server), the engine's `Book` fed with
//! `SyncEvent::as_input`. Nothing here reaches the internet: every URL is 127.0.0.1.

use futures_util::{SinkExt, StreamExt};
use propbot_emulators::binance::BinanceHandle;
use propbot_emulators::okx::OkxHandle;
use propbot_emulators::{EmulatorConfig, Speed};
use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::config::Listing;
use propbot_engine::input::{Input, MarketEvent, VenueEventKind};
use propbot_engine::model::{InstrumentId, Price, Qty, Venue};
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};
use propbot_engine::{Config, Profile};
use propbot_live::{
    Backoff, Endpoints, FeedEvent, FeedHandle, FeedOptions, LinkState, MetadataError,
    OkxBookChannel, Stamped, fetch_and_check_instruments, spawn_feed,
};
use propbot_venues::{InstrumentSpec, ResyncReason, SyncEvent};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);
/// A wall-time bound on every wait, so a broken feed fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

fn config() -> Config {
    Config::embedded(Profile::Paper)
}

fn spec(venue: Venue) -> InstrumentSpec {
    spec_of(venue, BTC)
}

fn spec_of(venue: Venue, instrument: InstrumentId) -> InstrumentSpec {
    InstrumentSpec::from_config(&config(), venue, instrument).unwrap()
}

fn emulator_config(seed: u64, speed: f64) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(self::config(), seed);
    config.speed = Speed::new(speed).unwrap();
    config.instruments = vec![BTC];
    config
}

async fn binance(config: EmulatorConfig) -> BinanceHandle {
    propbot_emulators::binance::serve(config)
        .await
        .expect("the emulator starts on loopback")
}

async fn okx(config: EmulatorConfig) -> OkxHandle {
    propbot_emulators::okx::serve(config)
        .await
        .expect("the emulator starts on loopback")
}

fn binance_endpoints(handle: &BinanceHandle) -> Endpoints {
    let ws = handle.emulator().ws_url();
    Endpoints {
        rest: handle.emulator().http_url(),
        ws_public: format!("{ws}/public"),
        ws_market: Some(format!("{ws}/market")),
        ws_private: format!("{ws}/private"),
    }
}

fn okx_endpoints(handle: &OkxHandle) -> Endpoints {
    Endpoints {
        rest: handle.emulator().http_url(),
        ws_public: format!("{}/ws/v5/public", handle.emulator().ws_url()),
        ws_market: None,
        ws_private: format!("{}/ws/v5/private", handle.emulator().ws_url()),
    }
}

/// Options with the timeouts of a test: short, but far above loopback latency.
fn options(venue: Venue, endpoints: Endpoints) -> FeedOptions {
    let mut options = FeedOptions::new(venue, endpoints, vec![spec(venue)]);
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
    options.seed = 11;
    options
}

/// The feed's consumer, as the engine driver will be: one engine `Book`, fed with
/// `as_input`, and a record of everything else.
struct Consumer {
    rx: mpsc::Receiver<Stamped>,
    /// One book per instrument of the feed, in its order.
    books: Vec<(InstrumentId, Book)>,
    links: BTreeMap<&'static str, LinkState>,
    history: Vec<(&'static str, LinkState)>,
    resyncs: Vec<ResyncReason>,
    signals: Vec<(Instant, VenueEventKind)>,
    deltas: u64,
    trades: u64,
    bbos: u64,
}

impl Consumer {
    fn start(options: FeedOptions) -> (Consumer, FeedHandle) {
        let books = options
            .instruments
            .iter()
            .map(|spec| {
                let book = Book::new(spec.venue, spec.instrument, spec.tick, 1 << 14);
                (spec.instrument, book)
            })
            .collect();
        let (tx, rx) = mpsc::channel(256);
        let consumer = Consumer {
            rx,
            books,
            links: BTreeMap::new(),
            history: Vec::new(),
            resyncs: Vec::new(),
            signals: Vec::new(),
            deltas: 0,
            trades: 0,
            bbos: 0,
        };
        (consumer, spawn_feed(options, tx))
    }

    fn apply(&mut self, stamped: Stamped) {
        let now = stamped.received;
        match &stamped.event {
            FeedEvent::Sync(event) => self.apply_sync(now, event),
            FeedEvent::Venue(kind) => self.signals.push((Instant::now(), *kind)),
            FeedEvent::Link { connection, state } => {
                self.links.insert(connection, state.clone());
                self.history.push((connection, state.clone()));
            }
        }
    }

    /// The first instrument's book.
    fn book(&self) -> &Book {
        &self.books[0].1
    }

    fn apply_sync(&mut self, now: UnixNanos, event: &SyncEvent) {
        let Input::Market(market) = event.as_input() else {
            panic!("a sync event is a market input: {event:?}");
        };
        let instrument = event.instrument();
        let (_, book) = self
            .books
            .iter_mut()
            .find(|(id, _)| *id == instrument)
            .unwrap_or_else(|| panic!("an event of an instrument not asked for: {event:?}"));
        match market {
            MarketEvent::Snapshot {
                last, bids, asks, ..
            } => {
                let outcome = book.apply_snapshot(now, last, bids, asks);
                assert!(
                    matches!(outcome, ApplyOutcome::Applied { .. }),
                    "{outcome:?}"
                );
            }
            MarketEvent::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                let outcome = book.apply_delta(now, sequence, bids, asks);
                assert!(
                    matches!(outcome, ApplyOutcome::Applied { .. }),
                    "{outcome:?}"
                );
                self.deltas += 1;
            }
            MarketEvent::BookInvalid { reason, .. } => {
                let SyncEvent::Resync { reason: why, .. } = event else {
                    panic!("{event:?}");
                };
                self.resyncs.push(*why);
                book.invalidate(now, reason);
            }
            MarketEvent::Trade { .. } => self.trades += 1,
            MarketEvent::Bbo { .. } => self.bbos += 1,
        }
    }

    fn state(&self, connection: &str) -> Option<&LinkState> {
        self.links.get(connection)
    }

    fn synced(&self, connection: &str) -> bool {
        self.state(connection) == Some(&LinkState::Synced)
            && self.books.iter().all(|(_, b)| b.is_valid())
    }

    /// Reads events until `done`, failing after [`WAIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&Consumer) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.rx.recv()).await {
                Ok(Some(stamped)) => self.apply(stamped),
                Ok(None) => panic!("the feed ended while waiting for {what}"),
                Err(_) => panic!(
                    "waiting for {what}: links {:?}, resyncs {:?}, signals {:?}",
                    self.links, self.resyncs, self.signals
                ),
            }
        }
    }

    /// Reads events for `wall`.
    async fn read_for(&mut self, wall: Duration) {
        let until = Instant::now() + wall;
        while let Ok(Some(stamped)) = tokio::time::timeout_at(until, self.rx.recv()).await {
            self.apply(stamped);
        }
    }

    fn count(&self, kind: fn(&VenueEventKind) -> bool) -> usize {
        self.signals.iter().filter(|(_, k)| kind(k)).count()
    }
}

fn disconnected_because(state: &LinkState, part: &str) -> bool {
    matches!(state, LinkState::Disconnected { reason } if reason.contains(part))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_syncs_stays_synced_and_resyncs_on_request() {
    let handle = binance(emulator_config(41, 10.0)).await;
    let (mut consumer, feed) = Consumer::start(options(Venue::Binance, binance_endpoints(&handle)));
    consumer
        .until("both connections synced", |c| {
            c.synced("public") && c.state("market") == Some(&LinkState::Synced) && c.deltas > 20
        })
        .await;
    consumer.read_for(Duration::from_millis(1500)).await;
    assert!(consumer.resyncs.is_empty(), "{:?}", consumer.resyncs);
    assert!(
        consumer.trades > 10 && consumer.bbos > 10,
        "{} trades, {} bbos",
        consumer.trades,
        consumer.bbos
    );
    assert!(consumer.count(|k| matches!(k, VenueEventKind::RateLimitUsage { weight_used, .. } if *weight_used >= 20)) >= 1);

    // A resync asked for: the book is dropped and a new snapshot fetched.
    feed.resync(BTC);
    feed.resync(BTC);
    consumer
        .until("the requested resync", |c| !c.resyncs.is_empty())
        .await;
    consumer.until("synced again", |c| c.synced("public")).await;
    assert_eq!(consumer.resyncs, [ResyncReason::Reset]);

    // At rest, the book is the venue's, level for level.
    handle.emulator().pause();
    let published = handle.published_book("BTCUSDT").unwrap();
    consumer
        .until("the published book", |c| {
            c.book().last_sequence() == published.last_update_id
        })
        .await;
    assert_eq!(consumer.book().bids().collect::<Vec<_>>(), published.bids);
    assert_eq!(consumer.book().asks().collect::<Vec<_>>(), published.asks);

    let stats = feed.stats();
    let public = stats.connection("public").unwrap();
    assert_eq!(
        (public.reconnects, public.resyncs, public.snapshots),
        (0, 1, 2),
        "{public:?}"
    );
    assert_eq!(
        (public.malformed, public.oversized, public.http_errors),
        (0, 0, 0),
        "{public:?}"
    );
    assert!(
        public.messages > 30 && public.bytes > 3_000 && public.message_rate > 1.0,
        "{public:?}"
    );
    assert!(public.last_message_at.is_some());
    assert!(stats.connection("market").unwrap().messages > 10);
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_reconnects_after_a_drop_and_resyncs_every_book() {
    let mut config = emulator_config(42, 10.0);
    config.instruments = vec![BTC, ETH];
    let handle = binance(config).await;
    let mut options = options(Venue::Binance, binance_endpoints(&handle));
    options.instruments.push(spec_of(Venue::Binance, ETH));
    let (mut consumer, feed) = Consumer::start(options);
    consumer
        .until("synced", |c| c.synced("public") && c.deltas > 10)
        .await;
    assert!(consumer.books.iter().all(|(_, b)| b.is_valid()));
    handle.emulator().drop_connections();
    consumer
        .until("the drop seen", |c| {
            matches!(c.state("public"), Some(LinkState::Disconnected { .. }))
        })
        .await;
    assert_eq!(
        consumer.resyncs,
        [ResyncReason::Reset, ResyncReason::Reset],
        "every book is reset before the link is down"
    );
    assert!(consumer.books.iter().all(|(_, b)| !b.is_valid()));
    consumer
        .until("synced again", |c| c.synced("public") && c.deltas > 15)
        .await;
    let tail: Vec<&LinkState> = consumer
        .history
        .iter()
        .filter(|(c, _)| *c == "public")
        .map(|(_, s)| s)
        .skip(3)
        .collect();
    assert!(
        matches!(tail[0], LinkState::Disconnected { .. }),
        "{tail:?}"
    );
    assert_eq!(
        &tail[1..],
        [
            &LinkState::Connecting,
            &LinkState::Connected,
            &LinkState::Synced
        ]
    );
    let stats = feed.stats();
    assert_eq!(stats.connection("public").unwrap().reconnects, 1);
    assert_eq!(stats.connection("public").unwrap().resyncs, 2);
    assert_eq!(stats.connection("public").unwrap().snapshots, 4);
    assert_eq!(
        handle.emulator().counters().connections_dropped,
        2,
        "public and market"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_a_skipped_diff_is_a_gap_healed_by_a_new_snapshot() {
    let handle = binance(emulator_config(43, 10.0)).await;
    // Without a market route every stream goes on the public connection.
    let endpoints = Endpoints {
        ws_market: None,
        ..binance_endpoints(&handle)
    };
    let (mut consumer, feed) = Consumer::start(options(Venue::Binance, endpoints));
    consumer
        .until("synced with trades", |c| {
            c.synced("public") && c.deltas > 5 && c.trades > 0
        })
        .await;
    assert_eq!(feed.stats().connections.len(), 1);
    assert_eq!(consumer.state("market"), None);
    assert!(handle.skip_next_diff("BTCUSDT"));
    consumer.until("the gap", |c| !c.resyncs.is_empty()).await;
    assert_eq!(consumer.resyncs, [ResyncReason::Gap]);
    consumer.until("synced again", |c| c.synced("public")).await;
    consumer.read_for(Duration::from_millis(500)).await;
    assert_eq!(consumer.resyncs, [ResyncReason::Gap]);
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(
        (public.reconnects, public.resyncs, public.snapshots),
        (0, 1, 2),
        "{public:?}"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_a_rate_limited_snapshot_waits_for_retry_after() {
    // The emulator's Retry-After is the rest of its minute: start 58.5 s into one, so
    // the wait is 1 or 2 seconds.
    let mut config = emulator_config(44, 1.0);
    config.start = Some(UnixNanos::from_secs(1_700_000_040).plus_millis(58_500));
    let handle = binance(config).await;
    handle.rate_limit_next(1);
    let (mut consumer, feed) = Consumer::start(options(Venue::Binance, binance_endpoints(&handle)));
    consumer
        .until("the 429", |c| {
            c.count(|k| matches!(k, VenueEventKind::RateLimited { .. })) == 1
        })
        .await;
    let (limited_at, kind) = consumer.signals[0];
    let VenueEventKind::RateLimited {
        retry_after_ns: Some(retry_after_ns),
    } = kind
    else {
        panic!("{kind:?}");
    };
    assert!(
        (1..=2).contains(&(retry_after_ns / 1_000_000_000)),
        "{retry_after_ns}"
    );
    consumer.until("synced", |c| c.synced("public")).await;
    let waited = limited_at.elapsed();
    assert!(
        waited + Duration::from_millis(50) >= Duration::from_nanos(retry_after_ns),
        "{waited:?}"
    );
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(
        (public.http_errors, public.rate_limited),
        (1, 1),
        "{public:?}"
    );
    assert!(
        public
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("429")),
        "{public:?}"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_a_ban_is_forwarded_and_waited_out() {
    let handle = binance(emulator_config(46, 1.0)).await;
    handle.ban_for(Duration::from_millis(1_500));
    let (mut consumer, feed) = Consumer::start(options(Venue::Binance, binance_endpoints(&handle)));
    let banned = |k: &VenueEventKind| matches!(k, VenueEventKind::Banned { .. });
    consumer.until("the 418", |c| c.count(banned) == 1).await;
    let (banned_at, kind) = consumer.signals[0];
    let VenueEventKind::Banned { until } = kind else {
        panic!("{kind:?}");
    };
    let now = propbot_live::system_clock();
    assert!(
        until > now && until.0 - now.0 < 2_000 * NANOS_PER_MILLI,
        "{until}"
    );
    consumer.until("synced", |c| c.synced("public")).await;
    assert!(banned_at.elapsed() >= Duration::from_millis(1_400));
    assert_eq!(consumer.count(banned), 1, "one request, then the wait");
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(
        (public.http_errors, public.rate_limited),
        (1, 1),
        "{public:?}"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_connections_are_renewed_before_their_lifetime() {
    let handle = binance(emulator_config(47, 10.0)).await;
    let mut options = options(Venue::Binance, binance_endpoints(&handle));
    options.connection_lifetime = Duration::from_millis(800);
    let (mut consumer, feed) = Consumer::start(options);
    consumer
        .until("a renewal", |c| {
            c.history
                .iter()
                .any(|(name, s)| *name == "public" && disconnected_because(s, "lifetime"))
        })
        .await;
    assert!(consumer.resyncs.contains(&ResyncReason::Reset));
    consumer.until("synced again", |c| c.synced("public")).await;
    assert!(feed.stats().connection("public").unwrap().reconnects >= 1);
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_a_stall_is_found_by_silence_and_reconnected() {
    let handle = binance(emulator_config(45, 10.0)).await;
    let mut options = options(Venue::Binance, binance_endpoints(&handle));
    options.silence_timeout = Duration::from_millis(600);
    options.ping_every = Duration::from_millis(200);
    options.pong_timeout = Duration::from_secs(5);
    let (mut consumer, feed) = Consumer::start(options);
    consumer.until("synced", |c| c.synced("public")).await;
    handle.emulator().stall(true);
    consumer
        .until("the silence", |c| {
            c.state("public")
                .is_some_and(|s| disconnected_because(s, "no data for 600ms"))
        })
        .await;
    assert_eq!(consumer.resyncs, [ResyncReason::Reset]);
    handle.emulator().stall(false);
    consumer.until("synced again", |c| c.synced("public")).await;
    assert!(feed.stats().connection("public").unwrap().reconnects >= 1);
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_syncs_with_checksums_verified_and_resubscribes_on_request() {
    let handle = okx(emulator_config(51, 10.0)).await;
    let (mut consumer, feed) = Consumer::start(options(Venue::Okx, okx_endpoints(&handle)));
    consumer
        .until("synced", |c| c.synced("public") && c.deltas > 20)
        .await;
    consumer.read_for(Duration::from_millis(1000)).await;
    assert!(consumer.resyncs.is_empty(), "{:?}", consumer.resyncs);
    assert!(
        consumer.trades > 5 && consumer.bbos > 5,
        "{} trades, {} bbos",
        consumer.trades,
        consumer.bbos
    );
    let public = feed.stats().connection("public").cloned().unwrap();
    assert!(public.checksums_verified > 20, "{public:?}");

    feed.resync(BTC);
    consumer
        .until("the requested resync", |c| !c.resyncs.is_empty())
        .await;
    consumer.until("synced again", |c| c.synced("public")).await;
    assert_eq!(consumer.resyncs, [ResyncReason::Reset]);

    handle.emulator().pause();
    let published = handle.published_book("BTC-USDT-SWAP").unwrap();
    consumer
        .until("the published book", |c| {
            c.book().last_sequence() == published.last_update_id
        })
        .await;
    assert_eq!(consumer.book().bids().collect::<Vec<_>>(), published.bids);
    assert_eq!(consumer.book().asks().collect::<Vec<_>>(), published.asks);
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(
        (public.reconnects, public.snapshots, public.venue_errors),
        (0, 2, 0),
        "{public:?}"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_a_corrupted_checksum_resubscribes_and_a_notice_reconnects() {
    let handle = okx(emulator_config(52, 10.0)).await;
    let (mut consumer, feed) = Consumer::start(options(Venue::Okx, okx_endpoints(&handle)));
    consumer
        .until("synced", |c| c.synced("public") && c.deltas > 5)
        .await;
    assert!(handle.corrupt_next_checksum("BTC-USDT-SWAP"));
    consumer
        .until("the mismatch", |c| !c.resyncs.is_empty())
        .await;
    assert_eq!(consumer.resyncs, [ResyncReason::ChecksumMismatch]);
    consumer
        .until("resubscribed and synced", |c| c.synced("public"))
        .await;
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!((public.reconnects, public.snapshots), (0, 2), "{public:?}");

    handle.send_upgrade_notice();
    consumer
        .until("the notice", |c| {
            c.state("public")
                .is_some_and(|s| disconnected_because(s, "64008"))
        })
        .await;
    consumer
        .until("a new connection synced", |c| c.synced("public"))
        .await;
    assert_eq!(feed.stats().connection("public").unwrap().reconnects, 1);
    assert_eq!(
        consumer.resyncs,
        [ResyncReason::ChecksumMismatch, ResyncReason::Reset]
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_an_idle_connection_is_kept_alive_by_ping_and_pong() {
    let handle = okx(emulator_config(54, 10.0)).await;
    let mut options = options(Venue::Okx, okx_endpoints(&handle));
    options.silence_timeout = Duration::from_millis(800);
    options.ping_every = Duration::from_millis(200);
    options.pong_timeout = Duration::from_millis(500);
    let (mut consumer, feed) = Consumer::start(options);
    consumer.until("synced", |c| c.synced("public")).await;
    // Paused, the venue sends nothing but our pongs: three silence timeouts pass.
    handle.emulator().pause();
    let messages = feed.stats().connection("public").unwrap().messages;
    consumer.read_for(Duration::from_millis(2_400)).await;
    assert_eq!(consumer.state("public"), Some(&LinkState::Synced));
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(public.reconnects, 0, "{public:?}");
    assert!(public.messages >= messages + 5, "pongs arrived: {public:?}");
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_error_events_are_counted_and_the_other_channels_flow() {
    // The emulator serves no `books-l2-tbt` (a VIP channel): it answers 60018.
    let handle = okx(emulator_config(53, 10.0)).await;
    let mut options = options(Venue::Okx, okx_endpoints(&handle));
    options.okx_channel = OkxBookChannel::BooksL2Tbt;
    let (mut consumer, feed) = Consumer::start(options);
    consumer
        .until("trades and quotes", |c| c.trades > 0 && c.bbos > 0)
        .await;
    let public = feed.stats().connection("public").cloned().unwrap();
    assert_eq!(public.venue_errors, 1, "{public:?}");
    assert!(
        public
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("60018")),
        "{public:?}"
    );
    assert_eq!(
        consumer.state("public"),
        Some(&LinkState::Connected),
        "no book, not synced"
    );
    assert_eq!(
        public.malformed, 0,
        "an error event is not a malformed frame"
    );
    feed.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_samples_see_the_venue_clock_offset() {
    let binance = binance(emulator_config(61, 1.0)).await;
    let okx = okx(emulator_config(62, 1.0)).await;
    binance.emulator().set_time_offset_ms(2_500);
    okx.emulator().set_time_offset_ms(-1_500);
    let mut feeds = Vec::new();
    let mut consumers = Vec::new();
    for (venue, endpoints) in [
        (Venue::Binance, binance_endpoints(&binance)),
        (Venue::Okx, okx_endpoints(&okx)),
    ] {
        let mut options = options(venue, endpoints);
        options.clock_burst = 3;
        options.clock_sample_every = Duration::from_millis(300);
        let (consumer, feed) = Consumer::start(options);
        consumers.push(consumer);
        feeds.push(feed);
    }
    for (consumer, offset_ms) in consumers.iter_mut().zip([2_500i64, -1_500]) {
        let sample = |k: &VenueEventKind| matches!(k, VenueEventKind::ClockSample { .. });
        consumer
            .until("two clock samples", |c| c.count(sample) >= 2)
            .await;
        for (_, kind) in consumer.signals.iter().filter(|(_, k)| sample(k)) {
            let VenueEventKind::ClockSample { offset_ns, rtt_ns } = *kind else {
                unreachable!()
            };
            let offset_ms_seen = offset_ns as f64 / NANOS_PER_MILLI as f64;
            // Biased to the past: at most the truncated millisecond above the truth,
            // below it by the round trip at most.
            assert!(
                offset_ms_seen <= (offset_ms + 2) as f64
                    && offset_ms_seen >= (offset_ms - 50) as f64,
                "{offset_ms_seen} ms for {offset_ms} ms (rtt {rtt_ns} ns)"
            );
            assert!(rtt_ns > 0 && rtt_ns < 50 * NANOS_PER_MILLI);
        }
    }
    for feed in feeds {
        let stats = feed.stats();
        assert!(
            stats.clock.samples >= 2 && stats.clock.errors == 0,
            "{:?}",
            stats.clock
        );
        feed.shutdown().await;
    }
    binance.shutdown().await;
    okx.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrument_metadata_is_checked_against_the_venue_and_every_mismatch_named() {
    let mut paused = emulator_config(71, 1.0);
    paused.paused = true;
    paused.instruments = Vec::new();
    let binance = binance(paused.clone()).await;
    let okx = okx(paused).await;
    let (binance_rest, okx_rest) = (binance.emulator().http_url(), okx.emulator().http_url());
    let good = config();
    fetch_and_check_instruments(Venue::Binance, &binance_rest, &good)
        .await
        .unwrap();
    fetch_and_check_instruments(Venue::Okx, &okx_rest, &good)
        .await
        .unwrap();

    let mut bad = config();
    let eth = bad.instrument_by_name("ETH-USDT-PERP").unwrap();
    fn listing(config: &mut Config, instrument: InstrumentId, venue: Venue) -> &mut Listing {
        config.instruments[instrument.index()].listings[venue.index()]
            .as_mut()
            .unwrap()
    }
    listing(&mut bad, BTC, Venue::Binance).tick = Price::from_raw(2);
    listing(&mut bad, eth, Venue::Binance).min_qty = Qty::from_raw(2);
    listing(&mut bad, BTC, Venue::Okx).contract_value = Some(Qty::from_raw(200));
    let error = fetch_and_check_instruments(Venue::Binance, &binance_rest, &bad)
        .await
        .unwrap_err();
    let MetadataError::Mismatches { mismatches, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(mismatches.len(), 2, "{error}");
    let text = error.to_string();
    assert!(
        text.contains("binance-um BTCUSDT tick: config 0.2, venue 0.1"),
        "{text}"
    );
    assert!(
        text.contains("binance-um ETHUSDT min quantity: config 0.002, venue 0.001"),
        "{text}"
    );
    let error = fetch_and_check_instruments(Venue::Okx, &okx_rest, &bad)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(
            "okx-swap BTC-USDT-SWAP contract value: config 0.02, venue 0.01 (ctVal 0.01 × ctMult 1)"
        ),
        "{text}"
    );

    assert!(binance.set_status("BTCUSDT", "SETTLING"));
    let error = fetch_and_check_instruments(Venue::Binance, &binance_rest, &good)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("status: config TRADING, venue SETTLING"),
        "{error}"
    );
    let nowhere = fetch_and_check_instruments(Venue::Okx, "http://127.0.0.1:1", &good).await;
    assert!(
        matches!(nowhere, Err(MetadataError::Fetch { .. })),
        "{nowhere:?}"
    );
    binance.shutdown().await;
    okx.shutdown().await;
}

/// A scripted OKX public WebSocket: after the first request of a connection it sends
/// `script`, then a valid snapshot, then answers `ping` with `pong`; on the first
/// connection it finally sends a frame over the hard bound.
async fn scripted_okx(script: Vec<Message>, huge: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for connection in 0.. {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let _subscribe = socket.next().await;
                for message in script {
                    let _ = socket.send(message).await;
                }
                let snapshot = r#"{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"snapshot","data":[{"asks":[["60000.2","3","0","1"]],"bids":[["60000.1","5","0","2"]],"ts":"1700000000000","checksum":0,"seqId":7,"prevSeqId":-1}]}"#;
                let _ = socket.send(Message::text(snapshot)).await;
                if connection == 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let _ = socket.send(Message::text("x".repeat(huge))).await;
                }
                while let Some(Ok(message)) = socket.next().await {
                    if message == Message::text("ping") {
                        let _ = socket.send(Message::text("pong")).await;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_counted_and_forwarded_never_fatal() {
    let bad_number = r#"{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"snapshot","data":[{"asks":[["NaN","1","0","1"]],"bids":[],"ts":"1","checksum":0,"seqId":1,"prevSeqId":-1}]}"#;
    let script = vec![
        Message::text("not json at all"),
        Message::text(bad_number),
        Message::text(r#"{"event":"error","code":"60012","msg":"Invalid request"}"#),
        Message::text(format!(r#"{{"pad":"{}"}}"#, "y".repeat(2_000))),
        Message::binary(vec![1u8, 2, 3]),
        Message::text(r#"{"arg":{"channel":"candle1m","instId":"BTC-USDT-SWAP"},"data":[]}"#),
        Message::text(
            r#"{"arg":{"channel":"books","instId":"NOPE-USDT-SWAP"},"action":"snapshot","data":[]}"#,
        ),
    ];
    let url = scripted_okx(script, 100 << 10).await;
    let endpoints = Endpoints {
        // Nothing listens on port 1: server-time requests fail and are counted.
        rest: "http://127.0.0.1:1".into(),
        ws_public: url,
        ws_market: None,
        ws_private: String::new(),
    };
    let mut options = options(Venue::Okx, endpoints);
    options.frame_bytes_max = 1_000;
    options.clock_burst = 1;
    let (mut consumer, feed) = Consumer::start(options);
    consumer.until("synced", |c| c.synced("public")).await;
    consumer
        .until("the frame over the hard bound", |c| {
            c.state("public")
                .is_some_and(|s| disconnected_because(s, "hard bound"))
        })
        .await;
    consumer.until("synced again", |c| c.synced("public")).await;
    let stats = feed.stats();
    let public = stats.connection("public").unwrap();
    // Per connection: not JSON, NaN, binary, unknown channel, unknown instrument.
    assert_eq!(public.malformed, 10, "{public:?}");
    assert_eq!(
        public.oversized, 3,
        "two refused, one over the hard bound: {public:?}"
    );
    assert_eq!(public.venue_errors, 2, "{public:?}");
    assert_eq!(public.reconnects, 1, "{public:?}");
    let malformed = consumer.count(|k| *k == VenueEventKind::MalformedMessage);
    assert_eq!(malformed, 12, "malformed and refused frames are forwarded");
    assert!(stats.clock.errors >= 1, "{:?}", stats.clock);
    let clock_error = stats.clock.last_error.clone().unwrap_or_default();
    assert!(clock_error.contains("onnection refused"), "{clock_error}");
    feed.shutdown().await;
}

/// A burst of frames (a depth diff and its book ticker, say) used to be parsed to its
/// end, up to tokio's budget of 128 operations, before a consumer on the same thread
/// saw the first of them: the first frame's event waited for all the others. Each
/// frame's events now reach the consumer before the next frame is read.
#[tokio::test] // current-thread: the adapter and its consumer share one thread
async fn each_frame_reaches_the_consumer_before_the_next_is_read() {
    const UPDATES: u64 = 20;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _subscribe = socket.next().await;
        let book = |action: &str, seq: u64, previous: i64, ask_qty: u64| {
            format!(
                r#"{{"arg":{{"channel":"books","instId":"BTC-USDT-SWAP"}},"action":"{action}","data":[{{"asks":[["60000.2","{ask_qty}","0","1"]],"bids":[["60000.1","5","0","2"]],"ts":"1700000000000","checksum":0,"seqId":{seq},"prevSeqId":{previous}}}]}}"#
            )
        };
        // The snapshot and every update written at once: one burst.
        socket
            .feed(Message::text(book("snapshot", 7, -1, 3)))
            .await
            .unwrap();
        for n in 0..UPDATES {
            let seq = 8 + n;
            let update = book("update", seq, seq as i64 - 1, 4 + n);
            socket.feed(Message::text(update)).await.unwrap();
        }
        socket.flush().await.unwrap();
        while let Some(Ok(message)) = socket.next().await {
            if message == Message::text("ping") {
                let _ = socket.send(Message::text("pong")).await;
            }
        }
    });
    let endpoints = Endpoints {
        rest: "http://127.0.0.1:1".into(),
        ws_public: url,
        ws_market: None,
        ws_private: String::new(),
    };
    let (mut consumer, feed) = Consumer::start(options(Venue::Okx, endpoints));
    let read = |feed: &FeedHandle| feed.stats().connection("public").unwrap().messages;
    let mut deltas = 0;
    while deltas < UPDATES {
        let stamped = timeout(WAIT, consumer.rx.recv())
            .await
            .expect("the updates in time")
            .expect("the feed runs");
        let delta = matches!(stamped.event, FeedEvent::Sync(SyncEvent::Delta { .. }));
        consumer.apply(stamped);
        if delta {
            deltas += 1;
            assert_eq!(
                read(&feed),
                1 + deltas,
                "when the engine takes update {deltas}, the adapter has read the snapshot \
                 and {deltas} update(s), no more"
            );
        }
    }
    assert!(consumer.resyncs.is_empty(), "{:?}", consumer.resyncs);
    assert_eq!(consumer.book().last_sequence(), 7 + UPDATES);
    feed.shutdown().await;
    server.abort();
}
