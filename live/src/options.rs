//! What a feed connects to and how it behaves: endpoints, instruments, timeouts, bounds
//! and the reconnection back-off. [`FeedOptions::new`] gives the desk's defaults; tests
//! shorten the timeouts.

use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use propbot_venues::InstrumentSpec;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Duration;

/// Where a venue's public market data is served: the config's
/// `venues.<venue>.endpoints` type, one definition for the config and the feeds.
///
/// - Binance: `rest` is the REST base (`https://fapi.binance.com`); `ws_public` is the
///   base of the high-frequency route (`wss://fstream.binance.com/public`), which
///   carries `@depth@100ms` and `@bookTicker`; `ws_market` is the base of the regular
///   route (`wss://fstream.binance.com/market`), which carries `@aggTrade`. The adapter
///   appends `/stream?streams=a/b/c`. Without `ws_market` every stream goes on
///   `ws_public`.
/// - OKX: `rest` is the host (`https://www.okx.com`); `ws_public` is the full URL
///   (`wss://ws.okx.com:8443/ws/v5/public`); `ws_market` is not used.
pub use propbot_engine::config::Endpoints;

/// The OKX order-book channel a feed subscribes (`bbo-tbt` and `trades` always).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OkxBookChannel {
    /// `books`: 400 levels, snapshot then 100 ms updates; public.
    Books,
    /// `books-l2-tbt`: 400 levels, 10 ms updates; needs a VIP5+ login (VENUES.md §2.3).
    BooksL2Tbt,
}

impl OkxBookChannel {
    /// The channel name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            OkxBookChannel::Books => "books",
            OkxBookChannel::BooksL2Tbt => "books-l2-tbt",
        }
    }
}

/// Capped exponential back-off with seeded jitter: attempt `n` (from 0) waits
/// `min(max, initial × 2^n)`, shortened by a random share of at most `jitter` of itself
/// (so many clients that lost the venue together do not return together).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Share of a wait that jitter may remove, in `0.0..=1.0` (clamped).
    pub jitter: f64,
}

impl Backoff {
    /// The wait before retry `attempt` (0 for the first), with `rng` drawing the jitter.
    pub fn delay(&self, attempt: u32, rng: &mut Jitter) -> Duration {
        let initial = u64::try_from(self.initial.as_nanos()).unwrap_or(u64::MAX);
        let max = u64::try_from(self.max.as_nanos()).unwrap_or(u64::MAX);
        let base = initial
            .saturating_mul(1u64 << attempt.min(32))
            .min(max.max(initial));
        let jitter_ppm = (self.jitter.clamp(0.0, 1.0) * 1e6) as u64;
        let cut = u128::from(base) * u128::from(jitter_ppm) * u128::from(rng.below(1_000_000))
            / 1_000_000_000_000;
        Duration::from_nanos(base - u64::try_from(cut).unwrap_or(base))
    }
}

/// A seeded jitter stream (ChaCha8), one per connection, so a run's waits replay from
/// [`FeedOptions::seed`].
#[derive(Clone, Debug)]
pub struct Jitter(ChaCha8Rng);

impl Jitter {
    /// The stream of connection `index` under `seed`.
    pub fn new(seed: u64, index: u64) -> Jitter {
        Jitter(ChaCha8Rng::seed_from_u64(
            seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
}

/// Reads the wall clock; injectable so tests may stamp frames with their own time.
pub type WallClock = fn() -> UnixNanos;

/// The system wall clock (`SystemTime::now`) in nanoseconds since the epoch; 0 if the
/// clock is set before 1970.
pub fn system_clock() -> UnixNanos {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    UnixNanos(nanos)
}

/// Everything a feed needs. Build with [`FeedOptions::new`] and change what differs.
#[derive(Clone, Debug)]
pub struct FeedOptions {
    /// Venue served.
    pub venue: Venue,
    /// Where it is served.
    pub endpoints: Endpoints,
    /// Instruments (all of `venue`, at most `propbot_venues::binance::FEED_INSTRUMENTS_MAX`).
    pub instruments: Vec<InstrumentSpec>,
    /// Reconnection back-off. The attempt count restarts once a connection has synced.
    pub reconnect: Backoff,
    /// No data frame (market data, replies, OKX `pong`; WebSocket pings and pongs do
    /// not count) for this long: the socket is dead, reconnect. Keep it above
    /// `ping_every + pong_timeout`, and, for Binance (which has no data-level
    /// keep-alive), above the longest quiet spell of the quietest instrument.
    pub silence_timeout: Duration,
    /// Nothing received (data or control) for this long: send a ping (OKX the text
    /// `ping`, Binance a WebSocket ping frame; OKX drops a connection silent for 30 s).
    pub ping_every: Duration,
    /// A ping unanswered for this long: reconnect.
    pub pong_timeout: Duration,
    /// Reconnect after this long on one connection (Binance cuts at 24 h).
    pub connection_lifetime: Duration,
    /// Server-time sampling period.
    pub clock_sample_every: Duration,
    /// Requests in one server-time burst (the lowest round trip wins); 0 turns server
    /// time sampling off.
    pub clock_burst: u8,
    /// Bound on diffs one Binance book buffers while it waits for a snapshot (beyond it
    /// the buffer is dropped and started afresh; the venue crate's own bound,
    /// `BUFFERED_DIFFS_MAX`, applies too). The feed has no frame queue of its own: a
    /// socket is read only as fast as the sink takes events.
    pub buffer_max: usize,
    /// Text frames longer than this are refused and counted, never parsed. Frames over
    /// four times this end the connection (the WebSocket layer refuses to buffer them).
    pub frame_bytes_max: usize,
    /// REST bodies longer than this are refused.
    pub rest_body_bytes_max: usize,
    /// Seed of the jitter streams.
    pub seed: u64,
    /// OKX order-book channel.
    pub okx_channel: OkxBookChannel,
    /// Bound on one WebSocket connect (TCP, TLS and upgrade).
    pub connect_timeout: Duration,
    /// Bound on one REST request, body included.
    pub request_timeout: Duration,
    /// Binance REST snapshot depth (`limit`: 5, 10, 20, 50, 100, 500 or 1000).
    pub snapshot_depth: u16,
    /// Binance: least time between two snapshot requests of one connection (a
    /// `limit=1000` snapshot weighs 20 of the 2400 a minute).
    pub snapshot_spacing: Duration,
    /// OKX: a resubscription that brought no snapshot within this is sent again.
    pub snapshot_timeout: Duration,
    /// Binance request weight per minute; above 90 % of it snapshots wait for the next
    /// minute.
    pub weight_per_minute: u32,
    /// The same log line (per connection and kind) at most once per this period; the
    /// lines held back are counted in the next one.
    pub log_every: Duration,
    /// The wall clock read once per frame for [`crate::Stamped::received`] and for
    /// server-time samples.
    pub clock: WallClock,
}

impl FeedOptions {
    /// The desk's defaults for `venue` at `endpoints` serving `instruments`.
    pub fn new(venue: Venue, endpoints: Endpoints, instruments: Vec<InstrumentSpec>) -> Self {
        FeedOptions {
            venue,
            endpoints,
            instruments,
            reconnect: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
                jitter: 0.25,
            },
            silence_timeout: Duration::from_secs(20),
            ping_every: Duration::from_secs(10),
            pong_timeout: Duration::from_secs(5),
            connection_lifetime: Duration::from_secs(23 * 3600 + 50 * 60),
            clock_sample_every: Duration::from_secs(60),
            clock_burst: 5,
            buffer_max: 4096,
            frame_bytes_max: 1 << 20,
            rest_body_bytes_max: 16 << 20,
            seed: 0,
            okx_channel: OkxBookChannel::Books,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            snapshot_depth: 1000,
            snapshot_spacing: Duration::from_secs(1),
            snapshot_timeout: Duration::from_secs(10),
            weight_per_minute: 2400,
            log_every: Duration::from_secs(10),
            clock: system_clock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_only_shortens() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        };
        let mut rng = Jitter::new(1, 0);
        let waits: Vec<u128> = (0..6)
            .map(|n| backoff.delay(n, &mut rng).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(u32::MAX, &mut rng), Duration::from_secs(1));

        let jittered = Backoff {
            jitter: 0.5,
            ..backoff
        };
        let mut a = Jitter::new(7, 0);
        let mut b = Jitter::new(7, 0);
        for n in 0..50 {
            let wait = jittered.delay(n % 5, &mut a);
            let full = backoff.delay(n % 5, &mut rng);
            assert!(wait <= full && wait >= full / 2, "{wait:?} of {full:?}");
            assert_eq!(wait, jittered.delay(n % 5, &mut b), "one seed, one stream");
        }
        assert_ne!(
            Jitter::new(7, 0).below(1 << 40),
            Jitter::new(7, 1).below(1 << 40)
        );
    }

    #[test]
    fn the_system_clock_is_after_2024() {
        assert!(system_clock() > UnixNanos::from_secs(1_704_067_200));
    }
}
