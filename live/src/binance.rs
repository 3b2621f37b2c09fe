//! Binance USDⓈ-M market data over combined streams (`../shared/VENUES.md` §1.1–1.4).
//!
//! The `public` connection carries `<symbol>@depth@100ms` and `<symbol>@bookTicker`;
//! the `market` connection `<symbol>@aggTrade` (or `public` carries all three when the
//! endpoints name no market route). Diffs are buffered by [`BinanceFeed`] until a REST
//! snapshot (`GET /fapi/v1/depth`) is applied; a snapshot is asked for once a book has
//! a buffered diff (so the snapshot falls inside the buffered window), one at a time,
//! at most one per `snapshot_spacing`, after the `Retry-After` of a 429 or the end of a
//! 418 ban, and never while the minute's used weight is above 90 % of the budget.

use crate::conn::{self, Due, End, Liveness, ResyncRequests, Stop, error_kind, on_read, stopped};
use crate::event::{FeedEvent, LinkState};
use crate::options::FeedOptions;
use crate::transport::{self, HttpError, Reply, Socket};
use futures_util::StreamExt;
use propbot_engine::input::VenueEventKind;
use propbot_engine::model::InstrumentId;
use propbot_engine::time::{NANOS_PER_MINUTE, UnixNanos};
use propbot_venues::binance::BinanceFeed;
use propbot_venues::{Events, InstrumentSpec, ResyncReason};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Streams of the high-frequency `/public` route.
pub(crate) const PUBLIC_CHANNELS: [&str; 2] = ["depth@100ms", "bookTicker"];
/// Streams of the regular `/market` route.
pub(crate) const MARKET_CHANNELS: [&str; 1] = ["aggTrade"];

type SnapshotTask = JoinHandle<Result<Reply, HttpError>>;

/// The REST snapshots of one connection: at most one in flight, and when the next may
/// start.
#[derive(Debug, Default)]
struct Snapshots {
    in_flight: Option<(InstrumentId, SnapshotTask)>,
    not_before: Option<Instant>,
    failures: u32,
}

impl Snapshots {
    /// The first book that waits for a snapshot and has a diff buffered.
    fn candidate(feed: &BinanceFeed) -> Option<&InstrumentSpec> {
        feed.needing_snapshot()
            .find(|s| feed.sync(s.instrument).is_some_and(|d| d.buffered() > 0))
    }

    /// When a snapshot that must wait may start, if one waits.
    fn deadline(&self, feed: &BinanceFeed) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        Self::candidate(feed)?;
        self.not_before.filter(|t| *t > Instant::now())
    }

    /// Pushes the next start back by `wait` at least.
    fn hold(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
    }

    fn abort(&mut self) {
        if let Some((_, task)) = self.in_flight.take() {
            task.abort();
        }
    }
}

/// One Binance connection.
#[derive(Debug)]
pub(crate) struct BinanceSession {
    feed: BinanceFeed,
    events: Events,
    /// Whether this connection carries the books (and so fetches snapshots).
    books: bool,
    url: String,
    rest: String,
    http: reqwest::Client,
    snapshots: Snapshots,
    requests: Option<Arc<ResyncRequests>>,
}

impl BinanceSession {
    /// A connection to the route `base` for `channels` of every instrument of
    /// `options`; `requests` is given to the connection that carries the books.
    pub fn new(
        options: &FeedOptions,
        base: &str,
        channels: &[&str],
        http: reqwest::Client,
        requests: Option<Arc<ResyncRequests>>,
    ) -> BinanceSession {
        let streams: Vec<String> = options
            .instruments
            .iter()
            .flat_map(|spec| {
                let symbol = spec.symbol.to_lowercase();
                channels.iter().map(move |c| format!("{symbol}@{c}"))
            })
            .collect();
        BinanceSession {
            feed: BinanceFeed::new(options.instruments.clone()),
            events: Events::new(),
            books: channels.iter().any(|c| c.starts_with("depth")),
            url: format!(
                "{}/stream?streams={}",
                base.trim_end_matches('/'),
                streams.join("/")
            ),
            rest: options.endpoints.rest.trim_end_matches('/').to_owned(),
            http,
            snapshots: Snapshots::default(),
            requests,
        }
    }

    /// The combined-stream URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Reads the socket until it ends; every book starts unsynced.
    pub async fn run(&mut self, link: &mut conn::Link, socket: &mut Socket) -> End {
        let mut liveness = Liveness::new(&link.options);
        if let Err(stop) = self.refresh_state(link).await {
            return stop.into();
        }
        loop {
            self.start_snapshot(link);
            let mut wake = liveness.deadline(&link.options);
            if let Some(t) = self.snapshots.deadline(&self.feed) {
                wake = wake.min(t);
            }
            let requests = self.requests.clone();
            let step = tokio::select! {
                biased;
                () = stopped(&mut link.emitter.shutdown) => Err(End::Shutdown),
                read = socket.next() => match on_read(link, &mut liveness, read).await {
                    Ok(Some((text, received))) => self.on_text(link, &text, received).await.map_err(End::from),
                    Ok(None) => Ok(()),
                    Err(end) => Err(end),
                },
                done = join(&mut self.snapshots.in_flight), if self.snapshots.in_flight.is_some() => {
                    self.on_snapshot(link, done).await.map_err(End::from)
                }
                () = conn::notified(requests.as_deref()) => self.on_requests(link).await.map_err(End::from),
                () = tokio::time::sleep_until(wake) => match liveness.due(&link.options) {
                    Due::Nothing => Ok(()),
                    Due::Ping => conn::send(socket, Message::Ping(Default::default()), link.options.pong_timeout).await,
                    Due::End(end) => Err(end),
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// The socket is gone: every synced book resyncs (`Reset`); a snapshot in flight
    /// is dropped (its diffs are gone), rate-limit waits are kept.
    pub async fn reset(&mut self, link: &mut conn::Link) -> Result<(), Stop> {
        self.snapshots.abort();
        self.feed.reset(&mut self.events);
        let received = link.now();
        link.forward(received, &mut self.events).await
    }

    async fn on_text(
        &mut self,
        link: &mut conn::Link,
        text: &str,
        received: UnixNanos,
    ) -> Result<(), Stop> {
        if let Err(e) = self.feed.on_frame(text, &mut self.events) {
            link.malformed(received, error_kind(&e), &e.to_string(), false)
                .await?;
        }
        link.forward(received, &mut self.events).await?;
        self.bound_buffers(link, received).await?;
        self.refresh_state(link).await
    }

    /// A book whose buffer reached `buffer_max` starts buffering afresh.
    async fn bound_buffers(
        &mut self,
        link: &mut conn::Link,
        received: UnixNanos,
    ) -> Result<(), Stop> {
        let max = link.options.buffer_max.max(1);
        let full: Vec<InstrumentId> = self
            .feed
            .needing_snapshot()
            .filter(|s| {
                self.feed
                    .sync(s.instrument)
                    .is_some_and(|d| d.buffered() >= max)
            })
            .map(|s| s.instrument)
            .collect();
        for instrument in full {
            self.feed
                .reset_instrument(instrument, ResyncReason::BufferOverflow, &mut self.events);
            let detail = format!(
                "instrument {}: {max} diffs buffered without a snapshot; buffering afresh",
                instrument.0
            );
            link.note("buffer overflow", &detail);
        }
        link.forward(received, &mut self.events).await
    }

    /// `Synced` when every book is, `Connected` otherwise; a connection without books
    /// is synced as soon as it is connected.
    async fn refresh_state(&mut self, link: &mut conn::Link) -> Result<(), Stop> {
        let synced = !self.books || self.feed.needing_snapshot().next().is_none();
        let state = if synced {
            LinkState::Synced
        } else {
            LinkState::Connected
        };
        link.set_state(state).await
    }

    /// Starts the next snapshot request if one is due and allowed.
    fn start_snapshot(&mut self, link: &conn::Link) {
        let now = Instant::now();
        if !self.books
            || self.snapshots.in_flight.is_some()
            || self.snapshots.not_before.is_some_and(|t| t > now)
        {
            return;
        }
        let Some(spec) = Snapshots::candidate(&self.feed) else {
            return;
        };
        let url = format!(
            "{}/fapi/v1/depth?symbol={}&limit={}",
            self.rest, spec.symbol, link.options.snapshot_depth
        );
        let http = self.http.clone();
        let body_max = link.options.rest_body_bytes_max;
        let task = tokio::spawn(async move { transport::get(&http, &url, body_max).await });
        self.snapshots.in_flight = Some((spec.instrument, task));
        self.snapshots.not_before = Some(now + link.options.snapshot_spacing);
    }

    async fn on_snapshot(
        &mut self,
        link: &mut conn::Link,
        (instrument, joined): (InstrumentId, Result<Result<Reply, HttpError>, JoinError>),
    ) -> Result<(), Stop> {
        let received = link.now();
        let reply = match joined {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                let asked = link.http_error(&error).await?;
                self.snapshot_failed(link, asked);
                return Ok(());
            }
            Err(joined) => {
                link.note("snapshot task", &joined.to_string());
                self.snapshot_failed(link, None);
                return Ok(());
            }
        };
        if let Some(weight_used) = reply.used_weight {
            let usage = VenueEventKind::RateLimitUsage {
                weight_used,
                orders_used: 0,
            };
            link.emit(received, FeedEvent::Venue(usage)).await?;
            if u64::from(weight_used) * 10 > u64::from(link.options.weight_per_minute) * 9 {
                // Wait for the next minute (of our clock: the venue's is close).
                let into_minute = received.0 % NANOS_PER_MINUTE;
                self.snapshots
                    .hold(Duration::from_nanos(NANOS_PER_MINUTE - into_minute));
            }
        }
        match self
            .feed
            .on_depth_snapshot(instrument, &reply.body, &mut self.events)
        {
            Ok(()) => self.snapshots.failures = 0,
            Err(e) => {
                let detail = format!("depth snapshot: {e}");
                link.malformed(received, error_kind(&e), &detail, false)
                    .await?;
                self.snapshot_failed(link, None);
            }
        }
        link.forward(received, &mut self.events).await?;
        self.refresh_state(link).await
    }

    /// Backs off after a failed snapshot: what the venue asked, or the reconnection
    /// back-off by consecutive failures.
    fn snapshot_failed(&mut self, link: &mut conn::Link, asked: Option<Duration>) {
        let wait = asked.unwrap_or_else(|| {
            link.options
                .reconnect
                .delay(self.snapshots.failures, &mut link.jitter)
        });
        self.snapshots.failures = self.snapshots.failures.saturating_add(1);
        self.snapshots.hold(wait);
    }

    /// Resyncs asked for by the handle; a book already waiting for its snapshot is
    /// left alone.
    async fn on_requests(&mut self, link: &mut conn::Link) -> Result<(), Stop> {
        let Some(requests) = &self.requests else {
            return Ok(());
        };
        for instrument in requests.take() {
            let synced = self
                .feed
                .sync(instrument)
                .is_some_and(|s| !s.needs_snapshot());
            if synced {
                self.feed
                    .reset_instrument(instrument, ResyncReason::Reset, &mut self.events);
            }
        }
        let received = link.now();
        link.forward(received, &mut self.events).await?;
        self.refresh_state(link).await
    }
}

/// Waits for the snapshot in flight, then empties the slot.
async fn join(
    slot: &mut Option<(InstrumentId, SnapshotTask)>,
) -> (InstrumentId, Result<Result<Reply, HttpError>, JoinError>) {
    let Some((instrument, task)) = slot else {
        return std::future::pending().await;
    };
    let joined = task.await;
    let instrument = *instrument;
    *slot = None;
    (instrument, joined)
}
