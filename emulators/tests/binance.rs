//! The Binance emulator at its boundary: a real client (tokio-tungstenite, reqwest)
//! on loopback, the production parser and sync machine (`BinanceFeed`) and the
//! engine's `Book`. Nothing here reaches the internet.

use futures_util::{SinkExt, StreamExt};
use propbot_emulators::binance::{BinanceHandle, serve};
use propbot_emulators::{EmulatorConfig, Limits, Speed};
use propbot_engine::book::{ApplyOutcome, Book, TopOfBook};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_venues::binance::BinanceFeed;
use propbot_venues::binance::wire::parse_exchange_info;
use propbot_venues::{Events, InstrumentSpec, ResyncReason, SyncEvent};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BTC: InstrumentId = InstrumentId(0);
const STREAMS: &str = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@aggTrade";
/// A wall-time bound on every wait, so a broken emulator fails instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

async fn emulator(seed: u64, speed: f64, limits: Limits) -> BinanceHandle {
    let mut config = EmulatorConfig::new(Config::embedded(Profile::Paper), seed);
    config.speed = Speed::new(speed).unwrap();
    config.instruments = vec![BTC];
    config.limits = limits;
    serve(config)
        .await
        .expect("the emulator starts on loopback")
}

async fn connect(handle: &BinanceHandle, path: &str) -> Socket {
    let url = format!("{}{path}", handle.emulator().ws_url());
    let (socket, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("the emulator accepts the connection");
    socket
}

/// The next text frame (pings are answered by tungstenite and skipped).
async fn next_text(socket: &mut Socket) -> Option<String> {
    loop {
        match timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")?
        {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// A client as an adapter will be: the feed, the engine's book, and counts.
struct Client {
    feed: BinanceFeed,
    book: Book,
    events: Events,
    http: reqwest::Client,
    base: String,
    bbo_checked: u64,
    /// Book tickers by update id, waiting for the diff that ends at their id (a book
    /// ticker is real time, the diff comes at the end of its 100 ms window).
    tickers: BTreeMap<u64, TopOfBook>,
    resyncs: Vec<ResyncReason>,
    trades: u64,
}

impl Client {
    fn new(handle: &BinanceHandle) -> Client {
        let config = Config::embedded(Profile::Paper);
        let spec = InstrumentSpec::from_config(&config, Venue::Binance, BTC).unwrap();
        Client {
            book: Book::new(Venue::Binance, BTC, spec.tick, 4096),
            feed: BinanceFeed::new(vec![spec]),
            events: Events::new(),
            http: reqwest::Client::new(),
            base: handle.emulator().http_url(),
            bbo_checked: 0,
            tickers: BTreeMap::new(),
            resyncs: Vec::new(),
            trades: 0,
        }
    }

    async fn snapshot(&mut self) {
        let url = format!("{}/fapi/v1/depth?symbol=BTCUSDT&limit=1000", self.base);
        let body = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        self.feed
            .on_depth_snapshot(BTC, &body, &mut self.events)
            .expect("the snapshot parses");
        self.apply();
    }

    fn on_frame(&mut self, text: &str) {
        self.feed
            .on_frame(text, &mut self.events)
            .unwrap_or_else(|e| panic!("frame {text} does not parse: {e}"));
        self.apply();
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
                    let last = self.book.last_sequence();
                    if let Some(top) = self.tickers.get(&last) {
                        assert_eq!(
                            self.book.top(),
                            *top,
                            "bookTicker {last} agrees with the book"
                        );
                        assert!(self.book.check_bbo(now, last, *top));
                        self.bbo_checked += 1;
                    }
                    self.tickers = self.tickers.split_off(&last);
                }
                SyncEvent::Bbo {
                    update_id: Some(id),
                    top,
                    ..
                } => {
                    if self.tickers.len() < 1024 {
                        self.tickers.insert(*id, *top);
                    }
                }
                SyncEvent::Resync { reason, .. } => {
                    self.resyncs.push(*reason);
                    self.book.invalidate(now, reason.invalid_reason());
                }
                SyncEvent::Trade { .. } => self.trades += 1,
                SyncEvent::Bbo { .. } => {}
            }
        }
        self.events.clear();
    }

    fn synced(&self) -> bool {
        self.book.is_valid() && !self.feed.sync(BTC).unwrap().needs_snapshot()
    }

    /// Buffers a few frames, takes the snapshot, and reads until the book is live.
    async fn sync(&mut self, socket: &mut Socket) {
        for _ in 0..3 {
            let text = next_text(socket).await.expect("frames flow");
            self.on_frame(&text);
        }
        self.snapshot().await;
        let deadline = Instant::now() + WAIT;
        while !self.synced() || self.book.counters.deltas == 0 {
            assert!(Instant::now() < deadline, "the book syncs");
            let text = next_text(socket).await.expect("frames flow");
            self.on_frame(&text);
        }
    }

    /// Reads frames for `wall` of wall time.
    async fn read_for(&mut self, socket: &mut Socket, wall: Duration) {
        let until = Instant::now() + wall;
        while Instant::now() < until {
            let text = next_text(socket).await.expect("frames flow");
            self.on_frame(&text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_book_syncs_and_stays_in_sync_with_the_venue() {
    let handle = emulator(7, 20.0, Limits::default()).await;
    let mut socket = connect(&handle, &format!("/stream?streams={STREAMS}")).await;
    let mut client = Client::new(&handle);
    client.sync(&mut socket).await;
    let started = handle.emulator().now();
    // Three wall seconds at speed 20: a minute of market.
    client.read_for(&mut socket, Duration::from_secs(3)).await;
    let market_seconds = handle.emulator().now().nanos_since(started) / 1_000_000_000;
    assert!(market_seconds >= 50, "{market_seconds} s of market");
    assert!(client.resyncs.is_empty(), "{:?}", client.resyncs);
    assert!(
        client.book.counters.deltas > 300,
        "{:?}",
        client.book.counters
    );
    assert!(
        client.bbo_checked > 100,
        "{} book tickers checked",
        client.bbo_checked
    );
    assert!(client.trades > 100, "{} trades", client.trades);

    // At rest, the client's book is the venue's, level for level.
    handle.emulator().pause();
    let published = handle.published_book("BTCUSDT").unwrap();
    while client.book.last_sequence() < published.last_update_id {
        let text = next_text(&mut socket).await.expect("frames flow");
        client.on_frame(&text);
    }
    assert_eq!(client.book.last_sequence(), published.last_update_id);
    assert_eq!(client.book.bids().collect::<Vec<_>>(), published.bids);
    assert_eq!(client.book.asks().collect::<Vec<_>>(), published.asks);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_diff_is_a_gap_and_a_new_snapshot_heals_it() {
    let handle = emulator(8, 20.0, Limits::default()).await;
    let mut socket = connect(&handle, &format!("/stream?streams={STREAMS}")).await;
    let mut client = Client::new(&handle);
    client.sync(&mut socket).await;
    assert!(handle.skip_next_diff("BTCUSDT"));
    assert!(!handle.skip_next_diff("NOPEUSDT"));
    let deadline = Instant::now() + WAIT;
    while client.resyncs.is_empty() {
        assert!(Instant::now() < deadline, "the gap is seen");
        let text = next_text(&mut socket).await.expect("frames flow");
        client.on_frame(&text);
    }
    assert_eq!(client.resyncs, [ResyncReason::Gap]);
    assert_eq!(handle.emulator().counters().diffs_skipped, 1);
    assert_eq!(client.feed.needing_snapshot().count(), 1);
    client.snapshot().await;
    client.resyncs.clear();
    client.read_for(&mut socket, Duration::from_secs(1)).await;
    assert!(client.synced(), "a new snapshot heals the gap");
    assert!(client.resyncs.is_empty(), "{:?}", client.resyncs);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_end_without_a_close_frame_and_reconnect() {
    let handle = emulator(9, 10.0, Limits::default()).await;
    let mut socket = connect(&handle, &format!("/stream?streams={STREAMS}")).await;
    assert!(next_text(&mut socket).await.is_some());
    handle.emulator().drop_connections();
    let ended = loop {
        match timeout(WAIT, socket.next()).await.expect("the socket ends") {
            Some(Ok(Message::Text(_) | Message::Ping(_))) => continue,
            other => break other,
        }
    };
    assert!(
        !matches!(ended, Some(Ok(Message::Close(_)))),
        "no close frame: {ended:?}"
    );
    assert_eq!(handle.emulator().counters().connections_dropped, 1);
    let mut again = connect(&handle, &format!("/stream?streams={STREAMS}")).await;
    assert!(
        next_text(&mut again).await.is_some(),
        "a new connection works"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_keeps_the_socket_silent_then_resumes_with_a_gap() {
    let handle = emulator(10, 20.0, Limits::default()).await;
    let mut socket = connect(&handle, &format!("/stream?streams={STREAMS}")).await;
    let mut client = Client::new(&handle);
    client.sync(&mut socket).await;
    handle.emulator().stall(true);
    // Drain what was already in flight, then nothing comes.
    let silent = loop {
        match timeout(Duration::from_millis(500), socket.next()).await {
            Err(_) => break true,
            Ok(Some(Ok(Message::Text(text)))) => client.on_frame(&text),
            Ok(_) => break false,
        }
    };
    assert!(silent, "a stalled socket stays open and silent");
    handle.emulator().stall(false);
    let deadline = Instant::now() + WAIT;
    while client.resyncs.is_empty() {
        assert!(Instant::now() < deadline, "the gap after the stall is seen");
        let text = next_text(&mut socket).await.expect("frames flow again");
        client.on_frame(&text);
    }
    assert_eq!(client.resyncs, [ResyncReason::Gap]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_with_the_venue_shapes() {
    let handle = emulator(11, 1.0, Limits::default()).await;
    let base = handle.emulator().http_url();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let info = get("/fapi/v1/exchangeInfo").await.unwrap();
    assert_eq!(info.headers()["x-mbx-used-weight-1m"], "1");
    let info = parse_exchange_info(&info.text().await.unwrap()).unwrap();
    let btc = &info.symbols[0];
    assert_eq!(
        (
            btc.symbol.as_str(),
            btc.status.as_str(),
            btc.contract_type.as_str()
        ),
        ("BTCUSDT", "TRADING", "PERPETUAL")
    );
    assert_eq!(
        (btc.tick_size(), btc.step_size(), btc.min_qty()),
        (Some("0.1"), Some("0.001"), Some("0.001"))
    );

    let depth = get("/fapi/v1/depth?symbol=BTCUSDT&limit=5").await.unwrap();
    assert_eq!(depth.headers()["x-mbx-used-weight-1m"], "3", "1 + weight 2");
    let depth: serde_json::Value = depth.json().await.unwrap();
    assert_eq!(depth["bids"].as_array().unwrap().len(), 5);
    assert!(depth["lastUpdateId"].as_u64().unwrap() > u64::from(u32::MAX));
    assert!(
        depth["bids"][0][0].as_str().unwrap().contains('.'),
        "prices are strings"
    );

    let bad = get("/fapi/v1/depth?symbol=NOPE").await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["code"],
        -1121
    );
    let bad = get("/fapi/v1/depth?symbol=BTCUSDT&limit=7").await.unwrap();
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["code"],
        -1130
    );
    let bad = get("/fapi/v1/depth").await.unwrap();
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["code"],
        -1102
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_rate_limits_and_bans_answer_as_the_venue_does() {
    let handle = emulator(16, 1.0, Limits::default()).await;
    let base = handle.emulator().http_url();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    handle.rate_limit_next(1);
    let limited = get("/fapi/v1/time").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert!(limited.headers().contains_key("x-mbx-used-weight-1m"));
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["code"], -1003);
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests")
    );
    assert_eq!(
        get("/fapi/v1/time").await.unwrap().status(),
        200,
        "one request only"
    );

    handle.ban_for(Duration::from_secs(120));
    let banned = get("/fapi/v1/time").await.unwrap();
    assert_eq!(banned.status(), 418);
    let retry: u64 = banned.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((119..=120).contains(&retry), "{retry}");
    let body: serde_json::Value = banned.json().await.unwrap();
    assert!(body["msg"].as_str().unwrap().contains("banned until"));
    handle.lift_ban();
    assert_eq!(get("/fapi/v1/time").await.unwrap().status(), 200);
    assert_eq!(handle.emulator().counters().rest_rejected, 2);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_offset_and_slow_snapshots() {
    let handle = emulator(12, 1.0, Limits::default()).await;
    let base = handle.emulator().http_url();
    let http = reqwest::Client::new();
    handle.emulator().set_time_offset_ms(-2_500);
    let body: serde_json::Value = http
        .get(format!("{base}/fapi/v1/time"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let server_ms = body["serverTime"].as_u64().unwrap();
    let market_ms = handle.emulator().now().as_millis();
    let behind = market_ms as i64 - server_ms as i64;
    assert!((2_400..=2_600).contains(&behind), "{behind} ms behind");

    handle.delay_snapshots(Duration::from_millis(400));
    let asked = Instant::now();
    let depth = http
        .get(format!("{base}/fapi/v1/depth?symbol=BTCUSDT&limit=10"))
        .send()
        .await
        .unwrap();
    assert!(asked.elapsed() >= Duration::from_millis(400));
    assert_eq!(depth.status(), 200);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_subscriptions_and_request_errors() {
    let handle = emulator(13, 10.0, Limits::default()).await;
    let mut socket = connect(&handle, "/stream").await;
    let mut request = async |text: &str| {
        socket.send(Message::text(text)).await.unwrap();
        let reply = loop {
            let text = next_text(&mut socket).await.expect("a reply");
            // Market frames of an earlier subscription may come first.
            if !text.starts_with("{\"stream\"") {
                break text;
            }
        };
        serde_json::from_str::<serde_json::Value>(&reply).unwrap()
    };
    let reply = request(r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1}"#).await;
    assert_eq!(reply, serde_json::json!({"result": null, "id": 1}));
    let reply = request(r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#).await;
    assert_eq!(
        reply,
        serde_json::json!({"result": ["btcusdt@aggTrade"], "id": 3})
    );
    let reply = request(r#"{"method":"SUBSCRIBE","params":["nope@aggTrade"],"id":4}"#).await;
    assert_eq!(reply["error"]["code"], 2);
    let reply = request(r#"{"method":"FROB","id":5}"#).await;
    assert_eq!(reply["error"]["code"], 2);
    let reply = request("{not json").await;
    assert_eq!(reply["error"]["code"], 3);
    let frame = loop {
        let text = next_text(&mut socket).await.expect("trades flow");
        if text.starts_with("{\"stream\"") {
            break text;
        }
    };
    assert!(
        frame.starts_with(r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade""#),
        "{frame}"
    );
    let refused = tokio_tungstenite::connect_async(format!(
        "{}/stream?streams=nope@depth@100ms",
        handle.emulator().ws_url()
    ))
    .await;
    assert!(refused.is_err(), "an unknown stream is refused");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_floods_requests_is_disconnected() {
    let handle = emulator(14, 1.0, Limits::default()).await;
    let mut socket = connect(&handle, "/stream").await;
    for id in 0..12 {
        let text = format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{id}}}"#);
        if socket.send(Message::text(text)).await.is_err() {
            break;
        }
    }
    let mut replies = 0;
    while next_text(&mut socket).await.is_some() {
        replies += 1;
    }
    assert_eq!(replies, 10, "ten messages a second, then the door");
    assert_eq!(
        handle.emulator().counters().clients_disconnected_for_abuse,
        1
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected_not_buffered() {
    let limits = Limits {
        send_timeout: Duration::from_millis(200),
        write_buffer_max: 64 << 10,
        ..Limits::default()
    };
    let handle = emulator(15, 500.0, limits).await;
    let socket = connect(&handle, &format!("/stream?streams={STREAMS}")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.emulator().counters().slow_clients_disconnected == 0 {
        assert!(Instant::now() < deadline, "the slow client is dropped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(handle.emulator().connections(), 0);
    drop(socket);
    handle.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_depth_snapshot_at_the_same_market_time() {
    let start = UnixNanos::from_secs(1_700_000_000);
    let body = async |seed| {
        let mut config = EmulatorConfig::new(Config::embedded(Profile::Paper), seed);
        config.start = Some(start);
        config.paused = true;
        let handle = serve(config).await.unwrap();
        let url = format!(
            "{}/fapi/v1/depth?symbol=ETHUSDT&limit=20",
            handle.emulator().http_url()
        );
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        handle.shutdown().await;
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        // `E` is the venue clock now; the book itself is the seed's.
        value["E"] = serde_json::Value::Null;
        value
    };
    let a = body(21).await;
    assert_eq!(a, body(21).await);
    assert_ne!(a, body(22).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_pings_disconnect_and_connections_expire() {
    let limits = Limits {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(300),
        connection_lifetime: Duration::from_millis(1_500),
        ..Limits::default()
    };
    let handle = emulator(17, 1.0, limits).await;
    // A client that reads answers every ping (tungstenite does) and lives its lifetime;
    // one that never reads leaves them unanswered.
    let mut reading = connect(&handle, "/stream").await;
    let silent = connect(&handle, "/stream").await;
    let begun = Instant::now();
    let ended = loop {
        match timeout(WAIT, reading.next()).await.expect("the cut comes") {
            Some(Ok(Message::Ping(_))) => continue,
            other => break other,
        }
    };
    assert!(!matches!(ended, Some(Ok(Message::Close(_)))), "{ended:?}");
    assert!(begun.elapsed() >= Duration::from_millis(1_400));
    let counters = handle.emulator().counters();
    assert_eq!(counters.connections_expired, 1, "{counters:?}");
    assert_eq!(
        counters.unresponsive_clients_disconnected, 1,
        "{counters:?}"
    );
    drop(silent);
    handle.shutdown().await;
}
