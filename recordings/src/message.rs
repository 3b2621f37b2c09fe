//! A venue message as recordings hold it: a header (times, venue, instrument, origin)
//! and a body (snapshot, delta, trade, best bid/offer, book invalidation).
//!
//! [`Message`] borrows its levels and is what the writer takes. [`OwnedMessage`] is
//! what readers fill, reusing its buffers from message to message; it hands out the
//! engine's `MarketEvent` and the simulator's [`MarketUpdate`] without copying.

use crate::schema::{InvalidCode, Kind};
use propbot_engine::book::{Sequence, TopOfBook};
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::input::MarketEvent;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_venues::SyncEvent;

/// The body of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A full book.
    Snapshot {
        /// Last update id included.
        last: u64,
        /// Bids.
        bids: &'a [Level],
        /// Asks.
        asks: &'a [Level],
    },
    /// Changed levels.
    Delta {
        /// Continuity fields.
        sequence: Sequence,
        /// Changed bids (zero deletes).
        bids: &'a [Level],
        /// Changed asks (zero deletes).
        asks: &'a [Level],
    },
    /// A public trade.
    Trade {
        /// Venue trade id, when known.
        trade_id: Option<u64>,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Aggressor side.
        aggressor: Side,
    },
    /// A venue best bid/offer.
    Bbo {
        /// Book update id it reflects, when the venue gives one.
        update_id: Option<u64>,
        /// Best prices and sizes.
        top: TopOfBook,
    },
    /// The venue-side sync machine lost the book.
    BookInvalid {
        /// Why.
        code: InvalidCode,
    },
}

impl Body<'_> {
    /// The row kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Snapshot { .. } => Kind::Snapshot,
            Body::Delta { .. } => Kind::Delta,
            Body::Trade { .. } => Kind::Trade,
            Body::Bbo { .. } => Kind::Bbo,
            Body::BookInvalid { .. } => Kind::BookInvalid,
        }
    }
}

/// One message with its header, borrowing its levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Local receive time (the replay clock).
    pub ts_recv: UnixNanos,
    /// Venue timestamp.
    pub ts_exchange: UnixNanos,
    /// Venue.
    pub venue: Venue,
    /// Index into the file's instrument table.
    pub instrument: u16,
    /// Origin flags of the rows ([`crate::schema::flags::DERIVED`], `SYNTHETIC`, or 0).
    pub origin_flags: u8,
    /// The body.
    pub body: Body<'a>,
}

impl<'a> Message<'a> {
    /// A message from a venue sync machine's event. A resync has no venue timestamp;
    /// it takes the receive time.
    pub fn from_sync(
        ts_recv: UnixNanos,
        instrument: u16,
        event: &'a SyncEvent,
        origin_flags: u8,
    ) -> Message<'a> {
        let (venue, ts_exchange, body) = match event {
            SyncEvent::Snapshot {
                venue,
                last,
                bids,
                asks,
                ts_exchange,
                ..
            } => (
                *venue,
                *ts_exchange,
                Body::Snapshot {
                    last: *last,
                    bids,
                    asks,
                },
            ),
            SyncEvent::Delta {
                venue,
                sequence,
                bids,
                asks,
                ts_exchange,
                ..
            } => (
                *venue,
                *ts_exchange,
                Body::Delta {
                    sequence: *sequence,
                    bids,
                    asks,
                },
            ),
            SyncEvent::Resync { venue, reason, .. } => (
                *venue,
                ts_recv,
                Body::BookInvalid {
                    code: InvalidCode::from_reason(reason.invalid_reason()),
                },
            ),
            SyncEvent::Bbo {
                venue,
                update_id,
                top,
                ts_exchange,
                ..
            } => (
                *venue,
                *ts_exchange,
                Body::Bbo {
                    update_id: *update_id,
                    top: *top,
                },
            ),
            SyncEvent::Trade {
                venue,
                trade_id,
                price,
                qty,
                aggressor,
                ts_exchange,
                ..
            } => (
                *venue,
                *ts_exchange,
                Body::Trade {
                    trade_id: Some(*trade_id),
                    price: *price,
                    qty: *qty,
                    aggressor: *aggressor,
                },
            ),
        };
        Message {
            ts_recv,
            ts_exchange,
            venue,
            instrument,
            origin_flags,
            body,
        }
    }

    /// A message from a market-model update (synthetic or derived data).
    pub fn from_update(
        ts_recv: UnixNanos,
        instrument: u16,
        update: &'a MarketUpdate,
        origin_flags: u8,
    ) -> Message<'a> {
        let (ts_exchange, body) = match update {
            MarketUpdate::Snapshot {
                last,
                bids,
                asks,
                ts,
                ..
            } => (
                *ts,
                Body::Snapshot {
                    last: *last,
                    bids,
                    asks,
                },
            ),
            MarketUpdate::Delta {
                sequence,
                bids,
                asks,
                ts,
                ..
            } => (
                *ts,
                Body::Delta {
                    sequence: *sequence,
                    bids,
                    asks,
                },
            ),
            MarketUpdate::Trade {
                price,
                qty,
                aggressor,
                ts,
                ..
            } => (
                *ts,
                Body::Trade {
                    trade_id: None,
                    price: *price,
                    qty: *qty,
                    aggressor: *aggressor,
                },
            ),
        };
        Message {
            ts_recv,
            ts_exchange,
            venue: update.venue(),
            instrument,
            origin_flags,
            body,
        }
    }
}

/// A decoded message whose buffers are reused from one message to the next. The
/// instrument is the id the reader was asked to map the file's table index to (the
/// table index itself when no map was given).
#[derive(Clone, Debug)]
pub struct OwnedMessage {
    /// Local receive time.
    pub ts_recv: UnixNanos,
    /// Venue timestamp.
    pub ts_exchange: UnixNanos,
    /// Venue.
    pub venue: Venue,
    /// Instrument (mapped).
    pub instrument: InstrumentId,
    /// Index into the file's instrument table.
    pub table_index: u16,
    /// Message number within its stream (the `message` column).
    pub number: u64,
    /// Row kind of the message.
    pub kind: Kind,
    /// Flags of its last row (origin bits included).
    pub flags: u8,
    /// Rows the message spans.
    pub rows: u32,
    /// Trade id of a trade, update id of a bbo, when recorded.
    pub id: Option<u64>,
    /// Best bid/offer of a bbo message.
    pub top: TopOfBook,
    /// Reason of a book invalidation.
    pub invalid: InvalidCode,
    // Kept as model updates so the simulated venue takes them as they are; each
    // variant keeps its own level vectors, so switching kinds never reallocates.
    snapshot: MarketUpdate,
    delta: MarketUpdate,
    trade: MarketUpdate,
}

impl Default for OwnedMessage {
    fn default() -> Self {
        let venue = Venue::Binance;
        let instrument = InstrumentId(0);
        OwnedMessage {
            ts_recv: UnixNanos::ZERO,
            ts_exchange: UnixNanos::ZERO,
            venue,
            instrument,
            table_index: 0,
            number: 0,
            kind: Kind::Delta,
            flags: 0,
            rows: 0,
            id: None,
            top: TopOfBook::default(),
            invalid: InvalidCode::Gap,
            snapshot: MarketUpdate::Snapshot {
                venue,
                instrument,
                last: 0,
                bids: Vec::with_capacity(1024),
                asks: Vec::with_capacity(1024),
                ts: UnixNanos::ZERO,
            },
            delta: MarketUpdate::Delta {
                venue,
                instrument,
                sequence: Sequence {
                    first: None,
                    last: 0,
                    previous: None,
                },
                bids: Vec::with_capacity(64),
                asks: Vec::with_capacity(64),
                ts: UnixNanos::ZERO,
            },
            trade: MarketUpdate::Trade {
                venue,
                instrument,
                price: Price::ZERO,
                qty: Qty::ZERO,
                aggressor: Side::Buy,
                ts: UnixNanos::ZERO,
            },
        }
    }
}

/// Header fields of a message being decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub ts_recv: UnixNanos,
    pub ts_exchange: UnixNanos,
    pub venue: Venue,
    pub instrument: InstrumentId,
    pub table_index: u16,
    pub number: u64,
    pub kind: Kind,
    pub seq_first: Option<u64>,
    pub seq_last: Option<u64>,
    pub seq_previous: Option<u64>,
}

impl OwnedMessage {
    /// Starts decoding a new message: sets the header, empties the level buffers.
    pub(crate) fn begin(&mut self, h: Header) {
        self.ts_recv = h.ts_recv;
        self.ts_exchange = h.ts_exchange;
        self.venue = h.venue;
        self.instrument = h.instrument;
        self.table_index = h.table_index;
        self.number = h.number;
        self.kind = h.kind;
        self.rows = 0;
        self.id = h.seq_last;
        self.top = TopOfBook::default();
        match h.kind {
            Kind::Snapshot => {
                if let MarketUpdate::Snapshot {
                    venue,
                    instrument,
                    last,
                    bids,
                    asks,
                    ts,
                } = &mut self.snapshot
                {
                    *venue = h.venue;
                    *instrument = h.instrument;
                    *last = h.seq_last.unwrap_or(0);
                    *ts = h.ts_exchange;
                    bids.clear();
                    asks.clear();
                }
            }
            Kind::Delta => {
                if let MarketUpdate::Delta {
                    venue,
                    instrument,
                    sequence,
                    bids,
                    asks,
                    ts,
                } = &mut self.delta
                {
                    *venue = h.venue;
                    *instrument = h.instrument;
                    *sequence = Sequence {
                        first: h.seq_first,
                        last: h.seq_last.unwrap_or(0),
                        previous: h.seq_previous,
                    };
                    *ts = h.ts_exchange;
                    bids.clear();
                    asks.clear();
                }
            }
            Kind::Trade => {
                if let MarketUpdate::Trade {
                    venue,
                    instrument,
                    ts,
                    ..
                } = &mut self.trade
                {
                    *venue = h.venue;
                    *instrument = h.instrument;
                    *ts = h.ts_exchange;
                }
            }
            Kind::Bbo | Kind::BookInvalid => {}
        }
    }

    /// Adds one level row (`side` already validated).
    #[inline]
    pub(crate) fn push_level(&mut self, side: u8, level: Level) {
        self.rows += 1;
        let target = match self.kind {
            Kind::Snapshot => &mut self.snapshot,
            Kind::Delta => &mut self.delta,
            _ => return self.push_other(side, level),
        };
        if let MarketUpdate::Snapshot { bids, asks, .. } | MarketUpdate::Delta { bids, asks, .. } =
            target
        {
            if side == 0 {
                bids.push(level);
            } else {
                asks.push(level);
            }
        }
    }

    fn push_other(&mut self, side: u8, level: Level) {
        match self.kind {
            Kind::Trade => {
                if let MarketUpdate::Trade {
                    price,
                    qty,
                    aggressor,
                    ..
                } = &mut self.trade
                {
                    *price = level.price;
                    *qty = level.qty;
                    *aggressor = if side == 0 { Side::Buy } else { Side::Sell };
                }
            }
            Kind::Bbo => {
                if side == 0 {
                    self.top.bid = level.price;
                    self.top.bid_qty = level.qty;
                } else {
                    self.top.ask = level.price;
                    self.top.ask_qty = level.qty;
                }
            }
            Kind::BookInvalid | Kind::Snapshot | Kind::Delta => {}
        }
    }

    /// Records the reason row of a book invalidation.
    pub(crate) fn push_invalid(&mut self, code: u8) {
        self.rows += 1;
        self.invalid = InvalidCode::from_code(code).unwrap_or(InvalidCode::Protocol);
    }

    /// Counts a header-only row.
    #[inline]
    pub(crate) fn push_empty(&mut self) {
        self.rows += 1;
    }

    /// The message as the simulated venue takes it (snapshots, deltas and trades;
    /// `None` for best bid/offers and invalidations, which a venue does not consume).
    pub fn market_update(&self) -> Option<&MarketUpdate> {
        match self.kind {
            Kind::Snapshot => Some(&self.snapshot),
            Kind::Delta => Some(&self.delta),
            Kind::Trade => Some(&self.trade),
            Kind::Bbo | Kind::BookInvalid => None,
        }
    }

    /// The message as an engine market event, borrowing its levels.
    pub fn market_event(&self) -> MarketEvent<'_> {
        match self.kind {
            Kind::Bbo => MarketEvent::Bbo {
                venue: self.venue,
                instrument: self.instrument,
                update_id: self.id,
                top: self.top,
                ts_exchange: self.ts_exchange,
            },
            Kind::BookInvalid => MarketEvent::BookInvalid {
                venue: self.venue,
                instrument: self.instrument,
                reason: self.invalid.reason(),
            },
            _ => match self.market_update().expect("book or trade").as_input() {
                propbot_engine::Input::Market(event) => event,
                _ => unreachable!("a market update is a market input"),
            },
        }
    }

    /// The message as a borrowed [`Message`] (for writing it elsewhere).
    pub fn as_message(&self) -> Message<'_> {
        let body = match (self.kind, self.market_update()) {
            (
                Kind::Snapshot,
                Some(MarketUpdate::Snapshot {
                    last, bids, asks, ..
                }),
            ) => Body::Snapshot {
                last: *last,
                bids,
                asks,
            },
            (
                Kind::Delta,
                Some(MarketUpdate::Delta {
                    sequence,
                    bids,
                    asks,
                    ..
                }),
            ) => Body::Delta {
                sequence: *sequence,
                bids,
                asks,
            },
            (
                Kind::Trade,
                Some(MarketUpdate::Trade {
                    price,
                    qty,
                    aggressor,
                    ..
                }),
            ) => Body::Trade {
                trade_id: self.id,
                price: *price,
                qty: *qty,
                aggressor: *aggressor,
            },
            (Kind::Bbo, _) => Body::Bbo {
                update_id: self.id,
                top: self.top,
            },
            _ => Body::BookInvalid { code: self.invalid },
        };
        Message {
            ts_recv: self.ts_recv,
            ts_exchange: self.ts_exchange,
            venue: self.venue,
            instrument: self.table_index,
            origin_flags: self.flags
                & (crate::schema::flags::DERIVED | crate::schema::flags::SYNTHETIC),
            body,
        }
    }

    /// Levels of a snapshot or delta: `(bids, asks)`; empty otherwise.
    pub fn levels(&self) -> (&[Level], &[Level]) {
        match self.market_update() {
            Some(MarketUpdate::Snapshot { bids, asks, .. })
            | Some(MarketUpdate::Delta { bids, asks, .. }) => (bids, asks),
            _ => (&[], &[]),
        }
    }
}
