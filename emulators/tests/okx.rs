//! The OKX emulator at its boundary: a real client (tokio-tungstenite, reqwest) on
//! loopback, the production parser and sync machine (`OkxFeed`) and the engine's
//! `Book`. Nothing here reaches the internet.

use futures_util::{SinkExt, StreamExt};
use propbot_emulators::okx::{OkxHandle, serve};
use propbot_emulators::{EmulatorConfig, Limits, Speed};
use propbot_engine::book::{ApplyOutcome, Book, TopOfBook};
use propbot_engine::model::{InstrumentId, Scales, Venue};
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_venues::okx::wire::parse_instruments;
use propbot_venues::okx::{Handled, OkxFeed};
use propbot_venues::{Events, InstrumentSpec, ResyncReason, SyncEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BTC: InstrumentId = InstrumentId(0);
const INST: &str = "BTC-USDT-SWAP";
/// A wall-time bound on every wait, so a broken emulator fails instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

async fn emulator(seed: u64, speed: f64, checksums: bool) -> OkxHandle {
    let mut config = EmulatorConfig::new(Config::embedded(Profile::Paper), seed);
    config.speed = Speed::new(speed).unwrap();
    config.instruments = vec![BTC];
    config.okx_checksums = checksums;
    config.limits = Limits::default();
    serve(config)
        .await
        .expect("the emulator starts on loopback")
}

async fn connect(handle: &OkxHandle) -> Socket {
    let url = format!("{}/ws/v5/public", handle.emulator().ws_url());
    let (socket, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("the emulator accepts the connection");
    socket
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.unwrap();
}

async fn subscribe(socket: &mut Socket, channels: &[&str]) {
    let args: Vec<Value> = channels
        .iter()
        .map(|c| json!({"channel": c, "instId": INST}))
        .collect();
    send(socket, json!({"id": "1", "op": "subscribe", "args": args})).await;
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
    spec: InstrumentSpec,
    feed: OkxFeed,
    book: Book,
    events: Events,
    /// `bbo-tbt` tops by `seqId`, waiting for the update that ends at their id.
    tops: BTreeMap<u64, TopOfBook>,
    bbo_checked: u64,
    resyncs: Vec<ResyncReason>,
    trades: u64,
    controls: Vec<Value>,
}

impl Client {
    fn new() -> Client {
        let config = Config::embedded(Profile::Paper);
        let spec = InstrumentSpec::from_config(&config, Venue::Okx, BTC).unwrap();
        Client {
            book: Book::new(Venue::Okx, BTC, spec.tick, 4096),
            feed: OkxFeed::new(vec![spec.clone()]),
            spec,
            events: Events::new(),
            tops: BTreeMap::new(),
            bbo_checked: 0,
            resyncs: Vec::new(),
            trades: 0,
            controls: Vec::new(),
        }
    }

    fn on_frame(&mut self, text: &str) {
        if text.starts_with(r#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data""#) {
            self.on_bbo(text);
            return;
        }
        match self.feed.on_frame(text, &mut self.events) {
            Ok(Handled::Control) => self.controls.push(serde_json::from_str(text).unwrap()),
            Ok(Handled::Market) => self.apply(),
            Err(e) => panic!("frame {text} does not parse: {e}"),
        }
    }

    /// `bbo-tbt` is not a channel the feed reads; the test reads it to check the book.
    fn on_bbo(&mut self, text: &str) {
        let value: Value = serde_json::from_str(text).unwrap();
        let data = &value["data"][0];
        let side = |name: &str, k: usize| {
            data[name][0][k]
                .as_str()
                .unwrap_or_else(|| panic!("{name}[0][{k}] in {text}"))
                .to_owned()
        };
        let top = TopOfBook {
            bid: self.spec.price(&side("bids", 0)).unwrap(),
            bid_qty: self.spec.size(&side("bids", 1)).unwrap(),
            ask: self.spec.price(&side("asks", 0)).unwrap(),
            ask_qty: self.spec.size(&side("asks", 1)).unwrap(),
        };
        if self.tops.len() < 1024 {
            self.tops.insert(data["seqId"].as_u64().unwrap(), top);
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
                    if let Some(top) = self.tops.get(&last) {
                        assert_eq!(self.book.top(), *top, "bbo-tbt {last} agrees with the book");
                        self.bbo_checked += 1;
                    }
                    self.tops = self.tops.split_off(&last);
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

    async fn read_until(
        &mut self,
        socket: &mut Socket,
        what: &str,
        done: impl Fn(&Client) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "waiting for {what}");
            let text = next_text(socket).await.expect("frames flow");
            self.on_frame(&text);
        }
    }

    async fn read_for(&mut self, socket: &mut Socket, wall: Duration) {
        let until = Instant::now() + wall;
        while Instant::now() < until {
            let text = next_text(socket).await.expect("frames flow");
            self.on_frame(&text);
        }
    }
}

async fn synced_client(handle: &OkxHandle) -> (Socket, Client) {
    let mut socket = connect(handle).await;
    let mut client = Client::new();
    subscribe(&mut socket, &["books", "bbo-tbt", "trades"]).await;
    client
        .read_until(&mut socket, "the first update", |c| {
            c.synced() && c.book.counters.deltas > 0
        })
        .await;
    (socket, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_book_syncs_and_stays_in_sync_with_checksums_verified() {
    let handle = emulator(31, 20.0, true).await;
    let (mut socket, mut client) = synced_client(&handle).await;
    let acks: Vec<&Value> = client
        .controls
        .iter()
        .filter(|c| c["event"] == "subscribe")
        .collect();
    assert_eq!(acks.len(), 3, "one acknowledgement per argument");
    assert_eq!(acks[0]["arg"], json!({"channel": "books", "instId": INST}));
    assert_eq!(acks[0]["id"], "1");
    client.read_for(&mut socket, Duration::from_secs(3)).await;
    assert!(client.resyncs.is_empty(), "{:?}", client.resyncs);
    let counters = client.feed.sync(BTC).unwrap().counters;
    assert!(counters.checksums_verified > 300, "{counters:?}");
    assert!(
        client.bbo_checked > 100,
        "{} bbo-tbt checked",
        client.bbo_checked
    );
    assert!(client.trades > 100, "{} trades", client.trades);

    handle.emulator().pause();
    let published = handle.published_book(INST).unwrap();
    client
        .read_until(&mut socket, "the published book", |c| {
            c.book.last_sequence() == published.last_update_id
        })
        .await;
    assert_eq!(client.book.bids().collect::<Vec<_>>(), published.bids);
    assert_eq!(client.book.asks().collect::<Vec<_>>(), published.asks);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_checksum_resyncs_and_a_new_subscription_heals_it() {
    let handle = emulator(32, 20.0, true).await;
    let (mut socket, mut client) = synced_client(&handle).await;
    assert!(handle.corrupt_next_checksum(INST));
    assert!(!handle.corrupt_next_checksum("NOPE-USDT-SWAP"));
    client
        .read_until(&mut socket, "the mismatch", |c| !c.resyncs.is_empty())
        .await;
    assert_eq!(client.resyncs, [ResyncReason::ChecksumMismatch]);
    assert_eq!(client.feed.needing_snapshot().count(), 1);
    // Resubscribing sends a fresh snapshot and the updates after it.
    send(
        &mut socket,
        json!({"op": "unsubscribe", "args": [{"channel": "books", "instId": INST}]}),
    )
    .await;
    subscribe(&mut socket, &["books"]).await;
    client
        .read_until(&mut socket, "the new snapshot", Client::synced)
        .await;
    client.resyncs.clear();
    client.read_for(&mut socket, Duration::from_secs(1)).await;
    assert!(client.resyncs.is_empty(), "{:?}", client.resyncs);
    assert!(client.controls.iter().any(|c| c["event"] == "unsubscribe"));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_update_is_a_gap_and_a_sequence_reset_is_not() {
    let handle = emulator(33, 20.0, true).await;
    let (mut socket, mut client) = synced_client(&handle).await;
    assert!(handle.reset_sequence(INST, 7));
    client
        .read_until(&mut socket, "the reset", |c| {
            c.feed.sync(BTC).unwrap().counters.sequence_resets == 1
        })
        .await;
    assert!(
        client.book.last_sequence() < 1_000,
        "{}",
        client.book.last_sequence()
    );
    assert!(
        client.resyncs.is_empty(),
        "a reset is accepted: {:?}",
        client.resyncs
    );
    assert!(handle.skip_next_update(INST));
    client
        .read_until(&mut socket, "the gap", |c| !c.resyncs.is_empty())
        .await;
    assert_eq!(client.resyncs, [ResyncReason::Gap]);
    assert_eq!(handle.emulator().counters().diffs_skipped, 1);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checksums_the_books_carry_zero_and_still_sync() {
    let handle = emulator(34, 20.0, false).await;
    let (mut socket, mut client) = synced_client(&handle).await;
    client.read_for(&mut socket, Duration::from_secs(1)).await;
    assert!(client.resyncs.is_empty(), "{:?}", client.resyncs);
    assert_eq!(
        client.feed.sync(BTC).unwrap().counters.checksums_verified,
        0
    );
    assert!(client.book.counters.deltas > 50);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_messages_errors_and_notices() {
    let handle = emulator(35, 5.0, true).await;
    let mut socket = connect(&handle).await;
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(next_text(&mut socket).await.as_deref(), Some("pong"));
    send(
        &mut socket,
        json!({"id": "9", "op": "subscribe", "args": [{"channel": "books", "instId": "NOPE"}]}),
    )
    .await;
    let reply: Value = serde_json::from_str(&next_text(&mut socket).await.unwrap()).unwrap();
    assert_eq!(
        (&reply["event"], &reply["code"], &reply["id"]),
        (&json!("error"), &json!("60018"), &json!("9"))
    );
    socket.send(Message::text("{not json")).await.unwrap();
    let reply: Value = serde_json::from_str(&next_text(&mut socket).await.unwrap()).unwrap();
    assert_eq!(reply["code"], "60012");
    assert!(reply["connId"].as_str().is_some_and(|c| c.len() == 8));
    handle.send_upgrade_notice();
    let reply: Value = serde_json::from_str(&next_text(&mut socket).await.unwrap()).unwrap();
    assert_eq!(
        (&reply["event"], &reply["code"]),
        (&json!("notice"), &json!("64008"))
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_time_and_instruments_as_the_venue_sends_them() {
    let handle = emulator(36, 1.0, true).await;
    let base = handle.emulator().http_url();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    let time: Value = get("/api/v5/public/time")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(time["code"], "0");
    let ts: u64 = time["data"][0]["ts"].as_str().unwrap().parse().unwrap();
    assert!(ts.abs_diff(handle.emulator().now().as_millis()) < 1_000);

    let body = get("/api/v5/public/instruments?instType=SWAP")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let instruments = parse_instruments(&body).unwrap();
    let btc = &instruments.data[0];
    assert_eq!(
        (
            btc.inst_id.as_str(),
            btc.ct_val.as_str(),
            btc.lot_sz.as_str()
        ),
        (INST, "0.01", "0.01")
    );
    assert_eq!((btc.tick_sz.as_str(), btc.state.as_str()), ("0.1", "live"));
    let spec = btc.spec(BTC, Scales { price: 1, qty: 4 }).unwrap();
    let config = Config::embedded(Profile::Paper);
    assert_eq!(
        spec,
        InstrumentSpec::from_config(&config, Venue::Okx, BTC).unwrap()
    );

    let missing = get("/api/v5/public/instruments").await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "50014");
    handle.rate_limit_next(1);
    let limited = get("/api/v5/public/time").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.json::<Value>().await.unwrap()["code"], "50011");
    assert_eq!(get("/api/v5/public/time").await.unwrap().status(), 200);
    handle.shutdown().await;
}
