//! What a feed sends its sink: market events from the sync machines, venue signals and
//! the state of each connection, each stamped with the wall clock at receipt.

use propbot_engine::input::{VenueEvent, VenueEventKind};
use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use propbot_venues::SyncEvent;
use std::fmt;

/// One event with the wall-clock time of the frame (or REST answer) it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// Wall clock when the frame was received (read once per frame).
    pub received: UnixNanos,
    /// Venue of the feed.
    pub venue: Venue,
    /// What happened.
    pub event: FeedEvent,
}

impl Stamped {
    /// The venue signal as an engine `VenueEvent`, if this is one.
    pub fn venue_event(&self) -> Option<VenueEvent> {
        match self.event {
            FeedEvent::Venue(kind) => Some(VenueEvent {
                venue: self.venue,
                kind,
            }),
            _ => None,
        }
    }
}

/// What a feed reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    /// Book snapshot, delta, best bid/offer, trade, or resync (the book is invalid
    /// until the next snapshot; the reason says why). `SyncEvent::as_input` gives the
    /// engine input.
    Sync(SyncEvent),
    /// A venue signal for the engine: `ClockSample`, `RateLimitUsage`, `RateLimited`,
    /// `Banned`, `MalformedMessage`.
    Venue(VenueEventKind),
    /// A connection changed state.
    Link {
        /// `"public"` or `"market"` (Binance), `"public"` (OKX).
        connection: &'static str,
        /// The new state.
        state: LinkState,
    },
}

/// The state of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Opening the socket (TCP, TLS, WebSocket upgrade).
    Connecting,
    /// The socket is up and subscribed; at least one of its books waits for a snapshot.
    Connected,
    /// The socket is up and every book it carries is synced (a connection that carries
    /// no book, Binance `market`, is synced as soon as it is connected).
    Synced,
    /// The socket is gone; a reconnection follows after the back-off.
    Disconnected {
        /// Why, for people.
        reason: String,
    },
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkState::Connecting => f.write_str("connecting"),
            LinkState::Connected => f.write_str("connected"),
            LinkState::Synced => f.write_str("synced"),
            LinkState::Disconnected { reason } => write!(f, "disconnected: {reason}"),
        }
    }
}
