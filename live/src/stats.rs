//! Counters a feed keeps for status pages and tests, shared between its tasks and the
//! [`crate::FeedHandle`], and the rate limit on repeated log lines.

use crate::event::LinkState;
use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Seconds in the message-rate window.
pub const RATE_WINDOW_SECONDS: usize = 10;

/// A copy of a feed's counters.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedStats {
    /// Venue of the feed.
    pub venue: Venue,
    /// One entry per connection (`public`, and Binance `market` when split).
    pub connections: Vec<ConnectionStats>,
    /// Server-time sampling.
    pub clock: ClockStats,
}

impl FeedStats {
    /// The entry of `connection` (`"public"`, `"market"`).
    pub fn connection(&self, connection: &str) -> Option<&ConnectionStats> {
        self.connections.iter().find(|c| c.connection == connection)
    }
}

/// Counters of one connection, over the life of the feed (all reconnections).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionStats {
    /// `"public"` or `"market"`.
    pub connection: &'static str,
    /// Current state.
    pub state: LinkState,
    /// Wall clock of the last frame received.
    pub last_message_at: Option<UnixNanos>,
    /// Connections established after the first.
    pub reconnects: u64,
    /// Book resyncs forwarded (gaps, checksum mismatches, resets on disconnect,
    /// requested resyncs).
    pub resyncs: u64,
    /// Book snapshots forwarded.
    pub snapshots: u64,
    /// Text frames received.
    pub messages: u64,
    /// Bytes of text frames received.
    pub bytes: u64,
    /// Frames that could not be used: not JSON of a known shape, bad numbers, unknown
    /// symbols, binary frames, unexpected replies.
    pub malformed: u64,
    /// Frames refused for their size.
    pub oversized: u64,
    /// Error events from the venue (OKX `60012`, `60018`, ...).
    pub venue_errors: u64,
    /// REST requests that failed (transport, status, body), rate limits included.
    pub http_errors: u64,
    /// REST answers 429 or 418.
    pub rate_limited: u64,
    /// OKX book checksums verified and found equal (0 when OKX sends none).
    pub checksums_verified: u64,
    /// The last error, for people.
    pub last_error: Option<String>,
    /// Text frames a second, averaged over the last 10 seconds.
    pub message_rate: f64,
}

/// Counters of server-time sampling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClockStats {
    /// Bursts that produced a sample.
    pub samples: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Offset of the last sample, ns (positive: venue ahead).
    pub last_offset_ns: Option<i64>,
    /// Round trip of the last sample, ns.
    pub last_rtt_ns: Option<u64>,
    /// The last error, for people.
    pub last_error: Option<String>,
}

/// Text frames counted per second over the last [`RATE_WINDOW_SECONDS`].
#[derive(Clone, Debug)]
struct RateWindow {
    origin: Instant,
    /// `(second, count)` per slot; a slot whose second is stale counts zero.
    slots: [(u64, u64); RATE_WINDOW_SECONDS],
}

impl RateWindow {
    fn new(origin: Instant) -> RateWindow {
        RateWindow {
            origin,
            slots: [(u64::MAX, 0); RATE_WINDOW_SECONDS],
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    fn count(&mut self, now: Instant) {
        let second = self.second(now);
        let slot = &mut self.slots[(second % RATE_WINDOW_SECONDS as u64) as usize];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 += 1;
    }

    fn rate(&self, now: Instant) -> f64 {
        let second = self.second(now);
        let recent: u64 = self
            .slots
            .iter()
            .filter(|(s, _)| *s <= second && second - *s < RATE_WINDOW_SECONDS as u64)
            .map(|(_, n)| n)
            .sum();
        recent as f64 / RATE_WINDOW_SECONDS as f64
    }
}

#[derive(Debug)]
struct Entry {
    stats: ConnectionStats,
    rate: RateWindow,
}

/// The shared counters of one feed.
#[derive(Debug)]
pub(crate) struct Shared {
    venue: Venue,
    entries: Mutex<Vec<Entry>>,
    clock: Mutex<ClockStats>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters are plain data: a panic elsewhere leaves nothing half-done worth refusing.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Counters for `connections`, all `Connecting`.
    pub fn new(venue: Venue, connections: &[&'static str]) -> Shared {
        let now = Instant::now();
        let entries = connections
            .iter()
            .map(|&connection| Entry {
                stats: ConnectionStats {
                    connection,
                    state: LinkState::Connecting,
                    last_message_at: None,
                    reconnects: 0,
                    resyncs: 0,
                    snapshots: 0,
                    messages: 0,
                    bytes: 0,
                    malformed: 0,
                    oversized: 0,
                    venue_errors: 0,
                    http_errors: 0,
                    rate_limited: 0,
                    checksums_verified: 0,
                    last_error: None,
                    message_rate: 0.0,
                },
                rate: RateWindow::new(now),
            })
            .collect();
        Shared {
            venue,
            entries: Mutex::new(entries),
            clock: Mutex::new(ClockStats::default()),
        }
    }

    /// A copy of every counter, message rates computed now.
    pub fn snapshot(&self) -> FeedStats {
        let now = Instant::now();
        let connections = lock(&self.entries)
            .iter()
            .map(|e| ConnectionStats {
                message_rate: e.rate.rate(now),
                ..e.stats.clone()
            })
            .collect();
        FeedStats {
            venue: self.venue,
            connections,
            clock: lock(&self.clock).clone(),
        }
    }

    /// Changes connection `index`'s counters.
    pub fn update(&self, index: usize, change: impl FnOnce(&mut ConnectionStats)) {
        if let Some(entry) = lock(&self.entries).get_mut(index) {
            change(&mut entry.stats);
        }
    }

    /// Counts a text frame of `bytes` received at `received`.
    pub fn on_message(&self, index: usize, bytes: usize, received: UnixNanos) {
        if let Some(entry) = lock(&self.entries).get_mut(index) {
            entry.rate.count(Instant::now());
            let stats = &mut entry.stats;
            stats.messages += 1;
            stats.bytes += bytes as u64;
            stats.last_message_at = Some(received);
        }
    }

    /// Changes the clock counters.
    pub fn update_clock(&self, change: impl FnOnce(&mut ClockStats)) {
        change(&mut lock(&self.clock));
    }
}

/// Lets the first line of each kind through, then at most one per period, reporting
/// how many were held back in between.
#[derive(Debug)]
pub(crate) struct LogGate {
    every: Duration,
    kinds: BTreeMap<&'static str, (Instant, u64)>,
}

impl LogGate {
    /// A gate letting one line of a kind through per `every`.
    pub fn new(every: Duration) -> LogGate {
        LogGate {
            every,
            kinds: BTreeMap::new(),
        }
    }

    /// `Some(held back since the last line)` if a line of `kind` may be logged now.
    pub fn admit(&mut self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        match self.kinds.get_mut(kind) {
            None => {
                self.kinds.insert(kind, (now, 0));
                Some(0)
            }
            Some((last, held)) if now.duration_since(*last) >= self.every => {
                let suppressed = *held;
                *last = now;
                *held = 0;
                Some(suppressed)
            }
            Some((_, held)) => {
                *held += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_window_forgets_after_ten_seconds() {
        let start = Instant::now();
        let mut window = RateWindow::new(start);
        for _ in 0..50 {
            window.count(start);
        }
        assert_eq!(window.rate(start), 5.0);
        tokio::time::advance(Duration::from_secs(5)).await;
        window.count(Instant::now());
        assert_eq!(window.rate(Instant::now()), 5.1);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(window.rate(Instant::now()), 0.1);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(window.rate(Instant::now()), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_log_gate_lets_one_line_per_kind_and_period() {
        let mut gate = LogGate::new(Duration::from_secs(10));
        assert_eq!(gate.admit("malformed"), Some(0));
        assert_eq!(gate.admit("malformed"), None);
        assert_eq!(gate.admit("malformed"), None);
        assert_eq!(gate.admit("oversized"), Some(0));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(gate.admit("malformed"), Some(2));
        assert_eq!(gate.admit("malformed"), None);
    }
}
