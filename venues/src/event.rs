//! What the sync machines emit: owned engine-ready market events, plus "resync needed".
//!
//! Events own their level vectors so a driver can keep them (queue, record, replay);
//! [`Events`] recycles those vectors when it is cleared, so a steady stream of frames
//! reuses the same buffers instead of allocating per frame.

use propbot_engine::book::{InvalidReason, Sequence, TopOfBook};
use propbot_engine::input::{Input, MarketEvent};
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;

/// Why a book must be rebuilt from a fresh snapshot (Binance: a new REST snapshot;
/// OKX: resubscribe the channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResyncReason {
    /// A diff did not continue the update-id chain (Binance `pu != last u`, OKX
    /// `prevSeqId != last seqId`).
    Gap,
    /// Binance: the first diff after the snapshot starts after it (`U > lastUpdateId`);
    /// the snapshot is too old.
    SnapshotTooOld,
    /// OKX: the CRC32 of the top 25 levels differs from the frame's `checksum`.
    ChecksumMismatch,
    /// A frame broke the protocol in a way that leaves the book unknown (an update
    /// without sequence fields on a sequenced book, a snapshot with `prevSeqId != -1`,
    /// a level that could not be parsed).
    Protocol,
    /// Too many diffs were buffered while waiting for a snapshot; the oldest were
    /// dropped, so the next snapshot must be newer than them.
    BufferOverflow,
    /// The driver reset the feed (reconnect, 24-hour cut).
    Reset,
}

impl ResyncReason {
    /// The engine's reason for the invalid book.
    pub const fn invalid_reason(self) -> InvalidReason {
        match self {
            ResyncReason::Gap | ResyncReason::SnapshotTooOld | ResyncReason::BufferOverflow => {
                InvalidReason::Gap
            }
            ResyncReason::ChecksumMismatch => InvalidReason::ChecksumMismatch,
            ResyncReason::Protocol => InvalidReason::Protocol,
            ResyncReason::Reset => InvalidReason::FeedLost,
        }
    }

    /// Short name for logs and status.
    pub const fn name(self) -> &'static str {
        match self {
            ResyncReason::Gap => "sequence gap",
            ResyncReason::SnapshotTooOld => "snapshot too old",
            ResyncReason::ChecksumMismatch => "checksum mismatch",
            ResyncReason::Protocol => "protocol violation",
            ResyncReason::BufferOverflow => "diff buffer overflow",
            ResyncReason::Reset => "feed reset",
        }
    }
}

/// One output of a sync machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncEvent {
    /// A full book; replaces the current one.
    Snapshot {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Last update id the snapshot includes (Binance `lastUpdateId`, OKX `seqId`).
        last: u64,
        /// Bid levels, best first.
        bids: Vec<Level>,
        /// Ask levels, best first.
        asks: Vec<Level>,
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
    /// Changed levels that continue the chain; zero quantity deletes.
    Delta {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Continuity fields (Binance `U`/`u`/`pu`; OKX `seqId`/`prevSeqId`).
        sequence: Sequence,
        /// Changed bid levels.
        bids: Vec<Level>,
        /// Changed ask levels.
        asks: Vec<Level>,
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
    /// The book is no longer known; fetch a fresh snapshot. Nothing more is emitted for
    /// this book until one arrives.
    Resync {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Why.
        reason: ResyncReason,
    },
    /// A venue best bid/offer.
    Bbo {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Book update id the quote reflects (Binance `u`), if the venue gives one.
        update_id: Option<u64>,
        /// Best prices and sizes.
        top: TopOfBook,
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
    /// A public trade.
    Trade {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Venue trade id (aggregate id for Binance `aggTrade`).
        trade_id: u64,
        /// Price.
        price: Price,
        /// Base quantity.
        qty: Qty,
        /// Side of the taker.
        aggressor: Side,
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
}

impl SyncEvent {
    /// The event as an engine market event, borrowing its level vectors. A
    /// [`SyncEvent::Resync`] becomes `MarketEvent::BookInvalid` with the matching reason,
    /// which invalidates the engine's book and makes it ask for a resync.
    pub fn as_market_event(&self) -> MarketEvent<'_> {
        match self {
            SyncEvent::Snapshot {
                venue,
                instrument,
                last,
                bids,
                asks,
                ts_exchange,
            } => MarketEvent::Snapshot {
                venue: *venue,
                instrument: *instrument,
                last: *last,
                bids,
                asks,
                ts_exchange: *ts_exchange,
            },
            SyncEvent::Delta {
                venue,
                instrument,
                sequence,
                bids,
                asks,
                ts_exchange,
            } => MarketEvent::Delta {
                venue: *venue,
                instrument: *instrument,
                sequence: *sequence,
                bids,
                asks,
                ts_exchange: *ts_exchange,
            },
            SyncEvent::Resync {
                venue,
                instrument,
                reason,
            } => MarketEvent::BookInvalid {
                venue: *venue,
                instrument: *instrument,
                reason: reason.invalid_reason(),
            },
            SyncEvent::Bbo {
                venue,
                instrument,
                update_id,
                top,
                ts_exchange,
            } => MarketEvent::Bbo {
                venue: *venue,
                instrument: *instrument,
                update_id: *update_id,
                top: *top,
                ts_exchange: *ts_exchange,
            },
            SyncEvent::Trade {
                venue,
                instrument,
                price,
                qty,
                aggressor,
                ts_exchange,
                ..
            } => MarketEvent::Trade {
                venue: *venue,
                instrument: *instrument,
                price: *price,
                qty: *qty,
                aggressor: *aggressor,
                ts_exchange: *ts_exchange,
            },
        }
    }

    /// The event as an engine input (see [`SyncEvent::as_market_event`]).
    pub fn as_input(&self) -> Input<'_> {
        Input::Market(self.as_market_event())
    }

    /// Instrument of the event.
    pub fn instrument(&self) -> InstrumentId {
        match self {
            SyncEvent::Snapshot { instrument, .. }
            | SyncEvent::Delta { instrument, .. }
            | SyncEvent::Resync { instrument, .. }
            | SyncEvent::Bbo { instrument, .. }
            | SyncEvent::Trade { instrument, .. } => *instrument,
        }
    }
}

/// Spare level vectors kept for reuse, at most.
pub const SPARE_LEVEL_BUFFERS_MAX: usize = 64;

/// A reusable list of [`SyncEvent`]s. Sync machines push into it; the driver reads the
/// events, then calls [`Events::clear`], which keeps their level vectors for the next
/// frames (up to [`SPARE_LEVEL_BUFFERS_MAX`]; beyond that they are freed).
#[derive(Debug, Default)]
pub struct Events {
    items: Vec<SyncEvent>,
    spare: Vec<Vec<Level>>,
}

impl Events {
    /// An empty list.
    pub fn new() -> Events {
        Events::default()
    }

    /// The events pushed since the last clear, in order.
    pub fn as_slice(&self) -> &[SyncEvent] {
        &self.items
    }

    /// Iterates over the events in order.
    pub fn iter(&self) -> std::slice::Iter<'_, SyncEvent> {
        self.items.iter()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes the events out (their buffers are then not recycled).
    pub fn take(&mut self) -> Vec<SyncEvent> {
        std::mem::take(&mut self.items)
    }

    /// Removes every event, keeping their level vectors for reuse.
    pub fn clear(&mut self) {
        for event in self.items.drain(..) {
            if let SyncEvent::Snapshot { bids, asks, .. } | SyncEvent::Delta { bids, asks, .. } =
                event
            {
                for buffer in [bids, asks] {
                    if self.spare.len() < SPARE_LEVEL_BUFFERS_MAX && buffer.capacity() > 0 {
                        self.spare.push(buffer);
                    }
                }
            }
        }
    }

    /// An empty level vector, recycled when one is available.
    pub(crate) fn level_buffer(&mut self) -> Vec<Level> {
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer
    }

    /// Returns an unused level vector to the pool.
    pub(crate) fn recycle(&mut self, buffer: Vec<Level>) {
        if self.spare.len() < SPARE_LEVEL_BUFFERS_MAX && buffer.capacity() > 0 {
            self.spare.push(buffer);
        }
    }

    pub(crate) fn push(&mut self, event: SyncEvent) {
        self.items.push(event);
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a SyncEvent;
    type IntoIter = std::slice::Iter<'a, SyncEvent>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}
