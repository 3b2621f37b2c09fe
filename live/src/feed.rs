//! [`spawn_feed`]: one task per connection and one for server time, all stopped by
//! [`FeedHandle::shutdown`].

use crate::binance::{BinanceSession, MARKET_CHANNELS, PUBLIC_CHANNELS};
use crate::conn::{self, Emitter, Link, ResyncRequests, Session};
use crate::event::{FeedEvent, LinkState, Stamped};
use crate::okx::OkxSession;
use crate::options::{FeedOptions, Jitter};
use crate::stats::{FeedStats, LogGate, Shared};
use crate::transport;
use propbot_engine::model::{InstrumentId, Venue};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long [`FeedHandle::shutdown`] waits for the tasks before aborting them.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A running feed: its counters, resync requests and shutdown.
///
/// Dropping the handle stops the feed too (its tasks end at their next step), but only
/// [`FeedHandle::shutdown`] waits for the sockets to close.
#[derive(Debug)]
pub struct FeedHandle {
    stats: Arc<Shared>,
    requests: Arc<ResyncRequests>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl FeedHandle {
    /// A copy of the counters of every connection and of server-time sampling.
    pub fn stats(&self) -> FeedStats {
        self.stats.snapshot()
    }

    /// Asks for a fresh book of `instrument`: Binance takes a new REST snapshot, OKX
    /// unsubscribes and subscribes its book channel. A `Resync` (reason `Reset`) is
    /// forwarded first. Nothing happens if the book already waits for a snapshot, or
    /// if the feed does not serve `instrument`.
    pub fn resync(&self, instrument: InstrumentId) {
        self.requests.request(instrument);
    }

    /// Closes the sockets cleanly and waits for the tasks (at most [`SHUTDOWN_WAIT`],
    /// then they are aborted). Books are not reset on shutdown: the feed is over.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut self.tasks);
        let mut handles = Vec::with_capacity(tasks.len());
        for task in tasks {
            let abort = task.abort_handle();
            handles.push(abort);
            if tokio::time::timeout(SHUTDOWN_WAIT, task).await.is_err() {
                tracing::warn!("a feed task did not stop within {SHUTDOWN_WAIT:?}; aborted");
            }
        }
        for handle in handles {
            handle.abort();
        }
    }
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Starts a feed: connects to the venue, subscribes every instrument of `options`,
/// keeps the books synced and sends everything to `sink` (a bounded channel the caller
/// owns: a full sink makes the feed wait, which holds the sockets unread). Must be
/// called within a tokio runtime.
///
/// If TLS cannot be set up (it never fails with the compiled-in roots), each task
/// reports it as its connection's `Disconnected` reason and stops.
///
/// # Panics
///
/// If `options.instruments` is not all of `options.venue` or holds more than the venue
/// crate's `FEED_INSTRUMENTS_MAX`.
pub fn spawn_feed(options: FeedOptions, sink: mpsc::Sender<Stamped>) -> FeedHandle {
    let venue = options.venue;
    let connections: &[&'static str] = match (venue, options.endpoints.ws_market.is_some()) {
        (Venue::Binance, true) => &["public", "market"],
        _ => &["public"],
    };
    let stats = Arc::new(Shared::new(venue, connections));
    let requests = Arc::new(ResyncRequests::new(options.instruments.len()));
    let (shutdown, stop) = watch::channel(false);
    let emitter = Emitter {
        venue,
        sink,
        shutdown: stop,
        clock: options.clock,
    };
    let options = Arc::new(options);
    let handle = |tasks| FeedHandle {
        stats: stats.clone(),
        requests: requests.clone(),
        shutdown: shutdown.clone(),
        tasks,
    };
    let setup = transport::tls_config()
        .map_err(|e| e.to_string())
        .and_then(|tls| {
            let http = transport::http_client(&options, &tls).map_err(|e| e.to_string())?;
            Ok((Arc::new(tls), http))
        });
    let (tls, http) = match setup {
        Ok(setup) => setup,
        Err(reason) => {
            let failed = tokio::spawn(report_failure(emitter, connections.to_vec(), reason));
            return handle(vec![failed]);
        }
    };
    let mut tasks = Vec::with_capacity(connections.len() + 1);
    for (index, &name) in connections.iter().enumerate() {
        let session = session(&options, name, &http, &requests);
        let link = Link {
            name,
            index,
            options: options.clone(),
            emitter: emitter.clone(),
            stats: stats.clone(),
            tls: tls.clone(),
            jitter: Jitter::new(options.seed, index as u64),
            log: LogGate::new(options.log_every),
            state: LinkState::Disconnected {
                reason: "not yet connected".into(),
            },
            synced_this_connection: false,
        };
        tasks.push(tokio::spawn(conn::run(link, session)));
    }
    tasks.push(tokio::spawn(crate::clock::run(
        emitter,
        stats.clone(),
        options.clone(),
        http,
    )));
    handle(tasks)
}

/// The venue session of connection `name`.
fn session(
    options: &FeedOptions,
    name: &str,
    http: &reqwest::Client,
    requests: &Arc<ResyncRequests>,
) -> Session {
    let endpoints = &options.endpoints;
    match (options.venue, endpoints.ws_market.as_deref(), name) {
        (Venue::Okx, _, _) => Session::Okx(OkxSession::new(options, requests.clone())),
        (Venue::Binance, Some(market), "market") => Session::Binance(BinanceSession::new(
            options,
            market,
            &MARKET_CHANNELS,
            http.clone(),
            None,
        )),
        (Venue::Binance, Some(_), _) => Session::Binance(BinanceSession::new(
            options,
            &endpoints.ws_public,
            &PUBLIC_CHANNELS,
            http.clone(),
            Some(requests.clone()),
        )),
        (Venue::Binance, None, _) => {
            let all: Vec<&str> = PUBLIC_CHANNELS.into_iter().chain(MARKET_CHANNELS).collect();
            Session::Binance(BinanceSession::new(
                options,
                &endpoints.ws_public,
                &all,
                http.clone(),
                Some(requests.clone()),
            ))
        }
    }
}

/// Reports a set-up failure as every connection's state.
async fn report_failure(mut emitter: Emitter, connections: Vec<&'static str>, reason: String) {
    tracing::error!(venue = %emitter.venue, "the feed cannot start: {reason}");
    for connection in connections {
        let state = LinkState::Disconnected {
            reason: format!("TLS set-up failed: {reason}"),
        };
        let received = emitter.now();
        if emitter
            .emit(received, FeedEvent::Link { connection, state })
            .await
            .is_err()
        {
            return;
        }
    }
}
