//! The OKX v5 public market-data emulator: REST (`/api/v5/public/time`,
//! `/api/v5/public/instruments`) and the public WebSocket (`/ws/v5/public`) with
//! `subscribe`/`unsubscribe` and the `books` (snapshot on subscribe, then 100 ms
//! updates with `seqId`/`prevSeqId` and the CRC32 checksum), `bbo-tbt` and `trades`
//! channels, over the seeded synthetic market ([`market`]) or a recording
//! ([`recorded`]), with fault hooks on [`OkxHandle`].
//!
//! As for Binance, one market task steps the market when the emulated clock reaches
//! each step, renders under the market lock and broadcasts. A `books` update carries a
//! per-instrument publication number, so a client that subscribes gets a snapshot of
//! the book as published and then exactly the updates published after it.

pub mod frames;
pub mod market;
pub mod recorded;
pub mod rest;
pub mod source;
pub mod stream;

use crate::book::BookImage;
use crate::clock::Clock;
use crate::config::{EmulatorConfig, ServeError, Source};
use crate::hub::{Emulator, Frame, Hub, StreamKey, bump, lock, wall_clock};
use axum::Router;
use axum::extract::ws::Utf8Bytes;
use axum::routing::get;
use frames::{Channel, channel_of};
use market::{Event, InstrumentSpecOkx, OkxMarket};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use recorded::RecordedOkx;
use source::OkxSource;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The key of frames every connection receives (notices).
pub(crate) const NOTICE_KEY: StreamKey = StreamKey(u32::MAX);

/// Per instrument: how `books` updates are numbered and which faults wait for them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BooksState {
    /// Updates published (or withheld) so far.
    pub serial: u64,
    /// Updates still to withhold (the gap fault).
    pub skip: u32,
    /// Updates still to send with a wrong checksum.
    pub corrupt: u32,
}

/// The market and the numbering of its `books` updates, under one lock so a
/// subscriber's snapshot and its first update agree.
#[derive(Debug)]
pub(crate) struct State {
    pub market: OkxSource,
    pub books: Vec<BooksState>,
}

/// State shared by the market task and the handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    hub: Arc<Hub>,
    state: Mutex<State>,
    /// Whether `books` carries the checksum (OKX sends 0 since 2026-06-23).
    checksums: bool,
    /// REST requests still to answer 429.
    rate_limited: AtomicU32,
    /// Numbers connections for their `connId`.
    connections: AtomicU64,
}

/// Starts an OKX emulator: binds `config.listen`, starts the market and serves until
/// the handle is shut down or dropped.
pub async fn serve(config: EmulatorConfig) -> Result<OkxHandle, ServeError> {
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
        state: Mutex::new(State {
            market,
            books: vec![BooksState::default(); count],
        }),
        checksums: config.okx_checksums,
        rate_limited: AtomicU32::new(0),
        connections: AtomicU64::new(0),
    });
    let server = tokio::spawn(crate::serve_http(
        listener,
        app(shared.clone()),
        hub.clone(),
    ));
    let driver = tokio::spawn(drive(shared.clone()));
    Ok(OkxHandle {
        emulator: Emulator {
            addr,
            hub,
            tasks: vec![driver, server],
        },
        shared,
    })
}

/// The market `config` asks for, from `start`.
fn source(config: &EmulatorConfig, start: UnixNanos) -> Result<OkxSource, ServeError> {
    match &config.source {
        Source::Synthetic => {
            let specs = specs(config, config.listed(Venue::Okx)?)?;
            let market = OkxMarket::new(&config.engine, specs, &config.params, config.seed, start);
            Ok(OkxSource::Synthetic(market))
        }
        Source::Recording(paths) => {
            let opened = crate::playback::open(
                paths,
                &config.engine,
                Venue::Okx,
                &config.instruments,
                start,
            )?;
            let specs = specs(config, opened.instruments)?;
            Ok(OkxSource::Recorded(RecordedOkx::new(
                specs,
                Box::new(opened.messages),
            )))
        }
    }
}

/// The instrument specs of `instruments`' OKX listings.
fn specs(
    config: &EmulatorConfig,
    instruments: Vec<InstrumentId>,
) -> Result<Vec<InstrumentSpecOkx>, ServeError> {
    instruments
        .into_iter()
        .map(|instrument| {
            InstrumentSpecOkx::from_config(&config.engine, instrument).ok_or(
                ServeError::NoListing {
                    venue: Venue::Okx,
                    instrument,
                },
            )
        })
        .collect()
}

fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v5/public/time", get(rest::time))
        .route("/api/v5/public/instruments", get(rest::instruments))
        .route("/ws/v5/public", get(stream::public))
        .with_state(shared)
}

/// The market task: one step at a time, when the emulated clock reaches it. At the
/// end of a recording it stops; REST and the WebSocket keep serving.
async fn drive(shared: Arc<Shared>) {
    let mut shutdown = shared.hub.shutdown.subscribe();
    let mut events = Vec::new();
    let mut frames = Vec::new();
    let mut steps: u32 = 0;
    loop {
        let due = lock(&shared.state).market.next_time();
        if due == UnixNanos::NEVER {
            return;
        }
        if !shared.hub.clock.wait_until(due, &mut shutdown).await {
            return;
        }
        {
            let mut state = lock(&shared.state);
            state.market.step(&mut events);
            for event in events.drain(..) {
                if let Some(frame) = render(&shared, &mut state, &event) {
                    frames.push(frame);
                }
            }
        }
        for frame in frames.drain(..) {
            shared.hub.publish(frame);
        }
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }
}

/// The frame of `event`, unless a fault withholds it.
fn render(shared: &Shared, state: &mut State, event: &Event) -> Option<Frame> {
    let (index, channel) = channel_of(event);
    let key = stream::key(index, channel)?;
    let ms = |t: UnixNanos| shared.hub.venue_ms(t);
    let Event::Books { window, at, .. } = event else {
        let text = frames::render(event, state.market.spec(index), ms);
        return Some(Frame {
            key,
            serial: 0,
            text: Utf8Bytes::from(text),
        });
    };
    let books = &mut state.books[index];
    books.serial += 1;
    let serial = books.serial;
    if books.skip > 0 {
        books.skip -= 1;
        bump(&shared.hub.counters.diffs_skipped);
        return None;
    }
    let spec = state.market.spec(index);
    let mut checksum = 0;
    if shared.checksums {
        checksum = frames::checksum(spec, &state.market.published(index));
        if books.corrupt > 0 {
            books.corrupt -= 1;
            // Wrong, and never 0 (which would mean "not provided").
            checksum = checksum.wrapping_add(1).max(1);
        }
    }
    let sequence = (
        i64::try_from(window.previous).unwrap_or(i64::MAX),
        window.last,
    );
    let text = frames::books(
        spec,
        false,
        &window.bids,
        &window.asks,
        sequence,
        checksum,
        ms(*at),
    );
    Some(Frame {
        key,
        serial,
        text: Utf8Bytes::from(text),
    })
}

/// A running OKX emulator: where it listens, its faults, its books.
#[derive(Debug)]
pub struct OkxHandle {
    emulator: Emulator,
    shared: Arc<Shared>,
}

impl OkxHandle {
    /// The address, the faults common to every venue, the clock, the counters.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.emulator.addr()
    }

    fn with_books(&self, inst_id: &str, change: impl FnOnce(&mut State, usize)) -> bool {
        let mut state = lock(&self.shared.state);
        let Some(index) = state.market.index_of(inst_id) else {
            return false;
        };
        change(&mut state, index);
        true
    }

    /// Fault: the next `books` update of `inst_id` is never sent, so the one after it
    /// has a `prevSeqId` the client never saw: a gap. `false` if not listed.
    pub fn skip_next_update(&self, inst_id: &str) -> bool {
        self.with_books(inst_id, |state, index| state.books[index].skip += 1)
    }

    /// Fault: the next `books` update of `inst_id` carries a wrong (non-zero)
    /// checksum. `false` if not listed. No effect when checksums are off.
    pub fn corrupt_next_checksum(&self, inst_id: &str) -> bool {
        self.with_books(inst_id, |state, index| state.books[index].corrupt += 1)
    }

    /// Fault: the `books` sequence of `inst_id` restarts at `seq_id` (maintenance):
    /// the next update has `seqId < prevSeqId`, which a client must accept.
    pub fn reset_sequence(&self, inst_id: &str, seq_id: u64) -> bool {
        self.with_books(inst_id, |state, index| {
            state.market.reset_sequence(index, seq_id);
        })
    }

    /// Sets the `state` `instruments` shows for `inst_id` (`suspend`, `preopen`).
    pub fn set_state(&self, inst_id: &str, instrument_state: &str) -> bool {
        self.with_books(inst_id, |state, index| {
            state.market.set_state(index, instrument_state);
        })
    }

    /// Fault: every connection gets the `64008` notice (the connection will close for
    /// a service upgrade).
    pub fn send_upgrade_notice(&self) {
        self.shared.hub.publish(Frame {
            key: NOTICE_KEY,
            serial: 0,
            text: Utf8Bytes::from(frames::upgrade_notice()),
        });
    }

    /// Fault: the next `requests` REST requests answer HTTP 429, code `50011`.
    pub fn rate_limit_next(&self, requests: u32) {
        self.shared.rate_limited.store(requests, Ordering::Relaxed);
    }

    /// The book of `inst_id` as the updates published so far leave it, if listed.
    pub fn published_book(&self, inst_id: &str) -> Option<BookImage> {
        let state = lock(&self.shared.state);
        state
            .market
            .index_of(inst_id)
            .map(|index| state.market.published(index))
    }

    /// The listed instruments' specs.
    pub fn instruments(&self) -> Vec<InstrumentSpecOkx> {
        lock(&self.shared.state).market.specs().cloned().collect()
    }

    /// Whether a recording has been played to its end: nothing more is published, and
    /// REST and the WebSocket are still served. Never true for the synthetic market.
    pub fn finished(&self) -> bool {
        lock(&self.shared.state).market.finished()
    }

    /// Why a recording stopped before its end (a damaged file), if it did.
    pub fn playback_error(&self) -> Option<String> {
        lock(&self.shared.state).market.error().map(str::to_owned)
    }

    /// The channel names served.
    pub fn channels() -> [&'static str; 3] {
        Channel::ALL.map(Channel::name)
    }

    /// Stops serving and waits for the tasks to end.
    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}
