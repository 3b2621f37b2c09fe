//! What every connection shares whatever its venue: the emitter to the sink, the
//! counters, the rate-limited log, the liveness timers, the reconnection loop and the
//! handling of a venue's REST refusals.

use crate::binance::BinanceSession;
use crate::event::{FeedEvent, LinkState, Stamped};
use crate::okx::OkxSession;
use crate::options::{FeedOptions, Jitter};
use crate::stats::{LogGate, Shared};
use crate::transport::{self, HttpError, Socket};
use propbot_engine::input::VenueEventKind;
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use propbot_venues::{Events, SyncEvent};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// The feed is stopping: the handle asked, or the sink is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stop;

/// Sends stamped events to the sink, giving up when the feed is shut down.
#[derive(Clone, Debug)]
pub(crate) struct Emitter {
    pub venue: Venue,
    pub sink: mpsc::Sender<Stamped>,
    pub shutdown: watch::Receiver<bool>,
    pub clock: crate::options::WallClock,
}

impl Emitter {
    /// The wall clock now.
    pub fn now(&self) -> UnixNanos {
        (self.clock)()
    }

    /// Sends one event; waits while the sink is full (back-pressure), unless the feed
    /// is shut down meanwhile.
    pub async fn emit(&mut self, received: UnixNanos, event: FeedEvent) -> Result<(), Stop> {
        let stamped = Stamped {
            received,
            venue: self.venue,
            event,
        };
        tokio::select! {
            biased;
            _ = self.shutdown.wait_for(|stop| *stop) => Err(Stop),
            sent = self.sink.send(stamped) => sent.map_err(|_| Stop),
        }
    }

    /// Sleeps for `wait`, unless the feed is shut down meanwhile.
    pub async fn sleep(&mut self, wait: Duration) -> Result<(), Stop> {
        tokio::select! {
            biased;
            _ = self.shutdown.wait_for(|stop| *stop) => Err(Stop),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Whether the feed is shutting down (or its handle is gone).
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    /// Forwards what a REST refusal means for the engine (`RateLimited`, `Banned`) and
    /// returns how long the venue asked us to wait, if it did.
    pub async fn refusal(&mut self, error: &HttpError) -> Result<Option<Duration>, Stop> {
        let received = self.now();
        match error {
            HttpError::RateLimited { retry_after, .. } => {
                let retry_after_ns = retry_after.map(|d| d.as_nanos() as u64);
                self.emit(
                    received,
                    FeedEvent::Venue(VenueEventKind::RateLimited { retry_after_ns }),
                )
                .await?;
                Ok(*retry_after)
            }
            HttpError::Banned {
                until, retry_after, ..
            } => {
                // Without either hint, assume the shortest ban Binance gives (2 minutes).
                let wait = retry_after.unwrap_or(Duration::from_secs(120));
                let until = until.unwrap_or(received.plus_nanos(wait.as_nanos() as u64));
                self.emit(received, FeedEvent::Venue(VenueEventKind::Banned { until }))
                    .await?;
                let remaining = Duration::from_nanos(until.0.saturating_sub(received.0));
                Ok(Some(remaining.max(wait)))
            }
            _ => Ok(None),
        }
    }
}

/// Resync requests from the handle, waiting for the connection that carries books.
/// Bounded by the instrument count (a request already pending is not added again).
#[derive(Debug)]
pub(crate) struct ResyncRequests {
    pending: Mutex<Vec<InstrumentId>>,
    max: usize,
    pub notify: Notify,
}

impl ResyncRequests {
    pub fn new(max: usize) -> ResyncRequests {
        ResyncRequests {
            pending: Mutex::new(Vec::new()),
            max,
            notify: Notify::new(),
        }
    }

    /// Asks for a fresh book of `instrument`.
    pub fn request(&self, instrument: InstrumentId) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.contains(&instrument) || pending.len() >= self.max {
                return;
            }
            pending.push(instrument);
        }
        self.notify.notify_one();
    }

    /// Takes the pending requests.
    pub fn take(&self) -> Vec<InstrumentId> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One connection's side of the feed: its name, counters, log, jitter and last state.
#[derive(Debug)]
pub(crate) struct Link {
    pub name: &'static str,
    pub index: usize,
    pub options: Arc<FeedOptions>,
    pub emitter: Emitter,
    pub stats: Arc<Shared>,
    pub tls: Arc<rustls::ClientConfig>,
    pub jitter: Jitter,
    pub log: LogGate,
    pub state: LinkState,
    /// Whether the current connection has been `Synced` (the back-off restarts then).
    pub synced_this_connection: bool,
}

impl Link {
    /// The wall clock now.
    pub fn now(&self) -> UnixNanos {
        self.emitter.now()
    }

    /// Sends one event.
    pub async fn emit(&mut self, received: UnixNanos, event: FeedEvent) -> Result<(), Stop> {
        self.emitter.emit(received, event).await
    }

    /// Records and announces a new state (nothing if it is the current one).
    pub async fn set_state(&mut self, state: LinkState) -> Result<(), Stop> {
        if self.state == state {
            return Ok(());
        }
        self.state = state.clone();
        self.synced_this_connection |= state == LinkState::Synced;
        let shown = state.clone();
        self.stats.update(self.index, |s| s.state = shown);
        let received = self.now();
        let connection = self.name;
        self.emit(received, FeedEvent::Link { connection, state })
            .await
    }

    /// Forwards the events a sync machine pushed, counting snapshots and resyncs, then
    /// lets the consumer run.
    pub async fn forward(&mut self, received: UnixNanos, events: &mut Events) -> Result<(), Stop> {
        if events.is_empty() {
            return Ok(());
        }
        let taken = events.take();
        let resyncs = taken
            .iter()
            .filter(|e| matches!(e, SyncEvent::Resync { .. }))
            .count() as u64;
        let snapshots = taken
            .iter()
            .filter(|e| matches!(e, SyncEvent::Snapshot { .. }))
            .count() as u64;
        if resyncs + snapshots > 0 {
            self.stats.update(self.index, |s| {
                s.resyncs += resyncs;
                s.snapshots += snapshots;
            });
        }
        for event in taken {
            if let SyncEvent::Resync {
                instrument, reason, ..
            } = &event
            {
                tracing::debug!(venue = %self.emitter.venue, connection = self.name,
                    instrument = instrument.0, reason = reason.name(), "book resync");
            }
            self.emit(received, FeedEvent::Sync(event)).await?;
        }
        // Let the consumer take these events before the next frame is parsed. On a
        // thread shared with the engine (a current-thread runtime, a busy worker) a
        // burst of frames would otherwise be parsed to its end, up to tokio's budget of
        // 128 operations, while the first frame's event waits: at 5,000 frames/s the
        // receive -> engine p99 was 167 µs (Binance) and 388 µs (OKX), with up to 67
        // events queued behind one (`cargo bench -p propbot-live`, REPORT.md).
        tokio::task::yield_now().await;
        Ok(())
    }

    /// Records an error as the connection's last and logs it (rate-limited per kind).
    pub fn note(&mut self, kind: &'static str, detail: &str) {
        let last = format!("{kind}: {detail}");
        self.stats.update(self.index, |s| s.last_error = Some(last));
        if let Some(suppressed) = self.log.admit(kind) {
            tracing::warn!(venue = %self.emitter.venue, connection = self.name, kind,
                suppressed, "{detail}");
        }
    }

    /// A frame that could not be used: counted, logged, and forwarded to the engine as
    /// `MalformedMessage`.
    pub async fn malformed(
        &mut self,
        received: UnixNanos,
        kind: &'static str,
        detail: &str,
        oversized: bool,
    ) -> Result<(), Stop> {
        self.stats.update(self.index, |s| {
            if oversized {
                s.oversized += 1;
            } else {
                s.malformed += 1;
            }
        });
        self.note(kind, detail);
        self.emit(received, FeedEvent::Venue(VenueEventKind::MalformedMessage))
            .await
    }

    /// A REST request failed: counted, logged, and its refusal forwarded. Returns the
    /// wait the venue asked for, if any.
    pub async fn http_error(&mut self, error: &HttpError) -> Result<Option<Duration>, Stop> {
        let refused = matches!(
            error,
            HttpError::RateLimited { .. } | HttpError::Banned { .. }
        );
        self.stats.update(self.index, |s| {
            s.http_errors += 1;
            s.rate_limited += u64::from(refused);
        });
        self.note(error.kind(), &error.to_string());
        self.emitter.refusal(error).await
    }
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The feed is stopping.
    Shutdown,
    /// The socket failed or fell silent: reconnect after the back-off.
    Lost(String),
    /// A planned reconnection (lifetime, the venue's notice): reconnect at once.
    Planned(String),
}

impl From<Stop> for End {
    fn from(_: Stop) -> End {
        End::Shutdown
    }
}

/// The liveness timers of one connection: silence, ping and pong, lifetime.
///
/// Silence is measured on data (text frames: market data, replies, OKX's `pong`):
/// a venue whose gateway still answers WebSocket pings while its data has stopped is
/// dead to us. Pings go out when nothing (data or control) arrived for `ping_every`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Liveness {
    last_data: Instant,
    last_activity: Instant,
    ping_sent: Option<Instant>,
    lifetime_end: Instant,
}

/// What the liveness timers ask for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    Ping,
    End(End),
}

impl Liveness {
    pub fn new(options: &FeedOptions) -> Liveness {
        let now = Instant::now();
        Liveness {
            last_data: now,
            last_activity: now,
            ping_sent: None,
            lifetime_end: now + options.connection_lifetime,
        }
    }

    /// A data frame arrived.
    pub fn on_data(&mut self) {
        self.last_data = Instant::now();
        self.last_activity = self.last_data;
    }

    /// A control frame (ping, pong) arrived.
    pub fn on_control(&mut self) {
        self.last_activity = Instant::now();
    }

    /// The answer to our ping arrived.
    pub fn on_pong(&mut self) {
        self.ping_sent = None;
        self.on_control();
    }

    /// When to look at the timers next.
    pub fn deadline(&self, options: &FeedOptions) -> Instant {
        let ping_or_pong = match self.ping_sent {
            None => self.last_activity + options.ping_every,
            Some(sent) => sent + options.pong_timeout,
        };
        (self.last_data + options.silence_timeout)
            .min(ping_or_pong)
            .min(self.lifetime_end)
    }

    /// What is due now; a ping due is marked sent.
    pub fn due(&mut self, options: &FeedOptions) -> Due {
        let now = Instant::now();
        if now >= self.lifetime_end {
            let lifetime = options.connection_lifetime;
            return Due::End(End::Planned(format!(
                "the connection reached its lifetime ({lifetime:?})"
            )));
        }
        if now >= self.last_data + options.silence_timeout {
            let silence = options.silence_timeout;
            return Due::End(End::Lost(format!("no data for {silence:?}")));
        }
        match self.ping_sent {
            Some(sent) if now >= sent + options.pong_timeout => Due::End(End::Lost(format!(
                "no pong within {:?} of our ping",
                options.pong_timeout
            ))),
            None if now >= self.last_activity + options.ping_every => {
                self.ping_sent = Some(now);
                Due::Ping
            }
            _ => Due::Nothing,
        }
    }
}

/// What came out of the socket.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A text frame within the size bound.
    Text(Utf8Bytes),
    /// A text frame over the bound, refused (its length).
    Oversized(usize),
    /// A binary frame (neither venue sends one on these routes).
    Binary(usize),
    /// A pong frame.
    Pong,
    /// A ping (answered by tungstenite on the next read) or a raw frame.
    Control,
    /// The socket ended; `true` if it ended on a frame over the hard bound.
    Ended(String, bool),
}

/// Sorts one read from the socket.
pub(crate) fn classify(read: Option<Result<Message, WsError>>, frame_bytes_max: usize) -> Incoming {
    match read {
        Some(Ok(Message::Text(text))) if text.len() > frame_bytes_max => {
            Incoming::Oversized(text.len())
        }
        Some(Ok(Message::Text(text))) => Incoming::Text(text),
        Some(Ok(Message::Binary(bytes))) => Incoming::Binary(bytes.len()),
        Some(Ok(Message::Pong(_))) => Incoming::Pong,
        Some(Ok(Message::Ping(_) | Message::Frame(_))) => Incoming::Control,
        Some(Ok(Message::Close(frame))) => {
            let why = frame.map_or_else(
                || "no reason".to_owned(),
                |f| format!("{} {}", f.code, transport::shown(&f.reason)),
            );
            Incoming::Ended(format!("the venue closed the connection ({why})"), false)
        }
        Some(Err(WsError::Capacity(e))) => {
            Incoming::Ended(format!("a frame over the hard bound: {e}"), true)
        }
        Some(Err(e)) => Incoming::Ended(format!("the socket failed: {e}"), false),
        None => Incoming::Ended("the socket ended".to_owned(), false),
    }
}

/// Reads what the socket gave: counts it, refuses what is too large or unexpected,
/// and returns a text frame (with its receipt time) for the venue to parse.
pub(crate) async fn on_read(
    link: &mut Link,
    liveness: &mut Liveness,
    read: Option<Result<Message, WsError>>,
) -> Result<Option<(Utf8Bytes, UnixNanos)>, End> {
    let received = link.now();
    let max = link.options.frame_bytes_max;
    match classify(read, max) {
        Incoming::Text(text) => {
            liveness.on_data();
            link.stats.on_message(link.index, text.len(), received);
            return Ok(Some((text, received)));
        }
        Incoming::Oversized(len) => {
            liveness.on_data();
            link.stats.on_message(link.index, len, received);
            let detail = format!("a {len}-byte frame over the {max}-byte bound was refused");
            link.malformed(received, "oversized frame", &detail, true)
                .await?;
        }
        Incoming::Binary(len) => {
            liveness.on_data();
            let detail = format!("an unexpected {len}-byte binary frame");
            link.malformed(received, "binary frame", &detail, false)
                .await?;
        }
        Incoming::Pong => liveness.on_pong(),
        Incoming::Control => liveness.on_control(),
        Incoming::Ended(reason, oversized) => {
            if oversized {
                link.stats.update(link.index, |s| s.oversized += 1);
            }
            return Err(End::Lost(reason));
        }
    }
    Ok(None)
}

/// Completes when the feed is shut down (or its handle is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Completes when the handle asks for a resync; never without requests.
pub(crate) async fn notified(requests: Option<&ResyncRequests>) {
    match requests {
        Some(requests) => requests.notify.notified().await,
        None => std::future::pending().await,
    }
}

/// A short name for a venue-crate error, for counters and logs.
pub(crate) fn error_kind(error: &propbot_venues::Error) -> &'static str {
    use propbot_venues::Error;
    match error {
        Error::Json { .. } => "malformed json",
        Error::Unsupported { .. } => "unsupported message",
        Error::UnknownSymbol { .. } => "unknown symbol",
        Error::Decimal { .. } | Error::ContractsNotRepresentable { .. } => "bad number",
        Error::Protocol { .. } => "protocol violation",
        Error::VenueError { .. } => "venue error",
        Error::LevelTextTooLong(_) => "level text too long",
        _ => "bad frame",
    }
}

/// Sends a message within `wait`; `Err` ends the connection.
pub(crate) async fn send(socket: &mut Socket, message: Message, wait: Duration) -> Result<(), End> {
    use futures_util::SinkExt;
    match tokio::time::timeout(wait, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::Lost(format!("sending failed: {e}"))),
        Err(_) => Err(End::Lost(format!("sending took longer than {wait:?}"))),
    }
}

/// A venue's side of a connection.
#[derive(Debug)]
pub(crate) enum Session {
    Binance(BinanceSession),
    Okx(OkxSession),
}

impl Session {
    fn url(&self) -> String {
        match self {
            Session::Binance(s) => s.url(),
            Session::Okx(s) => s.url(),
        }
    }

    async fn run(&mut self, link: &mut Link, socket: &mut Socket) -> End {
        match self {
            Session::Binance(s) => s.run(link, socket).await,
            Session::Okx(s) => s.run(link, socket).await,
        }
    }

    /// Every book is lost with the socket: forward their resyncs.
    async fn reset(&mut self, link: &mut Link) -> Result<(), Stop> {
        match self {
            Session::Binance(s) => s.reset(link).await,
            Session::Okx(s) => s.reset(link).await,
        }
    }
}

/// Connects, runs the session, resets its books and reconnects after the back-off,
/// until the feed is shut down.
pub(crate) async fn run(mut link: Link, mut session: Session) {
    let mut attempt: u32 = 0;
    let mut connected_before = false;
    while !link.emitter.stopping() {
        if link.set_state(LinkState::Connecting).await.is_err() {
            return;
        }
        let url = session.url();
        let (reason, immediate) = match transport::connect(&url, &link.options, &link.tls).await {
            Err(reason) => {
                link.note("connect failed", &reason);
                (reason, false)
            }
            Ok(mut socket) => {
                if connected_before {
                    link.stats.update(link.index, |s| s.reconnects += 1);
                }
                connected_before = true;
                link.synced_this_connection = false;
                let end = session.run(&mut link, &mut socket).await;
                if link.synced_this_connection {
                    attempt = 0;
                }
                transport::close(socket).await;
                if session.reset(&mut link).await.is_err() {
                    return;
                }
                match end {
                    End::Shutdown => return,
                    End::Lost(reason) => {
                        link.note("disconnected", &reason);
                        (reason, false)
                    }
                    End::Planned(reason) => (reason, true),
                }
            }
        };
        let state = LinkState::Disconnected { reason };
        if link.set_state(state).await.is_err() {
            return;
        }
        let wait = if immediate {
            Duration::ZERO
        } else {
            let wait = link.options.reconnect.delay(attempt, &mut link.jitter);
            attempt = attempt.saturating_add(1);
            wait
        };
        if link.emitter.sleep(wait).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn liveness_pings_when_idle_then_gives_up_without_a_pong() {
        let mut options = FeedOptions::new(
            Venue::Okx,
            crate::Endpoints::default_for(Venue::Okx, propbot_engine::Profile::Live),
            Vec::new(),
        );
        options.ping_every = Duration::from_secs(10);
        options.pong_timeout = Duration::from_secs(5);
        options.silence_timeout = Duration::from_secs(20);
        options.connection_lifetime = Duration::from_secs(100);
        let start = Instant::now();
        let mut liveness = Liveness::new(&options);
        assert_eq!(liveness.deadline(&options), start + Duration::from_secs(10));
        assert_eq!(liveness.due(&options), Due::Nothing);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(liveness.due(&options), Due::Ping);
        assert_eq!(liveness.deadline(&options), start + Duration::from_secs(15));
        tokio::time::advance(Duration::from_secs(2)).await;
        liveness.on_data();
        liveness.on_pong();
        assert_eq!(liveness.due(&options), Due::Nothing);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(liveness.due(&options), Due::Ping);
        // A pong reschedules the next ping, but is no data: silence still counts.
        tokio::time::advance(Duration::from_secs(1)).await;
        liveness.on_pong();
        assert_eq!(liveness.deadline(&options), start + Duration::from_secs(32));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(matches!(liveness.due(&options), Due::End(End::Lost(r)) if r.contains("no data")));
        liveness.on_data();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(liveness.due(&options), Due::Ping);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(matches!(liveness.due(&options), Due::End(End::Lost(r)) if r.contains("pong")));
        tokio::time::advance(Duration::from_secs(100)).await;
        assert!(matches!(liveness.due(&options), Due::End(End::Planned(_))));
    }

    #[test]
    fn resync_requests_are_bounded_and_deduplicated() {
        let requests = ResyncRequests::new(2);
        for id in [1, 1, 2, 3] {
            requests.request(InstrumentId(id));
        }
        assert_eq!(requests.take(), [InstrumentId(1), InstrumentId(2)]);
        assert!(requests.take().is_empty());
    }
}
