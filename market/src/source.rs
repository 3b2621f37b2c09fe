//! The market a simulated world or the paper service trades against: the seeded
//! synthetic model or a recording played from a [`Tape`](crate::tape::Tape).

use crate::synth::SyntheticMarket;
use crate::tape::RecordedMarket;
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Price, Venue};
use propbot_engine::time::UnixNanos;

/// A two-venue market: synthetic or recorded.
#[derive(Clone, Debug)]
pub enum MarketSource {
    /// The seeded model.
    Synthetic(SyntheticMarket),
    /// A recording.
    Recorded(RecordedMarket),
}

impl MarketSource {
    /// The venues, in slot order.
    pub fn venues(&self) -> [Venue; 2] {
        match self {
            MarketSource::Synthetic(m) => m.venues(),
            MarketSource::Recorded(m) => m.venues(),
        }
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        match self {
            MarketSource::Synthetic(m) => m.instrument(),
            MarketSource::Recorded(m) => m.instrument(),
        }
    }

    /// Time of the next update.
    pub fn peek_time(&self) -> UnixNanos {
        match self {
            MarketSource::Synthetic(m) => m.peek_time(),
            MarketSource::Recorded(m) => m.peek_time(),
        }
    }

    /// The next update, in time order (an endless stream).
    pub fn advance(&mut self) -> (UnixNanos, MarketUpdate) {
        match self {
            MarketSource::Synthetic(m) => m.advance(),
            MarketSource::Recorded(m) => m.advance(),
        }
    }

    /// A full snapshot of a venue's current book.
    pub fn snapshot(&self, venue: Venue, ts: UnixNanos) -> MarketUpdate {
        match self {
            MarketSource::Synthetic(m) => m.snapshot(venue, ts),
            MarketSource::Recorded(m) => m.snapshot(venue, ts),
        }
    }

    /// Best bid and ask of a venue right now.
    pub fn touch(&self, venue: Venue) -> (Price, Price) {
        match self {
            MarketSource::Synthetic(m) => m.touch(venue),
            MarketSource::Recorded(m) => m.touch(venue),
        }
    }

    /// Arbitrage windows opened and price jumps so far (the synthetic model's count; a
    /// recording's windows are whatever the market did, and are not counted).
    pub fn windows(&self) -> u64 {
        match self {
            MarketSource::Synthetic(m) => m.windows,
            MarketSource::Recorded(_) => 0,
        }
    }

    /// Makes `venue`'s basis flip in and out of a window on every update (the runaway
    /// fault) or stops it. A recording plays as recorded: no effect.
    pub fn set_flip(&mut self, venue: Venue, on: bool) {
        if let MarketSource::Synthetic(m) = self {
            let slot = usize::from(m.venues()[0] != venue);
            m.flip[slot] = on;
        }
    }

    /// Moves the common price at once (a fast market). A recording plays as recorded:
    /// no effect.
    pub fn jump(&mut self, centibps: i64, at: UnixNanos) {
        if let MarketSource::Synthetic(m) = self {
            m.jump(centibps, at);
        }
    }
}
