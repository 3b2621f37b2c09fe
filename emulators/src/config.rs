//! What an emulator serves and how: address, seed, speed, instruments, market model,
//! and the bounds on its connections and queues.

use crate::clock::Speed;
use propbot_engine::Config;
use propbot_engine::model::{InstrumentId, Notional, Venue};
use propbot_engine::time::UnixNanos;
use propbot_market::synth::MarketParams;
use propbot_market::tape::MapError;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// What drives an emulator's market.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// The seeded synthetic market (`propbot_market::synth`), endless.
    #[default]
    Synthetic,
    /// A Parquet recording (files, or directories of rolled files), played once from
    /// its first message: the venue's recorded messages, as recorded
    /// ([`crate::playback`]).
    Recording(Vec<PathBuf>),
}

/// An emulator's configuration. [`EmulatorConfig::new`] gives a loopback emulator on
/// an ephemeral port, in real time, listing every instrument of `engine`.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free loopback port).
    pub listen: SocketAddr,
    /// What drives the market: the synthetic model or a recording.
    pub source: Source,
    /// Seed of the synthetic market (one stream per instrument).
    pub seed: u64,
    /// Emulated seconds per wall second.
    pub speed: Speed,
    /// Market time at start; `None` takes the wall clock when serving starts. Two
    /// emulators with the same seed and start publish one coherent two-venue market
    /// (with a recording: the recording's first message falls on `start`).
    pub start: Option<UnixNanos>,
    /// Start with the market paused at `start` (resume with `Emulator::resume`): what
    /// is served then depends on the seed alone.
    pub paused: bool,
    /// Instruments and their listings: symbols, scales, ticks, lots, contract values.
    pub engine: Config,
    /// Instruments to list; empty lists every instrument `engine` lists on the venue
    /// (with a recording: every configured instrument recorded on the venue).
    pub instruments: Vec<InstrumentId>,
    /// The synthetic market's parameters, for every instrument.
    pub params: MarketParams,
    /// Binance `MIN_NOTIONAL.notional` of every symbol (5 USDT is the common value).
    pub min_notional: Notional,
    /// OKX `books` carries the CRC32 checksum of the top 25 levels (`true`), or `0`
    /// as OKX has sent since 2026-06-23 (`false`).
    pub okx_checksums: bool,
    /// Bounds on connections and queues.
    pub limits: Limits,
}

impl EmulatorConfig {
    /// A loopback emulator on an ephemeral port, in real time.
    pub fn new(engine: Config, seed: u64) -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            source: Source::Synthetic,
            seed,
            speed: Speed::REAL_TIME,
            start: None,
            paused: false,
            engine,
            instruments: Vec::new(),
            params: MarketParams::default(),
            min_notional: Notional::from_usd(5),
            okx_checksums: true,
            limits: Limits::default(),
        }
    }

    /// The instruments listed on `venue`, checked against the engine configuration.
    pub(crate) fn listed(&self, venue: Venue) -> Result<Vec<InstrumentId>, ServeError> {
        let ids: Vec<InstrumentId> = if self.instruments.is_empty() {
            (0..self.engine.instruments.len())
                .filter_map(|i| u16::try_from(i).ok().map(InstrumentId))
                .filter(|&id| self.engine.listing(venue, id).is_some())
                .collect()
        } else {
            self.instruments.clone()
        };
        if ids.is_empty() {
            return Err(ServeError::NoInstruments { venue });
        }
        if ids.len() > INSTRUMENTS_MAX {
            return Err(ServeError::TooManyInstruments { count: ids.len() });
        }
        for &instrument in &ids {
            if self.engine.listing(venue, instrument).is_none() {
                return Err(ServeError::NoListing { venue, instrument });
            }
        }
        Ok(ids)
    }
}

/// Instruments one emulator lists, at most.
pub const INSTRUMENTS_MAX: usize = 64;

/// Bounds on everything an emulator holds for its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// WebSocket connections open at once; one more is refused with HTTP 503.
    pub connections_max: usize,
    /// Frames queued for WebSocket clients; a client that falls this far behind is
    /// disconnected (never buffered without limit).
    pub frames_queued_max: usize,
    /// A frame that cannot be written to a client within this time disconnects it.
    pub send_timeout: Duration,
    /// Server pings (Binance: every 3 minutes).
    pub ping_interval: Duration,
    /// A ping unanswered this long disconnects the client (Binance: 10 minutes).
    pub pong_timeout: Duration,
    /// A connection is cut after this long, without a close frame (Binance: 24 hours).
    pub connection_lifetime: Duration,
    /// Bytes of outgoing frames buffered per connection at most.
    pub write_buffer_max: usize,
    /// Size of a message a client may send, at most.
    pub message_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections_max: 64,
            frames_queued_max: 4096,
            send_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(180),
            pong_timeout: Duration::from_secs(600),
            connection_lifetime: Duration::from_secs(24 * 3600),
            write_buffer_max: 1 << 20,
            message_bytes_max: 64 << 10,
        }
    }
}

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}; choose a free address (port 0 picks one)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// An instrument asked for has no listing on the venue in the engine configuration.
    #[error(
        "instrument {instrument:?} has no {venue:?} listing in the configuration; list it or drop it from `instruments`"
    )]
    NoListing {
        /// The venue.
        venue: Venue,
        /// The instrument.
        instrument: InstrumentId,
    },
    /// Nothing to serve.
    #[error("the configuration lists no instrument on {venue:?}")]
    NoInstruments {
        /// The venue.
        venue: Venue,
    },
    /// More instruments than one emulator lists.
    #[error("{count} instruments asked for; one emulator lists at most {INSTRUMENTS_MAX}")]
    TooManyInstruments {
        /// How many were asked for.
        count: usize,
    },
    /// A recording file is missing, foreign, damaged or inconsistent (the error names
    /// the file).
    #[error("cannot play the recording: {0}")]
    Recording(#[from] propbot_recordings::Error),
    /// The recording's instruments do not fit the engine configuration.
    #[error("cannot play the recording: {0}")]
    Map(#[from] MapError),
    /// The recording holds nothing the emulator could publish for its venue.
    #[error(
        "the recording {paths} has no {venue} data of a configured instrument{which}; play a \
         recording of that venue (or derive it: `propbot recordings synth --from DIR --venue {venue}`)"
    )]
    VenueNotRecorded {
        /// The emulated venue.
        venue: Venue,
        /// The recording's paths, as given.
        paths: String,
        /// Empty, or ` (asked for: …)` naming the instruments asked for.
        which: String,
    },
}
