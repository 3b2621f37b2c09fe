//! PropBot live market data: the socket side of the venue adapters (issue 11).
//!
//! **This crate does IO.** It holds the WebSocket and REST connections to Binance
//! USDⓈ-M and OKX v5 public market data and feeds what they receive to the IO-free sync
//! machines of `propbot-venues` (`BinanceFeed`, `OkxFeed`), which stay free of tokio
//! so the recordings importer and the simulator can link them. Nothing below the
//! service may depend on this crate: not the engine, the venues' parsers, the
//! recordings, the market or the simulator (`tests/tests/tidy.rs` checks).
//!
//! Map of the crate:
//! - [`spawn_feed`] starts a feed from [`FeedOptions`] and returns a [`FeedHandle`]
//!   (counters [`FeedStats`], [`FeedHandle::resync`], [`FeedHandle::shutdown`]); every
//!   event goes to the caller's bounded channel as a [`Stamped`] [`FeedEvent`];
//! - `binance`: combined streams, diff buffering and REST snapshots (rate-limit aware);
//! - `okx`: subscriptions, resubscription of a book that lost its sync, `ping`/`pong`,
//!   the `64008` notice;
//! - `conn`: what every connection shares (liveness timers, reconnection with capped
//!   exponential back-off and seeded jitter, counting and rate-limited logging of bad
//!   input, resets on disconnect);
//! - `clock`: server-time sampling into `ClockSample`, with the formula;
//! - [`fetch_and_check_instruments`]: the start-up check of the configuration's
//!   listings against the venue, reporting every mismatch ([`MetadataError`]);
//! - `transport`: rustls (webpki roots compiled in), the HTTP client, bounded REST
//!   reads ([`HttpError`]), the WebSocket connect.
//!
//! Bounds: the sink is the caller's bounded channel (a full sink is back-pressure: the
//! feed waits and reads no socket meanwhile); diffs buffered per book while waiting for
//! a snapshot are at most [`FeedOptions::buffer_max`]; frames over
//! [`FeedOptions::frame_bytes_max`] are refused unread; REST bodies are capped; resync
//! requests are bounded by the instrument count; there is no unbounded channel. Every
//! network wait has a timeout (connect, request, send, silence, pong).
//!
//! Time: each frame is stamped with the wall clock read once on its arrival
//! ([`FeedOptions::clock`], injectable); timers use tokio's monotonic clock.

mod binance;
mod clock;
mod conn;
mod event;
mod feed;
mod metadata;
mod okx;
mod options;
mod stats;
mod transport;

pub use clock::ClockProbe;
pub use event::{FeedEvent, LinkState, Stamped};
pub use feed::{FeedHandle, SHUTDOWN_WAIT, spawn_feed};
pub use metadata::{
    MetadataError, Mismatch, Relation, check_binance, check_okx, fetch_and_check_instruments,
};
pub use okx::OPERATIONS_PER_HOUR_MAX;
pub use options::{
    Backoff, Endpoints, FeedOptions, Jitter, OkxBookChannel, WallClock, system_clock,
};
pub use stats::{ClockStats, ConnectionStats, FeedStats, RATE_WINDOW_SECONDS};
pub use transport::HttpError;
