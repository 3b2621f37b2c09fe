//! The Binance USDⓈ-M public market-data emulator: REST (`/fapi/v1/time`,
//! `/fapi/v1/exchangeInfo`, `/fapi/v1/depth`) and combined WebSocket streams
//! (`<symbol>@depth@100ms`, `@bookTicker`, `@aggTrade`) over the seeded synthetic
//! market ([`market`]) or a recording ([`recorded`]), with fault hooks on
//! [`BinanceHandle`].
//!
//! [`serve`] binds, starts the market task and the HTTP server, and returns the
//! handle. The market task is the only writer of the market: it waits on the emulated
//! clock for the next model step, takes it under the market lock, renders what it
//! publishes once and fans the frames out through the hub's bounded broadcast.

pub mod frames;
pub mod market;
pub mod recorded;
pub mod rest;
pub mod source;
pub mod stream;

use crate::book::BookImage;
use crate::clock::Clock;
use crate::config::{EmulatorConfig, ServeError, Source};
pub(crate) use crate::hub::lock;
use crate::hub::{Emulator, Frame, Hub, bump, wall_clock};
use axum::Router;
use axum::extract::ws::Utf8Bytes;
use axum::routing::get;
use frames::channel_of;
use market::{BinanceMarket, Event, SymbolSpec};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use recorded::RecordedBinance;
use rest::{RestFaults, WeightWindow};
use source::BinanceSource;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// State shared by the market task and the handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    hub: Arc<Hub>,
    market: Mutex<BinanceSource>,
    /// Diffs still to withhold, per symbol (the gap fault).
    skip_diffs: Vec<AtomicU32>,
    rest_faults: Mutex<RestFaults>,
    weight: Mutex<WeightWindow>,
}

/// Starts a Binance emulator: binds `config.listen`, starts the market and serves
/// until the handle is shut down or dropped.
pub async fn serve(config: EmulatorConfig) -> Result<BinanceHandle, ServeError> {
    let start = config.start.unwrap_or_else(wall_clock);
    let market = source(&config, start)?;
    let count = market.len();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let hub = Arc::new(Hub::new(
        Clock::new(start, config.speed, config.paused),
        config.limits,
    ));
    let shared = Arc::new(Shared {
        hub: hub.clone(),
        market: Mutex::new(market),
        skip_diffs: (0..count).map(|_| AtomicU32::new(0)).collect(),
        rest_faults: Mutex::default(),
        weight: Mutex::default(),
    });
    let server = tokio::spawn(crate::serve_http(
        listener,
        app(shared.clone()),
        hub.clone(),
    ));
    let driver = tokio::spawn(drive(shared.clone()));
    Ok(BinanceHandle {
        emulator: Emulator {
            addr,
            hub,
            tasks: vec![driver, server],
        },
        shared,
    })
}

/// The market `config` asks for, from `start`.
fn source(config: &EmulatorConfig, start: UnixNanos) -> Result<BinanceSource, ServeError> {
    match &config.source {
        Source::Synthetic => {
            let specs = specs(config, config.listed(Venue::Binance)?)?;
            let market =
                BinanceMarket::new(&config.engine, specs, &config.params, config.seed, start);
            Ok(BinanceSource::Synthetic(market))
        }
        Source::Recording(paths) => {
            let opened = crate::playback::open(
                paths,
                &config.engine,
                Venue::Binance,
                &config.instruments,
                start,
            )?;
            let specs = specs(config, opened.instruments)?;
            let market = RecordedBinance::new(specs, Box::new(opened.messages));
            Ok(BinanceSource::Recorded(market))
        }
    }
}

/// The symbol specs of `instruments`' Binance listings.
fn specs(
    config: &EmulatorConfig,
    instruments: Vec<InstrumentId>,
) -> Result<Vec<SymbolSpec>, ServeError> {
    instruments
        .into_iter()
        .map(|instrument| {
            SymbolSpec::from_config(&config.engine, instrument, config.min_notional).ok_or(
                ServeError::NoListing {
                    venue: Venue::Binance,
                    instrument,
                },
            )
        })
        .collect()
}

/// The routes: REST and the combined streams under every route of the URL split.
fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/fapi/v1/time", get(rest::time))
        .route("/fapi/v1/exchangeInfo", get(rest::exchange_info))
        .route("/fapi/v1/depth", get(rest::depth))
        .route("/stream", get(stream::stream))
        .route("/public/stream", get(stream::stream))
        .route("/market/stream", get(stream::stream))
        .with_state(shared)
}

/// The market task: one step at a time, when the emulated clock reaches it. At the
/// end of a recording it stops; REST and the streams keep serving.
async fn drive(shared: Arc<Shared>) {
    let mut shutdown = shared.hub.shutdown.subscribe();
    let mut events = Vec::new();
    let mut frames = Vec::new();
    let mut steps: u32 = 0;
    loop {
        let due = lock(&shared.market).next_time();
        if due == UnixNanos::NEVER {
            return;
        }
        if !shared.hub.clock.wait_until(due, &mut shutdown).await {
            return;
        }
        {
            let mut market = lock(&shared.market);
            market.step(&mut events);
            for event in events.drain(..) {
                if let Some(frame) = render(&shared, &market, &event) {
                    frames.push(frame);
                }
            }
        }
        for frame in frames.drain(..) {
            shared.hub.publish(frame);
        }
        // At high speed many steps are due at once: let the connections run.
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }
}

/// The frame of `event`, unless a fault withholds it.
fn render(shared: &Shared, market: &BinanceSource, event: &Event) -> Option<Frame> {
    let (index, channel) = channel_of(event);
    if let Event::Depth { .. } = event {
        let skip = &shared.skip_diffs[index];
        let skipped = skip
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if skipped {
            bump(&shared.hub.counters.diffs_skipped);
            return None;
        }
    }
    let text = frames::render(event, market.spec(index), |t| shared.hub.venue_ms(t));
    Some(Frame {
        key: stream::key(index, channel)?,
        serial: 0,
        text: Utf8Bytes::from(text),
    })
}

/// A running Binance emulator: where it listens, its faults, its books.
#[derive(Debug)]
pub struct BinanceHandle {
    emulator: Emulator,
    shared: Arc<Shared>,
}

impl BinanceHandle {
    /// The address, the faults common to every venue, the clock, the counters.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.emulator.addr()
    }

    /// Fault: the next diff of `symbol` (`BTCUSDT`) is never sent, so the one after it
    /// breaks the `pu` chain: a gap. `false` if the symbol is not listed.
    pub fn skip_next_diff(&self, symbol: &str) -> bool {
        let Some(index) = lock(&self.shared.market).index_of(symbol) else {
            return false;
        };
        self.shared.skip_diffs[index].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Fault: the next `requests` REST requests answer HTTP 429 with `Retry-After` and
    /// the venue's `-1003` body.
    pub fn rate_limit_next(&self, requests: u32) {
        lock(&self.shared.rest_faults).rate_limited = requests;
    }

    /// Fault: every REST request answers HTTP 418 (IP banned, `-1003 … banned until
    /// <ms>`, `Retry-After`) for `ban` of the venue's clock.
    pub fn ban_for(&self, ban: Duration) {
        let until = self
            .shared
            .hub
            .venue_now_ms()
            .saturating_add(u64::try_from(ban.as_millis()).unwrap_or(u64::MAX));
        lock(&self.shared.rest_faults).banned_until_ms = Some(until);
    }

    /// Lifts a ban set by [`BinanceHandle::ban_for`].
    pub fn lift_ban(&self) {
        lock(&self.shared.rest_faults).banned_until_ms = None;
    }

    /// Fault: every depth snapshot is answered `delay` (wall time) after its book was
    /// taken, so it arrives old. Zero turns it off.
    pub fn delay_snapshots(&self, delay: Duration) {
        lock(&self.shared.rest_faults).snapshot_delay = delay;
    }

    /// Sets the contract status `exchangeInfo` shows for `symbol` (`SETTLING`, `CLOSE`:
    /// the maintenance signal of VENUES.md §1.10). `false` if the symbol is not listed.
    pub fn set_status(&self, symbol: &str, status: &str) -> bool {
        let mut market = lock(&self.shared.market);
        let Some(index) = market.index_of(symbol) else {
            return false;
        };
        market.set_status(index, status);
        true
    }

    /// The book of `symbol` as the diffs published so far leave it (what a client in
    /// sync holds), if the symbol is listed.
    pub fn published_book(&self, symbol: &str) -> Option<BookImage> {
        let market = lock(&self.shared.market);
        market.index_of(symbol).map(|index| market.published(index))
    }

    /// The listed symbols' specs.
    pub fn symbols(&self) -> Vec<SymbolSpec> {
        lock(&self.shared.market).specs().cloned().collect()
    }

    /// Whether a recording has been played to its end: nothing more is published, and
    /// REST and the streams are still served. Never true for the synthetic market.
    pub fn finished(&self) -> bool {
        lock(&self.shared.market).finished()
    }

    /// Why a recording stopped before its end (a damaged file), if it did.
    pub fn playback_error(&self) -> Option<String> {
        lock(&self.shared.market).error().map(str::to_owned)
    }

    /// Stops serving and waits for the tasks to end.
    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}
