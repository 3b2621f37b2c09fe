//! OKX v5 public market data (`../shared/VENUES.md` §2.1, §2.3, §2.8).
//!
//! One connection subscribes the book channel (`books` or `books-l2-tbt`), `bbo-tbt`
//! and `trades` of every instrument; a book's snapshot arrives on subscription. A book
//! that loses its sync (a `seqId` gap, a checksum mismatch, a resync asked for) is
//! unsubscribed and subscribed again, and again after `snapshot_timeout` if no snapshot
//! came. `subscribe`/`unsubscribe` requests are counted against the venue's 480 an hour
//! per connection; when they run out the connection is renewed instead. Idle for
//! `ping_every`, the connection sends the text `ping` and expects `pong`. The `64008`
//! notice (a service upgrade within 60 s) renews the connection at once; error events
//! (`60012` invalid request, `60018` unknown channel or instrument, ...) are counted.

use crate::conn::{self, Due, End, Liveness, ResyncRequests, Stop, error_kind, on_read, stopped};
use crate::event::LinkState;
use crate::options::{FeedOptions, OkxBookChannel};
use crate::transport::Socket;
use futures_util::StreamExt;
use propbot_engine::model::InstrumentId;
use propbot_engine::time::UnixNanos;
use propbot_venues::okx::wire::{self, Message as OkxMessage};
use propbot_venues::okx::{Handled, OkxFeed};
use propbot_venues::{Error, Events, InstrumentSpec, ResyncReason, SyncEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// `subscribe`/`unsubscribe` requests per connection per hour (VENUES.md §2.1).
pub const OPERATIONS_PER_HOUR_MAX: u32 = 480;
/// Requests kept in reserve: past `OPERATIONS_PER_HOUR_MAX - this`, renew the connection.
const OPERATIONS_RESERVE: u32 = 8;
/// Channels subscribed besides the book channel.
const OTHER_CHANNELS: [&str; 2] = ["bbo-tbt", "trades"];

/// `subscribe`/`unsubscribe` requests sent in the connection's current hour.
#[derive(Clone, Copy, Debug)]
struct Operations {
    hour_started: Instant,
    used: u32,
}

impl Operations {
    fn new() -> Operations {
        Operations {
            hour_started: Instant::now(),
            used: 0,
        }
    }

    /// Takes `n` operations; `false` when the hour's budget (less a reserve) is spent.
    fn take(&mut self, n: u32) -> bool {
        if self.hour_started.elapsed() >= Duration::from_secs(3600) {
            *self = Operations::new();
        }
        if self.used + n > OPERATIONS_PER_HOUR_MAX - OPERATIONS_RESERVE {
            return false;
        }
        self.used += n;
        true
    }
}

/// One OKX public connection.
#[derive(Debug)]
pub(crate) struct OkxSession {
    feed: OkxFeed,
    events: Events,
    specs: Vec<InstrumentSpec>,
    url: String,
    channel: OkxBookChannel,
    /// Books (re)subscribed and awaiting their snapshot, with when it was asked.
    pending: BTreeMap<InstrumentId, Instant>,
    operations: Operations,
    requests: Arc<ResyncRequests>,
    request_id: u64,
}

impl OkxSession {
    /// A connection for every instrument of `options`.
    pub fn new(options: &FeedOptions, requests: Arc<ResyncRequests>) -> OkxSession {
        OkxSession {
            feed: OkxFeed::new(options.instruments.clone()),
            events: Events::new(),
            specs: options.instruments.clone(),
            url: options.endpoints.ws_public.clone(),
            channel: options.okx_channel,
            pending: BTreeMap::new(),
            operations: Operations::new(),
            requests,
            request_id: 0,
        }
    }

    /// The public WebSocket URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Subscribes, then reads the socket until it ends.
    pub async fn run(&mut self, link: &mut conn::Link, socket: &mut Socket) -> End {
        let mut liveness = Liveness::new(&link.options);
        self.operations = Operations::new();
        if let Err(end) = self.subscribe_all(link, socket).await {
            return end;
        }
        loop {
            if let Err(end) = self.resubscribe_due(link, socket).await {
                return end;
            }
            let mut wake = liveness.deadline(&link.options);
            if let Some(t) = self.resubscribe_deadline(&link.options) {
                wake = wake.min(t);
            }
            let requests = self.requests.clone();
            let step = tokio::select! {
                biased;
                () = stopped(&mut link.emitter.shutdown) => Err(End::Shutdown),
                read = socket.next() => match on_read(link, &mut liveness, read).await {
                    Ok(Some((text, received))) => self.on_text(link, &mut liveness, &text, received).await,
                    Ok(None) => Ok(()),
                    Err(end) => Err(end),
                },
                () = conn::notified(Some(&requests)) => self.on_requests(link).await.map_err(End::from),
                () = tokio::time::sleep_until(wake) => match liveness.due(&link.options) {
                    Due::Nothing => Ok(()),
                    Due::Ping => conn::send(socket, Message::text("ping"), link.options.pong_timeout).await,
                    Due::End(end) => Err(end),
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// The socket is gone: every synced book resyncs (`Reset`).
    pub async fn reset(&mut self, link: &mut conn::Link) -> Result<(), Stop> {
        self.pending.clear();
        self.feed.reset(&mut self.events);
        let received = link.now();
        link.forward(received, &mut self.events).await
    }

    /// Subscribes every channel of every instrument in one request.
    async fn subscribe_all(
        &mut self,
        link: &mut conn::Link,
        socket: &mut Socket,
    ) -> Result<(), End> {
        let mut args = Vec::with_capacity(self.specs.len() * 3);
        for spec in &self.specs {
            for channel in std::iter::once(self.channel.name()).chain(OTHER_CHANNELS) {
                args.push(json!({"channel": channel, "instId": spec.symbol}));
            }
        }
        self.operations.take(1);
        self.send_op(link, socket, "subscribe", args).await?;
        let now = Instant::now();
        self.pending = self.specs.iter().map(|s| (s.instrument, now)).collect();
        link.set_state(LinkState::Connected).await?;
        Ok(())
    }

    async fn send_op(
        &mut self,
        link: &conn::Link,
        socket: &mut Socket,
        op: &str,
        args: Vec<Value>,
    ) -> Result<(), End> {
        self.request_id += 1;
        let request = json!({"id": self.request_id.to_string(), "op": op, "args": args});
        let wait = link.options.pong_timeout;
        conn::send(socket, Message::text(request.to_string()), wait).await
    }

    async fn on_text(
        &mut self,
        link: &mut conn::Link,
        liveness: &mut Liveness,
        text: &str,
        received: UnixNanos,
    ) -> Result<(), End> {
        if text == "pong" {
            liveness.on_pong();
            return Ok(());
        }
        match self.feed.on_frame(text, &mut self.events) {
            Ok(Handled::Market) => {}
            Ok(Handled::Control) => self.on_control(link, text)?,
            Err(Error::VenueError { code, message, .. }) => {
                link.stats.update(link.index, |s| s.venue_errors += 1);
                let detail = format!("error event {code}: {message}");
                link.note("venue error", &detail);
            }
            Err(e) => {
                link.malformed(received, error_kind(&e), &e.to_string(), false)
                    .await?;
            }
        }
        for event in self.events.iter() {
            if let SyncEvent::Snapshot { instrument, .. } = event {
                self.pending.remove(instrument);
            }
        }
        link.forward(received, &mut self.events).await?;
        self.count_checksums(link);
        self.refresh_state(link).await.map_err(End::from)
    }

    /// Acknowledgements are fine; the `64008` notice renews the connection.
    fn on_control(&mut self, link: &mut conn::Link, text: &str) -> Result<(), End> {
        if let Ok(OkxMessage::Event { event, code }) = wire::parse_message(text) {
            if event == "notice" && code == Some("64008") {
                return Err(End::Planned(
                    "OKX 64008: the connection closes soon for a service upgrade".into(),
                ));
            }
            if event == "channel-conn-count-error" {
                link.note(
                    "venue error",
                    "channel-conn-count-error: too many connections",
                );
            }
        }
        Ok(())
    }

    fn count_checksums(&self, link: &conn::Link) {
        let verified: u64 = self
            .specs
            .iter()
            .filter_map(|s| self.feed.sync(s.instrument))
            .map(|sync| sync.counters.checksums_verified)
            .sum();
        // The feed (and its counters) lives as long as the connection task.
        link.stats
            .update(link.index, |s| s.checksums_verified = verified);
    }

    async fn refresh_state(&mut self, link: &mut conn::Link) -> Result<(), Stop> {
        let state = if self.feed.needing_snapshot().next().is_none() {
            LinkState::Synced
        } else {
            LinkState::Connected
        };
        link.set_state(state).await
    }

    /// When the oldest resubscription without a snapshot is due again.
    fn resubscribe_deadline(&self, options: &FeedOptions) -> Option<Instant> {
        self.feed
            .needing_snapshot()
            .filter_map(|s| self.pending.get(&s.instrument))
            .min()
            .map(|asked| *asked + options.snapshot_timeout)
    }

    /// Unsubscribes and subscribes again the books that lost their sync (or whose
    /// resubscription brought no snapshot in time).
    async fn resubscribe_due(
        &mut self,
        link: &mut conn::Link,
        socket: &mut Socket,
    ) -> Result<(), End> {
        let now = Instant::now();
        let timeout = link.options.snapshot_timeout;
        let due: Vec<(InstrumentId, String)> = self
            .feed
            .needing_snapshot()
            .filter(|s| {
                self.pending
                    .get(&s.instrument)
                    .is_none_or(|asked| now >= *asked + timeout)
            })
            .map(|s| (s.instrument, s.symbol.clone()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        if !self.operations.take(2) {
            return Err(End::Planned(format!(
                "the connection's {OPERATIONS_PER_HOUR_MAX} subscriptions an hour are spent"
            )));
        }
        let channel = self.channel.name();
        let args: Vec<Value> = due
            .iter()
            .map(|(_, symbol)| json!({"channel": channel, "instId": symbol}))
            .collect();
        self.send_op(link, socket, "unsubscribe", args.clone())
            .await?;
        self.send_op(link, socket, "subscribe", args).await?;
        for (instrument, _) in due {
            self.pending.insert(instrument, now);
        }
        Ok(())
    }

    /// Resyncs asked for by the handle; a book already waiting is left alone.
    async fn on_requests(&mut self, link: &mut conn::Link) -> Result<(), Stop> {
        for instrument in self.requests.take() {
            let synced = self
                .feed
                .sync(instrument)
                .is_some_and(|s| !s.needs_snapshot());
            if synced {
                self.feed
                    .reset_instrument(instrument, ResyncReason::Reset, &mut self.events);
                self.pending.remove(&instrument);
            }
        }
        let received = link.now();
        link.forward(received, &mut self.events).await?;
        self.refresh_state(link).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_hourly_operation_budget_keeps_a_reserve_and_renews() {
        let mut operations = Operations::new();
        assert!(operations.take(1));
        let mut taken = 1;
        while operations.take(2) {
            taken += 2;
        }
        assert!(
            taken <= OPERATIONS_PER_HOUR_MAX - OPERATIONS_RESERVE,
            "{taken}"
        );
        assert!(
            taken >= OPERATIONS_PER_HOUR_MAX - OPERATIONS_RESERVE - 1,
            "{taken}"
        );
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(operations.take(2));
    }
}
